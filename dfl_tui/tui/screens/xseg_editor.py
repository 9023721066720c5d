"""Step 8: the XSeg mask editor, in the terminal (DeepFaceLab's Qt editor, §5.1, over SSH).

Draw include and exclude polygons on aligned faces with the mouse or the keyboard:

* **mouse**: click to add points (a new polygon starts where nothing is hit), click the
  first point to close; drag a point to move it; Ctrl+click an edge to insert a point,
  Ctrl+click a point to delete it; the wheel zooms around the pointer; right click closes
  the polygon being drawn.
* **keys**: a cursor moved by the arrows or hjkl (Shift/HJKL: 8x) stands in for the
  pointer: space clicks there, ``i`` inserts a point on the nearest edge, ``x`` deletes the
  point under the cursor, ``m`` picks the point up and puts it down (carry it with the
  arrows), ``c`` closes.

``q``/``w`` choose include/exclude, ``t`` flips the selected polygon, Delete removes it,
``u``/Ctrl+Z and ``U``/Ctrl+Y undo and redo. ``4`` shows the baked mask (exclude wins over
include), ``5`` the trained mask stored in the face, `` ` `` overlays the trained mask.
``a``/``d`` save and go to the previous/next face (``A``/``D``: the previous/next
labelled face). Labels are written into the face file's metadata (``seg_ie_polys``, as
DeepFaceLab stores them) whenever you leave a face that changed, and on exit.

The face is drawn by :class:`~dfl_tui.tui.widgets.image_canvas.ImageCanvas` inside the
layout of :class:`~.canvas_tool.CanvasToolScreen` (both shared with manual extraction);
decoding files happens in thread workers.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import cv2
import numpy as np
from rich.text import Text
from textual import on, work
from textual.binding import Binding
from textual.message import Message
from textual.widgets import Static

from ...faces import dflimg
from ...workspace import list_images
from ...xseg.polys import EXCLUDE, INCLUDE, MODE_DRAW, MODE_EDIT, TYPE_NAMES, LabelEditor, polys_from_meta
from ..widgets.canvas_overlays import (CURSOR_RGB, EXCLUDE_RGB, INCLUDE_RGB, SELECT_RGB, XSEG_RGB, draw_cursor,
                                       mask_to_display, tint, to_disp)
from ..widgets.image_canvas import ImageCanvas
from .canvas_tool import CanvasToolScreen


class FacesListed(Message):
    def __init__(self, files: list[Path], labelled: set[str]) -> None:
        super().__init__()
        self.files = files
        self.labelled = labelled


class MaskReread(Message):
    """The current face's file changed on disk (an XSeg apply job wrote its trained mask)."""

    def __init__(self, path: Path, mask_buf: bytes | None, mtime: int) -> None:
        super().__init__()
        self.path, self.mask_buf, self.mtime = path, mask_buf, mtime


class FaceLoaded(Message):
    def __init__(self, index: int, path: Path, rgb: np.ndarray | None, meta: Any, error: str | None) -> None:
        super().__init__()
        self.index, self.path, self.rgb, self.meta, self.error = index, path, rgb, meta, error


VIEW_LABELS, VIEW_BAKED, VIEW_XSEG = "labels", "baked", "xseg"


class XSegEditorScreen(CanvasToolScreen):
    """Label faces with include/exclude polygons; the labels go into the face files."""

    ID_PREFIX = "xe"
    HELP_TITLE = "XSeg mask editor"
    DEFAULT_CSS = """
    XSegEditorScreen #xe-title { height: 1; padding: 0 1; background: $panel; }
    XSegEditorScreen #xe-body { height: 1fr; }
    XSegEditorScreen #xe-side { width: 45; height: 1fr; border-left: solid $panel; padding: 0 1; }
    XSegEditorScreen #xe-status { height: 1; padding: 0 1; background: $boost; }
    """
    BINDINGS = [
        Binding("escape", "escape", "Back", id="xseg.escape"),  # first: the footer always shows how to leave
        Binding("left,h", "cursor(-1,0)", "Cursor left", id="xseg.left", show=False),
        Binding("right,l", "cursor(1,0)", "Cursor right", id="xseg.right", show=False),
        Binding("up,k", "cursor(0,-1)", "Cursor up", id="xseg.up", show=False),
        Binding("down,j", "cursor(0,1)", "Cursor down", id="xseg.down", show=False),
        Binding("shift+left,H", "cursor(-8,0)", "Cursor left x8", id="xseg.left8", show=False),
        Binding("shift+right,L", "cursor(8,0)", "Cursor right x8", id="xseg.right8", show=False),
        Binding("shift+up,K", "cursor(0,-8)", "Cursor up x8", id="xseg.up8", show=False),
        Binding("shift+down,J", "cursor(0,8)", "Cursor down x8", id="xseg.down8", show=False),
        Binding("space,enter", "click", "Point", id="xseg.click"),
        Binding("c", "close_poly", "Close", id="xseg.close"),
        Binding("i", "insert_point", "Insert pt", id="xseg.insert", show=False),
        Binding("x", "delete_point", "Delete pt", id="xseg.delete-point", show=False),
        Binding("m", "carry", "Move pt", id="xseg.carry", show=False),
        Binding("q", "set_type(1)", "Include", id="xseg.include"),
        Binding("w", "set_type(0)", "Exclude", id="xseg.exclude"),
        Binding("t", "toggle_type", "Flip type", id="xseg.toggle-type", show=False),
        Binding("tab", "cycle(1)", "Next polygon", id="xseg.cycle", show=False),
        Binding("delete", "delete_poly", "Delete polygon", id="xseg.delete-poly", show=False),
        Binding("backspace", "backspace", "Remove last point", id="xseg.backspace", show=False),
        Binding("u,ctrl+z", "undo", "Undo", id="xseg.undo"),
        Binding("U,ctrl+y", "redo", "Redo", id="xseg.redo", show=False),
        Binding("plus,equals_sign", "zoom(1.5)", "Zoom in", id="xseg.zoom-in", show=False),
        Binding("minus", "zoom(0.6667)", "Zoom out", id="xseg.zoom-out", show=False),
        Binding("0", "fit", "Fit", id="xseg.fit", show=False),
        Binding("4", "view('baked')", "Baked mask", id="xseg.view-baked", show=False),
        Binding("5", "view('xseg')", "Trained mask", id="xseg.view-xseg", show=False),
        Binding("grave_accent", "overlay", "Mask overlay", id="xseg.overlay", show=False),
        Binding("a", "go(-1)", "Prev", id="xseg.prev"),
        Binding("d", "go(1)", "Next", id="xseg.next"),
        Binding("A", "go_labelled(-1)", "Prev labelled", id="xseg.prev-labelled", show=False),
        Binding("D", "go_labelled(1)", "Next labelled", id="xseg.next-labelled", show=False),
        Binding("pageup", "go(-10)", "Back 10", id="xseg.prev10", show=False),
        Binding("pagedown", "go(10)", "Forward 10", id="xseg.next10", show=False),
        Binding("s", "save", "Save", id="xseg.save", show=False),
        Binding("S", "switch_side", "src / dst", id="xseg.side", show=False),
        Binding("g", "job('apply-generic')", "Generic mask", id="xseg.apply-generic", show=False),
        Binding("y", "job('apply')", "Apply model", id="xseg.apply", show=False),
        Binding("T", "train", "Train XSeg", id="xseg.train", show=False),
    ]

    KEYS_HELP = (
        ("click", "add point / select"),
        ("drag", "move a point"),
        ("ctrl+click", "insert on edge / delete point"),
        ("wheel", "zoom; right click: close"),
        ("arrows hjkl", "cursor (shift, HJKL: x8)"),
        ("space enter", "click at the cursor"),
        ("c", "close the polygon"),
        ("i / x", "insert / delete a point"),
        ("m", "pick up / put down a point"),
        ("q / w", "new include / exclude"),
        ("t", "flip the selected type"),
        ("tab", "select the next polygon"),
        ("del / bksp", "delete polygon / last point"),
        ("u / U", "undo / redo"),
        ("+ - 0", "zoom in / out / fit"),
        ("4 5 `", "baked / trained / overlay"),
        ("a / d", "save, previous / next face"),
        ("A / D", "previous / next labelled"),
        ("S", "switch src / dst"),
        ("g y T", "generic / apply / train"),
        ("esc", "finish polygon / back"),
    )

    def __init__(self, entry: Any = None, *, side: str | None = None, folder: str | Path | None = None,
                 start: int | str | None = None, **kw: Any) -> None:
        super().__init__(**kw)
        self.entry = entry
        opts = dict(getattr(entry, "options", {}) or {})
        self.side = side or opts.get("side") or "dst"
        self._folder_arg = Path(folder) if folder else (Path(opts["folder"]) if opts.get("folder") else None)
        self.start_at = start if start is not None else opts.get("start")
        self.files: list[Path] = []
        self.labelled: set[str] = set()
        self.index = -1
        self.path: Path | None = None
        self.meta: Any = None
        self.rgb: np.ndarray | None = None
        self.xseg_mask: np.ndarray | None = None
        self.editor = LabelEditor()
        self.cursor = (0.0, 0.0)
        self.carrying = False
        self.view = VIEW_LABELS
        self.overlay = False
        self.note = ""
        self.saved_count = 0
        self._pending: int | None = None
        self._mtime = 0  # the current face file's st_mtime_ns when we read or wrote it

    # -- where ---------------------------------------------------------------------------------
    @property
    def workspace(self) -> Any:
        return getattr(self.app, "workspace", None)

    @property
    def folder(self) -> Path:
        if self._folder_arg is not None:
            p = self._folder_arg
            if not p.is_absolute() and self.workspace is not None:
                p = self.workspace.root / p
            return p
        if self.workspace is None:
            return Path(".")
        return self.workspace.aligned(self.side)

    def on_mount(self) -> None:
        self.canvas.draw = self._draw
        self.canvas.focus()
        changed = getattr(self.app, "workspace_changed", None)
        if changed is not None:
            changed.subscribe(self, self._on_workspace_changed)
        self._list_faces()
        self._refresh_text()

    # -- a mask job wrote the face: show its new trained mask ------------------------------------
    def _file_mtime(self) -> int:
        try:
            return self.path.stat().st_mtime_ns if self.path is not None else 0
        except OSError:
            return 0

    def on_screen_resume(self) -> None:
        self.check_mask()

    def _on_workspace_changed(self, _data: Any) -> None:
        if self.app.screen is self:
            self.check_mask()

    def check_mask(self) -> None:
        """Read the face's trained mask again when its file changed since we read (or wrote) it."""
        if self.path is not None and self.meta is not None and self._file_mtime() != self._mtime:
            self._reread_mask(self.path)

    @work(thread=True, exclusive=True, group="xseg-mask", exit_on_error=False)
    def _reread_mask(self, path: Path) -> None:
        try:
            mtime = path.stat().st_mtime_ns
            meta = dflimg.read_meta(path)
        except (dflimg.FaceFileError, OSError):
            return
        self.post_message(MaskReread(path, meta.xseg_mask_buf, mtime))

    @on(MaskReread)
    def _mask_reread(self, msg: MaskReread) -> None:
        if msg.path != self.path or self.meta is None or self.rgb is None:
            return
        self._mtime = msg.mtime
        if msg.mask_buf == self.meta.xseg_mask_buf:
            return
        self.meta.xseg_mask_buf = msg.mask_buf
        h, w = self.rgb.shape[:2]
        m = self.meta.get_xseg_mask()
        self.xseg_mask = cv2.resize(m, (w, h), interpolation=cv2.INTER_LINEAR) if m is not None else None
        if self.xseg_mask is not None:
            self.overlay = True
            self.note = "the trained mask of this face was updated (shown tinted; ` hides it, 5 shows it alone)"
        else:
            self.note = "this face's trained mask was removed"
        self.redraw()

    # -- loading ---------------------------------------------------------------------------------
    @work(thread=True, exclusive=True, group="xseg-list")
    def _list_faces(self) -> None:
        files = list_images(self.folder)
        labelled = set()
        for p in files:
            try:
                if dflimg.read_meta(p).has_polys():
                    labelled.add(p.name)
            except dflimg.FaceFileError:
                continue
        self.post_message(FacesListed(files, labelled))

    @on(FacesListed)
    def _listed(self, msg: FacesListed) -> None:
        self.files = msg.files
        self.labelled = msg.labelled
        if not self.files:
            self.note = f"no faces in {self.folder}: extract faces first"
            self._refresh_text()
            return
        start = 0
        if isinstance(self.start_at, str):
            names = [p.name for p in self.files]
            start = names.index(self.start_at) if self.start_at in names else 0
        elif isinstance(self.start_at, int):
            start = max(0, min(len(self.files) - 1, self.start_at))
        self._open(start)

    def _open(self, index: int) -> None:
        self._pending = index
        self._load_face(index, self.files[index])

    @work(thread=True, exclusive=True, group="xseg-load")
    def _load_face(self, index: int, path: Path) -> None:
        try:
            bgr, meta = dflimg.load_face(path)
            rgb = np.ascontiguousarray(bgr[..., ::-1])
            self.post_message(FaceLoaded(index, path, rgb, meta, None))
        except dflimg.FaceFileError as exc:
            self.post_message(FaceLoaded(index, path, None, None, str(exc)))

    @on(FaceLoaded)
    def _loaded(self, msg: FaceLoaded) -> None:
        if msg.index != self._pending:
            return
        self._pending = None
        self.index, self.path = msg.index, msg.path
        if msg.error:
            self.meta, self.rgb, self.xseg_mask = None, None, None
            self.editor.load([], (1, 1))
            self.canvas.set_image(None)
            self.note = msg.error
            self._refresh_text()
            return
        self.meta, self.rgb = msg.meta, msg.rgb
        h, w = self.rgb.shape[:2]
        self.editor.load(polys_from_meta(self.meta.seg_ie_polys), (h, w))
        m = self.meta.get_xseg_mask()
        self.xseg_mask = cv2.resize(m, (w, h), interpolation=cv2.INTER_LINEAR) if m is not None else None
        self.cursor = ((w - 1) / 2, (h - 1) / 2)
        self.carrying = False
        self._mtime = self._file_mtime()
        self.canvas.set_image(self.rgb)
        self._update_radius()
        self.note = ""
        self._refresh_text()

    # -- saving --------------------------------------------------------------------------------------
    def save_current(self) -> bool:
        """Write the labels of the current face if they changed (metadata only, atomically)."""
        if self.path is None or self.meta is None or not self.editor.dirty:
            return False
        if self.editor.mode == MODE_DRAW:
            self.editor.finish_draw()  # DeepFaceLab: leaving a polygon under 3 points drops it
        self.meta.seg_ie_polys = self.editor.to_meta()
        try:
            dflimg.write_meta(self.path, self.meta)
        except (dflimg.FaceFileError, OSError) as exc:
            self.app.notify(f"could not save the labels of {self.path.name}: {exc}", severity="error", timeout=10)
            return False
        self.editor.dirty = False
        self._mtime = self._file_mtime()
        self.saved_count += 1
        if self.meta.has_polys():
            self.labelled.add(self.path.name)
        else:
            self.labelled.discard(self.path.name)
        self.note = f"saved {self.path.name}"
        return True

    def save_state(self) -> None:
        """Called by the app on exit and hang-up: never lose a label."""
        self.save_current()

    # -- drawing --------------------------------------------------------------------------------------
    def _update_radius(self) -> None:
        self.editor.radius = max(1.0, 1.6 / max(self.canvas.scale, 1e-6))

    def _draw(self, disp: np.ndarray, m: np.ndarray) -> None:
        size = (disp.shape[1], disp.shape[0])
        if self.rgb is None:
            return
        if self.view == VIEW_BAKED:
            baked = mask_to_display(self.editor.mask(), m, size)
            disp[...] = (disp * (0.2 + 0.8 * baked[..., None])).astype(np.uint8)
        elif self.view == VIEW_XSEG:
            if self.xseg_mask is not None:
                xm = mask_to_display(self.xseg_mask, m, size)
                disp[...] = (disp * (0.2 + 0.8 * xm[..., None])).astype(np.uint8)
        if self.overlay and self.xseg_mask is not None:
            tint(disp, mask_to_display(self.xseg_mask, m, size), XSEG_RGB)
        ed = self.editor
        for i, p in enumerate(ed.polys):
            if p.n == 0:
                continue
            pts = np.round(to_disp(p.pts, m)).astype(np.int32)
            colour = INCLUDE_RGB if p.type == INCLUDE else EXCLUDE_RGB
            closed = not (ed.mode == MODE_DRAW and i == ed.active)
            if p.n >= 2:
                cv2.polylines(disp, [pts.reshape(-1, 1, 2)], closed, colour, 1, cv2.LINE_8)
            for j, (x, y) in enumerate(pts):
                if 0 <= x < size[0] and 0 <= y < size[1]:
                    sel = i == ed.active and (j == ed.selected_vertex or (ed.mode == MODE_DRAW and j == 0))
                    disp[y, x] = SELECT_RGB if sel else colour
            if i == ed.active and ed.mode == MODE_EDIT:
                for x, y in pts:
                    if 0 <= x < size[0] and 0 <= y < size[1]:
                        disp[y, x] = SELECT_RGB
        cx, cy = to_disp(np.float32([self.cursor]), m)[0]
        draw_cursor(disp, cx, cy, SELECT_RGB if self.carrying else CURSOR_RGB)

    def redraw(self) -> None:
        self.canvas.invalidate()
        self._refresh_text()

    def _refresh_text(self) -> None:
        n = len(self.files)
        name = self.path.name if self.path is not None else "-"
        title = Text()
        title.append("XSeg editor", style="bold")
        title.append(f" · {self.folder} · {name} ({self.index + 1}/{n}) · {len(self.labelled)} labelled")
        self.query_one("#xe-title", Static).update(title)
        ed = self.editor
        inc, exc = ed.counts()
        info = Text()
        info.append("new polygons: ")
        info.append(TYPE_NAMES[ed.current_type], style="bold green" if ed.current_type == INCLUDE else "bold red")
        info.append(f"\nmode: {ed.mode}" + (" (carrying a point)" if self.carrying else ""))
        info.append(f"\npolygons: {inc} include, {exc} exclude")
        if ed.active is not None and ed.active < len(ed.polys):
            p = ed.polys[ed.active]
            info.append(f"\nselected: #{ed.active + 1} {TYPE_NAMES[p.type]}, {p.n} points")
        info.append(f"\nview: {self.view}" + (" + trained overlay" if self.overlay else ""))
        info.append(f"\nzoom: {self.canvas.scale / max(self.canvas.fit_scale(), 1e-9):.1f}x")
        info.append(f"\ncursor: {self.cursor[0]:.0f}, {self.cursor[1]:.0f}")
        info.append("\ntrained mask: " + ("yes" if self.xseg_mask is not None else "no"))
        info.append("\nunsaved changes" if ed.dirty else "\nsaved", style="yellow" if ed.dirty else "dim")
        info.append("\n")
        self.query_one("#xe-info", Static).update(info)
        self.query_one("#xe-status", Static).update(Text(self.note or " "))

    # -- mouse ------------------------------------------------------------------------------------------
    @on(ImageCanvas.Pointer)
    def _pointer(self, msg: ImageCanvas.Pointer) -> None:
        if self.rgb is None:
            return
        ed = self.editor
        pt = (msg.x, msg.y)
        if msg.kind == "scroll":
            self.canvas.zoom(1.25 if msg.delta > 0 else 0.8, around=pt)
            self._update_radius()
            self.redraw()
            return
        if msg.kind == "move":
            return
        if msg.kind == "down":
            self.cursor = self._clamp(pt)
            ed.break_nudge()
            if msg.button == 3:
                self.note = "closed" if ed.close() else "right click closes a polygon of 3 or more points"
            elif msg.button == 1:
                self.note = ed.click(self.cursor, edit_modifier=msg.ctrl)
                if self.note == "select point":
                    ed.begin_drag(ed.active, ed.selected_vertex)
                    self._drag = True
            self.redraw()
            return
        if msg.kind == "drag" and getattr(self, "_drag", False):
            self.cursor = self._clamp(pt)
            ed.drag_to(self.cursor)
            self.redraw()
            return
        if msg.kind == "up" and getattr(self, "_drag", False):
            self._drag = False
            ed.end_drag()
            moved = ed._undo and ed._undo[-1][2] == "move point"
            if moved and np.allclose(ed._undo[-1][0][ed.active].pts, ed.polys[ed.active].pts):
                ed._undo.pop()  # a click on a point without moving it changes nothing
            self.redraw()

    def _clamp(self, pt: tuple[float, float]) -> tuple[float, float]:
        h, w = self.editor.size
        return min(max(pt[0], 0.0), w - 1.0), min(max(pt[1], 0.0), h - 1.0)

    # -- keyboard actions ----------------------------------------------------------------------------
    def action_cursor(self, dx: int, dy: int) -> None:
        if self.rgb is None:
            return
        s = self.canvas.scale
        step_x, step_y = dx / s, 2 * dy / s  # one cell: 1 x 2 display pixels
        before = self.cursor
        self.cursor = self._clamp((self.cursor[0] + step_x, self.cursor[1] + step_y))
        if self.carrying:
            self.editor.nudge_selected(self.cursor[0] - before[0], self.cursor[1] - before[1])
        self.canvas.ensure_visible(*self.cursor)
        self.redraw()

    def action_click(self) -> None:
        if self.rgb is None:
            return
        self.editor.break_nudge()
        if self.carrying:
            self.action_carry()
            return
        self.note = self.editor.click(self.cursor)
        self.redraw()

    def action_close_poly(self) -> None:
        self.note = "closed" if self.editor.close() else "a polygon needs 3 points to close"
        self.redraw()

    def action_insert_point(self) -> None:
        ed = self.editor
        e = ed.hit_edge(self.cursor)
        if e is None:
            # Keyboard users may be a little off: take the nearest edge within a few cells.
            old = ed.radius
            ed.radius = old * 3
            e = ed.hit_edge(self.cursor)
            ed.radius = old
        if e is None or e.edge is None:
            self.note = "no edge under the cursor"
        else:
            ed.insert_point(e.poly, e.edge, self.cursor)
            self.note = "insert point"
        self.redraw()

    def action_delete_point(self) -> None:
        ed = self.editor
        h = ed.hit_vertex(self.cursor)
        if h is None or h.vertex is None:
            self.note = "no point under the cursor"
        else:
            ed.delete_point(h.poly, h.vertex)
            self.note = "delete point"
        self.redraw()

    def action_carry(self) -> None:
        ed = self.editor
        if self.carrying:
            self.carrying = False
            ed.break_nudge()
            self.note = "point put down"
        else:
            h = ed.hit_vertex(self.cursor)
            if h is None or h.vertex is None:
                self.note = "no point under the cursor to pick up"
            else:
                ed.active, ed.selected_vertex = h.poly, h.vertex
                if ed.mode != MODE_DRAW:
                    ed.mode = MODE_EDIT
                ed.break_nudge()
                self.cursor = tuple(float(v) for v in ed.polys[h.poly].pts[h.vertex])  # type: ignore[assignment]
                self.carrying = True
                self.note = "carrying the point: move it with the arrows, m or space to put it down"
        self.redraw()

    def action_set_type(self, t: int) -> None:
        self.editor.set_type(INCLUDE if t == 1 else EXCLUDE)
        self.note = f"new polygons: {TYPE_NAMES[self.editor.current_type]}"
        self.redraw()

    def action_toggle_type(self) -> None:
        self.note = "type changed" if self.editor.toggle_type() else "select a polygon first (tab, or click its edge)"
        self.redraw()

    def action_cycle(self, step: int) -> None:
        self.editor.cycle_select(step)
        self.redraw()

    def action_delete_poly(self) -> None:
        self.note = "polygon deleted" if self.editor.delete_poly() else "no polygon selected"
        self.redraw()

    def action_backspace(self) -> None:
        if not self.editor.delete_last_point():
            self.action_delete_point()
            return
        self.redraw()

    def action_undo(self) -> None:
        what = self.editor.undo()
        self.carrying = False
        self.note = f"undone: {what}" if what else "nothing to undo"
        self.redraw()

    def action_redo(self) -> None:
        what = self.editor.redo()
        self.note = f"redone: {what}" if what else "nothing to redo"
        self.redraw()

    def action_zoom(self, factor: float) -> None:
        self.canvas.zoom(factor, around=self.cursor)
        self._update_radius()
        self.redraw()

    def action_fit(self) -> None:
        self.canvas.fit()
        self._update_radius()
        self.redraw()

    def action_view(self, view: str) -> None:
        self.view = VIEW_LABELS if self.view == view else view
        if self.view == VIEW_XSEG and self.xseg_mask is None:
            self.note = "this face has no trained mask yet (apply XSeg or the generic mask: y / g)"
        self.redraw()

    def action_overlay(self) -> None:
        self.overlay = not self.overlay
        self.redraw()

    def action_go(self, step: int) -> None:
        if not self.files:
            return
        self.save_current()
        target = max(0, min(len(self.files) - 1, self.index + step))
        if target != self.index:
            self._open(target)
        self._refresh_text()

    def action_go_labelled(self, step: int) -> None:
        if not self.files:
            return
        self.save_current()
        i = self.index + step
        while 0 <= i < len(self.files):
            if self.files[i].name in self.labelled:
                self._open(i)
                return
            i += step
        self.note = "no labelled face further that way"
        self._refresh_text()

    def action_save(self) -> None:
        if not self.save_current():
            self.note = "nothing to save"
        self._refresh_text()

    def action_switch_side(self) -> None:
        if self._folder_arg is not None:
            return
        self.save_current()
        self.side = "src" if self.side == "dst" else "dst"
        self.files, self.index, self.path, self.meta, self.rgb = [], -1, None, None, None
        self.canvas.set_image(None)
        self._list_faces()
        self._refresh_text()

    def action_job(self, action: str) -> None:
        """Start ``xseg apply-generic|apply`` on this side in the step screen (it shows the job)."""
        self.save_current()
        self._open_step("xseg", {"action": action, "side": self.side}, start=True)

    def action_train(self) -> None:
        self.save_current()
        self._open_step("xseg-train", {}, start=False)

    def _open_step(self, step: str, values: dict[str, Any], start: bool) -> None:
        from ... import workflow
        from .step import StepScreen

        entry = workflow.WorkflowStep(f"{step}-from-editor", "", "XSeg: " + values.get("action", "train"), step,
                                      tuple(values.items()), tool=True)
        # Back here, on_screen_resume reads the face's mask again if the job rewrote the file
        # (and the workspace watcher does so while the job is still running).
        self.app.push_screen(StepScreen(entry, start=start, values=values))

    def action_escape(self) -> None:
        ed = self.editor
        if self.carrying:
            self.action_carry()
            return
        if ed.mode == MODE_DRAW:
            ed.finish_draw()
            self.note = "polygon finished" if ed.mode == MODE_EDIT else "a polygon under 3 points was dropped"
            self.redraw()
            return
        if ed.mode == MODE_EDIT:
            ed.deselect()
            self.redraw()
            return
        self.save_current()
        if getattr(self, "standalone", False):
            self.app.exit(0)
        else:
            self.dismiss(self.saved_count)
