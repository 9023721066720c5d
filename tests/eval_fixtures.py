"""For the evaluate and smoothing tests: a still dst shot whose landmarks jitter like a detector's, and a
stand-in model that always paints the same face (as a trained model paints the src identity)."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np

from merge_fixtures import ShiftPredictor, frame_and_landmarks, write_face


class FixedFacePredictor(ShiftPredictor):
    """Every face -> the same face (Grace Hopper's, whole-face crop): it sits wherever the landmarks put it,
    so landmark jitter shows as a shaking face, as with a real model."""

    name = "fixed"

    def __init__(self, resolution: int = 64) -> None:
        super().__init__(resolution)
        from dfl_tui.faces.landmarks import align_face
        from faces_data import grace_hopper_bgr, template_landmarks

        face, _mat, _lm = align_face(grace_hopper_bgr(), template_landmarks(center=(265.0, 238.0), height=140.0),
                                     resolution, "whole_face")
        self.face = face.astype(np.float32) / 255.0

    def predict(self, faces: np.ndarray, morph=None):
        from dfl_tui.merge.predictor import Prediction

        n = len(faces)
        self.calls.append(n)
        return Prediction(np.repeat(self.face[None], n, 0), np.repeat(self.swap_mask[None, ..., None], n, 0),
                          np.repeat(self.dst_mask[None, ..., None], n, 0))


def _add_frame(info: dict, frames_dir: Path, stem: str, frame: np.ndarray, lm: np.ndarray) -> None:
    """Write dst frame ``stem`` and its one aligned face, and note them in ``info``."""
    path = frames_dir / f"{stem}.png"
    cv2.imwrite(str(path), frame)
    info["frames"].append(path)
    write_face(info["ws"].aligned("dst"), stem, frame, lm, 0)
    info["landmarks"][stem] = [lm]


def make_jittered_dst(root: Path, n: int = 12, jitter: float = 1.5, seed: int = 0) -> dict:
    """A still shot (the same frame n times) whose aligned faces carry landmarks with detector-like jitter:
    ``jitter`` px of shake of the whole face plus a third of that on each point."""
    from dfl_tui.workspace import Workspace

    ws = Workspace.open(root)
    frames_dir = ws.frames("dst")
    frames_dir.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    frame, lm0 = frame_and_landmarks(0)
    info: dict = {"ws": ws, "frames": [], "landmarks": {}}
    for i in range(n):
        stem = f"{i + 1:05d}"
        lm = (lm0 + rng.normal(0, jitter, 2) + rng.normal(0, jitter / 3, lm0.shape)).astype(np.float32)
        _add_frame(info, frames_dir, stem, frame, lm)
    return info


class NoLandmarks:
    """A landmark pipeline that finds nothing (tests that need no pose figures)."""

    def __call__(self, dst, merged):
        return []


def _constant_model():
    from dfl_tui.identity.models import EmbeddingModel

    class ConstantEmbedder(EmbeddingModel):
        """An identity model that finds everyone alike (tests that need no identity figures)."""

        id = "constant-test"
        dim = 8

        def chip(self, image, lm68):
            return np.zeros((4, 4, 3), np.uint8)

        def embed_chips(self, chips):
            return np.ones((len(chips), self.dim), np.float32)

    return ConstantEmbedder()


constant_embedder = _constant_model()


def make_hopper_dst(root: Path, n: int = 6, size: int = 256) -> dict:
    """dst frames of Grace Hopper moving a little (the dst person of train_fixtures.make_workspace), with
    their aligned faces; any earlier data_dst/aligned is replaced."""
    import shutil

    from dfl_tui.faces.landmarks import transform_points
    from dfl_tui.workspace import Workspace
    from faces_data import grace_hopper_bgr, template_landmarks

    ws = Workspace.open(root)
    shutil.rmtree(ws.aligned("dst"), ignore_errors=True)
    frames_dir = ws.frames("dst")
    frames_dir.mkdir(parents=True, exist_ok=True)
    photo = grace_hopper_bgr()
    s = size / 600.0
    info: dict = {"ws": ws, "frames": [], "landmarks": {}}
    for i in range(n):
        stem = f"{i + 1:05d}"
        m = np.float32([[s, 0, 2.0 * i], [0, s, 1.0 * i]])
        frame = cv2.warpAffine(photo, m, (size, size), flags=cv2.INTER_AREA, borderMode=cv2.BORDER_REFLECT101)
        lm = transform_points(template_landmarks(center=(265.0, 238.0), height=140.0), m)
        _add_frame(info, frames_dir, stem, frame, lm)
    return info
