"""The visible "AI-generated" corner label (``merge --label``).

Article 50(4) of the EU AI Act asks deployers of deepfakes to disclose them "clearly";
a label burnt into the picture is the simplest disclosure that survives any upload.
It is drawn before the invisible watermark, so the watermark covers it too.
"""

from __future__ import annotations

import cv2
import numpy as np

from . import MARK_TEXT


def draw_label(frame: np.ndarray, text: str = MARK_TEXT, corner: str = "bottom-right") -> np.ndarray:
    """Return a copy of ``frame`` (BGR uint8) with ``text`` on a dark box in a corner.

    The text height is about 1/24 of the frame height (at least 9 px), so the label is
    readable on a phone and small on a big screen.
    """
    out = frame.copy()
    h, w = out.shape[:2]
    font = cv2.FONT_HERSHEY_SIMPLEX
    target = max(9, h // 24)
    (tw, th), base = cv2.getTextSize(text, font, 1.0, 2)
    scale = target / th
    thick = max(1, int(round(scale * 1.6)))
    (tw, th), base = cv2.getTextSize(text, font, scale, thick)
    pad = max(3, th // 3)
    margin = max(4, h // 60)
    bw, bh = tw + 2 * pad, th + base + 2 * pad
    x0 = w - bw - margin if "right" in corner else margin
    y0 = h - bh - margin if "bottom" in corner else margin
    x0, y0 = max(0, x0), max(0, y0)
    x1, y1 = min(w, x0 + bw), min(h, y0 + bh)
    roi = out[y0:y1, x0:x1].astype(np.float32)
    out[y0:y1, x0:x1] = (roi * 0.35).astype(np.uint8)  # darkened box: readable on any background
    cv2.putText(out, text, (x0 + pad, y0 + pad + th), font, scale, (255, 255, 255), thick, cv2.LINE_AA)
    return out
