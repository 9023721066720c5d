"""Options of the XSeg steps (light: no numpy, cv2 or torch here).

``xseg`` is one step with an action (DeepFaceLab's ``xseg apply|remove|remove_labels|
fetch`` plus dfl-tui's ``apply-generic``, ``export-masks`` and ``restore-labels``) and
a side; ``xseg-train`` trains the mask model. ``dfl-tui xseg ...``
(:mod:`dfl_tui.commands.xseg`) builds the command line from these two classes.
"""

from __future__ import annotations

from dataclasses import dataclass

from ..device import device_option
from ..options import OptionError, opt

ACTIONS = ("apply", "apply-generic", "remove", "remove-labels", "restore-labels", "fetch", "export-masks")
SIDES = ("src", "dst")
FACE_TYPES = ("half", "mid-full", "full", "whole", "head")

#: The XSeg model's folder under the workspace's ``model/`` (DeepFaceLab forces the name "XSeg").
MODEL_NAME = "XSeg"


@dataclass
class XSegOptions:
    action: str = opt(None, "what to do with the faces' masks", choices=ACTIONS, positional=True)
    side: str = opt(None, "which faceset: data_src/aligned or data_dst/aligned", choices=SIDES, positional=True)
    input_dir: str | None = opt(None, "a folder of aligned faces instead of the side's aligned/ folder", advanced=True)
    model_dir: str | None = opt(None, "folder of the trained XSeg model", unset="the workspace's model/XSeg",
                                advanced=True)
    batch_size: int = opt(8, "faces per batch when applying a model", min=1, max=256, advanced=True)
    device: str = device_option("where the model runs (apply)", advanced=True)
    forehead: float = opt(
        1.0, "apply-generic: how far the mask climbs above the brows, as a multiple of the forehead the mesh sees",
        min=0.0, max=2.0, advanced=True)
    skin_refine: bool = opt(
        True, "apply-generic: stop the extrapolated forehead where the skin colour ends (hair, caps)", advanced=True)
    source: str = opt("auto", "export-masks: what to export (auto = the trained mask, else the labels)",
                      choices=("auto", "xseg", "labels"), advanced=True)
    output_dir: str | None = opt(None, "fetch/export-masks: where to write",
                                 unset="<aligned>_xseg / <aligned>_masks", advanced=True)

    def check(self) -> None:
        if self.action is None:
            raise OptionError(f"action: choose one of {', '.join(ACTIONS)}")
        if self.side is None and not self.input_dir:
            raise OptionError("side: choose src or dst (or give --input-dir)")


@dataclass
class XSegTrainOptions:
    face_type: str = opt("whole", "the face type the mask model works on (DeepFaceLab uses wf)",
                         choices=FACE_TYPES, fixed=True)
    batch_size: int = opt(4, "faces per training step", min=1, max=64)
    pretrain: bool = opt(False, "pretraining mode: learn to reconstruct faces (no skips) before labels exist")
    pretrain_dir: str | None = opt(None, "pretraining faces", unset="both aligned folders", advanced=True)
    iterations: int = opt(0, "stop at this iteration (0 = until stopped)", min=0)
    lr: float = opt(1e-4, "RMSprop learning rate", min=1e-7, max=1e-2, advanced=True)
    lr_dropout: float = opt(0.3, "lr dropout: the chance each weight is updated at a step (DeepFaceLab: 0.3, "
                            "always on; 1.0 = off)", min=0.05, max=1.0, advanced=True)
    resolution: int = opt(256, "network input size (DeepFaceLab: 256; a multiple of 64)", min=64, max=512,
                          fixed=True, advanced=True)
    base_ch: int = opt(32, "channels of the first level (DeepFaceLab: 32)", min=4, max=64, fixed=True, advanced=True)
    save_every_min: float = opt(10.0, "save the model every N minutes", min=0.1, max=600, advanced=True)
    preview_every: int = opt(200, "write a preview image every N iterations", min=1, max=100000, advanced=True)
    max_preview_rows: int = opt(4, "rows per preview panel", min=1, max=8, advanced=True)
    restart: bool = opt(False, "start a new model (the old one goes to model/.trash)")
    reset_optimizer: bool = opt(False, "continue a model whose optimizer state is damaged with a fresh optimizer "
                                "(its network weights must be intact)", advanced=True)
    device: str = device_option("where training runs", advanced=True)
    workers: int = opt(-1, "sample-loading processes (-1 = auto, 0 = in the training process)", min=-1, max=32,
                       advanced=True)
    seed: int = opt(0, "random seed (0 = a new one each run)", advanced=True)
    model_dir: str | None = opt(None, "where the model lives", unset="the workspace's model/XSeg", advanced=True)

    def check(self) -> None:
        if int(self.resolution) % 64:
            raise OptionError(f"resolution: {self.resolution} must be a multiple of 64 (six 2x down-samplings)")
