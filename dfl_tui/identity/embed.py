"""Embeddings of aligned face files, through each set's cache (:mod:`.cache`).

:func:`embed_faces` is the API the rest of dfl-tui uses (sort, grouping, the reference filter,
``evaluate``): paths in, an ``(N, D)`` float32 array out, in the order given. A face that cannot
be embedded (unreadable, no metadata or landmarks) gets a row of NaN and its reason in
``errors``. It runs in job processes only (it imports dlib or onnxruntime).
"""

from __future__ import annotations

import os
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Sequence

import numpy as np

from ..errors import InputError
from ..jobs.context import Reporter
from .cache import EmbeddingCache, content_key
from .models import EmbeddingModel, load_model

BATCH = 32


def face_chip(model: EmbeddingModel, data: bytes, path: Path) -> tuple[np.ndarray, str]:
    """The model's input crop of an aligned face file (its bytes) and the face's content key."""
    from ..faces import dflimg

    meta = dflimg.meta_from_bytes(data, str(path))
    if meta.landmarks is None:
        raise InputError(f"{path}: its metadata has no landmarks; extract the face again")
    img = dflimg.decode_image(data, str(path))
    return model.chip(img, meta.landmarks), content_key(path, data, meta.landmarks)


def _read(path: Path) -> bytes:
    try:
        return path.read_bytes()
    except OSError as exc:
        raise InputError(f"{path}: cannot read it ({exc.strerror})") from None


def embed_faces(paths: Sequence[str | os.PathLike], model: str | EmbeddingModel | None = None, *,
                ctx: Reporter | None = None, use_cache: bool = True, errors: dict[str, str] | None = None,
                stage: str = "identity embeddings", workers: int = 2) -> np.ndarray:
    """``(len(paths), D)`` float32 embeddings of aligned faces, in order; NaN rows for faces that fail
    (their reason in ``errors``, by path). Cached per folder for ``model`` (default dlib's ResNet)."""
    ctx = ctx or Reporter()
    m = load_model(model)
    paths = [Path(p) for p in paths]
    n = len(paths)
    out: list[np.ndarray | None] = [None] * n
    caches: dict[Path, EmbeddingCache] = {}
    stats: list[os.stat_result | None] = [None] * n
    if use_cache:
        for i, p in enumerate(paths):
            c = caches.get(p.parent)
            if c is None:
                c = caches[p.parent] = EmbeddingCache(p.parent, m.id, m.dim)
                if c.problem:
                    ctx.warn(c.problem)
            out[i], stats[i] = c.lookup(p)
    todo = [i for i in range(n) if out[i] is None]
    hits = n - len(todo)
    ctx.stage(stage, n, "faces")
    ctx.progress(hits, n)
    fails: dict[str, str] = {}

    def prepare(i: int):
        p = paths[i]
        try:
            chip, key = face_chip(m, _read(p), p)
            return chip, key
        except Exception as exc:  # noqa: BLE001 - reported per face, the rest go on
            return exc

    done = hits
    computed = 0
    with ThreadPoolExecutor(max_workers=max(1, workers)) as pool:
        for b in range(0, len(todo), BATCH):
            ctx.check_cancel()
            idx = todo[b:b + BATCH]
            prepared = list(pool.map(prepare, idx))
            need: list[tuple[int, np.ndarray, str]] = []
            for i, r in zip(idx, prepared):
                if isinstance(r, Exception):
                    fails[str(paths[i])] = str(r)
                    continue
                chip, key = r
                c = caches.get(paths[i].parent)
                known = c.by_key(key) if c is not None else None
                if known is not None:  # renamed, or only its metadata changed
                    out[i] = known
                    if stats[i] is not None:
                        c.touch(paths[i], stats[i], key)
                    hits += 1
                else:
                    need.append((i, chip, key))
            if need:
                vecs = m.embed_chips([c for _, c, _ in need])
                computed += len(need)
                for (i, _, key), v in zip(need, vecs):
                    out[i] = v
                    c = caches.get(paths[i].parent)
                    if c is not None and stats[i] is not None:
                        c.put(paths[i], stats[i], key, v)
            done += len(idx)
            ctx.progress(min(done, n), n, computed=computed, cached=hits)
    for c in caches.values():
        try:
            c.save()
        except OSError as exc:
            ctx.warn(f"{c.dir}: the embedding cache could not be written ({exc}); the faces will be embedded again "
                     "next time")
    if errors is not None:
        errors.update(fails)
    dim = m.dim or next((len(v) for v in out if v is not None), 0)
    arr = np.full((n, dim), np.nan, np.float32)
    for i, v in enumerate(out):
        if v is not None:
            arr[i] = v
    return arr
