"""Options of the ``merge`` step and the per-frame merger settings (light module).

Two layers, as in DeepFaceLab:

* :class:`MergeOptions` is what ``dfl-tui merge`` takes: the model, the job knobs
  (device, batch, workers, resume) and the *settings* every frame starts from.
* :class:`FrameSettings` is the per-frame part DeepFaceLab's interactive merger lets
  you change by key (§7.3). The interactive merger saves one per keyframe in the
  session (``session.py``); the batch merge reads them back.

Names and ranges follow deepfacelab.md §7.3; defaults follow the interactive
merger's start values except where noted. No numpy here: ``dfl-tui --help`` and the
TUI import this module.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, fields
from typing import Any

from ..device import device_option
from ..options import from_dict, opt, to_dict

#: DeepFaceLab's merge modes, in the order of the interactive keys `` ` ``, 1..6.
MODES = ("original", "overlay", "hist-match", "seamless", "seamless-hist-match", "raw-rgb", "raw-predict")

#: Mask modes, DeepFaceLab's numbering 0..9 (mode 0 "full" kept for completeness).
MASK_MODES = (
    "full",
    "dst",
    "learned-prd",
    "learned-dst",
    "learned-prd*learned-dst",
    "learned-prd+learned-dst",
    "XSeg-prd",
    "XSeg-dst",
    "XSeg-prd*XSeg-dst",
    "learned-prd*learned-dst*XSeg-prd*XSeg-dst",
)
XSEG_MASK_MODES = tuple(m for m in MASK_MODES if "XSeg" in m)

#: Colour transfer modes (§7.4); "none" switches it off.
COLOR_TRANSFER_MODES = ("none", "rct", "lct", "mkl", "mkl-m", "idt", "idt-m", "sot-m", "mix-m")

SHARPEN_MODES = ("none", "box", "gaussian")

#: ``smooth`` of a merge that does not say (the batch merge and the interactive merger's preview)
SMOOTH_DEFAULT = 50

#: Settings that only change how the frame is composited (not what the model predicts).
#: The interactive preview can recomposite these without asking the model again.
COMPOSITE_ONLY = frozenset(
    {"mode", "mask_mode", "masked_hist_match", "hist_match_threshold", "erode_mask", "blur_mask", "motion_blur",
     "face_scale", "color_transfer", "sharpen_mode", "sharpen_amount", "image_denoise", "bicubic_degrade",
     "color_degrade"}
)


@dataclass
class FrameSettings:
    """What DeepFaceLab's merger lets you change per frame (MergerConfigMasked)."""

    mode: str = opt("overlay", "how the face is put onto the frame", choices=MODES)
    mask_mode: str = opt("dst", "which mask blends the face in (XSeg modes need faces carrying XSeg masks)",
                         choices=MASK_MODES)
    erode_mask: int = opt(0, "shrink (>0) or grow (<0) the mask, in pixels of the 4x model-resolution mask",
                          min=-400, max=400)
    blur_mask: int = opt(0, "soften the mask edge, in pixels of the 4x model-resolution mask", min=0, max=400)
    motion_blur: int = opt(0, "blur the face along its motion between frames (single-face videos only)", min=0, max=100)
    face_scale: int = opt(0, "DeepFaceLab's output face scale, in percent: >0 makes the pasted face smaller, <0 bigger",
                          min=-50, max=50)
    color_transfer: str = opt("rct", "match the face's colours to the dst face", choices=COLOR_TRANSFER_MODES)
    masked_hist_match: bool = opt(True, "hist-match modes: match only inside the mask")
    hist_match_threshold: int = opt(238, "hist-match modes: clip the source histogram at this level", min=0, max=255)
    sharpen_mode: str = opt("none", "sharpen filter applied to the face", choices=SHARPEN_MODES)
    sharpen_amount: int = opt(0, "sharpen (>0) or blur (<0) the face", min=-100, max=100)
    super_resolution: int = opt(0, "upscale the predicted face x4 (classical: Lanczos + detail boost) and blend, percent",
                                min=0, max=100)
    image_denoise: int = opt(0, "denoise the frame around the face (median passes) to match a soft face", min=0, max=500)
    bicubic_degrade: int = opt(0, "soften the frame around the face (bicubic down/up) to match a soft face",
                               min=0, max=100)
    color_degrade: int = opt(0, "reduce the output to a 256-colour palette, percent", min=0, max=100)
    morph_factor: float = opt(1.0, "AMP models: how much of the src identity to use (0 = dst, 1 = src)", min=0.0, max=1.0)


SETTING_NAMES: tuple[str, ...] = tuple(f.name for f in fields(FrameSettings))


@dataclass
class MergeOptions(FrameSettings):
    """``dfl-tui merge``: the model, the job knobs, and the settings every frame starts from."""

    model: str = opt("", "model name (folder under model/); empty: the only model there", flag="--model")
    session: bool = opt(True, "use the per-frame settings saved by the interactive merger, if there is a session")
    label: bool = opt(False, "add a visible 'AI-generated' label in a corner of every frame")
    smooth: int = opt(SMOOTH_DEFAULT, "steadier faces: smooth where each face sits across the frames of its track "
                      "(one-euro filter, no lag; resets at a scene cut or a jump). 0: off, 100: strongest",
                      min=0, max=100)
    restart: bool = opt(False, "merge every frame again, even those already merged with the same settings")
    device: str = device_option("where the model runs")
    batch_size: int = opt(8, "faces per model call", min=1, max=256, advanced=True)
    workers: int = opt(0, "threads decoding and writing frames (0: automatic)", min=0, max=64, advanced=True)
    limit: int = opt(0, "merge only the first N frames (0: all)", min=0, advanced=True)

    def frame_settings(self) -> FrameSettings:
        return settings_from_dict(to_dict(self))


def settings_from_dict(data: dict[str, Any] | None) -> FrameSettings:
    """FrameSettings from a dict (session JSON, a MergeOptions dict); unknown keys ignored."""
    data = {k: v for k, v in (data or {}).items() if k in SETTING_NAMES}
    return from_dict(FrameSettings, data)


def settings_dict(s: FrameSettings) -> dict[str, Any]:
    return {k: getattr(s, k) for k in SETTING_NAMES}


def settings_key(s: FrameSettings, **extra: Any) -> str:
    """A short stable hash of the settings (and e.g. model iteration): decides if a frame must be redone."""
    payload = json.dumps({"s": settings_dict(s), **extra}, sort_keys=True, default=str)
    return hashlib.sha1(payload.encode()).hexdigest()[:16]


def settings_text(s: FrameSettings) -> str:
    """One line per setting, DeepFaceLab-style, for logs and the help panel."""
    d = settings_dict(s)
    return "\n".join(f"{k}: {v}" for k, v in d.items())
