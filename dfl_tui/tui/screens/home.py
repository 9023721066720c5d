"""The home screen: the numbered workflow with each step's state.

States come from :meth:`Workspace.status` plus the job list, read in a thread
worker whenever the app says the workspace changed (file watcher or poll timer)
and whenever the screen comes back into view.
"""

from __future__ import annotations

from typing import Any

from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal
from textual.screen import Screen
from textual.widgets import Button, DataTable, Footer, Header, Static

from ... import steps as stepsmod
from ... import workflow
from ...jobs.rundir import ACTIVE_STATES
from ..jobwatch import fmt_duration, newest_first, short_progress
from ..messages import WorkspaceLoaded
from ..quiet import update_cell, update_static
from ..registry import screen_key_for

MARKS = {"todo": "·", "ready": "•", "done": "✓", "busy": "▶", "warn": "!", "na": "–"}
LEVEL_VARS = {"todo": "text-muted", "ready": "primary", "done": "success", "busy": "accent", "warn": "error",
              "na": "text-disabled"}


def theme_colour(app: Any, name: str) -> str:
    """A theme variable as an opaque ``#rrggbb`` for Rich text (alpha blended over the background)."""
    from textual.color import Color, ColorParseError

    try:
        v = app.get_css_variables()
    except Exception:  # noqa: BLE001 - no theme applied yet
        return ""
    try:
        bg = Color.parse(v.get("background", "#000000"))
        fg = Color.parse(v.get("foreground", "#ffffff"))
    except ColorParseError:
        return ""
    raw = v.get(name, "")
    if name == "text-muted":
        c = fg.with_alpha(0.6)
    elif name == "text-disabled":
        c = fg.with_alpha(0.4)
    else:
        try:
            c = Color.parse(raw)
        except ColorParseError:
            return ""
    return bg.blend(c.with_alpha(1.0), c.a).hex


def entry_available(entry: workflow.WorkflowStep) -> bool:
    """A dedicated screen exists, or the entry's job step is available."""
    if entry.key == "clear":
        return True
    if screen_key_for(entry):
        return True
    if entry.step:
        try:
            return stepsmod.get(entry.step).available
        except KeyError:
            return False
    return False


def entry_state(entry: workflow.WorkflowStep, status: dict[str, Any], jobs: list[dict[str, Any]]) -> workflow.StepState:
    """The entry's state, a running job first, "not available yet" last."""
    for job in jobs:
        if job.get("state") in ACTIVE_STATES and entry.matches_job(job):
            prog = short_progress(job)
            return workflow.StepState(f"running {prog}".rstrip(), "busy")
    state = entry.state_of(status) if status else workflow.StepState("…")
    if not entry_available(entry):
        text = f"not available yet · {state.text}" if state.text else "not available yet"
        return workflow.StepState(text, "na")
    for job in jobs:
        if entry.matches_job(job):
            if job.get("state") in ("failed", "lost"):
                return workflow.StepState(f"{state.text} · last run failed", "warn")
            break
    return state


class HomeScreen(Screen):
    """The numbered steps of the workflow; Enter opens one."""

    AUTO_FOCUS = "#steps"

    BINDINGS = [
        Binding("enter", "open", "Open", id="home.open"),
        Binding("d", "demo", "Demo media", id="home.demo"),
        Binding("j", "app.jobs", "Jobs", id="home.jobs"),
        Binding("ctrl+r", "refresh", "Refresh", id="home.refresh", show=False),
        Binding("q", "app.quit", "Quit", id="home.quit"),
        *[Binding(d, f"goto('{d}')", f"step {d}", id=f"home.goto-{d}", show=False) for d in "1234567890"],
        Binding("full_stop", "goto('.')", "step x.y", id="home.goto-dot", show=False),
    ]

    # Typing a step number: digits and dots gather for this long after the last key.
    GOTO_TIMEOUT = 1.0

    def __init__(self) -> None:
        super().__init__(id="home")
        self.status: dict[str, Any] = {}
        self.jobs: list[dict[str, Any]] = []
        self.loaded = 0  # how many workspace reads have arrived (tests wait on it)
        self._loading = False
        self._again = False
        self.typed = ""  # the step number being typed
        self._typed_timer: Any = None
        self._cursor_placed = False  # the start position was chosen (or the user moved)

    def compose(self) -> ComposeResult:
        yield Header(show_clock=False, icon="◆")
        with Horizontal(id="banner"):
            yield Static("", id="banner-text")
            yield Button("Create demo media", id="demo-button", compact=True, variant="primary")
        table: DataTable = DataTable(id="steps", cursor_type="row", zebra_stripes=False, show_cursor=True)
        yield table
        yield Static("", id="detail")
        yield Static("", id="jobs-strip")
        yield Footer()

    def on_mount(self) -> None:
        self.app.sub_title = self.app.workspace_label  # type: ignore[attr-defined]
        table = self.query_one("#steps", DataTable)
        table.add_column("No.", key="num", width=4)
        table.add_column("Step", key="title", width=27)
        table.add_column("State", key="state")
        for entry in workflow.WORKFLOW:
            table.add_row(Text(entry.number or "·", style="bold" if entry.number else "dim"),
                          Text(entry.title, style="" if not entry.tool else "italic"),
                          Text("…", style="dim"), key=entry.key)
        self.query_one("#banner").display = False
        if self.start_entry() is not None:  # the last step used: known before the workspace is read
            self._place_cursor()
        self.app.workspace_changed.subscribe(self, self._on_workspace_changed)  # type: ignore[attr-defined]
        self.app.theme_changed_signal.subscribe(self, lambda _theme: self._render_states())
        self.refresh_status()
        self._show_detail()

    def on_screen_resume(self) -> None:
        self.refresh_status()

    def _on_workspace_changed(self, _data: Any) -> None:
        if self.is_current:
            self.refresh_status()

    # -- loading ---------------------------------------------------------------------------
    def refresh_status(self) -> None:
        """Read the workspace again (coalesced: one read at a time, one more if asked meanwhile)."""
        if self._loading:
            self._again = True
            return
        self._loading = True
        self._load()

    @work(thread=True, exclusive=True, group="home-status", exit_on_error=False)
    def _load(self) -> None:
        from ... import jobs as jobsmod

        ws = self.app.workspace  # type: ignore[attr-defined]
        try:
            status = ws.status()
            jobs = newest_first(jobsmod.list_jobs(ws, limit=50))
        except OSError as exc:
            status, jobs = {"workspace": str(ws.root), "exists": False, "error": str(exc)}, []
        self.post_message(WorkspaceLoaded(status, jobs))

    @on(WorkspaceLoaded)
    def _on_loaded(self, msg: WorkspaceLoaded) -> None:
        self._loading = False
        self.status, self.jobs = msg.status, msg.jobs
        self._render_states()
        if not self._cursor_placed:
            self._place_cursor()
        self.loaded += 1
        if self._again:
            self._again = False
            self.refresh_status()

    def _colours(self) -> dict[str, str]:
        return {lvl: theme_colour(self.app, var) for lvl, var in LEVEL_VARS.items()}

    def on_resize(self) -> None:
        if self.status:
            self._render_states()

    def _state_width(self) -> int:
        """What is left of the table's width for the state column (no sideways scrolling)."""
        table = self.query_one("#steps", DataTable)
        width = table.scrollable_content_region.width or (self.size.width - 2)
        return max(12, width - (4 + 27 + 3 * 2) - 1)

    def _render_states(self) -> None:
        table = self.query_one("#steps", DataTable)
        colours = self._colours()
        width = self._state_width()
        for entry in workflow.WORKFLOW:
            st = entry_state(entry, self.status, self.jobs)
            style = colours.get(st.level) or ""
            text = Text(f"{MARKS.get(st.level, ' ')} {st.text}", style=style, no_wrap=True)
            text.truncate(width, overflow="ellipsis")
            update_cell(table, entry.key, "state", text, update_width=True)
        empty = bool(self.status) and not workflow.has_data(self.status)
        banner = self.query_one("#banner")
        if banner.display != empty:
            banner.display = empty
        if empty:
            update_static(self.query_one("#banner-text", Static), Text.from_markup(
                f"[b]This workspace is empty.[/b] Press [b]d[/b] to create demo media (Grace Hopper and the "
                f"astronaut), or copy data_src.mp4 and data_dst.mp4 into {self.app.workspace_label}."  # type: ignore[attr-defined]
            ))
        self._render_jobs_strip()
        self._show_detail()

    def _render_jobs_strip(self) -> None:
        active = [j for j in self.jobs if j.get("state") in ACTIVE_STATES]
        strip = self.query_one("#jobs-strip", Static)
        if not active:
            last = self.jobs[0] if self.jobs else None
            text = "No jobs running."
            if last:
                text += f" Last: {last.get('title') or last.get('step')} {last.get('state')}."
            update_static(strip, Text(text, style="dim"))
            return
        j = active[0]
        prog = j.get("progress") or {}
        side = (j.get("options") or {}).get("side")
        parts = [f"▶ {j.get('title') or j.get('step')}{f' ({side})' if side else ''}", short_progress(j)]
        if prog.get("eta") is not None:
            parts.append(f"ETA {fmt_duration(prog['eta'])}")
        if len(active) > 1:
            parts.append(f"+{len(active) - 1} more")
        update_static(strip, Text("  ".join(p for p in parts if p)))

    # -- selection -------------------------------------------------------------------------
    def start_entry(self) -> str | None:
        """Where the cursor starts: the last step used in this workspace, else the next step to do."""
        app: Any = self.app
        per_ws = (app.ui_state.get("workspaces") or {}).get(str(app.workspace.root)) or {}
        last = per_ws.get("last_step")
        if last in workflow.BY_KEY:
            return str(last)
        if not self.status:
            return None
        states = {e.key: entry_state(e, self.status, self.jobs) for e in workflow.WORKFLOW if e.number}
        # a running or failed step first, else the first step not done yet
        for levels in (("busy",), ("warn",), ("ready", "todo")):
            for e in workflow.WORKFLOW:
                if e.number and e.key != "clear" and states[e.key].level in levels:
                    return e.key
        return None

    def _place_cursor(self) -> None:
        self._cursor_placed = True
        table = self.query_one("#steps", DataTable)
        key = self.start_entry()
        if key is not None and table.cursor_row == 0:  # the user has not moved yet
            self.select_entry(key)

    def current_entry(self) -> workflow.WorkflowStep | None:
        table = self.query_one("#steps", DataTable)
        if table.row_count == 0:
            return None
        key = table.coordinate_to_cell_key(table.cursor_coordinate).row_key.value
        return workflow.BY_KEY.get(str(key)) if key is not None else None

    def select_entry(self, key: str) -> None:
        table = self.query_one("#steps", DataTable)
        table.move_cursor(row=table.get_row_index(key))

    @on(DataTable.RowHighlighted, "#steps")
    def _on_highlight(self, _event: DataTable.RowHighlighted) -> None:
        self._show_detail()

    def _show_detail(self) -> None:
        entry = self.current_entry()
        detail = self.query_one("#detail", Static)
        if entry is None:
            update_static(detail, "")
            return
        text = Text()
        text.append(entry.label, style="bold")
        if entry.step:
            opts = " ".join(f"{k}={v}" for k, v in entry.preset)
            text.append(f"  ({entry.step}{' ' + opts if opts else ''})", style="dim")
        if not entry_available(entry):
            text.append("  not available yet in this version", style="bold")
        text.append("\n" + entry.guidance)
        update_static(detail, text)

    @on(DataTable.RowSelected, "#steps")
    def _on_selected(self, event: DataTable.RowSelected) -> None:
        entry = workflow.BY_KEY.get(str(event.row_key.value))
        if entry is not None:
            self.app.open_entry(entry)  # type: ignore[attr-defined]

    @on(Button.Pressed, "#demo-button")
    def _on_demo_button(self) -> None:
        self.action_demo()

    # -- actions ---------------------------------------------------------------------------
    def action_open(self) -> None:
        entry = self.current_entry()
        if entry is not None:
            self.app.open_entry(entry)  # type: ignore[attr-defined]

    def action_demo(self) -> None:
        """Open the demo step; on a workspace without videos it starts at once."""
        start = not (self.status.get("src_video") or self.status.get("dst_video"))
        self.app.open_entry(workflow.get("demo"), start=start)  # type: ignore[attr-defined]

    def action_refresh(self) -> None:
        self.refresh_status()

    def action_goto(self, char: str) -> None:
        """Type a step number (``1``, ``11``, ``4.2``): the cursor goes to the step whose number it is.

        Digits and dots gather while they are typed (``GOTO_TIMEOUT`` after the last key
        starts a new number); the cursor moves as soon as what was typed is a step's number.
        """
        self._cursor_placed = True
        typed = self.typed + char
        numbers = [w.number for w in workflow.WORKFLOW if w.number]
        if not any(n.startswith(typed) for n in numbers):
            typed = char if any(n.startswith(char) for n in numbers) else ""
        self.typed = typed
        if self._typed_timer is not None:
            self._typed_timer.stop()
        self._typed_timer = self.set_timer(self.GOTO_TIMEOUT, self._typed_done) if typed else None
        match = next((w.key for w in workflow.WORKFLOW if w.number and w.number == typed), None)
        if match is not None:
            self.select_entry(match)
        if typed and not any(n.startswith(typed) and n != typed for n in numbers):
            self._typed_done()  # nothing longer can follow: the next key starts a new number

    def _typed_done(self) -> None:
        self.typed = ""
        if self._typed_timer is not None:
            self._typed_timer.stop()
            self._typed_timer = None
