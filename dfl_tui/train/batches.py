"""A training batch: both sides' raw faces through the augmentation, as the model's batch dict.

:class:`BatchMaker` augments; :class:`BatchPrefetcher` does it in a background thread, one batch
ahead, so the next batch is ready when a step ends (on a GPU its kernels are queued while the
host would otherwise wait; on a CPU it also avoids augmenting right after a step, when the
caches are cold and the math library's threads asleep: 5-10x slower than the same work warm).
"""

from __future__ import annotations

import time
from typing import Any, Callable

import torch

from ..util.prefetch import Prefetcher
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



class BatchPrefetcher:
    """Draws raw batches from ``sources`` and augments them with ``maker`` in a background thread.

    ``next()`` returns ``(batch, seconds spent augmenting it)``; errors of the loaders or of the
    augmentation are raised there. On the CPU the thread augments with one intra-op thread (a
    setting of that thread only), so it takes a core only briefly from the step beside it.
    """

    def __init__(self, maker: BatchMaker, draw: Callable[[], tuple[Any, Any]], depth: int = 1) -> None:
        self.maker = maker
        self.draw = draw
        one_thread = (lambda: torch.set_num_threads(1)) if maker.device.type == "cpu" else None
        self._prefetch = Prefetcher(self._make, depth=depth, name="augment", setup=one_thread).start()

    def _make(self) -> tuple[dict[str, torch.Tensor], float]:
        raw_s, raw_d = self.draw()
        t0 = time.perf_counter()
        return self.maker.make(raw_s, raw_d), time.perf_counter() - t0

    def next(self) -> tuple[dict[str, torch.Tensor], float]:
        return self._prefetch.get()

    def close(self) -> None:
        self._prefetch.close(timeout=5.0)


__all__ = ["BatchMaker", "BatchPrefetcher"]
