"""Quick96 (reference §6.9): a small fixed SAEHD for a first try on any machine.

res 96, full face, df-ud, ae 128, e 64, d 64, mask 16, batch 4; RMSprop lr 2e-4 with lr dropout
(no cosine cycle); masked training with a plain (unclipped) blurred mask; 10 DSSIM(k=8) + 10 MSE +
10 mask MSE; random warp, no flips. Every 3rd iteration it trains again on the previous batch with
the unwarped targets as inputs (``needs_batch`` tells the trainer not to draw one then).
"""

from __future__ import annotations

from typing import Any

from .base import Tensor
from .optim import RMSprop
from .options import SAEHDOptions
from .saehd import SAEHDModel

FIXED = dict(resolution=96, face_type="f", archi="df-ud", ae_dims=128, e_dims=64, d_dims=64, d_mask_dims=16,
             batch_size=4, masked_training=True, eyes_mouth_prio=False, random_warp=True, adabelief=False,
             lr_dropout="y", random_src_flip=False, random_dst_flip=False)


class Quick96Model(SAEHDModel):
    name = "Quick96"
    lr = 2e-4
    mask_clip = False

    def __init__(self, opts: Any, device: Any = "cpu", sizes: dict[str, int] | None = None) -> None:
        """``sizes`` overrides resolution/dims (tests build tiny Quick96s; users never do)."""
        super(SAEHDModel, self).__init__(opts, device)  # FaceSwapModel's; _build gets the fixed settings below
        runtime = {k: getattr(opts, k) for k in ("precision", "channels_last", "compile")}
        hp = SAEHDOptions(**{**FIXED, **(sizes or {}), **runtime})
        hp.check()
        self._last: dict[str, Tensor] | None = None
        self._build(hp)

    def _make_optimizers(self) -> None:
        self.src_dst_opt = RMSprop(self.named_params(**self.generator()), lr=self.lr, lr_dropout=0.3)
        self.GAN_opt = self.D_code_opt = None

    def sampler_config(self) -> dict[str, Any]:
        return {**super().sampler_config(), "scale_range": 0.05, "eyes_mouth_mask": False}

    @property
    def needs_batch(self) -> bool:
        return not (self.iteration % 3 == 0 and self._last is not None)

    def _batch_for_step(self, batch: dict[str, Any] | None) -> dict[str, Tensor]:
        if not self.needs_batch:  # relearn the last batch from its unwarped targets
            last = self._last
            return {**last, "warped_src": last["target_src"], "warped_dst": last["target_dst"]}
        self._last = super()._batch_for_step(batch)
        return self._last
