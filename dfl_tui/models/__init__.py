"""SAEHD, AMP and Quick96 in PyTorch (reference §6).

Light to import: the heavy modules (base, saehd, amp, quick96, ...) load torch; this package
only re-exports the registry. Start with :func:`build_model` and read ``base.py`` for the API.
"""

from .registry import build_model, canonical_name, model_class, model_names, options_class, sampler_config

__all__ = ["build_model", "canonical_name", "model_class", "model_names", "options_class", "sampler_config"]
