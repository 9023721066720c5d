"""Overlays painted on an :class:`~.image_canvas.ImageCanvas` view, in display pixels.

``m`` is always the canvas's 2 x 3 image -> display matrix (``ImageCanvas.matrix``).
"""

from __future__ import annotations

import cv2
import numpy as np

INCLUDE_RGB = (80, 230, 100)
EXCLUDE_RGB = (255, 80, 80)
SELECT_RGB = (255, 220, 60)
CURSOR_RGB = (255, 255, 255)
XSEG_RGB = (90, 140, 255)


def to_disp(pts: np.ndarray, m: np.ndarray) -> np.ndarray:
    p = np.asarray(pts, np.float64).reshape(-1, 2)
    return p @ m[:, :2].T + m[:, 2]


def draw_cursor(disp: np.ndarray, x: float, y: float, colour: tuple[int, int, int] = CURSOR_RGB) -> None:
    """A small cross whose centre pixel is left visible."""
    h, w = disp.shape[:2]
    cx, cy = int(round(x)), int(round(y))
    for d in (2, 3):
        for px, py in ((cx - d, cy), (cx + d, cy), (cx, cy - d), (cx, cy + d)):
            if 0 <= px < w and 0 <= py < h:
                disp[py, px] = colour


def tint(disp: np.ndarray, mask: np.ndarray, colour: tuple[int, int, int], amount: float = 0.45) -> None:
    m = (mask > 0.5)[..., None]
    disp[...] = np.where(m, (disp * (1 - amount) + np.array(colour) * amount).astype(np.uint8), disp)


def mask_to_display(mask: np.ndarray, m: np.ndarray, size: tuple[int, int], src_scale: float = 1.0) -> np.ndarray:
    """A face-sized (or ``src_scale``-scaled) mask warped into display pixels."""
    mm = m.copy()
    mm[:, :2] = mm[:, :2] / src_scale
    w, h = size
    return cv2.warpAffine(mask.astype(np.float32), mm, (w, h), flags=cv2.INTER_NEAREST, borderValue=0)
