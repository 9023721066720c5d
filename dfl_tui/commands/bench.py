"""``dfl-tui bench AREA [options]``: benchmarks that print how fast each part runs on this machine.

Each area's benchmark lives beside its code (``dfl_tui.<area>.bench``; the TUI's in
``dfl_tui.tui.bench``) and is imported only when asked for, so ``dfl-tui --help`` stays light.
The contract (``add_arguments(parser)`` + ``run(args) -> int``) and the table printer are in
:mod:`dfl_tui.util.bench`.
"""

from __future__ import annotations

import argparse
import importlib
import sys

from ..util.bench import run_module

# area -> (module, one-line help)
AREAS: dict[str, tuple[str, str]] = {
    "extract": ("dfl_tui.faces.bench", "face extraction: frames/s and faces/s per detector and device"),
    "train": ("dfl_tui.train.bench", "training: iterations/s per model, resolution and batch size"),
    "merge": ("dfl_tui.merge.bench", "merging: frames/s"),
    "review": ("dfl_tui.tui.bench", "faceset reviewer: thumbnail grid loading and redraw speed"),
    "redraw": ("dfl_tui.tui.bench_redraw", "TUI: bytes written to the terminal per second idle and per key, "
                                           "per screen and graphics mode (--json)"),
    "video": ("dfl_tui.video.bench", "frame extraction and video encoding speed"),
    "xseg": ("dfl_tui.xseg.bench", "XSeg: training it/s, apply faces/s, augmentation and generic-mask speed"),
    "gpu": ("dfl_tui.gpubench.run", "the GPU proof: training steps, real training, extraction, merge, XSeg "
                                    "on CUDA, one JSON (--dry-run: the same code on the CPU)"),
}


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.description = "Benchmarks. " + "; ".join(f"{k}: {v[1]}" for k, v in AREAS.items()) + "."
    p.add_argument("area", choices=list(AREAS), metavar="AREA", help="|".join(AREAS))
    p.add_argument("bench_args", nargs=argparse.REMAINDER, metavar="...",
                   help="the benchmark's own options (dfl-tui bench AREA --help)")


def _load(area: str):
    module = AREAS[area][0]
    try:
        return importlib.import_module(module)
    except ModuleNotFoundError as exc:
        if exc.name and module.startswith(exc.name):
            return None
        raise


def run(args: argparse.Namespace) -> int:
    mod = _load(args.area)
    if mod is None:
        print(f"dfl-tui bench {args.area}: not available yet in this version.", file=sys.stderr)
        return 2
    return run_module(AREAS[args.area][0], list(args.bench_args or []), prog=f"dfl-tui bench {args.area}",
                      workspace=getattr(args, "workspace", None))
