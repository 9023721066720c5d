"""``dfl-tui bench train --model M [--res R] [--batch B] [--faces] [--samples-only] [--json]``.

The model figures (the bare step on random batches: its median time, samples/s, peak memory,
FLOPs, achieved FLOP/s and the share of matmul/convolution probes measured in the same run) come from
:func:`dfl_tui.models.bench.run_bench`. This wrapper adds what the trainer spends around the step:

* ``augment``: milliseconds to augment one batch on the same device, timed alone;
* ``--faces``: the real trainer (:class:`~dfl_tui.train.trainer.Trainer`, with its loaders, cache,
  augmentation, metrics, previews and control-file checks) on the workspace's aligned faces, in a
  temporary model folder. Blocks of trainer iterations alternate with blocks of bare steps of the
  same model on one of its batches, so the overhead (iteration over bare step) is a ratio taken in
  the same minutes; the iteration is split into the step, the wait for the next batch (what the
  loaders and the augmentation thread did not finish during the previous step) and the rest;
* ``--samples-only``: no model step at all, the sample pipeline alone (:mod:`.pipeline_bench`).

Light at import: torch loads inside :func:`run`.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from ..util import bench as benchutil


def add_arguments(p: argparse.ArgumentParser) -> None:
    from ..models import bench as mbench
    from . import pipeline_bench

    mbench.add_arguments(p)
    p.add_argument("--faces", action="store_true",
                   help="also run the full trainer on the workspace's aligned faces and split its iteration time")
    p.add_argument("--ct", default="none", choices=("none", "rct", "lct", "mkl", "idt", "sot"),
                   help="colour transfer mode for the augmentation timing [default: none]")
    pipeline_bench.add_arguments(p)


def bench_augment(res: int, batch: int, device: Any, cfg: dict[str, Any], iters: int = 10, ct: str = "none") \
        -> dict[str, float]:
    """Milliseconds per batch of :class:`~dfl_tui.train.batches.BatchMaker` on random uint8 faces."""
    import numpy as np
    import torch

    from .batches import BatchMaker
    from .samples import RawBatch

    dev = torch.device(device)
    rng = np.random.default_rng(0)

    def raw() -> RawBatch:
        return RawBatch(rng.integers(0, 256, (batch, res, res, 3), dtype=np.uint8),
                        rng.integers(0, 256, (batch, res, res), dtype=np.uint8),
                        rng.integers(0, 256, (batch, res, res), dtype=np.uint8), list(range(batch)))

    maker = BatchMaker({**cfg, "ct_mode": None if ct == "none" else ct}, dev, torch.Generator().manual_seed(0))
    a, b = raw(), raw()
    for _ in range(2):
        maker.make(a, b)
    if dev.type == "cuda":
        torch.cuda.synchronize(dev)
    t0 = time.perf_counter()
    for _ in range(iters):
        out = maker.make(a, b)
    if dev.type == "cuda":
        torch.cuda.synchronize(dev)
    else:
        out["target_dst"].sum().item()
    return {"augment_ms_per_batch": 1000 * (time.perf_counter() - t0) / iters}


def _bench_workspace(real: Any, root: Path) -> Any:
    """A scratch workspace whose aligned folders are the real ones (read only), so the trainer's
    model folder, metrics and previews land in ``root`` and the user's workspace is untouched."""
    from ..workspace import Workspace

    ws = Workspace.open(root)
    for side in ("src", "dst"):
        ws.frames(side).mkdir(parents=True)
        os.symlink(real.aligned(side).absolute(), ws.aligned(side), target_is_directory=True)
    return ws


def bench_trainer(args: argparse.Namespace, model_opts: dict[str, Any], iters: int, warmup: int,
                  block: int = 3) -> dict[str, Any]:
    """The full trainer on the workspace's faces, interleaved with bare steps of its model."""
    import torch

    from .. import options as optmod
    from ..jobs.context import Reporter
    from ..workspace import Workspace
    from .options import TrainOptions
    from .trainer import Trainer

    real = Workspace.open(getattr(args, "workspace", None))
    for side in ("src", "dst"):
        if not real.aligned(side).is_dir():
            raise FileNotFoundError(f"no aligned faces in {real.aligned(side)}: extract faces first, or run "
                                    "without --faces")
    values: dict[str, Any] = {"model": args.model, "name": "bench", "device": args.device or "auto", "seed": 0,
                              "target_iter": 0, "autosave_minutes": 1440}
    if args.model.lower() != "quick96":
        values.update(model_opts)
        if args.res is not None:
            values["resolution"] = args.res
        if args.batch is not None:
            values["batch_size"] = args.batch
    else:
        values.update({k: v for k, v in model_opts.items() if k in ("precision", "channels_last", "compile")})
    with tempfile.TemporaryDirectory(prefix="dfl-bench-") as tmp:
        ws = _bench_workspace(real, Path(tmp))
        topts = optmod.from_dict(TrainOptions, values)
        ctx = Reporter(ws)
        trainer = Trainer(ctx, topts)
        iteration, bare, parts = [], [], {"wait": [], "augment": [], "step": [], "other": []}
        # The trainer prints a console line every 10 s: keep stdout for the table / JSON.
        with contextlib.redirect_stdout(sys.stderr):
            try:
                trainer.begin()
                model = trainer.model
                for _ in range(max(1, warmup)):  # includes the first-iteration save and preview
                    trainer.iterate()
                batch = trainer.last_batch
                rounds = max(1, -(-iters // block))
                for _ in range(rounds):
                    for _ in range(block):
                        tot = trainer.totals
                        before = (tot.wait, tot.augment, tot.step)
                        t0 = time.perf_counter()
                        trainer.iterate()
                        wall = time.perf_counter() - t0
                        w, a, s = (x - y for x, y in zip((tot.wait, tot.augment, tot.step), before))
                        iteration.append(wall)
                        for k, v in (("wait", w), ("augment", a), ("step", s), ("other", wall - w - s)):
                            parts[k].append(v)
                    for _ in range(block):
                        t0 = time.perf_counter()
                        model.train_step(batch if model.needs_batch else None)
                        bare.append(time.perf_counter() - t0)
                trainer._settle()
                cfg = trainer.cfg
            finally:
                if hasattr(trainer, "src"):
                    trainer.close_loaders()
                fd = getattr(trainer, "_model_lock", None)
                if fd is not None:
                    os.close(fd)
        it_med, bare_med = statistics.median(iteration), statistics.median(bare)
        mean = {k: statistics.fmean(v) for k, v in parts.items()}
        return {
            "faces_workspace": str(real.root), "faces_batch": cfg["batch_size"], "faces_iters": len(iteration),
            "faces_iteration_ms": 1000 * it_med, "faces_bare_step_ms": 1000 * bare_med,
            "faces_overhead": it_med / bare_med - 1.0,
            "faces_iteration_mean_ms": 1000 * statistics.fmean(iteration),
            "faces_split_ms": {k: round(1000 * v, 2) for k, v in mean.items()},
            "faces_it_per_s": 1.0 / it_med, "faces_samples_per_s": cfg["batch_size"] / it_med,
            "faces_cuda": torch.device(trainer.device).type == "cuda",
        }


def format_faces(r: dict[str, Any]) -> list[tuple[str, str]]:
    if "faces_error" in r:
        return [("full trainer", f"not run: {r['faces_error']}")]
    sp = r["faces_split_ms"]
    rows = [
        ("full trainer", f"{r['faces_iteration_ms']:.1f} ms per iteration (median of {r['faces_iters']}), bare step "
                         f"{r['faces_bare_step_ms']:.1f} ms in the same run: overhead "
                         f"{100 * r['faces_overhead']:+.1f} %"),
        ("  split", f"step {sp['step']:.1f} + waiting for the batch {sp['wait']:.1f} + other {sp['other']:.1f} ms "
                    f"(means; other = metrics, previews, requests)"),
        ("  background", f"augmenting {sp['augment']:.1f} ms per iteration in the prefetch thread, during the step"),
        ("  throughput", f"{r['faces_it_per_s']:.3f} it/s, {r['faces_samples_per_s']:.2f} samples/s "
                         f"(batch {r['faces_batch']})"),
    ]
    if r.get("faces_cuda"):
        rows.append(("  note", "on CUDA the step and augment figures are host time: the kernels run meanwhile"))
    return rows


def run(args: argparse.Namespace) -> int:
    from ..models import bench as mbench

    if getattr(args, "samples_only", False):
        from . import pipeline_bench

        return pipeline_bench.run(args)
    result, opts, code = mbench.bench_from_args(args)
    if result is None:
        return code
    from ..models import sampler_config

    cfg = sampler_config(result["model"], {**opts, **({"resolution": result["resolution"], "batch_size": result["batch"]}
                                                       if result["model"] != "Quick96" else {})})
    result.update(bench_augment(result["resolution"], result["batch"], result["device"], cfg, ct=args.ct))
    if args.faces:
        try:
            result.update(bench_trainer(args, dict(opts), args.iters, args.warmup))
        except Exception as e:  # noqa: BLE001 - report, keep the other figures
            result["faces_error"] = f"{type(e).__name__}: {e}"
    if args.json:
        print(json.dumps(result, indent=2))
        return 0
    rows = mbench.table_rows(result)
    aug_share = result["augment_ms_per_batch"] / result["ms_per_iter"] * 100 if result["ms_per_iter"] else 0
    extra = [("augment", f"{result['augment_ms_per_batch']:.1f} ms per batch (both sides, ct {args.ct}; "
                         f"{aug_share:.1f} % of a step)")]
    if args.faces:
        extra += format_faces(result)
    print(benchutil.format_pairs(rows + extra))
    return 0


# No ``main(argv)`` on purpose: ``dfl-tui bench`` then builds the parser from add_arguments and
# passes the global ``--workspace`` on (``--faces`` reads that workspace's aligned faces).

__all__ = ["add_arguments", "bench_augment", "bench_trainer", "run"]
