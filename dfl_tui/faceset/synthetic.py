"""A synthetic faceset for benchmarks: N aligned faces with real metadata and thumbnails, made fast.

:func:`make_set` writes ``N`` faces (``000000_0.jpg`` ...) and their ``.thumbs/`` from a few dozen
variants of one real face (the astronaut), so a 50,000-face set takes seconds. Used by the reviewer's
benchmark (``dfl-tui bench review``, :mod:`dfl_tui.tui.bench`), in a child process.
"""

from __future__ import annotations

import os
import time
from pathlib import Path

def make_set(folder: Path, n: int, size: int = 64, *, flat: bool = False, source=None) -> None:
    """N faces of ``size`` px with metadata and thumbnails, from a few dozen variants: hue shifts of a
    real face, or with ``flat`` generated flat colours (a square in the middle) that every decoder
    renders alike. ``source`` is an optional (frame BGR, 68 landmarks) the faces are said to come from."""
    import cv2
    import numpy as np
    from skimage import data

    from ..faces.dflimg import FaceMeta, encode_face
    from ..faces.landmarks import align_face, get_rect_from_landmarks, mean_face_68
    from ..workspace import THUMBS_DIR

    folder.mkdir(parents=True, exist_ok=True)
    (folder / THUMBS_DIR).mkdir(exist_ok=True)
    if source is None:
        frame = np.ascontiguousarray(data.astronaut()[..., ::-1])
        lm = mean_face_68((240.0, 150.0), (0.0, -150.0))
    else:
        frame, lm = source
    face, mat, aligned = align_face(frame, lm, size, "whole_face")
    variants = []
    for v in range(24 if flat else 48):
        if flat:
            colour = np.array([(v * 37) % 200 + 40, (v * 71) % 200 + 40, (v * 113) % 200 + 40], np.uint8)
            img = np.empty_like(face)
            img[:] = colour
            img[size // 4:size * 3 // 4, size // 4:size * 3 // 4] = 255 - colour
        else:
            hsv = cv2.cvtColor(face, cv2.COLOR_BGR2HSV)
            hsv[..., 0] = (hsv[..., 0].astype(int) + v * 4) % 180
            img = cv2.cvtColor(hsv, cv2.COLOR_HSV2BGR)
            img = np.clip(img.astype(int) + (v % 5) * 12 - 24, 0, 255).astype(np.uint8)
        meta = FaceMeta(face_type="whole_face", landmarks=aligned, source_filename=f"{v:05d}.png",
                        source_rect=get_rect_from_landmarks(lm), source_landmarks=lm, image_to_face_mat=mat)
        ok, thumb = cv2.imencode(".jpg", img, [int(cv2.IMWRITE_JPEG_QUALITY), 85])
        variants.append((encode_face(img, meta, ".jpg", 90), thumb.tobytes()))
    for i in range(n):
        face_bytes, thumb_bytes = variants[i % len(variants)]
        name = f"{i:06d}_0"
        (folder / f"{name}.jpg").write_bytes(face_bytes)
        (folder / THUMBS_DIR / f"{name}.jpg").write_bytes(thumb_bytes)
    # thumbnails must not look older than their faces
    now = time.time() + 5
    for e in os.scandir(folder / THUMBS_DIR):
        os.utime(e.path, (now, now))


__all__ = ["make_set"]
