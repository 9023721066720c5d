"""The extract-faces step: frames in, aligned faces with DeepFaceLab metadata out.

Pipeline (each stage keeps the next one busy):

1. a reader thread decodes frames into a small prefetch queue (a frame that cannot be
   read is reported by name and skipped);
2. detection + landmarks run in batches on one backend per device (``cuda:0,1`` shares
   batches between GPUs), with DeepFaceLab's rules (:mod:`.detect.base`);
3. a thread pool aligns, encodes and writes each frame's faces atomically
   (``<frame stem>_<n>.jpg``, n in detection-area order), their thumbnails, and the
   ``aligned_debug/<frame stem>.jpg`` image;
4. the main thread keeps the books: live counts, the resume state, the no-face list.

Resume: ``aligned/.extract.json`` lists the frames already done, so a re-run (after a
stop, a crash or new frames) does only the rest. A faceset without that file (made by
DeepFaceLab) continues as DeepFaceLab does: from the frame of the 128th-from-last face.
Faces of frames that are redone are moved to the trash first, never overwritten, and
``--overwrite`` moves everything there (``aligned/.trash/``, undoable) to start again.

``aligned/.noface.json`` lists the frames where no face was found, for manual extraction.
"""

from __future__ import annotations

import collections
import os
import queue
import threading
import time
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Sequence

import cv2
import numpy as np

from ..errors import DflError, InputError
from ..jobs.context import Reporter
from ..util.atomic import atomic_write_bytes, atomic_write_json, read_json
from ..workspace import list_images
from .facetype import FaceType
from .options import ExtractFacesOptions

STATE_FILE = ".extract.json"
NOFACE_FILE = ".noface.json"
CONTINUE_BACK = 128  # DeepFaceLab restarts at the frame of the 128th-from-last face
DEBUG_QUALITY = 50
STATE_EVERY = 2.0  # seconds between resume-state saves


# ---------------------------------------------------------------------------
# Small helpers
# ---------------------------------------------------------------------------


def face_name(frame_stem: str, k: int, ext: str) -> str:
    return f"{frame_stem}_{k}.{ext}"


def frame_stem_of_face(face: Path) -> str:
    """``00042_1.jpg`` -> ``00042`` (the frame it came from, by DeepFaceLab's naming)."""
    stem = face.stem
    head, sep, tail = stem.rpartition("_")
    return head if sep and tail.isdigit() else stem


def read_frame(path: Path) -> np.ndarray | None:
    """Decode a frame (any path, any bit depth or channel count); None when unreadable."""
    from .detect.base import prepare_frame

    try:
        data = np.fromfile(str(path), np.uint8)
        if data.size == 0:
            return None
        img = cv2.imdecode(data, cv2.IMREAD_UNCHANGED)
        if img is None or img.size == 0 or img.ndim not in (2, 3):
            return None
        if img.ndim == 3 and img.shape[2] not in (1, 3, 4):
            img = img[..., 0]
        return prepare_frame(img)
    except (OSError, cv2.error, ValueError):
        return None


def unique_frames(paths: Sequence[Path], ctx: Reporter) -> list[Path]:
    """Drop frames whose stem repeats (``0001.png`` + ``0001.jpg``): their faces would share names."""
    seen: dict[str, Path] = {}
    out = []
    dups = []
    for p in paths:
        if p.stem in seen:
            dups.append(p)
            continue
        seen[p.stem] = p
        out.append(p)
    if dups:
        ctx.warn(f"{len(dups)} frame(s) share a name with another frame and are skipped "
                 f"(e.g. {dups[0].name} beside {seen[dups[0].stem].name}); rename them to extract their faces")
    return out


@dataclass
class Timings:
    decode: float = 0.0
    detect: float = 0.0
    landmarks: float = 0.0
    refine: float = 0.0
    write: float = 0.0
    lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def add(self, **kv: float) -> None:
        with self.lock:
            for k, v in kv.items():
                setattr(self, k, getattr(self, k) + v)

    def per_frame_ms(self, frames: int) -> dict[str, float]:
        n = max(1, frames)
        return {k: round(getattr(self, k) * 1000.0 / n, 2) for k in ("decode", "detect", "landmarks", "refine", "write")}


# ---------------------------------------------------------------------------
# Writing faces
# ---------------------------------------------------------------------------


@dataclass
class FaceWriter:
    """Aligns, encodes and writes the faces of one frame (called from a thread pool)."""

    aligned: Path
    debug_dir: Path | None
    face_type: FaceType
    size: int
    ext: str
    quality: int

    def write(self, path: Path, img: np.ndarray, found: Sequence[Any]) -> tuple[list[str], int]:
        """Write the faces of one frame; returns (file names written, faces dropped by the sanity filter)."""
        from . import thumbs
        from .detect.base import area_ok
        from .dflimg import FaceMeta, save_face
        from .landmarks import draw_debug, get_transform_mat, transform_points

        names: list[str] = []
        dropped = 0
        debug = img.copy() if self.debug_dir is not None else None
        for f in found:
            lm = np.asarray(f.landmarks, np.float32)
            if self.face_type == FaceType.MARK_ONLY:
                face, mat, face_lm = img, None, lm
            else:
                try:
                    mat = get_transform_mat(lm, self.size, self.face_type)
                except (ValueError, np.linalg.LinAlgError):
                    dropped += 1
                    continue
                if not area_ok(f.rect, mat, self.size, int(self.face_type)):
                    dropped += 1
                    continue
                face = cv2.warpAffine(img, mat, (self.size, self.size), flags=cv2.INTER_LANCZOS4,
                                      borderMode=cv2.BORDER_REPLICATE)
                face_lm = transform_points(lm, mat)
            name = face_name(path.stem, len(names), self.ext)
            meta = FaceMeta(face_type=self.face_type.to_string(), landmarks=face_lm, source_filename=path.name,
                            source_rect=np.asarray(f.rect, np.float64), source_landmarks=lm, image_to_face_mat=mat)
            out = self.aligned / name
            save_face(out, face, meta, quality=self.quality)
            thumbs.write_thumbnail(out, face)
            names.append(name)
            if debug is not None:
                draw_debug(debug, f.rect, lm, self.face_type)
        if debug is not None and self.debug_dir is not None:
            ok, buf = cv2.imencode(".jpg", debug, [int(cv2.IMWRITE_JPEG_QUALITY), DEBUG_QUALITY])
            if ok:
                atomic_write_bytes(self.debug_dir / f"{path.stem}.jpg", buf.tobytes(), fsync=False)
        return names, dropped


# ---------------------------------------------------------------------------
# Resume / overwrite
# ---------------------------------------------------------------------------


def _state_signature(o: ExtractFacesOptions) -> dict[str, Any]:
    return {"face_type": o.face_type_enum.to_string(), "size": o.image_size, "format": o.format}


def _trash(folder: Path, files: Sequence[Path], action: str, ctx: Reporter, **info: Any) -> Path | None:
    """Move files into a new undoable trash batch of ``folder`` (thumbnails are a cache: dropped)."""
    from ..video import trash
    from . import thumbs

    files = [f for f in files if f.exists()]
    if not files:
        return None
    batch = trash.new_batch(folder, action, **info)
    trash.move_files(batch, files)
    for f in files:
        thumbs.remove_thumbnail(f)
    man = trash.read_manifest(batch)
    man["complete"] = True
    trash.write_manifest(batch, man)
    ctx.log(f"moved {len(files)} file(s) from {folder.name}/ to {batch} (undo: move them back)")
    return batch


@dataclass
class Plan:
    todo: list[Path]
    done: set[str]
    noface: set[str]
    redo_faces: list[Path]
    message: str


def plan_run(frames: list[Path], aligned: Path, o: ExtractFacesOptions) -> Plan:
    """Which frames to do, and which existing faces must make way (resume logic)."""
    faces = list_images(aligned)
    state = read_json(aligned / STATE_FILE, None)
    sig = _state_signature(o)
    names = [p.name for p in frames]
    if not faces and not state:
        return Plan(list(frames), set(), set(), [], "")
    if isinstance(state, dict) and state.get("version") == 1:
        old = {k: state.get(k) for k in sig}
        if old != sig and not faces:  # nothing of the earlier run is left: start afresh
            return Plan(list(frames), set(), set(), [], "")
        if old != sig:
            raise DflError(
                f"{aligned} holds {len(faces)} faces extracted as {old['face_type']} {old['size']} px "
                f"{old['format']}, not {sig['face_type']} {sig['size']} px {sig['format']}. "
                "Use --overwrite to move them to the trash and start again, or keep the earlier settings")
        done = set(state.get("done") or []) & set(names)
        noface = set(state.get("noface") or []) & done
        todo = [p for p in frames if p.name not in done]
        msg = f"continuing: {len(done)} of {len(frames)} frames were done before" if done else ""
    else:
        # A faceset without our state (DeepFaceLab's, or copied in): DeepFaceLab's rule.
        if len(faces) <= CONTINUE_BACK:
            raise DflError(
                f"{aligned} already holds {len(faces)} faces that this extraction did not make. "
                "Use --overwrite to move them to the trash and extract again, or move them elsewhere first")
        from .dflimg import try_read_meta

        meta = try_read_meta(faces[-1])
        if meta is not None and meta.face_type != sig["face_type"]:
            raise DflError(f"{aligned} holds {meta.face_type} faces, not {sig['face_type']}: use --overwrite "
                           "to move them to the trash and start again, or choose --face-type to match")
        ref_stem = frame_stem_of_face(faces[-CONTINUE_BACK])
        stems = [p.stem for p in frames]
        start = stems.index(ref_stem) if ref_stem in stems else 0
        done = set(names[:start])
        noface = set()
        todo = frames[start:]
        msg = (f"continuing DeepFaceLab-style from frame {frames[start].name if todo else '-'} "
               f"(the frame of the {CONTINUE_BACK}th-from-last face)")
    todo_stems = {p.stem for p in todo}
    redo = [f for f in faces if frame_stem_of_face(f) in todo_stems]
    return Plan(todo, done, noface, redo, msg)


# ---------------------------------------------------------------------------
# The step
# ---------------------------------------------------------------------------


def _choose_devices(o: ExtractFacesOptions, backend: str) -> list[str]:
    from .detect import parse_devices

    if backend == "mediapipe":
        return ["cpu"]
    if o.device == "auto":
        import torch

        return ["cuda:0"] if torch.cuda.is_available() else ["cpu"]
    try:
        return parse_devices(o.device)
    except ValueError as exc:
        raise InputError(str(exc)) from None


def _reader(paths: Sequence[Path], out: "queue.Queue[Any]", stop: threading.Event, timings: Timings,
            workers: int = 1) -> None:
    """Decode frames into ``out`` in order (a few decoders when there are cores to spare); ends with None."""

    def load(p: Path) -> np.ndarray | None:
        t0 = time.perf_counter()
        try:
            return read_frame(p)
        finally:
            timings.add(decode=time.perf_counter() - t0)

    def put(item: Any) -> bool:
        while not stop.is_set():
            try:
                out.put(item, timeout=0.2)
                return True
            except queue.Full:
                continue
        return False

    try:
        with ThreadPoolExecutor(max_workers=max(1, workers), thread_name_prefix="frame-decoder") as pool:
            ahead: collections.deque[tuple[Path, Future]] = collections.deque()
            it = iter(paths)
            while True:
                while len(ahead) < 2 * max(1, workers) and not stop.is_set():
                    p = next(it, None)
                    if p is None:
                        break
                    ahead.append((p, pool.submit(load, p)))
                if not ahead or stop.is_set():
                    break
                p, fut = ahead.popleft()
                if not put((p, fut.result())):
                    break
            for _p, fut in ahead:
                fut.cancel()
    finally:
        while True:
            try:
                out.put(None, timeout=0.2)
                break
            except queue.Full:
                if stop.is_set():
                    try:
                        out.get_nowait()
                    except queue.Empty:
                        pass


def run_extract_faces(ctx: Reporter, o: ExtractFacesOptions) -> dict[str, Any]:
    from .detect import create_backend, resolve_detector
    from .detect.base import MIN_FRAME_SIDE, StageTimes, find_faces

    ws = ctx.workspace
    side = o.side
    frames_dir = ws.frames(side)
    all_frames = list_images(frames_dir)
    if not all_frames:
        raise InputError(f"no frames in {frames_dir}: run 'dfl-tui extract-frames {side}' first")
    frames = unique_frames(all_frames, ctx)
    ft = o.face_type_enum
    size = o.image_size
    ext = o.format
    aligned = ws.aligned(side)
    debug_dir = ws.aligned_debug(side) if o.debug else None
    aligned.mkdir(parents=True, exist_ok=True)

    # -- resume plan (checks only; nothing is moved before the detector has loaded) ------
    plan = Plan(list(frames), set(), set(), [], "") if o.overwrite else plan_run(frames, aligned, o)
    if plan.message:
        ctx.log(plan.message)

    state: dict[str, Any] = {"version": 1, "side": side, **_state_signature(o), "detector": None,
                             "done": sorted(plan.done), "noface": sorted(plan.noface), "unreadable": []}
    done_names: set[str] = set(plan.done)
    noface: set[str] = set(plan.noface)
    unreadable: list[str] = []

    def save_state(final: bool = False) -> None:
        state["done"] = sorted(done_names)
        state["noface"] = sorted(noface)
        state["unreadable"] = sorted(unreadable)
        state["updated"] = time.time()
        atomic_write_json(aligned / STATE_FILE, state, fsync=final)
        atomic_write_json(aligned / NOFACE_FILE, {"side": side, "frames_dir": str(frames_dir),
                                                  "frames": sorted(noface), "unreadable": sorted(unreadable),
                                                  "updated": state["updated"]}, fsync=final)

    total = len(frames)
    if not plan.todo:
        save_state(True)
        ctx.log(f"all {total} frames were already extracted; nothing to do (--overwrite starts again)")
        res = {"frames": total, "processed": 0, "faces": 0, "faces_total": len(list_images(aligned)),
               "no_face": len(noface), "aligned": str(aligned)}
        ctx.result(**res)
        return res

    # -- backends ---------------------------------------------------------------------
    backend_name, why = resolve_detector(o.detector, three_d=o.three_d, weights_dir=o.weights_dir)
    ctx.log(f"detector: {why}")
    devices = _choose_devices(o, backend_name)
    if backend_name == "mediapipe" and o.device not in ("auto", "cpu"):
        ctx.log(f"mediapipe runs on the CPU (OpenCV); --device {o.device} applies to s3fd only")
    backends = [create_backend(backend_name, device=d, three_d=o.three_d, weights_dir=o.weights_dir,
                               flip_input=o.flip_input) for d in devices]

    # -- make way: to the trash, undoable -------------------------------------------------
    if o.overwrite:
        old = list_images(aligned) + [aligned / STATE_FILE, aligned / NOFACE_FILE]
        _trash(aligned, old, "extract-faces-overwrite", ctx)
        if ws.aligned_debug(side).is_dir():
            _trash(ws.aligned_debug(side), list_images(ws.aligned_debug(side)), "extract-faces-overwrite", ctx)
    if plan.redo_faces:
        _trash(aligned, plan.redo_faces, "extract-faces-redo", ctx,
               reason="faces of frames extracted again (the earlier run stopped before recording them)")
    if debug_dir is not None:
        debug_dir.mkdir(parents=True, exist_ok=True)
    info = backends[0].describe() if len(backends) == 1 else ", ".join(b.describe() for b in backends)
    ctx.log(f"using {info}; {ft.to_string()} faces at {size} px, {ext}; second pass {'on' if o.accurate else 'off'}")
    state["detector"] = backend_name
    batch = o.batch_size or backends[0].batch_size

    writer = FaceWriter(aligned, debug_dir, ft, size, ext, o.jpeg_quality)
    timings = Timings()
    free: "queue.Queue[Any]" = queue.Queue()
    for b in backends:
        free.put(b)

    def detect_batch(items: list[tuple[Path, np.ndarray | None]]) -> list[list[Any]]:
        b = free.get()
        try:
            st = StageTimes()
            res = find_faces(b, [img for _p, img in items], max_faces=o.max_faces, accurate=o.accurate, times=st)
            timings.add(detect=st.detect, landmarks=st.landmarks, refine=st.refine)
            return res
        finally:
            free.put(b)

    def write_frame(p: Path, img: np.ndarray, found: list[Any]) -> tuple[list[str], int]:
        t0 = time.perf_counter()
        try:
            return writer.write(p, img, found)
        finally:
            timings.add(write=time.perf_counter() - t0)

    frame_q: "queue.Queue[Any]" = queue.Queue(maxsize=max(4, 2 * batch))
    stop = threading.Event()
    decoders = max(1, min(4, (os.cpu_count() or 2) // 2))
    reader = threading.Thread(target=_reader, args=(plan.todo, frame_q, stop, timings, decoders),
                              name="frame-reader", daemon=True)
    det_pool = ThreadPoolExecutor(max_workers=len(backends), thread_name_prefix="detect")
    write_pool = ThreadPoolExecutor(max_workers=max(2, min(8, os.cpu_count() or 2)), thread_name_prefix="face-writer")
    det_q: collections.deque[tuple[list[tuple[Path, Any]], Future]] = collections.deque()
    write_q: collections.deque[tuple[Path, Future]] = collections.deque()

    counts = {"faces": 0, "no_face": 0, "unreadable": 0, "small": 0, "dropped": 0, "frames": 0}
    t_start = time.monotonic()
    last_state = time.monotonic()
    last_artifact = 0.0
    ctx.stage(f"extracting faces from data_{side}", total=total, unit="frames")

    def report() -> None:
        el = max(1e-6, time.monotonic() - t_start)
        extra = {"unreadable": counts["unreadable"]} if counts["unreadable"] else {}
        ctx.progress(len(done_names) + counts["unreadable"], total, faces=counts["faces"], no_face=counts["no_face"],
                     fps=round(counts["frames"] / el, 2), **extra)

    def finish_write(p: Path, fut: Future) -> None:
        nonlocal last_artifact
        names, dropped = fut.result()
        counts["frames"] += 1
        counts["dropped"] += dropped
        if names:
            counts["faces"] += len(names)
            noface.discard(p.name)
            now = time.monotonic()
            if debug_dir is not None and now - last_artifact > 2.0:
                last_artifact = now
                ctx.artifact("debug", str(debug_dir / f"{p.stem}.jpg"))
        else:
            counts["no_face"] += 1
            noface.add(p.name)
        done_names.add(p.name)

    def drain_writes(block: bool) -> None:
        while write_q and (block or write_q[0][1].done()):
            p, fut = write_q.popleft()
            finish_write(p, fut)

    def finish_detect(items: list[tuple[Path, Any]], fut: Future) -> None:
        results = fut.result()
        for (p, img), found in zip(items, results):
            if img is None:
                continue
            if min(img.shape[:2]) < MIN_FRAME_SIDE:
                counts["small"] += 1
            write_q.append((p, write_pool.submit(write_frame, p, img, found)))

    def submit(items: list[tuple[Path, Any]]) -> None:
        readable = []
        for p, img in items:
            if img is None:
                counts["unreadable"] += 1
                unreadable.append(p.name)
                ctx.warn(f"cannot read frame {p}: skipped (re-run extract-faces after fixing or replacing it)")
            else:
                readable.append((p, img))
        if readable:
            det_q.append((readable, det_pool.submit(detect_batch, readable)))

    cancelled = False
    reader.start()
    try:
        pending: list[tuple[Path, Any]] = []
        while True:
            item = frame_q.get()
            if item is not None:
                pending.append(item)
            if pending and (len(pending) >= batch or item is None or frame_q.empty() and len(det_q) == 0):
                submit(pending)
                pending = []
            # keep at most one batch queued per device beyond the running ones
            while len(det_q) > len(backends) or (det_q and det_q[0][1].done()):
                finish_detect(*det_q.popleft())
            while len(write_q) > 4 * batch:
                p, fut = write_q.popleft()
                finish_write(p, fut)
            drain_writes(False)
            report()
            if time.monotonic() - last_state > STATE_EVERY:
                save_state()
                last_state = time.monotonic()
            if ctx.cancelled:
                cancelled = True
                break
            if item is None:
                break
        while det_q:
            finish_detect(*det_q.popleft())
        drain_writes(True)
    finally:
        stop.set()
        det_pool.shutdown(wait=True, cancel_futures=True)
        # every face already handed to the writers gets finished (files are atomic anyway)
        try:
            drain_writes(True)
        except Exception:  # noqa: BLE001 - keep the state of what did finish
            pass
        write_pool.shutdown(wait=True)
        save_state(True)
        for b in backends:
            b.close()
        reader.join(timeout=5)
    report()
    if cancelled:
        ctx.check_cancel()  # raises JobCancelled: the job ends as cancelled, its progress saved

    elapsed = max(1e-6, time.monotonic() - t_start)
    n = counts["frames"]
    if counts["small"]:
        ctx.warn(f"{counts['small']} frame(s) are smaller than {MIN_FRAME_SIDE} px and were not searched for faces")
    if counts["dropped"]:
        ctx.log(f"{counts['dropped']} face(s) dropped by the sanity check (crop far larger than the detector box)")
    fps = n / elapsed
    ctx.log(f"frames: {n} processed ({len(plan.done)} done earlier), faces: {counts['faces']}, "
            f"frames with no face: {counts['no_face']}, unreadable: {counts['unreadable']}; "
            f"{fps:.2f} frames/s" + (f". No-face frames are listed in {aligned / NOFACE_FILE}" if noface else ""))
    res = {
        "detector": backend_name,
        "detector_info": info,
        "device": ",".join(devices),
        "face_type": ft.to_string(),
        "size": size,
        "frames": total,
        "processed": n,
        "done_before": len(plan.done),
        "faces": counts["faces"],
        "faces_total": len(list_images(aligned)),
        "no_face": counts["no_face"],
        "unreadable": counts["unreadable"],
        "dropped": counts["dropped"],
        "fps": round(fps, 3),
        "faces_per_s": round(counts["faces"] / elapsed, 3),
        "seconds": round(elapsed, 2),
        "stage_ms": timings.per_frame_ms(n),
        "aligned": str(aligned),
    }
    ctx.result(**res)
    return res


def noface_frames(aligned: Path) -> list[str]:
    """Frames of a set where extraction found no face (for the manual re-extract flow)."""
    data = read_json(Path(aligned) / NOFACE_FILE, None) or {}
    return list(data.get("frames") or [])


__all__ = ["run_extract_faces", "plan_run", "noface_frames", "read_frame", "face_name", "frame_stem_of_face",
           "STATE_FILE", "NOFACE_FILE"]
