"""Demo-like dst data for the merge tests, and a stand-in predictor (tests only).

The dst "video" is the astronaut photo moving a little from frame to frame, with
aligned faces written exactly as extract-faces writes them (DFL metadata, mean-face
landmarks placed on her face). The stand-in predictor returns the dst face
colour-shifted, with elliptical learned masks: deterministic, so compositing
properties can be checked without a trained model. The product never uses it.
"""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np

from dfl_tui.jobs.context import Reporter

from faces_data import astronaut_bgr, template_landmarks

FRAME = 256
FACE_CENTER = (120.0, 75.0)  # the astronaut's face in a 256 px frame
FACE_HEIGHT = 75.0


class ShiftPredictor:
    """dst face -> the same face colour-shifted (a visible, measurable 'swap')."""

    name = "standin"
    model_type = "SAEHD"
    face_type = "wf"
    iteration = 7
    morphable = False
    device = "cpu"
    batch_size = 4

    def __init__(self, resolution: int = 64, shift=(0.12, -0.04, -0.10), morphable: bool = False) -> None:
        self.resolution = resolution
        self.shift = np.asarray(shift, np.float32)
        self.morphable = morphable
        self.model_type = "AMP" if morphable else "SAEHD"
        self.calls: list[int] = []
        r = resolution
        yy, xx = np.mgrid[0:r, 0:r]
        self.swap_mask = ((((xx - r / 2) / (r * 0.30)) ** 2 + ((yy - r * 0.55) / (r * 0.36)) ** 2) <= 1).astype(np.float32)
        self.dst_mask = ((((xx - r / 2) / (r * 0.26)) ** 2 + ((yy - r * 0.55) / (r * 0.33)) ** 2) <= 1).astype(np.float32)

    def predict(self, faces: np.ndarray, morph: float | None = None):
        from dfl_tui.merge.predictor import Prediction

        assert faces.shape[1:] == (self.resolution, self.resolution, 3), faces.shape
        self.calls.append(len(faces))
        f = faces.astype(np.float32) / 255.0 if faces.dtype == np.uint8 else faces.astype(np.float32)
        k = 1.0 if morph is None else float(morph)
        out = np.clip(f * 0.85 + self.shift * k, 0, 1)
        n = len(faces)
        return Prediction(out, np.repeat(self.swap_mask[None, ..., None], n, 0),
                          np.repeat(self.dst_mask[None, ..., None], n, 0))


def frame_and_landmarks(i: int, size: int = FRAME) -> tuple[np.ndarray, np.ndarray]:
    """Frame i of the moving astronaut clip and the landmarks of her face in it."""
    s = size / 512.0
    dx, dy = 3.0 * i, 1.5 * i
    m = np.float32([[s, 0, dx], [0, s, dy]])
    frame = cv2.warpAffine(astronaut_bgr(), m, (size, size), flags=cv2.INTER_AREA, borderMode=cv2.BORDER_REFLECT101)
    lm = template_landmarks(center=(FACE_CENTER[0] * size / 256 + dx, FACE_CENTER[1] * size / 256 + dy),
                            height=FACE_HEIGHT * size / 256)
    return frame, lm


def write_face(aligned: Path, stem: str, frame: np.ndarray, lm: np.ndarray, idx: int = 0, size: int = 128,
               xseg: np.ndarray | None = None) -> Path:
    from dfl_tui.faces.dflimg import FaceMeta, save_face
    from dfl_tui.faces.landmarks import align_face, get_rect_from_landmarks

    face, mat, alm = align_face(frame, lm, size, "whole_face")
    meta = FaceMeta(face_type="whole_face", landmarks=alm, source_filename=f"{stem}.png",
                    source_rect=get_rect_from_landmarks(lm), source_landmarks=np.asarray(lm, np.float32),
                    image_to_face_mat=mat)
    if xseg is not None:
        meta.set_xseg_mask(xseg)
    aligned.mkdir(parents=True, exist_ok=True)
    path = aligned / f"{stem}_{idx}.jpg"
    save_face(path, face, meta, quality=95)
    return path


def xseg_for(size: int = 256) -> np.ndarray:
    """An XSeg-like mask of a whole-face crop: an ellipse over the face."""
    yy, xx = np.mgrid[0:size, 0:size]
    return ((((xx - size / 2) / (size * 0.27)) ** 2 + ((yy - size * 0.55) / (size * 0.34)) ** 2) <= 1).astype(np.float32)


def make_dst(root: Path, n: int = 5, *, no_face=(2,), two_faces=(), corrupt=(), with_xseg: bool = False,
             size: int = FRAME) -> dict:
    """A workspace with data_dst/00001.png.. and data_dst/aligned faces; returns what is where."""
    from dfl_tui.workspace import Workspace

    ws = Workspace.open(root)
    frames_dir = ws.frames("dst")
    frames_dir.mkdir(parents=True, exist_ok=True)
    info: dict = {"ws": ws, "frames": [], "landmarks": {}}
    for i in range(n):
        stem = f"{i + 1:05d}"
        frame, lm = frame_and_landmarks(i, size)
        path = frames_dir / f"{stem}.png"
        if i in corrupt:
            path.write_bytes(b"\x89PNG\r\n\x1a\n not really a png")
        else:
            cv2.imwrite(str(path), frame)
        info["frames"].append(path)
        if i in no_face:
            continue
        write_face(ws.aligned("dst"), stem, frame, lm, 0, xseg=xseg_for() if with_xseg else None)
        info["landmarks"][stem] = [lm]
        if i in two_faces:
            lm2 = template_landmarks(center=(size * 0.72, size * 0.7), height=size * 0.18)
            write_face(ws.aligned("dst"), stem, frame, lm2, 1, xseg=xseg_for() if with_xseg else None)
            info["landmarks"][stem].append(lm2)
    return info


TINY_SAEHD = dict(resolution=64, face_type="wf", archi="df-ud", ae_dims=32, e_dims=16, d_dims=16, d_mask_dims=16)


def save_tiny_model(ws, name: str = "tiny", kind: str = "SAEHD", options: dict | None = None, iteration: int = 3):
    """A real (untrained) model folder as the trainer writes it: options.json + a complete checkpoint."""
    from dfl_tui.models import build_model
    from dfl_tui.train.checkpoint import save_checkpoint
    from dfl_tui.train.modeldir import ModelDir

    opts = dict(TINY_SAEHD if kind == "SAEHD" else {}, **(options or {}))
    model = build_model(kind, opts, "cpu")
    mdir = ModelDir.of(ws, name)
    mdir.write_options({"format": "dfl-tui-model/1", "model": kind, "options": opts, "trainer": {}, "fixed": []})
    parts = model.state_dict_parts()
    parts.pop("state", None)
    save_checkpoint(mdir, parts, iteration=iteration, model=kind)
    mdir.write_state({"iteration": iteration})
    return mdir


def save_tiny_xseg(ws, resolution: int = 64, base_ch: int = 4, bias: float = 3.0):
    """A real XSeg network folder (model/XSeg) whose output is 'face everywhere' (a big last bias),
    so XSeg-prd masks are predictable without training."""
    import torch

    from dfl_tui.train.checkpoint import save_checkpoint
    from dfl_tui.train.modeldir import ModelDir
    from dfl_tui.xseg.net import XSegNet

    net = XSegNet(resolution, base_ch)
    last = [m for m in net.modules() if isinstance(m, torch.nn.Conv2d)][-1]
    with torch.no_grad():
        last.weight.zero_()
        last.bias.fill_(bias)
    mdir = ModelDir.of(ws, "XSeg")
    mdir.write_options({"format": "dfl-tui-model/1", "model": "XSeg",
                        "options": {"face_type": "whole_face", "resolution": resolution, "base_ch": base_ch}})
    save_checkpoint(mdir, {"XSeg": net.state_dict()}, iteration=1, model="XSeg")
    return mdir


class Recorder(Reporter):
    """A job reporter that keeps the warnings and log lines, for assertions."""

    def __init__(self, ws):
        super().__init__(ws)
        self.warnings: list[str] = []
        self.logs: list[str] = []

    def log(self, message, level="info"):
        (self.warnings if level == "warning" else self.logs).append(message)
