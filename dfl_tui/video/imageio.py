"""The frame pipeline: reading and writing frame images off the main thread.

Every step that walks a folder of frames reads and writes them here
(extract-faces, merge, denoise-frames, extract-frames, make-video):

* :func:`read_ahead` decodes images in order, a few ahead, in a small pool
  (:func:`feed_queue` runs it in a reader thread feeding a bounded queue);
* :func:`write_file` / :func:`write_image` write atomically (hidden temporary
  name, then rename: a frame that exists is complete; a full disk is named);
* :class:`ImageWriter` is a bounded pool of such writes, with back-pressure.

OpenCV's image codecs release the GIL, so a few threads keep the disk and the
codecs busy while the main thread decodes video, runs a model or filters frames.
"""

from __future__ import annotations

import collections
import os
import queue as queue_mod
import threading
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from typing import Any, Callable, Iterable, Iterator, Sequence, TypeVar

import numpy as np

from ..util.atomic import _fsync_dir, disk_full, is_disk_full
from ..util.imagesize import size_problem


def read_image(path: Path, flags: int | None = None) -> np.ndarray | None:
    """Decode an image file (any path; ``flags`` as ``cv2.imread``, colour by default); None when unreadable
    or over the pixel limit (checked from the header first: :func:`dfl_tui.util.imagesize.size_problem`
    says why)."""
    import cv2

    try:
        data = np.fromfile(str(path), np.uint8)
        if data.size == 0 or size_problem(path, data[: 1 << 18].tobytes()):
            return None
        img = cv2.imdecode(data, cv2.IMREAD_COLOR if flags is None else flags)
    except (OSError, cv2.error, ValueError):
        return None
    return None if img is None or img.size == 0 else img


T = TypeVar("T")


def read_ahead(paths: Sequence[T], workers: int = 2, flags: int | None = None, *,
               load: Callable[[T], Any] | None = None,
               ahead: int = 0) -> Iterator[tuple[T, Any]]:
    """``(path, image)`` in order (image None when unreadable), read a few ahead by a small pool.

    ``load`` replaces the plain decode (to normalise frames, time them, or load a frame with
    what belongs to it: then the items need not be paths); ``ahead`` is how many are read in
    advance (3 per worker by default). Closing the generator early cancels the reads not
    started yet.
    """
    if load is None:
        def load(p: Any) -> np.ndarray | None:
            return read_image(p, flags)

    ahead = ahead or max(2, workers * 3)
    with ThreadPoolExecutor(max_workers=max(1, workers), thread_name_prefix="image-reader") as pool:
        queue: collections.deque[tuple[T, Future]] = collections.deque()
        it = iter(paths)
        try:
            for p in it:
                queue.append((p, pool.submit(load, p)))
                if len(queue) >= ahead:
                    break
            while queue:
                p, fut = queue.popleft()
                nxt = next(it, None)
                if nxt is not None:
                    queue.append((nxt, pool.submit(load, nxt)))
                yield p, fut.result()
        finally:
            for _p, fut in queue:
                fut.cancel()


def feed_queue(items: Iterable[Any], out: "queue_mod.Queue[Any]", stop: threading.Event) -> None:
    """Put ``items`` into a bounded ``out`` until done or ``stop`` is set, then a final None.

    The body of a reader thread: the consumer takes from ``out`` until None. When the consumer
    has stopped (``stop`` set) and the queue is full, room is made for the None.
    """
    it = iter(items)
    try:
        for item in it:
            if not _put(out, item, stop):
                break
    finally:
        close = getattr(it, "close", None)
        if close is not None:
            close()  # a generator: its reads not started yet are cancelled
        while True:
            try:
                out.put(None, timeout=0.2)
                break
            except queue_mod.Full:
                if stop.is_set():
                    try:
                        out.get_nowait()
                    except queue_mod.Empty:
                        pass


def _put(out: "queue_mod.Queue[Any]", item: Any, stop: threading.Event) -> bool:
    while not stop.is_set():
        try:
            out.put(item, timeout=0.2)
            return True
        except queue_mod.Full:
            continue
    return False


def encode_image(path: Path, img: np.ndarray, jpeg_quality: int = 95, png_compression: int = 1) -> bytes:
    """PNG or JPEG bytes by ``path``'s extension."""
    import cv2

    ext = path.suffix.lower()
    if ext in (".jpg", ".jpeg"):
        params = [cv2.IMWRITE_JPEG_QUALITY, int(jpeg_quality)]
        ext = ".jpg"
    elif ext == ".png":
        params = [cv2.IMWRITE_PNG_COMPRESSION, int(png_compression)]
    else:
        params = []
    ok, buf = cv2.imencode(ext, img, params)
    if not ok:
        raise OSError(f"could not encode {path.name}")
    return buf.tobytes()


def write_image(path: Path, img: np.ndarray, jpeg_quality: int = 95) -> None:
    """Encode (by ``path``'s extension) and write atomically with :func:`write_file`."""
    write_file(path, encode_image(path, img, jpeg_quality))


def write_file(path: Path, data: bytes) -> None:
    """Write an encoded frame atomically: a hidden temporary file, then a rename over ``path``.

    No fsync per frame (the rename is what makes a frame all-or-nothing; the
    caller syncs the folder at the end: :meth:`ImageWriter.sync`). The file gets the
    usual permissions (0666 minus the umask), unlike ``mkstemp``'s 0600, since frames
    are shared data.
    """
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{threading.get_ident()}.tmp")
    try:
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o666)
        try:
            view = memoryview(data)
            while view:
                view = view[os.write(fd, view):]
        finally:
            os.close(fd)
        os.replace(tmp, path)
    except OSError as exc:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        if is_disk_full(exc):
            raise disk_full(path) from exc
        raise


class ImageWriter:
    """A bounded pool of image writes; :meth:`put` and :meth:`submit` block when too many are queued.

    ``done`` counts finished writes; ``on_done`` (if given) gets each job's result, in the order the
    jobs were given, on the calling thread. A failed write raises in :meth:`put`, :meth:`submit`,
    :meth:`reap` or :meth:`close`.
    """

    def __init__(self, workers: int = 2, jpeg_quality: int = 95, backlog: int | None = None,
                 on_done: Callable[[Any], None] | None = None) -> None:
        self.pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="image-writer")
        self.backlog = backlog or workers * 3
        self.jpeg_quality = jpeg_quality
        self.on_done = on_done
        self.pending: collections.deque[Future] = collections.deque()
        self.done = 0

    def put(self, path: Path, img: np.ndarray) -> None:
        """Encode ``img`` by ``path``'s extension and write it."""
        self.submit(write_image, path, img, self.jpeg_quality)

    def submit(self, job: Callable[..., Any], *args: Any) -> None:
        """Run a write job of the caller's own (encode with metadata, write several files...)."""
        self.pending.append(self.pool.submit(job, *args))
        self._reap(block=False)

    def reap(self) -> None:
        """Account for the writes that have finished (without waiting)."""
        self._reap(block=False)

    def _reap(self, block: bool) -> None:
        while self.pending and (block or len(self.pending) > self.backlog or self.pending[0].done()):
            result = self.pending.popleft().result()
            self.done += 1
            if self.on_done is not None:
                self.on_done(result)

    def sync(self, folder: Path) -> None:
        """Make the renames of the finished writes durable."""
        _fsync_dir(folder)

    def close(self, wait: bool = True) -> None:
        """Finish queued writes (``wait``) or drop those not started yet."""
        try:
            if wait:
                self._reap(block=True)
            else:
                for f in self.pending:
                    f.cancel()
                for f in self.pending:
                    if not f.cancelled():
                        f.exception()
                        self.done += f.exception() is None
                self.pending.clear()
        finally:
            self.pool.shutdown(wait=True)
