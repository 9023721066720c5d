"""Following a job from its run folder, and describing its progress in words.

No Textual here: :class:`JobFollower` is what a thread worker calls to read
what changed (``status.json`` and the new lines of ``events.jsonl``, by byte
offset), and the ``describe_*`` functions turn a status into the text the step
screen, the jobs screen and the home screen show.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import Any

from ..jobs.rundir import FINAL_STATES, RunDir
from ..util.fmt import (describe_progress, fmt_age, fmt_duration, fmt_rate, progress_fraction,  # noqa: F401 - re-exported
                        short_progress)

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
        it = (status.get("result") or {}).get("iteration")
        if it is not None:  # a training saves when it is stopped
            return f"Stopped{took}, saved at iteration {it}"
        return f"Stopped{took}: {status.get('message') or 'cancelled'}"
    if state in ("failed", "lost"):
        return f"Failed{took}: {status.get('error') or 'the job failed'}"
    return str(state or "")


def marked_note(step: str, result: dict[str, Any], verify_key: str = "ctrl+k") -> str:
    """What a finished merge / make-video says about the marks its output carries."""
    if step == "make-video":
        out = os.path.basename(str(result.get("result") or "result.mp4"))
        return (f"{out} is marked as AI-generated: container metadata and the frames' invisible watermark. "
                f"Check it: {verify_key} here, or dfl-tui verify {out}")
    return ("The merged frames are marked as AI-generated: metadata in each file and an invisible watermark "
            f"(plus the visible label if you asked for it). Check one: {verify_key} here, or "
            "dfl-tui verify data_dst/merged/<frame>.png")


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
