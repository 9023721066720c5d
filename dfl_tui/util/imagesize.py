"""The one limit on what dfl-tui decodes, checked from an image's header.

A frame's pixels are decoded into memory whole (a 20000x20000 frame is 1.2 GB as BGR, more in
the steps that follow), so readers of frames ask :func:`size_problem` first: it reads only the
header (a few hundred bytes; Pillow for formats other than JPEG and PNG) and says why an image is
refused. The same limit is handed to OpenCV (``OPENCV_IO_MAX_IMAGE_PIXELS``, set by the package
before OpenCV is loaded) so no decoder call can go past it either.

Light module: no numpy, no OpenCV.
"""

from __future__ import annotations

import os
from pathlib import Path

from .container import image_size

# 100 megapixels: an 8K frame is 33 MP; a larger one is refused with a message saying how to shrink it.
MAX_PIXELS = int(os.environ.get("DFL_TUI_MAX_IMAGE_PIXELS", "") or 100_000_000)


def file_image_size(path: str | os.PathLike) -> tuple[int, int] | None:
    """(width, height) of an image file from its header; None when it is not an image we can size."""
    try:
        with open(path, "rb") as fh:
            head = fh.read(1 << 16)
    except OSError:
        return None
    size = image_size(head)
    if size is not None:
        return size
    try:
        from PIL import Image

        with Image.open(path) as im:  # reads the header only
            return int(im.size[0]), int(im.size[1])
    except Exception:  # noqa: BLE001 - not an image Pillow knows: the decoder will say so
        return None


def too_large(size: tuple[int, int] | None, source: str) -> str | None:
    """Why an image of ``size`` is refused, or None."""
    if size is None:
        return None
    w, h = size
    if w * h <= MAX_PIXELS:
        return None
    return (f"{source}: {w}x{h} pixels ({w * h / 1e6:.0f} MP) is over the {MAX_PIXELS / 1e6:.0f} MP limit for "
            f"an image; skipped. Scale it down first (e.g. ffmpeg -i IN -vf scale=3840:-2 OUT), or raise the "
            f"limit with DFL_TUI_MAX_IMAGE_PIXELS")


def size_problem(path: str | os.PathLike | Path, head: bytes | None = None) -> str | None:
    """Why the image at ``path`` is too large to decode, or None; ``head``: its first bytes when
    already read (the file is read again only when they do not hold the size)."""
    size = image_size(head) if head is not None else None
    return too_large(size if size is not None else file_image_size(path), str(path))


__all__ = ["MAX_PIXELS", "file_image_size", "image_size", "size_problem", "too_large"]
