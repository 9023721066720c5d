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
from . import halfblock

TAG_ORDER = TAG_NAMES  # the seven review tags, declared once in faceset.journal


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

        def __init__(self, batch: dict[str, list[Strip]]) -> None:
            super().__init__()
            self.batch = batch

    def __init__(self, folder: Path | None = None, *, thumb_w: int = 16, cache_size: int = 4000,
                 loader: Callable[[Path, int, int], Any] | None = None, **kw: Any) -> None:
        super().__init__(**kw)
        self.folder = Path(folder) if folder else Path(".")
        self.names: list[str] = []
        self.tags: dict[str, str] = {}
        self.selected: set[str] = set()
        self.anchor: int | None = None
        self.thumb_w = thumb_w
        self.thumb_h = thumb_w // 2
        self.cache_size = cache_size
        self._cache: OrderedDict[str, list[list[Segment]]] = OrderedDict()
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
        for n in names:
            self._cache.pop(n, None)
        self.refresh()

    def clear_cache(self) -> None:
        self._cache.clear()
        self.refresh()

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
        self._worker = self.run_worker(lambda: self._decode(wanted, n_first), thread=True, exclusive=True, group="face-grid-thumbs",
                        exit_on_error=False, name="thumbnails")

    def _worker_running(self) -> bool:
        w = getattr(self, "_worker", None)
        return w is not None and not w.is_finished and not w.is_cancelled

    def _decode(self, wanted: list[str], n_first: int = 0) -> None:
        worker = get_current_worker()
        batch: dict[str, list[list[Segment]]] = {}
        last = time.monotonic()
        done = 0
        for name in wanted:
            if worker.is_cancelled:
                return
            if name in self._cache:
                continue
            try:
                rgb = self._loader(self.folder / name, self.thumb_w, self.thumb_h * 2)
                strips = [list(st) for st in halfblock.render(rgb)] if rgb is not None else None
            except Exception:  # noqa: BLE001 - an unreadable face shows a cross, the rest go on
                strips = None
            if strips is None:
                strips = [list(st) for st in halfblock.blank(self.thumb_w, self.thumb_h,
                                                             Style(color="red", bgcolor="#200000"), "╳")]
            batch[name] = strips
            now = time.monotonic()
            done += 1
            # The visible ones go out together (one redraw), the prefetch in large batches.
            if done == n_first or (done > n_first and len(batch) >= 64) or (done < n_first and now - last > 0.1):
                self.post_message(self.ThumbsReady(batch))
                batch, last = {}, now
        if batch and not worker.is_cancelled:
            self.post_message(self.ThumbsReady(batch))

    def on_face_grid_thumbs_ready(self, msg: "FaceGrid.ThumbsReady") -> None:
        for name, strips in msg.batch.items():
            self._cache[name] = strips
            self._cache.move_to_end(name)
        self.decoded += len(msg.batch)
        while len(self._cache) > self.cache_size:
            self._cache.popitem(last=False)
        vis = self.visible_range()
        rows = sorted({i // self._cols for i in vis if self.names[i] in msg.batch})
        if rows:
            top = rows[0] * self.cell_h - int(self.scroll_offset.y)
            height = (rows[-1] - rows[0] + 1) * self.cell_h
            self.refresh(Region(0, max(0, top), self.size.width, height))

    def missing_visible(self) -> int:
        """How many visible faces still show a placeholder (tests and the benchmark wait on 0)."""
        return sum(1 for i in self.visible_range() if self.names[i] not in self._cache)

    # -- cursor and selection -------------------------------------------------------------------
    def _refresh_index(self, index: int) -> None:
        if 0 <= index < len(self.names):
            self.refresh(self.row_region(index).translate(-self.scroll_offset))

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
    """A face's thumbnail as RGB ``height x width`` (from ``.thumbs/``, made from the face if missing)."""
    import cv2

    from ...faces.thumbs import load_thumbnail

    img = load_thumbnail(face)
    if img is None:
        return None
    if img.shape[1] != width or img.shape[0] != height:
        img = cv2.resize(img, (width, height), interpolation=cv2.INTER_AREA)
    return img[..., ::-1]
