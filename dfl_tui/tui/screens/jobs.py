"""All jobs of the workspace: state, progress, error; the selected one's live view."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.screen import Screen
from textual.widgets import DataTable, Footer, Header, Static

from ... import workflow
from ...jobs.rundir import ACTIVE_STATES, RunDir
from ..jobwatch import fmt_age, newest_first, short_progress
from ..messages import JobsLoaded
from ..quiet import update_cell, update_static
from ..widgets.job_view import JobView

STATE_STYLES = {"running": "bold", "starting": "bold", "queued": "", "done": "green", "failed": "bold red",
                "lost": "bold red", "cancelled": "yellow"}


class JobsScreen(Screen):
    """Every job in the workspace's ``.jobs/``, newest first."""

    BINDINGS = [
        Binding("x,ctrl+x", "cancel_job", "Stop job", id="jobs.cancel"),
        Binding("t,ctrl+t", "traceback", "Traceback", id="jobs.traceback"),
        Binding("l,ctrl+l", "joblog", "job.log", id="jobs.joblog"),
        Binding("o", "open_step", "Open step", id="jobs.open"),
        Binding("ctrl+r", "refresh", "Refresh", id="jobs.refresh", show=False),
        Binding("escape,q", "back", "Back", id="jobs.back"),
    ]

    def __init__(self, *, refresh_interval: float | None = 1.0) -> None:
        super().__init__(id="jobs")
        self.refresh_interval = refresh_interval
        self.jobs: list[dict[str, Any]] = []
        self.loaded = 0
        self._loading = False

    def compose(self) -> ComposeResult:
        yield Header(show_clock=False, icon="◆")
        yield DataTable(id="jobs-table", cursor_type="row")
        yield Static("", id="jobs-empty")
        yield JobView(id="job", poll_interval=getattr(self.app, "job_poll_interval", 0.25),
                      key_ids={"traceback": "jobs.traceback", "joblog": "jobs.joblog"})
        yield Footer()

    def on_mount(self) -> None:
        table = self.query_one("#jobs-table", DataTable)
        table.add_column("Job", key="job", width=30)
        table.add_column("State", key="state", width=9)
        table.add_column("Progress", key="progress", width=9)
        table.add_column("Started", key="age", width=9)
        table.add_column("Error", key="error")
        self.query_one("#job", JobView).display = False
        self.action_refresh()
        if self.refresh_interval:
            self.set_interval(self.refresh_interval, self.action_refresh)

    def on_screen_resume(self) -> None:
        self.action_refresh()

    def action_refresh(self) -> None:
        if self._loading:
            return
        self._loading = True
        self._load()

    @work(thread=True, exclusive=True, group="jobs-load", exit_on_error=False)
    def _load(self) -> None:
        from ... import jobs as jobsmod

        self.post_message(JobsLoaded(newest_first(jobsmod.list_jobs(self.app.workspace, limit=200))))  # type: ignore[attr-defined]

    @staticmethod
    def _cells(j: dict[str, Any], now: float) -> tuple[Text, ...]:
        side = (j.get("options") or {}).get("side")
        name = f"{j.get('title') or j.get('step')}{f' ({side})' if side else ''}"
        state = str(j.get("state") or "?")
        err = (j.get("error") or "").splitlines()
        return (
            Text(name),
            Text(state, style=STATE_STYLES.get(state, "")),
            Text(short_progress(j)),
            Text(fmt_age(j.get("started") or j.get("created"), now)),
            Text(err[0][:120] if err else "", style="red"),
        )

    @on(JobsLoaded)
    def _on_loaded(self, msg: JobsLoaded) -> None:
        self._loading = False
        self.jobs = msg.jobs
        table = self.query_one("#jobs-table", DataTable)
        now = time.time()
        ids = [j["id"] for j in msg.jobs]
        if [str(k.value) for k in table.rows] != ids:
            # New or removed jobs: rebuild, newest first, keeping the selected job selected.
            cursor_key = self.selected_id()
            table.clear()
            for j in msg.jobs:
                table.add_row(*self._cells(j, now), key=j["id"])
            if cursor_key in ids:
                table.move_cursor(row=ids.index(cursor_key))
        else:
            for j in msg.jobs:
                for col, cell in zip(("job", "state", "progress", "age", "error"), self._cells(j, now)):
                    update_cell(table, j["id"], col, cell)  # only what changed: the 1-s poll sends nothing else
        empty = self.query_one("#jobs-empty", Static)
        if empty.display != (not msg.jobs):
            empty.display = not msg.jobs
        update_static(empty, "No jobs yet in this workspace." if not msg.jobs else "")
        self.loaded += 1
        if msg.jobs:
            self._show()

    def selected_id(self) -> str | None:
        table = self.query_one("#jobs-table", DataTable)
        if table.row_count == 0:
            return None
        return str(table.coordinate_to_cell_key(table.cursor_coordinate).row_key.value)

    def selected_job(self) -> dict[str, Any] | None:
        sid = self.selected_id()
        return next((j for j in self.jobs if j["id"] == sid), None)

    @on(DataTable.RowHighlighted, "#jobs-table")
    def _on_highlight(self, _event: DataTable.RowHighlighted) -> None:
        self._show()

    def _show(self) -> None:
        job = self.selected_job()
        if job is None:
            return
        jv = self.query_one("#job", JobView)
        if jv.run_dir is not None and jv.run_dir.id == job["id"]:
            return
        jv.follow(RunDir(Path(job["run_dir"])))

    @on(DataTable.RowSelected, "#jobs-table")
    def _on_selected(self, _event: DataTable.RowSelected) -> None:
        self.action_open_step()

    # -- actions ----------------------------------------------------------------------------
    def action_cancel_job(self) -> None:
        job = self.selected_job()
        if job is None or job.get("state") not in ACTIVE_STATES + ("starting",):
            self.notify("The selected job is not running.", severity="information")
            return
        self._cancel(RunDir(Path(job["run_dir"])))

    @work(thread=True, group="jobs-cancel", exit_on_error=False)
    def _cancel(self, run: RunDir) -> None:
        from ... import jobs as jobsmod

        alive = jobsmod.cancel(run)
        self.app.call_from_thread(self.notify, f"Asked {run.id} to stop." if alive else f"{run.id} had already ended.")

    def action_traceback(self) -> None:
        self.query_one("#job", JobView).toggle_traceback()

    def action_joblog(self) -> None:
        self.query_one("#job", JobView).toggle_joblog()

    def action_open_step(self) -> None:
        job = self.selected_job()
        if job is None or not job.get("step"):
            return
        try:
            entry = workflow.for_step(job["step"], job.get("options") or {})
        except KeyError as exc:
            self.notify(str(exc), severity="error")
            return
        self.app.open_entry(entry, run_id=job["id"])  # type: ignore[attr-defined]

    def action_back(self) -> None:
        self.app.pop_screen()
