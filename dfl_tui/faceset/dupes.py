"""Near-duplicate faces: consecutive video frames give many almost identical faces.

Each face gets a 64-bit difference hash (dHash) of a small grey copy; faces whose
hashes differ in at most ``threshold`` bits are near duplicates, grouped by
union-find. In each group the sharpest face (variance of the Laplacian) is the
one to keep. The reviewer flags the rest (selection), ``dfl-tui faceset SIDE
dedupe`` reports them, sorts them together or trashes them.

Pairs are found with multi-index hashing: split the 64 bits into ``threshold+1``
chunks; two hashes within ``threshold`` bits agree exactly on at least one
chunk (pigeonhole), so only faces sharing a chunk value are compared.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

import numpy as np

from ..jobs.context import Reporter
from ..util.atomic import atomic_write_text
from . import features as F
from .parallel import map_faces
from .sort import SortResult

REPORT = "dupes.json"


@dataclass
class DupeGroups:
    groups: list[list[int]]  # indices into the face list; the first of each group is the one to keep

    @property
    def extras(self) -> list[int]:
        return [i for g in self.groups for i in g[1:]]


def _hash_and_sharpness(p: Path) -> tuple[int, float]:
    data = F.read_bytes(p)
    gray = F.decode(data, str(p), F.reduce_for(data, 64), gray=True)
    return F.dhash(gray), F.motion_blur_score(gray[::1, ::1]) if gray.size else 0.0


def _popcount(x: np.ndarray) -> np.ndarray:
    if hasattr(np, "bitwise_count"):
        return np.bitwise_count(x)
    b = x.view(np.uint8).reshape(*x.shape, 8)
    return np.unpackbits(b, axis=-1).sum(-1)


def near_pairs(hashes: np.ndarray, threshold: int) -> list[tuple[int, int]]:
    """All (i, j), i < j, whose 64-bit hashes differ in at most ``threshold`` bits."""
    h = np.asarray(hashes, np.uint64)
    n = len(h)
    chunks = threshold + 1
    bounds = np.linspace(0, 64, chunks + 1).astype(int)
    seen: set[tuple[int, int]] = set()
    out = []
    for c in range(chunks):
        lo, hi = bounds[c], bounds[c + 1]
        key = (h >> np.uint64(lo)) & np.uint64((1 << (hi - lo)) - 1)
        order = np.argsort(key, kind="stable")
        ks = key[order]
        starts = np.flatnonzero(np.r_[True, ks[1:] != ks[:-1]])
        ends = np.r_[starts[1:], n]
        for s, e in zip(starts, ends):
            if e - s < 2:
                continue
            members = order[s:e]
            sub = h[members]
            dist = _popcount(sub[:, None] ^ sub[None, :])
            ii, jj = np.nonzero(np.triu(dist <= threshold, 1))
            for a, b in zip(members[ii], members[jj]):
                pair = (int(min(a, b)), int(max(a, b)))
                if pair not in seen:
                    seen.add(pair)
                    out.append(pair)
    return out


def group_pairs(n: int, pairs: Sequence[tuple[int, int]], sharpness: np.ndarray) -> DupeGroups:
    parent = list(range(n))

    def find(a: int) -> int:
        while parent[a] != a:
            parent[a] = parent[parent[a]]
            a = parent[a]
        return a

    for a, b in pairs:
        ra, rb = find(a), find(b)
        if ra != rb:
            parent[max(ra, rb)] = min(ra, rb)
    groups: dict[int, list[int]] = {}
    for i in range(n):
        groups.setdefault(find(i), []).append(i)
    out = []
    for g in groups.values():
        if len(g) > 1:
            g.sort(key=lambda i: (-float(sharpness[i]), i))
            out.append(g)
    out.sort(key=lambda g: min(g))
    return DupeGroups(out)


def find_duplicates(paths: Sequence[Path], threshold: int = 6, ctx: Reporter | None = None,
                    workers: int = 0) -> DupeGroups:
    vals = map_faces(paths, _hash_and_sharpness, ctx, stage="hashing faces", workers=workers)
    ok = [i for i, v in enumerate(vals) if not isinstance(v, Exception)]
    hashes = np.array([vals[i][0] for i in ok], np.uint64)
    sharp = np.array([vals[i][1] for i in ok], np.float64)
    g = group_pairs(len(ok), near_pairs(hashes, threshold), sharp)
    return DupeGroups([[ok[i] for i in grp] for grp in g.groups])


def dupes_order(n: int, groups: DupeGroups) -> list[int]:
    """The current order, with each group gathered where its first member was."""
    where = {}
    for g in groups.groups:
        for i in g:
            where[i] = g
    out, done = [], set()
    for i in range(n):
        if i in done:
            continue
        g = where.get(i)
        if g is None:
            out.append(i)
            done.add(i)
        else:
            for j in g:
                if j not in done:
                    out.append(j)
                    done.add(j)
    return out


def run_dedupe(folder: Path, paths: Sequence[Path], mode: str, threshold: int, ctx: Reporter | None = None,
               workers: int = 0) -> dict:
    ctx = ctx or Reporter()
    paths = list(paths)
    groups = find_duplicates(paths, threshold, ctx, workers)
    extras = groups.extras
    res = {"groups": len(groups.groups), "duplicates": len(extras)}
    report = {"version": 1, "created": time.time(), "threshold": threshold,
              "groups": [[paths[i].name for i in g] for g in groups.groups]}
    atomic_write_text(folder / REPORT, json.dumps(report, indent=1))
    ctx.log(f"{len(groups.groups)} groups of near-duplicates, {len(extras)} faces beyond the sharpest of each "
            f"(list in {folder / REPORT})")
    if mode == "trash" and extras:
        from .trash import Trash

        op = Trash(folder).delete([paths[i] for i in extras], "dedupe")
        res["trashed"] = len(extras)
        res["undo_id"] = op.id
    elif mode == "sort" and groups.groups:
        from .sort import apply_order

        order = dupes_order(len(paths), groups)
        op = apply_order(folder, SortResult([paths[i] for i in order], [], {}), "sort dupes", ctx)
        res["undo_id"] = op.id
    return res
