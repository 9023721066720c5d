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
    ]

    def __init__(self) -> None:
        super().__init__(id="home")
        self.status: dict[str, Any] = {}
        self.jobs: list[dict[str, Any]] = []
        self.loaded = 0  # how many workspace reads have arrived (tests wait on it)
        self._loading = False
        self._again = False

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
            table.update_cell(entry.key, "state", text, update_width=True)
        empty = bool(self.status) and not workflow.has_data(self.status)
        banner = self.query_one("#banner")
        banner.display = empty
        if empty:
            self.query_one("#banner-text", Static).update(Text.from_markup(
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
            strip.update(Text(text, style="dim"))
            return
        j = active[0]
        prog = j.get("progress") or {}
        side = (j.get("options") or {}).get("side")
        parts = [f"▶ {j.get('title') or j.get('step')}{f' ({side})' if side else ''}", short_progress(j)]
        if prog.get("eta") is not None:
            parts.append(f"ETA {fmt_duration(prog['eta'])}")
        if len(active) > 1:
            parts.append(f"+{len(active) - 1} more")
        strip.update(Text("  ".join(p for p in parts if p)))

    # -- selection -------------------------------------------------------------------------
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
            detail.update("")
            return
        text = Text()
        text.append(entry.label, style="bold")
        if entry.step:
            opts = " ".join(f"{k}={v}" for k, v in entry.preset)
            text.append(f"  ({entry.step}{' ' + opts if opts else ''})", style="dim")
        if not entry_available(entry):
            text.append("  not available yet in this version", style="bold")
        text.append("\n" + entry.guidance)
        detail.update(text)

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

    def action_goto(self, digit: str) -> None:
        """Digits jump to step numbers: 1 -> 1, again -> 10, again -> 11."""
        table = self.query_one("#steps", DataTable)
        keys = [w.key for w in workflow.WORKFLOW if w.number.startswith(digit)]
        if digit == "0":
            keys = [w.key for w in workflow.WORKFLOW if w.number == "10"]
        if not keys:
            return
        cur = self.current_entry()
        nxt = keys[0]
        if cur is not None and cur.key in keys:
            nxt = keys[(keys.index(cur.key) + 1) % len(keys)]
        table.move_cursor(row=table.get_row_index(nxt))
