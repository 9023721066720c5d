"""Small real facesets for the identity tests: detected landmarks (mediapipe), real people."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

import cv2
import numpy as np

from faces_data import astronaut_bgr, camera_gray, grace_hopper_bgr


@lru_cache(maxsize=None)
def detected() -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """name -> (frame BGR, 68 landmarks found by the mediapipe backend)."""
    from dfl_tui.faces.detect.base import find_faces
    from dfl_tui.faces.detect.mediapipe import MediaPipeBackend

    be = MediaPipeBackend()
    frames = {"astronaut": astronaut_bgr(), "hopper": grace_hopper_bgr(),
              "camera": cv2.cvtColor(camera_gray(), cv2.COLOR_GRAY2BGR)}
    out = {}
    for name, img in frames.items():
        found = find_faces(be, [img])[0]
        assert found, name
        out[name] = (img, np.asarray(found[0].landmarks, np.float32))
    be.close()
    return out


def write_face(folder: Path, name: str, who: str, size: int = 160, brighten: int = 0, blur: float = 0.0,
               shift: float = 0.0) -> Path:
    """An aligned whole face of ``who`` (astronaut, hopper, camera), a little altered, with its metadata."""
    from dfl_tui.faces.dflimg import FaceMeta, save_face
    from dfl_tui.faces.landmarks import align_face, get_rect_from_landmarks

    frame, lm = detected()[who]
    lm = lm + np.float32(shift)
    face, mat, aligned = align_face(frame, lm, size, "whole_face")
    if brighten:
        face = np.clip(face.astype(np.int32) + brighten, 0, 255).astype(np.uint8)
    if blur:
        face = cv2.GaussianBlur(face, (0, 0), blur)
    meta = FaceMeta(face_type="whole_face", landmarks=aligned, source_filename=f"{name.split('_')[0]}.png",
                    source_rect=get_rect_from_landmarks(lm), source_landmarks=lm, image_to_face_mat=mat)
    folder.mkdir(parents=True, exist_ok=True)
    p = folder / name
    save_face(p, face, meta, quality=95)
    return p


def small_set(folder: Path) -> dict[str, Path]:
    """Four astronaut faces (altered), one Grace Hopper, one cameraman."""
    return {
        "a0": write_face(folder, "00000_0.jpg", "astronaut"),
        "a1": write_face(folder, "00001_0.jpg", "astronaut", brighten=25),
        "h": write_face(folder, "00002_0.jpg", "hopper"),
        "a2": write_face(folder, "00003_0.jpg", "astronaut", blur=1.5),
        "c": write_face(folder, "00004_0.jpg", "camera"),
        "a3": write_face(folder, "00005_0.jpg", "astronaut", shift=3.0),
    }
