"""``resize``: faces to a new size, optionally to a new face type (deepfacelab.md §4.9).

Same face type: a Lanczos resize, landmarks and mask polygons scaled, and the
frame-to-face matrix recomputed from the source landmarks. A new face type:
the aligned image is re-warped with the new type's crop computed from its own
landmarks (a larger type gets black borders, as in DeepFaceLab), landmarks,
polygons and the XSeg mask follow the same warp. New files replace the old as
one undoable operation (the old ones go to the trash).
"""

from __future__ import annotations

from pathlib import Path
from typing import Sequence

import cv2
import numpy as np

from ..faces.dflimg import FaceMeta, encode_face
from ..faces.facetype import FaceType
from ..faces.landmarks import get_transform_mat, transform_points
from ..jobs.context import Reporter
from . import features as F
from .parallel import map_faces
from .trash import Trash


def resize_face(img: np.ndarray, meta: FaceMeta, size: int, face_type: str | None = None) -> tuple[np.ndarray, FaceMeta]:
    h, w = img.shape[:2]
    old_type = FaceType.from_string(meta.face_type)
    new_type = FaceType.from_string(face_type) if face_type and face_type != "same" else old_type
    out = FaceMeta(**{**meta.__dict__, "extra": dict(meta.extra)})
    if new_type == old_type:
        s = size / float(w)
        new = cv2.resize(img, (size, size), interpolation=cv2.INTER_LANCZOS4)
        mat = np.array([[s, 0, 0], [0, s, 0]], np.float64)
        mask_mat = None
    else:
        if meta.landmarks is None:
            raise F.FaceFileError("no landmarks: cannot change the face type")
        mat = get_transform_mat(meta.landmarks, size, new_type)
        new = cv2.warpAffine(img, mat, (size, size), flags=cv2.INTER_LANCZOS4, borderMode=cv2.BORDER_CONSTANT)
        mask_mat = get_transform_mat(np.asarray(meta.landmarks) * (256.0 / w), 256, new_type)
        out.face_type = new_type.to_string()
    if meta.landmarks is not None:
        out.landmarks = transform_points(meta.landmarks, mat).astype(np.float32)
    if meta.seg_ie_polys:
        out.seg_ie_polys = [{"type": p["type"], "pts": transform_points(np.asarray(p["pts"], np.float32), mat)}
                            for p in meta.seg_ie_polys]
    if mask_mat is not None and meta.xseg_mask_buf is not None:
        m = meta.get_xseg_mask()
        if m is not None:
            m = cv2.resize(m, (256, 256), interpolation=cv2.INTER_LINEAR)
            m = cv2.warpAffine(m, mask_mat, (256, 256), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT)
            out.set_xseg_mask((m > 0.5).astype(np.float32))
    if meta.source_landmarks is not None and new_type != FaceType.MARK_ONLY:
        out.image_to_face_mat = get_transform_mat(meta.source_landmarks, size, new_type)
    elif meta.image_to_face_mat is not None:
        full = np.vstack([meta.image_to_face_mat, [0, 0, 1]])
        out.image_to_face_mat = (np.vstack([mat, [0, 0, 1]]) @ full)[:2]
    return new, out


def resize_set(folder: Path, paths: Sequence[Path], size: int, face_type: str | None, ctx: Reporter | None = None,
               *, quality: int = 95, workers: int = 0) -> dict:
    ctx = ctx or Reporter()
    trash = Trash(folder)
    staging = trash.staging()

    def work(p: Path) -> str:
        data = F.read_bytes(p)
        meta = F.try_meta(data, str(p))
        if meta is None:
            raise F.FaceFileError(f"{p}: no face metadata; skipped")
        img, new_meta = resize_face(F.decode(data, str(p)), meta, size, face_type)
        (staging / p.name).write_bytes(encode_face(img, new_meta, p.suffix, quality))
        return p.name

    vals = map_faces(paths, work, ctx, stage=f"resizing to {size}", workers=workers)
    names = []
    for v in vals:
        if isinstance(v, Exception):
            ctx.warn(str(v))
        else:
            names.append(v)
    op = trash.replace(names, "resize")
    ctx.log(f"resized {len(names)} faces to {size}px; the originals are in the trash (undo puts them back)")
    return {"resized": len(names), "size": size, "undo_id": op.id}
