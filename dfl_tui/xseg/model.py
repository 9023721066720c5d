"""The XSeg model on disk: ``<workspace>/model/XSeg/`` with the trainer's checkpoint layout.

```
model/XSeg/
  options.json      {"format": "dfl-tui-model/1", "model": "XSeg",
                     "options": {face_type, resolution, base_ch, upconv, pool_pad}, ...}
  state.json        iteration, last save (a copy for the UI)
  checkpoint/       XSeg.safetensors (network), XSeg_opt.safetensors (RMSprop), rng, manifest.json
  checkpoint.prev/  the previous good one
  metrics.jsonl     iteration, loss, ms per iteration, samples/s
  previews/         "XSeg training faces", "XSeg src faces", "XSeg dst faces"
```

The checkpoint machinery (atomic, survives a kill mid-save) is the main trainer's
(:mod:`dfl_tui.train.checkpoint`); this module only knows the XSeg parts.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from ..errors import DflError
from ..faces.facetype import FaceType
from ..train.checkpoint import RNG_PART, load_checkpoint
from ..train.modeldir import ModelDir
from .net import LEGACY_POOL_PAD, LEGACY_UPCONV, XSegNet
from .options import MODEL_NAME

NET_PART = "XSeg"
OPT_PART = "XSeg_opt"
FORMAT = "dfl-tui-model/1"
#: how new and imported networks are built: DeepFaceLab's up-convolution placement and BlurPool padding
DFL_LAYOUT = {"upconv": "tf", "pool_pad": "zeros"}


def net_layout(saved: dict[str, Any]) -> dict[str, str]:
    """``upconv`` and ``pool_pad`` of a saved XSeg model (its options.json): as recorded; where not,
    what the dfl-tui version that made it used (DeepFaceLab's for a model imported from it)."""
    o = saved.get("options") or {}
    imported = (saved.get("imported_from") or {}).get("tool") == "DeepFaceLab"
    return {"upconv": str(o.get("upconv", "tf" if imported else LEGACY_UPCONV)),
            "pool_pad": str(o.get("pool_pad", "zeros" if imported else LEGACY_POOL_PAD))}


def model_dir_for(workspace: Any, override: str | None = None) -> ModelDir:
    """The XSeg model folder: ``override`` when given, else ``<workspace>/model/XSeg``."""
    if override:
        p = Path(override).expanduser()
        if not p.is_absolute() and workspace is not None:
            p = Path(workspace.root) / p
        return ModelDir(p)
    return ModelDir.of(workspace, MODEL_NAME)


@dataclass
class XSegModel:
    """A trained XSeg network ready for inference, with what it was trained for."""

    net: XSegNet
    face_type: FaceType
    resolution: int
    iteration: int
    device: torch.device

    @torch.no_grad()
    def predict(self, faces_bgr: list[np.ndarray]) -> np.ndarray:
        """Masks (N x res x res float32 in [0, 1]) of faces already cut to the model's type and size
        (uint8 0..255 or float 0..1, BGR)."""
        if not faces_bgr:
            return np.zeros((0, self.resolution, self.resolution), np.float32)
        # NHWC -> NCHW viewed channels-last: no copy of the layout on the way.
        batch = np.stack(faces_bgr)
        x = torch.from_numpy(batch).to(self.device).permute(0, 3, 1, 2).float()
        if batch.dtype == np.uint8:
            x = x.div_(255.0)
        return self.net.predict(x)[:, 0].float().cpu().numpy()


FIXED = ("face_type", "resolution", "base_ch")


def saved_fixed(mdir: ModelDir, saved: dict[str, Any], asked: dict[str, Any] | None = None) -> dict[str, Any]:
    """The options fixed when the XSeg model was created, checked (a wrong type names options.json)."""
    from .. import options as optmod
    from .options import XSegTrainOptions

    specs = {s.name: s for s in optmod.describe(XSegTrainOptions)}
    kept = dict(saved.get("options") or {})
    try:
        if "face_type" in kept:  # stored long (whole_face) or short (whole)
            try:
                kept["face_type"] = FaceType.from_string(kept["face_type"]).short
            except (TypeError, ValueError) as exc:
                raise optmod.OptionError(f"face type: {exc}") from None
        return {k: optmod.coerce(specs[k], kept[k]) if k in kept else (asked or {}).get(k, specs[k].default)
                for k in FIXED}
    except optmod.OptionError as exc:
        raise DflError(f"{mdir.options_path}: saved {exc}; nothing was changed. Fix that value in the file, or "
                       f"start a new model with --restart") from None


def load_xseg(mdir: ModelDir, device: torch.device | str = "cpu", warn: Any = None) -> XSegModel:
    """Load the newest complete checkpoint; a clear error when there is none (never a silent 0.5 mask)."""
    saved = mdir.read_options()
    if not saved or saved.get("model") != MODEL_NAME:
        raise DflError(f"no trained XSeg model in {mdir.root}: label faces in the XSeg editor and run "
                       "Train XSeg (T in the XSeg editor, or dfl-tui xseg train), or use the generic mask for no training "
                       "(g in the XSeg editor, or dfl-tui xseg apply-generic)")
    o = saved_fixed(mdir, saved)
    res, base = int(o["resolution"]), int(o["base_ch"])
    ft = FaceType.from_string(o["face_type"])
    got = load_checkpoint(mdir, warn, optional=[OPT_PART], reset_optional=True)  # applying needs no optimizer
    if got is None:
        raise DflError(f"the XSeg model in {mdir.root} has no saved checkpoint yet: let the XSeg training "
                       "(T in the XSeg editor, or dfl-tui xseg train) run until its first save")
    parts, manifest, _folder = got
    parts.pop(RNG_PART, None)
    dev = torch.device(device)
    net = XSegNet(res, base, **net_layout(saved))
    net.load_state_dict(parts[NET_PART])
    net.to(dev, memory_format=torch.channels_last).eval()
    return XSegModel(net, ft, res, int(manifest.get("iteration", 0)), dev)
