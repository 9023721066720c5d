"""XSeg's training faces: which faces teach the net, and each face cut to the model's type.

DeepFaceLab (§5.3) trains on src and dst aligned faces together: the faces **with
polygons** when there are any, else the faces carrying an applied ``xseg_mask``. The
ground truth is the baked polygons (or the binarised mask). A face of another face
type than the model's is re-cut from its landmarks (a whole-face model learns from
head crops too) with the mask warped alongside.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Iterable, Sequence

import cv2
import numpy as np

from ..errors import InputError
from ..faces import dflimg
from ..faces.facetype import FaceType
from ..faces.landmarks import get_transform_mat
from ..workspace import list_images
from .polys import has_labels, polys_from_meta, rasterize


@dataclass
class XSegSample:
    path: Path
    side: str  # "src", "dst" or the folder name
    labelled: bool  # has polygons
    has_mask: bool  # carries an applied xseg_mask


def scan(folders: Iterable[tuple[str, Path]], warn: Callable[[str], None] | None = None) -> list[XSegSample]:
    """Every readable aligned face of the folders (metadata only)."""
    out = []
    for side, folder in folders:
        if (folder / "faceset.pak").exists() and warn is not None:
            warn(f"{folder}: faceset.pak is ignored (XSeg works on loose faces); unpack it first")
        for p in list_images(folder):
            try:
                meta = dflimg.read_meta(p)
            except InputError as exc:
                if warn is not None:
                    warn(f"skipped: {exc}")
                continue
            if warn is not None:
                for note in meta.notes:
                    warn(note)
            labelled = has_labels(polys_from_meta(meta.seg_ie_polys))
            out.append(XSegSample(p, side, labelled, meta.xseg_mask_buf is not None))
    return out


def training_set(samples: Sequence[XSegSample]) -> tuple[list[XSegSample], str]:
    """The faces to learn from and where their truth comes from ("labels" or "masks")."""
    labelled = [s for s in samples if s.labelled]
    if labelled:
        return labelled, "labels"
    masked = [s for s in samples if s.has_mask]
    return masked, "masks"


def cut_to_type(image: np.ndarray, meta: dflimg.FaceMeta, res: int, face_type: FaceType,
                mask: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray | None, np.ndarray]:
    """(image, mask, face->model matrix) at the model's type and size.

    Same face type: a resize. Another type: re-cut from the face's own landmarks, as
    DeepFaceLab does, so the model always sees its crop.
    """
    h = image.shape[0]
    if meta.face_type_enum == face_type or meta.landmarks is None or face_type == FaceType.MARK_ONLY:
        s = res / h
        mat = np.array([[s, 0, 0], [0, s, 0]], np.float64)
        interp = cv2.INTER_AREA if res < h else cv2.INTER_CUBIC
        img = cv2.resize(image, (res, res), interpolation=interp)
        m = None if mask is None else cv2.resize(mask, (res, res), interpolation=cv2.INTER_LINEAR)
        return img, m, mat
    mat = get_transform_mat(meta.landmarks, res, face_type)
    img = cv2.warpAffine(image, mat, (res, res), flags=cv2.INTER_CUBIC, borderMode=cv2.BORDER_REPLICATE)
    m = None if mask is None else cv2.warpAffine(mask, mat, (res, res), flags=cv2.INTER_LINEAR,
                                                 borderMode=cv2.BORDER_CONSTANT, borderValue=0)
    return img, m, mat


def load_truth(sample: XSegSample, res: int, face_type: FaceType, source: str) -> tuple[np.ndarray, np.ndarray]:
    """(BGR uint8 res x res, mask float32 res x res in {0, 1}) of a training face."""
    image, meta = dflimg.load_face(sample.path)
    h, w = image.shape[:2]
    if source == "labels":
        mask = rasterize(polys_from_meta(meta.seg_ie_polys), (h, w))
    else:
        m = meta.get_xseg_mask()
        if m is None:
            raise InputError(f"{sample.path}: its xseg_mask cannot be decoded")
        mask = cv2.resize(m, (w, h), interpolation=cv2.INTER_LINEAR)
    img, mask2, _ = cut_to_type(image, meta, res, face_type, mask.astype(np.float32))
    assert mask2 is not None
    return img, (mask2 > 0.5).astype(np.float32)


def load_face_only(sample: XSegSample, res: int, face_type: FaceType) -> np.ndarray:
    image, meta = dflimg.load_face(sample.path)
    img, _, _ = cut_to_type(image, meta, res, face_type)
    return img


def folders_for(workspace: Any, extra: str | None = None) -> list[tuple[str, Path]]:
    """src and dst aligned folders (both, as DeepFaceLab), or ``extra`` alone."""
    if extra:
        p = Path(extra).expanduser()
        if not p.is_absolute():
            p = Path(workspace.root) / p
        return [(p.name, p)]
    return [(side, workspace.aligned(side)) for side in ("src", "dst")]
