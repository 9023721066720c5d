"""Text that changes often; unlike ``Static.update`` a change repaints only this widget (no layout pass)."""

from __future__ import annotations

from typing import Any

from textual.widget import Widget


class TextPane(Widget):
    """A fixed-size text: ``update(text)`` repaints it, and only when the text changed."""

    def __init__(self, text: Any = "", **kw: Any) -> None:
        super().__init__(**kw)
        self._text = text

    def update(self, text: Any) -> None:
        if text == self._text:
            return
        self._text = text
        self.refresh()

    @property
    def text(self) -> Any:
        return self._text

    def render(self) -> Any:
        return self._text
