"""``add-landmarks-debug``: each face with its landmarks drawn, to check alignment by eye.

DeepFaceLab writes ``<stem>_debug.jpg`` beside each face, where the trainer and
sorter then take them for faces. dfl-tui writes the same images (landmark lines,
the darkened hull, quality 50) into ``<set>/landmarks_debug/`` instead.
"""

from __future__ import annotations

from pathlib import Path
from typing import Sequence

import cv2

from ..faces.landmarks import draw_debug
from ..jobs.context import Reporter
from ..util.atomic import atomic_write_bytes
from . import features as F
from .parallel import map_faces

DEBUG_DIR = "landmarks_debug"


def debug_image(img, meta):
    out = img.copy()
    rect = None
    if meta.face_type == "mark_only" and meta.source_rect is not None:
        rect = meta.source_rect
    draw_debug(out, rect, meta.landmarks, meta.face_type if meta.face_type != "mark_only" else "mark_only",
               face_size=img.shape[1])
    return out


def add_landmarks_debug(folder: Path, paths: Sequence[Path], ctx: Reporter | None = None, *, overwrite: bool = False,
                        workers: int = 0) -> dict:
    ctx = ctx or Reporter()
    out_dir = folder / DEBUG_DIR
    out_dir.mkdir(exist_ok=True)

    def work(p: Path) -> bool:
        target = out_dir / f"{p.stem}_debug.jpg"
        if target.exists() and not overwrite:
            return False
        data = F.read_bytes(p)
        meta = F.try_meta(data, str(p))
        if meta is None or meta.landmarks is None:
            raise F.FaceFileError(f"{p}: no landmarks; skipped")
        ok, buf = cv2.imencode(".jpg", debug_image(F.decode(data, str(p)), meta), [int(cv2.IMWRITE_JPEG_QUALITY), 50])
        atomic_write_bytes(target, buf.tobytes(), fsync=False)
        return True

    vals = map_faces(paths, work, ctx, stage="drawing landmarks", workers=workers)
    written = sum(1 for v in vals if v is True)
    for v in vals:
        if isinstance(v, Exception):
            ctx.warn(str(v))
    ctx.log(f"wrote {written} debug images to {out_dir}")
    return {"written": written, "folder": str(out_dir)}
