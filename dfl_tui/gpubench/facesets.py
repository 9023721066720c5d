"""Real aligned faces for the GPU proof, made without a detector or a download.

The two public-domain portraits of ``dfl-tui demo`` (Grace Hopper for src, the astronaut
Eileen Collins for dst) are rendered through the demo's moving virtual camera
(:func:`dfl_tui.video.demo.render_frames`), the mean face's 68 landmarks are placed on each
face and moved by the same camera, and each face is aligned and saved with DeepFaceLab
metadata (:func:`dfl_tui.faces.dflimg.save_face`), as ``extract-faces`` would write it.
With ``xseg`` every face also carries an XSeg mask (an ellipse inside the face), so XSeg
training has something to learn from.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

# Where the face is in each photo: the centre and the height of the mean-face template
# (measured once by eye; the same numbers the tests' facesets use).
TEMPLATES = {"grace_hopper": ((265.0, 238.0), 140.0), "astronaut": ((226.0, 110.0), 92.0)}


def save_aligned(path: Path, frame: Any, lm: Any, size: int, face_type: str, source_filename: str,
                 xseg: bool = False) -> Path:
    """Align the face with landmarks ``lm`` (68 x 2, frame pixels) out of ``frame`` and save it with
    DeepFaceLab metadata; with ``xseg`` it carries an XSeg mask that differs from the hull (an
    ellipse in the middle of the face)."""
    import cv2
    import numpy as np

    from ..faces import landmarks as L
    from ..faces.dflimg import FaceMeta, save_face

    face, mat, alm = L.align_face(frame, lm, size, face_type)
    meta = FaceMeta(face_type=face_type, landmarks=alm, source_filename=source_filename,
                    source_rect=L.get_rect_from_landmarks(lm), source_landmarks=lm, image_to_face_mat=mat)
    if xseg:
        mask = np.zeros((size, size), np.float32)
        cv2.ellipse(mask, (size // 2, size // 2), (size // 3, int(size / 2.4)), 0, 0, 360, 1.0, -1)
        meta.set_xseg_mask(mask)
    save_face(path, face, meta)
    return path


def render_faceset(folder: Path, portrait: Any, n: int, size: int, *, frame: int = 512, seed: int = 0,
                   face_type: str = "whole_face", xseg: bool = False) -> list[Path]:
    """``n`` aligned faces of ``portrait`` (a :class:`~dfl_tui.video.demo.Portrait`) in ``folder``."""
    import cv2
    import numpy as np

    from ..faces import landmarks as L
    from ..video.demo import Camera, render_frames

    center, height = TEMPLATES[portrait.name]
    photo_lm = L.mean_face_68(center, (0.0, -height)).astype(np.float64)
    cam = Camera(seed)
    fps = 4.0  # a frame every quarter second of the demo camera: more pose variety per face
    folder.mkdir(parents=True, exist_ok=True)
    out = []
    for i, img in enumerate(render_frames(portrait, n, fps, frame, seed)):
        lm = cv2.perspectiveTransform(photo_lm[None], cam.matrix(i / fps, portrait, frame))[0].astype(np.float32)
        out.append(save_aligned(folder / f"{i + 1:05d}_0.jpg", img, lm, size, face_type, f"{i + 1:05d}.png", xseg))
    return out


def make_workspace(root: Path, n: int, size: int, *, xseg: bool = True) -> Any:
    """A workspace with ``n`` aligned src (Grace Hopper) and dst (astronaut) faces of ``size`` px."""
    from ..video.demo import ASTRONAUT, GRACE_HOPPER
    from ..workspace import Workspace

    ws = Workspace.open(root)
    ws.ensure()
    render_faceset(ws.aligned("src"), GRACE_HOPPER, n, size, seed=1, xseg=xseg)
    render_faceset(ws.aligned("dst"), ASTRONAUT, n, size, seed=2, xseg=xseg)
    return ws
