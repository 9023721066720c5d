"""The extract-faces pipeline: frames -> detector backends -> face writers, each stage keeping the next busy.

1. a reader thread decodes frames into a small prefetch queue
   (:func:`dfl_tui.video.imageio.read_ahead`; a frame that cannot be read is reported by
   name and skipped);
2. detection + landmarks run in batches, one batch in flight per backend (one backend per
   device: ``cuda:0,1`` shares batches between GPUs), with DeepFaceLab's rules
   (:mod:`.detect.base`);
3. a thread pool aligns, encodes and writes each frame's faces (:class:`.face_writer.FaceWriter`);
4. the calling thread keeps the books (:class:`.extract_state.ExtractBooks`): live counts,
   the resume state saved every couple of seconds, the no-face list.
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

import numpy as np

from ..jobs.context import Reporter
from ..util.imagesize import size_problem
from ..video.imageio import feed_queue, read_ahead
from .extract_state import ExtractBooks
from .face_writer import FaceWriter

STATE_EVERY = 2.0  # seconds between resume-state saves
ARTIFACT_EVERY = 2.0  # seconds between debug images shown live

Frame = tuple[Path, Any]  # (path, decoded image or None when unreadable)


@dataclass
class Timings:
    """Seconds spent per stage, summed over threads."""

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


class FacePipeline:
    """Runs the frames of a plan through detection and writing; counts what happened."""

    def __init__(self, ctx: Reporter, backends: Sequence[Any], writer: FaceWriter, books: ExtractBooks, *,
                 batch: int, max_faces: int, accurate: bool, total: int, debug_dir: Path | None,
                 read_frame) -> None:
        self.ctx = ctx
        self.backends = list(backends)
        self.writer = writer
        self.books = books
        self.batch = batch
        self.max_faces = max_faces
        self.accurate = accurate
        self.total = total
        self.debug_dir = debug_dir
        self.read_frame = read_frame
        self.timings = Timings()
        self.counts = {"faces": 0, "no_face": 0, "unreadable": 0, "small": 0, "dropped": 0, "frames": 0}
        self.free: queue.Queue[Any] = queue.Queue()  # backends not busy
        for b in self.backends:
            self.free.put(b)
        self.det_q: collections.deque[tuple[list[Frame], Future]] = collections.deque()
        self.write_q: collections.deque[tuple[Path, Future]] = collections.deque()
        self.t_start = time.monotonic()
        self._last_artifact = 0.0

    # -- work done in the pools ---------------------------------------------------------
    def _load(self, p: Path) -> np.ndarray | None:
        t0 = time.perf_counter()
        try:
            return self.read_frame(p)
        finally:
            self.timings.add(decode=time.perf_counter() - t0)

    def _detect(self, items: list[Frame]) -> list[list[Any]]:
        from .detect.base import StageTimes, find_faces

        b = self.free.get()
        try:
            st = StageTimes()
            res = find_faces(b, [img for _p, img in items], max_faces=self.max_faces, accurate=self.accurate,
                             times=st)
            self.timings.add(detect=st.detect, landmarks=st.landmarks, refine=st.refine)
            return res
        finally:
            self.free.put(b)

    def _write(self, p: Path, img: np.ndarray, found: list[Any]) -> tuple[list[str], int]:
        t0 = time.perf_counter()
        try:
            return self.writer.write(p, img, found)
        finally:
            self.timings.add(write=time.perf_counter() - t0)

    # -- the books (calling thread only) ---------------------------------------------------
    def report(self) -> None:
        c = self.counts
        el = max(1e-6, time.monotonic() - self.t_start)
        extra = {"unreadable": c["unreadable"]} if c["unreadable"] else {}
        self.ctx.progress(len(self.books.done) + c["unreadable"], self.total, faces=c["faces"],
                          no_face=c["no_face"], fps=round(c["frames"] / el, 2), **extra)

    def _submit(self, items: list[Frame], det_pool: ThreadPoolExecutor) -> None:
        readable = []
        for p, img in items:
            if img is None:
                self.counts["unreadable"] += 1
                self.books.unreadable.append(p.name)
                self.ctx.warn(size_problem(p) or f"cannot read frame {p}: skipped (re-run extract-faces after fixing "
                              "or replacing it)")
            else:
                readable.append((p, img))
        if readable:
            self.det_q.append((readable, det_pool.submit(self._detect, readable)))

    def _finish_detect(self, items: list[Frame], fut: Future, write_pool: ThreadPoolExecutor) -> None:
        from .detect.base import MIN_FRAME_SIDE

        for (p, img), found in zip(items, fut.result()):
            if img is None:
                continue
            if min(img.shape[:2]) < MIN_FRAME_SIDE:
                self.counts["small"] += 1
            self.write_q.append((p, write_pool.submit(self._write, p, img, found)))

    def _finish_write(self, p: Path, fut: Future) -> None:
        names, dropped = fut.result()
        c = self.counts
        c["frames"] += 1
        c["dropped"] += dropped
        if names:
            c["faces"] += len(names)
            now = time.monotonic()
            if self.debug_dir is not None and now - self._last_artifact > ARTIFACT_EVERY:
                self._last_artifact = now
                self.ctx.artifact("debug", str(self.debug_dir / f"{p.stem}.jpg"))
        else:
            c["no_face"] += 1
        self.books.frame_done(p.name, len(names))

    def _drain_writes(self, block: bool) -> None:
        while self.write_q and (block or self.write_q[0][1].done()):
            self._finish_write(*self.write_q.popleft())

    # -- the loop ----------------------------------------------------------------------------
    def run(self, todo: Sequence[Path]) -> bool:
        """Process ``todo``; returns True when the job was cancelled (what finished is booked and saved)."""
        batch = self.batch
        frame_q: queue.Queue[Any] = queue.Queue(maxsize=max(4, 2 * batch))
        stop = threading.Event()
        decoders = max(1, min(4, (os.cpu_count() or 2) // 2))
        frames = read_ahead(todo, decoders, load=self._load, ahead=2 * decoders)
        reader = threading.Thread(target=feed_queue, args=(frames, frame_q, stop), name="frame-reader", daemon=True)
        det_pool = ThreadPoolExecutor(max_workers=len(self.backends), thread_name_prefix="detect")
        write_pool = ThreadPoolExecutor(max_workers=max(2, min(8, os.cpu_count() or 2)),
                                        thread_name_prefix="face-writer")
        last_state = time.monotonic()
        cancelled = False
        reader.start()
        try:
            pending: list[Frame] = []
            while True:
                item = frame_q.get()
                if item is not None:
                    pending.append(item)
                if pending and (len(pending) >= batch or item is None or frame_q.empty() and len(self.det_q) == 0):
                    self._submit(pending, det_pool)
                    pending = []
                # keep at most one batch queued per device beyond the running ones
                while len(self.det_q) > len(self.backends) or (self.det_q and self.det_q[0][1].done()):
                    self._finish_detect(*self.det_q.popleft(), write_pool)
                while len(self.write_q) > 4 * batch:
                    self._finish_write(*self.write_q.popleft())
                self._drain_writes(False)
                self.report()
                if time.monotonic() - last_state > STATE_EVERY:
                    self.books.save()
                    last_state = time.monotonic()
                if self.ctx.cancelled:
                    cancelled = True
                    break
                if item is None:
                    break
            while self.det_q:
                self._finish_detect(*self.det_q.popleft(), write_pool)
            self._drain_writes(True)
        finally:
            stop.set()
            det_pool.shutdown(wait=True, cancel_futures=True)
            # every face already handed to the writers gets finished (files are atomic anyway)
            try:
                self._drain_writes(True)
            except Exception:  # noqa: BLE001 - keep the state of what did finish
                pass
            write_pool.shutdown(wait=True)
            self.books.save(True)
            reader.join(timeout=5)
        self.report()
        return cancelled
