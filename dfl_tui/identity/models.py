"""Face embedding models: a small interface and a registry.

A model turns a face image plus its 68 landmarks (iBUG layout, in that image's pixels) into a
fixed-length vector; two faces of one person are close, of two people far apart. The model
chooses its own input crop (:meth:`EmbeddingModel.chip`) from the landmarks, so any aligned face
(whatever its face type or size) or any frame with landmarks will do.

Models, by ``--identity-model`` value:

* ``dlib`` (default): dlib's ResNet face-recognition network ``dlib_face_recognition_resnet_model_v1.dat``
  from the ``face-recognition-models`` package, run by ``dlib`` (the ``dlib-bin`` wheel). 128-d; two faces
  under 0.6 euclidean are one person (dlib's figure: 99.38 % on LFW). Its input is dlib's own chip:
  ``dlib.get_face_chip(image, landmarks, size=150, padding=0.25)``, made here from the landmarks
  stored in the aligned face's metadata, on the aligned face image (so no source frame is needed;
  on the demo's faces the chip made from the aligned face and the one made from the source frame
  give embeddings 0.03-0.08 apart, far under the 0.6 threshold).
* ``PATH.dat``: another dlib ``face_recognition_model_v1`` file, used the same way.
* ``PATH.onnx``: an ONNX embedding model run by onnxruntime (already a dependency). Input NCHW
  float, RGB, ``(pixel - 127.5) / 127.5``, the face aligned by five points (eye centres, nose tip,
  mouth corners) to the ArcFace template scaled to the model's input size; the output is
  flattened and scaled to unit length; default threshold 1.1 euclidean (cosine similarity 0.4).
  ``PATH.onnx.json`` beside it may change ``mean``, ``std``, ``bgr``, ``threshold``.
* anything registered with :func:`register_model`.
"""

from __future__ import annotations

import importlib.util
import json
import os
from pathlib import Path
from typing import Callable, Sequence

import numpy as np

from ..errors import InputError
from . import DLIB_THRESHOLD

DLIB_FILE = "dlib_face_recognition_resnet_model_v1.dat"
DLIB_CHIP_SIZE = 150
DLIB_CHIP_PADDING = 0.25
# ArcFace's five-point template for 112x112 crops (insightface): eyes, nose tip, mouth corners.
ARCFACE_5 = np.array([[38.2946, 51.6963], [73.5318, 51.5014], [56.0252, 71.7366], [41.5493, 92.3655],
                      [70.7299, 92.2041]], np.float32)


class EmbeddingModel:
    """What every embedding model provides."""

    id: str = "?"  # names its cache file: changes when the model (its weights) change
    dim: int = 0
    metric: str = "euclidean"
    threshold: float = DLIB_THRESHOLD  # same person under this distance

    def describe(self) -> str:
        return self.id

    def chip(self, image: np.ndarray, lm68: np.ndarray) -> np.ndarray:
        """The model's input crop from a BGR uint8 image and its 68 landmarks (image pixels)."""
        raise NotImplementedError

    def embed_chips(self, chips: Sequence[np.ndarray]) -> np.ndarray:
        """(N, dim) float32 for a batch of :meth:`chip` outputs."""
        raise NotImplementedError


def models_dir() -> Path | None:
    """The ``models`` folder of the installed face-recognition-models package, found without importing it
    (its ``__init__`` needs ``pkg_resources``, gone from current setuptools)."""
    try:
        spec = importlib.util.find_spec("face_recognition_models")
    except (ImportError, ValueError):
        return None
    if spec is None or not spec.submodule_search_locations:
        return None
    d = Path(list(spec.submodule_search_locations)[0]) / "models"
    return d if d.is_dir() else None


def _import_dlib():
    try:
        import dlib  # noqa: PLC0415 - heavy, only in job processes
    except ImportError:
        raise InputError("the identity model needs dlib: install the prebuilt wheel with "
                         "'pip install dlib-bin==20.0.1.post1' (make install does)") from None
    return dlib


def _file_id(path: Path) -> str:
    from ..faces.detect.tflite import sha256

    return sha256(path)[:12]


class DlibResNet(EmbeddingModel):
    """dlib's ResNet (128-d) on dlib's 150 px chip with 0.25 padding."""

    dim = 128

    def __init__(self, path: str | os.PathLike | None = None) -> None:
        dlib = _import_dlib()
        if path is None:
            d = models_dir()
            if d is None or not (d / DLIB_FILE).is_file():
                raise InputError("the identity model is not installed: 'pip install face-recognition-models==0.3.0' "
                                 "(make install does), or pass --identity-model PATH")
            self.path = d / DLIB_FILE
            self.id = "dlib-resnet-v1"
        else:
            self.path = Path(path)
            self.id = f"dlib-{self.path.stem}-{_file_id(self.path)}"
        try:
            self.net = dlib.face_recognition_model_v1(str(self.path))
        except RuntimeError as exc:
            raise InputError(f"{self.path}: not a dlib face recognition model ({exc})") from None
        self._dlib = dlib

    def describe(self) -> str:
        return f"dlib ResNet ({self.path.name}, 128-d, same person under {self.threshold} euclidean)"

    def chip(self, image: np.ndarray, lm68: np.ndarray) -> np.ndarray:
        dlib = self._dlib
        rgb = np.ascontiguousarray(image[:, :, ::-1]) if image.ndim == 3 else np.ascontiguousarray(
            np.repeat(image[:, :, None], 3, axis=2))
        pts = np.asarray(lm68, np.float64).reshape(68, 2)
        x0, y0 = pts.min(0)
        x1, y1 = pts.max(0)
        shape = dlib.full_object_detection(dlib.rectangle(int(x0), int(y0), int(x1), int(y1)),
                                           [dlib.point(int(round(x)), int(round(y))) for x, y in pts])
        return dlib.get_face_chip(rgb, shape, size=DLIB_CHIP_SIZE, padding=DLIB_CHIP_PADDING)

    def embed_chips(self, chips: Sequence[np.ndarray]) -> np.ndarray:
        if not chips:
            return np.zeros((0, self.dim), np.float32)
        out = self.net.compute_face_descriptor([np.ascontiguousarray(c) for c in chips])
        return np.asarray([np.asarray(v) for v in out], np.float32).reshape(len(chips), self.dim)


def five_points(lm68: np.ndarray) -> np.ndarray:
    """Eye centres, nose tip and mouth corners from the 68 iBUG points."""
    p = np.asarray(lm68, np.float32).reshape(68, 2)
    return np.stack([p[36:42].mean(0), p[42:48].mean(0), p[30], p[48], p[54]])


class OnnxEmbedder(EmbeddingModel):
    """An ONNX embedding model (ArcFace-style input; see the module's notes)."""

    metric = "euclidean"

    def __init__(self, path: str | os.PathLike) -> None:
        try:
            import onnxruntime as ort  # noqa: PLC0415
        except ImportError:
            raise InputError("ONNX identity models need onnxruntime: pip install onnxruntime") from None
        self.path = Path(path)
        self.id = f"onnx-{self.path.stem}-{_file_id(self.path)}"
        try:
            self.sess = ort.InferenceSession(str(self.path), providers=["CPUExecutionProvider"])
        except Exception as exc:  # noqa: BLE001 - onnxruntime raises its own types
            raise InputError(f"{self.path}: onnxruntime cannot load it ({exc})") from None
        inp = self.sess.get_inputs()[0]
        self.input_name = inp.name
        shape = list(inp.shape)
        if len(shape) != 4 or shape[1] != 3:
            raise InputError(f"{self.path}: the model's input is {shape}; an NCHW image input (N, 3, H, W) is needed")
        self.size = (int(shape[3]) if isinstance(shape[3], int) else 112, int(shape[2]) if isinstance(shape[2], int) else 112)
        cfg: dict = {}
        side = self.path.with_name(self.path.name + ".json")
        if side.is_file():
            try:
                cfg = json.loads(side.read_text())
            except ValueError as exc:
                raise InputError(f"{side}: not valid JSON ({exc})") from None
        self.mean = float(cfg.get("mean", 127.5))
        self.std = float(cfg.get("std", 127.5))
        self.bgr = bool(cfg.get("bgr", False))
        self.threshold = float(cfg.get("threshold", 1.1))
        out = self.sess.get_outputs()[0].shape
        self.dim = int(np.prod([d for d in out[1:] if isinstance(d, int)])) if len(out) > 1 else 0

    def describe(self) -> str:
        return f"ONNX model {self.path.name} ({self.size[0]}x{self.size[1]} input, same person under {self.threshold})"

    def chip(self, image: np.ndarray, lm68: np.ndarray) -> np.ndarray:
        import cv2

        from ..faces.landmarks import umeyama

        w, h = self.size
        dst = ARCFACE_5 * np.array([w / 112.0, h / 112.0], np.float32)
        mat = umeyama(five_points(lm68), dst, True)[:2]
        img = image if image.ndim == 3 else cv2.cvtColor(image, cv2.COLOR_GRAY2BGR)
        return cv2.warpAffine(img, mat, (w, h), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT)

    def embed_chips(self, chips: Sequence[np.ndarray]) -> np.ndarray:
        if not chips:
            return np.zeros((0, self.dim), np.float32)
        x = np.stack(chips).astype(np.float32)
        if not self.bgr:
            x = x[..., ::-1]
        x = ((x - self.mean) / self.std).transpose(0, 3, 1, 2).copy()
        y = np.asarray(self.sess.run(None, {self.input_name: x})[0], np.float32).reshape(len(chips), -1)
        self.dim = y.shape[1]
        return y / np.maximum(np.linalg.norm(y, axis=1, keepdims=True), 1e-12)


_REGISTRY: dict[str, Callable[[], EmbeddingModel]] = {"dlib": lambda: DlibResNet()}
_LOADED: dict[str, EmbeddingModel] = {}


def register_model(name: str, factory: Callable[[], EmbeddingModel]) -> None:
    """Make ``--identity-model NAME`` load ``factory()``."""
    _REGISTRY[name] = factory
    _LOADED.pop(name, None)


def model_names() -> list[str]:
    return sorted(_REGISTRY)


def load_model(spec: str | EmbeddingModel | None = None) -> EmbeddingModel:
    """The model ``spec`` names: a registered name (default ``dlib``), a ``.dat`` or ``.onnx`` path, or a model."""
    if isinstance(spec, EmbeddingModel):
        return spec
    spec = spec or "dlib"
    if spec in _LOADED:
        return _LOADED[spec]
    if spec in _REGISTRY:
        model = _REGISTRY[spec]()
    else:
        p = Path(os.path.expanduser(spec))
        if not p.is_file():
            raise InputError(f"identity model {spec!r}: neither a known model ({', '.join(model_names())}) nor a file")
        if p.suffix.lower() == ".onnx":
            model = OnnxEmbedder(p)
        elif p.suffix.lower() == ".dat":
            model = DlibResNet(p)
        else:
            raise InputError(f"{p}: identity models are dlib .dat files or .onnx files")
    _LOADED[spec] = model
    return model
