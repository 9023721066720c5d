"""Training on several GPUs of one machine with ``torchrun`` (data parallel).

    torchrun --standalone --nproc_per_node=2 -m dfl_tui.train.ddp -w WORKSPACE --model SAEHD --name big \\
        --batch-size 16 --target-iter 100000

Every rank trains the same model on ``batch_size // world`` faces per side (DeepFaceLab's split of
the batch over its GPUs) and the gradients are averaged before each optimizer step (see
:class:`dfl_tui.train.distributed.Dist`). Rank ``r`` uses ``cuda:LOCAL_RANK`` (NCCL); without CUDA the
ranks run on the CPU with the gloo backend (useful for testing). Rank 0 does what a single-GPU
training does: it records a job (``dfl-tui jobs`` and the TUI monitor see it, and its control files
``save``/``backup``/``preview``/``cancel`` work), writes the checkpoints, metrics and previews.

torchrun itself runs in the foreground: start it inside tmux/screen (or with ``nohup ... &``) to
survive an SSH drop. Stop it like any training (``dfl-tui train --name NAME --request stop``, ``t t`` in
the monitor): rank 0 sees the request, every rank agrees to stop after the current step, rank 0 saves.
"""

from __future__ import annotations

import argparse
import os
import signal
import sys
import time
from typing import Any

from ..jobs.context import Reporter


def build_parser() -> argparse.ArgumentParser:
    from .. import options as optmod
    from .options import TrainOptions

    p = argparse.ArgumentParser(prog="torchrun ... -m dfl_tui.train.ddp", description=__doc__.splitlines()[0])
    p.add_argument("--workspace", "-w", default=None, metavar="DIR", help="workspace folder")
    optmod.add_arguments(p, TrainOptions, exclude=("device",))
    return p


def main(argv: list[str] | None = None) -> int:
    import torch
    import torch.distributed as dist

    from .. import jobs
    from .. import options as optmod
    from ..errors import DflError
    from ..jobs.context import JobContext
    from ..jobs.runner import execute
    from ..workspace import Workspace
    from .options import TrainOptions, resolve
    from .modeldir import ModelDir
    from .trainer import run_train

    args = build_parser().parse_args(argv)
    if "RANK" not in os.environ:
        print("start this with torchrun, e.g. torchrun --standalone --nproc_per_node=2 -m dfl_tui.train.ddp ...",
              file=sys.stderr)
        return 2
    rank, local = int(os.environ["RANK"]), int(os.environ.get("LOCAL_RANK", 0))
    cuda = torch.cuda.is_available()
    if cuda:
        torch.cuda.set_device(local)
    dist.init_process_group("nccl" if cuda else "gloo")
    ws = Workspace.open(args.workspace)
    device = f"cuda:{local}" if cuda else "cpu"
    try:
        opts = optmod.from_namespace(TrainOptions, args, base={"device": device})
        if rank == 0:
            mdir = ModelDir.of(ws, opts.model_dir_name or (opts.model or ""))
            resolve(opts, mdir.read_options(), str(mdir.options_path))  # fail early, before making a job
    except (optmod.OptionError, ValueError, DflError) as exc:
        print(f"rank {rank}: {exc}", file=sys.stderr)
        dist.destroy_process_group()
        return 2

    if rank == 0:
        run = jobs.create(ws, "train", opts, detached=True, title=f"Train (torchrun x{dist.get_world_size()})")
        status = dict(run.read_status())
        status.update(pid=os.getpid(), started=time.time(), workspace=str(ws.root), state="starting")
        ctx: Any = JobContext(run, status)
        lock = run.acquire_lock()
    else:
        ctx = RankReporter(ws, rank)
        lock = None

    def on_signal(signum: int, _frame: Any) -> None:
        ctx.request_stop(f"received {signal.Signals(signum).name}")

    for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
        signal.signal(sig, on_signal)
    try:
        if rank == 0:
            code = execute(run, ctx)
        else:
            try:
                run_train(ctx, opts)
                code = 0
            except Exception as exc:  # noqa: BLE001 - rank 0 records the failure for everyone
                print(f"rank {rank}: {type(exc).__name__}: {exc}", file=sys.stderr, flush=True)
                code = 1
    finally:
        if lock is not None:
            os.close(lock)
        dist.destroy_process_group()
    return code


class RankReporter(Reporter):
    """Ranks other than 0: log lines on stderr (prefixed with the rank), no files."""

    def __init__(self, workspace: Any, rank: int) -> None:
        super().__init__(workspace)
        self.rank = rank

    def log(self, message: str, level: str = "info") -> None:
        prefix = "" if level == "info" else f"{level}: "
        print(f"[rank {self.rank}] {prefix}{message}", file=sys.stderr, flush=True)


if __name__ == "__main__":
    sys.exit(main())
