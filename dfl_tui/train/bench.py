"""``dfl-tui bench train --model M [--res R] [--batch B] [--json]``: how fast training runs here.

The model figures (iterations/s, samples/s, peak memory, FLOPs, achieved TFLOP/s and, on CUDA,
the share of the card's peak) come from :func:`dfl_tui.models.bench.run_bench` on random batches.
This wrapper adds what the trainer spends around the step:

* ``augment``: milliseconds to augment one batch on the same device (both sides: the shared
  affine, the warp grid, flips; ``--ct MODE`` adds colour transfer), timed separately;
* ``--faces``: an end-to-end run on the workspace's real aligned faces (decode threads, cache,
  augmentation, step), as the trainer does it, to show whether the data side keeps up.

Light at import: torch loads inside :func:`run`.
"""

from __future__ import annotations

import argparse
import json
import time
from typing import Any


def add_arguments(p: argparse.ArgumentParser) -> None:
    from ..models import bench as mbench

    mbench.add_arguments(p)
    p.add_argument("--faces", action="store_true",
                   help="also time full trainer iterations on the workspace's aligned faces (data + augment + step)")
    p.add_argument("--ct", default="none", choices=("none", "rct", "lct", "mkl", "idt", "sot"),
                   help="colour transfer mode for the augmentation timing [default: none]")


def bench_augment(res: int, batch: int, device: Any, cfg: dict[str, Any], iters: int = 10, ct: str = "none") \
        -> dict[str, float]:
    """Milliseconds per batch of :class:`~dfl_tui.train.batches.BatchMaker` on random uint8 faces."""
    import numpy as np
    import torch

    from .samples import RawBatch
    from .batches import BatchMaker

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


def bench_faces(args: argparse.Namespace, opts: dict[str, Any], iters: int) -> dict[str, Any]:
    """Full trainer iterations on the workspace faces (no checkpoint or preview writes)."""
    import torch

    from ..faces.facetype import FaceType
    from ..models import build_model
    from ..workspace import Workspace
    from .samples import FaceSource, default_threads, load_faceset
    from .batches import BatchMaker
    from ..device import pick_device

    ws = Workspace.open(getattr(args, "workspace", None))
    dev = pick_device(args.device or "auto")
    if args.res is not None and args.model.lower() != "quick96":
        opts["resolution"] = args.res
    if args.batch is not None and args.model.lower() != "quick96":
        opts["batch_size"] = args.batch
    model = build_model(args.model, opts, dev)
    cfg = model.sampler_config()
    ft = FaceType.from_string(cfg["face_type"])
    srcs = [FaceSource(load_faceset(ws.aligned(side)), cfg["resolution"], ft, cfg["batch_size"],
                       threads=default_threads(), label=side).start() for side in ("src", "dst")]
    maker = BatchMaker(cfg, dev, torch.Generator().manual_seed(0))
    wait = 0.0

    def one() -> None:
        nonlocal wait
        if model.needs_batch:
            t = time.perf_counter()
            rs, rd = srcs[0].next(), srcs[1].next()
            wait += time.perf_counter() - t
            model.train_step(maker.make(rs, rd))
        else:
            model.train_step(None)

    try:
        for _ in range(3):
            one()
        wait = 0.0
        t0 = time.perf_counter()
        for _ in range(iters):
            one()
        elapsed = time.perf_counter() - t0
    finally:
        for s in srcs:
            s.close()
    it_s = iters / elapsed
    return {"faces_it_per_s": it_s, "faces_samples_per_s": it_s * cfg["batch_size"],
            "faces_data_wait_ms_per_iter": 1000 * wait / iters, "faces_workspace": str(ws.root)}


def run(args: argparse.Namespace) -> int:
    from ..models import bench as mbench

    result, opts, code = mbench.bench_from_args(args)
    if result is None:
        return code
    from ..models import build_model

    cfg = build_model(result["model"], {**opts, **({"resolution": result["resolution"], "batch_size": result["batch"]}
                                                    if result["model"] != "Quick96" else {})}, "cpu").sampler_config()
    result.update(bench_augment(result["resolution"], result["batch"], result["device"], cfg, ct=args.ct))
    if args.faces:
        try:
            result.update(bench_faces(args, dict(opts), args.iters))
        except Exception as e:  # noqa: BLE001 - report, keep the other figures
            result["faces_error"] = str(e)
    if args.json:
        print(json.dumps(result, indent=2))
        return 0
    print(mbench.format_table(result))
    aug_share = result["augment_ms_per_batch"] / result["ms_per_iter"] * 100 if result["ms_per_iter"] else 0
    print(f"{'augment':<15}  {result['augment_ms_per_batch']:.1f} ms per batch (both sides, ct {args.ct}; "
          f"{aug_share:.0f} % of a step)")
    if "faces_it_per_s" in result:
        print(f"{'with faces':<15}  {result['faces_it_per_s']:.3f} it/s, {result['faces_samples_per_s']:.2f} samples/s, "
              f"waiting {result['faces_data_wait_ms_per_iter']:.1f} ms/iteration for data")
    elif "faces_error" in result:
        print(f"{'with faces':<15}  not run: {result['faces_error']}")
    return 0


# No ``main(argv)`` on purpose: ``dfl-tui bench`` then builds the parser from add_arguments and
# passes the global ``--workspace`` on (``--faces`` reads that workspace's aligned faces).

__all__ = ["add_arguments", "bench_augment", "bench_faces", "run"]
