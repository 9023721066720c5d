"""XSeg's training augmentation (DeepFaceLab §5.3), per sample, with OpenCV.

A labelled set is usually tens to hundreds of faces, so the net would learn those
exact pixels without heavy augmentation. Each sample gets, in this order:

1. (50 %) a **background composite**: another labelled face, turned by up to ±180°,
   moved and scaled by up to 10 %, maybe flipped, recoloured (HSV shift or RGB levels);
   its non-face area is blended into this face's non-face area with a random weight in
   [0.15, 1]. The net cannot learn "the face is what is not this background".
2. **Geometry**: flip (40 %), rotation ±10°, scale ±5 %, shift ±5 %, and DeepFaceLab's
   random warp grid; the image takes a replicated border, the mask a zero border, and
   the mask is re-binarised at 0.5.
3. (50 % each) **face flare** and **background flare**: a heavily blurred copy of the
   face (or background) pixels added on top, like light bleeding over the edge.
4. **Colour**: an HSV shift or an RGB levels change inside a random soft circle.
5. **Sharpness**: sharpen (25 %), or motion blur (25 %) and Gaussian blur (25 %), kernel
   up to 5, inside random soft circles.
6. (25 %) **Resolution**: down-scale by up to 75 % and back (nearest or linear) inside a circle.
7. (25 %) **JPEG**: re-compress at a random quality inside a circle.

Images are float32 BGR in [0, 1], H x W x 3; masks H x W float32 in {0, 1}.
"""

from __future__ import annotations


import cv2
import numpy as np


def _rand(rng: np.random.Generator, lo: float, hi: float) -> float:
    return float(rng.uniform(lo, hi))


def affine(res: int, angle: float, scale: float, tx: float, ty: float, flip: bool) -> np.ndarray:
    """2 x 3 map of a face of side ``res``: rotate/scale about the centre, shift by (tx, ty) x res, flip."""
    c = res / 2.0
    m = cv2.getRotationMatrix2D((c, c), angle, scale)
    m[:, 2] += (tx * res, ty * res)
    if flip:
        m = np.array([[-1, 0, res - 1], [0, 1, 0]], np.float64) @ np.vstack([m, [0, 0, 1]])
    return m


def warp_grid(res: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """DeepFaceLab's random warp: a coarse grid (cells res/2, res/4 or res/8) jittered by 0.24 cell, smoothed.

    Returns remap tables (map_x, map_y), float32 res x res.
    """
    cell = res // (2 ** int(rng.integers(1, 4)))
    count = res // cell + 1
    lin = np.linspace(0, res, count, dtype=np.float32)
    gx = np.broadcast_to(lin, (count, count)).copy()
    gy = gx.T.copy()
    if count > 2:
        jit = rng.normal(size=(2, count - 2, count - 2)).clip(-2.5, 2.5) / 2.5 * cell * 0.24
        gx[1:-1, 1:-1] += jit[0]
        gy[1:-1, 1:-1] += jit[1]
    big = res + cell
    half = cell // 2
    mx = cv2.resize(gx, (big, big), interpolation=cv2.INTER_LINEAR)[half:half + res, half:half + res]
    my = cv2.resize(gy, (big, big), interpolation=cv2.INTER_LINEAR)[half:half + res, half:half + res]
    return np.ascontiguousarray(mx, np.float32), np.ascontiguousarray(my, np.float32)


def geometric(img: np.ndarray, mask: np.ndarray, rng: np.random.Generator, *, warp: bool = True,
              rot: float = 10.0, scale: float = 0.05, shift: float = 0.05,
              flip_p: float = 0.4) -> tuple[np.ndarray, np.ndarray]:
    res = img.shape[0]
    m = affine(res, _rand(rng, -rot, rot), 1.0 + _rand(rng, -scale, scale), _rand(rng, -shift, shift),
               _rand(rng, -shift, shift), bool(rng.random() < flip_p))
    if warp:
        mx, my = warp_grid(res, rng)
        img = cv2.remap(img, mx, my, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
        mask = cv2.remap(mask, mx, my, cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT, borderValue=0)
    img = cv2.warpAffine(img, m, (res, res), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
    mask = cv2.warpAffine(mask, m, (res, res), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT, borderValue=0)
    return img, (mask > 0.5).astype(np.float32)


def hsv_shift(img: np.ndarray, rng: np.random.Generator, h: float = 1.0, s: float = 0.25,
              v: float = 0.25) -> np.ndarray:
    hsv = cv2.cvtColor(img, cv2.COLOR_BGR2HSV)
    hsv[..., 0] = (hsv[..., 0] + _rand(rng, -h, h) * 360.0 * 0.1) % 360.0
    hsv[..., 1] = np.clip(hsv[..., 1] + _rand(rng, -s, s), 0, 1)
    hsv[..., 2] = np.clip(hsv[..., 2] + _rand(rng, -v, v), 0, 1)
    return np.clip(cv2.cvtColor(hsv, cv2.COLOR_HSV2BGR), 0, 1)


def rgb_levels(img: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Random input black/white points and gamma per channel (Photoshop's Levels)."""
    in_lo = rng.uniform(0.0, 0.25, 3).astype(np.float32)
    in_hi = rng.uniform(0.75, 1.0, 3).astype(np.float32)
    gamma = rng.uniform(0.5, 1.5, 3).astype(np.float32)
    out = np.clip((img - in_lo) / (in_hi - in_lo), 0, 1) ** (1.0 / gamma)
    return out.astype(np.float32)


def recolour(img: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    return hsv_shift(img, rng) if rng.random() < 0.5 else rgb_levels(img, rng)


def soft_circle(res: int, rng: np.random.Generator) -> np.ndarray:
    """A random circle with a faded edge, H x W x 1 float32: where a local effect applies."""
    cx, cy = rng.uniform(0, res, 2)
    r = rng.uniform(res * 0.15, res * 0.6)
    yy, xx = np.mgrid[0:res, 0:res].astype(np.float32)
    d = np.sqrt((xx - cx) ** 2 + (yy - cy) ** 2)
    fade = max(1.0, r * rng.uniform(0.2, 1.0))
    return np.clip((r - d) / fade, 0, 1)[..., None].astype(np.float32)


def _in_circle(img: np.ndarray, effect: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    c = soft_circle(img.shape[0], rng)
    return img * (1 - c) + effect * c


def background_composite(img: np.ndarray, mask: np.ndarray, other: tuple[np.ndarray, np.ndarray],
                         rng: np.random.Generator) -> np.ndarray:
    """Blend another face's non-face area into this face's non-face area (step 1)."""
    res = img.shape[0]
    oimg, omask = other
    m = affine(res, _rand(rng, -180, 180), 1.0 + _rand(rng, -0.1, 0.1), _rand(rng, -0.1, 0.1), _rand(rng, -0.1, 0.1),
               bool(rng.random() < 0.5))
    bg = cv2.warpAffine(oimg, m, (res, res), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT)
    bgm = cv2.warpAffine(omask, m, (res, res), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT)
    bg = recolour(bg, rng)
    keep = 1.0 - (1.0 - mask) * (1.0 - (bgm > 0.5))  # 1 where either face is
    keep = keep[..., None].astype(np.float32)
    w = _rand(rng, 0.15, 1.0)
    mixed = img * w + bg * (1 - w)
    return img * keep + mixed * (1 - keep)


def flare(img: np.ndarray, region: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Add a blurred copy of the ``region``'s pixels: light bleeding across the face edge (step 3)."""
    res = img.shape[0]
    k = int(rng.integers(max(3, res // 4), res + 1)) | 1
    blurred = cv2.GaussianBlur(img * region[..., None], (k, k), 0)
    return np.clip(img + blurred * _rand(rng, 0.2, 0.8), 0, 1)


def sharpness(img: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Sharpen, or motion blur and/or Gaussian blur, each inside its own circle (step 5)."""
    if rng.random() < 0.25:
        k = int(rng.integers(1, 3)) * 2 + 1
        blur = cv2.GaussianBlur(img, (k, k), 0)
        img = _in_circle(img, np.clip(img + (img - blur) * _rand(rng, 0.5, 1.5), 0, 1), rng)
    else:
        if rng.random() < 0.25:
            k = int(rng.integers(3, 6))
            kern = np.zeros((k, k), np.float32)
            kern[k // 2, :] = 1.0 / k
            rot = cv2.getRotationMatrix2D(((k - 1) / 2, (k - 1) / 2), _rand(rng, 0, 360), 1.0)
            kern = cv2.warpAffine(kern, rot, (k, k))
            kern /= max(float(kern.sum()), 1e-6)
            img = _in_circle(img, cv2.filter2D(img, -1, kern), rng)
        if rng.random() < 0.25:
            k = int(rng.integers(1, 3)) * 2 + 1
            img = _in_circle(img, cv2.GaussianBlur(img, (k, k), 0), rng)
    return img


def resolution_loss(img: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    res = img.shape[0]
    small = max(4, int(res * _rand(rng, 0.25, 1.0)))
    interp = cv2.INTER_NEAREST if rng.random() < 0.5 else cv2.INTER_LINEAR
    low = cv2.resize(cv2.resize(img, (small, small), interpolation=interp), (res, res), interpolation=interp)
    return _in_circle(img, low, rng)


def jpeg_loss(img: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    q = int(rng.integers(10, 101))
    u8 = np.clip(img * 255 + 0.5, 0, 255).astype(np.uint8)
    ok, buf = cv2.imencode(".jpg", u8, [int(cv2.IMWRITE_JPEG_QUALITY), q])
    if not ok:
        return img
    dec = cv2.imdecode(buf, cv2.IMREAD_COLOR).astype(np.float32) / 255.0
    return _in_circle(img, dec, rng)


def augment(img: np.ndarray, mask: np.ndarray, rng: np.random.Generator,
            other: tuple[np.ndarray, np.ndarray] | None = None) -> tuple[np.ndarray, np.ndarray]:
    """One training sample: every step of the module docstring, in order."""
    img = img.astype(np.float32, copy=False)
    mask = mask.astype(np.float32, copy=False)
    if other is not None and rng.random() < 0.5:
        other = (other[0].astype(np.float32, copy=False), other[1].astype(np.float32, copy=False))
        img = background_composite(img, mask, other, rng)
    img, mask = geometric(img, mask, rng)
    if rng.random() < 0.5:
        img = flare(img, mask, rng)
    if rng.random() < 0.5:
        img = flare(img, 1.0 - mask, rng)
    img = _in_circle(img, recolour(img, rng), rng)
    img = sharpness(img, rng)
    if rng.random() < 0.25:
        img = resolution_loss(img, rng)
    if rng.random() < 0.25:
        img = jpeg_loss(img, rng)
    return np.clip(img, 0, 1).astype(np.float32), mask


__all__ = ["augment", "affine", "background_composite", "flare", "geometric", "hsv_shift", "jpeg_loss",
           "recolour", "resolution_loss", "rgb_levels", "sharpness", "soft_circle", "warp_grid"]
