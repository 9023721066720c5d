"""A virtualised grid of face thumbnails: one ScrollView that draws only the visible rows.

Tens of thousands of faces cost a list of names, not widgets (textual.md §7.3):
``render_line`` maps a screen line to (thumbnail row, line in the thumbnail) and
joins cached half-block strips. Thumbnails are decoded by a thread worker,
visible rows first, then a page ahead and behind; until one arrives its cell
shows a placeholder. The strips live in an LRU, so paging back is free.

Each cell is ``[border][thumbnail][border]`` over a one-line bar with the face's
name; the bar takes the colour of the face's tag (``$tag-*`` theme variables),
the borders show the cursor (``$accent``) and the selection (``$primary``).
The grid owns navigation and selection; tags come from the screen's journal.

Thumbnails are drawn with the session's graphics (``termgfx``): half-blocks
(``thumb_size`` = cells across, two pixels per cell), or kitty / Sixel pictures
(``thumb_size`` = pixels, 64-256). A kitty thumbnail is transmitted once when it is
decoded and is then placeholder text like any other cell; a Sixel thumbnail is painted
after a frame that rewrote its cells (and only then). Moving the cursor repaints only
the border columns and the name bars of the two faces, never the pictures.
"""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from pathlib import Path
from typing import Any, Callable, Iterable

from rich.segment import Segment
from rich.style import Style
from textual import events
from textual.binding import Binding
from textual.color import Color
from textual.geometry import Region, Size
from textual.message import Message
from textual.reactive import reactive
from textual.scroll_view import ScrollView
from textual.strip import Strip
from textual.worker import get_current_worker

from ...faceset.journal import TAG_NAMES
from . import halfblock, termgfx
from .picture import app_graphics, unwatch_paints, watch_paints

TAG_ORDER = TAG_NAMES  # the seven review tags, declared once in faceset.journal

HALFBLOCK_SIZES = (8, 12, 16, 24, 32, 48, 64)  # cells across
PIXEL_SIZES = (64, 96, 128, 160, 192, 256)  # pixels across (kitty / Sixel)


class Thumb:
    """One decoded thumbnail: its lines (half-blocks, kitty placeholders, or blanks under a Sixel)."""

    __slots__ = ("rows", "image_id", "sixel", "png")

    def __init__(self, rows: list[list[Segment]], image_id: int = 0, sixel: str = "", png: bytes | None = None) -> None:
        self.rows = rows
        self.image_id = image_id
        self.sixel = sixel
        self.png = png

    def __len__(self) -> int:
        return len(self.rows)

    def __getitem__(self, i: int) -> list[Segment]:
        return self.rows[i]


class FaceGrid(ScrollView, can_focus=True):
    """Thumbnails of the faces named in :attr:`names` (paths relative to :attr:`folder`)."""

    HELP_TITLE = "Face grid"
    DEFAULT_CSS = """
    FaceGrid { background: $background; scrollbar-size-vertical: 1; }
    """
    BINDINGS = [
        Binding("left,h", "move(-1, 0)", "Left", id="review.left", show=False),
        Binding("right,l", "move(1, 0)", "Right", id="review.right", show=False),
        Binding("up,k", "move(0, -1)", "Up", id="review.up", show=False),
        Binding("down,j", "move(0, 1)", "Down", id="review.down", show=False),
        Binding("pageup", "page(-1)", "Page up", id="review.page-up", show=False),
        Binding("pagedown", "page(1)", "Page down", id="review.page-down", show=False),
        Binding("home", "first", "First face", id="review.first", show=False),
        Binding("end", "last", "Last face", id="review.last", show=False),
        Binding("shift+left", "extend(-1, 0)", "Extend selection left", id="review.extend-left", show=False),
        Binding("shift+right", "extend(1, 0)", "Extend selection right", id="review.extend-right", show=False),
        Binding("shift+up", "extend(0, -1)", "Extend selection up", id="review.extend-up", show=False),
        Binding("shift+down", "extend(0, 1)", "Extend selection down", id="review.extend-down", show=False),
        Binding("space", "toggle_select", "Select", id="review.select"),
    ]

    cursor: reactive[int] = reactive(0, repaint=False, init=False)

    class CursorMoved(Message):
        def __init__(self, grid: "FaceGrid", index: int, name: str | None) -> None:
            super().__init__()
            self.grid = grid
            self.index = index
            self.name = name

    class SelectionChanged(Message):
        def __init__(self, grid: "FaceGrid", count: int) -> None:
            super().__init__()
            self.grid = grid
            self.count = count

    class ThumbsReady(Message):
        bubble = False

        def __init__(self, batch: dict[str, Thumb], key: tuple) -> None:
            super().__init__()
            self.batch = batch
            self.key = key

    def __init__(self, folder: Path | None = None, *, thumb_w: int = 16, cache_size: int = 4000,
                 loader: Callable[[Path, int, int], Any] | None = None, thumb_size: int | None = None,
                 **kw: Any) -> None:
        super().__init__(**kw)
        self.folder = Path(folder) if folder else Path(".")
        self.names: list[str] = []
        self.tags: dict[str, str] = {}
        self.selected: set[str] = set()
        self.anchor: int | None = None
        self.thumb_w = thumb_w
        self.thumb_h = thumb_w // 2
        self.thumb_px = thumb_w
        self._asked_size = thumb_size
        self.cache_size = cache_size
        self._cache: OrderedDict[str, Thumb] = OrderedDict()
        self._sixel_due: set[int] = set()
        self._sixel_pending = False
        self.sixel_paints = 0  # Sixel thumbnails painted (tests, bench)
        self.kitty_sends = 0
        self._cols = 1
        self._request_pending = False
        self._inflight: set[str] = set()
        self._lock = threading.Lock()
        self._loader = loader or load_thumb_rgb
        self.decoded = 0
        self._styles: dict[str, Style] = {}
        self._update_styles()

    # -- geometry ------------------------------------------------------------------------
    @property
    def graphics(self) -> Any:
        return app_graphics(self.app)

    @property
    def thumb_size(self) -> int:
        """Cells across (half-blocks) or pixels across (kitty / Sixel)."""
        return self.thumb_px if self.graphics.pixels else self.thumb_w

    def size_choices(self) -> tuple[int, ...]:
        return PIXEL_SIZES if self.graphics.pixels else HALFBLOCK_SIZES

    def set_thumb_size(self, size: int) -> None:
        """Thumbnails ``size`` across (cells for half-blocks, pixels for kitty / Sixel); drops the decoded ones."""
        g = self.graphics
        if g.pixels:
            px = max(16, int(size))
            self.thumb_px = px
            self.thumb_w = max(4, -(-px // g.cell_w))
            self.thumb_h = max(2, -(-px // g.cell_h))
        else:
            self.thumb_w = max(4, int(size))
            self.thumb_h = max(2, self.thumb_w // 2)
            self.thumb_px = self.thumb_w
        self.clear_cache()
        if self.is_mounted:
            self._layout()
            self._scroll_to_cursor()

    def graphics_changed(self, size: int | None = None) -> None:
        """The app's graphics changed: new thumbnail geometry, everything decoded again."""
        choices = self.size_choices()
        if size is None:
            size = choices[min(2, len(choices) - 1)]
        self.set_thumb_size(size)
        self.refresh()

    @property
    def cell_w(self) -> int:
        return self.thumb_w + 2

    @property
    def cell_h(self) -> int:
        return self.thumb_h + 1

    @property
    def cols(self) -> int:
        return self._cols

    @property
    def rows(self) -> int:
        return (len(self.names) + self._cols - 1) // self._cols

    def _layout(self) -> None:
        width = self.scrollable_content_region.width or self.size.width or self.cell_w
        self._cols = max(1, width // self.cell_w)
        self.virtual_size = Size(self._cols * self.cell_w, max(1, self.rows) * self.cell_h)

    def on_resize(self, event: events.Resize) -> None:
        self._layout()
        self._scroll_to_cursor()
        self.refresh()

    def row_region(self, index: int) -> Region:
        row = index // self._cols
        return Region(0, row * self.cell_h, self._cols * self.cell_w, self.cell_h)

    def visible_range(self) -> range:
        first = int(self.scroll_offset.y) // self.cell_h
        last = (int(self.scroll_offset.y) + self.size.height) // self.cell_h
        return range(first * self._cols, min(len(self.names), (last + 1) * self._cols))

    @property
    def page_rows(self) -> int:
        return max(1, self.size.height // self.cell_h)

    # -- content ----------------------------------------------------------------------------
    def set_items(self, names: list[str], *, keep: str | None = None, cursor: int | None = None) -> None:
        """Show ``names`` (the current view); the cursor stays on ``keep`` when it is still there."""
        current = keep if keep is not None else self.current_name
        self.names = names
        self.selected &= set(names)
        self._layout()
        idx = 0
        if cursor is not None:
            idx = cursor
        elif current is not None:
            try:
                idx = names.index(current)
            except ValueError:
                idx = min(self.cursor, len(names) - 1)
        idx = max(0, min(idx, len(names) - 1)) if names else 0
        self.set_reactive(FaceGrid.cursor, idx)
        self._scroll_to_cursor()
        self.refresh()
        self.post_message(self.CursorMoved(self, idx, self.current_name))

    @property
    def current_name(self) -> str | None:
        if 0 <= self.cursor < len(self.names):
            return self.names[self.cursor]
        return None

    def forget(self, names: Iterable[str]) -> None:
        """Drop cached thumbnails (faces replaced on disk)."""
        gone = [t for t in (self._cache.pop(n, None) for n in names) if t is not None]
        self._free(gone)
        self.refresh()

    def clear_cache(self) -> None:
        self._free(list(self._cache.values()))
        self._cache.clear()
        self._inflight = set()
        self.workers.cancel_group(self, "face-grid-thumbs")
        self.refresh()

    def _transmit(self, thumb: Thumb) -> None:
        """Send a kitty thumbnail the first time it is drawn (prefetched ones cost nothing until shown).
        Called while Textual renders the frame: the bytes reach the terminal before the frame does."""
        png, thumb.png = thumb.png, None
        if png is not None:
            termgfx.write(self.app, termgfx.kitty_transmit(thumb.image_id, png, self.thumb_w, self.thumb_h,
                                                           tmux=self.graphics.tmux))
            self.kitty_sends += 1

    def _free(self, thumbs: list[Thumb]) -> None:
        """Delete kitty pictures from the terminal (its memory is limited)."""
        ids = [t.image_id for t in thumbs if t.image_id and t.png is None]
        if ids and self.is_attached:
            tmux = self.graphics.tmux
            termgfx.write(self.app, "".join(termgfx.kitty_delete(i, tmux=tmux) for i in ids))

    # -- styles -----------------------------------------------------------------------------
    def _update_styles(self) -> None:
        try:
            variables = self.app.get_css_variables()
        except Exception:  # noqa: BLE001 - not attached to an app yet
            variables = {}

        def col(name: str, default: str) -> Any:
            try:
                return Color.parse(variables.get(name, default)).rich_color
            except Exception:  # noqa: BLE001
                return Color.parse(default).rich_color

        from ..themes import TAG_DEFAULTS

        bg = col("surface", "#24283b")
        fg = col("foreground", "#c0caf5")
        self._styles = {
            "bar": Style(color=col("text-muted", "#888888"), bgcolor=bg),
            "placeholder": Style(color=col("panel", "#444444"), bgcolor=col("panel", "#2f3549")),
            "cursor": Style(color=col("accent", "#ff9e64"), bold=True),
            "selected": Style(color=col("primary", "#7aa2f7"), bold=True),
            "space": Style(bgcolor=col("background", "#1a1b26")),
            "cursor-bar": Style(color=col("background", "#000000"), bgcolor=col("accent", "#ff9e64"), bold=True),
            "fg": Style(color=fg),
        }
        for tag in TAG_ORDER:
            c = col(f"tag-{tag}", TAG_DEFAULTS[f"tag-{tag}"])
            self._styles[f"tag-{tag}"] = Style(color="#000000", bgcolor=c, bold=True)

    def tag_style(self, tag: str) -> Style:
        return self._styles.get(f"tag-{tag}", self._styles["bar"])

    def on_mount(self) -> None:
        self._update_styles()
        self.watch(self.app, "theme", lambda *_: (self._update_styles(), self.refresh()), init=False)
        choices = self.size_choices()
        size = self._asked_size
        if self.graphics.pixels and (size is None or size < choices[0]):
            size = choices[min(2, len(choices) - 1)]
        if size is not None and size != self.thumb_size:
            self.set_thumb_size(size)
        elif self.graphics.pixels:
            self.set_thumb_size(self.thumb_px)
        watch_paints(self.screen, self._painted)

    def on_unmount(self) -> None:
        try:
            unwatch_paints(self.screen, self._painted)
        except Exception:  # noqa: BLE001 - screen gone
            pass
        self._free(list(self._cache.values()))

    # -- drawing ----------------------------------------------------------------------------
    def render_line(self, y: int) -> Strip:
        width = self.size.width
        sx, sy = self.scroll_offset
        row, line = divmod(y + int(sy), self.cell_h)
        start = row * self._cols
        space = self._styles["space"]
        n = len(self.names)
        if start >= n:
            return Strip.blank(width, space)
        segs: list[Segment] = []
        missing = False
        tw = self.thumb_w
        styles = self._styles
        placeholder = None
        cache = self._cache
        for c in range(self._cols):
            i = start + c
            if i >= n:
                break
            name = self.names[i]
            is_cur = i == self.cursor
            is_sel = name in self.selected
            if is_cur:
                left, right = Segment("▐", styles["cursor"]), Segment("▌", styles["cursor"])
            elif is_sel:
                left, right = Segment("┃", styles["selected"]), Segment("┃", styles["selected"])
            else:
                left = right = Segment(" ", space)
            segs.append(left)
            if line < self.thumb_h:
                thumb = cache.get(name)
                if thumb is None or line >= len(thumb):
                    missing = missing or thumb is None
                    if placeholder is None:
                        mark = "·" if line == self.thumb_h // 2 else " "
                        placeholder = [Segment(mark, styles["placeholder"]), Segment(" " * (tw - 1), styles["placeholder"])]
                    segs.extend(placeholder)
                else:
                    if thumb.png is not None:
                        self._transmit(thumb)
                    segs.extend(thumb[line])
            else:
                tag = self.tags.get(name)
                label = name.rsplit(".", 1)[0]
                if is_sel:
                    label = "✓" + label
                label = label[:tw].ljust(tw)
                st = self.tag_style(tag) if tag else styles["bar"]
                if is_cur:
                    st = (st + Style(underline=True, reverse=True)) if tag else styles["cursor-bar"]
                segs.append(Segment(label, st))
            segs.append(right)
        if missing and not self._request_pending:
            self._request_pending = True
            self.call_later(self.request_thumbnails)
        used = (min(self._cols, n - start)) * self.cell_w
        if used < width:
            segs.append(Segment(" " * (width - used), space))
        strip = Strip(segs, max(width, used))
        if sx or used > width:
            strip = strip.crop(int(sx), int(sx) + width)
        return strip

    # -- thumbnails -----------------------------------------------------------------------------
    def request_thumbnails(self) -> None:
        """Decode what the visible rows lack, then a page ahead and behind."""
        self._request_pending = False
        if not self.names:
            return
        vis = self.visible_range()
        page = max(1, len(vis))
        order = list(vis) + list(range(vis.stop, min(len(self.names), vis.stop + page)))
        order += list(range(max(0, vis.start - page), vis.start))[::-1]
        wanted = [self.names[i] for i in order if self.names[i] not in self._cache]
        if not wanted:
            return
        visible_missing = {self.names[i] for i in vis if self.names[i] not in self._cache}
        if self._inflight and visible_missing <= self._inflight and self._worker_running():
            return  # the running worker already has them (restarting it would only lose time)
        self._inflight = set(wanted)
        n_first = len(visible_missing)
        key = self._geometry_key()
        bg = self._space_rgb()
        self._worker = self.run_worker(lambda: self._decode(wanted, n_first, key, bg), thread=True, exclusive=True,
                                       group="face-grid-thumbs", exit_on_error=False, name="thumbnails")

    def _geometry_key(self) -> tuple:
        g = self.graphics
        return (g.mode, self.thumb_w, self.thumb_h, self.thumb_px, g.cell_w, g.cell_h)

    def _space_rgb(self) -> tuple[int, int, int]:
        c = self._styles["space"].bgcolor
        t = c.get_truecolor() if c is not None else None
        return (t.red, t.green, t.blue) if t is not None else (0, 0, 0)

    def _worker_running(self) -> bool:
        w = getattr(self, "_worker", None)
        return w is not None and not w.is_finished and not w.is_cancelled

    def _make_thumb(self, name: str, key: tuple, bg: tuple[int, int, int]) -> Thumb:
        mode, tw, th, px, cw, ch = key
        if mode == "halfblock":
            rgb = self._loader(self.folder / name, tw, th * 2)
            if rgb is None:
                raise ValueError("unreadable")
            return Thumb([list(st) for st in halfblock.render(rgb)])
        rgb = self._loader(self.folder / name, px, px)
        if rgb is None:
            raise ValueError("unreadable")
        if mode == "kitty":
            return Thumb([], png=termgfx.encode_png(rgb))
        import numpy as np

        canvas = np.empty((th * ch, tw * cw, 3), np.uint8)
        canvas[:] = bg
        h, w = min(rgb.shape[0], canvas.shape[0]), min(rgb.shape[1], canvas.shape[1])
        y0, x0 = (canvas.shape[0] - h) // 2, (canvas.shape[1] - w) // 2
        canvas[y0:y0 + h, x0:x0 + w] = rgb[:h, :w]
        blank = [Segment(" " * tw, Style(bgcolor=f"rgb({bg[0]},{bg[1]},{bg[2]})"))]
        return Thumb([blank for _ in range(th)], sixel=termgfx.encode_sixel(canvas))

    def _decode(self, wanted: list[str], n_first: int, key: tuple, bg: tuple[int, int, int]) -> None:
        worker = get_current_worker()
        batch: dict[str, Thumb] = {}
        last = time.monotonic()
        done = 0
        tw, th = key[1], key[2]
        for name in wanted:
            if worker.is_cancelled:
                return
            if name in self._cache:
                continue
            try:
                thumb = self._make_thumb(name, key, bg)
            except Exception:  # noqa: BLE001 - an unreadable face shows a cross, the rest go on
                thumb = Thumb([list(st) for st in halfblock.blank(tw, th, Style(color="red", bgcolor="#200000"), "╳")])
            batch[name] = thumb
            now = time.monotonic()
            done += 1
            # The visible ones go out together (one redraw), the prefetch in large batches.
            if done == n_first or (done > n_first and len(batch) >= 64) or (done < n_first and now - last > 0.1):
                self.post_message(self.ThumbsReady(batch, key))
                batch, last = {}, now
        if batch and not worker.is_cancelled:
            self.post_message(self.ThumbsReady(batch, key))

    def on_face_grid_thumbs_ready(self, msg: "FaceGrid.ThumbsReady") -> None:
        if msg.key != self._geometry_key():
            return  # decoded for another size or mode
        g = self.graphics
        for name, thumb in msg.batch.items():
            if thumb.png is not None:  # kitty: placeholder text now; the picture is sent when first shown
                thumb.image_id = termgfx.new_image_id()
                style = termgfx.kitty_style(thumb.image_id)
                thumb.rows = [[Segment(t, style)] for t in termgfx.kitty_rows(thumb.image_id, self.thumb_w, self.thumb_h)]
            old = self._cache.pop(name, None)
            if old is not None:
                self._free([old])
            self._cache[name] = thumb
        self.decoded += len(msg.batch)
        limit = self.cache_size if g.mode == "halfblock" else min(self.cache_size, 600)
        evicted = []
        while len(self._cache) > limit:
            evicted.append(self._cache.popitem(last=False)[1])
        self._free(evicted)
        # Repaint only the new pictures' cells: a Sixel neighbour must not be painted again for them.
        sx, sy = self.scroll_offset
        regions = []
        for i in self.visible_range():
            if self.names[i] in msg.batch:
                col, row = i % self._cols, i // self._cols
                regions.append(Region(col * self.cell_w + 1 - int(sx), row * self.cell_h - int(sy),
                                      self.thumb_w, self.thumb_h))
        if regions:
            self.refresh(*regions)

    def missing_visible(self) -> int:
        """How many visible faces still show a placeholder (tests and the benchmark wait on 0)."""
        return sum(1 for i in self.visible_range() if self.names[i] not in self._cache)

    # -- cursor and selection -------------------------------------------------------------------
    def _refresh_index(self, index: int) -> None:
        """Repaint one face's borders and name bar (what the cursor and the selection change), not its picture."""
        if 0 <= index < len(self.names):
            self.refresh(*[r.translate(-self.scroll_offset) for r in self.frame_regions(index)])

    def frame_regions(self, index: int) -> list[Region]:
        col, row = index % self._cols, index // self._cols
        x, y = col * self.cell_w, row * self.cell_h
        return [Region(x, y, 1, self.cell_h), Region(x + self.cell_w - 1, y, 1, self.cell_h),
                Region(x + 1, y + self.thumb_h, self.thumb_w, 1)]

    def image_region(self, index: int) -> Region:
        """Where face ``index``'s picture is on the screen now."""
        area = self.content_region
        sx, sy = self.scroll_offset
        col, row = index % self._cols, index // self._cols
        return Region(area.x + col * self.cell_w + 1 - int(sx), area.y + row * self.cell_h - int(sy),
                      self.thumb_w, self.thumb_h)

    # -- Sixel thumbnails: painted after a frame that rewrote their cells ---------------------------
    def _painted(self, regions: list[Region]) -> None:
        if self.graphics.mode != "sixel" or not self.names:
            return
        try:
            area = self.content_region
        except Exception:  # noqa: BLE001
            return
        due = self._sixel_due
        for i in self.visible_range():
            r = self.image_region(i)
            if area.contains_region(r) and any(g.overlaps(r) for g in regions):
                t = self._cache.get(self.names[i])
                if t is not None and t.sixel:
                    due.add(i)
        if due and not self._sixel_pending:
            self._sixel_pending = True
            self.call_after_refresh(self._paint_sixels)

    def _paint_sixels(self) -> None:
        self._sixel_pending = False
        due, self._sixel_due = self._sixel_due, set()
        try:
            if self.screen is not self.app.screen:
                return
            area = self.content_region
        except Exception:  # noqa: BLE001
            return
        out = []
        for i in sorted(due):
            if i >= len(self.names):
                continue
            t = self._cache.get(self.names[i])
            r = self.image_region(i)
            if t is not None and t.sixel and area.contains_region(r):
                out.append(termgfx.sixel_at(t.sixel, r.x, r.y))
        if out:
            termgfx.write(self.app, "".join(out))
            self.sixel_paints += len(out)

    def _scroll_to_cursor(self) -> None:
        if self.names:
            self.scroll_to_region(self.row_region(self.cursor), animate=False, immediate=True)

    def watch_cursor(self, old: int, new: int) -> None:
        self._refresh_index(old)
        self._refresh_index(new)
        self._scroll_to_cursor()
        self.post_message(self.CursorMoved(self, new, self.current_name))

    def go(self, index: int) -> None:
        if self.names:
            self.cursor = max(0, min(len(self.names) - 1, index))

    def action_move(self, dx: int, dy: int) -> None:
        self.anchor = None
        self.go(self.cursor + dx + dy * self._cols)

    def action_page(self, direction: int) -> None:
        self.anchor = None
        step = self.page_rows * self._cols
        self.go(self.cursor + direction * step)
        self.scroll_to(y=self.row_region(self.cursor).y, animate=False, immediate=True)

    def action_first(self) -> None:
        self.go(0)

    def action_last(self) -> None:
        self.go(len(self.names) - 1)

    def action_extend(self, dx: int, dy: int) -> None:
        if not self.names:
            return
        if self.anchor is None:
            self.anchor = self.cursor
        self.go(self.cursor + dx + dy * self._cols)
        self.select_range(self.anchor, self.cursor, keep=False)

    def select_range(self, a: int, b: int, keep: bool = True) -> None:
        lo, hi = min(a, b), max(a, b)
        if not keep:
            self.selected = set()
        self.selected.update(self.names[lo:hi + 1])
        self.refresh()
        self.post_message(self.SelectionChanged(self, len(self.selected)))

    def action_toggle_select(self) -> None:
        name = self.current_name
        if name is None:
            return
        if name in self.selected:
            self.selected.discard(name)
        else:
            self.selected.add(name)
        self.anchor = self.cursor
        self._refresh_index(self.cursor)
        self.post_message(self.SelectionChanged(self, len(self.selected)))

    def select(self, names: Iterable[str], *, replace: bool = True) -> None:
        if replace:
            self.selected = set()
        shown = set(self.names)
        self.selected.update(n for n in names if n in shown)
        self.refresh()
        self.post_message(self.SelectionChanged(self, len(self.selected)))

    def clear_selection(self) -> None:
        self.selected = set()
        self.anchor = None
        self.refresh()
        self.post_message(self.SelectionChanged(self, 0))

    def index_at(self, x: int, y: int) -> int | None:
        """The face under widget offset (x, y), or None."""
        sx, sy = self.scroll_offset
        col = (x + int(sx)) // self.cell_w
        row = (y + int(sy)) // self.cell_h
        if col >= self._cols:
            return None
        i = row * self._cols + col
        return i if 0 <= i < len(self.names) else None

    def on_click(self, event: events.Click) -> None:
        off = event.get_content_offset(self)
        if off is None:
            return
        i = self.index_at(off.x, off.y)
        if i is None:
            return
        if event.shift:
            self.select_range(self.anchor if self.anchor is not None else self.cursor, i, keep=False)
            self.cursor = i
        elif event.ctrl:
            self.cursor = i
            self.action_toggle_select()
        else:
            self.anchor = i
            self.cursor = i
        self.focus()


def load_thumb_rgb(face: Path, width: int, height: int) -> Any:
    """A face's thumbnail as RGB ``height x width``: from ``.thumbs/`` (64 px, made from the face if missing)
    up to that size, from the face itself (decoded at 1/2, 1/4 or 1/8 when that is enough) above it."""
    import cv2

    from ...faces.thumbs import THUMB_SIZE, load_thumbnail

    img = None
    if max(width, height) > THUMB_SIZE:
        img = cv2.imread(str(face), cv2.IMREAD_REDUCED_COLOR_2 if max(width, height) <= 128 else cv2.IMREAD_COLOR)
        if img is not None and max(img.shape[:2]) < max(width, height):
            img = cv2.imread(str(face), cv2.IMREAD_COLOR)
    if img is None:
        img = load_thumbnail(face)
    if img is None:
        return None
    if img.shape[1] != width or img.shape[0] != height:
        img = cv2.resize(img, (width, height), interpolation=cv2.INTER_AREA)
    return img[..., ::-1]
