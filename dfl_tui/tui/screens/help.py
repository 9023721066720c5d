"""Every key, generated from the bindings (so it is never out of date), and the tag colours."""

from __future__ import annotations

from rich.table import Table
from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, VerticalScroll
from textual.screen import Screen
from textual.widgets import Footer, Header, Label, Static

from ..keymap import KeyInfo, describe_bindings, key_display, keymap_path
from ..themes import TAGS


class HelpScreen(Screen):
    """Keys by screen, with the ids a keymap file uses."""

    BINDINGS = [Binding("escape,q,f1", "close", "Close", id="help.close")]

    def __init__(self, sections: list[tuple[str, type]], keymap: dict[str, str] | None = None) -> None:
        super().__init__(id="help")
        self.sections = sections
        self.keymap = dict(keymap or {})
        self.rows: list[KeyInfo] = describe_bindings(sections, self.keymap)

    def compose(self) -> ComposeResult:
        yield Header(show_clock=False, icon="◆")
        with VerticalScroll(id="help-body"):
            yield Static(Text.from_markup(
                "[b]Keys[/b]  ·  remap any of them in "
                f"[i]{keymap_path()}[/i] with lines like  [b]\"home.demo\" = \"D\"[/b]  "
                "(see `dfl-tui tui --keys`).  ctrl+p opens the command palette: every step and screen is there."
            ), id="help-intro")
            for section, _cls in self.sections:
                rows = [r for r in self.rows if r.section == section]
                if not rows:
                    continue
                table = Table(title=section, title_justify="left", title_style="bold", expand=True, box=None,
                              padding=(0, 1), show_header=False)
                table.add_column("keys", width=14, no_wrap=True, style="bold")
                table.add_column("what", ratio=2)
                table.add_column("id", ratio=1, style="dim", no_wrap=True)
                for r in rows:
                    table.add_row(key_display(r.keys), r.description, r.id)
                yield Static(table, classes="help-section")
            yield Static(Text("Review tags", style="bold"), classes="help-section-title")
            with Horizontal(id="tag-legend"):
                for colour, meaning in TAGS:
                    yield Label(f" {colour}: {meaning} ", classes=f"tag tag-{colour}")
        yield Footer()

    def action_close(self) -> None:
        self.app.pop_screen()


__all__ = ["HelpScreen"]
