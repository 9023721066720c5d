"""``enhance``: upscale chosen faces (rare angles that came out blurry).

DeepFaceLab's FaceEnhancer is a x4 super-resolution U-Net whose weights ship
only with DeepFaceLab. dfl-tui looks for an upscaling model available offline
and, finding none, says so plainly and uses a classical method: Lanczos
upscaling followed by a mild unsharp mask. That makes faces bigger and a little
crisper; it does not invent detail the way a trained model does.

The enhanced faces replace the originals as one undoable operation (the
originals go to the trash); landmarks, polygons and the frame-to-face matrix are
scaled to match.
"""

from __future__ import annotations

from pathlib import Path
from typing import Sequence

import cv2
import numpy as np

from ..faces.dflimg import FaceMeta, encode_face
from ..jobs.context import Reporter
from . import features as F
from .parallel import map_faces
from .trash import Trash

CLASSICAL_NOTE = ("no super-resolution model is available offline, so enhance uses a classical method "
                  "(Lanczos upscaling + unsharp mask): faces get bigger and slightly crisper, but no new detail "
                  "is invented as DeepFaceLab's FaceEnhancer model would")


def best_upscaler() -> tuple[str, str]:
    """(name, note) of the best upscaler available offline."""
    return "lanczos+unsharp", CLASSICAL_NOTE


def upscale(img: np.ndarray, scale: int, keep_size: bool = False) -> np.ndarray:
    h, w = img.shape[:2]
    big = cv2.resize(img, (w * scale, h * scale), interpolation=cv2.INTER_LANCZOS4)
    blur = cv2.GaussianBlur(big, (0, 0), sigmaX=0.8 * scale)
    sharp = cv2.addWeighted(big, 1.6, blur, -0.6, 0)
    if keep_size:
        sharp = cv2.resize(sharp, (w, h), interpolation=cv2.INTER_AREA)
    return sharp


def scale_meta(meta: FaceMeta, s: float) -> FaceMeta:
    out = FaceMeta(**{**meta.__dict__, "extra": dict(meta.extra)})
    if meta.landmarks is not None:
        out.landmarks = (np.asarray(meta.landmarks, np.float32) * s).astype(np.float32)
    if meta.seg_ie_polys:
        out.seg_ie_polys = [{"type": p["type"], "pts": np.asarray(p["pts"], np.float32) * s} for p in meta.seg_ie_polys]
    if meta.image_to_face_mat is not None:
        out.image_to_face_mat = np.asarray(meta.image_to_face_mat, np.float64) * s
    return out


def enhance_set(folder: Path, paths: Sequence[Path], ctx: Reporter | None = None, *, scale: int = 4,
                keep_size: bool = False, quality: int = 95, workers: int = 0) -> dict:
    ctx = ctx or Reporter()
    name, note = best_upscaler()
    ctx.warn(f"enhance: {note}")
    trash = Trash(folder)
    staging = trash.staging()

    def work(p: Path) -> str:
        data = F.read_bytes(p)
        meta = F.try_meta(data, str(p))
        img = upscale(F.decode(data, str(p)), scale, keep_size)
        if meta is None:
            raise F.FaceFileError(f"{p}: no face metadata; skipped")
        meta = meta if keep_size else scale_meta(meta, scale)
        (staging / p.name).write_bytes(encode_face(img, meta, p.suffix, quality))
        return p.name

    vals = map_faces(paths, work, ctx, stage=f"enhancing ({name})", workers=workers)
    names = [v for v in vals if not isinstance(v, Exception)]
    for v in vals:
        if isinstance(v, Exception):
            ctx.warn(str(v))
    op = trash.replace(names, "enhance")
    return {"enhanced": len(names), "method": name, "undo_id": op.id}
