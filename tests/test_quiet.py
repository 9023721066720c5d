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

_TOKEN = re.compile(r"\x1b\[(\d+);(\d+)H|\x1b\[([0-9;]*)m|\x1b\]8;[^\x1b]*\x1b\\|(\n)|(.)", re.S)


def _sgr(state: dict, params: str) -> dict:
    """The graphic state after ``ESC[params m``: fg, bg and the set attributes, as a terminal keeps them."""
    toks = params.split(";") if params else ["0"]
    fg, bg, attrs = state["fg"], state["bg"], set(state["attrs"])
    i = 0
    while i < len(toks):
        t = int(toks[i] or 0)
        if t in (38, 48):
            n = 5 if toks[i + 1] == "2" else 3
            val = ";".join(toks[i + 1:i + n])
            fg, bg = (val, bg) if t == 38 else (fg, val)
            i += n
            continue
        if t == 0:
            fg = bg = None
            attrs = set()
        elif t == 39:
            fg = None
        elif t == 49:
            bg = None
        elif 30 <= t <= 37 or 90 <= t <= 97:
            fg = str(t)
        elif 40 <= t <= 47 or 100 <= t <= 107:
            bg = str(t)
        elif 1 <= t <= 9:
            attrs.add(t)
        elif 21 <= t <= 29:
            attrs.discard(t - 20)
        i += 1
    return {"fg": fg, "bg": bg, "attrs": frozenset(attrs)}


RESET = {"fg": None, "bg": None, "attrs": frozenset()}


def paint(output: str) -> dict[tuple[int, int], tuple[str, tuple]]:
    """The cells an output writes: (x, y) -> (text, (fg, bg, attributes) in force); a small terminal
    model for the tests (cursor moves, SGR state, wide and combining characters, links skipped)."""
    cells: dict[tuple[int, int], tuple[str, tuple]] = {}
    x = y = 0
    state = dict(RESET)
    last: tuple[int, int] | None = None
    for m in _TOKEN.finditer(output):
        if m.group(1):
            y, x = int(m.group(1)) - 1, int(m.group(2)) - 1
        elif m.group(3) is not None:
            state = _sgr(state, m.group(3))
        elif m.group(4):
            y += 1
        elif m.group(5) is not None:
            ch = m.group(5)
            w = cell_len(ch)
            st = (state["fg"], state["bg"], state["attrs"])
            if w == 0 and last is not None:  # a combining mark belongs to the cell before
                text, prev = cells[last]
                cells[last] = (text + ch, prev)
                continue
            cells[(x, y)] = (ch, st)
            last = (x, y)
            if w == 2:
                cells[(x + 1, y)] = ("", st)  # the right half of a wide character
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
    if textual_own is quiet._render_segments:  # installed by an app in this process: Textual's own is gone
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
    assert quiet.install() and quiet.install()
    assert ChopsUpdate.render_segments is quiet._render_segments and Strip.render is quiet.render_strip


def _rich_render(strip: Strip, console: Console) -> str:
    """What Textual 8.2 writes for a strip: Rich's rendering of every segment, reset after each."""
    return "".join(text if style is None else style.render(text, color_system=console._color_system)
                   for text, style, _ in strip)


def test_colours_said_once_paint_the_same_cells():
    """Half-block runs, bold and underlined text, plain text, links, a 256-colour cell: the compact
    rendering paints every cell with the same character, colours and attributes as Rich's, and ends
    reset (strips are joined and sent in any order)."""
    import random

    rng = random.Random(4)
    console = Console(color_system="truecolor", force_terminal=True, width=400)

    def colour():
        return f"rgb({rng.choice([10, 20, 200])},{rng.choice([0, 90])},{rng.choice([5, 250])})"

    for trial in range(60):
        segs = []
        for _ in range(rng.randint(1, 40)):
            kind = rng.random()
            if kind < 0.6:
                segs.append(Segment("▀" * rng.randint(1, 3), Style.parse(f"{colour()} on {colour()}")))
            elif kind < 0.7:
                segs.append(Segment("ab", Style(bold=True, color="red")))
            elif kind < 0.8:
                segs.append(Segment("cd", Style(underline=True, bgcolor="rgb(1,2,3)")))
            elif kind < 0.85:
                segs.append(Segment("ef", None))
            elif kind < 0.9:
                segs.append(Segment("gh", Style(link="https://example.org", color="blue")))
            elif kind < 0.95:
                segs.append(Segment("ij", Style.parse("color(200) on color(17)")))
            else:
                segs.append(Segment("kl", Style(color=colour())))  # a foreground alone: the background resets
        strip = Strip(segs)
        ours = quiet.render_strip(Strip(segs), console)
        theirs = _rich_render(strip, console)
        for prefix in ("", "\x1b[48;2;9;9;9m"):  # also after something left a colour in force
            a, b = paint(prefix + ours), paint(prefix + theirs)
            assert a == b, trial
        assert _sgr(dict(RESET), "") == RESET and paint(ours + "Z")[(strip.cell_length, 0)][1] == (None, None, frozenset())
    # half-block cells that all differ: no reset between them (about a tenth less) ...
    run = Strip([Segment("▀", Style.parse(f"rgb({i},{2 * i},90) on rgb({i},40,{i})")) for i in range(100)])
    assert len(quiet.render_strip(run, console)) < 0.9 * len(_rich_render(run, console))
    # ... and where the lower pixels keep one colour (a face's edge on a plain background) about half
    run = Strip([Segment("▀", Style.parse(f"rgb({i},{2 * i},90) on rgb(20,40,60)")) for i in range(100)])
    assert len(quiet.render_strip(run, console)) < 0.6 * len(_rich_render(run, console))


def test_colour_parts():
    assert quiet.colour_parts("38;2;1;2;3;48;2;4;5;6") == ("38;2;1;2;3", "48;2;4;5;6")
    assert quiet.colour_parts("38;5;200;48;5;17") == ("38;5;200", "48;5;17")
    assert quiet.colour_parts("1;38;2;1;2;3;48;2;4;5;6") is None  # bold: reset first
    assert quiet.colour_parts("38;2;1;2;3") is None  # no background: the one in force must not stay
