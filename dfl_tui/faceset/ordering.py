"""Orderings of a faceset: pure numpy on per-face values, testable without files.

:mod:`dfl_tui.faceset.sort_methods` measures the faces; these functions turn the
measurements into an order (stable sorts, a greedy nearest-neighbour chain over
histograms or small copies, DeepFaceLab's "best faces" selection).
"""

from __future__ import annotations

from pathlib import Path
from typing import Sequence

import numpy as np

def order_by(values: np.ndarray, descending: bool = True) -> np.ndarray:
    """Stable order of ``values`` (ties keep the current order)."""
    v = np.asarray(values, np.float64)
    return np.argsort(-v if descending else v, kind="stable")


KNN_TREE_MIN = 4000  # from this many rows, nearest neighbours come from a k-d tree on 12 principal components
KNN_TREE_DIMS = 12


def knn(x: np.ndarray, k: int, *, farthest: bool = False, block: int = 1024) -> np.ndarray:
    """Indices of each row's k nearest (or farthest) other rows by Euclidean distance.

    Small sets are exact (blocked matrix products). Large sets project onto their first
    12 principal components and ask a k-d tree, which is O(n log n) where the exact
    search is O(n^2); the shortlist is then re-ranked by the full distance.
    """
    n = len(x)
    k = max(1, min(k, n - 1))
    x = np.ascontiguousarray(x, np.float32)
    if n >= KNN_TREE_MIN and not farthest:
        from scipy.spatial import cKDTree

        mean = x.mean(0)
        sample = x[:: max(1, n // 4000)] - mean
        _, _, vt = np.linalg.svd(sample, full_matrices=False)
        low = (x - mean) @ vt[:KNN_TREE_DIMS].T
        wide = min(n - 1, 2 * k)
        _, idx = cKDTree(low).query(low, k=wide + 1, workers=-1)
        idx = np.asarray(idx, np.int64)
        # drop self, re-rank by the full distance, keep k
        out = np.empty((n, k), np.int64)
        for s in range(0, n, 8192):
            e = min(n, s + 8192)
            cand = idx[s:e, 1:]
            d = ((x[cand] - x[s:e, None, :]) ** 2).sum(-1)
            out[s:e] = np.take_along_axis(cand, np.argsort(d, axis=1, kind="stable")[:, :k], 1)
        return out
    sq = (x * x).sum(1)
    out = np.empty((n, k), np.int64)
    for s in range(0, n, block):
        e = min(n, s + block)
        d = sq[s:e, None] + sq[None, :] - 2.0 * (x[s:e] @ x.T)
        d[np.arange(e - s), np.arange(s, e)] = -np.inf if farthest else np.inf
        if farthest:
            d = -d
        part = np.argpartition(d, k - 1, axis=1)[:, :k] if k < n else np.argsort(d, axis=1)[:, :k]
        order = np.take_along_axis(d, part, 1).argsort(1, kind="stable")
        out[s:e] = np.take_along_axis(part, order, 1)
    return out


EXACT_CHAIN_MAX = 4000


def greedy_chain(x: np.ndarray, start: int = 0, *, farthest: bool = False, k: int = 24,
                 distance: str = "l2", exact: bool | None = None) -> np.ndarray:
    """Visit every row, each time going to the nearest (or farthest) row not yet visited.

    Identical rows (the same frame extracted twice, say) are chained once and kept together.
    A k-nearest shortlist answers most steps. When a row's whole shortlist is visited, small
    sets (``exact``, up to 4,000 rows) search everything that is left, so the chain is exactly
    DeepFaceLab's greedy one; large sets first try the shortlists of the shortlist (two hops),
    which stay inside a cluster of similar faces, and search everything only to leave a
    cluster. That keeps a 50,000-face chain near O(n log n) instead of O(n^2).
    """
    x = np.ascontiguousarray(x, np.float32)
    n = len(x)
    if n <= 2:
        return np.arange(n)
    uniq, first, inverse = np.unique(x, axis=0, return_index=True, return_inverse=True)
    inverse = inverse.reshape(-1)
    if len(uniq) < n:  # chain the distinct rows, then expand each into its copies
        members: dict[int, list[int]] = {}
        for i, u in enumerate(inverse.tolist()):
            members.setdefault(u, []).append(i)
        sub = greedy_chain(uniq, int(inverse[start]), farthest=farthest, k=k, distance=distance, exact=exact)
        out = []
        for u in sub.tolist():
            grp = members[u]
            if start in grp:
                grp = [start] + [g for g in grp if g != start]
            out.extend(grp)
        return np.asarray(out, np.int64)
    if exact is None:
        exact = n <= EXACT_CHAIN_MAX
    # The shortlist comes from Euclidean neighbours (one matrix product); for L1 the step then picks the
    # shortlisted face with the smallest L1 distance, which agrees with exact L1 nearly always.
    nbrs = knn(x, k, farthest=farthest)
    visited = np.zeros(n, bool)
    order = np.empty(n, np.int64)
    cur = start
    visited[cur] = True
    order[0] = cur
    left = np.flatnonzero(~visited)
    stale = 0

    def pick(cand: np.ndarray) -> int:
        diff = x[cand] - x[cur]
        d = np.abs(diff).sum(1) if distance == "l1" else (diff * diff).sum(1)
        return int(cand[np.argmax(d) if farthest else np.argmin(d)])

    for step in range(1, n):
        nxt = -1
        row = nbrs[cur]
        if distance == "l2":
            for j in row:
                if not visited[j]:
                    nxt = int(j)
                    break
        else:
            short = row[~visited[row]]
            if len(short):
                nxt = pick(short)
        if nxt < 0 and not exact:
            hop2 = nbrs[row].reshape(-1)
            hop2 = hop2[~visited[hop2]]
            if len(hop2):
                nxt = pick(np.unique(hop2))
        if nxt < 0:
            if stale > len(left) // 2:
                left = np.flatnonzero(~visited)
                stale = 0
            nxt = pick(left[~visited[left]])
        visited[nxt] = True
        stale += 1
        order[step] = nxt
        cur = nxt
    return order


def dissimilarity_scores(h: np.ndarray, block: int = 1024) -> np.ndarray:
    """Sum over all others of the Bhattacharyya distance (rows are sqrt-normalised histograms)."""
    h = np.ascontiguousarray(h, np.float32)
    n = len(h)
    out = np.zeros(n, np.float64)
    for s in range(0, n, block):
        e = min(n, s + block)
        bc = np.clip(h[s:e] @ h.T, 0.0, 1.0)
        out[s:e] = np.sqrt(1.0 - bc).sum(1)
    return out


def frame_and_index(name: str) -> tuple[str, int]:
    """``00042_1.jpg`` -> ("00042", 1); a name without ``_k`` is face 0 of its own frame."""
    stem = Path(name).stem
    base, sep, k = stem.rpartition("_")
    if sep and k.isdigit():
        return base, int(k)
    return stem, 0


def oneface_split(names: Sequence[str]) -> tuple[list[int], list[int]]:
    """Keep faces of frames with a single face; every face of a multi-face frame is rejected."""
    multi = {f for f, k in map(frame_and_index, names) if k != 0}
    keep, trash = [], []
    for i, n in enumerate(names):
        (trash if frame_and_index(n)[0] in multi else keep).append(i)
    return keep, trash


def water_fill(counts: np.ndarray, target: int) -> np.ndarray:
    """Quotas per bin summing to ``target``: as even as possible, no bin above its count."""
    counts = np.asarray(counts, np.int64)
    if counts.sum() <= target:
        return counts.copy()
    quota = np.zeros_like(counts)
    left = target
    open_bins = counts > 0
    while left > 0 and open_bins.any():
        share = max(1, left // int(open_bins.sum()))
        for b in np.flatnonzero(open_bins):
            if left <= 0:
                break
            add = min(share, counts[b] - quota[b], left)
            quota[b] += add
            left -= add
            if quota[b] >= counts[b]:
                open_bins[b] = False
    return quota


def select_final(yaw: np.ndarray, pitch: np.ndarray, sharp: np.ndarray, hists: np.ndarray,
                 target: int, yaw_bins: int = 128) -> tuple[list[int], list[int]]:
    """DeepFaceLab's "best faces": ``target`` faces spread over yaw, then pitch, sharp and varied.

    Faces are binned by yaw over [-1.2, 1.2] rad (128 bins, fewer for small targets);
    each bin gets an even quota (bins with too few faces hand theirs to the others).
    Within a bin the 10 x quota sharpest are candidates, split into ``quota`` pitch bins;
    each pitch bin is ordered most-dissimilar first and the bins are taken in turn.
    """
    n = len(yaw)
    idx_all = np.arange(n)
    bins = max(1, min(yaw_bins, target))
    edges = np.linspace(-1.2, 1.2, bins + 1)
    ybin = np.clip(np.searchsorted(edges, np.clip(yaw, -1.2, 1.2), side="right") - 1, 0, bins - 1)
    counts = np.bincount(ybin, minlength=bins)
    quota = water_fill(counts, min(target, n))
    keep: list[int] = []
    for b in range(bins):
        q = int(quota[b])
        members = idx_all[ybin == b]
        if q <= 0 or len(members) == 0:
            continue
        members = members[order_by(sharp[members])][: 10 * q]
        pedges = np.linspace(-np.pi / 2, np.pi / 2, q + 1)
        pbin = np.clip(np.searchsorted(pedges, pitch[members], side="right") - 1, 0, q - 1)
        queues = []
        for pb in range(q):
            grp = members[pbin == pb]
            if len(grp) > 1:
                grp = grp[order_by(dissimilarity_scores(hists[grp]))]
            if len(grp):
                queues.append(list(grp))
        picked: list[int] = []
        while len(picked) < q and any(queues):
            for qu in queues:
                if qu and len(picked) < q:
                    picked.append(int(qu.pop(0)))
        keep.extend(picked)
    if len(keep) < min(target, n):  # rounding: top up with the sharpest of the rest
        rest = np.setdiff1d(idx_all, keep)
        keep.extend(int(i) for i in rest[order_by(sharp[rest])][: min(target, n) - len(keep)])
    kept = set(keep)
    return keep, [i for i in range(n) if i not in kept]
