"""Batched training augmentation in torch, on the training device (reference §6.2).

DeepFaceLab does this per sample with OpenCV in CPU worker processes; here one batch is
augmented at once with ``grid_sample``, so a GPU is not starved by Python image code.

Per sample, the **warped** input and the **target** share one random affine and one flip
(:func:`gen_params`): rotation U(-10°, 10°), scale U(1/(1+a), 1+a) (a = 0.15 for SAEHD/AMP,
0.05 otherwise), translation U(-5 %, 5 %) of the resolution, horizontal flip with probability
0.4 when flips are on. Only the warped input additionally goes through the **random warp**: a
grid with cells of res/2, res/4 or res/8 whose interior points move by a truncated normal
(±2.5σ scaled to ±1) times 0.24 of a cell, upsampled bilinearly to res + one cell and cropped by
half a cell (DFL's ``gen_warp_params``). The composite mapping for an output pixel ``p`` is
``image(warp_map(A⁻¹ · flip(p)))``, which is what DFL's remap → warpAffine → flip computes.

Images use bicubic sampling with a replicated border; masks bilinear with a zero border.
``ct_mode`` colour transfer (rct, lct, mkl, idt, sot) moves each src face toward a random dst
face's colours, and ``random_hsv_power`` shifts the warped src's hue/saturation/value.

Tensors: images ``N,3,H,W`` float in [0, 1], BGR channel order (as the faces are stored);
masks ``N,1,H,W``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch
import torch.nn.functional as F

CT_MODES = ("none", "rct", "lct", "mkl", "idt", "sot")


@dataclass(frozen=True)
class AugmentConfig:
    """What varies between models and sides."""

    resolution: int
    random_warp: bool = True
    random_flip: bool = False
    flip_prob: float = 0.4
    rotation: float = 10.0  # degrees, U(-r, r)
    scale: float = 0.05  # U(1/(1+a), 1+a)
    translate: float = 0.05  # fraction of res, U(-t, t)
    hsv_power: float = 0.0  # warped image only
    ct_mode: str = "none"  # toward the reference images passed to augment()


@dataclass
class WarpParams:
    """Per-sample random parameters shared by all outputs of one sample."""

    inv_affine: torch.Tensor  # N,2,3: output pixel -> input pixel
    flip: torch.Tensor  # N bool
    warp_map: torch.Tensor | None  # N,2,H,W absolute input-pixel coordinates (x, y), or None


# ---------------------------------------------------------------------------
# Random parameters
# ---------------------------------------------------------------------------


def _uniform(n: int, lo: float, hi: float, g: torch.Generator | None) -> torch.Tensor:
    return torch.rand(n, generator=g, dtype=torch.float64) * (hi - lo) + lo


def affine_matrices(res: int, angle_deg: torch.Tensor, scale: torch.Tensor, tx: torch.Tensor,
                    ty: torch.Tensor) -> torch.Tensor:
    """cv2.getRotationMatrix2D((res//2, res//2), angle, scale) with (tx, ty)*res added: N,2,3 forward maps."""
    c = float(res // 2)
    a = torch.deg2rad(angle_deg)
    alpha, beta = scale * torch.cos(a), scale * torch.sin(a)
    m = torch.zeros(len(angle_deg), 2, 3, dtype=torch.float64)
    m[:, 0, 0], m[:, 0, 1] = alpha, beta
    m[:, 1, 0], m[:, 1, 1] = -beta, alpha
    m[:, 0, 2] = (1 - alpha) * c - beta * c + tx * res
    m[:, 1, 2] = beta * c + (1 - alpha) * c + ty * res
    return m


def invert_affine(m: torch.Tensor) -> torch.Tensor:
    full = torch.zeros(m.shape[0], 3, 3, dtype=m.dtype)
    full[:, :2] = m
    full[:, 2, 2] = 1.0
    return torch.linalg.inv(full)[:, :2]


def truncated_normal(shape: tuple[int, ...], g: torch.Generator | None) -> torch.Tensor:
    """Normal samples truncated at ±2.5σ and scaled to [-1, 1] (DFL's ``random_normal``)."""
    out = torch.randn(shape, generator=g, dtype=torch.float64)
    bad = out.abs() > 2.5
    while bool(bad.any()):
        out[bad] = torch.randn(int(bad.sum()), generator=g, dtype=torch.float64)
        bad = out.abs() > 2.5
    return out / 2.5


def warp_maps(n: int, res: int, g: torch.Generator | None) -> torch.Tensor:
    """N,2,res,res absolute remap coordinates (x, y) of DFL's random warp."""
    out = torch.empty(n, 2, res, res, dtype=torch.float32)
    choice = torch.randint(0, 3, (n,), generator=g)
    for k in range(3):
        idx = (choice == k).nonzero().flatten()
        if len(idx) == 0:
            continue
        cell = max(1, res // (2 ** (k + 1)))
        count = res // cell + 1
        pts = torch.linspace(0, res, count, dtype=torch.float64)
        mapx = pts.view(1, 1, count).expand(len(idx), count, count).clone()
        mapy = pts.view(1, count, 1).expand(len(idx), count, count).clone()
        if count > 2:
            jitter = cell * 0.24
            mapx[:, 1:-1, 1:-1] += truncated_normal((len(idx), count - 2, count - 2), g) * jitter
            mapy[:, 1:-1, 1:-1] += truncated_normal((len(idx), count - 2, count - 2), g) * jitter
        grid = torch.stack([mapx, mapy], 1).float()
        big = F.interpolate(grid, size=(res + cell, res + cell), mode="bilinear", align_corners=False)
        half = cell // 2
        out[idx] = big[:, :, half:half + res, half:half + res]
    return out


def gen_params(n: int, cfg: AugmentConfig, generator: torch.Generator | None = None,
               *, warp: bool | None = None) -> WarpParams:
    """Random affine, flip and (if ``warp``, default ``cfg.random_warp``) warp grid for ``n`` samples."""
    res = cfg.resolution
    angle = _uniform(n, -cfg.rotation, cfg.rotation, generator)
    scale = _uniform(n, 1.0 / (1.0 + cfg.scale), 1.0 + cfg.scale, generator)
    tx = _uniform(n, -cfg.translate, cfg.translate, generator)
    ty = _uniform(n, -cfg.translate, cfg.translate, generator)
    flip = (torch.rand(n, generator=generator) < cfg.flip_prob) if cfg.random_flip else torch.zeros(n, dtype=torch.bool)
    inv = invert_affine(affine_matrices(res, angle, scale, tx, ty)).float()
    use_warp = cfg.random_warp if warp is None else warp
    return WarpParams(inv, flip, warp_maps(n, res, generator) if use_warp else None)


# ---------------------------------------------------------------------------
# Applying them
# ---------------------------------------------------------------------------


def _to_norm(coords: torch.Tensor, res: int) -> torch.Tensor:
    """Pixel coordinates (pixel centres at integers, cv2's convention) -> grid_sample's [-1, 1]."""
    return coords * (2.0 / max(res - 1, 1)) - 1.0


def sampling_grid(p: WarpParams, res: int, device: torch.device, *, warped: bool) -> tuple[torch.Tensor, torch.Tensor]:
    """(grid N,H,W,2 normalised, inside N,1,H,W float) for the target (``warped=False``) or warped output.
    Both at once: :func:`sampling_grids`."""
    grid, inside, warped_grid = sampling_grids(p, res, device, warped=warped)
    return (warped_grid if warped else grid), inside


def sampling_grids(p: WarpParams, res: int, device: torch.device, *, warped: bool = True) \
        -> tuple[torch.Tensor, torch.Tensor, torch.Tensor | None]:
    """(target grid, inside mask, warped grid or None without a warp map / ``warped=False``)."""
    n = p.inv_affine.shape[0]
    ys, xs = torch.meshgrid(torch.arange(res, device=device, dtype=torch.float32),
                            torch.arange(res, device=device, dtype=torch.float32), indexing="ij")
    xs = xs.expand(n, res, res)
    flip = p.flip.to(device).view(n, 1, 1)
    xs = torch.where(flip, (res - 1) - xs, xs)
    ys = ys.expand(n, res, res)
    m = p.inv_affine.to(device)
    qx = m[:, 0, 0, None, None] * xs + m[:, 0, 1, None, None] * ys + m[:, 0, 2, None, None]
    qy = m[:, 1, 0, None, None] * xs + m[:, 1, 1, None, None] * ys + m[:, 1, 2, None, None]
    inside = ((qx >= -0.5) & (qx <= res - 0.5) & (qy >= -0.5) & (qy <= res - 0.5)).float().unsqueeze(1)
    grid = torch.stack([_to_norm(qx, res), _to_norm(qy, res)], -1)
    if not warped or p.warp_map is None:
        return grid, inside, None
    wm = p.warp_map.to(device)
    coords = F.grid_sample(wm, grid, mode="bilinear", padding_mode="border", align_corners=True)
    return grid, inside, torch.stack([_to_norm(coords[:, 0], res), _to_norm(coords[:, 1], res)], -1)


def apply_image(img: torch.Tensor, grid: torch.Tensor) -> torch.Tensor:
    """Bicubic, replicated border (coordinates clamped to the image, so warped and target agree outside it)."""
    return F.grid_sample(img, grid.clamp(-1.0, 1.0), mode="bicubic", padding_mode="border",
                         align_corners=True).clamp_(0.0, 1.0)


def apply_mask(mask: torch.Tensor, grid: torch.Tensor, inside: torch.Tensor) -> torch.Tensor:
    out = F.grid_sample(mask, grid, mode="bilinear", padding_mode="zeros", align_corners=True)
    return (out * inside).clamp_(0.0, 1.0)


# ---------------------------------------------------------------------------
# Colour
# ---------------------------------------------------------------------------


def bgr_to_hsv(x: torch.Tensor) -> torch.Tensor:
    """N,3,H,W BGR [0,1] -> H in degrees [0,360), S, V in [0,1] (OpenCV's float convention)."""
    b, g, r = x[:, 0], x[:, 1], x[:, 2]
    v, _ = x.max(1)
    mn, _ = x.min(1)
    d = v - mn
    s = torch.where(v > 0, d / v.clamp_min(1e-12), torch.zeros_like(v))
    dd = d.clamp_min(1e-12)
    h = torch.where(v == r, 60.0 * (g - b) / dd,
                    torch.where(v == g, 120.0 + 60.0 * (b - r) / dd, 240.0 + 60.0 * (r - g) / dd))
    h = torch.where(d > 0, h, torch.zeros_like(h)) % 360.0
    return torch.stack([h, s, v], 1)


def hsv_to_bgr(x: torch.Tensor) -> torch.Tensor:
    h, s, v = x[:, 0] % 360.0, x[:, 1], x[:, 2]
    c = v * s
    hp = h / 60.0
    xx = c * (1 - (hp % 2 - 1).abs())
    z = torch.zeros_like(h)
    i = hp.floor().long().clamp(0, 5)
    r = torch.stack([c, xx, z, z, xx, c], 0).gather(0, i.unsqueeze(0))[0]
    g = torch.stack([xx, c, c, xx, z, z], 0).gather(0, i.unsqueeze(0))[0]
    b = torch.stack([z, z, xx, c, c, xx], 0).gather(0, i.unsqueeze(0))[0]
    m = v - c
    return torch.stack([b + m, g + m, r + m], 1).clamp(0.0, 1.0)


def random_hsv(img: torch.Tensor, power: float, g: torch.Generator | None = None) -> torch.Tensor:
    """Hue ± int(360·power/2)°, saturation and value ± power/2, per sample (DFL's random_hsv_shift)."""
    if power <= 0:
        return img
    n = img.shape[0]
    h_amount = max(1, int(360 * power * 0.5))
    dh = torch.randint(-h_amount, h_amount + 1, (n,), generator=g).float().to(img.device)
    ds = ((torch.rand(n, generator=g) - 0.5) * power).to(img.device)
    dv = ((torch.rand(n, generator=g) - 0.5) * power).to(img.device)
    hsv = bgr_to_hsv(img)
    hsv = torch.stack([(hsv[:, 0] + dh.view(n, 1, 1)) % 360.0,
                       (hsv[:, 1] + ds.view(n, 1, 1)).clamp(0, 1),
                       (hsv[:, 2] + dv.view(n, 1, 1)).clamp(0, 1)], 1)
    return hsv_to_bgr(hsv)


_XYZ_FROM_RGB = torch.tensor([[0.412453, 0.357580, 0.180423],
                              [0.212671, 0.715160, 0.072169],
                              [0.019334, 0.119193, 0.950227]], dtype=torch.float32)
_RGB_FROM_XYZ = torch.linalg.inv(_XYZ_FROM_RGB)
_WHITE = torch.tensor([0.950456, 1.0, 1.088754], dtype=torch.float32)


def bgr_to_lab(x: torch.Tensor) -> torch.Tensor:
    """N,3,H,W BGR [0,1] -> L [0,100], a, b (sRGB, D65), as cv2.COLOR_BGR2LAB on float images."""
    rgb = x.flip(1)
    lin = torch.where(rgb > 0.04045, ((rgb + 0.055) / 1.055) ** 2.4, rgb / 12.92)
    xyz = torch.einsum("ij,njhw->nihw", _XYZ_FROM_RGB.to(x.device, x.dtype), lin)
    xyz = xyz / _WHITE.to(x.device, x.dtype).view(1, 3, 1, 1)
    eps = 0.008856
    f = torch.where(xyz > eps, xyz.clamp_min(1e-12) ** (1 / 3), 7.787 * xyz + 16 / 116)
    L = torch.where(xyz[:, 1] > eps, 116 * f[:, 1] - 16, 903.3 * xyz[:, 1])
    a = 500 * (f[:, 0] - f[:, 1])
    b = 200 * (f[:, 1] - f[:, 2])
    return torch.stack([L, a, b], 1)


def lab_to_bgr(lab: torch.Tensor) -> torch.Tensor:
    L, a, b = lab[:, 0], lab[:, 1], lab[:, 2]
    fy = (L + 16) / 116
    fx = fy + a / 500
    fz = fy - b / 200
    f = torch.stack([fx, fy, fz], 1)
    xyz = torch.where(f ** 3 > 0.008856, f ** 3, (f - 16 / 116) / 7.787)
    xyz = xyz * _WHITE.to(lab.device, lab.dtype).view(1, 3, 1, 1)
    inv = _RGB_FROM_XYZ.to(lab.device, lab.dtype)
    lin = torch.einsum("ij,njhw->nihw", inv, xyz).clamp_min(0.0)
    rgb = torch.where(lin > 0.0031308, 1.055 * lin.clamp_min(1e-12) ** (1 / 2.4) - 0.055, 12.92 * lin)
    return rgb.flip(1).clamp(0.0, 1.0)


def _flat(x: torch.Tensor) -> torch.Tensor:
    return x.flatten(2)  # N,C,P


def _cov(x: torch.Tensor) -> torch.Tensor:
    """N,C,P (centred) -> N,C,C."""
    return x @ x.transpose(1, 2) / x.shape[-1]


def ct_rct(img: torch.Tensor, ref: torch.Tensor) -> torch.Tensor:
    """Reinhard: match the per-channel mean and std in L*a*b*."""
    a, r = bgr_to_lab(img), bgr_to_lab(ref)
    am, asd = a.mean((2, 3), keepdim=True), a.std((2, 3), keepdim=True).clamp_min(1e-6)
    rm, rsd = r.mean((2, 3), keepdim=True), r.std((2, 3), keepdim=True)
    out = (a - am) * (rsd / asd) + rm
    out = torch.stack([out[:, 0].clamp(0, 100), out[:, 1].clamp(-127, 127), out[:, 2].clamp(-127, 127)], 1)
    return lab_to_bgr(out)


def _sqrtm_sym(c: torch.Tensor) -> torch.Tensor:
    ev, vec = torch.linalg.eigh(c)
    return vec @ torch.diag_embed(ev.clamp_min(0).sqrt()) @ vec.transpose(1, 2)


def ct_lct(img: torch.Tensor, ref: torch.Tensor, eps: float = 1e-5) -> torch.Tensor:
    """Linear (PCA) colour transfer: whiten with the image's covariance, colour with the reference's."""
    n, c, h, w = img.shape
    t, s = _flat(img).double(), _flat(ref).double()
    mu_t, mu_s = t.mean(-1, keepdim=True), s.mean(-1, keepdim=True)
    t, s = t - mu_t, s - mu_s
    eye = torch.eye(c, dtype=t.dtype, device=t.device)
    qt, qs = _sqrtm_sym(_cov(t) + eps * eye), _sqrtm_sym(_cov(s) + eps * eye)
    out = qs @ torch.linalg.inv(qt) @ t + mu_s
    return out.view(n, c, h, w).to(img.dtype).clamp(0.0, 1.0)


def ct_mkl(img: torch.Tensor, ref: torch.Tensor) -> torch.Tensor:
    """Monge-Kantorovitch linear transfer (the closed-form optimal map between two Gaussians)."""
    n, c, h, w = img.shape
    eps = torch.finfo(torch.float64).eps
    x0, x1 = _flat(img).double(), _flat(ref).double()
    m0, m1 = x0.mean(-1, keepdim=True), x1.mean(-1, keepdim=True)
    a = _cov(x0 - m0) * (x0.shape[-1] / max(x0.shape[-1] - 1, 1))
    b = _cov(x1 - m1) * (x1.shape[-1] / max(x1.shape[-1] - 1, 1))
    da2, ua = torch.linalg.eigh(a)
    da = torch.diag_embed(da2.clamp_min(eps).sqrt())
    cm = da @ ua.transpose(1, 2) @ b @ ua @ da
    dc2, uc = torch.linalg.eigh(cm)
    dc = torch.diag_embed(dc2.clamp_min(eps).sqrt())
    da_inv = torch.diag_embed(1.0 / torch.diagonal(da, dim1=1, dim2=2))
    t = ua @ da_inv @ uc @ dc @ uc.transpose(1, 2) @ da_inv @ ua.transpose(1, 2)
    out = t.transpose(1, 2) @ (x0 - m0) + m1  # rows: (x0 - m0) @ t
    return out.view(n, c, h, w).to(img.dtype).clamp(0.0, 1.0)


def _random_rotations(n: int, c: int, g: torch.Generator | None) -> torch.Tensor:
    q, r = torch.linalg.qr(torch.randn(n, c, c, generator=g, dtype=torch.float64))
    q = q * torch.sign(torch.diagonal(r, dim1=1, dim2=2)).unsqueeze(1)
    det = torch.linalg.det(q)
    q[:, :, 0] *= torch.sign(det).unsqueeze(1)
    return q


def _match_1d(src: torch.Tensor, ref: torch.Tensor) -> torch.Tensor:
    """Exact 1-D optimal transport along the last axis (quantile matching by sorting)."""
    p = src.shape[-1]
    order = src.argsort(-1)
    ref_sorted = ref.sort(-1).values.to(src.dtype)
    if ref_sorted.shape[-1] != p:
        idx = torch.linspace(0, ref_sorted.shape[-1] - 1, p, device=src.device).round().long()
        ref_sorted = ref_sorted[..., idx]
    out = torch.empty_like(src)
    out.scatter_(-1, order, ref_sorted)
    return out


def ct_idt(img: torch.Tensor, ref: torch.Tensor, n_rot: int = 20, g: torch.Generator | None = None) -> torch.Tensor:
    """Iterative distribution transfer: random 3-D rotations, 1-D matching per axis, relaxation 1/n_rot."""
    n, c, h, w = img.shape
    d0, d1 = _flat(img).float(), _flat(ref).float()
    relax = 1.0 / n_rot
    for _ in range(n_rot):
        r = _random_rotations(n, c, g).to(d0.device, d0.dtype)
        d0r, d1r = r @ d0, r @ d1
        d_r = _match_1d(d0r, d1r)
        d0 = d0 + relax * (r.transpose(1, 2) @ (d_r - d0r))
    return d0.view(n, c, h, w).to(img.dtype).clamp(0.0, 1.0)


def _blur(x: torch.Tensor, sigma: float) -> torch.Tensor:
    radius = max(1, int(round(sigma * 1.5)))
    k = torch.arange(-radius, radius + 1, dtype=x.dtype, device=x.device)
    k = torch.exp(-(k ** 2) / (2 * sigma ** 2))
    k = k / k.sum()
    c = x.shape[1]
    pad = min(radius, x.shape[-1] - 1, x.shape[-2] - 1)
    if pad < radius:  # tiny images: clamp the kernel to what reflect padding allows
        k = k[radius - pad: radius + pad + 1]
        k = k / k.sum()
    y = F.pad(x, (pad, pad, 0, 0), mode="reflect")
    y = F.conv2d(y, k.view(1, 1, 1, -1).expand(c, 1, 1, -1), groups=c)
    y = F.pad(y, (0, 0, pad, pad), mode="reflect")
    return F.conv2d(y, k.view(1, 1, -1, 1).expand(c, 1, -1, 1), groups=c)


def ct_sot(img: torch.Tensor, ref: torch.Tensor, steps: int = 10, batch_size: int = 5, reg_sigma_xy: float = 16.0,
           g: torch.Generator | None = None) -> torch.Tensor:
    """Sliced optimal transport (random 1-D projections), then a spatially smoothed correction.

    DeepFaceLab regularises the colour change with a bilateral filter (σ_space 16, σ_colour 5);
    on colour differences in [0, 1] a σ_colour of 5 makes it a plain Gaussian, used here.
    """
    n, c, h, w = img.shape
    src, trg = _flat(img).float(), _flat(ref).float()
    new = src.clone()
    for _ in range(steps):
        advect = torch.zeros_like(new)
        for _b in range(batch_size):
            d = torch.randn(n, c, 1, generator=g).to(new.device)
            d = d / d.norm(dim=1, keepdim=True).clamp_min(1e-12)
            ps = (new * d).sum(1)  # N,P
            pt = (trg * d).sum(1)
            advect += (_match_1d(ps, pt) - ps).unsqueeze(1) * d
        new = new + advect / batch_size
    out = new.view(n, c, h, w)
    if reg_sigma_xy > 0:
        base = img.float()
        out = base + _blur(out - base, reg_sigma_xy)
    return out.to(img.dtype).clamp(0.0, 1.0)


def color_transfer(mode: str, img: torch.Tensor, ref: torch.Tensor, g: torch.Generator | None = None) -> torch.Tensor:
    """Move ``img``'s colours toward ``ref`` (same shape) with one of :data:`CT_MODES`."""
    if mode in (None, "", "none"):
        return img
    if mode == "rct":
        return ct_rct(img, ref)
    if mode == "lct":
        return ct_lct(img, ref)
    if mode == "mkl":
        return ct_mkl(img, ref)
    if mode == "idt":
        return ct_idt(img, ref, g=g)
    if mode == "sot":
        return ct_sot(img, ref, g=g)
    raise ValueError(f"unknown colour transfer mode {mode!r}; use one of {', '.join(CT_MODES)}")


# ---------------------------------------------------------------------------
# A whole side
# ---------------------------------------------------------------------------


def to_float(images_u8: Any, device: torch.device, channels_last_in: bool = True) -> torch.Tensor:
    """uint8 N,H,W,3 (numpy or tensor) -> float N,3,H,W in [0,1] on ``device`` (non-blocking when pinned)."""
    t = torch.as_tensor(images_u8)
    if t.dim() == 3:
        t = t.unsqueeze(-1)
    if device.type == "cuda":
        t = t.pin_memory().to(device, non_blocking=True)
    else:
        t = t.to(device)
    if channels_last_in:
        t = t.permute(0, 3, 1, 2)
    return t.float().div_(255.0).contiguous()


def augment_side(images: torch.Tensor, masks: torch.Tensor, em_masks: torch.Tensor, cfg: AugmentConfig,
                 generator: torch.Generator | None = None, ct_ref: torch.Tensor | None = None,
                 params: WarpParams | None = None) -> dict[str, torch.Tensor]:
    """Augment one side's batch (float tensors on the device).

    Returns ``warped``, ``target`` (N,3,H,W), ``mask`` (full-face) and ``em_mask`` (eyes+mouth,
    renormalised to a maximum of 1 per sample), the masks aligned with the target.
    """
    res = cfg.resolution
    if images.shape[-1] != res:
        raise ValueError(f"expected {res}px faces, got {tuple(images.shape)}")
    if cfg.ct_mode not in (None, "", "none") and ct_ref is not None:
        images = color_transfer(cfg.ct_mode, images, ct_ref, generator)
    p = params if params is not None else gen_params(images.shape[0], cfg, generator)
    grid_t, inside, grid_w = sampling_grids(p, res, images.device)
    target = apply_image(images, grid_t)
    mask, em = apply_mask(torch.cat([masks, em_masks], 1), grid_t, inside).split(1, 1)  # one pass for both
    em = em / em.amax((1, 2, 3), keepdim=True).clamp_min(1e-6) * (em.amax((1, 2, 3), keepdim=True) > 0)
    warped = apply_image(images, grid_w) if grid_w is not None else target.clone()
    if cfg.hsv_power > 0:
        warped = random_hsv(warped, cfg.hsv_power, generator)
    return {"warped": warped, "target": target, "mask": mask, "em_mask": em}


__all__ = [
    "AugmentConfig", "CT_MODES", "WarpParams", "augment_side", "apply_image", "apply_mask", "bgr_to_hsv",
    "bgr_to_lab", "color_transfer", "gen_params", "hsv_to_bgr", "lab_to_bgr", "random_hsv", "sampling_grid", "sampling_grids",
    "to_float", "warp_maps",
]
