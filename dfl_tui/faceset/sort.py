"""``dfl-tui sort``: every sort method of DeepFaceLab's sorter (deepfacelab.md §4.1).

A sort reads each face once, in threads, reducing it to a number or a small
vector (:mod:`dfl_tui.faceset.features`), then orders the set with numpy. The
new order is applied as one undoable transaction of the set's trash
(:mod:`dfl_tui.faceset.trash`): rejected faces go to ``<set>/.trash`` and the kept
ones are renamed ``00000.jpg, 00001.jpg ...``. Original names come back with
``dfl-tui faceset src recover-names`` (from the metadata) or by undoing the sort.

Differences from DeepFaceLab, on purpose:

* histogram chains (``hist``, ``absdiff``) use exact distances between compact
  features with a k-nearest-neighbour shortlist, so they are near O(n log n)
  instead of O(n^2) per step, and run on tens of thousands of faces;
* ``blur`` measures edges inside the landmark hull instead of on the masked
  image, so the hull's own border does not count as a sharp edge;
* faces without metadata go to the trash only for methods that need it.
"""

from __future__ import annotations

import os
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Sequence

import numpy as np

from ..errors import InputError
from ..jobs.context import Reporter
from ..workspace import Workspace, list_images
from . import features as F
from .options import SORT_CHOICES

# ---------------------------------------------------------------------------
# Reading faces in parallel
# ---------------------------------------------------------------------------


def default_workers(n: int = 0) -> int:
    return n if n and n > 0 else max(2, min(16, (os.cpu_count() or 2) * 2))


def map_faces(paths: Sequence[Path], fn: Callable[[Path], Any], ctx: Reporter | None = None, *,
              stage: str = "reading faces", workers: int = 0) -> list[Any]:
    """``fn(path)`` for every face, in threads, in order; a face that fails gives its exception."""
    ctx = ctx or Reporter()
    n = len(paths)
    ctx.stage(stage, n, "faces")

    def safe(p: Path) -> Any:
        try:
            return fn(p)
        except Exception as exc:  # noqa: BLE001 - a bad face is reported, the rest go on
            return exc

    out: list[Any] = []
    with ThreadPoolExecutor(max_workers=default_workers(workers)) as pool:
        for i, r in enumerate(pool.map(safe, paths, chunksize=16)):
            out.append(r)
            if i % 64 == 0 or i == n - 1:
                ctx.progress(i + 1, n)
                ctx.check_cancel()
    return out


# ---------------------------------------------------------------------------
# Orderings (pure numpy, testable without files)
# ---------------------------------------------------------------------------


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


# ---------------------------------------------------------------------------
# The methods
# ---------------------------------------------------------------------------


@dataclass
class SortResult:
    kept: list[Path]  # in the new order
    trashed: list[Path]
    reasons: dict[str, int]  # why faces were rejected -> how many
    scores: dict[str, float] | None = None  # face name -> the value sorted on (when there is one)


def _need_meta(data: bytes, p: Path) -> F.FaceMeta:
    meta = F.try_meta(data, str(p))
    if meta is None or meta.landmarks is None:
        raise F.FaceFileError(f"{p}: not an aligned face (no metadata)")
    return meta


def _blur_value(p: Path) -> float:
    data = F.read_bytes(p)
    gray = F.decode(data, str(p), gray=True)
    meta = F.try_meta(data, str(p))
    return F.cpbd(gray, F.hull_mask(gray.shape, meta))


def _motion_value(p: Path) -> float:
    data = F.read_bytes(p)
    gray = F.decode(data, str(p), gray=True)
    meta = F.try_meta(data, str(p))
    return F.motion_blur_score(gray, F.hull_mask(gray.shape, meta))


def _pose_value(p: Path) -> tuple[float, float]:
    data = F.read_bytes(p)
    meta = _need_meta(data, p)
    size = F.image_size(data)
    if size is None:
        size = F.decode(data, str(p)).shape[1::-1]
    return F.pose(meta, size[0])


def _rect_value(p: Path) -> float:
    data = F.read_bytes(p)
    return F.rect_area(_need_meta(data, p))


def _colour_hist_value(p: Path) -> np.ndarray:
    data = F.read_bytes(p)
    return F.colour_hist(F.decode(data, str(p), F.reduce_for(data, 64)))


def _gray_hist_value(p: Path) -> np.ndarray:
    data = F.read_bytes(p)
    r = F.reduce_for(data, 64)
    gray = F.decode(data, str(p), r, gray=True)
    meta = F.try_meta(data, str(p))
    return F.gray_hist(gray, F.hull_mask(gray.shape, meta, 1.0 / r))


def _hsv_value(p: Path) -> tuple[float, float]:
    data = F.read_bytes(p)
    return F.hsv_means(F.decode(data, str(p), F.reduce_for(data, 64)))


def _black_value(p: Path) -> float:
    data = F.read_bytes(p)
    return float(np.count_nonzero(F.decode(data, str(p)) == 0))


def _origname_value(p: Path) -> str:
    data = F.read_bytes(p)
    meta = _need_meta(data, p)
    return meta.source_filename or p.name


def _tiny_value(p: Path) -> np.ndarray:
    data = F.read_bytes(p)
    return F.tiny(F.decode(data, str(p), F.reduce_for(data, 32)), 16)


def _final_value(p: Path, fast: bool) -> tuple[float, float, float, np.ndarray]:
    data = F.read_bytes(p)
    meta = _need_meta(data, p)
    size = F.image_size(data)
    if fast:
        sharp = F.rect_area(meta)
        r = F.reduce_for(data, 64)
        gray = F.decode(data, str(p), r, gray=True)
        w = size[0] if size else gray.shape[1] * r
    else:
        full = F.decode(data, str(p), gray=True)
        sharp = F.cpbd(full, F.hull_mask(full.shape, meta))
        r = max(1, full.shape[1] // 64)
        gray = full[::r, ::r]
        w = full.shape[1]
    pitch, yaw = F.pose(meta, w)
    hist = F.gray_hist(gray, F.hull_mask(gray.shape, meta, gray.shape[1] / w))
    return sharp, yaw, pitch, hist


def _split(paths: Sequence[Path], values: list[Any]) -> tuple[list[int], list[int], list[str]]:
    ok, bad, errors = [], [], []
    for i, v in enumerate(values):
        if isinstance(v, Exception):
            bad.append(i)
            errors.append(str(v))
        else:
            ok.append(i)
    return ok, bad, errors


def sort_faces(paths: Sequence[Path], method: str, *, target: int = 2000, dissimilar: bool = False,
               ctx: Reporter | None = None, workers: int = 0) -> SortResult:
    """Order ``paths`` by ``method``; returns what to keep (in order) and what to trash."""
    if method not in SORT_CHOICES:
        raise InputError(f"unknown sort method {method!r}; use one of: {', '.join(SORT_CHOICES)}")
    ctx = ctx or Reporter()
    paths = [Path(p) for p in paths]
    reasons: dict[str, int] = {}

    def reject(idx: list[int], why: str) -> None:
        if idx:
            reasons[why] = reasons.get(why, 0) + len(idx)

    def finish(order: Sequence[int], trash: Sequence[int], scores: np.ndarray | None = None,
               ok: Sequence[int] | None = None) -> SortResult:
        sc = None
        if scores is not None and ok is not None:
            sc = {paths[i].name: float(s) for i, s in zip(ok, scores)}
        return SortResult([paths[i] for i in order], [paths[i] for i in trash], reasons, sc)

    def read(fn: Callable[[Path], Any], stage: str = "reading faces") -> tuple[list[int], list[int], list[Any]]:
        vals = map_faces(paths, fn, ctx, stage=stage, workers=workers)
        ok, bad, errors = _split(paths, vals)
        for e in errors[:5]:
            ctx.warn(e + " -> trash")
        if len(errors) > 5:
            ctx.warn(f"... and {len(errors) - 5} more unreadable faces -> trash")
        reject(bad, "unreadable or no face metadata")
        return ok, bad, [vals[i] for i in ok]

    if method == "oneface":
        keep, trash = oneface_split([p.name for p in paths])
        reject(trash, "frame has several faces")
        return finish(keep, trash)

    if method in ("blur", "motion-blur"):
        ok, bad, vals = read(_blur_value if method == "blur" else _motion_value, "measuring sharpness")
        v = np.array(vals, np.float64)
        flat = (v <= 0.0) if method == "blur" else np.zeros(len(v), bool)
        ranked = order_by(v)
        order = [ok[i] for i in ranked if not flat[i]]
        zero = [ok[i] for i in ranked if flat[i]]
        reject(zero, "no sharp edges at all")
        return finish(order, bad + zero, v, ok)

    if method in ("face-yaw", "face-pitch"):
        ok, bad, vals = read(_pose_value, "estimating pose")
        arr = np.array(vals, np.float64).reshape(-1, 2)
        v = arr[:, 1] if method == "face-yaw" else arr[:, 0]
        return finish([ok[i] for i in order_by(v)], bad, v, ok)

    if method == "face-source-rect-size":
        ok, bad, vals = read(_rect_value)
        v = np.array(vals, np.float64)
        return finish([ok[i] for i in order_by(v)], bad, v, ok)

    if method in ("brightness", "hue"):
        ok, bad, vals = read(_hsv_value)
        arr = np.array(vals, np.float64).reshape(-1, 2)
        v = arr[:, 1] if method == "brightness" else arr[:, 0]
        return finish([ok[i] for i in order_by(v)], bad, v, ok)

    if method == "black":
        ok, bad, vals = read(_black_value, "counting black pixels")
        v = np.array(vals, np.float64)
        return finish([ok[i] for i in order_by(v, descending=False)], bad, v, ok)

    if method == "origname":
        ok, bad, vals = read(_origname_value)
        order = sorted(range(len(ok)), key=lambda i: (str(vals[i]), paths[ok[i]].name))
        return finish([ok[i] for i in order], bad)

    if method == "hist":
        ok, bad, vals = read(_colour_hist_value, "histograms")
        if not ok:
            return finish([], bad)
        x = np.stack(vals)
        ctx.stage("chaining similar faces", len(ok), "faces")
        chain = greedy_chain(x)
        return finish([ok[i] for i in chain], bad)

    if method == "hist-dissim":
        ok, bad, vals = read(_gray_hist_value, "histograms")
        if not ok:
            return finish([], bad)
        ctx.stage("comparing every pair", len(ok), "faces")
        v = dissimilarity_scores(np.stack(vals))
        return finish([ok[i] for i in order_by(v)], bad, v, ok)

    if method == "absdiff":
        ok, bad, vals = read(_tiny_value, "small copies")
        if not ok:
            return finish([], bad)
        x = np.stack(vals)
        ctx.stage("chaining by pixel difference", len(ok), "faces")
        chain = greedy_chain(x, farthest=dissimilar, distance="l1")
        return finish([ok[i] for i in chain], bad)

    if method in ("final", "final-fast"):
        fast = method == "final-fast"
        ok, bad, vals = read(lambda p: _final_value(p, fast), "measuring faces")
        if not ok:
            return finish([], bad)
        sharp = np.array([v[0] for v in vals], np.float64)
        yaw = np.array([v[1] for v in vals], np.float64)
        pitch = np.array([v[2] for v in vals], np.float64)
        hists = np.stack([v[3] for v in vals])
        ctx.stage("choosing the best faces", len(ok), "faces")
        keep, drop = select_final(yaw, pitch, sharp, hists, target)
        reject([ok[i] for i in drop], f"beyond the target of {target}")
        return finish([ok[i] for i in keep], bad + [ok[i] for i in drop])

    raise AssertionError(method)


# ---------------------------------------------------------------------------
# Applying an order to the files
# ---------------------------------------------------------------------------


def numbered_names(kept: Sequence[Path]) -> list[str]:
    """``00000.jpg, 00001.jpg ...`` (more digits past 99,999 faces), keeping each file's suffix."""
    width = max(5, len(str(max(0, len(kept) - 1))))
    return [f"{i:0{width}d}{p.suffix.lower()}" for i, p in enumerate(kept)]


def apply_order(folder: Path, result: SortResult, action: str, ctx: Reporter | None = None):
    """Trash the rejects and rename the kept faces into order, as one undoable operation."""
    from .trash import TRASH_DIR, Trash

    ctx = ctx or Reporter()
    folder = Path(folder)
    trash = Trash(folder)
    moves: list[tuple[str, str]] = []
    taken: set[str] = set()
    for p in result.trashed:
        name = p.name
        base, n = Path(name), 1
        while name in taken:
            name = f"{base.stem}~{n}{base.suffix}"
            n += 1
        taken.add(name)
        moves.append((p.name, f"{TRASH_DIR}/{name}"))
    for p, new in zip(result.kept, numbered_names(result.kept)):
        moves.append((p.name, new))
    total = len(moves)
    ctx.stage("renaming", total * 2, "files")
    op = trash.apply(moves, action, avoid_clash=True,
                     progress=lambda d, t: (ctx.progress(d, t)), info={"method": action})
    ctx.progress(total * 2, total * 2)
    return op


def resolve_folder(ws: Workspace, side: str, folder: str | None) -> Path:
    if folder:
        p = Path(os.path.expanduser(folder))
        return p if p.is_absolute() else (ws.root / p)
    return ws.aligned(side)  # type: ignore[arg-type]


def check_faceset(folder: Path) -> list[Path]:
    paths = list_images(folder)
    if not paths:
        packed = [n for n in ("faceset.dflpack", "faceset.pak") if (folder / n).exists()]
        if packed:
            raise InputError(f"{folder} is packed ({packed[0]}); unpack it first: dfl-tui faceset SIDE unpack")
        if not folder.is_dir():
            raise InputError(f"{folder} does not exist; extract faces first (dfl-tui extract-faces)")
        raise InputError(f"{folder} has no face images")
    return paths


def run_sort(ctx: Reporter, opts: Any) -> dict:
    """The ``sort`` step."""
    ws: Workspace = ctx.workspace
    folder = resolve_folder(ws, opts.side, opts.folder)
    paths = check_faceset(folder)
    ctx.log(f"sorting {len(paths)} faces in {folder} by {opts.by}")
    result = sort_faces(paths, opts.by, target=opts.target, dissimilar=opts.dissimilar, ctx=ctx,
                        workers=opts.workers)
    op = apply_order(folder, result, f"sort {opts.by}", ctx)
    for why, n in result.reasons.items():
        ctx.log(f"{n} face{'s' if n != 1 else ''} to the trash: {why}")
    res = {"folder": str(folder), "method": opts.by, "kept": len(result.kept), "trashed": len(result.trashed),
           "undo_id": op.id}
    ctx.result(**res)
    if result.trashed:
        ctx.log(f"rejected faces are in {folder / '.trash'}")
    ctx.log(f"undo the sort: 'dfl-tui faceset {opts.side} undo' (or u in the reviewer); original names only: "
            f"'dfl-tui faceset {opts.side} recover-names'")
    return res
