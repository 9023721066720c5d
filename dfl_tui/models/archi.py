"""DeepFakeArchi: the encoder, inter and decoder of SAEHD/Quick96 (reference §6.4).

An archi string is ``df`` or ``liae`` plus optional flags after a dash, e.g. ``liae-udt``:

* ``u``: pixel-norm of the flattened encoder output;
* ``d``: the inter works at res/32 and the decoder ends at res/2, then a 4-conv
  depth-to-space head doubles it ("double resolution at the same cost");
* ``t``: a deeper stack (5 downscales with residual blocks, 4 decoder stages);
* ``c``: ``x * cos(x)`` activations instead of LeakyReLU(0.1).

Shapes for ``res`` (``L = res/16``, or ``res/32`` with ``d``):
encoder ``N,3,res,res -> N,F`` (flat, NCHW order); inter ``N,F -> N,ae_out,2L,2L``
(``L,L`` with ``t``); decoder ``-> (N,3,res,res) rgb, (N,1,res,res) mask``, both sigmoid.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from .layers import DoubleResHead, Downscale, ResidualBlock, Upscale, conv, dense, pixel_norm

ARCHI_TYPES = ("df", "liae")
ARCHI_FLAGS = "udtc"


@dataclass(frozen=True)
class Archi:
    type: str = "liae"
    u: bool = False
    d: bool = False
    t: bool = False
    c: bool = False

    @classmethod
    def parse(cls, text: str) -> "Archi":
        """``'liae-ud'`` -> Archi('liae', u=True, d=True). Raises ValueError on anything else."""
        kind, _, flags = text.strip().lower().partition("-")
        if kind not in ARCHI_TYPES or any(f not in ARCHI_FLAGS for f in flags) or len(set(flags)) != len(flags):
            raise ValueError(f"archi {text!r}: expected df or liae, optionally followed by -flags from {ARCHI_FLAGS!r}")
        return cls(kind, *(f in flags for f in "udtc"))

    def __str__(self) -> str:
        flags = "".join(f for f in "udtc" if getattr(self, f))
        return self.type + ("-" + flags if flags else "")

    @property
    def res_multiple(self) -> int:
        return 32 if self.d else 16

    def lowest_dense_res(self, res: int) -> int:
        return res // (32 if self.d else 16)


def _down_res(res: int, n: int) -> int:
    for _ in range(n):
        res = (res + 1) // 2
    return res


class Encoder(nn.Module):
    """4 downscales e, 2e, 4e, 8e (``t``: Down+Res, 3 Downs, Down+Res to res/32), flatten, optional pixel-norm."""

    def __init__(self, in_ch: int, e_ch: int, archi: Archi) -> None:
        super().__init__()
        c = archi.c
        if archi.t:
            self.net = nn.Sequential(
                Downscale(in_ch, e_ch, cos=c), ResidualBlock(e_ch),
                Downscale(e_ch, e_ch * 2, cos=c), Downscale(e_ch * 2, e_ch * 4, cos=c),
                Downscale(e_ch * 4, e_ch * 8, cos=c), Downscale(e_ch * 8, e_ch * 8, cos=c), ResidualBlock(e_ch * 8))
            self.n_down = 5
        else:
            chs = [in_ch] + [e_ch * min(2**i, 8) for i in range(4)]
            self.net = nn.Sequential(*(Downscale(a, b, cos=c) for a, b in zip(chs, chs[1:])))
            self.n_down = 4
        self.out_ch = e_ch * 8
        self.pixel_norm = archi.u

    def out_features(self, res: int) -> int:
        return self.out_ch * _down_res(res, self.n_down) ** 2

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.net(x).flatten(1)
        return pixel_norm(x) if self.pixel_norm else x


class Inter(nn.Module):
    """Dense(in -> ae) -> Dense(ae -> L*L*ae_out) -> reshape -> Upscale (none with ``t``)."""

    def __init__(self, in_features: int, ae_ch: int, ae_out_ch: int, lowest_res: int, archi: Archi) -> None:
        super().__init__()
        self.dense1 = dense(in_features, ae_ch)
        self.dense2 = dense(ae_ch, lowest_res * lowest_res * ae_out_ch)
        self.shape = (ae_out_ch, lowest_res, lowest_res)
        self.upscale = None if archi.t else Upscale(ae_out_ch, ae_out_ch, cos=archi.c)
        self.out_ch = ae_out_ch
        self.out_res = lowest_res if archi.t else lowest_res * 2
        self.memory_format = torch.contiguous_format

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        # the model sets memory_format to channels_last when the convs run in it
        x = self.dense2(self.dense1(x)).view(-1, *self.shape).contiguous(memory_format=self.memory_format)
        return self.upscale(x) if self.upscale is not None else x


class Decoder(nn.Module):
    """Upscale+Res stages to 8d, 4d, 2d (``t``: 8d, 8d, 4d, 2d), an RGB head (1x1 conv, or the ``d`` head),
    and a mask branch of plain Upscales (8dm, 4dm, 2dm [, dm with ``d``]; ``t`` adds one 8dm) -> 1x1 conv."""

    def __init__(self, in_ch: int, d_ch: int, d_mask_ch: int, archi: Archi) -> None:
        super().__init__()
        c = archi.c
        chs = [d_ch * 8, d_ch * 8, d_ch * 4, d_ch * 2] if archi.t else [d_ch * 8, d_ch * 4, d_ch * 2]
        layers: list[nn.Module] = []
        for a, b in zip([in_ch] + chs, chs):
            layers += [Upscale(a, b, cos=c), ResidualBlock(b)]
        self.body = nn.Sequential(*layers)
        self.rgb = DoubleResHead(chs[-1]) if archi.d else nn.Sequential(conv(chs[-1], 3, 1), nn.Sigmoid())
        mchs = [d_mask_ch * 8, d_mask_ch * 8, d_mask_ch * 4, d_mask_ch * 2] if archi.t else \
            [d_mask_ch * 8, d_mask_ch * 4, d_mask_ch * 2]
        if archi.d:
            mchs.append(d_mask_ch)
        self.mask = nn.Sequential(*(Upscale(a, b, cos=c) for a, b in zip([in_ch] + mchs, mchs)),
                                  conv(mchs[-1], 1, 1), nn.Sigmoid())

    def forward(self, z: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        return self.rgb(self.body(z)), self.mask(z)


__all__ = ["Archi", "Decoder", "Encoder", "Inter"]
