"""A training batch: both sides' raw faces through the augmentation, as the model's batch dict."""

from __future__ import annotations

from typing import Any

import torch

from . import augment as aug


class BatchMaker:
    """Raw faces of both sides -> the model's batch dict, augmented on the training device."""

    def __init__(self, cfg: dict[str, Any], device: torch.device, generator: torch.Generator) -> None:
        res = int(cfg["resolution"])
        common = dict(resolution=res, random_warp=bool(cfg.get("random_warp", True)),
                      flip_prob=float(cfg.get("flip_probability", 0.4)),
                      rotation=float(cfg.get("rotation_range", 10.0)), scale=float(cfg.get("scale_range", 0.05)),
                      translate=float(cfg.get("translation_range", 0.05)))
        self.src_cfg = aug.AugmentConfig(**common, random_flip=bool(cfg.get("random_src_flip", False)),
                                         hsv_power=float(cfg.get("random_hsv_power", 0.0) or 0.0),
                                         ct_mode=cfg.get("ct_mode") or "none")
        self.dst_cfg = aug.AugmentConfig(**common, random_flip=bool(cfg.get("random_dst_flip", False)))
        self.device = device
        self.g = generator

    def _tensors(self, raw: Any) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        return (aug.to_float(raw.images, self.device), aug.to_float(raw.masks, self.device),
                aug.to_float(raw.em_masks, self.device))

    def make(self, raw_src: Any, raw_dst: Any) -> dict[str, torch.Tensor]:
        si, sm, se = self._tensors(raw_src)
        di, dm, de = self._tensors(raw_dst)
        ct_ref = None
        if self.src_cfg.ct_mode not in ("none", "", None):
            perm = torch.randint(0, di.shape[0], (si.shape[0],), generator=self.g).to(self.device)
            ct_ref = di[perm]
        s = aug.augment_side(si, sm, se, self.src_cfg, self.g, ct_ref=ct_ref)
        d = aug.augment_side(di, dm, de, self.dst_cfg, self.g)
        return {"warped_src": s["warped"], "target_src": s["target"], "target_srcm": s["mask"],
                "target_srcm_em": s["em_mask"], "warped_dst": d["warped"], "target_dst": d["target"],
                "target_dstm": d["mask"], "target_dstm_em": d["em_mask"]}

    def plain(self, raw_src: Any, raw_dst: Any) -> dict[str, torch.Tensor]:
        """Unaugmented targets (the fixed preview-history sample)."""
        si, sm, se = self._tensors(raw_src)
        di, dm, de = self._tensors(raw_dst)
        return {"warped_src": si, "target_src": si, "target_srcm": sm, "target_srcm_em": se,
                "warped_dst": di, "target_dst": di, "target_dstm": dm, "target_dstm_em": de}



__all__ = ["BatchMaker"]
