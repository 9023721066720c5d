"""Step 1, clear the workspace: list what would go, ask, then delete (in a thread)."""

from __future__ import annotations

from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.screen import ModalScreen
from textual.widgets import Button, Static

from ..messages import TextLoaded


class ClearWorkspaceScreen(ModalScreen[bool]):
    """Asks before deleting; refuses while jobs run. Dismisses with True when something was deleted."""

    BINDINGS = [
        Binding("escape,n", "cancel", "Keep everything", id="clear.cancel"),
        Binding("y", "confirm", "Delete", id="clear.confirm", show=False),
    ]

    def __init__(self) -> None:
        super().__init__(id="clear")
        self.entries: list[str] = []
        self.blocked: str | None = None
        self.ready = False

    def compose(self) -> ComposeResult:
        with Vertical(id="clear-box"):
            yield Static(Text("1 · Clear workspace", style="bold"), id="clear-title")
            yield Static("Looking at the workspace...", id="clear-list")
            with Horizontal(id="clear-buttons"):
                yield Button("Delete all of it (y)", id="clear-yes", variant="error", compact=True, disabled=True)
                yield Button("Keep everything (n)", id="clear-no", compact=True)

    def on_mount(self) -> None:
        self._scan()

    @work(thread=True, exclusive=True, group="clear-scan", exit_on_error=False)
    def _scan(self) -> None:
        from ... import jobs as jobsmod

        ws = self.app.workspace  # type: ignore[attr-defined]
        entries = [p.name + ("/" if p.is_dir() else "") for p in ws.entries()]
        active = jobsmod.list_jobs(ws, active_only=True)
        self.entries = entries
        self.blocked = (f"{len(active)} job(s) are still running here: stop them first (jobs screen, x)."
                        if active else None)
        self.post_message(TextLoaded("scan", ""))

    @on(TextLoaded)
    def _on_scanned(self, msg: TextLoaded) -> None:
        listing = self.query_one("#clear-list", Static)
        root = self.app.workspace.root  # type: ignore[attr-defined]
        if msg.what == "cleared":
            self.dismiss(True)
            self.app.notify(msg.text)
            return
        if not self.entries:
            listing.update(f"{root} is already empty.")
            return
        if self.blocked:
            listing.update(Text(self.blocked, style="bold"))
            return
        shown = "\n".join(f"  {e}" for e in self.entries[:12])
        more = f"\n  ... and {len(self.entries) - 12} more" if len(self.entries) > 12 else ""
        listing.update(Text(f"This deletes everything in {root}:\n{shown}{more}\n\nThere is no undo."))
        self.query_one("#clear-yes", Button).disabled = False
        self.ready = True

    def action_confirm(self) -> None:
        if not self.ready:
            return
        self.ready = False
        self.query_one("#clear-yes", Button).disabled = True
        self._clear()

    @work(thread=True, exclusive=True, group="clear-do", exit_on_error=False)
    def _clear(self) -> None:
        try:
            removed = self.app.workspace.clear()  # type: ignore[attr-defined]
            text = f"Removed {len(removed)} item(s) from the workspace."
        except OSError as exc:
            text = f"Could not clear everything: {exc}"
        self.post_message(TextLoaded("cleared", text))

    def action_cancel(self) -> None:
        self.dismiss(False)

    @on(Button.Pressed, "#clear-yes")
    def _yes(self) -> None:
        self.action_confirm()

    @on(Button.Pressed, "#clear-no")
    def _no(self) -> None:
        self.action_cancel()
