"""AMP, the "amplifier"/morphable model (reference §6.8).

One encoder (the ``t``-style 5-downscale stack, pixel-norm, Dense -> ae_dims), two inters
(``inter_src``, ``inter_dst``: Dense -> inter_dims x res/32 x res/32) and one decoder (``-dt``
layout). While training, each src code takes a random int(inter_dims * morph_factor) of its
channels from inter_src and the rest from inter_dst; dst codes come from inter_dst. At merge time
the morph value v takes the first int(inter_dims * v) channels of the swap from inter_src(dst).

As in DeepFaceLab only the encoder and decoder are optimised: the inters keep their random
initialisation (option ``train_inters`` trains them too). Masked training and eyes/mouth priority
are always on; AdaBelief always.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from . import losses as L
from .archi import Archi, Decoder, Encoder
from .base import FaceSwapModel, Tensor
from .discriminators import UNetPatchDiscriminator
from .layers import dense
from .optim import make_optimizer
from .saehd import run_decoder

MORPH_PREVIEW = (0.25, 0.5, 0.65, 0.75, 1.0)


class AMPEncoder(nn.Module):
    def __init__(self, e_ch: int, ae_ch: int, res: int) -> None:
        super().__init__()
        self.convs = Encoder(3, e_ch, Archi("df", u=True, t=True))
        self.dense = dense(self.convs.out_features(res), ae_ch)

    def forward(self, x: Tensor) -> Tensor:
        return self.dense(self.convs(x))


class AMPInter(nn.Module):
    def __init__(self, ae_ch: int, inter_ch: int, lowest_res: int) -> None:
        super().__init__()
        self.dense = dense(ae_ch, inter_ch * lowest_res * lowest_res)
        self.shape = (inter_ch, lowest_res, lowest_res)
        self.memory_format = torch.contiguous_format

    def forward(self, z: Tensor) -> Tensor:
        return self.dense(z).view(-1, *self.shape).contiguous(memory_format=self.memory_format)


class AMPModel(FaceSwapModel):
    name = "AMP"
    lr = 5e-5

    def __init__(self, opts: Any, device: Any = "cpu") -> None:
        super().__init__(opts, device)
        o = self.hp = opts
        self.resolution, self.face_type = o.resolution, o.face_type
        self.inter_dims, self.morph_factor = o.inter_dims, o.morph_factor
        lowest = max(1, o.resolution // 32)
        self.encoder = AMPEncoder(o.e_dims, o.ae_dims, o.resolution)
        self.inter_src = AMPInter(o.ae_dims, o.inter_dims, lowest)
        self.inter_dst = AMPInter(o.ae_dims, o.inter_dims, lowest)
        self.decoder = Decoder(o.inter_dims, o.d_dims, o.d_mask_dims, Archi("df", d=True, t=True))
        self.GAN = UNetPatchDiscriminator(o.gan_patch_size or max(3, o.resolution // 8), 3, o.gan_dims) \
            if o.gan_power > 0 else None
        self._finish_init()

    def _make_optimizers(self) -> None:
        o = self.hp
        g = dict(encoder=self.encoder, decoder=self.decoder)
        if o.train_inters:
            g.update(inter_src=self.inter_src, inter_dst=self.inter_dst)
        else:
            self.inter_src.requires_grad_(False)
            self.inter_dst.requires_grad_(False)
        self.src_dst_opt = make_optimizer("adabelief", self.named_params(**g), self.lr, o.lr_dropout, o.clipgrad)
        self.GAN_opt = make_optimizer("adabelief", self.named_params(D=self.GAN), self.lr, o.lr_dropout,
                                      o.clipgrad) if self.GAN is not None else None

    def parts(self) -> dict[str, Any]:
        parts: dict[str, Any] = {"encoder": self.encoder, "inter_src": self.inter_src, "inter_dst": self.inter_dst,
                                 "decoder": self.decoder, "src_dst_opt": self.src_dst_opt}
        if self.GAN is not None:
            parts.update(GAN=self.GAN, GAN_opt=self.GAN_opt)
        return parts

    def discriminators(self) -> list[nn.Module]:
        return [self.GAN] if self.GAN is not None else []

    def sampler_config(self) -> dict[str, Any]:
        o = self.hp
        return {
            "resolution": self.resolution, "face_type": self.face_type, "batch_size": o.batch_size,
            "random_warp": o.random_warp, "random_src_flip": o.random_src_flip, "random_dst_flip": o.random_dst_flip,
            "uniform_yaw": o.uniform_yaw, "ct_mode": None if o.ct_mode == "none" else o.ct_mode,
            "random_hsv_power": 0.0, "scale_range": 0.15, "rotation_range": 10.0, "translation_range": 0.05,
            "flip_probability": 0.4, "eyes_mouth_mask": True, "pretrain": False,
        }

    # -- forward --------------------------------------------------------------------------------
    def morph_codes(self, z: Tensor, value: float) -> Tensor:
        """Swap code at morph ``value``: the first int(inter_dims * value) channels from inter_src."""
        k = int(self.inter_dims * value)
        return torch.cat([self.inter_src(z)[:, :k], self.inter_dst(z)[:, k:]], 1)

    def _generator_losses(self, b: dict[str, Tensor]) -> tuple[dict[str, Tensor], dict[str, Tensor]]:
        res, n = self.resolution, b["warped_src"].shape[0]
        with self.autocast():
            z = self.encoder(torch.cat([b["warped_src"], b["warped_dst"]]))
            zs, zd = z[:n], z[n:]
            # each src sample: exactly int(inter_dims * morph_factor) random channels from inter_src
            pick = torch.rand(n, self.inter_dims, device=z.device).argsort(1) < int(self.inter_dims * self.morph_factor)
            src_code = torch.where(pick[:, :, None, None], self.inter_src(zs), self.inter_dst(zs))
            (pss, pssm), (pdd, pddm) = run_decoder(self.decoder, [src_code, self.inter_dst(zd)])

        ts, tsm, td, tdm = b["target_src"], b["target_srcm"], b["target_dst"], b["target_dstm"]
        tsm_b, tdm_b = L.blurred_mask(tsm, res), L.blurred_mask(tdm, res)
        if self.hp.blur_out_mask:
            ts, td = L.blur_out_mask(ts, tsm, res), L.blur_out_mask(td, tdm, res)
        src = self._side_loss(ts, tsm, tsm_b, b["target_srcm_em"], pss, pssm)
        dst = self._side_loss(td, tdm, tdm_b, b["target_dstm_em"], pdd, pddm)
        anti = 1 - tdm_b  # weak dst background reconstruction + TV against speckles
        g = src + dst + 0.1 * L.mse(pdd * anti, td * anti) + 1e-6 * L.total_variation_mse(pdd)
        aux: dict[str, Tensor] = {}
        if self.GAN is not None:
            fakes, reals = torch.cat([pss * tsm_b, pdd * tdm_b]), torch.cat([ts * tsm_b, td * tdm_b])
            with self.autocast():
                centre, full = self.GAN(fakes)
            per = L.d_loss(centre, True) + L.d_loss(full, True)
            g = g + self.hp.gan_power * (per[:n] + per[n:])
            aux.update(real=reals.detach(), fake=fakes.detach())
        return {"G": g, "src": src, "dst": dst}, aux

    def _side_loss(self, t: Tensor, m: Tensor, m_b: Tensor, em: Tensor, p: Tensor, pm: Tensor) -> Tensor:
        t_opt, p_opt = t * m_b, p * m_b
        loss = L.structural_loss(t_opt, p_opt, self.resolution, two_scales=True) + 10 * L.mse(t_opt, p_opt)
        return loss + L.eyes_mouth_loss(t, p, em) + 10 * L.mse(m, pm)

    def _discriminator_losses(self) -> dict[str, tuple[Any, Any]]:
        return {"gan_loss": (self.GAN_opt, self._gan_d_loss)} if self.GAN is not None else {}

    def _gan_d_loss(self, b: dict[str, Tensor], aux: dict[str, Tensor]) -> Tensor:
        n = b["warped_src"].shape[0]
        with self.autocast():
            (rc, rf), (fc, ff) = self.GAN(aux["real"]), self.GAN(aux["fake"])
        per = L.d_loss(rc, True) + L.d_loss(fc, False) + L.d_loss(rf, True) + L.d_loss(ff, False)
        return (per[:n] + per[n:]) / 8

    # -- inference ------------------------------------------------------------------------------
    @torch.no_grad()
    def _swap(self, x: Tensor, values: tuple[float, ...]) -> tuple[list[tuple[Tensor, Tensor]], Tensor, Tensor]:
        """dst faces -> ([(swap, swap mask) per morph value], dst reconstruction, dst mask)."""
        with self.autocast():
            z = self.encoder(x)
            outs = run_decoder(self.decoder, [self.morph_codes(z, v) for v in values] + [self.inter_dst(z)])
        return outs[:-1], outs[-1][0], outs[-1][1]

    @torch.no_grad()
    def predict(self, dst: Tensor, morph_value: float | None = None) -> tuple[Tensor, Tensor, Tensor]:
        """``morph_value`` in [0, 1]: 1.0 (the merger's default) = all swap channels from src."""
        v = 1.0 if morph_value is None else float(morph_value)
        [(psd, psdm)], _, pddm = self._swap(self.prepare({"x": dst})["x"], (v,))
        return psd, psdm, pddm

    @torch.no_grad()
    def preview(self, batch: dict[str, Any], morph_values: tuple[float, ...] = MORPH_PREVIEW) -> dict[str, Tensor]:
        """Also ``pred_src_dst_<v>`` / ``pred_src_dstm_<v>`` for each morph value (the "morph list");
        ``pred_src_dst`` is the swap at 1.0. src->src uses the training mix (morph_factor)."""
        b = self.prepare(batch)
        values = tuple(morph_values) + (() if 1.0 in morph_values else (1.0,))
        with self.autocast():
            (pss, pssm), = run_decoder(self.decoder, [self.morph_codes(self.encoder(b["target_src"]), self.morph_factor)])
        swaps, pdd, pddm = self._swap(b["target_dst"], values)
        out = {"target_src": b["target_src"], "target_srcm": b["target_srcm"], "pred_src_src": pss,
               "pred_src_srcm": pssm, "target_dst": b["target_dst"], "target_dstm": b["target_dstm"],
               "pred_dst_dst": pdd, "pred_dst_dstm": pddm}
        for v, (psd, psdm) in zip(values, swaps):
            out[f"pred_src_dst_{v:g}"], out[f"pred_src_dstm_{v:g}"] = psd, psdm
        out["pred_src_dst"], out["pred_src_dstm"] = out["pred_src_dst_1"], out["pred_src_dstm_1"]
        return {k: v.float().cpu().contiguous() for k, v in out.items()}
