"""FaceMesh: MediaPipe's 468-point face landmark model, and its mapping to the iBUG 68 points.

The model expects a 192 x 192 crop of a square region of interest (ROI) rotated so
the eyes are level, as MediaPipe's graph builds it: from a detection, the box's
centre, the longer side x 1.5, and the angle of the line from the right eye to the
left eye; from earlier landmarks (a refinement pass), their bounding box in the
eye-levelled frame x 1.5 and the angle of the outer eye corners. The 468 points
come back in crop pixels and are projected to the frame through the inverse of
the crop's affine transform.

DeepFaceLab aligns faces from iBUG-68 landmarks, so the mesh is mapped to them with
the published vertex correspondence (offline-models.md section 3b): each of the 68
points is one mesh vertex or the mean of two.
"""

from __future__ import annotations

import math
from typing import Sequence

import cv2
import numpy as np

from .tflite import TFLiteNet

INPUT = 192
ROI_SCALE = 1.5

#: FaceMesh vertex (or pair of vertices, averaged) for each iBUG-68 point, in order.
MESH_TO_68: tuple[tuple[int, ...], ...] = (
    # jaw 0-16
    (127,), (234,), (93,), (132, 58), (58, 172), (136,), (150,), (176,), (152,), (400,), (379,), (365,),
    (397, 288), (361,), (323,), (454,), (356,),
    # brows 17-26
    (70,), (63,), (105,), (66,), (107,), (336,), (296,), (334,), (293,), (300,),
    # nose 27-35
    (168, 6), (197, 195), (5,), (4,), (75,), (97,), (2,), (326,), (305,),
    # eyes 36-47
    (33,), (160,), (158,), (133,), (153,), (144,), (362,), (385,), (387,), (263,), (373,), (380,),
    # mouth 48-67
    (61,), (39,), (37,), (0,), (267,), (269,), (291,), (321,), (314,), (17,), (84,), (91,),
    (78,), (82,), (13,), (312,), (308,), (317,), (14,), (87,),
)
assert len(MESH_TO_68) == 68


def _mapping_matrix() -> np.ndarray:
    """A 68 x 468 averaging matrix: ``lm68 = M @ mesh``."""
    m = np.zeros((68, 468), np.float32)
    for i, verts in enumerate(MESH_TO_68):
        for v in verts:
            m[i, v] = 1.0 / len(verts)
    return m


_M68 = _mapping_matrix()

# Vertices MediaPipe uses to level a landmark-based ROI: the outer eye corners.
MESH_RIGHT_EYE_OUTER, MESH_LEFT_EYE_OUTER = 33, 263


def mesh_to_68(mesh: np.ndarray) -> np.ndarray:
    """(468, 2|3) mesh points -> (68, 2) iBUG points."""
    return (_M68 @ np.asarray(mesh, np.float32)[:, :2]).astype(np.float32)


def roi_from_detection(row: np.ndarray) -> tuple[float, float, float, float]:
    """BlazeFace row (pixels) -> ROI (cx, cy, side, angle) for the mesh."""
    x1, y1, x2, y2 = row[:4]
    kps = row[4:16].reshape(6, 2)
    (rx, ry), (lx, ly) = kps[0], kps[1]
    angle = math.atan2(ly - ry, lx - rx)
    side = max(x2 - x1, y2 - y1) * ROI_SCALE
    return float((x1 + x2) / 2), float((y1 + y2) / 2), float(side), angle


def roi_from_points(points: np.ndarray, right_eye: np.ndarray, left_eye: np.ndarray,
                    scale: float = ROI_SCALE) -> tuple[float, float, float, float]:
    """ROI around landmarks: their box in the eye-levelled frame, the longer side x ``scale``."""
    angle = math.atan2(left_eye[1] - right_eye[1], left_eye[0] - right_eye[0])
    c, s = math.cos(angle), math.sin(angle)
    rot = np.array([[c, s], [-s, c]], np.float32)  # frame -> levelled
    p = np.asarray(points, np.float32)[:, :2] @ rot.T
    lo, hi = p.min(0), p.max(0)
    centre = ((lo + hi) / 2) @ rot  # back to the frame
    side = float(max(hi - lo)) * scale
    return float(centre[0]), float(centre[1]), side, angle


def roi_matrix(roi: tuple[float, float, float, float], size: int = INPUT) -> np.ndarray:
    """2 x 3 affine frame -> crop for a rotated square ROI (pixel-centre convention)."""
    cx, cy, side, angle = roi
    k = side / size
    c, s = math.cos(angle) * k, math.sin(angle) * k
    # crop (u, v) -> frame: centre + R * k * (u - (size-1)/2, v - (size-1)/2)
    h = (size - 1) / 2.0
    to_frame = np.array([[c, -s, cx - c * h + s * h], [s, c, cy - s * h - c * h]], np.float64)
    return cv2.invertAffineTransform(to_frame)


class FaceMesh:
    """The 468-point model; ``run`` takes BGR frames with one ROI each, batched."""

    def __init__(self) -> None:
        self.net = TFLiteNet("face_landmark.tflite", ("conv2d_20", "conv2d_30"))

    def crops(self, images: Sequence[np.ndarray], rois: Sequence[tuple[float, float, float, float]]):
        mats, crops = [], []
        for img, roi in zip(images, rois):
            m = roi_matrix(roi)
            crops.append(cv2.warpAffine(img, m, (INPUT, INPUT), flags=cv2.INTER_LINEAR,
                                        borderMode=cv2.BORDER_CONSTANT))
            mats.append(m)
        return crops, mats

    def run(self, images: Sequence[np.ndarray], rois: Sequence[tuple[float, float, float, float]],
            batch: int = 16) -> list[tuple[np.ndarray, float]]:
        """Per (image, ROI): (468 x 3 points in frame pixels, z scaled like x), face presence *logit*.

        The logit, not its sigmoid: a fit on an upside-down crop still scores a sigmoid of
        0.99, so comparing orientations needs the unsaturated value.
        """
        out: list[tuple[np.ndarray, float]] = []
        crops, mats = self.crops(images, rois)
        for start in range(0, len(crops), batch):
            chunk = crops[start:start + batch]
            blob = cv2.dnn.blobFromImages(chunk, 1 / 255.0, (INPUT, INPUT), (0, 0, 0), swapRB=True, crop=False)
            pts, flag = self.net(blob)
            pts = np.asarray(pts, np.float32).reshape(len(chunk), 468, 3)
            flag = np.asarray(flag, np.float32).reshape(len(chunk))
            for j in range(len(chunk)):
                inv = cv2.invertAffineTransform(mats[start + j])
                p = pts[j].copy()
                xy = p[:, :2] @ inv[:, :2].T + inv[:, 2]
                zs = math.hypot(inv[0, 0], inv[1, 0])
                p[:, :2] = xy
                p[:, 2] *= zs
                out.append((p, float(flag[j])))
        return out
