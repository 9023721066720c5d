"""Data-parallel training across the processes ``torchrun`` starts (see :mod:`dfl_tui.train.ddp`)."""

from __future__ import annotations

from typing import Any

import torch


class Dist:
    """Data-parallel training across processes started by ``torchrun`` (see :mod:`dfl_tui.train.ddp`).

    DeepFaceLab splits the batch over the GPUs and averages the gradients on one device; here every
    rank holds the whole model, draws ``batch // world`` faces of its own, and each optimizer step
    first averages the gradients of all ranks (one all-reduce per optimizer). All ranks share the
    global torch seed, so lr-dropout masks and AMP's channel picks stay identical and the weights
    never drift apart. Decisions (stop, save, backup, preview, NaN) are agreed every iteration; only
    rank 0 writes files. Without torchrun it is a no-op.
    """

    def __init__(self) -> None:
        import torch.distributed as dist

        self.dist = dist
        self.on = dist.is_available() and dist.is_initialized()
        self.rank = dist.get_rank() if self.on else 0
        self.world = dist.get_world_size() if self.on else 1
        self.comm_device = torch.device("cpu")

    @property
    def main(self) -> bool:
        return self.rank == 0

    def setup(self, device: torch.device) -> None:
        if self.on and self.dist.get_backend() == "nccl":
            self.comm_device = device

    def barrier(self) -> None:
        if self.on:
            self.dist.barrier()

    def same_int(self, value: int) -> int:
        """Rank 0's value everywhere."""
        if not self.on:
            return value
        t = torch.tensor([value if self.main else 0], dtype=torch.int64, device=self.comm_device)
        self.dist.broadcast(t, 0)
        return int(t.item())

    def agree(self, flags: list[int]) -> list[int]:
        """Element-wise max over the ranks (a stop or a NaN anywhere stops everyone)."""
        if not self.on:
            return flags
        t = torch.tensor(flags, dtype=torch.int32, device=self.comm_device)
        self.dist.all_reduce(t, op=self.dist.ReduceOp.MAX)
        return [int(v) for v in t.tolist()]

    def sync_model(self, model: Any) -> None:
        """Rank 0's weights and optimizer state everywhere, and averaged gradients from now on."""
        if not self.on:
            return
        with torch.no_grad():
            for part in model.parts().values():
                for t in part.state_dict().values():
                    if torch.is_tensor(t) and t.numel():
                        self.dist.broadcast(t, 0)
            for opt in self._optimizers(model):
                step = self.same_int(opt.step_count)
                opt.step_count = step
        for opt in self._optimizers(model):
            self._wrap(opt)

    @staticmethod
    def _optimizers(model: Any) -> list[Any]:
        return [o for o in (getattr(model, n, None) for n in ("src_dst_opt", "GAN_opt", "D_code_opt")) if o is not None]

    def _wrap(self, opt: Any) -> None:
        from torch._utils import _flatten_dense_tensors, _unflatten_dense_tensors

        dist, world = self.dist, self.world
        original = opt.step

        def step() -> None:
            grads = [p.grad for p in opt.params if p.grad is not None]
            if grads:
                flat = _flatten_dense_tensors(grads)
                dist.all_reduce(flat)
                flat.div_(world)
                for g, avg in zip(grads, _unflatten_dense_tensors(flat, grads)):
                    g.copy_(avg)
            original()

        opt.step = step

    def checksum(self, model: Any) -> float:
        with torch.no_grad():
            return float(sum(p.double().sum().item() for p in model.parameters()))


__all__ = ["Dist"]
