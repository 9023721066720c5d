"""A job's live view: state, progress bar, counts/rate/ETA, error, and its log.

It follows one run folder from a thread worker (:class:`~dfl_tui.tui.jobwatch.JobFollower`)
that posts :class:`~dfl_tui.tui.messages.JobUpdated`; everything visible changes in
the handler, on the event loop. The job is never a child that needs the UI: closing
this view, the screen or the whole app leaves it running.
"""

from __future__ import annotations

import time
from collections import deque
from typing import Any

from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.containers import Vertical
from textual.widgets import ProgressBar, RichLog, Static
from textual.worker import get_current_worker

from ...jobs.rundir import FINAL_STATES, RunDir
from ..jobwatch import JobFollower, describe_end, describe_progress, format_event
from ..messages import JobFinished, JobUpdated, TextLoaded

LEVEL_STYLES = {"warning": "bold yellow", "error": "bold red", "state": "bold"}


class JobView(Vertical):
    """Shows the job it was last told to :meth:`follow`."""

    DEFAULT_CSS = """
    JobView { height: 1fr; }
    JobView > #job-head { height: 1; text-style: bold; }
    JobView > #job-bar { height: 1; }
    JobView > #job-stats { height: auto; max-height: 2; color: $text-muted; }
    JobView > #job-error { height: auto; max-height: 4; color: $error; display: none; }
    JobView > #job-error.-shown { display: block; }
    JobView > #job-log { height: 1fr; min-height: 3; border: round $panel; }
    """

    MAX_LINES = 2000

    def __init__(self, *, poll_interval: float = 0.25, key_ids: dict[str, str] | None = None,
                 id: str | None = None, classes: str | None = None) -> None:
        super().__init__(id=id, classes=classes)
        self.poll_interval = poll_interval
        # Binding ids of the screen's traceback / job.log keys, for hints that follow the keymap.
        self.key_ids = dict(key_ids or {})
        self.run_dir: RunDir | None = None
        self.status: dict[str, Any] = {}
        self.mode = "events"  # or "traceback", "joblog"
        self._lines: deque[tuple[str, str]] = deque(maxlen=self.MAX_LINES)
        self._finished_sent = False
        self._seen_active = False
        self.updates = 0  # how many updates arrived (tests wait on it)

    def compose(self) -> ComposeResult:
        yield Static("", id="job-head")
        yield ProgressBar(total=None, show_eta=False, id="job-bar")
        yield Static("", id="job-stats")
        yield Static("", id="job-error")
        yield RichLog(id="job-log", max_lines=self.MAX_LINES, wrap=True, markup=False, auto_scroll=True)

    # -- following ---------------------------------------------------------------------
    @property
    def final(self) -> bool:
        return self.status.get("state") in FINAL_STATES

    def follow(self, run: RunDir) -> None:
        """Show ``run`` (any state); keep reading it while it runs."""
        self.run_dir = run
        self.status = {"state": "queued", "id": run.id}
        self.mode = "events"
        self._lines.clear()
        self._finished_sent = False
        self._seen_active = False
        self.query_one("#job-log", RichLog).clear()
        self.query_one("#job-error", Static).remove_class("-shown")
        self.query_one("#job-bar", ProgressBar).update(total=None, progress=0)
        self.query_one("#job-head", Static).update(f"Job {run.id} · opening...")
        self.query_one("#job-stats", Static).update("")
        self.display = True
        self._follow(run)

    def stop_following(self) -> None:
        self.workers.cancel_group(self, "job-follow")

    @work(thread=True, exclusive=True, group="job-follow", exit_on_error=False)
    def _follow(self, run: RunDir) -> None:
        from ... import jobs as jobsmod

        worker = get_current_worker()
        follower = JobFollower(run)
        while not worker.is_cancelled:
            snap = follower.poll()
            if follower.changed(snap) or snap.final:
                self.post_message(JobUpdated(run.id, snap.status, snap.events, snap.final))
            if snap.final:
                jobsmod.reap()
                return
            # Sleep in small slices so leaving the screen stops this thread quickly.
            end = time.monotonic() + self.poll_interval
            while not worker.is_cancelled and time.monotonic() < end:
                time.sleep(min(0.05, self.poll_interval))
            jobsmod.reap()

    @on(JobUpdated)
    def _on_job_updated(self, msg: JobUpdated) -> None:
        if self.run_dir is None or msg.run_id != self.run_dir.id:
            return
        self.updates += 1
        self.status = msg.status
        for ev in msg.events:
            item = format_event(ev)
            if item is not None:
                self._lines.append(item)
                if self.mode == "events":
                    self._write_line(*item)
        self._render_status()
        if not msg.final:
            self._seen_active = True
        if msg.final and not self._finished_sent:
            self._finished_sent = True
            self.post_message(JobFinished(msg.run_id, msg.status, live=self._seen_active))

    def _render_status(self) -> None:
        st = self.status
        state = st.get("state", "?")
        title = st.get("title") or st.get("step") or ""
        pid = f" · pid {st['pid']}" if st.get("pid") and state in ("running", "starting") else ""
        self.query_one("#job-head", Static).update(Text.assemble((f"{title}", "bold"), f" · {state}{pid} · {st.get('id', '')}"))
        prog = st.get("progress") or {}
        bar = self.query_one("#job-bar", ProgressBar)
        total = prog.get("total")
        if total:
            bar.update(total=float(total), progress=float(prog.get("done") or 0))
        elif state == "done":
            bar.update(total=1, progress=1)
        elif self.final:
            bar.update(total=1, progress=0)
        stats = describe_progress(st)
        if self.final:
            stats = describe_end(st) + (f"\n{stats}" if stats else "")
        self.query_one("#job-stats", Static).update(Text(stats))
        err = self.query_one("#job-error", Static)
        if state in ("failed", "lost"):
            hints = []
            if st.get("traceback"):
                hints.append(f"{self._key('traceback', 'ctrl+t')}: traceback")
            hints.append(f"{self._key('joblog', 'ctrl+l')}: job.log")
            err.update(Text(f"Error: {st.get('error') or 'the job failed'}  ({', '.join(hints)})"))
            err.add_class("-shown")
        else:
            err.remove_class("-shown")

    def _key(self, what: str, default: str) -> str:
        key_for = getattr(self.app, "key_for", None)
        bid = self.key_ids.get(what)
        return key_for(bid, default) if (callable(key_for) and bid) else default

    def add_note(self, text: str, level: str = "state") -> None:
        """A line of the UI's own under the job's log (kept when the view switches back to events)."""
        item = (level, text)
        self._lines.append(item)
        if self.mode == "events":
            self._write_line(*item)

    def _write_line(self, level: str, text: str) -> None:
        style = LEVEL_STYLES.get(level, "")
        prefix = "" if level in ("info", "state") else f"{level}: "
        self.query_one("#job-log", RichLog).write(Text(prefix + text, style=style))

    # -- other views of the log ------------------------------------------------------------
    @property
    def log_text(self) -> str:
        """The plain text of the log pane (tests, copy)."""
        return "\n".join(strip.text for strip in self.query_one("#job-log", RichLog).lines)

    def show_events(self) -> None:
        self.mode = "events"
        log = self.query_one("#job-log", RichLog)
        log.clear()
        log.border_title = None
        for item in self._lines:
            self._write_line(*item)

    def toggle_traceback(self) -> None:
        if self.mode == "traceback":
            self.show_events()
            return
        tb = self.status.get("traceback")
        if not tb:
            self.app.notify("This job has no traceback." if self.run_dir else "No job yet.", severity="information")
            return
        self.mode = "traceback"
        log = self.query_one("#job-log", RichLog)
        log.clear()
        log.border_title = f"traceback ({self._key('traceback', 'ctrl+t')}: back)"
        log.write(Text(tb))

    def toggle_joblog(self) -> None:
        if self.mode == "joblog":
            self.show_events()
            return
        if self.run_dir is None:
            self.app.notify("No job yet.")
            return
        self.mode = "joblog"
        self._read_joblog(self.run_dir)

    @work(thread=True, exclusive=True, group="job-text", exit_on_error=False)
    def _read_joblog(self, run: RunDir) -> None:
        self.post_message(TextLoaded("joblog", run.log_tail(400)))

    @on(TextLoaded)
    def _on_text_loaded(self, msg: TextLoaded) -> None:
        if msg.what != "joblog" or self.mode != "joblog":
            return
        log = self.query_one("#job-log", RichLog)
        log.clear()
        log.border_title = f"job.log ({self._key('joblog', 'ctrl+l')}: back)"
        log.write(Text(msg.text or "(job.log is empty)"))
