"""The sort methods of ``dfl-tui sort``, one row of a table each.

A method is a *measure* (one face file -> a number, a pair or a small vector; run
over the set in threads by :func:`dfl_tui.faceset.parallel.map_faces`) and an
*order* (the measurements -> the new order, the faces to reject and why, and the
value sorted on). :data:`METHODS` holds them by their DeepFaceLab names; the
descriptions users see are in :data:`dfl_tui.faceset.options.SORT_METHODS`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Any, Callable, Sequence

import numpy as np

from . import features as F
from .ordering import dissimilarity_scores, greedy_chain, oneface_split, order_by, select_final

# ---------------------------------------------------------------------------
# Measures: one face file -> a value (an exception marks the face unreadable)
# ---------------------------------------------------------------------------


def _need_meta(data: bytes, p: Path) -> F.FaceMeta:
    meta = F.try_meta(data, str(p))
    if meta is None:
        raise F.FaceFileError(f"{p}: no face metadata (not an aligned face)")
    if meta.landmarks is None:
        raise F.FaceFileError(f"{p}: no landmarks in its face metadata")
    return meta


def _hull_meta(data: bytes, p: Path) -> F.FaceMeta | None:
    """Metadata for measures that only narrow to the face hull when they have it: a face with
    damaged metadata is measured whole, as one without (sorting by sharpness needs no landmarks)."""
    try:
        return F.try_meta(data, str(p))
    except F.FaceFileError:
        return None


def blur_value(p: Path) -> float:
    data = F.read_bytes(p)
    gray = F.decode(data, str(p), gray=True)
    meta = _hull_meta(data, p)
    return F.cpbd(gray, F.hull_mask(gray.shape, meta))


def motion_value(p: Path) -> float:
    data = F.read_bytes(p)
    gray = F.decode(data, str(p), gray=True)
    meta = _hull_meta(data, p)
    return F.motion_blur_score(gray, F.hull_mask(gray.shape, meta))


def pose_value(p: Path) -> tuple[float, float]:
    data = F.read_bytes(p)
    meta = _need_meta(data, p)
    size = F.image_size(data)
    if size is None:
        size = F.decode(data, str(p)).shape[1::-1]
    return F.pose(meta, size[0])


def rect_value(p: Path) -> float:
    data = F.read_bytes(p)
    return F.rect_area(_need_meta(data, p))


def colour_hist_value(p: Path) -> np.ndarray:
    data = F.read_bytes(p)
    return F.colour_hist(F.decode(data, str(p), F.reduce_for(data, 64)))


def gray_hist_value(p: Path) -> np.ndarray:
    data = F.read_bytes(p)
    r = F.reduce_for(data, 64)
    gray = F.decode(data, str(p), r, gray=True)
    meta = _hull_meta(data, p)
    return F.gray_hist(gray, F.hull_mask(gray.shape, meta, 1.0 / r))


def hsv_value(p: Path) -> tuple[float, float]:
    data = F.read_bytes(p)
    return F.hsv_means(F.decode(data, str(p), F.reduce_for(data, 64)))


def black_value(p: Path) -> float:
    data = F.read_bytes(p)
    return float(np.count_nonzero(F.decode(data, str(p)) == 0))


def origname_value(p: Path) -> str:
    data = F.read_bytes(p)
    meta = _need_meta(data, p)
    return meta.source_filename or p.name


def tiny_value(p: Path) -> np.ndarray:
    data = F.read_bytes(p)
    return F.tiny(F.decode(data, str(p), F.reduce_for(data, 32)), 16)


def final_value(p: Path, fast: bool) -> tuple[float, float, float, np.ndarray]:
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

# ---------------------------------------------------------------------------
# Orders: the measured values -> the new order
# ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Params:
    """What a sort was asked for, beyond the method."""

    target: int = 2000  # final / final-fast: how many faces to keep
    dissimilar: bool = False  # absdiff: most different first
    identity_model: str = "dlib"  # identity: the embedding model (dfl_tui.identity.models)


@dataclass
class Ordered:
    """An order over the measured faces (positions in the list of values)."""

    order: list[int]  # kept, in the new order
    rejected: list[int] = field(default_factory=list)  # to the trash, for ``why``
    why: str = ""
    scores: np.ndarray | None = None  # per measured face, the value sorted on


def _by_value(pick: Callable[[np.ndarray], np.ndarray] | None = None, *, descending: bool = True):
    """Order by a scalar (or one column of a pair), largest first unless ``descending`` is False."""

    def order(values: list[Any], names: Sequence[str], p: Params) -> Ordered:
        v = np.array(values, np.float64)
        if pick is not None:
            v = pick(v.reshape(-1, 2))
        return Ordered([int(i) for i in order_by(v, descending)], scores=v)

    return order


def _blur_order(values: list[Any], names: Sequence[str], p: Params) -> Ordered:
    """Sharpest first; a face with no sharp edge at all (flat, blank) is rejected."""
    v = np.array(values, np.float64)
    ranked = order_by(v)
    flat = v <= 0.0
    return Ordered([int(i) for i in ranked if not flat[i]], [int(i) for i in ranked if flat[i]],
                   "no sharp edges at all", v)


def _origname_order(values: list[Any], names: Sequence[str], p: Params) -> Ordered:
    return Ordered(sorted(range(len(values)), key=lambda i: (str(values[i]), names[i])))


def _oneface_order(values: list[Any], names: Sequence[str], p: Params) -> Ordered:
    keep, trash = oneface_split(names)
    return Ordered(keep, trash, "frame has several faces")


def _hist_chain_order(values: list[Any], names: Sequence[str], p: Params) -> Ordered:
    return Ordered(greedy_chain(np.stack(values)).tolist())


def _hist_dissim_order(values: list[Any], names: Sequence[str], p: Params) -> Ordered:
    v = dissimilarity_scores(np.stack(values))
    return Ordered([int(i) for i in order_by(v)], scores=v)


def _absdiff_order(values: list[Any], names: Sequence[str], p: Params) -> Ordered:
    return Ordered(greedy_chain(np.stack(values), farthest=p.dissimilar, distance="l1").tolist())


def identity_values(paths: Sequence[Path], ctx: Any, p: Params) -> list[Any]:
    """Every face's identity embedding (one batch, through the set's cache); a face that fails gives its error."""
    from ..errors import InputError
    from ..identity.embed import embed_faces

    errors: dict[str, str] = {}
    emb = embed_faces(paths, p.identity_model, ctx=ctx, errors=errors)
    return [InputError(errors.get(str(q), f"{q}: no identity embedding")) if not np.isfinite(e).all() else e
            for q, e in zip(paths, emb)]


def _identity_order(values: list[Any], names: Sequence[str], p: Params) -> Ordered:
    """The set's main person first (nearest its centre first), then the other people, each gathered."""
    from ..identity.grouping import identity_order
    from ..identity.models import load_model

    m = load_model(p.identity_model)
    order, d = identity_order(np.stack(values), m.threshold, m.metric)
    return Ordered(order, scores=d)


def _final_order(values: list[Any], names: Sequence[str], p: Params) -> Ordered:
    sharp, yaw, pitch = (np.array([v[k] for v in values], np.float64) for k in range(3))
    hists = np.stack([v[3] for v in values])
    keep, drop = select_final(yaw, pitch, sharp, hists, p.target)
    return Ordered(keep, drop, f"beyond the target of {p.target}")


# ---------------------------------------------------------------------------
# The table
# ---------------------------------------------------------------------------


@dataclass(frozen=True)
class SortMethod:
    measure: Callable[[Path], Any] | None  # None: the order needs only the file names
    order: Callable[[list[Any], Sequence[str], Params], Ordered]
    stage: str = "reading faces"  # the progress stage while measuring
    then: str = ""  # the stage while ordering, when ordering takes a while
    measure_all: Callable[[Sequence[Path], Any, Params], list[Any]] | None = None  # the whole set at once


METHODS: dict[str, SortMethod] = {
    "blur": SortMethod(blur_value, _blur_order, "measuring sharpness"),
    "motion-blur": SortMethod(motion_value, _by_value(), "measuring sharpness"),
    "face-yaw": SortMethod(pose_value, _by_value(lambda a: a[:, 1]), "estimating pose"),
    "face-pitch": SortMethod(pose_value, _by_value(lambda a: a[:, 0]), "estimating pose"),
    "face-source-rect-size": SortMethod(rect_value, _by_value()),
    "hist": SortMethod(colour_hist_value, _hist_chain_order, "histograms", "chaining similar faces"),
    "hist-dissim": SortMethod(gray_hist_value, _hist_dissim_order, "histograms", "comparing every pair"),
    "brightness": SortMethod(hsv_value, _by_value(lambda a: a[:, 1])),
    "hue": SortMethod(hsv_value, _by_value(lambda a: a[:, 0])),
    "black": SortMethod(black_value, _by_value(descending=False), "counting black pixels"),
    "origname": SortMethod(origname_value, _origname_order),
    "oneface": SortMethod(None, _oneface_order),
    "absdiff": SortMethod(tiny_value, _absdiff_order, "small copies", "chaining by pixel difference"),
    "final": SortMethod(partial(final_value, fast=False), _final_order, "measuring faces", "choosing the best faces"),
    "final-fast": SortMethod(partial(final_value, fast=True), _final_order, "measuring faces",
                             "choosing the best faces"),
    "identity": SortMethod(None, _identity_order, "identity embeddings", "grouping people",
                           measure_all=identity_values),
}
