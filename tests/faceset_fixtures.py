"""Small real facesets for the faceset, sort and reviewer tests.

Faces are aligned from the astronaut, Grace Hopper and the cameraman with the
mean-face landmarks (tests/faces_data.template_landmarks) or with a posed 3D mean
head (for yaw/pitch series), then altered (blurred, hue-shifted, brightened...)
and written with full DeepFaceLab metadata.
"""

from __future__ import annotations

import math
from pathlib import Path

import cv2
import numpy as np

from faces_data import astronaut_bgr, camera_gray, grace_hopper_bgr, template_landmarks


def frames() -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """name -> (frame BGR, 68 landmarks in the frame) for the three real faces."""
    cam = cv2.cvtColor(camera_gray(), cv2.COLOR_GRAY2BGR)
    return {
        "astronaut": (astronaut_bgr(), template_landmarks(center=(240.0, 150.0), height=150.0)),
        "hopper": (grace_hopper_bgr(), template_landmarks(center=(260.0, 250.0), height=230.0)),
        "camera": (cam, template_landmarks(center=(260.0, 130.0), height=110.0)),
    }


def posed_landmarks(yaw: float = 0.0, pitch: float = 0.0, center=(256.0, 256.0), height: float = 200.0) -> np.ndarray:
    """The 3D mean head turned by yaw/pitch (radians), projected into a frame."""
    from dfl_tui.faces.landmarks import MEAN_HEAD_3D

    p = MEAN_HEAD_3D.astype(np.float64)
    p = p - p.mean(0)
    cy, sy = math.cos(yaw), math.sin(yaw)
    cp, sp = math.cos(pitch), math.sin(pitch)
    ry = np.array([[cy, 0, sy], [0, 1, 0], [-sy, 0, cy]])
    rx = np.array([[1, 0, 0], [0, cp, -sp], [0, sp, cp]])
    q = p @ (rx @ ry).T
    scale = height / (MEAN_HEAD_3D[:, 1].max() - MEAN_HEAD_3D[:, 1].min())
    return (q[:, :2] * scale + np.asarray(center)).astype(np.float32)


def make_face(frame: np.ndarray, lm68: np.ndarray, size: int = 96, face_type: str = "whole_face",
              source_filename: str = "00000.png"):
    from dfl_tui.faces.dflimg import FaceMeta
    from dfl_tui.faces.landmarks import align_face, get_rect_from_landmarks

    face, mat, aligned = align_face(frame, lm68, size, face_type)
    meta = FaceMeta(face_type=face_type, landmarks=aligned, source_filename=source_filename,
                    source_rect=get_rect_from_landmarks(lm68), source_landmarks=np.asarray(lm68, np.float32),
                    image_to_face_mat=mat)
    return face, meta


def save(folder: Path, name: str, face: np.ndarray, meta, quality: int = 95) -> Path:
    from dfl_tui.faces.dflimg import save_face

    folder.mkdir(parents=True, exist_ok=True)
    p = folder / name
    save_face(p, face, meta, quality=quality)
    return p


def hue_shift(img: np.ndarray, shift: int) -> np.ndarray:
    hsv = cv2.cvtColor(img, cv2.COLOR_BGR2HSV)
    hsv[..., 0] = (hsv[..., 0].astype(np.int32) + shift) % 180
    return cv2.cvtColor(hsv, cv2.COLOR_HSV2BGR)


def brighten(img: np.ndarray, delta: int) -> np.ndarray:
    return np.clip(img.astype(np.int32) + delta, 0, 255).astype(np.uint8)


def blur(img: np.ndarray, sigma: float) -> np.ndarray:
    return cv2.GaussianBlur(img, (0, 0), sigma)


def basic_set(folder: Path, size: int = 96) -> dict[str, Path]:
    """Three real faces, each from its own frame: frame stems 00000..00002."""
    out = {}
    for i, (name, (frame, lm)) in enumerate(frames().items()):
        face, meta = make_face(frame, lm, size, source_filename=f"{i:05d}.png")
        out[name] = save(folder, f"{i:05d}_0.jpg", face, meta)
    return out
