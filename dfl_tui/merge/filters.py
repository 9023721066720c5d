"""Image filters of the merger's post-processing (deepfacelab.md §7.2).

They exist to make a clean predicted face sit in real footage: footage is blurry
where the face is sharp (or the reverse), moves, is noisy or compressed. Each takes
and returns BGR float32 in [0, 1].

Super-resolution here is *classical* (Lanczos x4 plus an edge-aware detail boost):
DeepFaceLab's FaceEnhancer network is not available offline, and a learned upscaler
would need weights this project cannot ship. It is blended by ``power`` with a plain
bicubic upscale, as DeepFaceLab blends its enhancer.
"""

from __future__ import annotations

import math

import cv2
import numpy as np


def blur_sharpen(img: np.ndarray, mode: str, amount: int, kernel: int = 3) -> np.ndarray:
    """``amount`` > 0 sharpens (box or gaussian unsharp mask), < 0 blurs (median passes)."""
    if amount == 0:
        return img
    img = img.astype(np.float32)
    if amount > 0:
        if mode in (None, "", "none"):
            return img
        a = amount / 100.0 * 2.0
        if mode == "box":
            soft = cv2.blur(img, (kernel, kernel))
        else:
            soft = cv2.GaussianBlur(img, (0, 0), sigmaX=max(0.5, kernel / 2.0))
        return np.clip(img + a * (img - soft), 0, 1)
    # negative: median-blur passes, the last one blended by its fraction
    passes = -amount / 25.0
    out = img
    while passes > 0:
        med = cv2.medianBlur(out, 5 if kernel >= 5 else 3)
        w = min(1.0, passes)
        out = med if w >= 1.0 else out * (1 - w) + med * w
        passes -= 1.0
    return np.clip(out, 0, 1).astype(np.float32)


def motion_blur(img: np.ndarray, size: int, angle_deg: float) -> np.ndarray:
    """Linear motion blur of ``size`` pixels along ``angle_deg`` (0 = to the right)."""
    size = int(size)
    if size <= 1:
        return img
    k = np.zeros((size, size), np.float32)
    k[size // 2, :] = 1.0
    rot = cv2.getRotationMatrix2D(((size - 1) / 2.0, (size - 1) / 2.0), angle_deg, 1.0)
    k = cv2.warpAffine(k, rot, (size, size))
    s = k.sum()
    if s <= 0:
        return img
    return cv2.filter2D(img.astype(np.float32), -1, k / s)


def denoise(img: np.ndarray, power: int) -> np.ndarray:
    """Repeated 5x5 median passes: one full pass per 100 of ``power``, the rest blended."""
    if power <= 0:
        return img
    out = img.astype(np.float32)
    remaining = float(power)
    while remaining > 0:
        med = cv2.medianBlur(out, 5)
        w = min(1.0, remaining / 100.0)
        out = med if w >= 1.0 else out * (1 - w) + med * w
        remaining -= 100.0
    return out


def bicubic_degrade(img: np.ndarray, power: int) -> np.ndarray:
    """Down-scale by 1 - power/101 and back (bicubic): a softer, lower-detail frame."""
    if power <= 0:
        return img
    h, w = img.shape[:2]
    p = 1.0 - power / 101.0
    small = cv2.resize(img, (max(1, int(w * p)), max(1, int(h * p))), interpolation=cv2.INTER_CUBIC)
    return np.clip(cv2.resize(small, (w, h), interpolation=cv2.INTER_CUBIC), 0, 1).astype(np.float32)


def color_degrade(img: np.ndarray, power: int) -> np.ndarray:
    """Blend with a 256-colour adaptive-palette version (as footage with banding looks)."""
    if power <= 0:
        return img
    from PIL import Image

    u8 = (np.clip(img, 0, 1) * 255 + 0.5).astype(np.uint8)
    rgb = Image.fromarray(u8[..., ::-1])
    q = rgb.quantize(colors=256, method=Image.Quantize.MEDIANCUT).convert("RGB")
    reduced = np.asarray(q, np.float32)[..., ::-1] / 255.0
    if power >= 100:
        return reduced.astype(np.float32)
    p = power / 100.0
    return (img * (1 - p) + reduced * p).astype(np.float32)


def super_resolution(face: np.ndarray, power: int, scale: int = 4) -> np.ndarray:
    """Classical x``scale`` upscale: Lanczos plus detail boost, blended by ``power`` with bicubic.

    The detail boost is an unsharp mask of the upscaled luminance limited by an edge
    mask, so edges (eyes, lips, hair) gain contrast and flat skin does not get noisy.
    """
    h, w = face.shape[:2]
    size = (w * scale, h * scale)
    bicubic = np.clip(cv2.resize(face, size, interpolation=cv2.INTER_CUBIC), 0, 1)
    if power <= 0:
        return bicubic.astype(np.float32)
    lanczos = np.clip(cv2.resize(face, size, interpolation=cv2.INTER_LANCZOS4), 0, 1).astype(np.float32)
    soft = cv2.GaussianBlur(lanczos, (0, 0), sigmaX=scale * 0.6)
    detail = lanczos - soft
    gray = cv2.cvtColor(lanczos, cv2.COLOR_BGR2GRAY)
    edges = np.sqrt(cv2.Sobel(gray, cv2.CV_32F, 1, 0) ** 2 + cv2.Sobel(gray, cv2.CV_32F, 0, 1) ** 2)
    edges = np.clip(edges / (edges.mean() * 4 + 1e-6), 0, 1)[..., None]
    enhanced = np.clip(lanczos + 1.5 * detail * edges, 0, 1)
    p = power / 100.0
    return (bicubic * (1 - p) + enhanced * p).astype(np.float32)


def motion_kernel_size(motion_power: float, blur_power: int, super_res: bool) -> int:
    """DeepFaceLab's rule: power * p/100 + 1, clipped to 2..50, doubled with super-resolution."""
    k = int(math.floor(motion_power * blur_power / 100.0)) + 1
    k = max(2, min(50, k))
    return k * 2 if super_res else k
