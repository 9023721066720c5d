"""Writing one frame's faces: align, encode, write atomically, with thumbnails and a debug image.

Faces are named ``<frame stem>_<n>.<ext>`` (n in detection-area order, as DeepFaceLab
does) and carry their metadata inside the file (:mod:`dfl_tui.faces.dflimg`). Used by
extract-faces from a thread pool and by manual extraction.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Sequence

import cv2
import numpy as np

from ..util.atomic import atomic_write_bytes
from .facetype import FaceType

DEBUG_QUALITY = 50


def face_name(frame_stem: str, k: int, ext: str) -> str:
    return f"{frame_stem}_{k}.{ext}"


@dataclass
class FaceWriter:
    """Aligns, encodes and writes the faces of one frame (called from a thread pool)."""

    aligned: Path
    debug_dir: Path | None
    face_type: FaceType
    size: int
    ext: str
    quality: int
    border: str = "black"  # fill past the frame edge: black (DeepFaceLab's) or replicate

    def write(self, path: Path, img: np.ndarray, found: Sequence[Any]) -> tuple[list[str], int]:
        """Write the faces of one frame; returns (file names written, faces dropped by the sanity filter)."""
        from . import thumbs
        from .detect.base import area_ok
        from .dflimg import FaceMeta, save_face
        from .extract_state import BORDER_KEY
        from .landmarks import crop_face, draw_debug, get_transform_mat, transform_points

        names: list[str] = []
        dropped = 0
        debug = img.copy() if self.debug_dir is not None else None
        for f in found:
            lm = np.asarray(f.landmarks, np.float32)
            if self.face_type == FaceType.MARK_ONLY:
                face, mat, face_lm = img, None, lm
            else:
                try:
                    mat = get_transform_mat(lm, self.size, self.face_type)
                except (ValueError, np.linalg.LinAlgError):
                    dropped += 1
                    continue
                if not area_ok(f.rect, mat, self.size, int(self.face_type)):
                    dropped += 1
                    continue
                face = crop_face(img, mat, self.size, self.border)
                face_lm = transform_points(lm, mat)
            name = face_name(path.stem, len(names), self.ext)
            meta = FaceMeta(face_type=self.face_type.to_string(), landmarks=face_lm, source_filename=path.name,
                            source_rect=np.asarray(f.rect, np.float64), source_landmarks=lm, image_to_face_mat=mat,
                            extra={} if mat is None else {BORDER_KEY: self.border})
            out = self.aligned / name
            save_face(out, face, meta, quality=self.quality)
            thumbs.write_thumbnail(out, face)
            names.append(name)
            if debug is not None:
                draw_debug(debug, f.rect, lm, self.face_type)
        if debug is not None and self.debug_dir is not None:
            ok, buf = cv2.imencode(".jpg", debug, [int(cv2.IMWRITE_JPEG_QUALITY), DEBUG_QUALITY])
            if ok:
                atomic_write_bytes(self.debug_dir / f"{path.stem}.jpg", buf.tobytes(), fsync=False)
        return names, dropped
