"""The two discriminators of SAEHD/AMP (reference §6.5).

* :class:`UNetPatchDiscriminator` (GAN power): a U-Net whose encoder strides are chosen so
  its receptive field is close to ``gan_patch_size``; it returns two logit maps, one at the
  bottleneck ("centre") and one at full resolution.
* :class:`CodeDiscriminator` (true-face power, ``df`` only): strided convs over the inter code
  that tell src codes from dst codes.
"""

from __future__ import annotations

from functools import lru_cache

import torch
import torch.nn.functional as F
from torch import nn

from .layers import conv, glorot


def receptive_field(layers: list[tuple[int, int]]) -> int:
    """Receptive field of a stack of (kernel, stride) convs."""
    rf, stride = 0, 1
    for i, (k, s) in enumerate(layers):
        rf = k if i == 0 else rf + (k - 1) * stride
        stride *= s
    return rf


@lru_cache(maxsize=None)
def patch_layers(patch_size: int, max_layers: int = 9) -> tuple[tuple[int, int], ...]:
    """The 3x3 conv stack (first one stride 2, the others stride 1 or 2) whose receptive field is
    nearest ``patch_size``; among stacks with the same field, the fewest layers, then the most striding."""
    best: dict[int, tuple[int, int, tuple[tuple[int, int], ...]]] = {}
    for n in range(1, max_layers + 1):
        for bits in range(2 ** (n - 1)):
            layers = ((3, 2),) + tuple((3, 2 if bits >> i & 1 else 1) for i in range(n - 1))
            rf, strides = receptive_field(list(layers)), sum(s for _, s in layers)
            old = best.get(rf)
            if old is None or n < old[0] or (n == old[0] and strides > old[1]):
                best[rf] = (n, strides, layers)
    rf = min(sorted(best), key=lambda r: abs(r - patch_size))
    return best[rf][2]


def _conv_t(in_ch: int, out_ch: int, k: int, s: int) -> nn.ConvTranspose2d:
    """Transposed conv with TF 'SAME' output size (h * s)."""
    return glorot(nn.ConvTranspose2d(in_ch, out_ch, k, s, padding=k // 2, output_padding=s - 1))


class UNetPatchDiscriminator(nn.Module):
    def __init__(self, patch_size: int, in_ch: int = 3, base_ch: int = 16) -> None:
        super().__init__()
        layers = patch_layers(int(patch_size))
        ch = [min(base_ch * 2**i, 512) for i in range(len(layers) + 1)]  # ch[i] = DFL's level i-1
        self.layers = layers
        self.in_conv = conv(in_ch, ch[0], 1)
        self.convs = nn.ModuleList(conv(ch[i], ch[i + 1], k, s) for i, (k, s) in enumerate(layers))
        last = len(layers) - 1
        # decoder, deepest first; after the first one the input holds a skip concat (2x channels)
        self.upconvs = nn.ModuleList(
            _conv_t(ch[i + 1] * (1 if i == last else 2), ch[i], k, s) for i, (k, s) in reversed(list(enumerate(layers))))
        self.center_out = conv(ch[-1], 1, 1)
        self.center_conv = conv(ch[-1], ch[-1], 1)
        self.out_conv = conv(ch[0] * 2, 1, 1)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        x = F.leaky_relu(self.in_conv(x), 0.2)
        skips = []
        for c in self.convs:
            skips.append(x)
            x = F.leaky_relu(c(x), 0.2)
        center = self.center_out(x)
        x = F.leaky_relu(self.center_conv(x), 0.2)
        for up, skip in zip(self.upconvs, reversed(skips)):
            x = F.leaky_relu(up(x), 0.2)[..., : skip.shape[-2], : skip.shape[-1]]  # odd sizes: crop to the skip
            x = torch.cat([skip, x], dim=1)
        return center, self.out_conv(x)


class CodeDiscriminator(nn.Module):
    """1 + code_res // 8 stride-2 convs (4x4 then 3x3) with 256 * 2^i (max 8x) channels, LReLU(0.1), 1x1 logits."""

    def __init__(self, in_ch: int, code_res: int, ch: int = 256) -> None:
        super().__init__()
        chs = [in_ch] + [ch * min(2**i, 8) for i in range(1 + code_res // 8)]
        self.convs = nn.ModuleList(conv(a, b, 4 if i == 0 else 3, 2) for i, (a, b) in enumerate(zip(chs, chs[1:])))
        self.out_conv = conv(chs[-1], 1, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        for c in self.convs:
            x = F.leaky_relu(c(x), 0.1)
        return self.out_conv(x)
