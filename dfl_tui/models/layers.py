"""Building blocks of DeepFaceLab's networks (``core/leras``), in PyTorch.

Conventions kept from DFL so that the networks behave the same:

* every conv/dense is initialised Glorot-uniform with zero bias (TF's default);
* "SAME" padding is symmetric ``kernel // 2`` as leras pads it (not TF's
  asymmetric SAME), so a 5x5 stride-2 conv maps ``h -> ceil(h / 2)``;
* activations are LeakyReLU(0.1), or ``x * cos(x)`` with the archi flag ``c``;
  residual blocks always use LeakyReLU(0.2).

Upscales use :func:`torch.nn.functional.pixel_shuffle` (CRD channel order).
DFL's TF ``depth_to_space`` is DCR, so an importer of DFL ``.npy`` weights must
permute the output channels of every conv feeding an upscale (see §6.4 of the
reference); the 4-conv ``-d`` head below is built so that conv ``k`` fills
sub-pixel ``(k // 2, k % 2)`` exactly as in DFL.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


def glorot(module: nn.Module) -> nn.Module:
    """TF-style init: Glorot-uniform weight, zero bias (fan sums are symmetric, so transposed convs work too)."""
    nn.init.xavier_uniform_(module.weight)
    if getattr(module, "bias", None) is not None:
        nn.init.zeros_(module.bias)
    return module


def conv(in_ch: int, out_ch: int, k: int, stride: int = 1, same: bool = True) -> nn.Conv2d:
    return glorot(nn.Conv2d(in_ch, out_ch, k, stride, padding=k // 2 if same else 0))


def dense(in_f: int, out_f: int) -> nn.Linear:
    return glorot(nn.Linear(in_f, out_f))


def pixel_norm(x: torch.Tensor, eps: float = 1e-6) -> torch.Tensor:
    """x / sqrt(mean(x^2) + eps) over the flattened features (archi flag ``u``)."""
    return x * torch.rsqrt(x.square().mean(dim=-1, keepdim=True) + eps)


class Act(nn.Module):
    """LeakyReLU(0.1), or x*cos(x) (archi flag ``c``)."""

    def __init__(self, cos: bool = False) -> None:
        super().__init__()
        self.cos = cos

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x * torch.cos(x) if self.cos else F.leaky_relu(x, 0.1)


class Downscale(nn.Module):
    """5x5 stride-2 conv + activation: halves the size."""

    def __init__(self, in_ch: int, out_ch: int, k: int = 5, cos: bool = False) -> None:
        super().__init__()
        self.conv = conv(in_ch, out_ch, k, stride=2)
        self.act = Act(cos)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.act(self.conv(x))


class Upscale(nn.Module):
    """3x3 conv to 4*out channels + activation + depth-to-space x2: doubles the size."""

    def __init__(self, in_ch: int, out_ch: int, k: int = 3, cos: bool = False) -> None:
        super().__init__()
        self.conv = conv(in_ch, out_ch * 4, k)
        self.act = Act(cos)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.pixel_shuffle(self.act(self.conv(x)), 2)


class ResidualBlock(nn.Module):
    """conv3 -> LReLU(0.2) -> conv3 -> + input -> LReLU(0.2)."""

    def __init__(self, ch: int, k: int = 3) -> None:
        super().__init__()
        self.conv1 = conv(ch, ch, k)
        self.conv2 = conv(ch, ch, k)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = F.leaky_relu(self.conv1(x), 0.2)
        return F.leaky_relu(x + self.conv2(y), 0.2)


class DoubleResHead(nn.Module):
    """The ``-d`` RGB head: a 1x1 and three 3x3 convs to 3 channels each, interleaved into
    2x2 sub-pixels (conv k -> sub-pixel (k // 2, k % 2)), then sigmoid. It doubles the
    output resolution at the cost of the last decoder stage."""

    def __init__(self, in_ch: int, out_ch: int = 3) -> None:
        super().__init__()
        self.convs = nn.ModuleList([conv(in_ch, out_ch, 1)] + [conv(in_ch, out_ch, 3) for _ in range(3)])

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = torch.stack([c(x) for c in self.convs], dim=2)  # N, C, 4, H, W -> channel c*4 + k (CRD)
        return torch.sigmoid(F.pixel_shuffle(y.flatten(1, 2), 2))
