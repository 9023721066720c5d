"""``dfl-tui bench train --samples-only [--workers 1,4,15] [--device D] [--json]``: can the faces keep a GPU fed?

The trainer's sample pipeline with no model step: faces decoded and prepared by
:class:`~dfl_tui.train.samples.FaceSource` with the cache off (every face decoded, as with a faceset
bigger than the RAM cache), in ``--workers`` loader processes, then augmented by
:class:`~dfl_tui.train.batches.BatchMaker` on ``--device`` (the CPU here: the worst case; on a GPU
box ``--device cuda`` augments there, as training does). SAEHD 256 batch 16 unless
``--model/--res/--batch`` say otherwise; a sample is one src + one dst face.

It reports, per worker count, samples/s of the whole pipeline and the CPU time it costs: samples
per CPU-second is the rate one core sustains, which holds however busy the machine is. Beside it,
what a GPU needs: ``--target-it-s`` iterations/s times the batch (an H100 doing 10 it/s at batch
16 needs 160 samples/s), and how many cores that takes at the measured per-core rate.
"""

from __future__ import annotations

import argparse
import json
import os
import time
from typing import Any

from ..util import bench as benchutil


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--samples-only", action="store_true",
                   help="time the sample pipeline alone (decode + prepare + augment, no model step); "
                        "SAEHD 256 batch 16 unless --model/--res/--batch say otherwise")
    p.add_argument("--workers", default=None, metavar="N[,N...]",
                   help="loader processes to try with --samples-only [default: 0 and all cores but one]")
    p.add_argument("--target-it-s", type=float, default=10.0,
                   help="iterations/s a GPU would reach, for what it needs from the pipeline [default: 10]")
    p.add_argument("--batches", type=int, default=6, help="timed batches per worker count [default: 6]")


def _cpu_seconds(proc: Any) -> float:
    """CPU seconds used so far by this process and its live children (the loader processes)."""
    import psutil

    total = sum(proc.cpu_times()[:2])
    for child in proc.children(recursive=True):
        try:
            total += sum(child.cpu_times()[:2])
        except psutil.Error:
            pass
    return total


def measure(src: list, dst: list, cfg: dict[str, Any], device: Any, workers: int, batches: int) -> dict[str, Any]:
    """Samples/s and CPU seconds per sample of the uncached pipeline with ``workers`` loader processes."""
    import psutil
    import torch

    from ..faces.facetype import FaceType
    from .batches import BatchMaker
    from .samples import FaceSource, default_threads, loader_pool

    res, batch = int(cfg["resolution"]), int(cfg["batch_size"])
    ft = FaceType.from_string(cfg["face_type"])
    pool = loader_pool(workers) if workers else None
    sources = [FaceSource(faces, res, ft, batch, seed=i, cache_bytes=0, threads=default_threads(), label=side,
                          processes=workers, pool=pool) for i, (side, faces) in enumerate((("src", src), ("dst", dst)))]
    maker = BatchMaker(cfg, torch.device(device), torch.Generator().manual_seed(0))
    proc = psutil.Process()
    try:
        for s in sources:
            s.start()
        for _ in range(2):  # warm-up: processes spawned, kernels chosen
            maker.make(sources[0].next(), sources[1].next())
        cpu0, t0 = _cpu_seconds(proc), time.perf_counter()
        for _ in range(batches):
            out = maker.make(sources[0].next(), sources[1].next())
        if torch.device(device).type == "cuda":
            torch.cuda.synchronize(device)
        else:
            out["target_dst"].sum().item()
        wall, cpu = time.perf_counter() - t0, _cpu_seconds(proc) - cpu0
    finally:
        for s in sources:
            s.close()
        if pool is not None:
            pool.shutdown(wait=True, cancel_futures=True)
    samples = batches * batch
    return {"workers": workers, "samples_per_s": samples / wall, "cpu_s_per_sample": cpu / samples,
            "samples_per_core_s": samples / cpu if cpu > 0 else None}


def run_pipeline_bench(args: argparse.Namespace) -> dict[str, Any]:
    import torch

    from ..models import sampler_config
    from ..workspace import Workspace
    from ..device import pick_device
    from .samples import default_processes, load_faceset

    opts: dict[str, Any] = {"resolution": args.res or 256, "batch_size": args.batch or 16}
    if args.model.lower() == "quick96":
        opts = {}
    cfg = sampler_config(args.model, opts)
    ws = Workspace.open(getattr(args, "workspace", None))
    src, dst = load_faceset(ws.aligned("src")), load_faceset(ws.aligned("dst"))
    dev = pick_device(args.device or "cpu")
    if dev.type == "cpu" and args.threads:
        torch.set_num_threads(args.threads)
    counts = [int(x) for x in args.workers.split(",")] if args.workers else sorted({0, default_processes("cuda")})
    rows = [measure(src, dst, cfg, dev, w, max(1, args.batches)) for w in counts]
    need = args.target_it_s * int(cfg["batch_size"])
    best_core = max((r["samples_per_core_s"] or 0.0) for r in rows)
    return {"model": args.model, "resolution": int(cfg["resolution"]), "batch": int(cfg["batch_size"]),
            "device": str(dev), "faces": {"src": len(src), "dst": len(dst), "workspace": str(ws.root)},
            "cpu_count": os.cpu_count(), "load_avg": [round(x, 2) for x in os.getloadavg()], "rows": rows,
            "target_it_s": args.target_it_s, "needed_samples_per_s": need,
            "samples_per_core_s": best_core, "cores_needed": need / best_core if best_core else None}


def format_table(r: dict[str, Any]) -> str:
    lines = [f"sample pipeline  {r['model']} res {r['resolution']} batch {r['batch']}, augmentation on {r['device']}, "
             f"cache off ({r['faces']['src']} src / {r['faces']['dst']} dst faces)",
             f"machine          {r['cpu_count']} cores, load {' '.join(f'{x:.1f}' for x in r['load_avg'])}",
             benchutil.format_table(
                 ["workers", "samples/s", "CPU ms/sample", "samples/s per core"],
                 [[row["workers"], f"{row['samples_per_s']:.1f}", f"{1000 * row['cpu_s_per_sample']:.1f}",
                   None if row["samples_per_core_s"] is None else f"{row['samples_per_core_s']:.1f}"]
                  for row in r["rows"]], align="rrrr")]
    need = r["needed_samples_per_s"]
    lines.append(f"a GPU at {r['target_it_s']:g} it/s with batch {r['batch']} needs {need:g} samples/s: "
                 + (f"{r['cores_needed']:.1f} cores at {r['samples_per_core_s']:.1f} samples/s per core"
                    if r["cores_needed"] else "no rate measured"))
    lines.append("(a sample = one src + one dst face; the cache is off, so every face is decoded: after the "
                 "first epoch a faceset that fits --cache-mb costs almost nothing)")
    return "\n".join(lines)


def run(args: argparse.Namespace) -> int:
    try:
        r = run_pipeline_bench(args)
    except Exception as e:  # noqa: BLE001 - a missing faceset, an unknown model: say so
        print(f"error: {e}")
        return 2
    print(json.dumps(r, indent=2) if args.json else format_table(r))
    return 0


__all__ = ["add_arguments", "format_table", "measure", "run", "run_pipeline_bench"]
