"""SAEHD (reference §6.3-6.7): DF or LIAE autoencoder with DeepFaceLab's losses and options.

DF:   shared encoder + inter, decoder_src and decoder_dst; swap = decoder_src(inter(enc(dst))).
LIAE: shared encoder, inter_AB and inter_B, one decoder on [B, AB] codes;
      src = [AB(src), AB(src)], dst = [B(dst), AB(dst)], swap = [AB(dst), AB(dst)].
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from . import losses as L
from .archi import Archi, Decoder, Encoder, Inter
from .base import FaceSwapModel, Tensor
from .discriminators import CodeDiscriminator, UNetPatchDiscriminator
from .optim import make_optimizer


def run_decoder(decoder: nn.Module, codes: list[Tensor]) -> list[tuple[Tensor, Tensor]]:
    """Decode several code batches in one pass (bigger batches use the GPU better)."""
    rgb, mask = decoder(torch.cat(codes) if len(codes) > 1 else codes[0])
    sizes = [c.shape[0] for c in codes]
    return list(zip(rgb.float().split(sizes), mask.float().split(sizes)))


class SAEHDModel(FaceSwapModel):
    name = "SAEHD"
    lr = 5e-5
    mask_clip = True  # M_b = clip(blur(M), 0, .5) * 2 (Quick96: plain blur)

    def __init__(self, opts: Any, device: Any = "cpu") -> None:
        super().__init__(opts, device)
        self._build(opts)

    def _build(self, o: Any) -> None:
        self.hp = o  # the effective hyper-parameters (Quick96 passes its fixed ones)
        self.archi = Archi.parse(o.archi)
        self.resolution, self.face_type = o.resolution, o.face_type
        self.pretrain = o.pretrain
        # pretraining forces: no warp, no GAN / style, no lr dropout (flips and uniform yaw: sampler_config)
        self.random_warp = o.random_warp and not o.pretrain
        self.masked_training = o.masked_training or o.face_type in ("h", "mf", "f")
        self.gan_power = 0.0 if o.pretrain else o.gan_power
        self.face_style = 0.0 if o.pretrain else o.face_style_power / 100
        self.bg_style = 0.0 if o.pretrain else o.bg_style_power / 100
        self.true_face_power = o.true_face_power if self.archi.type == "df" else 0.0

        res, ae = o.resolution, o.ae_dims
        lowest = self.archi.lowest_dense_res(res)
        self.encoder = Encoder(3, o.e_dims, self.archi)
        enc_f = self.encoder.out_features(res)
        code_res = 0
        if self.archi.type == "df":
            self.inter = Inter(enc_f, ae, ae, lowest, self.archi)
            self.decoder_src = Decoder(ae, o.d_dims, o.d_mask_dims, self.archi)
            self.decoder_dst = Decoder(ae, o.d_dims, o.d_mask_dims, self.archi)
            code_res = self.inter.out_res
        else:
            self.inter_AB = Inter(enc_f, ae, ae * 2, lowest, self.archi)
            self.inter_B = Inter(enc_f, ae, ae * 2, lowest, self.archi)
            self.decoder = Decoder(ae * 4, o.d_dims, o.d_mask_dims, self.archi)
        self.D_src = UNetPatchDiscriminator(o.gan_patch_size or max(3, res // 8), 3, o.gan_dims) \
            if self.gan_power > 0 else None
        self.code_discriminator = CodeDiscriminator(ae, code_res) if self.true_face_power > 0 else None
        self._finish_init()

    def generator(self) -> dict[str, nn.Module]:
        if self.archi.type == "df":
            return {"encoder": self.encoder, "inter": self.inter,
                    "decoder_src": self.decoder_src, "decoder_dst": self.decoder_dst}
        return {"encoder": self.encoder, "inter_AB": self.inter_AB, "inter_B": self.inter_B, "decoder": self.decoder}

    def discriminators(self) -> list[nn.Module]:
        return [d for d in (self.D_src, self.code_discriminator) if d is not None]

    def _make_optimizers(self) -> None:
        o = self.hp
        kind = "adabelief" if o.adabelief else "rmsprop"
        lrd = "n" if o.pretrain else o.lr_dropout
        self.src_dst_opt = make_optimizer(kind, self.named_params(**self.generator()), self.lr, lrd, o.clipgrad)
        if self.archi.type == "liae":
            # without random warp LIAE trains only encoder, inter_B and decoder (DFL)
            self.inter_AB.requires_grad_(self.random_warp)
        self.GAN_opt = make_optimizer(kind, self.named_params(D=self.D_src), self.lr, lrd, o.clipgrad) \
            if self.D_src is not None else None
        self.D_code_opt = make_optimizer(kind, self.named_params(D=self.code_discriminator), self.lr, lrd,
                                         o.clipgrad) if self.code_discriminator is not None else None

    def parts(self) -> dict[str, Any]:
        parts: dict[str, Any] = {**self.generator(), "src_dst_opt": self.src_dst_opt}
        if self.D_src is not None:
            parts.update(GAN=self.D_src, GAN_opt=self.GAN_opt)
        if self.code_discriminator is not None:
            parts.update(code_discriminator=self.code_discriminator, D_code_opt=self.D_code_opt)
        return parts

    def end_pretraining(self) -> None:
        """Pretrain switched off: iteration back to 0, fresh inter weights (encoder/decoders keep theirs)."""
        inters = ["inter"] if self.archi.type == "df" else ["inter_AB", "inter_B"]
        self.reinit(*inters)
        with torch.no_grad():
            for s in self.src_dst_opt.state_names:
                for name, t in zip(self.src_dst_opt.names, self.src_dst_opt.state[s]):
                    if name.split(".")[0] in inters:
                        t.zero_()
        self.iteration = 0

    def sampler_config(self) -> dict[str, Any]:
        o = self.hp
        return {
            "resolution": self.resolution, "face_type": self.face_type, "batch_size": o.batch_size,
            "random_warp": self.random_warp, "random_src_flip": o.random_src_flip or o.pretrain,
            "random_dst_flip": o.random_dst_flip or o.pretrain, "uniform_yaw": o.uniform_yaw or o.pretrain,
            "ct_mode": None if o.ct_mode == "none" else o.ct_mode,
            "random_hsv_power": 0.0 if o.pretrain else o.random_hsv_power,
            "scale_range": 0.15, "rotation_range": 10.0, "translation_range": 0.05, "flip_probability": 0.4,
            "eyes_mouth_mask": True, "pretrain": o.pretrain,
        }

    def display_options(self) -> dict[str, Any]:
        from ..options import to_dict

        shown = to_dict(self.hp)
        cfg = self.sampler_config()
        shown.update(masked_training=self.masked_training, random_warp=self.random_warp,
                     random_src_flip=cfg["random_src_flip"], random_dst_flip=cfg["random_dst_flip"],
                     uniform_yaw=cfg["uniform_yaw"], random_hsv_power=cfg["random_hsv_power"],
                     gan_power=self.gan_power, face_style_power=self.face_style * 100,
                     bg_style_power=self.bg_style * 100, lr_dropout="n" if self.pretrain else self.hp.lr_dropout)
        return shown

    # -- forward --------------------------------------------------------------------------------
    def _codes(self, ws: Tensor, wd: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        """(src code, dst code, swap code) of warped src and dst, with one encoder pass."""
        n = ws.shape[0]
        z = self.encoder(torch.cat([ws, wd]))
        if self.archi.type == "df":
            c = self.inter(z)
            return c[:n], c[n:], c[n:]
        ab, b = self.inter_AB(z), self.inter_B(z[n:])
        src, swap = torch.cat([ab[:n], ab[:n]], 1), torch.cat([ab[n:], ab[n:]], 1)
        return src, torch.cat([b, ab[n:]], 1), swap

    def _decode(self, src_codes: list[Tensor], dst_codes: list[Tensor]) -> list[tuple[Tensor, Tensor]]:
        """Codes through the src decoder and the dst decoder (LIAE: the one decoder), outputs in order."""
        if self.archi.type == "liae":
            return run_decoder(self.decoder, src_codes + dst_codes)
        return run_decoder(self.decoder_src, src_codes) + run_decoder(self.decoder_dst, dst_codes)

    def _generator_losses(self, b: dict[str, Tensor]) -> tuple[dict[str, Tensor], dict[str, Tensor]]:
        res = self.resolution
        with self.autocast():
            src_code, dst_code, swap_code = self._codes(b["warped_src"], b["warped_dst"])
            extra = ([swap_code] if self.bg_style else []) + ([swap_code.detach()] if self.face_style else [])
            outs = self._decode([src_code] + extra, [dst_code])
        (pss, pssm), (pdd, pddm) = outs[0], outs[-1]
        swaps = outs[1:-1]

        ts, tsm, td, tdm = b["target_src"], b["target_srcm"], b["target_dst"], b["target_dstm"]
        tsm_b, tdm_b = L.blurred_mask(tsm, res, self.mask_clip), L.blurred_mask(tdm, res, self.mask_clip)
        if self.hp.blur_out_mask:
            ts, td = L.blur_out_mask(ts, tsm, res), L.blur_out_mask(td, tdm, res)
        src = self._side_loss(ts, tsm, tsm_b, b.get("target_srcm_em"), pss, pssm)
        dst = self._side_loss(td, tdm, tdm_b, b.get("target_dstm_em"), pdd, pddm)

        if self.bg_style:  # the swap's background vs dst's, outside the predicted face
            psd, psdm = swaps[0]
            anti = 1 - L.blurred_mask((psdm * pddm).detach(), res)  # DFL overwrote this with the src mask: fixed
            src = src + 10 * self.bg_style * (L.dssim(psd * anti, td * anti, L.dssim_kernels(res)[0])
                                              + L.mse(psd * anti, td * anti))
        if self.face_style:  # swap (code gradient stopped) in its mask vs the dst reconstruction in its mask
            psd, psdm = swaps[-1]
            src = src + L.style_loss(psd * psdm.detach(), (pdd * pddm).detach(), res / 8, 10000 * self.face_style)

        g = src + dst
        aux: dict[str, Tensor] = {}
        if self.code_discriminator is not None:
            with self.autocast():
                g = g + self.true_face_power * L.d_loss(self.code_discriminator(src_code), True)
            aux.update(src_code=src_code.detach(), dst_code=dst_code.detach())
        if self.D_src is not None:
            real = ts * tsm_b if self.masked_training else ts
            fake = pss * tsm_b if self.masked_training else pss
            with self.autocast():
                centre, full = self.D_src(fake)
            g = g + self.gan_power * (L.d_loss(centre, True) + L.d_loss(full, True))
            if self.masked_training:  # keep GAN speckles out of the background
                anti = 1 - tsm_b
                g = g + 1e-6 * L.total_variation_mse(pss) + 0.02 * L.mse(pss * anti, ts * anti)
            aux.update(real=real.detach(), fake=fake.detach())
        return {"G": g, "src": src, "dst": dst}, aux

    def _side_loss(self, t: Tensor, m: Tensor, m_b: Tensor, em: Tensor | None, p: Tensor, pm: Tensor) -> Tensor:
        """Structural (DSSIM) + 10 MSE inside the blurred mask, eyes/mouth priority, 10 mask MSE."""
        t_opt, p_opt = (t * m_b, p * m_b) if self.masked_training else (t, p)
        loss = L.structural_loss(t_opt, p_opt, self.resolution) + 10 * L.mse(t_opt, p_opt)
        if self.hp.eyes_mouth_prio:
            if em is None:
                raise KeyError("eyes_mouth_prio needs target_srcm_em / target_dstm_em in the batch")
            loss = loss + L.eyes_mouth_loss(t, p, em)
        return loss + 10 * L.mse(m, pm)

    def _discriminator_losses(self) -> dict[str, tuple[Any, Any]]:
        out: dict[str, tuple[Any, Any]] = {}
        if self.code_discriminator is not None:
            out["true_face_loss"] = (self.D_code_opt, self._code_d_loss)
        if self.D_src is not None:
            out["gan_loss"] = (self.GAN_opt, self._gan_d_loss)
        return out

    def _code_d_loss(self, b: dict[str, Tensor], aux: dict[str, Tensor]) -> Tensor:
        with self.autocast():
            d_dst, d_src = self.code_discriminator(aux["dst_code"]), self.code_discriminator(aux["src_code"])
        return 0.5 * (L.d_loss(d_dst, True) + L.d_loss(d_src, False))

    def _gan_d_loss(self, b: dict[str, Tensor], aux: dict[str, Tensor]) -> Tensor:
        with self.autocast():
            (rc, rf), (fc, ff) = self.D_src(aux["real"]), self.D_src(aux["fake"])
        return 0.5 * (L.d_loss(rc, True) + L.d_loss(fc, False)) + 0.5 * (L.d_loss(rf, True) + L.d_loss(ff, False))

    # -- inference ------------------------------------------------------------------------------
    @torch.no_grad()
    def _swap(self, x: Tensor) -> tuple[Tensor, Tensor, Tensor, Tensor]:
        """dst faces -> (swap, swap mask, dst reconstruction, dst mask)."""
        with self.autocast():
            z = self.encoder(x)
            if self.archi.type == "df":
                c = self.inter(z)
                (psd, psdm), (pdd, pddm) = self._decode([c], [c])
            else:
                ab, bb = self.inter_AB(z), self.inter_B(z)
                (psd, psdm), (pdd, pddm) = self._decode([torch.cat([ab, ab], 1)], [torch.cat([bb, ab], 1)])
        return psd, psdm, pdd, pddm

    @torch.no_grad()
    def predict(self, dst: Tensor, morph_value: float | None = None) -> tuple[Tensor, Tensor, Tensor]:
        psd, psdm, _, pddm = self._swap(self.prepare({"x": dst})["x"])
        return psd, psdm, pddm

    @torch.no_grad()
    def preview(self, batch: dict[str, Any]) -> dict[str, Tensor]:
        b = self.prepare(batch)
        with self.autocast():
            z = self.encoder(b["target_src"])
            if self.archi.type == "df":
                (pss, pssm), = run_decoder(self.decoder_src, [self.inter(z)])
            else:
                ab = self.inter_AB(z)
                (pss, pssm), = run_decoder(self.decoder, [torch.cat([ab, ab], 1)])
        psd, psdm, pdd, pddm = self._swap(b["target_dst"])
        out = {"target_src": b["target_src"], "target_srcm": b["target_srcm"], "pred_src_src": pss,
               "pred_src_srcm": pssm, "target_dst": b["target_dst"], "target_dstm": b["target_dstm"],
               "pred_dst_dst": pdd, "pred_dst_dstm": pddm, "pred_src_dst": psd, "pred_src_dstm": psdm}
        return {k: v.float().cpu().contiguous() for k, v in out.items()}
