"""Quiet on the wire: change a widget only when what it shows changed.

Textual repaints a widget's whole region whenever it is refreshed, even with the same
content, and every repaint goes down the user's SSH link. Timers and pollers in dfl-tui
therefore hand their new content to :func:`update_static` / :func:`update_cell`, which
compare it with what is shown and leave the widget alone when nothing changed
(``dfl-tui bench redraw`` measures the result).
"""

from __future__ import annotations

from typing import Any

_SHOWN = "_dfl_shown"


def update_static(widget: Any, content: Any) -> bool:
    """``widget.update(content)`` unless it already shows an equal ``content``; True when it changed."""
    key = content.plain + repr(content.spans) + str(content.style) if hasattr(content, "spans") else content
    if getattr(widget, _SHOWN, None) == key:
        return False
    setattr(widget, _SHOWN, key)
    widget.update(content)
    return True


def update_cell(table: Any, row_key: Any, column_key: Any, value: Any, **kw: Any) -> bool:
    """``DataTable.update_cell`` unless the cell already holds an equal value; True when it changed."""
    try:
        current = table.get_cell(row_key, column_key)
    except Exception:  # noqa: BLE001 - no such cell yet: let update_cell say so
        current = None
    if current is not None and _same(current, value):
        return False
    table.update_cell(row_key, column_key, value, **kw)
    return True


def _same(a: Any, b: Any) -> bool:
    if hasattr(a, "spans") and hasattr(b, "spans"):
        return a.plain == b.plain and a.spans == b.spans and str(a.style) == str(b.style)
    return bool(a == b)
