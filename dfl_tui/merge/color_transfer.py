"""Colour transfer: make the predicted face's colours match the dst face (deepfacelab.md §7.4).

Every function takes ``face`` (the image whose colours change) and ``ref`` (the image
whose colour statistics it should take on), both BGR float32 in [0, 1] of the same
size, and returns a new float32 image in [0, 1]. ``mask`` (HxW or HxWx1, 0..1) limits
the statistics to the face; the ``-m`` modes instead pre-multiply both images by the
binarised mask. DeepFaceLab pre-multiplies for all ``-m`` modes; for the Gaussian
(mkl) and histogram (idt) methods that mixes the black outside into the statistics
and measurably pulls the face's spread *away* from the target, so there the ``-m``
modes take their statistics under the mask instead (same intent, better result).

Why so many: they trade speed for faithfulness. rct (Reinhard, means and spreads in
Lab) is the cheap default; lct/mkl also match the colour covariance; idt and sot
match the whole 3-D colour distribution, at tens of milliseconds to seconds per face.
"""

from __future__ import annotations

from typing import Callable

import cv2
import numpy as np

_EPS = 1e-5


def _as_mask(mask: np.ndarray | None, shape: tuple[int, ...]) -> np.ndarray | None:
    if mask is None:
        return None
    m = np.asarray(mask, np.float32)
    if m.ndim == 3:
        m = m[..., 0]
    if m.shape != shape[:2]:
        m = cv2.resize(m, (shape[1], shape[0]), interpolation=cv2.INTER_LINEAR)
    return m


def _select(pixels: np.ndarray, mask: np.ndarray | None, min_count: int = 16) -> np.ndarray:
    """The pixels under the mask (all of them if the mask is (nearly) empty)."""
    flat = pixels.reshape(-1, pixels.shape[-1])
    if mask is None:
        return flat
    sel = mask.reshape(-1) > 0.5
    if int(sel.sum()) < min_count:
        return flat
    return flat[sel]


# ---------------------------------------------------------------------------
# rct: Reinhard et al. 2001, in OpenCV's float Lab space
# ---------------------------------------------------------------------------


def rct(face: np.ndarray, ref: np.ndarray, mask: np.ndarray | None = None,
        ref_mask: np.ndarray | None = None) -> np.ndarray:
    """Match per-channel mean and standard deviation in Lab, measured under the masks."""
    face = np.clip(face, 0, 1).astype(np.float32)
    ref = np.clip(ref, 0, 1).astype(np.float32)
    m = _as_mask(mask, face.shape)
    rm = _as_mask(ref_mask if ref_mask is not None else mask, ref.shape)
    lab_f = cv2.cvtColor(face, cv2.COLOR_BGR2LAB)
    lab_r = cv2.cvtColor(ref, cv2.COLOR_BGR2LAB)
    sf = _select(lab_f, m)
    sr = _select(lab_r, rm)
    mu_f, sd_f = sf.mean(0), sf.std(0)
    mu_r, sd_r = sr.mean(0), sr.std(0)
    scale = sd_r / np.maximum(sd_f, _EPS)
    out = (lab_f - mu_f) * scale + mu_r
    out[..., 0] = np.clip(out[..., 0], 0, 100)
    out[..., 1:] = np.clip(out[..., 1:], -127, 127)
    return np.clip(cv2.cvtColor(out.astype(np.float32), cv2.COLOR_LAB2BGR), 0, 1)


# ---------------------------------------------------------------------------
# lct / mkl: linear maps between the colour covariances
# ---------------------------------------------------------------------------


def _sqrtm_sym(c: np.ndarray, inverse: bool = False) -> np.ndarray:
    w, v = np.linalg.eigh(c)
    w = np.maximum(w, _EPS)
    d = 1.0 / np.sqrt(w) if inverse else np.sqrt(w)
    return (v * d) @ v.T


def _stats(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    x = x.astype(np.float64)
    mu = x.mean(0)
    c = np.cov((x - mu).T) + np.eye(x.shape[1]) * _EPS
    return mu, c


def _apply_linear(face: np.ndarray, mu_f: np.ndarray, a: np.ndarray, mu_r: np.ndarray) -> np.ndarray:
    flat = face.reshape(-1, 3).astype(np.float64)
    out = (flat - mu_f) @ a.T + mu_r
    return np.clip(out, 0, 1).reshape(face.shape).astype(np.float32)


def lct(face: np.ndarray, ref: np.ndarray, mask: np.ndarray | None = None) -> np.ndarray:
    """Linear colour transfer: x -> sqrt(C_ref) sqrt(C_face)^-1 (x - mu_face) + mu_ref (principal-axis form)."""
    m = _as_mask(mask, face.shape)
    mu_f, cf = _stats(_select(face, m))
    mu_r, cr = _stats(_select(ref, m))
    a = _sqrtm_sym(cr) @ _sqrtm_sym(cf, inverse=True)
    return _apply_linear(face, mu_f, a, mu_r)


def mkl(face: np.ndarray, ref: np.ndarray, mask: np.ndarray | None = None) -> np.ndarray:
    """Monge-Kantorovich linear map: the optimal-transport map between two Gaussians."""
    m = _as_mask(mask, face.shape)
    mu_f, cf = _stats(_select(face, m))
    mu_r, cr = _stats(_select(ref, m))
    cf_h = _sqrtm_sym(cf)
    cf_ih = _sqrtm_sym(cf, inverse=True)
    mid = _sqrtm_sym(cf_h @ cr @ cf_h)
    t = cf_ih @ mid @ cf_ih
    return _apply_linear(face, mu_f, t, mu_r)


# ---------------------------------------------------------------------------
# idt: iterative distribution transfer (Pitie et al. 2005)
# ---------------------------------------------------------------------------


def _random_rotation(rng: np.random.Generator) -> np.ndarray:
    q, r = np.linalg.qr(rng.normal(size=(3, 3)))
    q = q * np.sign(np.diag(r))
    if np.linalg.det(q) < 0:
        q[:, 0] = -q[:, 0]
    return q


def _match_1d(src: np.ndarray, ref: np.ndarray, bins: int = 256) -> np.ndarray:
    """Map the values of ``src`` so their histogram matches ``ref`` (binned CDF matching)."""
    lo = min(src.min(), ref.min())
    hi = max(src.max(), ref.max())
    if hi - lo < 1e-8:
        return src
    edges = np.linspace(lo, hi, bins + 1)
    hs, _ = np.histogram(src, edges)
    hr, _ = np.histogram(ref, edges)
    cs = np.cumsum(hs).astype(np.float64)
    cr = np.cumsum(hr).astype(np.float64)
    cs /= cs[-1]
    cr /= cr[-1]
    # for each src bin, the ref value at the same cumulative probability
    centers = edges[1:]
    mapped = np.interp(cs, cr, centers)
    return np.interp(src, centers, mapped)


def idt(face: np.ndarray, ref: np.ndarray, mask: np.ndarray | None = None, iterations: int = 20,
        seed: int = 0) -> np.ndarray:
    """Match the full 3-D colour distribution by 1-D matching along random rotated axes."""
    m = _as_mask(mask, face.shape)
    x = face.reshape(-1, 3).astype(np.float64).copy()
    r = _select(ref, m).astype(np.float64)
    sel = None if m is None else (m.reshape(-1) > 0.5)
    if sel is not None and sel.sum() < 16:
        sel = None
    rng = np.random.default_rng(seed)
    relax = 1.0
    for _ in range(iterations):
        rot = _random_rotation(rng)
        px = x @ rot
        pr = r @ rot
        src_stats = px if sel is None else px[sel]
        d = np.empty_like(px)
        for k in range(3):
            matched = _match_1d_apply(src_stats[:, k], pr[:, k], px[:, k])
            d[:, k] = matched - px[:, k]
        x = x + relax * (d @ rot.T)
    return np.clip(x, 0, 1).reshape(face.shape).astype(np.float32)


def _match_1d_apply(stats_src: np.ndarray, ref: np.ndarray, values: np.ndarray, bins: int = 256) -> np.ndarray:
    """Histogram-match ``values`` using the CDF of ``stats_src`` (the masked part) against ``ref``."""
    lo = min(stats_src.min(), ref.min(), values.min())
    hi = max(stats_src.max(), ref.max(), values.max())
    if hi - lo < 1e-8:
        return values
    edges = np.linspace(lo, hi, bins + 1)
    hs, _ = np.histogram(stats_src, edges)
    hr, _ = np.histogram(ref, edges)
    cs = np.cumsum(hs).astype(np.float64) / max(hs.sum(), 1)
    cr = np.cumsum(hr).astype(np.float64) / max(hr.sum(), 1)
    centers = edges[1:]
    mapped = np.interp(cs, cr, centers)
    return np.interp(values, centers, mapped)


# ---------------------------------------------------------------------------
# sot: sliced optimal transport (Rabin et al.), with a smoothed displacement
# ---------------------------------------------------------------------------


def sot(face: np.ndarray, ref: np.ndarray, steps: int = 10, batch: int = 30, seed: int = 0,
        regularize: bool = True) -> np.ndarray:
    """Move the colour cloud of ``face`` onto that of ``ref`` by 1-D transports along random directions.

    The displacement is then smoothed with a bilateral filter guided by the image
    on itself (sigma 0.05 in 0..1 units, sigma space 16 px) so neighbouring pixels move
    together and no speckle appears.
    """
    h, w, c = face.shape
    x = face.reshape(-1, c).astype(np.float32).copy()
    r = ref.reshape(-1, c).astype(np.float32)
    n, nr = x.shape[0], r.shape[0]
    rng = np.random.default_rng(seed)
    q_src = (np.arange(n) + 0.5) / n
    q_ref = (np.arange(nr) + 0.5) / nr
    for _ in range(steps):
        adv = np.zeros_like(x)
        for _ in range(batch):
            d = rng.normal(size=c).astype(np.float32)
            d /= np.linalg.norm(d) + 1e-8
            px = x @ d
            pr = np.sort(r @ d)
            order = np.argsort(px)
            target = pr if nr == n else np.interp(q_src, q_ref, pr)
            disp = np.empty_like(px)
            disp[order] = target - px[order]
            adv += disp[:, None] * d[None, :]
        x += adv / batch
    out = x.reshape(h, w, c)
    if regularize:
        disp = (out - face).astype(np.float32)
        smoothed = cv2.bilateralFilter(disp, d=0, sigmaColor=0.05, sigmaSpace=16)
        out = face + smoothed
    return np.clip(out, 0, 1).astype(np.float32)


# ---------------------------------------------------------------------------
# mix: lightness by lct, chroma by sot on lightness-flattened images
# ---------------------------------------------------------------------------


def mix(face: np.ndarray, ref: np.ndarray, mask: np.ndarray | None = None) -> np.ndarray:
    """Lightness by lct (statistics under the mask), chroma by sot on lightness-flattened images."""
    lab_lct = cv2.cvtColor(lct(face, ref, mask), cv2.COLOR_BGR2LAB)

    def flatten_l(img: np.ndarray) -> np.ndarray:
        lab = cv2.cvtColor(np.clip(img, 0, 1).astype(np.float32), cv2.COLOR_BGR2LAB)
        lab[..., 0] = 50.0
        return np.clip(cv2.cvtColor(lab, cv2.COLOR_LAB2BGR), 0, 1)

    chroma_fn = _premultiplied(sot, with_mask=False)
    chroma = cv2.cvtColor(chroma_fn(flatten_l(face), flatten_l(ref), mask), cv2.COLOR_BGR2LAB)
    out = np.concatenate([lab_lct[..., :1], chroma[..., 1:]], axis=-1)
    return np.clip(cv2.cvtColor(out.astype(np.float32), cv2.COLOR_LAB2BGR), 0, 1)


# ---------------------------------------------------------------------------
# dispatch
# ---------------------------------------------------------------------------


def _premultiplied(fn: Callable[..., np.ndarray], with_mask: bool) -> Callable[..., np.ndarray]:
    def run(face: np.ndarray, ref: np.ndarray, mask: np.ndarray | None) -> np.ndarray:
        if mask is None:
            return fn(face, ref, mask) if with_mask else fn(face, ref)
        mb = (_as_mask(mask, face.shape) > 0.5).astype(np.float32)[..., None]
        if mb.sum() < 16:
            return face
        f, r = face * mb, ref * mb
        out = fn(f, r, mb[..., 0]) if with_mask else fn(f, r)
        # Outside the binary mask the pre-multiplied result is black; a soft (blurred)
        # mask would show it as a dark rim. Give those pixels the mean colour shift.
        inside = mb[..., 0] > 0.5
        shift = (out[inside] - face[inside]).mean(0)
        return np.where(mb > 0.5, out, np.clip(face + shift, 0, 1)).astype(np.float32)

    return run


_MODES: dict[str, Callable[[np.ndarray, np.ndarray, np.ndarray | None], np.ndarray]] = {
    "rct": lambda f, r, m: rct(f, r, m, m),
    "lct": lambda f, r, m: lct(f, r),
    "mkl": lambda f, r, m: mkl(f, r),
    "mkl-m": lambda f, r, m: mkl(f, r, m),
    "idt": lambda f, r, m: idt(f, r),
    "idt-m": lambda f, r, m: idt(f, r, m),
    "sot-m": _premultiplied(sot, with_mask=False),
    "mix-m": lambda f, r, m: mix(f, r, m),
}


def color_transfer(mode: str, face: np.ndarray, ref: np.ndarray, mask: np.ndarray | None = None) -> np.ndarray:
    """Apply colour-transfer ``mode`` (one of options.COLOR_TRANSFER_MODES) to ``face`` toward ``ref``."""
    if mode in (None, "", "none"):
        return face
    try:
        fn = _MODES[mode]
    except KeyError:
        raise ValueError(f"unknown colour transfer mode {mode!r}; use one of: none, {', '.join(_MODES)}") from None
    return fn(face.astype(np.float32), ref.astype(np.float32), mask)


# ---------------------------------------------------------------------------
# hist-match modes
# ---------------------------------------------------------------------------


def hist_match(face: np.ndarray, ref: np.ndarray, mask: np.ndarray | None = None, threshold: int = 255) -> np.ndarray:
    """Per-channel histogram matching of ``face`` to ``ref`` (the merger's hist-match modes).

    With a mask, both histograms are taken under the mask only (DeepFaceLab fills the
    outside with white, which adds the same spike to both; counting only the face is
    the intent). ``threshold`` < 255 scales the source quantiles, so the brightest
    face pixels map to the reference's ``threshold/255`` quantile: highlights are
    tamed instead of clipped.
    """
    face = np.clip(face, 0, 1).astype(np.float32)
    ref = np.clip(ref, 0, 1).astype(np.float32)
    m = _as_mask(mask, face.shape)
    sel = None if m is None else (m.reshape(-1) > 0.5)
    if sel is not None and sel.sum() < 16:
        sel = None
    scale = max(0, min(255, int(threshold))) / 255.0
    out = np.empty_like(face)
    for c in range(face.shape[2]):
        src = face[..., c].reshape(-1)
        tpl = ref[..., c].reshape(-1)
        s = src if sel is None else src[sel]
        t = tpl if sel is None else tpl[sel]
        s_vals, s_counts = np.unique((s * 255).round().astype(np.int32), return_counts=True)
        t_vals, t_counts = np.unique((t * 255).round().astype(np.int32), return_counts=True)
        s_q = np.cumsum(s_counts).astype(np.float64)
        s_q = scale * s_q / s_q[-1]
        t_q = np.cumsum(t_counts).astype(np.float64)
        t_q /= t_q[-1]
        mapped = np.interp(s_q, t_q, t_vals.astype(np.float64))
        lut = np.interp(np.arange(256), s_vals, mapped)
        out[..., c] = lut[(src * 255).round().astype(np.int32)].reshape(face.shape[:2]) / 255.0
    return np.clip(out, 0, 1).astype(np.float32)
