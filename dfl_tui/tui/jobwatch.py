"""Following a job from its run folder, and describing its progress in words.

No Textual here: :class:`JobFollower` is what a thread worker calls to read
what changed (``status.json`` and the new lines of ``events.jsonl``, by byte
offset), and the ``describe_*`` functions turn a status into the text the step
screen, the jobs screen and the home screen show.
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass, field
from typing import Any

from ..jobs.rundir import FINAL_STATES, RunDir

# On attach, read at most this much of an old events.jsonl (a days-long training
# run appends a lot); the progress itself comes from status.json anyway.
TAIL_BYTES = 256 * 1024


@dataclass
class JobSnapshot:
    status: dict[str, Any]
    events: list[dict[str, Any]] = field(default_factory=list)
    final: bool = False


class JobFollower:
    """Reads a run folder incrementally; call :meth:`poll` from a worker thread."""

    def __init__(self, run: RunDir, *, tail_bytes: int = TAIL_BYTES) -> None:
        self.run = run
        self.offset = 0
        try:
            size = os.path.getsize(run.events_path)
        except OSError:
            size = 0
        if size > tail_bytes:
            # Start near the end; the first (partial) line is skipped by read_jsonl's parser.
            self.offset = size - tail_bytes
        self._last_status_key: Any = None

    def poll(self) -> JobSnapshot:
        events, self.offset = self.run.read_events(self.offset)
        status = self.run.read_status()
        final = status.get("state") in FINAL_STATES
        if final:
            more, self.offset = self.run.read_events(self.offset)
            events.extend(more)
        return JobSnapshot(status=status, events=events, final=final)

    def changed(self, snap: JobSnapshot) -> bool:
        """True when the snapshot differs from the last one worth showing."""
        prog = snap.status.get("progress") or {}
        key = (snap.status.get("state"), snap.status.get("updated"), prog.get("done"), prog.get("total"),
               prog.get("stage"))
        if snap.events or key != self._last_status_key:
            self._last_status_key = key
            return True
        return False


def newest_first(jobs: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Sort by creation time (job ids only order to the second)."""
    return sorted(jobs, key=lambda j: float(j.get("created") or j.get("started") or 0), reverse=True)


def fmt_duration(sec: float | None) -> str:
    if sec is None:
        return "?"
    sec = int(max(0, sec))
    h, rem = divmod(sec, 3600)
    m, s = divmod(rem, 60)
    if h >= 48:
        return f"{h // 24}d{h % 24:02d}h"
    return f"{h}:{m:02d}:{s:02d}" if h else f"{m}:{s:02d}"


def fmt_rate(rate: float | None, unit: str) -> str:
    rate = float(rate or 0.0)
    if rate <= 0:
        return f"- {unit}/s"
    if rate < 1:
        return f"{rate:.2f} {unit}/s"
    if rate < 10:
        return f"{rate:.1f} {unit}/s"
    return f"{rate:.0f} {unit}/s"


def fmt_age(t: float | None, now: float | None = None) -> str:
    if not t:
        return ""
    d = (now or time.time()) - float(t)
    if d < 60:
        return f"{d:.0f}s ago"
    if d < 3600:
        return f"{d / 60:.0f}m ago"
    if d < 86400:
        return f"{d / 3600:.1f}h ago"
    return f"{d / 86400:.1f}d ago"


def progress_fraction(status: dict[str, Any]) -> float | None:
    prog = status.get("progress") or {}
    done, total = prog.get("done"), prog.get("total")
    if done is None or not total:
        return None
    return max(0.0, min(1.0, float(done) / float(total)))


def describe_progress(status: dict[str, Any]) -> str:
    """``counting 12/20 items (60%) · 19.8 items/s · ETA 0:01 · even 6``."""
    prog = status.get("progress") or {}
    if not prog:
        return ""
    unit = prog.get("unit") or "items"
    done, total = prog.get("done", 0), prog.get("total")
    parts = []
    head = f"{prog.get('stage') or ''} {done}{f'/{total}' if total else ''} {unit}".strip()
    if total:
        head += f" ({100 * float(done) / max(float(total), 1):.0f}%)"
    parts.append(head)
    if status.get("state") in ("running", "starting"):
        parts.append(fmt_rate(prog.get("rate"), unit))
        if prog.get("eta") is not None:
            parts.append(f"ETA {fmt_duration(prog['eta'])}")
    if prog.get("elapsed") is not None:
        parts.append(f"elapsed {fmt_duration(prog['elapsed'])}")
    for k, v in (prog.get("counts") or {}).items():
        parts.append(f"{k.replace('_', ' ')} {v}")
    if prog.get("message"):
        parts.append(str(prog["message"]))
    return " · ".join(parts)


def short_progress(status: dict[str, Any]) -> str:
    """``45%`` or ``120 items``: for a table cell."""
    frac = progress_fraction(status)
    if frac is not None:
        return f"{100 * frac:.0f}%"
    prog = status.get("progress") or {}
    if prog.get("done"):
        return f"{prog['done']} {prog.get('unit') or 'items'}"
    return ""


def describe_end(status: dict[str, Any]) -> str:
    """One line on how a finished job ended."""
    state = status.get("state")
    took = ""
    if status.get("started") and status.get("ended"):
        took = f" in {fmt_duration(float(status['ended']) - float(status['started']))}"
    if state == "done":
        res = status.get("result") or {}
        shown = ", ".join(f"{k.replace('_', ' ')} {v}" for k, v in list(res.items())[:6])
        return f"Done{took}" + (f": {shown}" if shown else "")
    if state == "cancelled":
        return f"Stopped{took}: {status.get('message') or 'cancelled'}"
    if state in ("failed", "lost"):
        return f"Failed{took}: {status.get('error') or 'the job failed'}"
    return str(state or "")


def format_event(ev: dict[str, Any]) -> tuple[str, str] | None:
    """(level, text) of an event for the log pane; ``None`` for events not shown there."""
    kind = ev.get("type")
    if kind == "log":
        return str(ev.get("level") or "info"), str(ev.get("message", ""))
    if kind == "state":
        state = ev.get("state")
        if state == "running":
            return None
        extra = ev.get("error") or ev.get("message") or ""
        return ("error" if state in ("failed", "lost") else "state"), f"[{state}] {extra}".rstrip()
    if kind == "artifact":
        return "info", f"{ev.get('kind')}: {ev.get('path')}"
    return None
