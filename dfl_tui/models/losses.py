"""Losses of SAEHD, AMP and Quick96 (reference §6.5), per sample: each returns shape (N,).

The models average over the batch for the optimizer. Images are NCHW in [0, 1]; everything here
runs in float32 (the models cast bf16 outputs before calling in).
"""

from __future__ import annotations

from functools import lru_cache

import torch
import torch.nn.functional as F


# --- Gaussian filters ----------------------------------------------------------------------------

def _gauss_1d_uncached(size: int, sigma: float, device: str, dtype: torch.dtype) -> torch.Tensor:
    x = torch.arange(size, dtype=torch.float64) - (size - 1) / 2.0
    g = torch.exp(-(x**2) / (2 * sigma**2))
    return (g / g.sum()).to(device=device, dtype=dtype)


_gauss_1d_cached = lru_cache(maxsize=64)(_gauss_1d_uncached)


def _gauss_1d(size: int, sigma: float, device: str, dtype: torch.dtype) -> torch.Tensor:
    """Normalised 1-D Gaussian taps (cached per device; traced as constants under torch.compile)."""
    fn = _gauss_1d_uncached if torch.compiler.is_compiling() else _gauss_1d_cached
    return fn(size, sigma, device, dtype)


def _separable(x: torch.Tensor, g: torch.Tensor, pad: int) -> torch.Tensor:
    """Depthwise 2-D filtering with the outer product of ``g`` with itself (zero padding ``pad``)."""
    c, k = x.shape[1], g.numel()
    x = F.conv2d(x, g.view(1, 1, 1, k).expand(c, 1, 1, k), padding=(0, pad), groups=c)
    return F.conv2d(x, g.view(1, 1, k, 1).expand(c, 1, k, 1), padding=(pad, 0), groups=c)


def blur_kernel_size(sigma: float) -> int:
    """DFL's ``gaussian_blur`` kernel: max(3, int(4 sigma)), made odd."""
    k = max(3, int(4 * sigma))
    return k + 1 if k % 2 == 0 else k


def gaussian_blur(x: torch.Tensor, sigma: float) -> torch.Tensor:
    """Same-size Gaussian blur with zero padding, as DFL's ``nn.gaussian_blur(x, radius=sigma)``."""
    k = blur_kernel_size(sigma)
    return _separable(x, _gauss_1d(k, float(sigma), str(x.device), x.dtype), k // 2)


# --- image losses --------------------------------------------------------------------------------

def dssim(a: torch.Tensor, b: torch.Tensor, filter_size: int, sigma: float = 1.5,
          k1: float = 0.01, k2: float = 0.03, max_val: float = 1.0) -> torch.Tensor:
    """(1 - SSIM) / 2 with a Gaussian window and VALID padding, averaged over channels -> (N,)."""
    k = max(1, min(int(filter_size), a.shape[-1], a.shape[-2]))
    c1, c2 = (k1 * max_val) ** 2, (k2 * max_val) ** 2
    n_ch = a.shape[1]
    stats = _separable(torch.cat([a, b, a * a + b * b, a * b], 1), _gauss_1d(k, sigma, str(a.device), a.dtype), 0)
    mu_a, mu_b, sq, ab = stats.split(n_ch, dim=1)
    num0, den0 = 2 * mu_a * mu_b, mu_a.square() + mu_b.square()
    luminance = (num0 + c1) / (den0 + c1)
    cs = (2 * ab - num0 + c2) / (sq - den0 + c2)
    ssim = (luminance * cs).mean(dim=(2, 3))
    return ((1.0 - ssim) / 2.0).mean(dim=1)


def dssim_kernels(res: int) -> tuple[int, int]:
    """The two DSSIM window sizes DFL uses: int(res / 11.6) and int(res / 23.2)."""
    return int(res / 11.6), int(res / 23.2)


def structural_loss(target: torch.Tensor, pred: torch.Tensor, res: int, two_scales: bool | None = None) -> torch.Tensor:
    """10 * DSSIM(res/11.6) below 256 px, else 5 * DSSIM(res/11.6) + 5 * DSSIM(res/23.2).
    ``two_scales`` forces the second form (AMP always uses it)."""
    k1, k2 = dssim_kernels(res)
    if two_scales is None:
        two_scales = res >= 256
    if not two_scales:
        return 10 * dssim(target, pred, k1)
    return 5 * dssim(target, pred, k1) + 5 * dssim(target, pred, k2)


def mse(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    return (a - b).square().mean(dim=(1, 2, 3))


def l1(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    return (a - b).abs().mean(dim=(1, 2, 3))


def eyes_mouth_loss(target: torch.Tensor, pred: torch.Tensor, em_mask: torch.Tensor) -> torch.Tensor:
    """300 * mean |T*EM - P*EM|: eyes-and-mouth priority."""
    return 300 * l1(target * em_mask, pred * em_mask)


def total_variation_mse(x: torch.Tensor) -> torch.Tensor:
    """Sum of squared neighbour differences (vertical + horizontal) -> (N,)."""
    dy = (x[:, :, 1:, :] - x[:, :, :-1, :]).square().sum(dim=(1, 2, 3))
    dx = (x[:, :, :, 1:] - x[:, :, :, :-1]).square().sum(dim=(1, 2, 3))
    return dy + dx


def style_loss(content: torch.Tensor, style: torch.Tensor, blur_radius: float = 0.0,
               weight: float = 1.0) -> torch.Tensor:
    """Squared differences of per-channel mean and std (after an optional Gaussian blur), summed,
    times ``weight / channels`` -> (N,)."""
    if blur_radius > 0:
        content, style = gaussian_blur(content, blur_radius), gaussian_blur(style, blur_radius)
    c_var, c_mean = torch.var_mean(content, dim=(2, 3), correction=0)
    s_var, s_mean = torch.var_mean(style, dim=(2, 3), correction=0)
    c_std, s_std = torch.sqrt(c_var + 1e-5), torch.sqrt(s_var + 1e-5)
    loss = (c_mean - s_mean).square().sum(dim=1) + (c_std - s_std).square().sum(dim=1)
    return loss * (weight / content.shape[1])


# --- masks ---------------------------------------------------------------------------------------

def blurred_mask(mask: torch.Tensor, res: int, clip: bool = True) -> torch.Tensor:
    """M_b = clip(gauss_blur(M, sigma=max(1, res/32)), 0, 0.5) * 2: a soft mask grown past the edge.
    ``clip=False`` gives Quick96's plain blurred mask."""
    m = gaussian_blur(mask, max(1, res // 32))
    return m.clamp(0, 0.5) * 2 if clip else m


def blur_out_mask(img: torch.Tensor, mask: torch.Tensor, res: int) -> torch.Tensor:
    """Replace the background (outside ``mask``) by a mask-normalised blur of itself (sigma res/128),
    so the model stops learning sharp background next to the mask edge."""
    sigma = res / 128
    anti = 1 - mask
    blurred_bg = gaussian_blur(img * anti, sigma)
    weight = 1 - gaussian_blur(mask, sigma)
    weight = torch.where(weight == 0, torch.ones_like(weight), weight)
    return img * mask + (blurred_bg / weight) * anti


# --- adversarial ---------------------------------------------------------------------------------

def d_loss(logits: torch.Tensor, real: bool) -> torch.Tensor:
    """Sigmoid cross-entropy against all-ones (real) or all-zeros (fake), mean per sample -> (N,)."""
    target = torch.ones_like(logits) if real else torch.zeros_like(logits)
    return F.binary_cross_entropy_with_logits(logits.float(), target, reduction="none").flatten(1).mean(1)

