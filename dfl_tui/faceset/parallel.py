"""Reading every face of a set once, in threads, in order.

The faceset tools (sort, dedupe, metadata, resize, enhance...) reduce each face to
a value with a function of one path; :func:`map_faces` runs it over a set with a
progress stage and cancellation, and hands back a face's exception in its place
instead of stopping, so one bad file is reported and the rest go on.
"""

from __future__ import annotations

import os
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, Callable, Sequence

from ..jobs.context import Reporter

def default_workers(n: int = 0) -> int:
    return n if n and n > 0 else max(2, min(16, (os.cpu_count() or 2) * 2))


def map_faces(paths: Sequence[Path], fn: Callable[[Path], Any], ctx: Reporter | None = None, *,
              stage: str = "reading faces", workers: int = 0) -> list[Any]:
    """``fn(path)`` for every face, in threads, in order; a face that fails gives its exception."""
    ctx = ctx or Reporter()
    n = len(paths)
    ctx.stage(stage, n, "faces")

    def safe(p: Path) -> Any:
        try:
            return fn(p)
        except Exception as exc:  # noqa: BLE001 - a bad face is reported, the rest go on
            return exc

    out: list[Any] = []
    with ThreadPoolExecutor(max_workers=default_workers(workers)) as pool:
        for i, r in enumerate(pool.map(safe, paths, chunksize=16)):
            out.append(r)
            if i % 64 == 0 or i == n - 1:
                ctx.progress(i + 1, n)
                ctx.check_cancel()
    return out
