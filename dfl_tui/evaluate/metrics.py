"""The figures of the scorecard, each from plain arrays (numpy, OpenCV, scikit-image; no torch).

* :func:`outside_ssim` -- SSIM of the dst frame and the merged frame where the merge mask is 0
  (the mask grown by the SSIM window, and the visible label's box left out): ~1 when nothing
  outside the face changed (the invisible watermark costs about 0.01).
* :func:`region_change` -- the mean frame-to-frame change of the face region; the *flicker*
  figure is the merged clip's change over the dst clip's (:func:`flicker`).
* :func:`landmark_error` / :func:`pose_error_deg` -- two landmark sets of the same face
  compared in the dst face's aligned space.
* :func:`cosine` -- identity similarity of two embeddings.
"""

from __future__ import annotations

import math
from typing import Sequence

import cv2
import numpy as np

from ..faces.landmarks import estimate_pitch_yaw_roll, get_transform_mat, transform_points

#: the face region of a frame: where the merge mask is above this (0..255)
MASK_LEVEL = 127
#: the SSIM window: the mask is grown by this much so face pixels never enter an outside window
SSIM_WIN = 7
#: grey levels added to both sides of the flicker ratio: a still, noiseless dst does not divide by zero
FLICKER_FLOOR = 1.0


def gray(img: np.ndarray) -> np.ndarray:
    return img if img.ndim == 2 else cv2.cvtColor(img, cv2.COLOR_BGR2GRAY)


def label_area(shape: Sequence[int]) -> np.ndarray:
    """Where ``merge --label`` draws its box in a frame of this shape (bool HxW)."""
    from ..provenance.label import draw_label

    probe = np.full((int(shape[0]), int(shape[1]), 3), 128, np.uint8)
    return np.any(draw_label(probe) != 128, axis=2)


def outside_ssim(dst: np.ndarray, merged: np.ndarray, mask: np.ndarray, *, skip: np.ndarray | None = None) -> float | None:
    """Mean SSIM (grey) over the pixels away from the face; None when there are none."""
    from skimage.metrics import structural_similarity

    a, b = gray(dst), gray(merged)
    if a.shape != b.shape:
        raise ValueError(f"frame sizes differ: {a.shape[::-1]} and {b.shape[::-1]}")
    if min(a.shape) < SSIM_WIN:
        return None
    _, smap = structural_similarity(a, b, win_size=SSIM_WIN, data_range=255, full=True)
    face = (mask > 0).astype(np.uint8)
    face = cv2.dilate(face, np.ones((SSIM_WIN, SSIM_WIN), np.uint8)) > 0
    if skip is not None:
        face |= cv2.dilate(skip.astype(np.uint8), np.ones((SSIM_WIN, SSIM_WIN), np.uint8)) > 0
    outside = ~face
    if not outside.any():
        return None
    return float(smap[outside].mean())


def region_change(prev: np.ndarray, cur: np.ndarray, region: np.ndarray) -> float | None:
    """Mean absolute grey-level change between two frames inside ``region`` (bool HxW)."""
    if not region.any():
        return None
    d = cv2.absdiff(gray(prev), gray(cur))
    return float(d[region].mean())


def face_region(mask_prev: np.ndarray, mask_cur: np.ndarray) -> np.ndarray:
    """The face region of a pair of merged frames: where either merge mask covers the face."""
    return (mask_prev > MASK_LEVEL) | (mask_cur > MASK_LEVEL)


def flicker(merged_changes: Sequence[float], dst_changes: Sequence[float]) -> float | None:
    """How much the merged face region changes from frame to frame, relative to the dst's own change
    over the same pixels: 1 = as much as the original, above 1 = the swap adds flicker or shimmer."""
    if not merged_changes:
        return None
    n = len(merged_changes)
    return float((sum(merged_changes) + FLICKER_FLOOR * n) / (sum(dst_changes) + FLICKER_FLOOR * n))


def _aligned(lm: np.ndarray, ref: np.ndarray, size: float = 1.0) -> np.ndarray:
    mat = get_transform_mat(ref, 256, "whole_face")
    return transform_points(lm, mat) * (size / 256.0)


def landmark_error(lm: np.ndarray, ref: np.ndarray) -> float:
    """Mean distance of the 68 points of ``lm`` from ``ref``'s, in the ref face's whole-face crop,
    as a fraction of the crop's side (0.01 = 1% of the aligned face)."""
    a, b = _aligned(lm, ref), _aligned(ref, ref)
    return float(np.linalg.norm(a - b, axis=1).mean())


def _wrap_deg(a: float) -> float:
    return abs((a + 180.0) % 360.0 - 180.0)


def pose_error_deg(lm: np.ndarray, ref: np.ndarray) -> tuple[float, tuple[float, float, float]]:
    """(combined, (pitch, yaw, roll) differences) in degrees of two landmark sets of a face.

    Pitch and yaw: each set posed in its own aligned face (by PnP against the 3D mean head, as
    extraction poses faces); roll: the in-plane turn between the two sets (the rotation of their
    alignments). Combined: sqrt(dpitch^2 + dyaw^2 + droll^2)."""
    from ..merge.smooth import placement

    pa = estimate_pitch_yaw_roll(_aligned(lm, lm, 256.0), 256)
    pb = estimate_pitch_yaw_roll(_aligned(ref, ref, 256.0), 256)
    d_pitch = _wrap_deg(math.degrees(pa[0] - pb[0]))
    d_yaw = _wrap_deg(math.degrees(pa[1] - pb[1]))
    d_roll = _wrap_deg(math.degrees(placement(lm)[1][3] - placement(ref)[1][3]))
    return float(math.sqrt(d_pitch ** 2 + d_yaw ** 2 + d_roll ** 2)), (d_pitch, d_yaw, d_roll)


def nearest_face(found: Sequence[np.ndarray], ref: np.ndarray, max_shift: float = 0.5) -> int | None:
    """Of landmark sets found in a frame, the index of the one on the same face as ``ref``: the nearest
    centre, within ``max_shift`` of the ref face's size (None: no face there)."""
    from ..merge.smooth import placement

    _u, p = placement(np.asarray(ref, np.float32))
    size = float(np.exp(p[2]))
    best, best_d = None, max_shift * size
    for k, lm in enumerate(found):
        d = float(np.hypot(*(placement(np.asarray(lm, np.float32))[1][:2] - p[:2])))
        if d <= best_d:
            best, best_d = k, d
    return best


def cosine(a: np.ndarray, b: np.ndarray) -> float:
    a = np.asarray(a, np.float64).ravel()
    b = np.asarray(b, np.float64).ravel()
    na, nb = np.linalg.norm(a), np.linalg.norm(b)
    return float(a @ b / (na * nb)) if na > 0 and nb > 0 else 0.0
