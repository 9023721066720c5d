"""Quiet on the wire: partial updates are sent from their first changed cell, with the same result on screen."""

from __future__ import annotations

import re

from rich.cells import cell_len
from rich.console import Console
from rich.segment import Segment
from rich.style import Style
from textual._compositor import ChopsUpdate
from textual.strip import Strip

from dfl_tui.tui import quiet
from dfl_tui.tui.widgets import termgfx

_TOKEN = re.compile(r"\x1b\[(\d+);(\d+)H|\x1b\[([0-9;]*)m|(\n)|(.)", re.S)


def paint(output: str) -> dict[tuple[int, int], tuple[str, str]]:
    """The cells an output writes: (x, y) -> (text, SGR in force); a small terminal for the test."""
    cells: dict[tuple[int, int], tuple[str, str]] = {}
    x = y = 0
    sgr = ""
    last: tuple[int, int] | None = None
    for m in _TOKEN.finditer(output):
        if m.group(1):
            y, x = int(m.group(1)) - 1, int(m.group(2)) - 1
        elif m.group(3) is not None:
            sgr = "" if m.group(3) in ("", "0") else m.group(3)
        elif m.group(4):
            y += 1
        else:
            ch = m.group(5)
            w = cell_len(ch)
            if w == 0 and last is not None:  # a combining mark belongs to the cell before
                text, st = cells[last]
                cells[last] = (text + ch, st)
                continue
            cells[(x, y)] = (ch, sgr)
            last = (x, y)
            if w == 2:
                cells[(x + 1, y)] = ("", sgr)  # the right half of a wide character
            x += w
    return cells


def _update(strips: list[Strip], spans: list[tuple[int, int, int]], x0: int = 0) -> ChopsUpdate:
    chops = [{x0: s} for s in strips]
    ends = [[x0 + s.cell_length] for s in strips]
    return ChopsUpdate(chops, spans, ends)


def _both(update: ChopsUpdate) -> tuple[str, str]:
    console = Console(color_system="truecolor", force_terminal=True, width=200)
    ours = quiet._render_segments(update, console)
    textual_own = ChopsUpdate.__dict__["render_segments"]
    if getattr(textual_own, "_dfl_span_crop", False):  # installed by an app in this process: Textual's own is gone
        textual_own = _TEXTUAL_RENDER
    return ours, textual_own(update, console)


def _textual_render(self, console):  # Textual 8.2's ChopsUpdate.render_segments, for comparison
    from rich.control import Control

    sequences = []
    last_y = self.spans[-1][0]
    for y, x1, x2 in self.spans:
        for end, (x, strip) in zip(self.chop_ends[y], self.chops[y].items()):
            if strip is None or x > x2 or end <= x1:
                continue
            if x2 > x >= x1 and end <= x2:
                sequences += [Control.move_to(x, y).segment.text, strip.render(console)]
                continue
            strip = strip.crop(0, min(end, x2) - x)
            sequences += [Control.move_to(x, y).segment.text, strip.render(console)]
        if y != last_y:
            sequences.append("\n")
    return "".join(sequences)


_TEXTUAL_RENDER = _textual_render


def _half_block_row(n: int, seed: int) -> Strip:
    segs = [Segment("▀", Style.parse(f"rgb({(seed + i * 37) % 256},{i * 11 % 256},90) on rgb({i * 5 % 256},40,{seed})"))
            for i in range(n)]
    return Strip(segs)


def test_a_small_change_far_right_sends_only_its_cells_and_paints_the_same():
    strips = [_half_block_row(100, s) for s in range(4)]
    spans = [(y, 90, 91) for y in range(4)] + [(1, 40, 60)]
    spans.sort()
    ours, theirs = _both(_update(strips, spans, x0=3))
    mine, full = paint(ours), paint(theirs)
    changed = {(x, y) for y, x1, x2 in spans for x in range(x1, x2)}
    assert changed <= mine.keys()
    for cell in mine:  # whatever we send is what Textual would have sent there
        assert mine[cell] == full[cell], cell
    assert len(ours) * 4 < len(theirs)  # about 1 cell per line instead of 88 (and 3 spans instead of 3 re-sends)


def test_wide_characters_and_kitty_placeholders_are_never_cut():
    wide = Strip([Segment("ab", Style(bold=True)), Segment("日本語", Style(color="red")), Segment("xyz")])
    placeholder = termgfx.kitty_rows(7, 6, 1)[0]
    kitty = Strip([Segment("..", None), Segment(placeholder, termgfx.kitty_style(7)), Segment("end")])
    for strip, x1, x2 in ((wide, 3, 5), (wide, 4, 9), (kitty, 5, 6), (kitty, 2, 9)):
        ours, theirs = _both(_update([strip], [(0, x1, x2)]))
        mine, full = paint(ours), paint(theirs)
        for cell in mine:
            assert mine[cell] == full[cell], (strip.text, x1, cell)
        for x in range(x1, x2):
            assert (x, 0) in mine
        first = min(mine)
        assert mine[first][0] != "", "started in the right half of a wide character"
        if strip is kitty and first[0] >= 2:
            assert first[0] == 2  # the placeholder run is sent whole: its cells carry their own row/column
    # a change inside the plain "xyz" run is cut exactly
    ours, _ = _both(_update([wide], [(0, 9, 10)]))
    assert min(paint(ours)) == (9, 0) and len(paint(ours)) == 1


def test_span_start_only_cuts_plain_segments():
    strip = Strip([Segment("abc"), Segment("日本"), Segment("de")])
    assert quiet.span_start(strip, 1) == 1
    assert quiet.span_start(strip, 4) == 3 and quiet.span_start(strip, 5) == 3  # inside the wide run: its start
    assert quiet.span_start(strip, 8) == 8


def test_install_is_idempotent_and_used_by_textual():
    assert quiet.install_span_crop() and quiet.install_span_crop()
    assert ChopsUpdate.render_segments is quiet._render_segments
