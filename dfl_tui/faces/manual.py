"""Manual face extraction (DeepFaceLab §2.6) without a window: the logic behind the terminal screen.

* **Fitting a user's box.** The extraction backends (:mod:`dfl_tui.faces.detect`) take
  detector candidates; a square the user placed becomes one candidate and goes through
  the same ``landmarks`` + ``refine`` (DeepFaceLab's "accurate" second pass) as an
  automatic detection. The offline ``mediapipe`` backend is OpenCV only and runs in a
  thread of the UI process (:class:`BoxFitter`); ``s3fd`` (face-alignment's FAN, torch)
  runs in a helper process (:class:`FitterProcess`) so torch never loads in the UI.
* **Force landmarks.** When the landmark model cannot fit (a face turned away, covered),
  the mean face is placed by a vector the user draws from the nose tip towards the top
  of the head (:func:`forced_landmarks`).
* **Writing.** Accepted faces go through the extractor's :class:`~dfl_tui.faces.face_writer.FaceWriter`
  (same names, metadata, thumbnails and ``aligned_debug`` image as automatic extraction).
  Faces that a frame already had are moved to the set's trash first (undoable), never
  overwritten.
* **Which frames.** Every frame, the frames where extraction found no face
  (``aligned/.noface.json``), or, for ``--fix-deleted-debug``, the frames whose
  ``aligned_debug`` image is gone (deleted in the reviewer because the face was wrong)
  plus the frames that had no face (DeepFaceLab's ``--manual-output-debug-fix``).
"""

from __future__ import annotations

import math
import multiprocessing as mp
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any, NamedTuple, Sequence

import numpy as np

from ..errors import DflError, InputError
from ..workspace import list_images
from .facetype import FaceType

MIN_BOX = 5  # DeepFaceLab's smallest rect side


# ---------------------------------------------------------------------------
# Boxes and forced landmarks
# ---------------------------------------------------------------------------


def box_rect(cx: float, cy: float, size: float) -> np.ndarray:
    """A square box (l, t, r, b) of side ``size`` centred on (cx, cy)."""
    h = max(MIN_BOX, size) / 2.0
    return np.array([cx - h, cy - h, cx + h, cy + h], np.float32)


def wheel_step(size: float) -> float:
    """DeepFaceLab's resize step: 1 px up to 40 px, then size/10 clamped to 1..10."""
    return 1.0 if size <= 40 else float(min(10.0, max(1.0, size / 10.0)))


def forced_landmarks(center: Sequence[float], vector: Sequence[float]) -> np.ndarray:
    """The mean face with its nose tip at ``center``, turned and scaled by ``vector`` (towards the top of the head)."""
    from .landmarks import mean_face_68

    return mean_face_68(center, vector)


def default_vector(rect: Sequence[float]) -> tuple[float, float]:
    """A straight-up vector as long as the box: the force-landmarks starting point."""
    l, t, r, b = [float(v) for v in rect[:4]]
    return 0.0, -(b - t) * 0.9


def _candidate(backend_name: str, rect: np.ndarray) -> Any:
    """A detector candidate for a user's box; mediapipe also needs eye keypoints (level eyes)."""
    from .detect.base import Candidate

    rect = np.asarray(rect, np.float32)
    if backend_name != "mediapipe":
        return Candidate(rect, 1.0)
    l, t, r, b = [float(v) for v in rect]
    w, h = r - l, b - t
    row = np.zeros(17, np.float32)
    row[:4] = rect
    kps = [(l + 0.3 * w, t + 0.4 * h), (l + 0.7 * w, t + 0.4 * h), (l + 0.5 * w, t + 0.6 * h),
           (l + 0.5 * w, t + 0.78 * h), (l + 0.1 * w, t + 0.45 * h), (l + 0.9 * w, t + 0.45 * h)]
    row[4:16] = np.asarray(kps, np.float32).ravel()
    row[16] = 1.0
    return Candidate(rect, 1.0, row)


def fit_box(backend: Any, frame: np.ndarray, rect: np.ndarray, accurate: bool = True) -> np.ndarray | None:
    """68 landmarks (frame pixels) for a box, or None when the landmark model rejects it."""
    name = getattr(backend, "name", "?")
    fits = backend.landmarks([frame], [[_candidate(name, rect)]])
    fit = fits[0][0]
    if fit is None:
        return None
    if accurate:
        fit = backend.refine([frame], [[fit]])[0][0]
    lm = np.asarray(fit.lm68, np.float32)
    return lm if np.all(np.isfinite(lm)) else None


# ---------------------------------------------------------------------------
# Fitters: in a thread (mediapipe) or in a helper process (s3fd / torch)
# ---------------------------------------------------------------------------


class BoxFitter:
    """Landmarks for boxes with a backend loaded in this process (use for OpenCV-only backends)."""

    def __init__(self, detector: str = "mediapipe", device: str = "cpu", three_d: bool = False,
                 weights_dir: str | None = None) -> None:
        from .detect import create_backend

        self.name = detector
        self.backend = create_backend(detector, device=device, three_d=three_d, weights_dir=weights_dir)
        self.lock = threading.Lock()

    def describe(self) -> str:
        return self.backend.describe()

    def fit(self, frame: np.ndarray, rect: np.ndarray, accurate: bool = True) -> np.ndarray | None:
        with self.lock:
            return fit_box(self.backend, frame, rect, accurate)

    def close(self) -> None:
        self.backend.close()


def _serve(conn: Any, detector: str, device: str, three_d: bool, weights_dir: str | None) -> None:
    """The helper process: load the backend once, answer (frame, rect, accurate) requests."""
    try:
        fitter = BoxFitter(detector, device, three_d, weights_dir)
        conn.send(("ready", fitter.describe()))
    except BaseException as exc:  # noqa: BLE001 - reported to the UI
        conn.send(("error", f"{type(exc).__name__}: {exc}"))
        return
    while True:
        try:
            req = conn.recv()
        except EOFError:
            return
        if req is None:
            return
        frame, rect, accurate = req
        try:
            conn.send(("ok", fitter.fit(frame, rect, accurate)))
        except BaseException as exc:  # noqa: BLE001
            conn.send(("error", f"{type(exc).__name__}: {exc}"))


class FitterProcess:
    """The same interface as :class:`BoxFitter`, served by a spawned process (torch stays out of the UI)."""

    def __init__(self, detector: str = "s3fd", device: str = "cpu", three_d: bool = False,
                 weights_dir: str | None = None, timeout: float = 300.0) -> None:
        ctx = mp.get_context("spawn")
        self.conn, child = ctx.Pipe()
        self.proc = ctx.Process(target=_serve, args=(child, detector, device, three_d, weights_dir), daemon=True,
                                name="dfl-tui-landmarks")
        self.proc.start()
        child.close()
        self.lock = threading.Lock()
        if not self.conn.poll(timeout):
            self.close()
            raise DflError(f"the {detector} landmark helper did not start within {timeout:.0f}s")
        kind, what = self.conn.recv()
        if kind != "ready":
            self.close()
            raise DflError(f"the {detector} landmark model could not load: {what}")
        self.description = str(what) + " (helper process)"

    def describe(self) -> str:
        return self.description

    def fit(self, frame: np.ndarray, rect: np.ndarray, accurate: bool = True) -> np.ndarray | None:
        with self.lock:
            self.conn.send((np.ascontiguousarray(frame), np.asarray(rect, np.float32), bool(accurate)))
            kind, value = self.conn.recv()
        if kind != "ok":
            raise DflError(f"landmarks failed: {value}")
        return value

    def close(self) -> None:
        try:
            self.conn.send(None)
        except (OSError, BrokenPipeError, ValueError):
            pass
        self.proc.join(timeout=3)
        if self.proc.is_alive():
            self.proc.terminate()
            self.proc.join(timeout=3)


def make_fitter(detector: str = "auto", device: str = "auto", three_d: bool = False,
                weights_dir: str | None = None) -> Any:
    """A fitter for ``detector`` (auto/s3fd/mediapipe/manual): mediapipe in-process, s3fd in a helper process."""
    from .detect import resolve_detector

    name = "auto" if detector in ("manual", "", None) else detector
    name, _why = resolve_detector(name, three_d=three_d, weights_dir=weights_dir)
    if name == "mediapipe":
        return BoxFitter("mediapipe", "cpu")
    dev = "cuda" if device == "auto" else device
    try:
        return FitterProcess(name, dev, three_d, weights_dir)
    except DflError:
        if device == "auto":
            return FitterProcess(name, "cpu", three_d, weights_dir)
        raise


# ---------------------------------------------------------------------------
# Frames and faces of a manual session
# ---------------------------------------------------------------------------


class SetFormat(NamedTuple):
    face_type: FaceType
    size: int
    ext: str
    border: str  # fill past the frame edge: black | replicate


def set_format(aligned: Path) -> SetFormat | None:
    """Face type, size, extension and border fill of a faceset's first readable face: manual faces match the set."""
    from .dflimg import FaceFileError, read_meta
    from .extract_state import extraction_border, face_border

    for p in list_images(aligned)[:20]:
        try:
            meta = read_meta(p)
        except FaceFileError:
            continue
        import cv2

        img = cv2.imread(str(p), cv2.IMREAD_GRAYSCALE)
        if img is None:
            continue
        return SetFormat(FaceType.from_string(meta.face_type), int(img.shape[0]), p.suffix.lstrip(".").lower(),
                         face_border(meta, extraction_border(aligned)))
    return None


def frames_by_stem(frames_dir: Path) -> dict[str, Path]:
    return {p.stem: p for p in list_images(frames_dir)}


def faces_by_frame(aligned: Path) -> dict[str, list[Path]]:
    """Aligned faces grouped by the frame they came from (``00042_1.jpg`` -> ``00042``)."""
    from .extract_state import frame_stem_of_face

    out: dict[str, list[Path]] = {}
    for p in list_images(aligned):
        out.setdefault(frame_stem_of_face(p), []).append(p)
    return out


def deleted_debug_frames(frames_dir: Path, aligned: Path, debug_dir: Path) -> list[Path]:
    """Frames to redo by hand: no ``aligned_debug`` image (deleted in review) or no face found.

    DeepFaceLab's ``--manual-output-debug-fix`` takes every frame without a debug image;
    a frame extraction never reached is not "deleted", so only frames extraction has
    seen count (those with faces, or listed in its done/no-face records).
    """
    from .extract_state import NOFACE_FILE, STATE_FILE
    from ..util.atomic import read_json

    if not debug_dir.is_dir():
        raise InputError(f"{debug_dir} does not exist: extract faces with debug images first "
                         "(dfl-tui extract-faces ... --debug), review them, delete the bad ones, then run this again")
    frames = frames_by_stem(frames_dir)
    debug = {p.stem for p in list_images(debug_dir)}
    state = read_json(aligned / STATE_FILE, {}) or {}
    seen = set(faces_by_frame(aligned)) | {Path(n).stem for n in state.get("done") or []}
    noface = {Path(n).stem for n in (read_json(aligned / NOFACE_FILE, {}) or {}).get("frames") or []}
    want = (seen - debug) | noface
    return [frames[s] for s in sorted(want) if s in frames]


def noface_frame_paths(frames_dir: Path, aligned: Path) -> list[Path]:
    from .extract_state import noface_frames

    frames = frames_by_stem(frames_dir)
    return [frames[Path(n).stem] for n in noface_frames(aligned) if Path(n).stem in frames]


@dataclass
class ManualFace:
    rect: np.ndarray  # l, t, r, b (frame pixels)
    landmarks: np.ndarray  # 68 x 2 (frame pixels)
    score: float = 1.0
    angle: int = 0
    refined: bool = False


class ManualWriter:
    """Writes accepted faces with the extractor's writer; a frame's earlier faces go to the trash first."""

    def __init__(self, aligned: Path, debug_dir: Path | None, face_type: FaceType, size: int, ext: str = "jpg",
                 quality: int = 90, border: str = "black") -> None:
        from .face_writer import FaceWriter

        self.aligned = aligned
        self.debug_dir = debug_dir
        aligned.mkdir(parents=True, exist_ok=True)
        if debug_dir is not None:
            debug_dir.mkdir(parents=True, exist_ok=True)
        self.writer = FaceWriter(aligned, debug_dir, face_type, size, ext, quality, border)
        self.face_type = face_type

    def existing(self, frame: Path) -> list[Path]:
        from .extract_state import frame_stem_of_face

        return [p for p in list_images(self.aligned) if frame_stem_of_face(p) == frame.stem]

    def clear_frame(self, frame: Path, reason: str) -> int:
        """Move a frame's faces (and its debug image) to the trash; returns how many faces moved."""
        from ..faceset.trash import Trash

        old = self.existing(frame)
        if old:
            Trash(self.aligned).delete(old, action="manual-extract", info={"reason": reason, "frame": frame.name})
        if self.debug_dir is not None:
            dbg = [p for p in list_images(self.debug_dir) if p.stem == frame.stem]
            if dbg:
                Trash(self.debug_dir).delete(dbg, action="manual-extract", info={"reason": reason, "frame": frame.name})
        return len(old)

    def write(self, frame: Path, image: np.ndarray, faces: Sequence[ManualFace]) -> list[str]:
        """Replace the frame's faces with ``faces``; returns the file names written."""
        self.clear_frame(frame, "re-extracted by hand")
        names, dropped = self.writer.write(frame, image, list(faces))
        if dropped and not names:
            raise InputError(f"{frame.name}: the landmarks do not fit the box (the crop would be over 4x the box); "
                             "fit again or use force landmarks")
        return names


def angle_of(vector: Sequence[float]) -> float:
    """Degrees of a face-up vector from straight up (clockwise positive), for the status line."""
    return math.degrees(math.atan2(float(vector[0]), -float(vector[1])))
