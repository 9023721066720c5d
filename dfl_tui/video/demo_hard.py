"""``dfl-tui demo --hard``: a data_dst.mp4 with two people and the situations that break extraction.

Two public-domain people share each frame, side by side: the astronaut Eileen Collins (scikit-image,
NASA) - the person to keep - and the cameraman (scikit-image's ``camera()``, a near-profile grey
photo) - the other one. Each moves with its own virtual camera (:class:`~dfl_tui.video.demo.Camera`).
Over the clip, by share of its length:

====================  ===========================================================================
0.00-0.15  clean       both faces in plain view
0.15-0.32  occlusion   a bar (a hand, a pole) sweeps across the astronaut's face, covering up to
                       about half of it
0.32-0.45  blur        strong horizontal motion blur over the whole frame (a fast pan)
0.45-0.60  profile     the astronaut's face squeezed to about half its width with a strong
                       perspective turn (a near-profile stand-in)
0.60       scene cut   the two swap sides, closer and with other light
0.85-1.00  alone       the astronaut has left: only the cameraman is in frame
====================  ===========================================================================

Besides the clip (and the plain demo's data_src.mp4), it writes ``reference/`` - aligned faces of
the astronaut from a clean frame before and after the cut, what a user would pick - and
``data_dst_truth.json``: per frame, who is where (face box in frame pixels) and what happens.
Everything is seeded and synthetic (the JSON says so).
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any, Iterator

import numpy as np

from ..jobs.context import Reporter
from .demo import ASTRONAUT, Camera, Portrait

# The cameraman (512x512 grey): face about x 183-255, y 126-205 (found by the mediapipe detector).
CAMERAMAN = Portrait("camera", center=(219.0, 166.0), face=80.0, crop=190.0)
KEEP, OTHER = "astronaut", "cameraman"
PHASES = (("clean", 0.0, 0.15), ("occlusion", 0.15, 0.32), ("blur", 0.32, 0.45), ("profile", 0.45, 0.60),
          ("after-cut", 0.60, 0.85), ("alone", 0.85, 1.0))
CUT = 0.60
TRUTH_FILE = "data_dst_truth.json"
REFERENCE_DIR = "reference"


def phase_of(i: int, n: int) -> str:
    u = i / max(1, n)
    for name, a, b in PHASES:
        if a <= u < b:
            return name
    return PHASES[-1][0]


def _phase_progress(i: int, n: int, name: str) -> float:
    """0..1 through phase ``name`` at frame ``i``."""
    a, b = next((a, b) for nm, a, b in PHASES if nm == name)
    lo, hi = a * n, b * n
    return float(np.clip((i + 0.5 - lo) / max(1e-6, hi - lo), 0.0, 1.0))


def _around(m: np.ndarray, c: tuple[float, float], sx: float, sy: float) -> np.ndarray:
    """``m`` followed by a scale about the point ``c``."""
    t = np.array([[sx, 0, c[0] * (1 - sx)], [0, sy, c[1] * (1 - sy)], [0, 0, 1]], np.float64)
    return t @ m


def _apply(m: np.ndarray, pt: tuple[float, float]) -> tuple[float, float]:
    v = m @ np.array([pt[0], pt[1], 1.0])
    return float(v[0] / v[2]), float(v[1] / v[2])


class HardScene:
    """Where each person is at frame ``i`` (tile matrices and face boxes) and how the frame is made."""

    def __init__(self, n: int, fps: float, size: int, seed: int) -> None:
        self.n, self.fps = n, fps
        self.w = size
        self.tile = size // 2 - (size // 2) % 2
        self.h = self.tile
        self.cams = {KEEP: Camera(seed + 11), OTHER: Camera(seed + 12)}
        self.portraits = {KEEP: ASTRONAUT, OTHER: CAMERAMAN}
        rng = np.random.default_rng(seed + 13)
        small = (rng.uniform(70, 190, (4, 8, 1)) + rng.uniform(-12, 12, (4, 8, 3))).astype(np.float32)
        import cv2

        self.background = cv2.resize(small, (self.tile, self.tile), interpolation=cv2.INTER_CUBIC)

    def matrix(self, who: str, i: int) -> tuple[np.ndarray, int] | None:
        """Photo -> frame homography for ``who`` at frame ``i`` and its tile's x offset; None when absent."""
        ph = phase_of(i, self.n)
        if who == KEEP and ph == "alone":
            return None
        t = i / self.fps
        p = self.portraits[who]
        m = self.cams[who].matrix(t, p, self.tile)
        c = _apply(m, p.center)
        after = i >= CUT * self.n
        if after:  # the new shot: closer
            m = _around(m, c, 1.18, 1.18)
        if who == KEEP and ph == "profile":
            k = math.sin(math.pi * _phase_progress(i, self.n, "profile"))
            sx = 1.0 - 0.5 * k
            persp = np.array([[1, 0, 0], [0, 1, 0], [0.9 * k / self.tile, 0, 1]], np.float64)
            to_c = np.array([[1, 0, -c[0]], [0, 1, -c[1]], [0, 0, 1]], np.float64)
            back = np.array([[1, 0, c[0]], [0, 1, c[1]], [0, 0, 1]], np.float64)
            m = back @ persp @ to_c @ _around(m, c, sx, 1.0)
            # keep the face centre where it was
            c2 = _apply(m, p.center)
            m = np.array([[1, 0, c[0] - c2[0]], [0, 1, c[1] - c2[1]], [0, 0, 1]], np.float64) @ m
        left = (who == KEEP) != after  # before the cut the astronaut is on the left
        return m, (0 if left else self.tile)

    def face_box(self, who: str, i: int) -> list[float] | None:
        got = self.matrix(who, i)
        if got is None:
            return None
        m, x0 = got
        p = self.portraits[who]
        cx, cy = p.center
        h = p.face / 2
        pts = np.array([_apply(m, (cx + dx, cy + dy)) for dx in (-h, h) for dy in (-h, h)])
        x = np.clip(pts[:, 0], 0, self.tile) + x0
        y = np.clip(pts[:, 1], 0, self.h)
        return [round(float(x.min()), 1), round(float(y.min()), 1), round(float(x.max()), 1), round(float(y.max()), 1)]

    def occluder(self, i: int) -> tuple[int, int, int, int] | None:
        """The occluding bar's box (frame pixels) at frame ``i``, during the occlusion phase."""
        if phase_of(i, self.n) != "occlusion":
            return None
        box = self.face_box(KEEP, i)
        if box is None:
            return None
        x0, y0, x1, y1 = box
        fw, fh = x1 - x0, y1 - y0
        u = _phase_progress(i, self.n, "occlusion")
        bw = 0.45 * fw
        cx = x0 - 0.1 * fw + u * (fw * 1.2)
        return int(cx - bw / 2), int(y0 - 0.3 * fh), int(cx + bw / 2), int(y1 + 0.3 * fh)

    def frame(self, i: int, photos: dict[str, np.ndarray]) -> np.ndarray:
        import cv2

        frame = np.zeros((self.h, self.w, 3), np.float32)
        frame[:, :self.tile] = self.background
        frame[:, self.tile:2 * self.tile] = self.background[:, ::-1]
        for who in (KEEP, OTHER):
            got = self.matrix(who, i)
            if got is None:
                continue
            m, x0 = got
            tile = cv2.warpPerspective(photos[who], m, (self.tile, self.tile), flags=cv2.INTER_CUBIC,
                                       borderMode=cv2.BORDER_REFLECT101)
            frame[:, x0:x0 + self.tile] = tile
        occ = self.occluder(i)
        if occ is not None:
            x0, y0, x1, y1 = occ
            bar = np.zeros_like(frame[..., 0])
            cv2.rectangle(bar, (x0, y0), (x1, y1), 1.0, -1)
            bar = cv2.GaussianBlur(bar, (0, 0), 2.0)[..., None]
            rng = np.random.default_rng(i)
            tex = np.array([70, 105, 150], np.float32) + rng.normal(0, 6, frame.shape).astype(np.float32)
            frame = frame * (1 - bar) + tex * bar
        t = i / self.fps
        frame = self.cams[KEEP].light(frame, t).astype(np.float32)
        if i >= CUT * self.n:  # the new shot: warmer and darker
            frame = np.clip(frame * np.array([0.8, 0.92, 1.1], np.float32) - 10, 0, 255)
        if phase_of(i, self.n) == "blur":
            k = max(3, int(0.04 * self.w) | 1)  # 21 px at 512: about a fifth of a face
            kernel = np.zeros((k, k), np.float32)
            kernel[k // 2, :] = 1.0 / k
            frame = cv2.filter2D(frame, -1, kernel, borderType=cv2.BORDER_REFLECT101)
        return np.clip(frame, 0, 255).astype(np.uint8)


def load_photos() -> dict[str, np.ndarray]:
    return {KEEP: ASTRONAUT.load().astype(np.float32), OTHER: CAMERAMAN.load().astype(np.float32)}


def render_hard(n: int, fps: float, size: int, seed: int) -> Iterator[np.ndarray]:
    scene = HardScene(n, fps, size, seed)
    photos = load_photos()
    for i in range(n):
        yield scene.frame(i, photos)


def truth(n: int, fps: float, size: int, seed: int) -> dict[str, Any]:
    """The ground truth of the hard clip: per frame, who is where and what happens."""
    scene = HardScene(n, fps, size, seed)
    frames = []
    for i in range(n):
        people = []
        for who in (KEEP, OTHER):
            box = scene.face_box(who, i)
            if box is not None:
                people.append({"person": who, "bbox": box})
        occ = scene.occluder(i)
        frames.append({"index": i, "frame": f"{i + 1:05d}", "phase": phase_of(i, n), "people": people,
                       "occluder": None if occ is None else list(occ)})
    return {
        "synthetic": True,
        "about": "dfl-tui demo --hard: ground truth of data_dst.mp4 (frame = the file name extract-frames writes)",
        "fps": fps, "width": scene.w, "height": scene.h, "frames_total": n, "seed": seed,
        "people": {KEEP: {"keep": True, "source": "skimage.data.astronaut(): Eileen Collins, NASA, public domain"},
                   OTHER: {"keep": False, "source": "skimage.data.camera(): the cameraman, CC0"}},
        "phases": [{"name": nm, "frames": [int(math.ceil(a * n)), int(math.ceil(b * n)) - 1]} for nm, a, b in PHASES],
        "scene_cut_at": int(math.ceil(CUT * n)),
        "frames": frames,
    }


def write_references(ws_root: Path, n: int, fps: float, size: int, seed: int, ctx: Reporter) -> list[Path]:
    """Aligned faces of the astronaut from a clean frame before and after the cut (what a user would pick)."""
    from ..faces.detect.base import find_faces
    from ..faces.detect.mediapipe import MediaPipeBackend
    from ..faces.dflimg import FaceMeta, save_face
    from ..faces.landmarks import align_face

    scene = HardScene(n, fps, size, seed)
    photos = load_photos()
    out_dir = ws_root / REFERENCE_DIR
    out_dir.mkdir(exist_ok=True)
    picks = [0, min(n - 1, int(math.ceil(CUT * n)) + 1)]
    backend = MediaPipeBackend()
    written: list[Path] = []
    try:
        for i in dict.fromkeys(picks):
            if phase_of(i, n) == "alone":
                continue
            frame = scene.frame(i, photos)
            box = scene.face_box(KEEP, i)
            found = find_faces(backend, [frame])[0]
            hit = [f for f in found if box[0] <= (f.rect[0] + f.rect[2]) / 2 <= box[2]
                   and box[1] <= (f.rect[1] + f.rect[3]) / 2 <= box[3]]
            if not hit:
                ctx.warn(f"demo --hard: no face found for the reference in frame {i + 1}")
                continue
            f = hit[0]
            face, mat, lm = align_face(frame, f.landmarks, 256, "whole_face")
            meta = FaceMeta(face_type="whole_face", landmarks=lm, source_filename=f"{i + 1:05d}.png",
                            source_rect=np.asarray(f.rect, np.float64), source_landmarks=f.landmarks,
                            image_to_face_mat=mat)
            p = out_dir / f"{KEEP}_{i + 1:05d}.jpg"
            save_face(p, face, meta, quality=95)
            written.append(p)
    finally:
        backend.close()
    return written


# ---------------------------------------------------------------------------
# Scoring a face set against the ground truth (tests, and the figures in the README)
# ---------------------------------------------------------------------------


def who_is(face_meta: Any, truth_doc: dict[str, Any]) -> str | None:
    """The person a face (its metadata) shows by the ground truth: the one whose box holds the centre of
    the face's landmarks in its frame; None for a face where nobody is (a false detection)."""
    name = Path(face_meta.source_filename or "").stem
    by_frame = truth_doc.get("_by_frame")
    if by_frame is None:
        by_frame = truth_doc["_by_frame"] = {f["frame"]: f for f in truth_doc["frames"]}
    fr = by_frame.get(name)
    if fr is None:
        return None
    pts = face_meta.source_landmarks if face_meta.source_landmarks is not None else None
    if pts is not None:
        cx, cy = np.asarray(pts, np.float64).mean(0)
    else:
        r = np.asarray(face_meta.source_rect, np.float64)
        cx, cy = (r[0] + r[2]) / 2, (r[1] + r[3]) / 2
    for p in fr["people"]:
        x0, y0, x1, y1 = p["bbox"]
        if x0 <= cx <= x1 and y0 <= cy <= y1:
            return p["person"]
    return None


def score(kept: list[Any], rejected: list[Any], truth_doc: dict[str, Any], person: str = KEEP) -> dict[str, Any]:
    """How well a keep/reject split of faces (their metadata) picks ``person``:

    * ``precision``: of the kept faces, the share that are ``person``;
    * ``recall``: of the faces of ``person`` found by the detector, the share kept;
    * ``frames_kept_share``: of the frames where ``person`` is visible, the share with a kept face of theirs
      (the detector's misses count against it);
    * ``other_frames_share``: of the frames where someone else is visible, the share with a kept face of theirs.
    """
    kept_who = [who_is(m, truth_doc) for m in kept]
    rej_who = [who_is(m, truth_doc) for m in rejected]
    tp = sum(1 for w in kept_who if w == person)
    fp = len(kept_who) - tp
    fn = sum(1 for w in rej_who if w == person)
    visible = {f["frame"] for f in truth_doc["frames"] if any(p["person"] == person for p in f["people"])}
    others = {f["frame"] for f in truth_doc["frames"] if any(p["person"] != person for p in f["people"])}
    kept_frames = {Path(m.source_filename or "").stem for m, w in zip(kept, kept_who) if w == person}
    other_kept = {Path(m.source_filename or "").stem for m, w in zip(kept, kept_who) if w not in (person,)}
    return {
        "kept": len(kept), "rejected": len(rejected), "true_pos": tp, "false_pos": fp, "false_neg": fn,
        "precision": tp / max(1, tp + fp), "recall": tp / max(1, tp + fn),
        "frames_visible": len(visible), "frames_kept": len(kept_frames & visible),
        "frames_kept_share": len(kept_frames & visible) / max(1, len(visible)),
        "frames_other": len(others), "other_frames_kept": len(other_kept & others),
        "other_frames_share": len(other_kept & others) / max(1, len(others)),
    }
