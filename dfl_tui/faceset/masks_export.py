"""``export-masks``: each face's mask as a black-and-white image (deepfacelab.md §4.5).

The trained XSeg mask binarised at 0.5, or else the hand-drawn include/exclude
polygons filled in order. Written as ``<set>/masks/<stem>_mask.png`` (lossless;
DeepFaceLab writes JPEG beside the faces, where they get taken for faces).
"""

from __future__ import annotations

from pathlib import Path
from typing import Sequence

import cv2
import numpy as np

from ..errors import InputError
from ..faces.dflimg import FaceFileError, FaceMeta
from ..jobs.context import Reporter
from ..util.atomic import atomic_write_bytes
from . import features as F
from .parallel import map_faces

MASKS_DIR = "masks"


def face_mask(meta: FaceMeta, shape) -> np.ndarray | None:
    """uint8 HxW 0/255 mask of a face, or None when it has neither XSeg mask nor polygons."""
    from ..xseg.polys import face_mask_from_meta

    m = face_mask_from_meta(meta, shape[:2])
    return None if m is None else np.where(m >= 0.5, 255, 0).astype(np.uint8)


def export_masks(folder: Path, paths: Sequence[Path], ctx: Reporter | None = None, *, overwrite: bool = False,
                 workers: int = 0) -> dict:
    ctx = ctx or Reporter()
    out_dir = folder / MASKS_DIR
    paths = [p for p in paths if "_mask" not in p.stem]

    def work(p: Path) -> str:
        target = out_dir / f"{p.stem}_mask.png"
        if target.exists() and not overwrite:
            return "exists"
        data = F.read_bytes(p)
        meta = F.try_meta(data, str(p))
        if meta is None:
            return "no-meta"
        for note in meta.notes:
            ctx.warn(note)
        size = F.image_size(data) or F.decode(data, str(p)).shape[1::-1]
        m = face_mask(meta, (size[1], size[0]))
        if m is None:
            return "no-mask"
        ok, buf = cv2.imencode(".png", m)
        out_dir.mkdir(exist_ok=True)
        atomic_write_bytes(target, buf.tobytes(), fsync=False)
        return "written"

    vals = map_faces(paths, work, ctx, stage="exporting masks", workers=workers)
    counts: dict[str, int] = {}
    for v in vals:
        if isinstance(v, Exception):
            ctx.warn(f"{v}; skipped" if isinstance(v, FaceFileError) else f"skipped a face: {v}")
        k = "error" if isinstance(v, Exception) else v
        counts[k] = counts.get(k, 0) + 1
    if counts.get("written", 0) == 0 and counts.get("exists", 0) == 0:
        raise InputError(f"{folder}: no face has an XSeg mask or mask polygons; label faces (XSeg editor) or apply "
                         "an XSeg model first")
    if counts.get("no-meta"):
        ctx.warn(f"{counts['no-meta']} image(s) have no face metadata; skipped")
    if counts.get("no-mask"):
        ctx.warn(f"{counts['no-mask']} face(s) have neither an XSeg mask nor polygons; skipped")
    ctx.log(f"wrote {counts.get('written', 0)} masks to {out_dir}")
    return {"written": counts.get("written", 0), "skipped": len(paths) - counts.get("written", 0), "folder": str(out_dir)}
