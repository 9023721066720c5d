"""The extract-faces step: frames in, aligned faces with DeepFaceLab metadata out.

The step, in order: list the frames, plan the run (resume where an earlier run
stopped: :mod:`.extract_state`), load the detector on each device, move aside what
must make way (``--overwrite``: everything, to ``aligned/.trash/``; ``dfl-tui faceset
src undo`` brings it back), run
the pipeline (:mod:`.extract_pipeline`: reader -> detection -> face writers), and
report. The faces themselves are written by :mod:`.face_writer`.
"""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from ..errors import InputError
from ..faceset.trash import set_aside, undo_hint
from ..jobs.context import Reporter
from ..workspace import list_images
from .extract_pipeline import FacePipeline
from .extract_state import NOFACE_FILE, STATE_FILE, ExtractBooks, Plan, plan_run
from .face_writer import FaceWriter
from .options import ExtractFacesOptions


def read_frame(path: Path) -> np.ndarray | None:
    """Decode a frame (any path, any bit depth or channel count) for the detector; None when unreadable."""
    import cv2

    from ..video.imageio import read_image
    from .detect.base import prepare_frame

    img = read_image(path, cv2.IMREAD_UNCHANGED)
    if img is None or img.ndim not in (2, 3):
        return None
    if img.ndim == 3 and img.shape[2] not in (1, 3, 4):
        img = img[..., 0]
    return prepare_frame(img)


def unique_frames(paths: Sequence[Path], ctx: Reporter) -> list[Path]:
    """Drop frames whose stem repeats (``0001.png`` + ``0001.jpg``): their faces would share names."""
    seen: dict[str, Path] = {}
    out = []
    dups = []
    for p in paths:
        if p.stem in seen:
            dups.append(p)
            continue
        seen[p.stem] = p
        out.append(p)
    if dups:
        ctx.warn(f"{len(dups)} frame(s) share a name with another frame and are skipped "
                 f"(e.g. {dups[0].name} beside {seen[dups[0].stem].name}); rename them to extract their faces")
    return out


def _choose_devices(o: ExtractFacesOptions, backend: str) -> list[str]:
    """One detector per device (:mod:`dfl_tui.device`'s rules); mediapipe runs on the CPU."""
    if backend == "mediapipe":
        return ["cpu"]
    from ..device import pick_devices

    return [str(d) for d in pick_devices(o.device)]


def run_extract_faces(ctx: Reporter, o: ExtractFacesOptions) -> dict[str, Any]:
    from .detect import create_backend, resolve_detector
    from .detect.base import MIN_FRAME_SIDE

    ws = ctx.workspace
    side = o.side
    frames_dir = ws.frames(side)
    all_frames = list_images(frames_dir)
    if not all_frames:
        raise InputError(f"no frames in {frames_dir}: run 'dfl-tui extract-frames {side}' first")
    frames = unique_frames(all_frames, ctx)
    ft = o.face_type_enum
    aligned = ws.aligned(side)
    debug_dir = ws.aligned_debug(side) if o.debug else None
    aligned.mkdir(parents=True, exist_ok=True)

    # -- resume plan (checks only; nothing is moved before the detector has loaded) ------
    plan = Plan.fresh(frames) if o.overwrite else plan_run(frames, aligned, o)
    if plan.message:
        ctx.log(plan.message)
    books = ExtractBooks(aligned, frames_dir, side, o, plan)
    total = len(frames)
    undo = undo_hint(side)
    if not plan.todo:
        books.save(True)
        ctx.log(f"all {total} frames were already extracted; nothing to do (--overwrite starts again)")
        identity = _keep_reference(ctx, o, aligned, _reference(ctx, o, None), undo) if o.reference else None
        res = {"frames": total, "processed": 0, "faces": 0, "faces_total": len(list_images(aligned)),
               "no_face": len(books.noface), "aligned": str(aligned)}
        if identity is not None:
            res["identity"] = identity
        ctx.result(**res)
        return res

    # -- backends ---------------------------------------------------------------------
    backend_name, why = resolve_detector(o.detector, three_d=o.three_d, weights_dir=o.weights_dir)
    ctx.log(f"detector: {why}")
    devices = _choose_devices(o, backend_name)
    if backend_name == "mediapipe" and o.device not in ("auto", "cpu"):
        ctx.log(f"mediapipe runs on the CPU (OpenCV); --device {o.device} applies to s3fd only")
    backends = [create_backend(backend_name, device=d, three_d=o.three_d, weights_dir=o.weights_dir,
                               flip_input=o.flip_input) for d in devices]
    refs = _reference(ctx, o, backends[0]) if o.reference else None

    # -- make way: to the trash, undoable -------------------------------------------------
    if o.overwrite:  # undo brings the earlier set back whole (this run's faces go to the trash then)
        old = list_images(aligned) + [aligned / STATE_FILE, aligned / NOFACE_FILE]
        set_aside(aligned, old, "extract-faces --overwrite", ctx, undo=undo, displace="images")
        dbg = ws.aligned_debug(side)
        set_aside(dbg, list_images(dbg), "extract-faces --overwrite", ctx, displace="images",
                  undo=undo_hint(side, dbg.relative_to(ws.root)))
    set_aside(aligned, plan.redo_faces, "extract-faces redo", ctx, undo=undo,
              reason="faces of frames extracted again (the earlier run stopped before recording them)")
    if debug_dir is not None:
        debug_dir.mkdir(parents=True, exist_ok=True)
    info = backends[0].describe() if len(backends) == 1 else ", ".join(b.describe() for b in backends)
    ctx.log(f"using {info}; {ft.to_string()} faces at {o.image_size} px, {o.format}, {o.border} past the "
            f"frame edge; second pass {'on' if o.accurate else 'off'}")
    books.state["detector"] = backend_name

    # -- the pipeline ------------------------------------------------------------------------
    writer = FaceWriter(aligned, debug_dir, ft, o.image_size, o.format, o.jpeg_quality, o.border)
    pipe = FacePipeline(ctx, backends, writer, books, batch=o.batch_size or backends[0].batch_size,
                        max_faces=o.max_faces, accurate=o.accurate, total=total, debug_dir=debug_dir, read_frame=read_frame)
    ctx.stage(f"extracting faces from data_{side}", total=total, unit="frames")
    try:
        cancelled = pipe.run(plan.todo)
    finally:
        for b in backends:
            b.close()
    if cancelled:
        ctx.check_cancel()  # raises JobCancelled: the job ends as cancelled, its progress saved

    identity = _keep_reference(ctx, o, aligned, refs, undo) if refs is not None else None

    # -- report ------------------------------------------------------------------------------
    counts = pipe.counts
    elapsed = max(1e-6, time.monotonic() - pipe.t_start)
    n = counts["frames"]
    if counts["small"]:
        ctx.warn(f"{counts['small']} frame(s) are smaller than {MIN_FRAME_SIDE} px and were not searched for faces")
    if counts["dropped"]:
        ctx.log(f"{counts['dropped']} face(s) dropped by the sanity check (crop far larger than the detector box)")
    fps = n / elapsed
    ctx.log(f"frames: {n} processed ({len(plan.done)} done earlier), faces: {counts['faces']}, "
            f"frames with no face: {counts['no_face']}, unreadable: {counts['unreadable']}; "
            f"{fps:.2f} frames/s" + (f". No-face frames are listed in {aligned / NOFACE_FILE}" if books.noface else ""))
    res = {
        "detector": backend_name,
        "detector_info": info,
        "device": ",".join(devices),
        "face_type": ft.to_string(),
        "size": o.image_size,
        "frames": total,
        "processed": n,
        "done_before": len(plan.done),
        "faces": counts["faces"],
        "faces_total": len(list_images(aligned)),
        "no_face": counts["no_face"],
        "unreadable": counts["unreadable"],
        "dropped": counts["dropped"],
        "fps": round(fps, 3),
        "faces_per_s": round(counts["faces"] / elapsed, 3),
        "seconds": round(elapsed, 2),
        "stage_ms": pipe.timings.per_frame_ms(n),
        "aligned": str(aligned),
    }
    if identity is not None:
        res["identity"] = identity
    ctx.result(**res)
    return res


def _reference(ctx: Reporter, o: ExtractFacesOptions, backend: Any):
    """The reference faces' embeddings (photos searched with the run's own detector, else mediapipe)."""
    from ..identity.reference import reference_embeddings
    from .detect.base import find_faces

    detect = None if backend is None else (lambda img: find_faces(backend, [img])[0])
    ref = Path(os.path.expanduser(o.reference))
    if not ref.is_absolute():  # from the current folder, else the workspace (demo --hard's reference/)
        ref = ref.absolute() if ref.exists() else ctx.workspace.root / ref
    o.reference = str(ref)
    return reference_embeddings(o.reference, o.identity_model, detect=detect, ctx=ctx)


def _keep_reference(ctx: Reporter, o: ExtractFacesOptions, aligned: Path, refs: Any, undo: str) -> dict[str, Any]:
    from ..identity.reference import keep_reference_faces

    return keep_reference_faces(ctx, aligned, refs, spec=o.reference, model=o.identity_model,
                                threshold=o.identity_threshold or None, undo=undo)
