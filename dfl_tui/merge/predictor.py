"""What the merger needs from a model: the :class:`Predictor` protocol, and the real one.

The merger only ever calls ``predict`` on batches of dst faces cut to the model's
face type and resolution, so the protocol is small. :class:`ModelPredictor` wraps a
trained model from ``model/<name>/`` (or, for ``bench merge``, a freshly initialised
one); tests can pass any object with the same attributes.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol, runtime_checkable

import numpy as np

from ..device import pick_device
from ..errors import DflError


@dataclass
class Prediction:
    """Model outputs for N faces: float32, NHWC, BGR, [0, 1]."""

    face: np.ndarray  # N,R,R,3 swapped face (src identity, dst pose/expression)
    swap_mask: np.ndarray  # N,R,R,1 mask predicted with the swap ("learned-prd")
    dst_mask: np.ndarray  # N,R,R,1 mask of the dst face from the dst decoder ("learned-dst")

    def __len__(self) -> int:
        return int(self.face.shape[0])

    def item(self, i: int) -> "Prediction":
        return Prediction(self.face[i:i + 1], self.swap_mask[i:i + 1], self.dst_mask[i:i + 1])


@runtime_checkable
class Predictor(Protocol):
    name: str  # the model folder name (or "fresh-<type>")
    model_type: str  # SAEHD, AMP, Quick96
    resolution: int
    face_type: str  # any string FaceType.from_string accepts
    iteration: int
    morphable: bool  # AMP: predict() honours ``morph``
    device: str

    def predict(self, faces: np.ndarray, morph: float | None = None) -> Prediction:
        """faces: N,R,R,3 BGR uint8 (or float [0,1]) cut with the model's face type at its resolution."""
        ...


class ModelPredictor:
    """A dfl-tui face-swap model (:class:`~dfl_tui.models.base.FaceSwapModel`) as a Predictor."""

    def __init__(self, model: Any, name: str, batch_size: int = 8) -> None:
        self.model = model
        self.name = name
        self.model_type = str(getattr(model, "name", "") or type(model).__name__)
        self.resolution = int(model.resolution)
        self.face_type = str(model.face_type)
        self.iteration = int(getattr(model, "iteration", 0))
        self.morphable = self.model_type == "AMP"
        self.device = str(model.device)
        self.batch_size = max(1, int(batch_size))

    def predict(self, faces: np.ndarray, morph: float | None = None) -> Prediction:
        if len(faces) == 0:
            r = self.resolution
            z = np.zeros((0, r, r, 1), np.float32)
            return Prediction(np.zeros((0, r, r, 3), np.float32), z, z.copy())
        outs: list[tuple[np.ndarray, ...]] = []
        for i in range(0, len(faces), self.batch_size):
            chunk = faces[i:i + self.batch_size]
            outs.append(self.model.predict_numpy(chunk, morph if self.morphable else None))
        face, swap_mask, dst_mask = (np.concatenate([o[k] for o in outs]) for k in range(3))
        return Prediction(np.clip(face, 0, 1), np.clip(swap_mask, 0, 1), np.clip(dst_mask, 0, 1))


def resolve_model_name(workspace: Any, name: str) -> str:
    """The model to merge with: ``name``, or the only trained model when ``name`` is empty."""
    models = [m["name"] for m in workspace.models() if m.get("model") != "XSeg"]
    if name:
        if (workspace.model_dir / name / "options.json").exists():
            return name
        raise DflError(f"no model '{name}' in {workspace.model_dir}"
                       + (f"; trained models: {', '.join(models)}" if models else ": train one first (step 9)"))
    if len(models) == 1:
        return models[0]
    if not models:
        raise DflError(f"no trained model in {workspace.model_dir}: train one first (dfl-tui train)")
    raise DflError(f"several models in {workspace.model_dir} ({', '.join(models)}): choose one with --model NAME")


def load_predictor(workspace: Any, name: str, device: str = "auto", batch_size: int = 8) -> ModelPredictor:
    """The trained model ``name`` of a workspace, on ``device``, in inference mode."""
    from ..train.checkpoint import load_model

    name = resolve_model_name(workspace, name)
    model = load_model(workspace, name, pick_device(device))
    return ModelPredictor(model, name, batch_size)


def fresh_predictor(model_type: str = "Quick96", device: str = "auto", batch_size: int = 8,
                    options: dict[str, Any] | None = None) -> ModelPredictor:
    """A freshly initialised model of the default config (benchmarks when nothing is trained)."""
    from ..models import build_model

    model = build_model(model_type, options or {}, pick_device(device))
    model.eval()
    return ModelPredictor(model, f"fresh-{model_type}", batch_size)
