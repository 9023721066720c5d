"""Thumbnails for the face reviewer: a small JPEG per face in ``<set>/.thumbs/``.

Written at extraction so the reviewer never decodes full-size faces to fill its
grid. Every operation that renames, moves or deletes a face goes through
:func:`move_face` / :func:`remove_thumbnail`, so the cache stays in step; a
missing thumbnail is rebuilt from the face on demand.
"""

from __future__ import annotations

import contextlib
import os
from pathlib import Path

from ..workspace import THUMBS_DIR

THUMB_SIZE = 64


def thumbnail_path(face_path: str | os.PathLike) -> Path:
    p = Path(face_path)
    return p.parent / THUMBS_DIR / (p.stem + ".jpg")


def make_thumbnail(image, size: int = THUMB_SIZE):
    import cv2

    h, w = image.shape[:2]
    if (h, w) == (size, size):
        return image
    return cv2.resize(image, (size, size), interpolation=cv2.INTER_AREA)


def write_thumbnail(face_path: str | os.PathLike, image, size: int = THUMB_SIZE, quality: int = 85) -> Path:
    """Write the thumbnail of a face from its (BGR) image; returns its path."""
    import cv2

    from ..util.atomic import atomic_write_bytes

    out = thumbnail_path(face_path)
    ok, buf = cv2.imencode(".jpg", make_thumbnail(image, size), [int(cv2.IMWRITE_JPEG_QUALITY), quality])
    if ok:
        atomic_write_bytes(out, buf.tobytes(), fsync=False)
    return out


def load_thumbnail(face_path: str | os.PathLike, size: int = THUMB_SIZE, create: bool = True):
    """The thumbnail as a BGR array, rebuilt from the face when missing or stale; None if unreadable."""
    import cv2
    import numpy as np

    face_path = Path(face_path)
    tp = thumbnail_path(face_path)
    try:
        fresh = tp.stat().st_mtime >= face_path.stat().st_mtime
    except OSError:
        fresh = False
    if fresh:
        img = cv2.imdecode(np.fromfile(str(tp), np.uint8), cv2.IMREAD_COLOR)
        if img is not None:
            return img if img.shape[0] == size else make_thumbnail(img, size)
    if not create:
        return None
    try:
        img = cv2.imdecode(np.fromfile(str(face_path), np.uint8), cv2.IMREAD_COLOR)
    except OSError:
        return None
    if img is None:
        return None
    thumb = make_thumbnail(img, size)
    with contextlib.suppress(OSError):
        write_thumbnail(face_path, thumb, size)
    return thumb


def move_face(src: str | os.PathLike, dst: str | os.PathLike) -> Path:
    """Rename or move a face file and its thumbnail together (never overwrites an existing face)."""
    src, dst = Path(src), Path(dst)
    if dst.exists() and dst != src:
        raise FileExistsError(f"{dst} already exists")
    dst.parent.mkdir(parents=True, exist_ok=True)
    os.replace(src, dst)
    ts, td = thumbnail_path(src), thumbnail_path(dst)
    if ts.exists():
        td.parent.mkdir(parents=True, exist_ok=True)
        with contextlib.suppress(OSError):
            os.replace(ts, td)
    return dst


def remove_thumbnail(face_path: str | os.PathLike) -> None:
    with contextlib.suppress(OSError):
        thumbnail_path(face_path).unlink()
