"""Per-face measurements for sorting and duplicate finding (numpy + OpenCV).

Each function takes one face file's bytes (and its metadata when it has some)
and returns a number or a small vector, so the sorter can run them in threads
over tens of thousands of faces and never hold more than a few images at once.
OpenCV and numpy release the GIL while decoding and filtering, so threads scale.
"""

from __future__ import annotations

import math

import cv2
import numpy as np

from ..faces.dflimg import FaceFileError, FaceMeta, NoMetadataError, meta_from_bytes
from ..util.container import image_size

# ---------------------------------------------------------------------------
# Reading
# ---------------------------------------------------------------------------


def read_bytes(path) -> bytes:
    try:
        with open(path, "rb") as fh:
            return fh.read()
    except OSError as exc:
        raise FaceFileError(f"{path}: cannot read it ({exc.strerror})") from None


def try_meta(data: bytes, source: str) -> FaceMeta | None:
    """The face's metadata, or None for an image without any; metadata that is there but unsafe,
    corrupt or wrong-typed raises :class:`FaceFileError` naming ``source`` (callers skip the face)."""
    try:
        return meta_from_bytes(data, source)
    except NoMetadataError:
        return None


def decode(data: bytes, source: str, reduce: int = 1, gray: bool = False) -> np.ndarray:
    """Decode an image; ``reduce`` 2/4/8 lets libjpeg decode at a fraction of the size (fast)."""
    flags = {
        (1, False): cv2.IMREAD_COLOR, (2, False): cv2.IMREAD_REDUCED_COLOR_2, (4, False): cv2.IMREAD_REDUCED_COLOR_4,
        (8, False): cv2.IMREAD_REDUCED_COLOR_8, (1, True): cv2.IMREAD_GRAYSCALE, (2, True): cv2.IMREAD_REDUCED_GRAYSCALE_2,
        (4, True): cv2.IMREAD_REDUCED_GRAYSCALE_4, (8, True): cv2.IMREAD_REDUCED_GRAYSCALE_8,
    }[(reduce, gray)]
    img = cv2.imdecode(np.frombuffer(data, np.uint8), flags)
    if img is None:
        raise FaceFileError(f"{source}: the image data is corrupt or truncated")
    return img


def reduce_for(data: bytes, target: int = 64) -> int:
    """The largest libjpeg reduction that keeps the image at least ``target`` pixels wide."""
    size = image_size(data)
    if size is None:
        return 1
    r = 1
    while r < 8 and size[0] // (r * 2) >= target:
        r *= 2
    return r


def hull_mask(shape, meta: FaceMeta | None, scale: float = 1.0) -> np.ndarray | None:
    """The landmark hull of a face as a bool HxW array (None without landmarks)."""
    if meta is None or meta.landmarks is None or len(meta.landmarks) != 68:
        return None
    from ..faces.landmarks import get_image_hull_mask

    lm = np.asarray(meta.landmarks, np.float32) * scale
    m = get_image_hull_mask(shape[:2], lm, meta.eyebrows_expand_mod or 1.0)[..., 0] > 0.5
    return m if m.any() else None


# ---------------------------------------------------------------------------
# Sharpness: CPBD (Narvekar & Karam, "A no-reference image blur metric based on the
# cumulative probability of blur detection", 2011)
# ---------------------------------------------------------------------------

_BETA = 3.6
_P_JNB = 0.63
_BLOCK = 64
_EDGE_BLOCK_FRACTION = 0.002


def _edge_widths(g: np.ndarray, rows: np.ndarray, cols: np.ndarray, rising: np.ndarray) -> np.ndarray:
    """Marziliano edge widths along the rows: from the extremum before an edge pixel to the one after."""
    h, w = g.shape
    left = np.empty_like(g)
    right = np.empty_like(g)
    left[:, 1:] = g[:, :-1]
    left[:, 0] = g[:, 0]
    right[:, :-1] = g[:, 1:]
    right[:, -1] = g[:, -1]
    is_max = (g >= left) & (g >= right)
    is_min = (g <= left) & (g <= right)
    is_max[:, 0] = is_max[:, -1] = is_min[:, 0] = is_min[:, -1] = True
    idx = np.broadcast_to(np.arange(w), (h, w))
    prev_max = np.maximum.accumulate(np.where(is_max, idx, -1), axis=1)
    prev_min = np.maximum.accumulate(np.where(is_min, idx, -1), axis=1)
    next_max = np.minimum.accumulate(np.where(is_max, idx, w)[:, ::-1], axis=1)[:, ::-1]
    next_min = np.minimum.accumulate(np.where(is_min, idx, w)[:, ::-1], axis=1)[:, ::-1]
    start = np.where(rising, prev_min[rows, cols], prev_max[rows, cols])
    end = np.where(rising, next_max[rows, cols], next_min[rows, cols])
    return (end - start).astype(np.float64)


def cpbd(gray: np.ndarray, mask: np.ndarray | None = None) -> float:
    """Sharpness in [0, 1]: the share of edges a viewer would not see as blurred. 0: no edges."""
    if gray.ndim == 3:
        gray = cv2.cvtColor(gray, cv2.COLOR_BGR2GRAY)
    if max(gray.shape) > 512:  # the metric works on 64-px blocks; keep faces near their usual size
        s = 512 / max(gray.shape)
        gray = cv2.resize(gray, None, fx=s, fy=s, interpolation=cv2.INTER_AREA)
        if mask is not None:
            mask = cv2.resize(mask.astype(np.uint8), (gray.shape[1], gray.shape[0]), interpolation=cv2.INTER_NEAREST) > 0
    g = gray.astype(np.float64)
    edges = cv2.Canny(gray, 50, 100) > 0
    gx = cv2.Sobel(g, cv2.CV_64F, 1, 0, ksize=3)
    gy = cv2.Sobel(g, cv2.CV_64F, 0, 1, ksize=3)
    # Widths are measured along rows, so keep edges whose gradient is within 45 degrees of horizontal.
    edges &= np.abs(gx) >= np.abs(gy)
    if mask is not None:
        inner = cv2.erode(mask.astype(np.uint8), np.ones((5, 5), np.uint8)) > 0
        edges &= inner
    rows, cols = np.nonzero(edges)
    if len(rows) == 0:
        return 0.0
    h, w = g.shape
    bh, bw = (h + _BLOCK - 1) // _BLOCK, (w + _BLOCK - 1) // _BLOCK
    block = (rows // _BLOCK) * bw + (cols // _BLOCK)
    counts = np.bincount(block, minlength=bh * bw)
    pad = np.pad(gray, ((0, bh * _BLOCK - h), (0, bw * _BLOCK - w)), mode="edge").astype(np.int32)
    tiles = pad.reshape(bh, _BLOCK, bw, _BLOCK)
    contrast = (tiles.max(axis=(1, 3)) - tiles.min(axis=(1, 3))).reshape(-1)
    is_edge_block = counts > _EDGE_BLOCK_FRACTION * _BLOCK * _BLOCK
    keep = is_edge_block[block]
    if not keep.any():
        return 0.0
    rows, cols, block = rows[keep], cols[keep], block[keep]
    rising = gx[rows, cols] > 0
    widths = _edge_widths(g, rows, cols, rising)
    cos = np.abs(gx[rows, cols]) / np.maximum(np.hypot(gx[rows, cols], gy[rows, cols]), 1e-9)
    widths = widths * cos
    w_jnb = np.where(contrast[block] <= 50, 5.0, 3.0)
    prob = 1.0 - np.exp(-np.power(np.abs(widths / w_jnb), _BETA))
    return float(np.mean(prob <= _P_JNB))


def motion_blur_score(gray: np.ndarray, mask: np.ndarray | None = None) -> float:
    """Variance of the Laplacian (kernel 11) over the face: low for motion-blurred faces."""
    lap = cv2.Laplacian(gray.astype(np.float64), cv2.CV_64F, ksize=11)
    if mask is not None:
        inner = cv2.erode(mask.astype(np.uint8), np.ones((11, 11), np.uint8)) > 0
        if inner.any():
            return float(lap[inner].var())
    return float(lap.var())


# ---------------------------------------------------------------------------
# Histograms and small images
# ---------------------------------------------------------------------------


def colour_hist(img: np.ndarray, bins: int = 32) -> np.ndarray:
    """sqrt of the per-channel normalised B, G, R histograms: Euclidean distance ~ Bhattacharyya."""
    out = []
    for c in range(3):
        h = cv2.calcHist([img], [c], None, [bins], [0, 256]).reshape(-1)
        out.append(h / max(h.sum(), 1.0))
    return np.sqrt(np.concatenate(out)).astype(np.float32)


def gray_hist(gray: np.ndarray, mask: np.ndarray | None = None, bins: int = 64) -> np.ndarray:
    m = None if mask is None else mask.astype(np.uint8)
    h = cv2.calcHist([gray], [0], m, [bins], [0, 256]).reshape(-1)
    return np.sqrt(h / max(h.sum(), 1.0)).astype(np.float32)


def hsv_means(img: np.ndarray) -> tuple[float, float]:
    """(mean hue, mean value) of an image."""
    hsv = cv2.cvtColor(img, cv2.COLOR_BGR2HSV)
    return float(hsv[..., 0].mean()), float(hsv[..., 2].mean())


def tiny(img: np.ndarray, size: int = 24) -> np.ndarray:
    return cv2.resize(img, (size, size), interpolation=cv2.INTER_AREA).astype(np.float32).reshape(-1) / 255.0


def dhash(img: np.ndarray) -> int:
    """64-bit difference hash of a face: near-identical faces differ in a few bits."""
    g = img if img.ndim == 2 else cv2.cvtColor(img, cv2.COLOR_BGR2GRAY)
    s = cv2.resize(g, (9, 8), interpolation=cv2.INTER_AREA).astype(np.int16)
    bits = (s[:, 1:] > s[:, :-1]).reshape(-1)
    return int(np.packbits(bits).view(">u8")[0])


def pose(meta: FaceMeta, width: int) -> tuple[float, float]:
    """(pitch, yaw) in radians from the aligned landmarks."""
    from ..faces.landmarks import estimate_pitch_yaw_roll

    pitch, yaw, _roll = estimate_pitch_yaw_roll(meta.landmarks, size=width)
    return pitch, yaw


def rect_area(meta: FaceMeta) -> float:
    if meta.source_rect is None or len(meta.source_rect) < 4:
        return 0.0
    l, t, r, b = [float(v) for v in meta.source_rect[:4]]
    return abs(r - l) * abs(b - t)


def pi_clip(v: float) -> float:
    return float(np.clip(v, -math.pi / 2, math.pi / 2))
