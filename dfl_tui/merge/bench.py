"""``dfl-tui bench merge``: how many frames per second the merge step makes on this machine.

It builds a throw-away workspace of moving-astronaut frames (one face each, aligned
faces with DeepFaceLab metadata) at the demo size (512x512) and at 1080p, runs the
real ``merge`` step on it (reader threads, batched model calls, compositing, label-free
watermark + PNG metadata, atomic writes) and reports frames/s, plus a breakdown:
model inference per face, compositing, watermark and PNG encoding per frame.

The model: ``--model NAME`` (a trained one in the workspace), else the workspace's only
trained model, else a *freshly initialised* model of the default config
(``--model-type``, Quick96 by default): speed does not depend on the weights, and the
output says which was used.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import tempfile
import time
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from ..util import bench as benchutil

SIZES = {"demo": (512, 512), "720p": (1280, 720), "1080p": (1920, 1080), "4k": (3840, 2160)}


def add_arguments(p: argparse.ArgumentParser) -> None:
    from ..device import DEVICE_HELP

    p.add_argument("--device", default="auto", help=DEVICE_HELP)
    p.add_argument("--json", action="store_true", help="print the results as JSON")
    p.add_argument("--model", default="", help="a trained model of the workspace (default: the only one, else fresh)")
    p.add_argument("--model-type", default="", choices=["", "Quick96", "SAEHD", "AMP"],
                   help="use a freshly initialised model of this type's default config")
    p.add_argument("--frames", type=int, default=24, help="frames per size [24]")
    p.add_argument("--sizes", default="demo,1080p", help=f"comma list of {', '.join(SIZES)} [demo,1080p]")
    p.add_argument("--batch-size", type=int, default=8, help="faces per model call [8]")
    p.add_argument("--workers", type=int, default=0, help="merge threads (0: automatic)")


def _frames(size: tuple[int, int], n: int) -> tuple[list[np.ndarray], list[np.ndarray]]:
    """n frames of the astronaut moving on a canvas of ``size`` (w, h), and her face's landmarks."""
    from skimage import data

    from ..faces.landmarks import mean_face_68

    w, h = size
    photo = np.ascontiguousarray(data.astronaut()[..., ::-1])
    scale = min(w, h) / 512.0
    frames, lms = [], []
    for i in range(n):
        dx = (w - 512 * scale) / 2 + 4.0 * i * scale
        dy = (h - 512 * scale) / 2 + 2.0 * i * scale
        m = np.float32([[scale, 0, dx], [0, scale, dy]])
        frames.append(cv2.warpAffine(photo, m, (w, h), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT101))
        centre = (240.0 * scale + dx, 150.0 * scale + dy)
        lms.append(mean_face_68(centre, (0.0, -150.0 * scale)))
    return frames, lms


def _workspace(root: Path, size: tuple[int, int], n: int) -> Any:
    from ..faces.dflimg import FaceMeta, save_face
    from ..faces.landmarks import align_face, get_rect_from_landmarks
    from ..workspace import Workspace

    ws = Workspace.open(root)
    frames, lms = _frames(size, n)
    ws.frames("dst").mkdir(parents=True, exist_ok=True)
    ws.aligned("dst").mkdir(parents=True, exist_ok=True)
    for i, (f, lm) in enumerate(zip(frames, lms)):
        stem = f"{i + 1:05d}"
        cv2.imwrite(str(ws.frames("dst") / f"{stem}.png"), f, [cv2.IMWRITE_PNG_COMPRESSION, 1])
        face, mat, alm = align_face(f, lm, 256, "whole_face")
        meta = FaceMeta(face_type="whole_face", landmarks=alm, source_filename=f"{stem}.png",
                        source_rect=get_rect_from_landmarks(lm), source_landmarks=np.asarray(lm, np.float32),
                        image_to_face_mat=mat)
        save_face(ws.aligned("dst") / f"{stem}_0.jpg", face, meta)
    return ws


def _ms(fn: Any, reps: int) -> float:
    t = time.perf_counter()
    for _ in range(reps):
        fn()
    return (time.perf_counter() - t) / reps * 1000.0


def run_bench(device: str = "auto", model: str = "", model_type: str = "", frames: int = 24,
              sizes: tuple[str, ...] = ("demo", "1080p"), batch_size: int = 8, workers: int = 0,
              workspace: Any = None, log: Any = print) -> dict[str, Any]:
    import torch

    from ..jobs.context import Reporter
    from ..options import replace, validate
    from ..provenance import watermark as wm
    from .batch import Marking, encode_merged
    from .masked import FaceJob, cut_input, merge_frame
    from .options import FrameSettings, MergeOptions
    from .predictor import fresh_predictor, load_predictor, resolve_model_name

    fresh = True
    if not model_type and workspace is not None:
        try:
            name = resolve_model_name(workspace, model)
            predictor = load_predictor(workspace, name, device, batch_size)
            fresh = False
        except Exception as exc:  # noqa: BLE001 - no trained model: fall back to a fresh one, say so
            if model:
                raise
            log(f"no trained model to load ({exc}); using a freshly initialised one")
    if fresh:
        predictor = fresh_predictor(model_type or "Quick96", device, batch_size)
    res = predictor.resolution
    dev = predictor.device
    dev_name = torch.cuda.get_device_name(0) if dev.startswith("cuda") else (platform.processor() or platform.machine())
    out: dict[str, Any] = {
        "model": predictor.name, "model_type": predictor.model_type, "resolution": res, "face_type": predictor.face_type,
        "fresh_model": fresh, "device": dev, "device_name": dev_name, "cpu_threads": os.cpu_count(),
        "torch_threads": torch.get_num_threads(), "batch_size": batch_size, "frames": frames, "sizes": {},
    }
    log(f"merge benchmark: {predictor.model_type} {res} px ({'freshly initialised, untrained' if fresh else 'trained'}: "
        f"{predictor.name}) on {dev} ({dev_name})")

    # inference alone, batched
    x = np.random.default_rng(0).integers(0, 255, (batch_size, res, res, 3), dtype=np.uint8)
    predictor.predict(x)  # warm-up (cuDNN autotune, allocations)
    if dev.startswith("cuda"):
        torch.cuda.synchronize()
    reps = 3
    t = time.perf_counter()
    for _ in range(reps):
        predictor.predict(x)
    if dev.startswith("cuda"):
        torch.cuda.synchronize()
    infer_ms = (time.perf_counter() - t) / reps / batch_size * 1000.0
    out["inference_ms_per_face"] = round(infer_ms, 2)

    marking = Marking.for_predictor(predictor, False)
    for key in sizes:
        size = SIZES[key]
        with tempfile.TemporaryDirectory(prefix="dfl-bench-merge-") as tmp:
            ws = _workspace(Path(tmp), size, frames)
            # breakdown on one frame
            frame = cv2.imread(str(ws.frames("dst") / "00001.png"))
            lm = _frames(size, 1)[1][0]
            job = FaceJob(np.asarray(lm, np.float32), "bench")
            pred = predictor.predict(cut_input(frame, job, res, predictor.face_type)[None])
            s = FrameSettings()
            comp = _ms(lambda: merge_frame(frame, [job], [pred], s, res, predictor.face_type), 5)
            seam = _ms(lambda: merge_frame(frame, [job], [pred], replace(s, mode="seamless"), res,
                                            predictor.face_type), 3)
            result = merge_frame(frame, [job], [pred], s, res, predictor.face_type)
            wm_ms = _ms(lambda: wm.embed(result.image, marking.mark_id), 3)
            png_ms = _ms(lambda: encode_merged(result.image, result.mask, marking, "k"), 3) - wm_ms
            # the whole step
            opts = validate(MergeOptions(restart=True, batch_size=batch_size, workers=workers, session=False))
            ctx = Reporter(ws)
            t = time.perf_counter()
            from .batch import run_merge

            res_step = run_merge(ctx, opts, predictor=predictor)
            wall = time.perf_counter() - t
            fps = frames / wall
            row = {"width": size[0], "height": size[1], "frames_per_s": round(fps, 2),
                   "step_seconds": round(wall, 2), "merged": res_step.get("merged"),
                   "composite_ms": round(comp, 1), "composite_seamless_ms": round(seam, 1),
                   "watermark_ms": round(wm_ms, 1), "png_encode_ms": round(max(0.0, png_ms), 1)}
            out["sizes"][key] = row
            log(f"  {key:>6} {size[0]}x{size[1]}: {fps:6.2f} frames/s  (composite {comp:.1f} ms, seamless {seam:.1f} ms, "
                f"watermark {wm_ms:.1f} ms, PNG {max(0.0, png_ms):.1f} ms per frame; inference {infer_ms:.1f} ms/face)")
    return out


def format_table(r: dict[str, Any]) -> str:
    lines = [
        f"merge benchmark — model {r['model_type']} {r['resolution']} px"
        + (" (freshly initialised: no trained model; speed does not depend on the weights)" if r["fresh_model"]
           else f" ({r['model']}, trained)"),
        f"device {r['device']} ({r['device_name']}), {r['cpu_threads']} CPU threads, torch threads {r['torch_threads']}, "
        f"batch {r['batch_size']}, {r['frames']} frames per size",
        f"model inference: {r['inference_ms_per_face']:.1f} ms per face (batched)",
        "",
        benchutil.format_table(
            ["size", "frame", "frames/s", "composite", "seamless", "watermark", "PNG"],
            [[key, f"{row['width']}x{row['height']}", row["frames_per_s"], f"{row['composite_ms']:.1f}ms",
              f"{row['composite_seamless_ms']:.1f}ms", f"{row['watermark_ms']:.1f}ms", f"{row['png_encode_ms']:.1f}ms"]
             for key, row in r["sizes"].items()]),
    ]
    lines.append("frames/s: the whole merge step (read, model, composite, mark, write) with its threads; "
                 "the other columns are per frame, single-threaded.")
    return "\n".join(lines)


def run(args: argparse.Namespace) -> int:
    import sys

    from ..errors import DflError
    from ..workspace import Workspace

    sizes = tuple(s.strip() for s in args.sizes.split(",") if s.strip())
    bad = [s for s in sizes if s not in SIZES]
    if bad:
        print(f"dfl-tui bench merge: unknown size {bad[0]!r}; use {', '.join(SIZES)}", file=sys.stderr)
        return 2
    ws = Workspace.open(getattr(args, "workspace", None))
    quiet = args.json
    try:
        r = run_bench(args.device, args.model, args.model_type, max(2, args.frames), sizes, max(1, args.batch_size),
                      max(0, args.workers), ws if ws.root.is_dir() else None,
                      log=(lambda *_: None) if quiet else (lambda m: print(m, file=sys.stderr)))
    except DflError as exc:
        print(f"dfl-tui bench merge: {exc}", file=sys.stderr)
        return 2
    print(json.dumps(r, indent=2) if args.json else format_table(r))
    return 0
