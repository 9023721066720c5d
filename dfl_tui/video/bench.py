"""Video benchmark: how fast each video step runs here, on the demo media.

``dfl-tui bench video [--seconds 6] [--size 512] [--dir DIR]`` makes the demo clips in
a scratch folder and times demo, extract-frames (PNG and JPEG), denoise and
make-video, printing a table of frames per second. Timings are printed, never
asserted: they depend on the machine and on what else runs on it.
"""

from __future__ import annotations

import argparse
import shutil
import tempfile
import time
from pathlib import Path
from typing import Any

from ..jobs.context import Reporter
from ..util import bench as benchutil
from ..workspace import Workspace, list_images


def bench(root: Path, seconds: float = 6.0, size: int = 512, fps: int = 25) -> list[dict[str, Any]]:
    """Run the video steps once in ``root`` (a scratch workspace); one row per step."""
    from .demo import run_demo
    from .denoise import denoise_folder
    from .encode import encode_video
    from .frames import extract_frames
    from .options import DemoOptions

    ws = Workspace.open(root).ensure()
    ctx = Reporter(ws)
    rows: list[dict[str, Any]] = []

    def timed(step: str, frames: int, fn: Any) -> Any:
        t = time.perf_counter()
        out = fn()
        dt = time.perf_counter() - t
        rows.append({"step": step, "frames": frames, "seconds": round(dt, 2), "frames_per_s": round(frames / dt, 1)})
        return out

    n = int(round(seconds * fps))
    timed(f"demo (2 clips, {size}px, H.264)", 2 * n,
          lambda: run_demo(ctx, DemoOptions(seconds=seconds, fps=fps, size=size, overwrite=True)))
    timed("extract-frames src (png)", n, lambda: extract_frames(ws.video("src"), ws.frames("src")))
    timed("extract-frames dst (png)", n, lambda: extract_frames(ws.video("dst"), ws.frames("dst")))
    jpg = root / "bench_jpg"
    timed("extract-frames dst (jpg q95)", n, lambda: extract_frames(ws.video("dst"), jpg, fmt="jpg"))
    shutil.rmtree(jpg, ignore_errors=True)
    frames = list_images(ws.frames("dst"))
    timed("make-video (crf 18, audio copied)", len(frames),
          lambda: encode_video(frames, root / "result.mp4", fps, ws.video("dst")))
    timed("make-video (lossless)", len(frames), lambda: encode_video(frames, root / "lossless.mp4", fps, None,
                                                                      lossless=True))
    timed("denoise-frames dst (factor 7)", len(frames), lambda: denoise_folder(ws.frames("dst"), 7))
    return rows


def format_table(rows: list[dict[str, Any]]) -> str:
    return benchutil.format_table(["step", "frames", "seconds", "frames/s"],
                                  [[r["step"], r["frames"], f"{r['seconds']:.2f}", f"{r['frames_per_s']:.1f}"]
                                   for r in rows])


def add_arguments(ap: argparse.ArgumentParser) -> None:
    ap.add_argument("--seconds", type=float, default=6.0, help="length of the demo clips [default: 6]")
    ap.add_argument("--size", type=int, default=512, help="frame size in pixels [default: 512]")
    ap.add_argument("--dir", default=None, help="scratch folder (default: a temporary one, removed after)")


def run(ns: argparse.Namespace) -> int:
    if ns.dir:
        rows = bench(Path(ns.dir), ns.seconds, ns.size)
    else:
        with tempfile.TemporaryDirectory(prefix="dfl-bench-video-") as d:
            rows = bench(Path(d), ns.seconds, ns.size)
    print(f"video steps on the demo media ({ns.size}x{ns.size}, {ns.seconds:g} s at 25 fps) - {benchutil.machine()}")
    print(format_table(rows))
    return 0


main = benchutil.bench_main(__name__)

if __name__ == "__main__":
    raise SystemExit(main())
