"""A centred picture made of half-block strips, or a centred message while there is none.

The training monitor's preview and the merger's frame both show an image rendered
elsewhere (``halfblock.render`` in a worker) and only need it centred and cropped.
"""

from __future__ import annotations

from typing import Any

from rich.segment import Segment
from textual.strip import Strip
from textual.widget import Widget


class PixelView(Widget):
    DEFAULT_CSS = """
    PixelView { width: 1fr; height: 1fr; }
    """

    def __init__(self, message: str = "", **kw: Any) -> None:
        super().__init__(**kw)
        self.strips: list[Strip] = []
        self.message = message

    def set_strips(self, strips: list[Strip]) -> None:
        self.strips = strips
        self.refresh()

    def set_message(self, text: str) -> None:
        self.strips = []
        self.message = text
        self.refresh()

    def render_line(self, y: int) -> Strip:
        width = self.size.width
        if not self.strips:
            lines = self.message.split("\n")
            first = self.size.height // 2 - len(lines) // 2
            if first <= y < first + len(lines):
                return Strip([Segment(lines[y - first][:width].center(width), self.rich_style)])
            return Strip.blank(width, self.rich_style)
        top = max(0, (self.size.height - len(self.strips)) // 2)
        i = y - top
        if i < 0 or i >= len(self.strips):
            return Strip.blank(width, self.rich_style)
        strip = self.strips[i]
        left = max(0, (width - strip.cell_length) // 2)
        if left:
            strip = Strip.join([Strip.blank(left, self.rich_style), strip])
        return strip.extend_cell_length(width, self.rich_style).crop(0, width)
