"""``dfl-tui bench extract``: how fast face extraction runs here, per detector and device.

It makes the demo media in a temporary workspace (the ``demo`` and ``extract-frames``
steps), synthesises a 1080p version of the same clip (each frame upscaled to 1080 px
high and padded to 1920 wide, so the face is large in a big frame, as in real
footage), then runs the real ``extract-faces`` step on both and prints frames/s,
faces/s and the time per frame of each stage. Stage times are summed over the
threads that run them, so they overlap and add up to more than the wall time.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from ..util import bench as benchutil

STAGES = ("decode", "detect", "landmarks", "refine", "write")


def _silent(ws: Any) -> Any:
    from ..jobs.context import Reporter

    return Reporter(ws)


def make_demo_frames(root: Path, frames: int, size: int = 512) -> Path:
    """Demo clip -> ``root/data_src/*.png`` with the project's own steps; returns the frames folder."""
    from .. import options as om
    from ..workspace import Workspace

    ws = Workspace.open(root).ensure()
    try:
        from ..video.demo import run_demo
        from ..video.frames import run_extract_frames
        from ..video.options import DemoOptions, ExtractFramesOptions
    except ImportError:  # the video steps are missing: frames straight from the photos
        return synth_frames(ws.frames("src"), frames, size)
    fps = 25
    run_demo(_silent(ws), om.from_dict(DemoOptions, {"seconds": max(0.5, frames / fps), "fps": fps, "size": size}))
    run_extract_frames(_silent(ws), om.from_dict(ExtractFramesOptions, {"side": "src"}))
    return ws.frames("src")


def synth_frames(folder: Path, n: int, size: int = 512, seed: int = 0) -> Path:
    """Frames of a real face (Grace Hopper) under small random rotations, shifts and zooms."""
    import cv2
    import matplotlib.cbook as cbook
    import numpy as np

    folder.mkdir(parents=True, exist_ok=True)
    img = cv2.imread(cbook.get_sample_data("grace_hopper.jpg", asfileobj=False))
    img = cv2.resize(img, (size, int(size * img.shape[0] / img.shape[1])))[:size]
    img = cv2.copyMakeBorder(img, 0, max(0, size - img.shape[0]), 0, 0, cv2.BORDER_REFLECT)
    rng = np.random.default_rng(seed)
    for i in range(n):
        m = cv2.getRotationMatrix2D((size / 2, size / 2), rng.uniform(-10, 10), rng.uniform(0.9, 1.1))
        m[:, 2] += rng.uniform(-15, 15, 2)
        cv2.imwrite(str(folder / f"{i + 1:05d}.png"), cv2.warpAffine(img, m, (size, size), borderMode=cv2.BORDER_REFLECT))
    return folder


def make_1080p(src: Path, dst: Path) -> Path:
    """Each frame upscaled to 1080 px high and padded (mirrored) to 1920 x 1080."""
    import cv2

    from ..workspace import list_images

    dst.mkdir(parents=True, exist_ok=True)
    for p in list_images(src):
        img = cv2.imread(str(p))
        h, w = img.shape[:2]
        s = 1080 / h
        big = cv2.resize(img, (round(w * s) // 2 * 2, 1080), interpolation=cv2.INTER_CUBIC)
        pad = max(0, 1920 - big.shape[1])
        big = cv2.copyMakeBorder(big, 0, 0, pad // 2, pad - pad // 2, cv2.BORDER_REFLECT)[:, :1920]
        cv2.imwrite(str(dst / (p.stem + ".png")), big, [cv2.IMWRITE_PNG_COMPRESSION, 1])
    return dst


def run_once(root: Path, detector: str, device: str, accurate: bool, batch_size: int,
             weights_dir: str | None) -> dict[str, Any]:
    from .. import options as om
    from ..workspace import Workspace
    from .extract import run_extract_faces
    from .options import ExtractFacesOptions

    ws = Workspace.open(root)
    for d in (ws.aligned("src"), ws.aligned_debug("src")):
        shutil.rmtree(d, ignore_errors=True)  # our own temporary workspace
    o = om.from_dict(ExtractFacesOptions, {"side": "src", "detector": detector, "device": device,
                                           "accurate": accurate, "batch_size": batch_size,
                                           "weights_dir": weights_dir})
    t0, c0 = time.monotonic(), time.process_time()
    res = run_extract_faces(_silent(ws), o)
    res["load_s"] = round(time.monotonic() - t0 - res.get("seconds", 0.0), 2)
    # CPU seconds of all this process's threads: what a frame costs, whatever else the machine runs
    res["cpu_ms_per_frame"] = round((time.process_time() - c0) * 1000.0 / max(1, res.get("processed", 0)), 1)
    return res


def format_table(rows: list[dict[str, Any]]) -> str:
    head = ["detector", "device", "frame", "frames", "faces", "frames/s", "faces/s", "cpu ms/frame", "load s"] + \
        [f"{s} ms" for s in STAGES]
    cells = []
    for r in rows:
        if "error" in r:
            cells.append([r["detector"], r["device"], r["frame"], "-", "-", "error: " + r["error"]])
            continue
        sm = r.get("stage_ms", {})
        cells.append([r["detector"], r["device"], r["frame"], r["processed"], r["faces"], r["fps"], r["faces_per_s"],
                      f"{r['cpu_ms_per_frame']:.0f}", f"{r['load_s']:.1f}"] + [f"{sm.get(s, 0):.1f}" for s in STAGES])
    return benchutil.format_table(head, cells, align="lll")


def add_arguments(ap: argparse.ArgumentParser) -> None:
    from ..device import MULTI_HELP

    ap.description = ("How fast face extraction runs here, per detector and device, on the demo clip and a 1080p "
                      "version of it.")
    ap.epilog = ("Numbers are for the extract-faces step with its defaults (whole face, 512 px JPEG, debug images, "
                 "second pass) unless told otherwise.")
    ap.add_argument("--detector", default="available", choices=("available", "auto", "s3fd", "mediapipe"),
                    help="which detector(s): available = every backend that can run here [default]")
    ap.add_argument("--device", default="auto", help=MULTI_HELP)
    ap.add_argument("--frames", type=int, default=50, help="frames in the demo clip [default: 50]")
    ap.add_argument("--no-1080p", dest="hd", action="store_false", help="skip the synthesised 1080p clip")
    ap.add_argument("--accurate", action=argparse.BooleanOptionalAction, default=True,
                    help="second landmark pass (the step's default: on)")
    ap.add_argument("--batch-size", type=int, default=0, help="frames per detector batch (0: the backend's default)")
    ap.add_argument("--weights-dir", default=None, help="folder with the s3fd/FAN weights")
    ap.add_argument("--keep", default=None, metavar="DIR", help="work in DIR and keep it (default: a temporary folder)")
    ap.add_argument("--json", action="store_true", help="print the results as JSON")


def run(args: argparse.Namespace) -> int:
    from .detect import weights

    if args.detector == "available":
        detectors = ["mediapipe"]
        if not weights.missing_files(False, args.weights_dir):
            detectors.insert(0, "s3fd")
    else:
        detectors = [args.detector]

    base = Path(args.keep) if args.keep else Path(tempfile.mkdtemp(prefix="dfl-tui-bench-"))
    rows: list[dict[str, Any]] = []
    try:
        base.mkdir(parents=True, exist_ok=True)
        t0 = time.monotonic()
        frames_dir = base / "demo" / "data_src"
        if not any(frames_dir.glob("*.png")):
            frames_dir = make_demo_frames(base / "demo", args.frames)
        clips = [("512x512", base / "demo")]
        if args.hd:
            hd_frames = base / "hd" / "data_src"
            if not any(hd_frames.glob("*.png")):
                make_1080p(frames_dir, hd_frames)
            clips.append(("1920x1080", base / "hd"))
        if not args.json:
            print(f"bench extract: {benchutil.machine()}", file=sys.stderr)
            print(f"demo frames ready in {time.monotonic() - t0:.1f} s ({base})", file=sys.stderr)
        for det in detectors:
            for label, root in clips:
                row: dict[str, Any] = {"detector": det, "device": args.device, "frame": label}
                try:
                    res = run_once(root, det, args.device, args.accurate, args.batch_size, args.weights_dir)
                    row.update(res)
                    row["detector"], row["device"] = res.get("detector", det), res.get("device", args.device)
                except Exception as exc:  # noqa: BLE001 - one failing backend must not hide the others
                    row["error"] = str(exc).splitlines()[0][:200]
                rows.append(row)
                if not args.json:
                    print(f"  {row['detector']} on {label}: " + (f"{row['fps']:.2f} frames/s" if "fps" in row
                                                                 else row.get("error", "")), file=sys.stderr)
    finally:
        if not args.keep:
            shutil.rmtree(base, ignore_errors=True)
    if args.json:
        keep = ("detector", "detector_info", "device", "frame", "processed", "faces", "no_face", "fps", "faces_per_s",
                "cpu_ms_per_frame", "load_s", "stage_ms", "error")
        print(json.dumps({"machine": benchutil.machine(), "accurate": args.accurate,
                          "results": [{k: r[k] for k in keep if k in r} for r in rows]}, indent=2))
    else:
        print(format_table(rows))
    return 0 if rows and all("error" not in r for r in rows) else 1


main = benchutil.bench_main(__name__)

if __name__ == "__main__":
    sys.exit(main())
