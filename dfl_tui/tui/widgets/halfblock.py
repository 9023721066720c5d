"""Fast half-block images: two pixels per terminal cell (``▀``: fg = top, bg = bottom).

Half-blocks are ordinary text cells, so they survive SSH, tmux, re-attach and
snapshots, and cost a few kB per thumbnail (textual.md §2). The slow part of
the usual renderers is building a Rich ``Style`` per cell; here each
(top, bottom) colour pair gets one cached ``Style``, colours are built without
hex parsing, colours may be quantised (5 bits per channel by default) so the
cache stays small, and runs of equal cells are merged into one segment.

Takes RGB uint8 arrays (numpy imported by the caller); returns ``Strip`` lines.
"""

from __future__ import annotations

from typing import Any

from rich.color import Color, ColorType
from rich.color_triplet import ColorTriplet
from rich.segment import Segment
from rich.style import Style
from textual.strip import Strip

UPPER_HALF = "▀"
_STYLES: dict[int, Style] = {}
_COLORS: dict[int, Color] = {}
_MAX_STYLES = 200_000


def _color(v: int) -> Color:
    c = _COLORS.get(v)
    if c is None:
        r, g, b = (v >> 16) & 255, (v >> 8) & 255, v & 255
        c = Color(f"#{v:06x}", ColorType.TRUECOLOR, triplet=ColorTriplet(r, g, b))
        _COLORS[v] = c
    return c


def style_for(top: int, bottom: int) -> Style:
    """The cached style of a cell whose upper pixel is ``top`` and lower pixel ``bottom`` (0xRRGGBB)."""
    key = (top << 24) | bottom
    st = _STYLES.get(key)
    if st is None:
        if len(_STYLES) > _MAX_STYLES:
            _STYLES.clear()
        st = Style(color=_color(top), bgcolor=_color(bottom))
        _STYLES[key] = st
    return st


def pack_rgb(rgb: Any, quantize: int = 3) -> Any:
    """HxWx3 uint8 -> HxW int 0xRRGGBB, low ``quantize`` bits of each channel dropped."""
    import numpy as np

    a = np.asarray(rgb, np.uint8)
    if quantize:
        mask = (0xFF << quantize) & 0xFF
        a = a & mask
    a = a.astype(np.int32)
    return (a[..., 0] << 16) | (a[..., 1] << 8) | a[..., 2]


def render(rgb: Any, quantize: int = 3) -> list[Strip]:
    """Strips of an RGB image (H rows become H/2 lines; an odd last row gets a black lower half)."""
    return render_packed(pack_rgb(rgb, quantize))


def _even(packed: Any) -> Any:
    import numpy as np

    if packed.shape[0] % 2:
        packed = np.vstack([packed, np.zeros((1, packed.shape[1]), packed.dtype)])
    return packed


def render_packed(packed: Any, rows: Any = None) -> list[Strip]:
    """Strips of a :func:`pack_rgb` array; only the cell rows in ``rows`` when given (in that order)."""
    packed = _even(packed)
    w = packed.shape[1]
    if rows is None:
        tops, bottoms = packed[0::2].tolist(), packed[1::2].tolist()
    else:
        tops, bottoms = [packed[2 * y].tolist() for y in rows], [packed[2 * y + 1].tolist() for y in rows]
    strips = []
    for top_row, bot_row in zip(tops, bottoms):
        segs = []
        run_style = None
        run = 0
        for t, b in zip(top_row, bot_row):
            st = style_for(t, b)
            if st is run_style:
                run += 1
            else:
                if run:
                    segs.append(Segment(UPPER_HALF * run, run_style))
                run_style, run = st, 1
        if run:
            segs.append(Segment(UPPER_HALF * run, run_style))
        strips.append(Strip(segs, w))
    return strips


def changed_cells(old: Any, new: Any) -> list[tuple[int, int, int]] | None:
    """(cell row, first column, end column) of each line whose cells differ between two
    :func:`pack_rgb` arrays of the same shape; None when the shapes differ (all changed)."""
    from .termgfx import changed_rects

    rects = changed_rects(old, new, 2)  # a band of two pixel rows is one line of cells
    return None if rects is None else [(y // 2, x, x + w) for x, y, w, _h in rects]


def blank(width: int, height: int, style: Style | None = None, char: str = " ") -> list[Strip]:
    """A placeholder block of ``height`` lines."""
    seg = Segment(char * width, style or Style())
    return [Strip([seg], width) for _ in range(height)]
