"""What a running step sees of the job machinery: progress, logging, stop requests.

Library code takes a :class:`Reporter` (default: silent) so it runs the same in a
job, in a test or in a notebook. :class:`JobContext` is the reporter of a real job:
it writes ``status.json`` and ``events.jsonl`` in the run folder, throttled so a
step can call :meth:`Reporter.progress` for every frame.
"""

from __future__ import annotations

import logging
import sys
import threading
import time
from typing import Any

from ..errors import JobCancelled
from .rundir import RunDir

log = logging.getLogger("dfl_tui.job")


class Reporter:
    """Silent reporter; subclass or pass :class:`JobContext` to see progress."""

    workspace: Any = None  # the Workspace a step works in (set by the runner)

    def __init__(self, workspace: Any = None) -> None:
        self._stop_reason: str | None = None
        if workspace is not None:
            self.workspace = workspace

    # progress ---------------------------------------------------------------------
    def stage(self, name: str, total: int | None = None, unit: str = "items", start: int = 0) -> None:
        """Start a named phase (resets the counters); ``start`` is where ``done`` resumes from."""

    def progress(self, done: int, total: int | None = None, *, message: str | None = None, **counts: Any) -> None:
        """Report ``done`` of ``total`` plus step-specific counts (faces=, skipped=...)."""

    def log(self, message: str, level: str = "info") -> None:
        """A line for the job log and the UI's log pane."""

    def warn(self, message: str) -> None:
        self.log(message, "warning")

    def result(self, **values: Any) -> None:
        """Values the step wants to hand back (shown at the end, stored in status.json)."""

    def artifact(self, kind: str, path: str) -> None:
        """A file the UI may want to show now (a preview image, say)."""

    # stop -------------------------------------------------------------------------
    def request_stop(self, reason: str = "stop requested") -> None:
        self._stop_reason = reason

    @property
    def cancelled(self) -> bool:
        return self._stop_reason is not None

    @property
    def stop_reason(self) -> str | None:
        return self._stop_reason

    def check_cancel(self) -> None:
        """Call at safe points; raises :class:`JobCancelled` once a stop was asked for."""
        if self.cancelled:
            raise JobCancelled(self._stop_reason or "cancelled")

    def take_request(self, what: str) -> bool:
        """Consume a UI request such as ``save`` or ``preview`` (jobs only)."""
        return False


class PrintReporter(Reporter):
    """Prints log lines and progress to stderr: for scripts and benchmarks run in-process."""

    def __init__(self, workspace: Any = None, stream: Any = None, every: float = 1.0) -> None:
        super().__init__(workspace)
        self.stream = stream or sys.stderr
        self.every = every
        self._last = 0.0

    def log(self, message: str, level: str = "info") -> None:
        prefix = "" if level == "info" else f"{level}: "
        print(prefix + message, file=self.stream, flush=True)

    def progress(self, done: int, total: int | None = None, *, message: str | None = None, **counts: Any) -> None:
        now = time.monotonic()
        if now - self._last < self.every and not (total and done >= total):
            return
        self._last = now
        extra = " ".join(f"{k}={v}" for k, v in counts.items())
        print(f"  {done}/{total if total is not None else '?'} {extra} {message or ''}".rstrip(), file=self.stream, flush=True)


class JobContext(Reporter):
    """The reporter of a job running in its own process, writing to its run folder."""

    STATUS_EVERY = 0.5  # seconds between status.json rewrites while progress flows
    EVENT_EVERY = 0.5  # seconds between progress events (a day of training: ~170k short lines)

    def __init__(self, run: RunDir, status: dict[str, Any]) -> None:
        super().__init__()
        self.run = run
        self.status = status
        self._lock = threading.Lock()
        self._last_status = 0.0
        self._last_event = 0.0
        self._stage_t0 = time.time()
        self._rate_t = time.time()
        self._rate_done = 0
        self._rate = 0.0
        self._stage_start = 0
        self._last_control_check = 0.0

    # -- internal -------------------------------------------------------------------
    def flush(self, force: bool = True) -> None:
        now = time.time()
        if force or now - self._last_status >= self.STATUS_EVERY:
            self._last_status = now
            self.status["updated"] = now
            self.run.write_status(self.status)

    def set_state(self, state: str, **fields: Any) -> None:
        with self._lock:
            self.status["state"] = state
            self.status.update(fields)
            self.flush(True)
            self.run.append_event({"type": "state", "state": state, **{k: v for k, v in fields.items() if k != "traceback"}})

    # -- Reporter ---------------------------------------------------------------------
    def stage(self, name: str, total: int | None = None, unit: str = "items", start: int = 0) -> None:
        with self._lock:
            self._stage_t0 = time.time()
            self._rate_t = self._stage_t0
            self._rate_done = start
            self._stage_start = start
            self._rate = 0.0
            self.status["progress"] = {"stage": name, "done": start, "total": total, "unit": unit, "rate": 0.0, "eta": None,
                                       "counts": {}}
            self.run.append_event({"type": "stage", "stage": name, "total": total, "unit": unit})
            self.flush(True)
        self.log(f"{name}...")

    def progress(self, done: int, total: int | None = None, *, message: str | None = None, **counts: Any) -> None:
        now = time.time()
        with self._lock:
            prog = self.status.setdefault("progress", {"stage": "", "unit": "items", "counts": {}})
            if total is not None:
                prog["total"] = total
            total = prog.get("total")
            prog["done"] = done
            if counts:
                prog.setdefault("counts", {}).update(counts)
            if message is not None:
                prog["message"] = message
            # Rate over a sliding window of about two seconds, smoothed.
            dt = now - self._rate_t
            if dt >= 2.0 or (done > self._stage_start and self._rate == 0.0 and dt > 0.2):
                inst = (done - self._rate_done) / dt if dt > 0 else 0.0
                self._rate = inst if self._rate == 0.0 else 0.6 * self._rate + 0.4 * inst
                self._rate_t, self._rate_done = now, done
            if self._rate == 0.0 and done > self._stage_start and now > self._stage_t0:
                self._rate = (done - self._stage_start) / (now - self._stage_t0)
            prog["rate"] = round(self._rate, 3)
            prog["elapsed"] = round(now - self._stage_t0, 1)
            prog["eta"] = round((total - done) / self._rate, 1) if total and self._rate > 0 and done < total else None
            finished = total is not None and done >= total
            if finished or now - self._last_event >= self.EVENT_EVERY:
                self._last_event = now
                self.run.append_event({"type": "progress", **{k: v for k, v in prog.items()}})
            self.flush(finished)
        self._poll_control(now)

    def log(self, message: str, level: str = "info") -> None:
        getattr(log, "warning" if level == "warning" else ("error" if level == "error" else "info"))(message)
        with self._lock:
            self.run.append_event({"type": "log", "level": level, "message": message})
            if level in ("warning", "error"):
                self.status["warnings"] = int(self.status.get("warnings", 0)) + 1

    def result(self, **values: Any) -> None:
        with self._lock:
            self.status.setdefault("result", {}).update(values)
            self.flush(True)

    def artifact(self, kind: str, path: str) -> None:
        with self._lock:
            self.status.setdefault("artifacts", {})[kind] = path
            self.run.append_event({"type": "artifact", "kind": kind, "path": path})
            self.flush(False)

    def _poll_control(self, now: float) -> None:
        if now - self._last_control_check < 0.5:
            return
        self._last_control_check = now
        if self.run.has_request("cancel"):
            self.request_stop("cancel requested")

    @property
    def cancelled(self) -> bool:
        if self._stop_reason is None:
            self._poll_control(time.time())
        return self._stop_reason is not None

    def take_request(self, what: str) -> bool:
        return self.run.take_request(what)
