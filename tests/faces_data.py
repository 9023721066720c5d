"""Real public-domain faces that ship inside installed packages, for the tests."""

from __future__ import annotations

from functools import lru_cache

import numpy as np


@lru_cache(maxsize=None)
def astronaut_bgr() -> np.ndarray:
    """Eileen Collins (NASA, public domain), 512x512, from scikit-image."""
    from skimage import data

    return np.ascontiguousarray(data.astronaut()[..., ::-1])


@lru_cache(maxsize=None)
def grace_hopper_bgr() -> np.ndarray:
    """Grace Hopper (US Navy, public domain), 512x600, from matplotlib's sample data."""
    import cv2
    from matplotlib import cbook

    path = cbook.get_sample_data("grace_hopper.jpg", asfileobj=False)
    img = cv2.imread(str(path), cv2.IMREAD_COLOR)
    assert img is not None, path
    return img


@lru_cache(maxsize=None)
def camera_gray() -> np.ndarray:
    """The cameraman (near-profile, CC0), 512x512 grey, from scikit-image."""
    from skimage import data

    return data.camera()


def template_landmarks(center=(256.0, 256.0), height=200.0, angle_deg=0.0) -> np.ndarray:
    """The mean face's 68 points placed in a frame (no detector needed)."""
    import math

    from dfl_tui.faces.landmarks import mean_face_68

    a = math.radians(angle_deg)
    vec = (height * math.sin(a), -height * math.cos(a))
    return mean_face_68(center, vec)
