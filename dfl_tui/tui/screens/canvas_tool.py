"""The layout shared by the tools that work on one picture: a title, the canvas, an info pane
with the keys listed beside it, a status line and the footer (XSeg editor, manual extraction)."""

from __future__ import annotations

from rich.text import Text
from textual.app import ComposeResult
from textual.containers import Horizontal, Vertical
from textual.screen import Screen
from textual.widgets import Footer, Static

from ..widgets.image_canvas import ImageCanvas


class CanvasToolScreen(Screen):
    """A picture to work on by mouse and keys, with an info pane and the keys listed beside it.

    The XSeg editor and manual extraction share this layout; ``ID_PREFIX`` keeps their CSS apart.
    """

    ID_PREFIX = "tool"
    KEYS_HELP: tuple[tuple[str, str], ...] = ()

    def compose(self) -> ComposeResult:
        p = self.ID_PREFIX
        yield Static(id=f"{p}-title")
        with Horizontal(id=f"{p}-body"):
            yield ImageCanvas(id=f"{p}-canvas")
            with Vertical(id=f"{p}-side"):
                yield Static(id=f"{p}-info")
                yield Static(self._keys_text(), id=f"{p}-keys")
        yield Static(id=f"{p}-status")
        yield Footer()

    @property
    def canvas(self) -> ImageCanvas:
        return self.query_one(ImageCanvas)

    def _keys_text(self) -> Text:
        t = Text()
        for k, what in self.KEYS_HELP:
            t.append(f"{k:<12}", style="bold")
            t.append(what + "\n", style="dim")
        return t
