"""Training metrics: ``metrics.jsonl`` (read by the monitor) and the loss history of the preview graph."""

from __future__ import annotations

import time
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any

import numpy as np

from ..util.atomic import append_jsonl


@dataclass
class IterationTimes:
    """Where iterations' wall time went, in seconds: ``wait`` for the next augmented batch (loading
    and augmentation that the background threads did not finish during the previous step) and the
    model ``step``; the rest of an iteration (metrics, previews, saves, requests) is its wall time
    minus these two. ``augment`` is the augmentation's own time, spent in the background thread.
    On a GPU the step only queues kernels: there the figures are host time."""

    wait: float = 0.0
    step: float = 0.0
    augment: float = 0.0

    def add(self, other: "IterationTimes") -> None:
        for f in fields(self):
            setattr(self, f.name, getattr(self, f.name) + getattr(other, f.name))

    def total(self) -> float:
        """The part of the wall time these account for (the augmentation overlaps the step)."""
        return self.wait + self.step


class MetricsWriter:
    """Appends ``metrics.jsonl``: a line about every ``every`` seconds with the mean losses since the last.

    A line: ``it``, ``t``, ``n`` (iterations in it), ``ms`` (data + augmentation + step per iteration,
    DeepFaceLab's iteration time), ``sps`` (samples/s), ``loss`` (means), and ``split``: milliseconds
    per iteration spent waiting for the next batch, in the step, elsewhere (``other``: the line's wall
    time per iteration minus those two), and augmenting in the background (``augment``).
    """

    def __init__(self, path: Path | None, batch_size: int, every: float = 1.0) -> None:
        self.path = path
        self.batch = batch_size
        self.every = every
        self._reset()
        self._last_write = time.monotonic()

    def _reset(self) -> None:
        self.n = 0
        self.sums: dict[str, float] = {}
        self.time = 0.0
        self.times = IterationTimes()
        self._line_t0 = time.monotonic()

    def add(self, iteration: int, losses: dict[str, float], seconds: float, times: IterationTimes | None = None) -> None:
        self.n += 1
        self.time += seconds
        if times is not None:
            self.times.add(times)
        for k, v in losses.items():
            self.sums[k] = self.sums.get(k, 0.0) + float(v)
        self.iteration = iteration
        if time.monotonic() - self._last_write >= self.every:
            self.flush()

    def flush(self) -> None:
        if not self.n or self.path is None:
            self._reset()
            return
        ms = 1000.0 * self.time / self.n
        line = {"it": self.iteration, "t": round(time.time(), 3), "n": self.n, "ms": round(ms, 2),
                "sps": round(self.batch * self.n / self.time, 2) if self.time > 0 else 0.0,
                "loss": {k: round(v / self.n, 6) for k, v in self.sums.items()}}
        if self.times.total() > 0:
            per = {f.name: 1000.0 * getattr(self.times, f.name) / self.n for f in fields(self.times)}
            wall = 1000.0 * (time.monotonic() - self._line_t0) / self.n
            per["other"] = max(0.0, wall - 1000.0 * self.times.total() / self.n)
            line["split"] = {k: round(v, 2) for k, v in per.items()}
        append_jsonl(self.path, line)
        self._last_write = time.monotonic()
        self._reset()

    def event(self, kind: str, iteration: int, **extra: Any) -> None:
        self.flush()
        if self.path is None:
            return
        append_jsonl(self.path, {"event": kind, "it": int(iteration), "t": round(time.time(), 3), **extra})


class LossHistory:
    """Per-iteration losses for the history images' graph strip; bounded (halved when full)."""

    def __init__(self, max_len: int = 20_000) -> None:
        self.names: list[str] = []
        self.rows: list[list[float]] = []
        self.max_len = max_len

    def add(self, losses: dict[str, float], weight: int = 1) -> None:
        for k in losses:
            if k not in self.names:
                self.names.append(k)
        row = [float(losses.get(k, 0.0)) for k in self.names]
        self.rows.extend([row] * max(1, weight) if weight <= 4 else [row])
        if len(self.rows) > self.max_len:
            self.rows = [[(a + b) / 2 for a, b in zip(r1, r2)] for r1, r2 in zip(self.rows[0::2], self.rows[1::2])]

    def array(self) -> np.ndarray | None:
        if not self.rows:
            return None
        width = len(self.names)
        return np.array([r + [0.0] * (width - len(r)) for r in self.rows], np.float64)

    def load(self, metrics_path: Path) -> None:
        from .monitor import MetricsReader

        r = MetricsReader(str(metrics_path))
        r.poll()
        for p in r.points:
            self.add(p.loss, min(p.n, 4))



__all__ = ["IterationTimes", "LossHistory", "MetricsWriter"]
