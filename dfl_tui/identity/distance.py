"""Distances between face embeddings (numpy only; light)."""

from __future__ import annotations

import numpy as np


def _2d(a: np.ndarray) -> np.ndarray:
    a = np.asarray(a, np.float64)
    return a[None, :] if a.ndim == 1 else a


def euclidean(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Pairwise euclidean distances: ``a`` (N, D) or (D,), ``b`` (M, D) or (D,) -> (N, M)."""
    a, b = _2d(a), _2d(b)
    d2 = (a * a).sum(1)[:, None] + (b * b).sum(1)[None, :] - 2.0 * a @ b.T
    return np.sqrt(np.maximum(d2, 0.0))


def cosine_distance(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Pairwise ``1 - cos(angle)``, in [0, 2]: (N, M)."""
    a, b = _2d(a), _2d(b)
    na = a / np.maximum(np.linalg.norm(a, axis=1, keepdims=True), 1e-12)
    nb = b / np.maximum(np.linalg.norm(b, axis=1, keepdims=True), 1e-12)
    return 1.0 - na @ nb.T


def distance(a: np.ndarray, b: np.ndarray, metric: str = "euclidean") -> np.ndarray:
    if metric == "euclidean":
        return euclidean(a, b)
    if metric == "cosine":
        return cosine_distance(a, b)
    raise ValueError(f"unknown metric {metric!r} (euclidean or cosine)")


def nearest(x: np.ndarray, refs: np.ndarray, metric: str = "euclidean") -> np.ndarray:
    """For each row of ``x``: the distance to the nearest reference (NaN rows stay NaN)."""
    x, refs = _2d(x), _2d(refs)
    if refs.shape[0] == 0:
        raise ValueError("no reference embeddings")
    return distance(x, refs, metric).min(axis=1)


def central(x: np.ndarray, metric: str = "euclidean", iters: int = 3, keep: float = 0.6) -> np.ndarray:
    """A robust centre of the rows of ``x`` (the set's main identity): start from the medoid, then
    average the ``keep`` share of rows nearest to the centre, a few times. NaN rows are ignored."""
    x = _2d(x)
    ok = np.isfinite(x).all(1)
    v = x[ok]
    if len(v) == 0:
        raise ValueError("no embeddings to take a centre of")
    if len(v) <= 2:
        return v.mean(0)
    # medoid over a sample (bounded cost on big sets)
    sample = v if len(v) <= 2000 else v[np.linspace(0, len(v) - 1, 2000).astype(int)]
    d = distance(sample, sample, metric)
    c = sample[int(np.argmin(np.median(d, axis=1)))]
    k = max(2, int(round(keep * len(v))))
    for _ in range(iters):
        dc = distance(v, c, metric)[:, 0]
        c = v[np.argsort(dc, kind="stable")[:k]].mean(0)
    return c
