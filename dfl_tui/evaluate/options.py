"""Options of ``dfl-tui evaluate`` (light module: no numpy)."""

from __future__ import annotations

from dataclasses import dataclass

from ..device import device_option
from ..faces.options import DETECTOR_CHOICES
from ..identity.options import check_model, identity_model_option
from ..options import opt

#: the figures of the scorecard, in the order they are printed (``--json`` prints these, plus ``counts``)
KEYS = ("id_sim_src", "id_sim_dst", "pose_error_deg", "landmark_error", "outside_ssim", "flicker", "marked_share")


@dataclass
class EvaluateOptions:
    model: str = opt("", "the model whose merge is scored (checked against the model the merged frames name); "
                     "empty: whichever model made them", flag="--model")
    frames: int = opt(100, "score this many merged frames spread over the clip, each with the frame before it "
                      "(0: every frame; the watermark is checked on every frame either way)", min=0)
    detector: str = opt("auto", "landmark pipeline for the pose and landmark figures: auto uses the one the dst "
                        "faces were extracted with", choices=tuple(d for d in DETECTOR_CHOICES if d != "manual"))
    src_faces: int = opt(200, "src faces whose identity makes the src reference (spread over the set; 0: all)",
                         min=0, advanced=True)
    identity_model: str = identity_model_option()
    device: str = device_option("where the s3fd landmark pipeline runs", advanced=True)

    def check(self) -> None:
        self.identity_model = check_model(self.identity_model)
