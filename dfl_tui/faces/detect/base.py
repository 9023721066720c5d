"""What every detector backend provides, and DeepFaceLab's detection rules around it.

A backend is two models: a face *detector* (boxes) and a *landmark* model (68 iBUG
points per box), plus an optional second, more accurate landmark pass. The rules
DeepFaceLab applies around them are the same for every backend and live here
(deepfacelab.md section 2.2/2.3):

* frames are forced to 3 channels and cut to even sizes; frames under 128 px are skipped;
* rotation retry: detect on the frame turned 0, 90, 270, 180 degrees, stopping at the
  first turn that finds anything; boxes and landmarks are turned back;
* boxes with a side under 40 px are dropped, the rest are extended down by 10 % of
  their height (chin room for the landmark model), sorted by area (largest first)
  and cut to ``max_faces``;
* landmarks, then (``accurate``) the second landmark pass;
* at the final stage, a crop whose footprint in the frame is over 4x the box area is
  dropped (face types up to FULL_NO_ALIGN): a sign the landmarks went wrong.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field
from typing import Any, Sequence

import cv2
import numpy as np

MIN_FRAME_SIDE = 128  # DeepFaceLab skips detection on smaller frames
MIN_FACE_SIDE = 40  # boxes with a side below this (frame pixels) are dropped
CHIN_EXTEND = 0.10  # the box bottom moves down by this fraction of its height
MAX_AREA_RATIO = 4.0  # crop footprint / box area above this: dropped (types <= FULL_NO_ALIGN)
ROTATIONS = (0, 90, 270, 180)  # DeepFaceLab's retry order


@dataclass
class Candidate:
    """A detector box (frame pixels of the image it was found in) and backend data."""

    rect: np.ndarray  # l, t, r, b float32
    score: float
    raw: Any = None  # backend-specific (BlazeFace keeps its keypoints here)


@dataclass
class Fit:
    """Landmarks of one face and what the backend needs for its second pass."""

    lm68: np.ndarray  # 68 x 2 float32
    aux: Any = None  # backend-specific (FaceMesh keeps its 468 points here)
    refined: bool = False
    score: float = math.inf  # the landmark model's confidence, where it has one


@dataclass
class FaceFound:
    """One face in a frame: the result the extract step writes out."""

    rect: np.ndarray  # l, t, r, b float32, frame pixels (chin-extended detector box)
    landmarks: np.ndarray  # 68 x 2 float32, frame pixels
    score: float
    angle: int = 0  # the frame rotation it was found at
    refined: bool = False  # the second landmark pass was applied


@dataclass
class StageTimes:
    """Seconds spent per stage (summed over calls), for ``bench`` and the job log."""

    detect: float = 0.0
    landmarks: float = 0.0
    refine: float = 0.0
    extra: dict = field(default_factory=dict)

    def add(self, other: "StageTimes") -> None:
        self.detect += other.detect
        self.landmarks += other.landmarks
        self.refine += other.refine


class Backend:
    """Base class: subclasses implement :meth:`detect`, :meth:`landmarks` and :meth:`refine`."""

    name = "?"
    device = "cpu"
    batch_size = 8  # frames per detector call that suits this backend and device
    strong_score = -math.inf  # fits scoring below this are weak: other rotations are tried too

    def fit_score(self, fit: Fit) -> float:
        return fit.score

    def describe(self) -> str:
        return self.name

    def detect(self, images: Sequence[np.ndarray]) -> list[list[Candidate]]:
        """Boxes per image (BGR uint8), unfiltered, in that image's pixels."""
        raise NotImplementedError

    def landmarks(self, images: Sequence[np.ndarray], cands: Sequence[Sequence[Candidate]]) -> list[list[Fit | None]]:
        """68 landmarks per candidate (None: the landmark model rejects the box)."""
        raise NotImplementedError

    def refine(self, images: Sequence[np.ndarray], fits: Sequence[Sequence[Fit]]) -> list[list[Fit]]:
        """The second, more accurate landmark pass; returns the fits to keep."""
        return [list(f) for f in fits]

    def close(self) -> None:
        pass


# ---------------------------------------------------------------------------
# Frames and rotations
# ---------------------------------------------------------------------------


def prepare_frame(img: np.ndarray) -> np.ndarray:
    """Force 3 channels (gray and alpha frames happen) and cut odd sizes to even, as DeepFaceLab."""
    if img.ndim == 2:
        img = cv2.cvtColor(img, cv2.COLOR_GRAY2BGR)
    elif img.shape[2] == 4:
        img = cv2.cvtColor(img, cv2.COLOR_BGRA2BGR)
    elif img.shape[2] == 1:
        img = cv2.cvtColor(img, cv2.COLOR_GRAY2BGR)
    if img.dtype != np.uint8:
        if img.dtype == np.uint16:
            img = (img >> 8).astype(np.uint8)
        else:
            img = np.clip(img, 0, 255).astype(np.uint8)
    h, w = img.shape[:2]
    if h % 2 or w % 2:
        img = img[: h - h % 2, : w - w % 2]
    return np.ascontiguousarray(img)


_ROT_CODES = {90: cv2.ROTATE_90_CLOCKWISE, 180: cv2.ROTATE_180, 270: cv2.ROTATE_90_COUNTERCLOCKWISE}


def rotate_image(img: np.ndarray, angle: int) -> np.ndarray:
    """The frame turned clockwise by ``angle`` (0, 90, 180, 270)."""
    return img if angle == 0 else cv2.rotate(img, _ROT_CODES[angle])


def unrotate_points(pts: np.ndarray, angle: int, shape: Sequence[int]) -> np.ndarray:
    """Points found in ``rotate_image(frame, angle)`` -> the frame's pixels (``shape`` = frame's h, w)."""
    p = np.asarray(pts, np.float32).reshape(-1, 2)
    if angle == 0:
        return p.copy()
    h, w = shape[:2]
    u, v = p[:, 0], p[:, 1]
    if angle == 90:  # clockwise: frame (x, y) -> (h-1-y, x)
        x, y = v, (h - 1) - u
    elif angle == 270:  # counter-clockwise: frame (x, y) -> (y, w-1-x)
        x, y = (w - 1) - v, u
    elif angle == 180:
        x, y = (w - 1) - u, (h - 1) - v
    else:
        raise ValueError(f"rotation must be 0, 90, 180 or 270, not {angle}")
    return np.stack([x, y], axis=1).astype(np.float32)


def unrotate_rect(rect: np.ndarray, angle: int, shape: Sequence[int]) -> np.ndarray:
    l, t, r, b = [float(v) for v in rect[:4]]
    pts = unrotate_points(np.float32([[l, t], [r, b]]), angle, shape)
    lo, hi = pts.min(0), pts.max(0)
    return np.array([lo[0], lo[1], hi[0], hi[1]], np.float32)


# ---------------------------------------------------------------------------
# Box rules
# ---------------------------------------------------------------------------


def filter_boxes(cands: Sequence[Candidate], max_faces: int = 0) -> list[Candidate]:
    """DeepFaceLab's post-filter: drop small boxes, extend chins, sort by area, keep ``max_faces``."""
    kept = []
    for c in cands:
        l, t, r, b = [float(v) for v in c.rect[:4]]
        if min(r - l, b - t) < MIN_FACE_SIDE:
            continue
        b = b + (b - t) * CHIN_EXTEND
        kept.append(Candidate(np.array([l, t, r, b], np.float32), c.score, c.raw))
    kept.sort(key=lambda c: -float((c.rect[2] - c.rect[0]) * (c.rect[3] - c.rect[1])))
    if max_faces and max_faces > 0:
        kept = kept[:max_faces]
    return kept


def rect_area(rect: Sequence[float]) -> float:
    l, t, r, b = [float(v) for v in rect[:4]]
    return max(0.0, r - l) * max(0.0, b - t)


def crop_footprint_area(mat: np.ndarray, size: int) -> float:
    """Area in the frame of the ``size`` square an aligned crop covers (``mat``: frame -> face)."""
    inv = cv2.invertAffineTransform(np.asarray(mat, np.float64))
    return abs(float(np.linalg.det(inv[:, :2]))) * size * size


def area_ok(rect: Sequence[float], mat: np.ndarray, size: int, face_type: int) -> bool:
    """The sanity filter: False when the crop's footprint is over 4x the box (types <= FULL_NO_ALIGN)."""
    if int(face_type) > 3:  # FaceType.FULL_NO_ALIGN
        return True
    area = rect_area(rect)
    return area > 0 and crop_footprint_area(mat, size) <= MAX_AREA_RATIO * area


# ---------------------------------------------------------------------------
# The per-batch search
# ---------------------------------------------------------------------------


def find_faces(backend: Backend, frames: Sequence[np.ndarray | None], *, max_faces: int = 0,
               accurate: bool = True, rotations: Sequence[int] = ROTATIONS,
               times: StageTimes | None = None) -> list[list[FaceFound]]:
    """Faces in each frame (BGR, already prepared), largest first, in frame pixels.

    ``None`` frames and frames under 128 px give no faces. Detection runs batched over the
    frames still without a face at each rotation, so a clip of upright faces costs one
    detector call per batch; the second landmark pass runs once, on the kept rotation.

    DeepFaceLab stops at the first rotation with a detection. FAN accepts every box, so for
    s3fd that is also the first rotation with a face. A backend whose landmark model scores
    its fits (mediapipe) may call a fit *weak*: the search then goes on through the other
    rotations and keeps the first with a strong fit, or else the best weak one. That catches
    a face turned far from upright, which the detector finds but mislabels.
    """
    times = times if times is not None else StageTimes()
    results: list[list[FaceFound]] = [[] for _ in frames]
    pending = [i for i, f in enumerate(frames) if f is not None and min(f.shape[:2]) >= MIN_FRAME_SIDE]
    # frame -> (angle, rotated image, [(candidate, fit)], best fit score)
    chosen: dict[int, tuple[int, np.ndarray, list[tuple[Candidate, Fit]], float]] = {}
    tentative: dict[int, tuple[int, np.ndarray, list[tuple[Candidate, Fit]], float]] = {}
    for angle in rotations:
        if not pending:
            break
        imgs = [rotate_image(frames[i], angle) for i in pending]
        t0 = time.perf_counter()
        raw = backend.detect(imgs)
        t1 = time.perf_counter()
        times.detect += t1 - t0
        cands = [filter_boxes(c, max_faces) for c in raw]
        hit = [k for k, c in enumerate(cands) if c]
        if not hit:
            continue
        fits = backend.landmarks([imgs[k] for k in hit], [cands[k] for k in hit])
        times.landmarks += time.perf_counter() - t1
        for j, k in enumerate(hit):
            i = pending[k]
            good = [(c, f) for c, f in zip(cands[k], fits[j]) if f is not None and np.all(np.isfinite(f.lm68))]
            if not good:
                continue
            best = max(backend.fit_score(f) for _c, f in good)
            entry = (angle, imgs[k], good, best)
            if best >= backend.strong_score:
                chosen[i] = entry
            elif i not in tentative or best > tentative[i][3]:
                tentative[i] = entry
        pending = [i for i in pending if i not in chosen]
    for i in pending:
        if i in tentative:
            chosen[i] = tentative[i]
    if accurate and chosen:
        t2 = time.perf_counter()
        order = sorted(chosen)
        refined = backend.refine([chosen[i][1] for i in order], [[f for _c, f in chosen[i][2]] for i in order])
        for i, fl in zip(order, refined):
            angle, img, good, best = chosen[i]
            chosen[i] = (angle, img, [(c, f) for (c, _old), f in zip(good, fl)], best)
        times.refine += time.perf_counter() - t2
    for i, (angle, _img, good, _best) in chosen.items():
        shape = frames[i].shape
        for cand, fit in good:
            if not np.all(np.isfinite(fit.lm68)):
                continue
            results[i].append(FaceFound(
                rect=unrotate_rect(cand.rect, angle, shape),
                landmarks=unrotate_points(fit.lm68, angle, shape),
                score=float(cand.score), angle=angle, refined=fit.refined))
    return results


def rect_side(rect: Sequence[float]) -> float:
    return math.sqrt(rect_area(rect))
