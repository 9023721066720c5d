"""Reference faces and the keep/reject filter of ``extract-faces --reference``.

A reference is an aligned face (any face file with dfl-tui/DeepFaceLab metadata: its landmarks
are used) or a plain photo of the person (the face is found with the extraction's detector; the
largest one counts). A folder stands for every image in it. A face is kept when its embedding is
within the threshold (dlib: 0.6 euclidean) of its nearest reference.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Sequence

import numpy as np

from ..errors import InputError
from ..jobs.context import Reporter
from .distance import nearest
from .embed import embed_faces
from .models import EmbeddingModel, load_model

NOT_CHECKED = "could not be checked against the reference (no landmarks or unreadable)"


def reference_files(spec: str | os.PathLike) -> list[Path]:
    """The image files ``spec`` names: one image, or the images directly in a folder."""
    from ..workspace import list_images

    p = Path(os.path.expanduser(str(spec)))
    if p.is_dir():
        files = list_images(p)
        if not files:
            raise InputError(f"{p}: no images in this reference folder; put aligned faces or photos of the person "
                             "to keep there")
        return files
    if not p.is_file():
        raise InputError(f"{p}: no such reference file or folder")
    return [p]


def reference_embeddings(spec: str | os.PathLike, model: str | EmbeddingModel | None = None, *,
                         detect: Callable[[np.ndarray], Any] | None = None, ctx: Reporter | None = None) -> np.ndarray:
    """``(R, D)`` embeddings of the reference faces. ``detect(image) -> [FaceFound...]`` finds faces in
    plain photos (default: the offline mediapipe backend)."""
    import cv2

    from ..faces import dflimg

    ctx = ctx or Reporter()
    m = load_model(model)
    files = reference_files(spec)
    aligned, photos = [], []
    for f in files:
        try:
            meta = dflimg.try_read_meta(f)
        except dflimg.FaceFileError as exc:  # damaged metadata: the picture may still show a face
            ctx.warn(f"{exc}; used as a photo")
            meta = None
        (aligned if meta is not None and meta.landmarks is not None else photos).append(f)
    rows = []
    if aligned:
        errors: dict[str, str] = {}
        e = embed_faces(aligned, m, use_cache=False, errors=errors, ctx=ctx, stage="reference faces")
        for why in errors.values():
            raise InputError(f"reference: {why}")
        rows.append(e)
    if photos:
        own = None
        if detect is None:
            from ..faces.detect.base import find_faces
            from ..faces.detect.mediapipe import MediaPipeBackend

            own = MediaPipeBackend()
            detect = lambda img: find_faces(own, [img])[0]  # noqa: E731
        chips = []
        try:
            for f in photos:
                img = cv2.imread(str(f), cv2.IMREAD_COLOR)
                if img is None:
                    raise InputError(f"{f}: not a readable image; give an aligned face or a photo (jpg/png)")
                found = detect(img)
                if not found:
                    raise InputError(f"{f}: no face found in this reference photo; give an aligned face from "
                                     "aligned/ or a photo with one clear face")
                best = max(found, key=lambda ff: (ff.rect[2] - ff.rect[0]) * (ff.rect[3] - ff.rect[1]))
                chips.append(m.chip(img, np.asarray(best.landmarks, np.float32)))
        finally:
            if own is not None:
                own.close()
        rows.append(m.embed_chips(chips))
    refs = np.concatenate(rows).astype(np.float32)
    ctx.log(f"{len(refs)} reference face(s) from {spec} ({len(aligned)} aligned, {len(photos)} photo(s))")
    return refs


@dataclass
class FilterResult:
    keep: list[Path]
    reject: list[Path]
    unchecked: list[Path]
    distance: dict[str, float] = field(default_factory=dict)  # face name -> distance to the nearest reference
    threshold: float = 0.0
    rescued: list[Path] = field(default_factory=list)  # kept as part of a kept face's track (also in keep)


TRACK_SLACK = 1.2  # a face up to this times the threshold away ...
TRACK_FRAMES = 2  # ... within this many frames of a kept face ...
TRACK_IOU = 0.3  # ... at this overlap of its box with that face's is the same person (blur, occlusion)


def _iou(a: np.ndarray, b: np.ndarray) -> float:
    w = min(a[2], b[2]) - max(a[0], b[0])
    h = min(a[3], b[3]) - max(a[1], b[1])
    if w <= 0 or h <= 0:
        return 0.0
    inter = w * h
    return float(inter / ((a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter))


def track_rescue(frames: Sequence[str | None], rects: Sequence[np.ndarray | None], d: np.ndarray, keep: np.ndarray,
                 threshold: float) -> np.ndarray:
    """Faces a little over the threshold (blurred, half hidden, turned) that continue a kept face's track:
    within :data:`TRACK_FRAMES` frames of a kept face, their boxes overlapping by :data:`TRACK_IOU`.
    Spreads along the track (a run of blurred frames next to a clear one). Returns the new keep mask."""
    keep = keep.copy()
    order = sorted({f for f in frames if f is not None})
    stems = [Path(f).stem for f in order]
    # frame numbers when the names are numbers (extract-frames' 00001.png...), else their order
    index = {f: (int(st) if all(x.isdigit() for x in stems) else i) for i, (f, st) in enumerate(zip(order, stems))}
    pos = np.array([index.get(f, -10**9) if f is not None else -10**9 for f in frames])
    cand = [i for i in range(len(d)) if not keep[i] and np.isfinite(d[i]) and d[i] <= TRACK_SLACK * threshold
            and rects[i] is not None and frames[i] is not None]
    changed = True
    while changed and cand:
        changed = False
        for i in list(cand):
            near = np.nonzero(keep & (np.abs(pos - pos[i]) <= TRACK_FRAMES))[0]
            if any(rects[j] is not None and _iou(rects[i], rects[j]) >= TRACK_IOU for j in near):
                keep[i] = True
                cand.remove(i)
                changed = True
    return keep


def filter_by_reference(paths: Sequence[Path], refs: np.ndarray, model: str | EmbeddingModel | None = None, *,
                        threshold: float | None = None, ctx: Reporter | None = None, track: bool = True,
                        anchors: Sequence[Path] = ()) -> FilterResult:
    """Split aligned faces into the reference person (within ``threshold`` of a reference, or, with ``track``,
    a little over it on a kept face's track: :func:`track_rescue`) and the rest. ``anchors`` are faces
    kept before (an earlier run of the same extraction): not checked again, but their tracks count."""
    m = load_model(model)
    thr = float(m.threshold if threshold is None else threshold)
    paths = [Path(p) for p in paths]
    emb = embed_faces(paths, m, ctx=ctx)
    ok = np.isfinite(emb).all(1)
    d = np.full(len(paths), np.nan)
    if ok.any():
        d[ok] = nearest(emb[ok], refs, m.metric)
    first = ok & (d <= thr)
    kept = first
    if track:
        from ..faces import dflimg

        def meta_of(p: Path) -> Any:
            try:
                return dflimg.try_read_meta(p)
            except dflimg.FaceFileError:  # damaged metadata: not tracked (embedding named it already)
                return None

        given = set(paths)
        anchors = [Path(a) for a in anchors if Path(a) not in given]
        metas = [meta_of(p) for p in [*paths, *anchors]]
        frames = [None if m is None or not m.source_filename else m.source_filename for m in metas]
        rects = [None if m is None or m.source_rect is None else np.asarray(m.source_rect, np.float64) for m in metas]
        n_a = len(anchors)
        kept = track_rescue(frames, rects, np.concatenate([d, np.zeros(n_a)]),
                            np.concatenate([first, np.ones(n_a, bool)]), thr)[:len(paths)]
    keep = [p for p, k in zip(paths, kept) if k]
    reject = [p for p, k, o in zip(paths, kept, ok) if o and not k]
    unchecked = [p for p, o in zip(paths, ok) if not o]
    rescued = [p for p, k, f in zip(paths, kept, first) if k and not f]
    return FilterResult(keep, reject, unchecked, {p.name: float(x) for p, x in zip(paths, d) if np.isfinite(x)}, thr,
                        rescued)


CHECKED_FILE = "reference_checked.json"  # in <set>/.identity/


def keep_reference_faces(ctx: Reporter, folder: Path, refs: np.ndarray, *, spec: str, model: str | EmbeddingModel | None,
                         threshold: float | None = None, undo: str = "", action: str = "extract-faces --reference"
                         ) -> dict[str, Any]:
    """Move the faces of ``folder`` that are not the reference person to its trash, with their reason.

    Faces already checked against the same reference and threshold (``.identity/reference_checked.json``)
    are left alone, so faces brought back with ``faceset SIDE undo`` stay when extraction continues."""
    from ..faceset.trash import set_aside
    from ..util.atomic import atomic_write_json, read_json
    from ..workspace import list_images
    from .cache import CACHE_DIR

    m = load_model(model)
    thr = float(m.threshold if not threshold else threshold)
    book_path = folder / CACHE_DIR / CHECKED_FILE
    book = read_json(book_path, None)
    same = isinstance(book, dict) and book.get("reference") == str(spec) and book.get("threshold") == thr \
        and book.get("model") == m.id
    checked: dict[str, list] = dict(book.get("checked") or {}) if same else {}

    def stamp(p: Path) -> list[int]:
        st = p.stat()
        return [int(st.st_size), int(st.st_mtime_ns)]

    # a face counts as checked only as the file it was (a new extraction reuses names)
    faces = [p for p in list_images(folder) if list(checked.get(p.name, [None])[1:]) != stamp(p)]
    if not faces:
        return {"checked": 0, "kept": 0, "rejected": 0, "rescued": 0, "threshold": thr}
    ctx.log(f"checking {len(faces)} face(s) against the reference ({m.describe()}, kept under {thr:g})")
    # faces kept by an earlier run carry their tracks on: a blurred face next to one of them is rescued too
    todo = set(faces)
    anchors = [folder / k for k, v in checked.items() if v and v[0] is not None and folder / k not in todo
               and (folder / k).is_file()]
    res = filter_by_reference(faces, refs, m, threshold=thr, ctx=ctx, anchors=anchors)
    for p in res.unchecked:
        ctx.warn(f"{p.name}: {NOT_CHECKED}; kept")
    if res.reject:
        set_aside(folder, [p.name for p in res.reject], action, ctx, undo=undo,
                  reason=f"not the reference person (identity distance over {thr:g})",
                  distances={p.name: round(res.distance[p.name], 4) for p in res.reject})
    checked = {k: v for k, v in checked.items() if (folder / k).is_file()}
    checked.update({p.name: [round(res.distance[p.name], 4), *stamp(p)] for p in res.keep})
    checked.update({p.name: [None, *stamp(p)] for p in res.unchecked})
    (folder / CACHE_DIR).mkdir(exist_ok=True)
    atomic_write_json(book_path, {"reference": str(spec), "threshold": thr, "model": m.id, "checked": checked},
                      fsync=False, indent=None)
    ctx.log(f"reference filter: {len(res.keep)} face(s) kept"
            + (f" ({len(res.rescued)} of them a little over the threshold on a kept face's track)" if res.rescued else "")
            + f", {len(res.reject)} moved to the trash (not the reference person)"
            + (f", {len(res.unchecked)} not checkable (kept)" if res.unchecked else ""))
    return {"checked": len(faces), "kept": len(res.keep) + len(res.unchecked), "rejected": len(res.reject),
            "rescued": len(res.rescued), "threshold": thr}
