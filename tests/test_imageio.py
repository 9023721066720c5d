"""The frame pipeline (video/imageio.py): ordered read-ahead, a reader thread, bounded atomic writes."""

from __future__ import annotations

import queue
import threading
from pathlib import Path

import cv2
import numpy as np
import pytest

from dfl_tui.util.atomic import DiskFullError
from dfl_tui.video import imageio as io


def _frames(folder: Path, n: int) -> list[Path]:
    folder.mkdir(parents=True, exist_ok=True)
    out = []
    for i in range(n):
        p = folder / f"{i:05d}.png"
        cv2.imwrite(str(p), np.full((8, 8, 3), i, np.uint8))
        out.append(p)
    return out


def test_read_ahead_keeps_order_and_reports_unreadable(tmp_path):
    paths = _frames(tmp_path, 9)
    paths[4].write_bytes(b"not a png")
    got = list(io.read_ahead(paths, workers=3))
    assert [p for p, _ in got] == paths
    assert got[4][1] is None and all(int(img[0, 0, 0]) == i for i, (_p, img) in enumerate(got) if i != 4)
    # any items, with a loader of the caller's
    assert list(io.read_ahead(range(5), 2, load=lambda i: i * i)) == [(i, i * i) for i in range(5)]


def test_closing_read_ahead_early_cancels_the_rest(tmp_path):
    started = []

    def load(i):
        started.append(i)
        return i

    gen = io.read_ahead(range(1000), 2, load=load, ahead=4)
    assert next(gen) == (0, 0)
    gen.close()
    assert len(started) < 20


def test_feed_queue_ends_with_none_and_stops_when_told():
    q: queue.Queue = queue.Queue(maxsize=2)
    stop = threading.Event()
    t = threading.Thread(target=io.feed_queue, args=(iter(range(100)), q, stop))
    t.start()
    assert [q.get(), q.get()] == [0, 1]
    stop.set()  # the consumer gives up with the queue full: the reader still ends, with a None
    t.join(5)
    assert not t.is_alive()
    items = []
    while not q.empty():
        items.append(q.get())
    assert items[-1] is None


def test_image_writer_results_in_order_with_back_pressure(tmp_path):
    seen = []
    w = io.ImageWriter(workers=3, backlog=2, on_done=seen.append)
    for i in range(10):
        w.put(tmp_path / f"{i}.jpg", np.zeros((4, 4, 3), np.uint8))
        w.submit(lambda k: k, i)
        assert len(w.pending) <= 2
    w.close()
    assert seen == [x for i in range(10) for x in (None, i)] and w.done == 20
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(f"{i}.jpg" for i in range(10))  # no temp left


def test_write_file_names_the_file_when_the_disk_is_full(tmp_path, monkeypatch):
    import errno
    import os

    def full(fd, data):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(os, "write", full)
    with pytest.raises(DiskFullError, match="frame.png"):
        io.write_file(tmp_path / "frame.png", b"data")
    assert list(tmp_path.iterdir()) == []
