"""Model name -> options class (light) and model class (imports torch only when asked).

``build_model("SAEHD", opts_or_dict, "cuda")`` is the one entry point the trainer, the merger and
the benchmark use.
"""

from __future__ import annotations

import importlib
from typing import Any

from .. import options as optmod
from .options import OPTIONS_CLASSES

MODEL_CLASSES = {
    "SAEHD": "dfl_tui.models.saehd:SAEHDModel",
    "AMP": "dfl_tui.models.amp:AMPModel",
    "Quick96": "dfl_tui.models.quick96:Quick96Model",
}


def model_names() -> list[str]:
    return list(MODEL_CLASSES)


def canonical_name(name: str) -> str:
    """'saehd' -> 'SAEHD'; raises KeyError naming the known models."""
    for known in MODEL_CLASSES:
        if known.lower() == name.strip().lower():
            return known
    raise KeyError(f"unknown model {name!r}; known: {', '.join(MODEL_CLASSES)}")


def options_class(name: str) -> type:
    return OPTIONS_CLASSES[canonical_name(name)]


def model_class(name: str) -> type:
    mod, _, cls = MODEL_CLASSES[canonical_name(name)].partition(":")
    return getattr(importlib.import_module(mod), cls)


def make_options(name: str, data: dict[str, Any] | Any | None = None) -> Any:
    """Options for ``name`` from a dict (validated against the ranges) or an options object
    (used as given after normalisation: lets tests build tiny models below the UI minimums)."""
    cls = options_class(name)
    if data is None or isinstance(data, dict):
        return optmod.from_dict(cls, data or {})
    if not isinstance(data, cls):
        raise TypeError(f"{name} needs {cls.__name__}, got {type(data).__name__}")
    check = getattr(data, "check", None)
    if callable(check):
        check()
    return data


def build_model(name: str, opts: dict[str, Any] | Any | None = None, device: Any = "cpu") -> Any:
    """Build a :class:`~dfl_tui.models.base.FaceSwapModel` on ``device`` with fresh weights."""
    return model_class(name)(make_options(name, opts), device)


def sampler_config(name: str, opts: dict[str, Any] | Any | None = None) -> dict[str, Any]:
    """What the model ``name`` with ``opts`` needs from the sample pipeline (its ``sampler_config``),
    without building weights: the model is made on torch's meta device."""
    import torch

    with torch.device("meta"):
        return build_model(name, opts, "meta").sampler_config()
