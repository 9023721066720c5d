"""Steadier merges: smooth where each dst face sits, across the frames of its track.

Landmarks found frame by frame jitter by a pixel or two even on a still head, and the
swapped face follows them: it shimmers against the head it is pasted on. Here the dst
faces of a clip are linked into *tracks* (the same face in consecutive frames, matched by
the overlap of their landmark boxes), and the face's placement in each track -- the
similarity that takes the frame to the aligned face: centre, scale, roll -- is smoothed
with a one-euro filter (Casiez et al., CHI 2012: a low-pass whose cutoff rises with the
speed, so slow drift is steadied and real motion follows without lag). The merge is
offline, so the filter runs forward and backward and the two passes are averaged: their
lags cancel (a face moving at constant speed is left where it is). The landmarks keep
their shape in the aligned face (the expression is untouched); only the whole set moves.

A track ends at a frame without the face and at a large jump (a scene cut, or the match
going to another face): centre moving by more than half a face, size changing by more than
a third or roll by more than 25 degrees between two frames. The filter never smooths across
that.

Light on dependencies (numpy, OpenCV through :mod:`dfl_tui.faces.landmarks`); used by the
batch merge and the interactive merger's preview, so both place faces the same way.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Sequence

import numpy as np

from ..faces.landmarks import landmarks_to_unit_mat, transform_points

#: a face matched to the previous frame's face when their landmark boxes overlap this much (IoU)
MATCH_IOU = 0.3
#: a larger change between two frames starts a new track (scene cut, another face)
JUMP_CENTRE = 0.5  # of the face size
JUMP_SCALE = math.log(1.0 + 1.0 / 3.0)
JUMP_ROLL = math.radians(25.0)
#: frames extrapolated at each end of a track before filtering (as filtfilt's odd padding)
PAD = 15


@dataclass(frozen=True)
class OneEuroParams:
    """In cycles per frame (the frame rate is the unit of time); speeds in face sizes (or radians, or
    log-scale) per frame."""

    min_cutoff: float
    beta: float
    d_cutoff: float = 0.05


def params_for(strength: int) -> OneEuroParams | None:
    """The filter of a ``smooth`` strength 0..100 (0: off). 50, the default, steadies detector jitter
    of a few percent of a face; 100 holds a face nearly still unless it really moves."""
    if strength <= 0:
        return None
    k = min(100, int(strength)) / 100.0
    # tuned on synthetic tracks (2 px jitter on a 60 px face, still / steady / fast / shaking heads):
    # at 50 the jitter drops by a half to two thirds, a head moving 8 px a frame is followed within 1.5 px
    return OneEuroParams(min_cutoff=0.3 * 0.01 ** k, beta=2.5 - 2.0 * k)


def _alpha(cutoff: np.ndarray | float) -> np.ndarray | float:
    tau = 1.0 / (2.0 * math.pi * np.asarray(cutoff, np.float64))
    return 1.0 / (1.0 + tau)


def one_euro(x: np.ndarray, p: OneEuroParams) -> np.ndarray:
    """One causal one-euro pass over ``x`` (frames x channels), one frame per time step."""
    x = np.asarray(x, np.float64)
    out = np.empty_like(x)
    out[0] = x[0]
    dx_hat = np.zeros(x.shape[1:], np.float64)
    a_d = _alpha(p.d_cutoff)
    for t in range(1, len(x)):
        dx = x[t] - out[t - 1]
        dx_hat = a_d * dx + (1.0 - a_d) * dx_hat
        a = _alpha(p.min_cutoff + p.beta * np.abs(dx_hat))
        out[t] = a * x[t] + (1.0 - a) * out[t - 1]
    return out


def zero_phase(x: np.ndarray, p: OneEuroParams, pad: int = PAD) -> np.ndarray:
    """Forward and backward one-euro passes averaged, the ends padded by odd reflection (a straight
    line stays straight): no lag at constant speed, and no pull toward the first or last frame."""
    x = np.asarray(x, np.float64)
    n = len(x)
    if n < 3:
        return x.copy()
    k = min(pad, n - 1)
    head = 2 * x[0] - x[k:0:-1]
    tail = 2 * x[-1] - x[-2:-k - 2:-1]
    ext = np.concatenate([head, x, tail])
    fwd = one_euro(ext, p)
    bwd = one_euro(ext[::-1], p)[::-1]
    return ((fwd + bwd) / 2.0)[k:k + n]


# ---------------------------------------------------------------------------
# placement: landmarks <-> (centre, scale, roll)
# ---------------------------------------------------------------------------


def placement(lm: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(unit matrix frame -> mean-face square, [cx, cy, log scale, roll]) of 68 frame landmarks.

    Scale: frame pixels per unit of the mean-face square (about the face's width); centre: the
    square's centre in the frame; roll in radians."""
    u = np.vstack([landmarks_to_unit_mat(lm), [0.0, 0.0, 1.0]])
    v = np.linalg.inv(u)  # unit -> frame
    a, b = v[0, 0], v[1, 0]
    scale = math.hypot(a, b)
    c = v[:2, :2] @ np.array([0.5, 0.5]) + v[:2, 2]
    return u, np.array([c[0], c[1], math.log(max(scale, 1e-9)), math.atan2(b, a)])


def unit_to_frame(p: np.ndarray) -> np.ndarray:
    """3x3 unit -> frame similarity of a placement."""
    s = math.exp(p[2])
    r = s * np.array([[math.cos(p[3]), -math.sin(p[3])], [math.sin(p[3]), math.cos(p[3])]])
    t = np.array([p[0], p[1]]) - r @ np.array([0.5, 0.5])
    return np.array([[r[0, 0], r[0, 1], t[0]], [r[1, 0], r[1, 1], t[1]], [0.0, 0.0, 1.0]])


def landmark_box(lm: np.ndarray) -> np.ndarray:
    """x0, y0, x1, y1 of a landmark set."""
    pts = np.asarray(lm, np.float64)
    return np.concatenate([pts.min(0), pts.max(0)])


def iou(a: np.ndarray, b: np.ndarray) -> float:
    """Intersection over union of two x0, y0, x1, y1 boxes."""
    x0, y0 = max(a[0], b[0]), max(a[1], b[1])
    x1, y1 = min(a[2], b[2]), min(a[3], b[3])
    inter = max(0.0, x1 - x0) * max(0.0, y1 - y0)
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
    return float(inter / union) if union > 0 else 0.0


def is_jump(p0: np.ndarray, p1: np.ndarray) -> bool:
    """Too large a change for one frame: a scene cut or another face."""
    size = math.exp(min(p0[2], p1[2]))
    roll = abs((p1[3] - p0[3] + math.pi) % (2 * math.pi) - math.pi)
    return bool(math.hypot(p1[0] - p0[0], p1[1] - p0[1]) > JUMP_CENTRE * size
                or abs(p1[2] - p0[2]) > JUMP_SCALE or roll > JUMP_ROLL)


# ---------------------------------------------------------------------------
# tracks
# ---------------------------------------------------------------------------


def build_tracks(frames: Sequence[Sequence[np.ndarray]], cuts: Sequence[int] = ()) -> list[list[tuple[int, int]]]:
    """Link the faces of consecutive frames into tracks.

    ``frames[i]``: the landmark sets (68x2, frame pixels) of frame i's faces. Returns tracks as
    lists of (frame, face) in frame order. A face continues the previous frame's track whose box
    overlaps it most (IoU >= MATCH_IOU, each track taken once), unless the step is a jump
    (:func:`is_jump`) or frame i is in ``cuts`` (a known scene cut)."""
    cut_set = set(cuts)
    tracks: list[list[tuple[int, int]]] = []
    open_: dict[int, int] = {}  # face index in the previous frame -> track
    prev_boxes: list[np.ndarray] = []
    prev_place: list[np.ndarray] = []
    for i, faces in enumerate(frames):
        boxes = [landmark_box(lm) for lm in faces]
        places = [placement(lm)[1] for lm in faces]
        pairs = sorted(((iou(b, pb), j, k) for j, b in enumerate(boxes) for k, pb in enumerate(prev_boxes)),
                       reverse=True)
        taken_now: set[int] = set()
        taken_prev: set[int] = set()
        now_open: dict[int, int] = {}
        if i not in cut_set:
            for ov, j, k in pairs:
                if ov < MATCH_IOU or j in taken_now or k in taken_prev or k not in open_:
                    continue
                if is_jump(prev_place[k], places[j]):
                    continue
                t = open_[k]
                tracks[t].append((i, j))
                now_open[j] = t
                taken_now.add(j)
                taken_prev.add(k)
        for j in range(len(faces)):
            if j not in taken_now:
                tracks.append([(i, j)])
                now_open[j] = len(tracks) - 1
        open_, prev_boxes, prev_place = now_open, boxes, places
    return tracks


def smooth_frames(frames: Sequence[Sequence[np.ndarray]], strength: int,
                  cuts: Sequence[int] = ()) -> list[list[np.ndarray]]:
    """``frames`` (landmark sets per frame) with each track's placement smoothed; same structure.

    Strength 0 returns copies of the input unchanged."""
    out = [[np.asarray(lm, np.float32).copy() for lm in faces] for faces in frames]
    p = params_for(strength)
    if p is None:
        return out
    for track in build_tracks(frames, cuts):
        if len(track) < 3:
            continue
        units, places = zip(*(placement(frames[i][j]) for i, j in track))
        x = np.array(places)
        x[:, 3] = np.unwrap(x[:, 3])
        size = float(np.exp(np.median(x[:, 2])))
        x[:, :2] /= size  # positions in face sizes: the same strength for small and large faces
        sm = zero_phase(x, p)
        sm[:, :2] *= size
        for (i, j), u, q in zip(track, units, sm):
            m = unit_to_frame(q) @ u  # frame -> unit (as found) -> frame (smoothed placement)
            out[i][j] = transform_points(frames[i][j], m[:2])
    return out


def jitter(frames: Sequence[Sequence[np.ndarray]]) -> float:
    """Mean frame-to-frame acceleration of the face centres, in face sizes (second differences of the
    placement along each track): a steady face scores near 0, a shaking one high. For tests and figures."""
    acc: list[float] = []
    for track in build_tracks(frames):
        if len(track) < 3:
            continue
        pl = np.array([placement(frames[i][j])[1] for i, j in track])
        size = float(np.exp(np.median(pl[:, 2])))
        d2 = pl[2:, :2] - 2 * pl[1:-1, :2] + pl[:-2, :2]
        acc.extend((np.linalg.norm(d2, axis=1) / size).tolist())
    return float(np.mean(acc)) if acc else 0.0
