"""The one picture widget of the app: an RGB image, fitted and centred, drawn with the
session's graphics (kitty, Sixel or half-blocks; see ``termgfx``), or a centred message.

* ``set_image(rgb, key=...)``: show a picture (H x W x 3 uint8, or H x W grey). Fitting,
  PNG/Sixel encoding and half-block rendering run in a thread worker; the event loop only
  swaps the result in. The same ``key`` again does nothing.
* ``set_strips(strips)``: pre-rendered half-block lines (the old PixelView API).
* ``set_message(text)``: no picture, a centred message.
* ``columns=[...]`` (with ``set_image``): captions over the picture's columns, on the line above it
  (the training preview's "src | src→src | dst | dst→dst | src→dst").
* ``pixel_box()``: how many pixels the widget can show now (callers render at that size).

Nothing is re-sent that did not change: kitty pictures are transmitted once under an id
(the last few are kept, so toggling between two views costs nothing) and then are only
placeholder text; a Sixel is painted after Textual drew the frame, and again only when
Textual repainted the cells under it (``render_lines`` was called for them).
"""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass, field
from typing import Any

from rich.segment import Segment
from rich.style import Style
from textual import events
from textual.geometry import Region
from textual.message import Message
from textual.strip import Strip
from textual.widget import Widget

from . import halfblock, termgfx
from .termgfx import HALFBLOCK, Graphics


def watch_paints(screen: Any, listener: Any) -> None:
    """Call ``listener(regions)`` with the screen regions each frame of ``screen`` writes to the terminal.

    Sixel pictures are not cells: when Textual rewrites the blank cells under one, it must be
    painted again, and only then. Textual asks every widget whose clip overlaps an update for
    its lines (so ``render_lines`` says little); the compositor's dirty regions say what is
    written. Wraps the compositor's two update methods of that screen once (textual is pinned).
    """
    comp = screen._compositor
    listeners = getattr(comp, "_dfl_paint_listeners", None)
    if listeners is None:
        listeners = comp._dfl_paint_listeners = []
        full, partial = comp.render_full_update, comp.render_partial_update

        def render_full_update(*a: Any, **kw: Any) -> Any:
            regions = [comp.size.region]
            out = full(*a, **kw)
            for cb in list(listeners):
                cb(regions)
            return out

        def render_partial_update(*a: Any, **kw: Any) -> Any:
            regions = list(comp._dirty_regions)
            out = partial(*a, **kw)
            if regions:
                for cb in list(listeners):
                    cb(regions)
            return out

        comp.render_full_update = render_full_update
        comp.render_partial_update = render_partial_update
    if listener not in listeners:
        listeners.append(listener)


def unwatch_paints(screen: Any, listener: Any) -> None:
    listeners = getattr(screen._compositor, "_dfl_paint_listeners", None)
    if listeners and listener in listeners:
        listeners.remove(listener)


def app_graphics(app: Any) -> Graphics:
    g = getattr(app, "graphics", None)
    return g if isinstance(g, Graphics) else HALFBLOCK


def fit(w: int, h: int, box_w: int, box_h: int) -> tuple[int, int]:
    """(w, h) scaled to fit (box_w, box_h), aspect kept, at least 1 x 1."""
    if w <= 0 or h <= 0 or box_w <= 0 or box_h <= 0:
        return max(1, box_w), max(1, box_h)
    s = min(box_w / w, box_h / h)
    return max(1, min(box_w, round(w * s))), max(1, min(box_h, round(h * s)))


def resize_rgb(rgb: Any, w: int, h: int) -> Any:
    import cv2
    import numpy as np

    a = np.asarray(rgb)
    if a.ndim == 2:
        a = np.repeat(a[..., None], 3, axis=2)
    a = np.ascontiguousarray(a[..., :3].astype(np.uint8, copy=False))
    if a.shape[1] == w and a.shape[0] == h:
        return a
    shrink = w < a.shape[1] or h < a.shape[0]
    return cv2.resize(a, (w, h), interpolation=cv2.INTER_AREA if shrink else cv2.INTER_LINEAR)


@dataclass
class Drawn:
    """A picture prepared for one widget size and one graphics mode."""

    key: tuple
    mode: str
    cols: int
    rows: int
    strips: list[Strip] = field(default_factory=list)  # halfblock / kitty placeholders
    png: bytes | None = None  # kitty: to transmit (None when already in the terminal)
    image_id: int = 0
    sixel: str = ""
    packed: Any = None  # half-blocks: the cells' colours (pack_rgb), to repaint only the cells that change
    pixels: Any = None  # kitty: the RGB the terminal holds under image_id (kitty itself edits it in place)
    edits: list | None = None  # kitty itself: (x, y, rgb) rectangles that turn the shown picture into this one
    based_on: Any = None  # kitty itself: the ``pixels`` the edits were computed against


EDIT_SHARE = 0.5  # kitty itself: a change over this share of the pixels sends the whole picture instead


def prepare(rgb: Any, cols: int, rows: int, g: Graphics, key: tuple, *, bg: tuple[int, int, int] = (0, 0, 0),
            kitty_id: int = 0, base: Any = None) -> Drawn:
    """Fit ``rgb`` into cols x rows cells and encode it for ``g.mode`` (runs in a thread).

    ``base`` (kitty itself): the RGB of the picture on screen; when the new one has its size and
    differs in a small part, only those rectangles are prepared (``Drawn.edits``), not a PNG."""
    import numpy as np

    a = np.asarray(rgb)
    h, w = a.shape[:2]
    if g.mode == "halfblock":
        pw, ph = fit(w, h, cols, rows * 2)
        packed = halfblock.pack_rgb(resize_rgb(a, pw, ph), quantize=2)
        return Drawn(key, "halfblock", pw, (ph + 1) // 2, strips=halfblock.render_packed(packed), packed=packed)
    cw, ch = g.cell_w, g.cell_h
    pw, ph = fit(w, h, cols * cw, rows * ch)
    c_cols = max(1, min(cols, -(-pw // cw)))
    c_rows = max(1, min(rows, -(-ph // ch)))
    if g.mode == "kitty":
        c_cols, c_rows = min(c_cols, termgfx.KITTY_MAX_CELLS), min(c_rows, termgfx.KITTY_MAX_CELLS)
        pw, ph = fit(w, h, c_cols * cw, c_rows * ch)
        if pw > w or ph > h:  # the terminal scales it up: no need to send more pixels than there are
            pw, ph = w, h
        if kitty_id:
            return Drawn(key, "kitty", c_cols, c_rows, image_id=kitty_id)
        small = resize_rgb(a, pw, ph)
        if base is not None and g.edits:
            rects = termgfx.changed_rects(base, small, g.cell_h)
            if rects is not None and sum(rw * rh for _x, _y, rw, rh in rects) <= EDIT_SHARE * pw * ph:
                return Drawn(key, "kitty", c_cols, c_rows, pixels=small, based_on=base,
                             edits=[(x, y, small[y:y + rh, x:x + rw]) for x, y, rw, rh in rects])
        return Drawn(key, "kitty", c_cols, c_rows, png=termgfx.encode_png(small), pixels=small if g.edits else None)
    # sixel: a canvas of exactly c_cols x c_rows cells, the picture centred on the background
    canvas = np.empty((c_rows * ch, c_cols * cw, 3), np.uint8)
    canvas[:] = bg
    small = resize_rgb(a, pw, ph)
    y0, x0 = (canvas.shape[0] - ph) // 2, (canvas.shape[1] - pw) // 2
    canvas[y0:y0 + ph, x0:x0 + pw] = small
    return Drawn(key, "sixel", c_cols, c_rows, sixel=termgfx.encode_sixel(canvas))


class Picture(Widget):
    """One picture, centred, in the session's graphics mode."""

    DEFAULT_CSS = """
    Picture { width: 1fr; height: 1fr; }
    """
    KITTY_KEEP = 6  # kitty images kept in the terminal per widget (flipping between views is free)

    class Prepared(Message):
        bubble = False

        def __init__(self, drawn: Drawn) -> None:
            super().__init__()
            self.drawn = drawn

    def __init__(self, message: str = "", *, graphics: Graphics | None = None, **kw: Any) -> None:
        super().__init__(**kw)
        self.message = message
        self._graphics = graphics
        self._src: Any = None
        self._src_key: Any = None
        self._version = 0
        self._drawn: Drawn | None = None
        self._want: tuple | None = None
        self._legacy: list[Strip] = []  # set_strips (half-block lines rendered by the caller)
        self._kitty: OrderedDict[tuple, tuple[int, int, int]] = OrderedDict()  # (version-key) -> (id, cols, rows)
        self._kitty_pixels: dict[int, Any] = {}  # kitty itself: id -> the RGB it holds (to edit it in place)
        self._sixel_due = False
        self.columns: list[str] = []
        self.sixel_sends = 0  # how many times a Sixel was painted (tests, bench)
        self.kitty_sends = 0
        self.kitty_edits = 0  # rectangles edited in place in a kitty picture (kitty itself)

    # -- what to draw with -------------------------------------------------------------------
    @property
    def graphics(self) -> Graphics:
        return self._graphics or app_graphics(self.app)

    @property
    def mode(self) -> str:
        return self.graphics.mode

    def pixel_box(self) -> tuple[int, int]:
        """The pixels this widget can show now (width, height)."""
        cols, rows = self._box()
        g = self.graphics
        if g.mode == "halfblock":
            return cols, rows * 2
        return cols * g.cell_w, rows * g.cell_h

    def _box(self) -> tuple[int, int]:
        caption = 1 if self.columns and self.size.height > 2 else 0
        return max(1, self.size.width), max(1, self.size.height - caption)

    # -- content -----------------------------------------------------------------------------
    def set_image(self, rgb: Any, *, key: Any = None, columns: list[str] | None = None) -> None:
        """Show ``rgb``; a repeated non-None ``key`` is a no-op (nothing re-encoded or re-sent)."""
        if rgb is None:
            self.set_message(self.message)
            return
        columns = list(columns or [])
        if columns != self.columns:
            self.columns = columns
            self.refresh()
        if key is not None and key == self._src_key and self._src is not None:
            return
        self._version += 1
        self._src, self._src_key = rgb, key if key is not None else ("v", self._version)
        self._legacy = []
        self._request()

    def set_strips(self, strips: list[Strip]) -> None:
        """Half-block lines rendered elsewhere (kept for screens that render their own)."""
        self._src, self._src_key = None, None
        self._drawn = None
        self._legacy = strips
        self.refresh()

    def set_message(self, text: str) -> None:
        if self._src is None and self._drawn is None and not self._legacy and text == self.message:
            return  # shown already: a poll that found nothing new sends nothing
        self.columns = []
        self._src, self._src_key = None, None
        self._drawn = None
        self._legacy = []
        self.message = text
        self.refresh()

    @property
    def strips(self) -> list[Strip]:
        """The lines drawn now (half-blocks or kitty placeholders; empty for a Sixel or a message)."""
        return self._drawn.strips if self._drawn is not None else self._legacy

    @property
    def drawn(self) -> Drawn | None:
        return self._drawn

    @property
    def has_picture(self) -> bool:
        return self._drawn is not None or bool(self._legacy)

    def graphics_changed(self) -> None:
        """The app's graphics mode changed: draw again."""
        self._forget_kitty()
        self._drawn = None
        self._request()

    # -- preparing (in a thread) ----------------------------------------------------------------
    def _key(self) -> tuple:
        cols, rows = self._box()
        g = self.graphics
        return (self._src_key, cols, rows, g.mode, g.cell_w, g.cell_h)

    def _request(self) -> None:
        if self._src is None or not self.is_mounted:
            return
        if self.size.width < 1 or self.size.height < 1:
            return
        key = self._key()
        if self._want == key or (self._drawn is not None and self._drawn.key == key):
            return
        self._want = key
        cols, rows = self._box()
        g = self.graphics
        kitty_id = 0
        if g.mode == "kitty":
            known = self._kitty.get(key)
            if known is not None:
                kitty_id = known[0]
                self._kitty.move_to_end(key)
        src = self._src
        bg = self._bg_rgb()
        shown = self._drawn
        base = shown.pixels if g.mode == "kitty" and g.edits and not kitty_id and shown is not None \
            and shown.mode == "kitty" and shown.key[1:] == key[1:] else None
        self.run_worker(lambda: self._prepare(src, cols, rows, g, key, bg, kitty_id, base), thread=True,
                        exclusive=True, group=f"picture-{id(self)}", exit_on_error=False, name="picture")

    def _prepare(self, src: Any, cols: int, rows: int, g: Graphics, key: tuple, bg: tuple[int, int, int],
                 kitty_id: int, base: Any = None) -> None:
        try:
            drawn = prepare(src, cols, rows, g, key, bg=bg, kitty_id=kitty_id, base=base)
        except Exception as exc:  # noqa: BLE001 - a broken picture shows its error, nothing else breaks
            self.app.call_from_thread(self.set_message, f"cannot draw the picture: {exc}")
            return
        self.post_message(self.Prepared(drawn))

    def _bg_rgb(self) -> tuple[int, int, int]:
        try:
            c = self.background_colors[1]
            return (c.r, c.g, c.b)
        except Exception:  # noqa: BLE001
            return (0, 0, 0)

    def on_picture_prepared(self, msg: "Picture.Prepared") -> None:
        d = msg.drawn
        if d.key != self._key():
            return  # stale (resized or replaced meanwhile); a newer one is on its way
        self._want = None
        shown = self._drawn
        if d.mode == "halfblock" and self._repaint_changed_cells(shown, d):
            return
        if d.mode == "kitty" and d.edits is not None:
            if not self._edit_kitty(shown, d):
                self._request()  # what it was prepared against is no longer on screen: the whole picture
            return
        if d.mode == "kitty":
            g = self.graphics
            if d.png is not None:
                d.image_id = termgfx.new_image_id()
                termgfx.write(self.app, termgfx.kitty_transmit(d.image_id, d.png, d.cols, d.rows, tmux=g.tmux))
                self.kitty_sends += 1
                d.png = None
                self._kitty[d.key] = (d.image_id, d.cols, d.rows)
                if d.pixels is not None:
                    self._kitty_pixels[d.image_id] = d.pixels
                while len(self._kitty) > self.KITTY_KEEP:
                    _k, (gone, _c, _r) = self._kitty.popitem(last=False)
                    self._kitty_pixels.pop(gone, None)
                    termgfx.write(self.app, termgfx.kitty_delete(gone, tmux=g.tmux))
            elif d.pixels is None:  # a picture still in the terminal, shown again: its pixels, when known
                d.pixels = self._kitty_pixels.get(d.image_id)
            style = termgfx.kitty_style(d.image_id)
            d.strips = [Strip([Segment(t, style)], d.cols) for t in termgfx.kitty_rows(d.image_id, d.cols, d.rows)]
        self._drawn = d
        self.refresh()

    def _repaint_changed_cells(self, old: Drawn | None, d: Drawn) -> bool:
        """Half-blocks: the new picture replaces one of the same size: repaint only the cells whose colours
        changed (a merger setting changes the face, not the frame). False: repaint it all."""
        if old is None or old.mode != "halfblock" or old.packed is None or d.packed is None \
                or (old.cols, old.rows) != (d.cols, d.rows) or self._legacy:
            return False
        spans = halfblock.changed_cells(old.packed, d.packed)
        if spans is None:
            return False
        self._drawn = d
        self._refresh_cells(spans, *self._image_origin(d.cols, d.rows))
        return True

    def _refresh_cells(self, spans: list[tuple[int, int, int]], x0: int = 0, y0: int = 0) -> None:
        """Repaint the (line, first column, end column) spans of a picture drawn at content cell (x0, y0)."""
        top, _, _, left = self.gutter  # refresh regions are in the widget's region, lines in its content
        if spans:
            self.refresh(*[Region(left + x0 + x1, top + y0 + y, x2 - x1, 1) for y, x1, x2 in spans])

    def _edit_kitty(self, old: Drawn | None, d: Drawn) -> bool:
        """kitty itself: overwrite the changed rectangles of the picture on screen (``old``) in place, so it
        becomes ``d`` under the same id. False when ``old`` is not what ``d`` was prepared against."""
        if old is None or old.mode != "kitty" or not old.image_id or old.pixels is None \
                or old.pixels is not d.based_on or (old.cols, old.rows) != (d.cols, d.rows):
            return False
        g = self.graphics
        d.image_id = old.image_id
        if d.edits:
            termgfx.write(self.app, "".join(termgfx.kitty_edit(d.image_id, rgb, x, y, tmux=g.tmux)
                                            for x, y, rgb in d.edits))
            self.kitty_edits += len(d.edits)
        d.edits = None
        d.strips = old.strips
        # the id now shows this picture: the cached entry of the old one must not be reused for it
        for k in [k for k, v in self._kitty.items() if v[0] == d.image_id]:
            del self._kitty[k]
        self._kitty[d.key] = (d.image_id, d.cols, d.rows)
        self._kitty_pixels[d.image_id] = d.pixels
        self._drawn = d
        return True

    def on_resize(self, event: events.Resize) -> None:
        self._request()

    def on_mount(self) -> None:
        watch_paints(self.screen, self._painted)
        self._request()

    def on_unmount(self) -> None:
        try:
            unwatch_paints(self.screen, self._painted)
        except Exception:  # noqa: BLE001 - screen already gone
            pass
        self._forget_kitty()

    def _forget_kitty(self) -> None:
        if not self._kitty:
            return
        g = self.graphics
        for image_id, _c, _r in self._kitty.values():
            try:
                termgfx.write(self.app, termgfx.kitty_delete(image_id, tmux=g.tmux))
            except Exception:  # noqa: BLE001 - app closing
                pass
        self._kitty.clear()
        self._kitty_pixels.clear()

    # -- drawing --------------------------------------------------------------------------------
    def _image_origin(self, cols: int, rows: int) -> tuple[int, int]:
        """Top-left cell of a cols x rows picture (centred; below the caption line when there is one)."""
        _w, h = self._box()
        top = self.size.height - h
        return max(0, (self.size.width - cols) // 2), top + max(0, (h - rows) // 2)

    def _caption_line(self, cols: int) -> Strip:
        """The column captions spread over the picture's ``cols`` cells (cut to fit)."""
        width = self.size.width
        base = self.rich_style
        n = len(self.columns)
        left = max(0, (width - cols) // 2)
        segs = [Segment(" " * left, base)] if left else []
        dim = base + Style(bold=True)
        for j, text in enumerate(self.columns):
            a, b = round(j * cols / n), round((j + 1) * cols / n)
            slot = max(0, b - a)
            segs.append(Segment(text[:max(0, slot - 1)].center(slot), dim))
        return Strip(segs).extend_cell_length(width, base).crop(0, width)

    def _painted(self, regions: list[Region]) -> None:
        """A frame wrote ``regions`` (screen coordinates): paint the Sixel again if they cover it."""
        d = self._drawn
        if d is None or d.mode != "sixel" or self._sixel_due:
            return
        try:
            area = self.content_region
        except Exception:  # noqa: BLE001 - not laid out
            return
        x0, y0 = self._image_origin(d.cols, d.rows)
        image = Region(area.x + x0, area.y + y0, d.cols, d.rows).intersection(area)
        if any(r.overlaps(image) for r in regions):
            self._sixel_due = True
            self.call_after_refresh(self._paint_sixel)

    def _paint_sixel(self) -> None:
        self._sixel_due = False
        d = self._drawn
        if d is None or d.mode != "sixel" or not self.is_mounted:
            return
        try:
            if self.screen is not self.app.screen or not self.display:
                return
        except Exception:  # noqa: BLE001 - no screen
            return
        region = self.content_region
        x0, y0 = self._image_origin(d.cols, d.rows)
        termgfx.write(self.app, termgfx.sixel_at(d.sixel, region.x + x0, region.y + y0))
        self.sixel_sends += 1

    def render_line(self, y: int) -> Strip:
        width = self.size.width
        base = self.rich_style
        d = self._drawn
        strips: list[Strip]
        if d is not None:
            if d.mode == "sixel":
                _x0, top = self._image_origin(d.cols, d.rows)
                if self.columns and y == top - 1:
                    return self._caption_line(d.cols)
                return Strip.blank(width, base)
            strips = d.strips
        else:
            strips = self._legacy
        if not strips:
            lines = self.message.split("\n")
            first = self.size.height // 2 - len(lines) // 2
            if first <= y < first + len(lines):
                return Strip([Segment(lines[y - first][:width].center(width), base)])
            return Strip.blank(width, base)
        cols = max((st.cell_length for st in strips), default=0)
        _x0, top = self._image_origin(cols, len(strips))
        if self.columns and y == top - 1:
            return self._caption_line(cols)
        i = y - top
        if i < 0 or i >= len(strips):
            return Strip.blank(width, base)
        strip = strips[i]
        left = max(0, (width - strip.cell_length) // 2)
        if left:
            strip = Strip.join([Strip.blank(left, base), strip])
        return strip.extend_cell_length(width, base).crop(0, width)


__all__ = ["Picture", "prepare", "fit", "app_graphics"]
