"""The generic step screen: a step's options as a form, Run, and the job's live progress.

One class serves every step of :mod:`dfl_tui.steps` that has no dedicated screen
(see :mod:`dfl_tui.tui.registry`). Opening a step whose job is still running (or
ran last) shows that job: the UI re-attaches to its run folder, whoever started it.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal
from textual.screen import Screen
from textual.widgets import Button, Footer, Header, Static

from ... import steps as stepsmod
from ... import workflow
from ...jobs.rundir import ACTIVE_STATES, RunDir
from ..jobwatch import describe_end, marked_note, newest_first
from ..messages import JobFinished, JobStarted, JobStartFailed, WorkspaceLoaded
from ..widgets.job_view import JobView
from ..widgets.options_form import OptionsForm

ACTIVE = ACTIVE_STATES + ("starting",)


class StepScreen(Screen):
    """Options form + Run + live job view for one workflow entry (or any step)."""

    BINDINGS = [
        Binding("ctrl+r", "run", "Run", id="step.run"),
        Binding("ctrl+x", "cancel_job", "Stop job", id="step.cancel"),
        Binding("ctrl+t", "traceback", "Traceback", id="step.traceback"),
        Binding("ctrl+l", "joblog", "job.log", id="step.joblog"),
        Binding("ctrl+o", "toggle_form", "Options", id="step.options", show=False),
        Binding("ctrl+k", "verify", "Verify mark", id="step.verify"),
        Binding("ctrl+e", "pick_reference", "Pick reference", id="step.pick-reference"),
        Binding("escape", "back", "Back", id="step.back"),
    ]

    # Steps whose output carries the synthetic-media mark (ctrl+k checks it).
    MARKING_STEPS = ("merge", "make-video")

    def __init__(self, entry: workflow.WorkflowStep, *, start: bool = False, run_id: str | None = None,
                 values: dict[str, Any] | None = None) -> None:
        super().__init__(classes="step-screen")
        self.entry = entry
        self.autostart = start
        self.run_id = run_id
        self.values = dict(values or {})
        self.step: stepsmod.Step | None = None
        self.options_cls: type | None = None
        self.unavailable: str | None = None
        self.started_here = False
        self._starting = False
        self._resolve()

    # -- what this screen can do ---------------------------------------------------------------
    def _resolve(self) -> None:
        if not self.entry.step:
            self.unavailable = "This step is not available yet in this version of dfl-tui."
            return
        try:
            self.step = stepsmod.get(self.entry.step)
        except KeyError as exc:
            self.unavailable = str(exc)
            return
        if not self.step.available:
            self.unavailable = "This step is not available yet in this version of dfl-tui."
            return
        try:
            self.options_cls = self.step.options_cls()
        except (ImportError, AttributeError) as exc:
            self.unavailable = f"This step's options could not be loaded ({type(exc).__name__}: {exc})."

    @property
    def job_view(self) -> JobView:
        return self.query_one("#job", JobView)

    @property
    def form(self) -> OptionsForm:
        return self.query_one("#form", OptionsForm)

    def compose(self) -> ComposeResult:
        yield Header(show_clock=False, icon="◆")
        title = Text()
        if self.entry.number:
            title.append(f"{self.entry.number} · ", style="bold")
        title.append(self.entry.title, style="bold")
        if self.entry.step:
            opts = " ".join(f"{k}={v}" for k, v in self.entry.preset)
            title.append(f"   {self.entry.step}{' ' + opts if opts else ''}", style="dim")
        yield Static(title, id="step-title")
        guide = self.entry.guidance or (self.step.summary if self.step else "")
        yield Static(Text(guide), id="step-guide")
        yield Static("", id="step-state")
        if self.unavailable:
            yield Static(Text(self.unavailable, style="bold"), id="step-unavailable")
        else:
            assert self.options_cls is not None
            yield OptionsForm(self.options_cls, preset=self.entry.options, values=self.values, id="form")
            with Horizontal(id="step-buttons"):
                yield Button("Run", id="run", variant="primary", compact=True)
                yield Button("Stop job", id="cancel", variant="error", compact=True, disabled=True)
                yield Button("Back", id="back", compact=True)
        yield JobView(id="job", poll_interval=getattr(self.app, "job_poll_interval", 0.25),
                      key_ids={"traceback": "step.traceback", "joblog": "step.joblog"})
        yield Footer()

    def on_mount(self) -> None:
        self.job_view.display = False
        self._load()
        if self.autostart and not self.unavailable:
            self.call_after_refresh(self.action_run)

    # -- loading the step's state and its last job -------------------------------------------------
    @work(thread=True, exclusive=True, group="step-load", exit_on_error=False)
    def _load(self) -> None:
        from ... import jobs as jobsmod

        ws = self.app.workspace  # type: ignore[attr-defined]
        status = ws.status()
        jobs = newest_first([j for j in jobsmod.list_jobs(ws, limit=100) if self._is_mine(j)])
        self.post_message(WorkspaceLoaded(status, jobs))

    def _is_mine(self, job: dict[str, Any]) -> bool:
        if self.run_id:
            return job.get("id") == self.run_id
        return self.entry.matches_job(job)

    @on(WorkspaceLoaded)
    def _on_loaded(self, msg: WorkspaceLoaded) -> None:
        st = self.entry.state_of(msg.status)
        self.query_one("#step-state", Static).update(Text(f"State: {st.text}" if st.text else "", style="dim"))
        if self.started_here or self._starting or self.job_view.run_dir is not None:
            return
        if msg.jobs:
            job = msg.jobs[0]  # newest first
            self.attach(RunDir(Path(job["run_dir"])))
            if not self.unavailable and job.get("options") and not self.values:
                self.form.set_values(job["options"])

    def attach(self, run: RunDir) -> None:
        """Show ``run`` in the job view and follow it."""
        self.add_class("-has-job")
        self.job_view.follow(run)
        self._update_buttons(active=True)

    # -- actions -------------------------------------------------------------------------------
    def action_run(self) -> None:
        if self.unavailable or self.step is None:
            self.notify(self.unavailable or "Nothing to run.", severity="warning")
            return
        if self._starting:
            return
        jv = self.job_view
        if jv.run_dir is not None and jv.status.get("state") in ACTIVE:
            self.notify("This step is already running: wait for it, or stop it first.", severity="warning")
            return
        options, errors = self.form.collect()
        if errors:
            self.notify("\n".join(errors[:4]), title="Check the options", severity="error")
            return
        self._starting = True
        self._start(options)

    @work(thread=True, exclusive=True, group="step-start", exit_on_error=False)
    def _start(self, options: Any) -> None:
        from ... import jobs as jobsmod

        assert self.step is not None
        ws = self.app.workspace  # type: ignore[attr-defined]
        try:
            busy = [j for j in jobsmod.list_jobs(ws, active_only=True) if self.entry.matches_job(j)]
            if busy and self.entry.preset:
                self.post_message(JobStartFailed(f"already running as job {busy[0]['id']}"))
                return
            run = jobsmod.start(ws, self.step.name, options, detach=True)
        except Exception as exc:  # noqa: BLE001 - shown to the user, the app goes on
            self.post_message(JobStartFailed(f"{type(exc).__name__}: {exc}"))
            return
        self.post_message(JobStarted(run.id, str(run.path)))

    @on(JobStarted)
    def _on_started(self, msg: JobStarted) -> None:
        self._starting = False
        self.started_here = True
        self.attach(RunDir(Path(msg.run_path)))
        self.app.remember_step(self.entry.key)  # type: ignore[attr-defined]

    @on(JobStartFailed)
    def _on_start_failed(self, msg: JobStartFailed) -> None:
        self._starting = False
        self.notify(f"Could not start {self.entry.title}: {msg.error}", severity="error", timeout=8)

    @on(JobFinished)
    def _on_finished(self, msg: JobFinished) -> None:
        self._update_buttons(active=False)
        if not (msg.live or self.started_here):
            return
        state = msg.status.get("state")
        sev = "information" if state == "done" else "warning" if state == "cancelled" else "error"
        self.notify(describe_end(msg.status), title=self.entry.title, severity=sev, timeout=6)
        if state == "done" and self.entry.step in self.MARKING_STEPS:
            self.job_view.add_note(marked_note(self.entry.step, msg.status.get("result") or {},
                                               self.app.key_for("step.verify", "ctrl+k")))  # type: ignore[attr-defined]
        self._load()

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action == "verify":
            return self.entry.step in self.MARKING_STEPS
        if action == "pick_reference":  # steps with a reference option (extract-faces) only
            return self.options_cls is not None and "reference" in getattr(self.options_cls, "__dataclass_fields__", {})
        return True

    def action_verify(self) -> None:
        """Check the synthetic-media mark of this step's output (the verify screen)."""
        self.app.action_verify()  # type: ignore[attr-defined]

    def _update_buttons(self, active: bool) -> None:
        if self.unavailable:
            return
        try:
            self.query_one("#cancel", Button).disabled = not active
        except Exception:  # noqa: BLE001 - not composed yet
            pass

    def action_cancel_job(self) -> None:
        jv = self.job_view
        if jv.run_dir is None or jv.status.get("state") not in ACTIVE:
            self.notify("No job of this step is running.", severity="information")
            return
        self._cancel(jv.run_dir)

    @work(thread=True, group="step-cancel", exit_on_error=False)
    def _cancel(self, run: RunDir) -> None:
        from ... import jobs as jobsmod

        alive = jobsmod.cancel(run)
        self.app.call_from_thread(
            self.notify, "Asked the job to stop; it finishes its current item first." if alive else "The job had already ended."
        )

    def action_traceback(self) -> None:
        self.job_view.toggle_traceback()

    def action_joblog(self) -> None:
        self.job_view.toggle_joblog()

    def action_pick_reference(self) -> None:
        from .reference_picker import ReferencePicker

        side = self.form.raw_values().get("side") or "dst"
        self.app.push_screen(ReferencePicker(str(side)),
                             callback=lambda folder: folder and self.form.set_values({"reference": folder}))

    def action_toggle_form(self) -> None:
        self.toggle_class("-form-hidden")

    def action_back(self) -> None:
        self.app.pop_screen()

    @on(Button.Pressed, "#run")
    def _run_pressed(self) -> None:
        self.action_run()

    @on(Button.Pressed, "#cancel")
    def _cancel_pressed(self) -> None:
        self.action_cancel_job()

    @on(Button.Pressed, "#back")
    def _back_pressed(self) -> None:
        self.action_back()
