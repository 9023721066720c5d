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


# ---------------------------------------------------------------------------
# Colours said once: a run of cells does not reset and repeat what stays the same
# ---------------------------------------------------------------------------

_COLOUR_PARTS: dict[str, tuple[str, str] | None] = {}


def colour_parts(attrs: str) -> tuple[str, str] | None:
    """(foreground, background) SGR parameters when ``attrs`` sets exactly those two colours and nothing
    else (a half-block cell: ``38;2;r;g;b;48;2;r;g;b``), else None."""
    got = _COLOUR_PARTS.get(attrs, False)
    if got is not False:
        return got  # type: ignore[return-value]
    toks = attrs.split(";")
    parts: dict[str, str] = {}
    i = 0
    ok = True
    while i < len(toks):
        t = toks[i]
        kind = toks[i + 1] if i + 1 < len(toks) else ""
        n = 5 if kind == "2" else 3 if kind == "5" else 0
        if t not in ("38", "48") or not n or i + n > len(toks) or t in parts:
            ok = False
            break
        parts[t] = ";".join(toks[i:i + n])
        i += n
    result = (parts["38"], parts["48"]) if ok and len(parts) == 2 else None
    if len(_COLOUR_PARTS) > 200_000:
        _COLOUR_PARTS.clear()
    _COLOUR_PARTS[attrs] = result
    return result


def render_strip(self: Any, console: Any) -> str:
    """``Strip.render`` that keeps the colours in force from one cell to the next.

    Rich writes every styled segment as ``ESC[attrs m text ESC[0m``: a half-block picture pays a
    reset and both colours again for every cell. Here a segment whose style sets only a foreground
    and a background colour, after another such segment, sends only the colour that differs (or
    nothing); anything else (bold, links, plain text) resets first, as Rich does. Every strip ends
    in the reset state, so strips joined or sent in any order mean what they meant.
    """
    if self._render_cache is not None:
        return self._render_cache
    from rich.color import ColorSystem

    color_system = console._color_system or ColorSystem.TRUECOLOR
    out: list[str] = []
    append = out.append
    cur: str | None = None  # the attributes in force (None: reset)
    cur_parts: tuple[str, str] | None = None
    for text, style, _ in self._segments:
        if not text:
            continue
        if style is None or style._link:
            if cur is not None:
                append("\x1b[0m")
                cur = cur_parts = None
            append(text if style is None else style.render(text, color_system=color_system))
            continue
        attrs = style._ansi or style._make_ansi_codes(color_system)
        if not attrs:
            if cur is not None:
                append("\x1b[0m")
                cur = cur_parts = None
            append(text)
            continue
        if attrs == cur:
            append(text)
            continue
        parts = colour_parts(attrs)
        if parts is not None and cur_parts is not None:
            change = ";".join(p for p, c in zip(parts, cur_parts) if p != c)
            append(f"\x1b[{change}m{text}" if change else text)
        else:
            append(f"\x1b[0;{attrs}m{text}" if cur is not None else f"\x1b[{attrs}m{text}")
        cur, cur_parts = attrs, parts
    if cur is not None:
        append("\x1b[0m")
    self._render_cache = "".join(out)
    return self._render_cache


def install() -> bool:
    """Send less for the same screen: partial updates from their first changed cell
    (:func:`_render_segments`) and colours said once (:func:`render_strip`). Installed once; True
    when both are. Left alone when Textual's ``ChopsUpdate`` or ``Strip`` no longer have what they
    work on, so a Textual upgrade falls back to Textual's own (correct, only larger) output."""
    try:
        from textual._compositor import ChopsUpdate
        from textual.strip import Strip
    except Exception:  # noqa: BLE001
        return False
    done = 0
    if getattr(ChopsUpdate.render_segments, "_dfl_quiet", False):
        done += 1
    else:
        probe = ChopsUpdate([{}], [(0, 0, 0)], [[]])
        if all(hasattr(probe, a) for a in ("chops", "spans", "chop_ends")):
            _render_segments._dfl_quiet = True  # type: ignore[attr-defined]
            ChopsUpdate.render_segments = _render_segments  # type: ignore[method-assign]
            done += 1
    if getattr(Strip.render, "_dfl_quiet", False):
        done += 1
    else:
        strip = Strip([])
        if hasattr(strip, "_render_cache") and hasattr(strip, "_segments"):
            render_strip._dfl_quiet = True  # type: ignore[attr-defined]
            Strip.render = render_strip  # type: ignore[method-assign]
            done += 1
    return done == 2
