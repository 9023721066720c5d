"""Tiny real facesets for the training tests: Eileen Collins (src) and Grace Hopper (dst).

Each face is the public-domain photo under a small random similarity transform (so the faces
differ like video frames), aligned with the mean-face landmarks placed on the real face, and
saved with DeepFaceLab metadata by :func:`dfl_tui.faces.dflimg.save_face`.
"""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np

from faces_data import astronaut_bgr, grace_hopper_bgr, template_landmarks

# Where the faces are in the photos (centre, height of the mean-face template).
FACES = {
    "astronaut": (astronaut_bgr, (226.0, 110.0), 92.0),
    "hopper": (grace_hopper_bgr, (265.0, 238.0), 140.0),
}


def make_faceset(folder: Path, who: str, n: int = 6, size: int = 64, face_type: str = "whole_face",
                 seed: int = 0, xseg: bool = False, ext: str = ".jpg") -> list[Path]:
    """``n`` aligned faces of ``who`` in ``folder``; returns their paths."""
    from dfl_tui.faces import landmarks as L
    from dfl_tui.gpubench.facesets import save_aligned

    get, center, height = FACES[who]
    frame = get()
    rng = np.random.default_rng(seed)
    folder.mkdir(parents=True, exist_ok=True)
    out = []
    for i in range(n):
        ang = float(rng.uniform(-8, 8)) if i else 0.0
        sc = float(rng.uniform(0.95, 1.05)) if i else 1.0
        shift = rng.uniform(-4, 4, size=2) if i else np.zeros(2)
        m = cv2.getRotationMatrix2D(center, ang, sc)
        m[:, 2] += shift
        img = cv2.warpAffine(frame, m, (frame.shape[1], frame.shape[0]), flags=cv2.INTER_LINEAR,
                             borderMode=cv2.BORDER_REPLICATE)
        lm = L.transform_points(template_landmarks(center=center, height=height), m)
        out.append(save_aligned(folder / f"{i:05d}_0{ext}", img, lm, size, face_type, f"{i:05d}.png", xseg))
    return out


def make_workspace(root: Path, n: int = 6, size: int = 64, face_type: str = "whole_face"):
    """A workspace with data_src/aligned (astronaut) and data_dst/aligned (Grace Hopper)."""
    from dfl_tui.workspace import Workspace

    ws = Workspace.open(root)
    make_faceset(ws.aligned("src"), "astronaut", n=n, size=size, face_type=face_type, seed=1)
    make_faceset(ws.aligned("dst"), "hopper", n=n, size=size, face_type=face_type, seed=2)
    return ws

