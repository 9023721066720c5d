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


# ---------------------------------------------------------------------------
# Partial updates from where they changed
# ---------------------------------------------------------------------------


def span_start(strip: Any, offset: int) -> int:
    """Where to start sending ``strip`` when only cells from ``offset`` on changed.

    ``offset`` itself where it falls in a segment of plain one-cell characters; otherwise
    the start of the segment that holds it, so a wide character, or a kitty placeholder
    with its row/column diacritics, is never cut in two.
    """
    from rich.cells import cell_len

    pos = 0
    for seg in strip:
        n = cell_len(seg.text)
        if pos + n > offset:
            return offset if n == len(seg.text) else pos
        pos += n
    return pos


def _render_segments(self: Any, console: Any) -> str:
    """``ChopsUpdate.render_segments`` that sends each changed span from its first changed cell.

    Textual 8 crops a changed span at its end but always starts at the widget's left edge
    (``strip.crop(0, x2 - x)``), so a refresh of a one-cell border at column 90 re-sends
    the 89 cells before it, and three small regions on one line send that line three
    times: in the reviewer's grid half of an arrow key's bytes. Same output on the screen.
    """
    from rich.control import Control

    sequences: list[str] = []
    append = sequences.append
    move_to = Control.move_to
    chops, chop_ends = self.chops, self.chop_ends
    last_y = self.spans[-1][0]
    for y, x1, x2 in self.spans:
        line = chops[y]
        ends = chop_ends[y]
        for end, (x, strip) in zip(ends, line.items()):
            if strip is None or x > x2 or end <= x1:
                continue
            if x2 > x >= x1 and end <= x2:
                append(move_to(x, y).segment.text)
                append(strip.render(console))
                continue
            start = span_start(strip, x1 - x) if x < x1 else 0
            strip = strip.crop(start, min(end, x2) - x)
            append(move_to(x + start, y).segment.text)
            append(strip.render(console))
        if y != last_y:
            append("\n")
    return "".join(sequences)


def install_span_crop() -> bool:
    """Use :func:`_render_segments` for Textual's partial updates (once; True when installed).

    Left alone when Textual's ``ChopsUpdate`` no longer has the attributes it works on, so a
    Textual upgrade falls back to Textual's own (correct, only larger) output.
    """
    try:
        from textual._compositor import ChopsUpdate
    except Exception:  # noqa: BLE001
        return False
    if getattr(ChopsUpdate.render_segments, "_dfl_span_crop", False):
        return True
    probe = ChopsUpdate([{}], [(0, 0, 0)], [[]])
    if not all(hasattr(probe, a) for a in ("chops", "spans", "chop_ends")):
        return False
    _render_segments._dfl_span_crop = True  # type: ignore[attr-defined]
    ChopsUpdate.render_segments = _render_segments  # type: ignore[method-assign]
    return True
