"""``dfl-tui model predict``: a model's raw outputs for aligned dst faces, as the merger sees them.

Each aligned face names its frame (``source_filename``) and its landmarks in that frame; the
frame is found beside the ``aligned/`` folder (``data_dst/00001.png`` for
``data_dst/aligned/00001_0.jpg``), and the model input is cut from it exactly as the merger
(and DeepFaceLab's merger) does: :func:`~dfl_tui.merge.masked.cut_input` with ``exact``, filled
past the frame edge as the face was extracted (black, as DeepFaceLab, unless ``--border replicate``).
Outputs are float32 NHWC in [0, 1], BGR: ``face`` (the predicted src face), ``mask_src`` (the
mask predicted with it), ``mask_dst`` (the dst decoder's mask), plus ``input`` (what the model
got) and ``files`` (the face names).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Callable

import numpy as np

from ..errors import InputError


def find_frame(face_path: Path, source_filename: str) -> Path:
    """The frame an aligned face was cut from: beside its ``aligned`` folder (any image extension)."""
    base = face_path.resolve().parent.parent
    cand = base / source_filename
    if cand.is_file():
        return cand
    stem = Path(source_filename).stem
    for ext in (".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff", ".webp"):
        if (base / (stem + ext)).is_file():
            return base / (stem + ext)
    raise InputError(f"{face_path}: its frame {source_filename} is not in {base}; the merger crops faces from "
                     "their frames, so keep aligned/ inside the frames' folder")


def model_inputs(faces: list[Path], res: int, face_type: str, warn: Callable[[str], None] | None = None) \
        -> tuple[np.ndarray, list[str]]:
    """float32 N,res,res,3 inputs cut from the faces' frames, and the names used (unreadable faces are skipped
    with a warning naming them)."""
    import cv2

    from ..faces.dflimg import FaceFileError, read_meta
    from ..faces.extract_state import extraction_border, face_border
    from .masked import FaceJob, cut_input

    out, names = [], []
    folder_border: dict[Path, str] = {}
    for p in faces:
        p = Path(p)
        try:
            meta = read_meta(p)
            if meta.source_landmarks is None or not meta.source_filename:
                raise InputError(f"{p}: no source landmarks or frame name in its metadata; the merger cannot place "
                                 "this face")
            frame_path = find_frame(p, meta.source_filename)
            frame = cv2.imread(str(frame_path), cv2.IMREAD_COLOR)
            if frame is None:
                raise InputError(f"{frame_path}: cannot be read as an image")
        except (InputError, FaceFileError) as exc:
            if warn is None:
                raise
            warn(str(exc))
            continue
        lm = np.asarray(meta.source_landmarks, np.float32)
        if p.parent not in folder_border:
            folder_border[p.parent] = extraction_border(p.parent)
        job = FaceJob(lm, str(p), border=face_border(meta, folder_border[p.parent]))
        out.append(cut_input(frame, job, res, face_type, exact=True))
        names.append(p.name)
    return (np.stack(out) if out else np.zeros((0, res, res, 3), np.float32)), names


def predict_faces(predictor: Any, faces: list[Path], morph: float | None = None,
                  warn: Callable[[str], None] | None = None) -> dict[str, np.ndarray]:
    """Run ``predictor`` (a :class:`~dfl_tui.merge.predictor.ModelPredictor`) on aligned faces."""
    x, names = model_inputs(faces, predictor.resolution, predictor.face_type, warn)
    if not names:
        raise InputError("no face could be read; nothing predicted")
    pred = predictor.predict(x, morph)
    return {"face": pred.face.astype(np.float32), "mask_src": pred.swap_mask.astype(np.float32),
            "mask_dst": pred.dst_mask.astype(np.float32), "input": x.astype(np.float32),
            "files": np.array(names)}


__all__ = ["find_frame", "model_inputs", "predict_faces"]
