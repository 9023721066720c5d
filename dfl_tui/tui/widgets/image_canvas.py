"""A zoomable picture for tools that work on image pixels (the XSeg editor, manual extraction).

:class:`ImageCanvas` shows an RGB image with a view of ``scale`` display pixels per image
pixel around an image point, reports the mouse in image pixels (:class:`ImageCanvas.Pointer`),
and lets its screen paint overlays in display pixels (``draw``) so lines stay one pixel wide
at any zoom. The overlay helpers live in :mod:`.canvas_overlays`.
"""

from __future__ import annotations

from typing import Any, Callable

import cv2
import numpy as np
from textual import events
from textual.message import Message
from textual.strip import Strip

from . import halfblock
from .picture import Picture

BG = (24, 24, 28)  # RGB outside the image


class ImageCanvas(Picture, can_focus=True):
    """An RGB image, zoomable, mouse in image pixels: the app's one picture widget
    (:class:`~dfl_tui.tui.widgets.picture.Picture`) with a view and overlays.

    The view is ``scale`` display pixels per image pixel around image point ``center``; display
    pixels are half-blocks (1 x 2 per cell, built here, synchronously) or, with kitty / Sixel
    graphics, the terminal's own pixels (``cell_w`` x ``cell_h`` per cell; the view is built here and
    the Picture encodes and sends it). ``draw`` (set by the screen) paints overlays on the
    display-sized RGB array with the image -> display matrix, so lines stay one display pixel wide
    at any zoom.
    """

    DEFAULT_CSS = "ImageCanvas { width: 1fr; height: 1fr; }"

    class Pointer(Message):
        """A mouse event in image coordinates: kind is down, move, drag, up, scroll."""

        def __init__(self, canvas: "ImageCanvas", kind: str, x: float, y: float, button: int = 0,
                     ctrl: bool = False, shift: bool = False, delta: int = 0) -> None:
            super().__init__()
            self.canvas = canvas
            self.kind, self.x, self.y = kind, x, y
            self.button, self.ctrl, self.shift, self.delta = button, ctrl, shift, delta

    def __init__(self, **kw: Any) -> None:
        super().__init__("", **kw)
        self._cv_version = 0
        self.image: np.ndarray | None = None  # RGB uint8
        self.scale = 1.0
        self.center = (0.0, 0.0)
        self.draw: Callable[[np.ndarray, np.ndarray], None] | None = None
        self._cv_strips: list[Strip] | None = None
        self._cv_packed: np.ndarray | None = None  # the half-block view on screen, as pack_rgb values
        self._cv_pending = False
        self._cv_drag = False
        self._cv_built = (0, 0)

    # -- geometry ------------------------------------------------------------------------------
    @property
    def halfblocks(self) -> bool:
        return self.graphics.mode == "halfblock"

    @property
    def display_px(self) -> tuple[int, int]:
        """(width, height) of the view in display pixels."""
        if self.halfblocks:
            return max(1, self.size.width), max(2, self.size.height * 2)
        g = self.graphics
        return max(1, self.size.width * g.cell_w), max(2, self.size.height * g.cell_h)

    def matrix(self) -> np.ndarray:
        """2 x 3 image -> display pixels (pixel centres at integers, as OpenCV)."""
        w, h = self.display_px
        s = self.scale
        cx, cy = self.center
        return np.array([[s, 0, (w - 1) / 2 - s * cx], [0, s, (h - 1) / 2 - s * cy]], np.float64)

    def to_image(self, dx: float, dy: float) -> tuple[float, float]:
        """Display pixel -> image pixel."""
        w, h = self.display_px
        return (dx - (w - 1) / 2) / self.scale + self.center[0], (dy - (h - 1) / 2) / self.scale + self.center[1]

    def to_display(self, x: float, y: float) -> tuple[float, float]:
        m = self.matrix()
        return m[0, 0] * x + m[0, 2], m[1, 1] * y + m[1, 2]

    def cell_to_image(self, cx: float, cy: float) -> tuple[float, float]:
        """A pointer position in cells (fractions when the terminal reports pixels) -> image pixel."""
        fx = cx + 0.5 if float(cx).is_integer() else cx
        fy = cy + 0.5 if float(cy).is_integer() else cy
        if self.halfblocks:
            return self.to_image(fx - 0.5, fy * 2 - 0.5)
        g = self.graphics
        return self.to_image(fx * g.cell_w - 0.5, fy * g.cell_h - 0.5)

    def fit_scale(self) -> float:
        if self.image is None:
            return 1.0
        h, w = self.image.shape[:2]
        dw, dh = self.display_px
        return min(dw / w, dh / h)

    def fit(self) -> None:
        """Show the whole image."""
        if self.image is None:
            return
        h, w = self.image.shape[:2]
        self.scale = self.fit_scale()
        self.center = ((w - 1) / 2, (h - 1) / 2)
        self.invalidate()

    def zoom(self, factor: float, around: tuple[float, float] | None = None) -> None:
        """Zoom by ``factor`` keeping the image point ``around`` where it is on screen (1x fit .. 20x)."""
        if self.image is None:
            return
        lo, hi = self.fit_scale() * 0.5, self.fit_scale() * 20.0
        new = min(hi, max(lo, self.scale * factor))
        if around is not None:
            ax, ay = around
            k = self.scale / new
            self.center = (ax + (self.center[0] - ax) * k, ay + (self.center[1] - ay) * k)
        self.scale = new
        self.invalidate()

    def pan_to(self, x: float, y: float) -> None:
        self.center = (x, y)
        self.invalidate()

    def ensure_visible(self, x: float, y: float, margin: int = 2) -> None:
        """Pan when an image point leaves the view (the keyboard cursor drives this)."""
        w, h = self.display_px
        dx, dy = self.to_display(x, y)
        if margin <= dx <= w - 1 - margin and margin <= dy <= h - 1 - margin:
            return
        self.pan_to(x, y)

    # -- content -------------------------------------------------------------------------------
    def set_image(self, rgb: np.ndarray | None, fit: bool = True, **_: Any) -> None:  # type: ignore[override]
        self.image = rgb
        if fit:
            self.fit()
        self.invalidate()

    def invalidate(self) -> None:
        if self.halfblocks and self.is_mounted and self._cv_strips is not None:
            # half-blocks: after this event, send only the cells whose colours changed
            if not self._cv_pending:
                self._cv_pending = True
                self.call_later(self._cv_update)
            return
        self._cv_strips = None
        if not self.halfblocks and self.is_mounted:
            # kitty / Sixel: the view at the terminal's pixels, encoded and sent by the Picture
            if self.image is None or self.size.width < 1:
                Picture.set_message(self, "")
            else:
                # (in kitty itself the Picture sends only the pixels that changed)
                self._cv_version += 1
                Picture.set_image(self, self._view(), key=("canvas", self._cv_version))
            return
        self.refresh()

    def graphics_changed(self) -> None:
        self.fit()
        Picture.graphics_changed(self)
        self.invalidate()

    def _build(self) -> list[Strip]:
        w, h = self.display_px
        if self.image is None:
            self._cv_packed = None
            return halfblock.blank(w, h // 2)
        self._cv_packed = halfblock.pack_rgb(self._view(), quantize=2)
        return halfblock.render_packed(self._cv_packed)

    def _cv_update(self) -> None:
        """Half-blocks: rebuild the view and repaint only the cells that changed (an XSeg point added
        repaints a few cells, not the whole picture: over SSH that is bytes instead of 100 KB)."""
        self._cv_pending = False
        strips = self._cv_strips
        same_size = self._cv_built == (self.size.width, self.size.height)
        new = halfblock.pack_rgb(self._view(), quantize=2) if strips and self.image is not None and same_size else None
        spans = halfblock.changed_cells(self._cv_packed, new)
        if spans is None:  # nothing to compare with: built again in render_line
            self._cv_strips = None
            self.refresh()
            return
        rows = [y for y, _, _ in spans]
        strips = list(strips)
        for y, strip in zip(rows, halfblock.render_packed(new, rows)):
            strips[y] = strip
        self._cv_strips, self._cv_packed = strips, new
        self._refresh_cells(spans)

    def _view(self) -> np.ndarray:
        """The display-sized RGB view of the image with the overlays."""
        w, h = self.display_px
        m = self.matrix()
        if self.scale < 1.0:
            # warpAffine has no area filter: shrink with one first, then only shift.
            s = self.scale
            small = cv2.resize(self.image, None, fx=s, fy=s, interpolation=cv2.INTER_AREA)
            shift = np.array([[1, 0, m[0, 2]], [0, 1, m[1, 2]]], np.float64)
            disp = cv2.warpAffine(small, shift, (w, h), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT,
                                  borderValue=BG)
        else:
            interp = cv2.INTER_NEAREST if self.scale >= 2.0 else cv2.INTER_LINEAR
            disp = cv2.warpAffine(self.image, m, (w, h), flags=interp, borderMode=cv2.BORDER_CONSTANT, borderValue=BG)
        if self.draw is not None:
            self.draw(disp, m)
        return disp

    def render_line(self, y: int) -> Strip:
        if not self.halfblocks:
            return Picture.render_line(self, y)
        if self._cv_strips is None or self._cv_built != (self.size.width, self.size.height):
            self._cv_built = (self.size.width, self.size.height)
            self._cv_strips = self._build()
        if 0 <= y < len(self._cv_strips):
            return self._cv_strips[y]
        return Strip.blank(self.size.width)

    def on_resize(self, event: events.Resize) -> None:
        if self.image is not None:
            old = getattr(self, "_cv_fit_at", None)
            if old is None or abs(self.scale - old) < 1e-9:
                self.fit()
            self._cv_fit_at = self.scale
        self.invalidate()

    # -- mouse ---------------------------------------------------------------------------------
    def _post(self, kind: str, event: events.MouseEvent, delta: int = 0) -> None:
        x, y = self.cell_to_image(event.pointer_x, event.pointer_y)
        self.post_message(self.Pointer(self, kind, x, y, event.button, event.ctrl, event.shift, delta))

    def on_mouse_down(self, event: events.MouseDown) -> None:
        self.focus()
        self._cv_drag = True
        self.capture_mouse()
        self._post("down", event)
        event.stop()

    def on_mouse_move(self, event: events.MouseMove) -> None:
        self._post("drag" if self._cv_drag else "move", event)

    def on_mouse_up(self, event: events.MouseUp) -> None:
        if self._cv_drag:
            self._cv_drag = False
            self.release_mouse()
            self._post("up", event)
            event.stop()

    def on_mouse_scroll_up(self, event: events.MouseScrollUp) -> None:
        self._post("scroll", event, delta=1)
        event.stop()

    def on_mouse_scroll_down(self, event: events.MouseScrollDown) -> None:
        self._post("scroll", event, delta=-1)
        event.stop()
