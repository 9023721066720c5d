"""What the training monitor shows, computed without torch (and without numpy): UI-safe.

* :class:`MetricsReader` follows ``metrics.jsonl`` by byte offset (only new complete lines are
  parsed), keeps a bounded series in memory (recent points at full resolution, older ones merged
  pairwise when the series grows past ``max_points``) and handles a resumed training (a
  ``{"event": "start", "it": N}`` line drops the points after N that the crash lost);
* :func:`downsample` buckets a range of iterations into at most ``width`` points (mean, min, max);
* :func:`ema` smooths a series (weighted by how many iterations each point stands for);
* :func:`training_facts` turns the model folder and the job status into the header numbers:
  iteration, it/s, ETA to the target, time since the last save.

metrics.jsonl lines (written by :class:`dfl_tui.train.metrics.MetricsWriter`)::

    {"it": 1200, "t": 1732.5e6, "n": 3, "ms": 312.5, "sps": 25.6, "loss": {"src_loss": 0.41, "dst_loss": 0.38}}
    {"event": "start"|"save"|"backup"|"nan"|"stop", "it": 1200, "t": ...}
"""

from __future__ import annotations

import math
import os
import time
from dataclasses import dataclass, field
from typing import Any, Iterable, Sequence

from ..util.atomic import read_jsonl
from ..util.fmt import fmt_duration  # noqa: F401 - re-exported

RANGES = (0, 5_000, 10_000, 50_000, 100_000)  # "last N iterations" choices (0 = all), DFL's `l` key order


@dataclass
class Point:
    it: int  # iteration at the end of the bucket
    t: float
    n: int  # iterations this point stands for
    loss: dict[str, float]
    ms: float = 0.0  # mean milliseconds per iteration
    sps: float = 0.0  # samples per second


@dataclass
class MetricsReader:
    path: str
    max_points: int = 20_000
    points: list[Point] = field(default_factory=list)
    events: list[dict[str, Any]] = field(default_factory=list)
    offset: int = 0
    loss_names: list[str] = field(default_factory=list)
    version: int = 0  # bumps whenever the series changes (cheap "redraw?" test)

    def poll(self) -> bool:
        """Read what was appended since the last call; True when something changed."""
        try:
            size = os.path.getsize(self.path)
        except OSError:
            return False
        if size < self.offset:  # the file was replaced: start again
            self.offset = 0
            self.points.clear()
            self.events.clear()
        if size == self.offset:
            return False
        lines, self.offset = read_jsonl(self.path, self.offset)
        if not lines:
            return False
        self.feed(lines)
        return True

    def feed(self, lines: Iterable[dict[str, Any]]) -> None:
        for d in lines:
            if not isinstance(d, dict):
                continue
            if "event" in d:
                self._event(d)
                continue
            loss = d.get("loss")
            if not isinstance(loss, dict) or "it" not in d:
                continue
            try:
                p = Point(int(d["it"]), float(d.get("t", 0.0)), max(1, int(d.get("n", 1))),
                          {str(k): float(v) for k, v in loss.items() if v is not None},
                          float(d.get("ms", 0.0) or 0.0), float(d.get("sps", 0.0) or 0.0))
            except (TypeError, ValueError):
                continue
            if self.points and p.it <= self.points[-1].it:
                self._truncate(p.it - p.n)
            for k in p.loss:
                if k not in self.loss_names:
                    self.loss_names.append(k)
            self.points.append(p)
            if len(self.points) > self.max_points:
                while len(self.points) > self.max_points * 3 // 4:
                    self._compact()
        self.version += 1

    def _event(self, d: dict[str, Any]) -> None:
        self.events.append(d)
        if len(self.events) > 1000:
            del self.events[:-500]
        if d.get("event") == "start":
            self._truncate(int(d.get("it", 0) or 0))

    def _truncate(self, it: int) -> None:
        """Drop points after iteration ``it`` (the run restarted from an earlier checkpoint)."""
        while self.points and self.points[-1].it > it:
            self.points.pop()

    def _compact(self) -> None:
        """Merge neighbouring points in the older half, so memory stays bounded and recent data stays fine."""
        half = len(self.points) // 2
        old, recent = self.points[:half], self.points[half:]
        merged = []
        for i in range(0, len(old) - 1, 2):
            merged.append(merge_points(old[i], old[i + 1]))
        if len(old) % 2:
            merged.append(old[-1])
        self.points = merged + recent

    # -- queries ---------------------------------------------------------------------
    @property
    def last(self) -> Point | None:
        return self.points[-1] if self.points else None

    def last_event(self, kind: str) -> dict[str, Any] | None:
        for ev in reversed(self.events):
            if ev.get("event") == kind:
                return ev
        return None

    def series(self, name: str, last_iters: int = 0) -> tuple[list[int], list[float], list[int]]:
        """(iterations, values, weights) of one loss, optionally only the last ``last_iters`` iterations."""
        pts = self.points
        if last_iters and pts:
            lo = pts[-1].it - last_iters
            pts = [p for p in pts if p.it > lo]
        xs, ys, ws = [], [], []
        for p in pts:
            v = p.loss.get(name)
            if v is not None and math.isfinite(v):
                xs.append(p.it)
                ys.append(v)
                ws.append(p.n)
        return xs, ys, ws

    def rate(self, window_s: float = 30.0) -> float:
        """Iterations per second of *this run* over its last ``window_s`` seconds (0 when unknown).

        Only points after the run's ``start`` event count; until the run has ``window_s`` seconds of
        points, the rate is its iterations since the start over the time since the start. Right after a
        resume the last point of the previous run (hours ago) must not stretch the window (it showed
        0.01 it/s where the truth was 0.13)."""
        start_ev = self.last_event("start")
        run_t = float(start_ev.get("t", 0.0) or 0.0) if start_ev else 0.0
        run_it = int(start_ev.get("it", 0) or 0) if start_ev else 0
        end = self.last
        if end is None or (run_t and end.t < run_t):
            return 0.0
        start = None
        for p in reversed(self.points[:-1]):
            if run_t and p.t < run_t:
                break
            start = p
            if end.t - p.t >= window_s:
                return (end.it - p.it) / (end.t - p.t)
        if run_t and end.t > run_t:
            return max(0, end.it - run_it) / (end.t - run_t)
        if start is not None and end.t > start.t:
            return (end.it - start.it) / (end.t - start.t)
        return 1000.0 / end.ms if end.ms > 0 else 0.0


def merge_points(a: Point, b: Point) -> Point:
    n = a.n + b.n
    loss = {}
    for k in set(a.loss) | set(b.loss):
        if k in a.loss and k in b.loss:
            loss[k] = (a.loss[k] * a.n + b.loss[k] * b.n) / n
        else:
            loss[k] = a.loss.get(k, b.loss.get(k, 0.0))
    return Point(b.it, b.t, n, loss, (a.ms * a.n + b.ms * b.n) / n, (a.sps * a.n + b.sps * b.n) / n)


def downsample(xs: Sequence[int], ys: Sequence[float], width: int, ws: Sequence[int] | None = None) \
        -> tuple[list[float], list[float], list[float], list[float]]:
    """At most ``width`` buckets over the iteration range: (x, mean, min, max) per bucket."""
    if not xs:
        return [], [], [], []
    width = max(1, int(width))
    if len(xs) <= width:
        return [float(x) for x in xs], list(ys), list(ys), list(ys)
    x0, x1 = xs[0], xs[-1]
    span = max(1, x1 - x0)
    bx: list[float] = []
    bm: list[float] = []
    blo: list[float] = []
    bhi: list[float] = []
    cur = -1
    s = wsum = 0.0
    lo = hi = 0.0
    xlast = 0
    for i, (x, y) in enumerate(zip(xs, ys)):
        w = float(ws[i]) if ws is not None else 1.0
        b = min(width - 1, int((x - x0) * width / span))
        if b != cur and cur >= 0:
            bx.append(float(xlast))
            bm.append(s / wsum)
            blo.append(lo)
            bhi.append(hi)
            s = wsum = 0.0
        if b != cur:
            cur = b
            lo = hi = y
        s += y * w
        wsum += w
        lo, hi = min(lo, y), max(hi, y)
        xlast = x
    if wsum > 0:
        bx.append(float(xlast))
        bm.append(s / wsum)
        blo.append(lo)
        bhi.append(hi)
    return bx, bm, blo, bhi


def ema(ys: Sequence[float], alpha: float, ws: Sequence[int] | None = None) -> list[float]:
    """Exponential moving average; a point standing for ``w`` iterations counts as ``w`` steps."""
    out: list[float] = []
    m = None
    for i, y in enumerate(ys):
        if m is None:
            m = y
        else:
            w = ws[i] if ws is not None else 1
            a = 1.0 - (1.0 - alpha) ** max(1, w)
            m = m + a * (y - m)
        out.append(m)
    return out


def smoothing_alpha(level: int) -> float:
    """Smoothing levels 0..4 for the `e` key: none, light ... heavy."""
    return (1.0, 0.3, 0.1, 0.03, 0.01)[max(0, min(4, level))]


# ---------------------------------------------------------------------------
# The header numbers
# ---------------------------------------------------------------------------


def fmt_loss(v: float | None) -> str:
    if v is None or not math.isfinite(v):
        return "-"
    return f"{v:.4f}" if v < 10 else f"{v:.2f}"


@dataclass
class TrainingFacts:
    iteration: int = 0
    target: int = 0
    rate: float = 0.0  # it/s
    eta: float | None = None
    since_save: float | None = None
    saved_iteration: int | None = None
    losses: dict[str, float] = field(default_factory=dict)
    ms: float = 0.0
    sps: float = 0.0
    state: str = ""
    running: bool = False

    def header(self) -> str:
        """One line for an 80-column terminal."""
        parts = [f"iter {self.iteration}" + (f"/{self.target}" if self.target else "")]
        if self.rate > 0:
            parts.append(f"{self.rate:.2f} it/s" if self.rate < 10 else f"{self.rate:.0f} it/s")
        if self.ms:
            parts.append(f"{self.ms:.0f} ms")
        if self.eta is not None and self.running:
            parts.append(f"ETA {fmt_duration(self.eta)}")
        if self.since_save is not None:
            parts.append(f"saved {fmt_duration(self.since_save)} ago")
        return " · ".join(parts)


def training_facts(reader: MetricsReader, model_state: dict[str, Any], status: dict[str, Any] | None,
                   trainer_opts: dict[str, Any] | None = None, now: float | None = None) -> TrainingFacts:
    now = time.time() if now is None else now
    f = TrainingFacts()
    status = status or {}
    f.state = str(status.get("state") or "")
    f.running = f.state in ("running", "starting", "queued")
    last = reader.last
    prog = status.get("progress") or {}
    counts = prog.get("counts") or {}
    f.iteration = max(int(model_state.get("iteration", 0) or 0), last.it if last else 0,
                      int(counts.get("iteration") or 0) if f.running else 0)
    f.target = int((trainer_opts or {}).get("target_iter") or 0)
    if last is not None:
        f.losses = dict(last.loss)
        f.ms, f.sps = last.ms, last.sps
    f.rate = reader.rate() if f.running else 0.0
    if f.target and f.rate > 0 and f.iteration < f.target:
        f.eta = (f.target - f.iteration) / f.rate
    saved = reader.last_event("save")
    saved_t = model_state.get("saved")
    if saved is not None and (not saved_t or float(saved.get("t", 0)) >= float(saved_t)):
        saved_t, f.saved_iteration = saved.get("t"), int(saved.get("it", 0))
    elif saved_t:
        f.saved_iteration = int(model_state.get("iteration", 0) or 0)
    if saved_t:
        f.since_save = max(0.0, now - float(saved_t))
    return f


__all__ = ["MetricsReader", "Point", "RANGES", "TrainingFacts", "downsample", "ema", "fmt_duration", "fmt_loss",
           "merge_points", "smoothing_alpha", "training_facts"]
