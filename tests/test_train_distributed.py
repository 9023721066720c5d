"""Data parallel training (dfl_tui.train.distributed): DDP over the model's loss passes averages the
gradients exactly, for the generator and both discriminators."""

from __future__ import annotations

import os
import socket

import pytest
import torch
import torch.multiprocessing as mp

from models_fixtures import face_batch, tiny_saehd

# DF with a GAN and the true-face code discriminator: three optimizers, three DDP passes.
OPTIONS = dict(archi="df-ud", gan_power=0.1, true_face_power=0.1, lr_dropout="n", batch_size=4)
STEPS = 2


def _weights(model) -> dict[str, torch.Tensor]:
    return {f"{part}.{k}": v.clone() for part, m in model.parts().items() if isinstance(m, torch.nn.Module)
            for k, v in m.state_dict().items()}


def _rank(rank: int, world: int, port: int, out: str) -> None:
    import torch.distributed as dist

    from dfl_tui.models import build_model
    from dfl_tui.train.distributed import Dist

    os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port))
    torch.set_num_threads(1)
    dist.init_process_group("gloo", rank=rank, world_size=world)
    try:
        torch.manual_seed(rank)  # different initial weights: sync_model must copy rank 0's
        model = build_model("SAEHD", tiny_saehd(**OPTIONS), "cpu")
        d = Dist()
        d.setup(torch.device("cpu"))
        d.sync_model(model)
        torch.manual_seed(0)
        full = face_batch(32, n=4)
        half = {k: v[2 * rank:2 * rank + 2] for k, v in full.items()}
        for _ in range(STEPS):
            model.train_step(half)
        if rank == 0:
            torch.save(_weights(model), out)
    finally:
        dist.destroy_process_group()


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.mark.slow
def test_two_ranks_on_half_batches_equal_one_process_on_the_whole_batch(tmp_path):
    """Losses are batch means, so the average of two half-batch gradients is the whole batch's
    gradient: two gloo ranks must end where one process on the whole batch ends."""
    from dfl_tui.models import build_model

    out = str(tmp_path / "rank0.pt")
    mp.start_processes(_rank, args=(2, _free_port(), out), nprocs=2, join=True, start_method="spawn")
    torch.manual_seed(0)
    model = build_model("SAEHD", tiny_saehd(**OPTIONS), "cpu")
    initial = _weights(model)
    torch.manual_seed(0)
    full = face_batch(32, n=4)
    for _ in range(STEPS):
        model.train_step(full)
    ddp, single = torch.load(out), _weights(model)
    assert ddp.keys() == single.keys()
    for k in single:
        torch.testing.assert_close(ddp[k], single[k], rtol=1e-4, atol=1e-5, msg=k)
    trained = [k for k in single if not k.endswith("_opt.step") and not torch.equal(single[k], initial[k])]
    assert any(k.startswith("GAN.") for k in trained) and any(k.startswith("code_discriminator.") for k in trained)
    assert any(k.startswith("decoder_src.") for k in trained)
