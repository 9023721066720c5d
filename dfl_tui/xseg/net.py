"""The XSeg segmentation network (DeepFaceLab §5.2), in PyTorch.

A U-Net whose every convolution is followed by Filter Response Normalisation and a
Thresholded Linear Unit (FRN + TLU: no batch statistics, so batch size 1..16 train
alike), whose down-sampling is anti-aliased (BlurPool: a binomial blur before the
stride-2 subsampling, so a mask does not flicker when the face moves by a pixel), and
whose 4 x 4 bottleneck goes through two dense layers, which gives the network a view
of the whole face at once (where is the chin relative to the forehead).

Shapes at 256 px, base 32 channels: encoder levels 256/128/64/32/16/8 px with
32, 64, 128, 256, 256, 256 channels; the bottleneck 4 x 4 x 256 -> 512 -> 4 x 4 x 256;
the decoder mirrors it with skips (concatenated), ending in one logit channel.

*Pretrain mode* feeds zeros instead of every skip tensor, so the net is a pure
auto-encoder (used with a grey-image reconstruction loss before labels exist).
Input: N x 3 x H x W float in [0, 1] (BGR, as everywhere in the pipeline).
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn


# Transposed-convolution placement: "tf" = DeepFaceLab's; "torch" = dfl-tui's models from before the import.
UPCONV = ("tf", "torch")
#: what a saved XSeg model without an "upconv" option was trained with
LEGACY_UPCONV = "torch"
# BlurPool padding: "zeros" = DeepFaceLab's; "reflect" = dfl-tui's models from before they matched it.
POOL_PAD = ("zeros", "reflect")
#: what a saved XSeg model without a "pool_pad" option was trained with
LEGACY_POOL_PAD = "reflect"


class FRN(nn.Module):
    """Filter Response Normalisation: x / sqrt(mean_hw(x^2) + |eps|) * gamma + beta, eps learned."""

    def __init__(self, ch: int, eps: float = 1e-6) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.ones(1, ch, 1, 1))
        self.bias = nn.Parameter(torch.zeros(1, ch, 1, 1))
        self.eps = nn.Parameter(torch.full((1, 1, 1, 1), eps))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        # The per-channel factor is folded into gamma first: one full-size multiply-add instead of three.
        nu2 = x.float().square().mean(dim=(2, 3), keepdim=True)
        # DeepFaceLab's nu2 + |eps| (the floor only guards against eps learned down to 0 on a dead channel)
        scale = self.weight * torch.rsqrt((nu2 + self.eps.abs()).clamp_min(1e-12))
        return torch.addcmul(self.bias.to(x.dtype), x, scale.to(x.dtype))


class TLU(nn.Module):
    """Thresholded linear unit: max(x, tau), tau learned per channel."""

    def __init__(self, ch: int) -> None:
        super().__init__()
        self.tau = nn.Parameter(torch.zeros(1, ch, 1, 1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.maximum(x, self.tau.to(x.dtype))


class BlurPool(nn.Module):
    """Anti-aliased stride-2 down-sampling: a fixed binomial filter of ``filt_size`` taps.

    ``pad="zeros"`` pads as DeepFaceLab's BlurPool does (``tf.pad``: zeros); ``"reflect"`` is
    the padding of XSeg models trained by dfl-tui before it matched DeepFaceLab's (kept so
    that they predict as they were trained)."""

    def __init__(self, ch: int, filt_size: int = 3, pad: str = "zeros") -> None:
        super().__init__()
        if pad not in POOL_PAD:
            raise ValueError(f"pool padding {pad!r}: one of {POOL_PAD}")
        self.mode = "constant" if pad == "zeros" else "reflect"
        row = torch.tensor([math.comb(filt_size - 1, k) for k in range(filt_size)], dtype=torch.float32)
        k2 = row[:, None] * row[None, :]
        k2 = k2 / k2.sum()
        self.register_buffer("kernel", k2.expand(ch, 1, filt_size, filt_size).clone(), persistent=False)
        self.ch = ch
        lo = (filt_size - 1) // 2
        hi = filt_size - 1 - lo
        self.pad = (lo, hi, lo, hi)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.pad != (0, 0, 0, 0):
            x = F.pad(x, self.pad, mode=self.mode)
        return F.conv2d(x, self.kernel.to(x.dtype), stride=2, groups=self.ch)


class ConvBlock(nn.Sequential):
    def __init__(self, cin: int, cout: int) -> None:
        super().__init__(nn.Conv2d(cin, cout, 3, padding=1), FRN(cout), TLU(cout))


class TFConvTranspose2d(nn.ConvTranspose2d):
    """TensorFlow's ``conv2d_transpose(padding='SAME')`` at stride 2: input pixel i spreads over output
    pixels 2i .. 2i+2 (PyTorch's padding=1 form spreads over 2i-1 .. 2i+1, one pixel off), cut to 2x."""

    def __init__(self, cin: int, cout: int) -> None:
        super().__init__(cin, cout, 3, stride=2, padding=0)

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # type: ignore[override]
        h, w = x.shape[-2:]
        return super().forward(x)[..., : 2 * h, : 2 * w]


class UpConvBlock(nn.Sequential):
    """3 x 3 transposed convolution, stride 2 (exactly doubles the size), FRN, TLU.

    ``upconv="tf"`` places the output as DeepFaceLab's (TensorFlow's) does; ``"torch"`` is the
    one-pixel-shifted placement of models trained by dfl-tui before it could import DeepFaceLab's
    (kept so that they load and predict as they were trained)."""

    def __init__(self, cin: int, cout: int, upconv: str = "tf") -> None:
        conv = TFConvTranspose2d(cin, cout) if upconv == "tf" else \
            nn.ConvTranspose2d(cin, cout, 3, stride=2, padding=1, output_padding=1)
        super().__init__(conv, FRN(cout), TLU(cout))



# Encoder: (convolutions, channel multiplier, BlurPool filter size) per level.
_ENC = ((2, 1, 4), (2, 2, 3), (2, 4, 2), (3, 8, 2), (3, 8, 2), (3, 8, 2))
# Decoder, deepest first: (up-conv out multiplier, convolution out multipliers); skips come from the encoder.
_DEC = ((4, (8, 8, 8)), (4, (8, 8, 8)), (4, (8, 8, 8)), (4, (4, 4)), (2, (2, 2)), (1, (1, 1)))


class XSegNet(nn.Module):
    """XSeg at ``resolution`` (a multiple of 64; DeepFaceLab: 256) with ``base_ch`` (32) channels."""

    def __init__(self, resolution: int = 256, base_ch: int = 32, in_ch: int = 3, out_ch: int = 1,
                 upconv: str = "tf", pool_pad: str = "zeros") -> None:
        super().__init__()
        if upconv not in UPCONV:
            raise ValueError(f"upconv {upconv!r}: one of {UPCONV}")
        self.upconv = upconv
        self.pool_pad = pool_pad
        if resolution % 64:
            raise ValueError(f"XSeg resolution must be a multiple of 64, not {resolution}")
        self.resolution = resolution
        self.base_ch = base_ch
        self.bottom = resolution // 64
        b = base_ch
        self.enc = nn.ModuleList()
        self.pools = nn.ModuleList()
        skip_ch = []
        c = in_ch
        for n, mult, filt in _ENC:
            convs = []
            for _ in range(n):
                convs.append(ConvBlock(c, b * mult))
                c = b * mult
            self.enc.append(nn.Sequential(*convs))
            self.pools.append(BlurPool(c, filt, pool_pad))
            skip_ch.append(c)
        self.deep_ch = c
        flat = self.bottom * self.bottom * c
        self.dense1 = nn.Linear(flat, 512)
        self.dense2 = nn.Linear(512, flat)
        self.ups = nn.ModuleList()
        self.dec = nn.ModuleList()
        for (up_mult, conv_mults), skip in zip(_DEC, reversed(skip_ch)):
            self.ups.append(UpConvBlock(c, b * up_mult, upconv))
            c = b * up_mult + skip
            convs = []
            for m in conv_mults:
                convs.append(ConvBlock(c, b * m))
                c = b * m
            self.dec.append(nn.Sequential(*convs))
        self.out_conv = nn.Conv2d(c, out_ch, 3, padding=1)

    def forward(self, x: torch.Tensor, pretrain: bool = False) -> torch.Tensor:
        """Logits, N x out_ch x H x W (apply ``torch.sigmoid`` for the mask)."""
        skips = []
        for conv, pool in zip(self.enc, self.pools):
            x = conv(x)
            skips.append(x)
            x = pool(x)
        n = x.shape[0]
        x = self.dense2(self.dense1(x.flatten(1))).view(n, self.deep_ch, self.bottom, self.bottom)
        for up, conv, skip in zip(self.ups, self.dec, reversed(skips)):
            x = up(x)
            if pretrain:
                skip = torch.zeros_like(skip)
            x = conv(torch.cat([x, skip], dim=1))
        return self.out_conv(x)

    @torch.no_grad()
    def predict(self, x: torch.Tensor) -> torch.Tensor:
        """The mask as DeepFaceLab's inference gives it: sigmoid, clipped, values < 0.1 zeroed."""
        m = torch.sigmoid(self.forward(x).float()).clamp_(0, 1)
        return torch.where(m < 0.1, torch.zeros_like(m), m)


def count_parameters(net: nn.Module) -> int:
    return sum(p.numel() for p in net.parameters())
