"""Manual face extraction in the terminal (DeepFaceLab's "Manual pass" window, §2.6).

Each frame is shown as half-block pixels. A square face box follows the mouse (or the
arrows / hjkl); the wheel or ``+``/``-`` resize it; a click locks it. For every new box
the landmarks are fitted in a worker (the offline backend in a thread, s3fd/FAN in a
helper process: torch never loads in the UI) and drawn with the aligned crop's outline.

* Enter: accept the face and go to the next frame. Space: no face in this frame.
* ``,`` / ``.``: previous / next frame (a frame already done shows its face again).
* ``f``: force landmarks, for faces the model cannot fit: the mean face is placed by a
  vector from the box centre towards the top of the head (drag with the mouse, or turn
  it with ``<`` ``>`` and stretch it with ``+`` ``-``); Enter accepts it.
* ``a``: the accurate second pass on/off; ``z``: zoom on the box; ``M``: which frames
  (all / no face found / deleted debug images); ``q`` or Escape: done.

Faces are written by the extractor's writer (names, metadata, thumbnails, debug image);
a frame's earlier faces go to the set's trash first (undoable from the reviewer).
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import cv2
import numpy as np
from rich.text import Text
from textual import on, work
from textual.binding import Binding
from textual.message import Message
from textual.widgets import Static

from ...errors import DflError, InputError
from ...faces import manual
from ...faces.facetype import FaceType
from ..widgets.canvas_overlays import CURSOR_RGB, INCLUDE_RGB, SELECT_RGB, draw_cursor, to_disp
from ..widgets.image_canvas import ImageCanvas
from .canvas_tool import CanvasToolScreen

MODES = ("all", "noface", "deleted-debug")
MODE_TITLES = {"all": "every frame", "noface": "frames with no face found",
               "deleted-debug": "frames whose debug image was deleted (or had no face)"}
BOX_RGB = (90, 150, 255)
LOCKED_RGB = (80, 230, 100)
CROP_RGB = (255, 70, 70)
VECTOR_RGB = (255, 220, 60)


class FitterReady(Message):
    def __init__(self, fitter: Any, error: str | None) -> None:
        super().__init__()
        self.fitter, self.error = fitter, error


class FramesListed(Message):
    def __init__(self, frames: list[Path], error: str | None, fmt: manual.SetFormat | None) -> None:
        super().__init__()
        self.frames, self.error, self.fmt = frames, error, fmt


class FrameLoaded(Message):
    def __init__(self, index: int, bgr: np.ndarray | None, previous: list[dict[str, Any]]) -> None:
        super().__init__()
        self.index, self.bgr, self.previous = index, bgr, previous


class Fitted(Message):
    def __init__(self, token: int, landmarks: np.ndarray | None, error: str | None) -> None:
        super().__init__()
        self.token, self.landmarks, self.error = token, landmarks, error


class ManualExtractScreen(CanvasToolScreen):
    """Place face boxes by hand; landmarks fitted live; faces written like automatic extraction."""

    ID_PREFIX = "mx"
    HELP_TITLE = "Manual face extraction"
    DEFAULT_CSS = """
    ManualExtractScreen #mx-title { height: 1; padding: 0 1; background: $panel; }
    ManualExtractScreen #mx-body { height: 1fr; }
    ManualExtractScreen #mx-side { width: 44; height: 1fr; border-left: solid $panel; padding: 0 1; }
    ManualExtractScreen #mx-status { height: 1; padding: 0 1; background: $boost; }
    """
    BINDINGS = [
        Binding("left,h", "move(-1,0)", "Box left", id="manual.left", show=False),
        Binding("right,l", "move(1,0)", "Box right", id="manual.right", show=False),
        Binding("up,k", "move(0,-1)", "Box up", id="manual.up", show=False),
        Binding("down,j", "move(0,1)", "Box down", id="manual.down", show=False),
        Binding("shift+left,H", "move(-8,0)", "Box left x8", id="manual.left8", show=False),
        Binding("shift+right,L", "move(8,0)", "Box right x8", id="manual.right8", show=False),
        Binding("shift+up,K", "move(0,-8)", "Box up x8", id="manual.up8", show=False),
        Binding("shift+down,J", "move(0,8)", "Box down x8", id="manual.down8", show=False),
        Binding("plus,equals_sign,right_square_bracket", "grow(1)", "Bigger", id="manual.grow"),
        Binding("minus,left_square_bracket", "grow(-1)", "Smaller", id="manual.shrink"),
        Binding("enter", "accept", "Accept", id="manual.accept"),
        Binding("space", "skip", "No face", id="manual.skip"),
        Binding("comma", "go(-1)", "Prev frame", id="manual.prev"),
        Binding("full_stop", "go(1)", "Next frame", id="manual.next"),
        Binding("f", "force", "Force landmarks", id="manual.force"),
        Binding("less_than_sign", "turn(-5)", "Turn left", id="manual.turn-left", show=False),
        Binding("greater_than_sign", "turn(5)", "Turn right", id="manual.turn-right", show=False),
        Binding("c", "lock", "Lock box", id="manual.lock", show=False),
        Binding("a", "accurate", "Accurate", id="manual.accurate", show=False),
        Binding("z", "zoom_box", "Zoom", id="manual.zoom", show=False),
        Binding("M", "cycle_mode", "Which frames", id="manual.mode", show=False),
        Binding("S", "switch_side", "src / dst", id="manual.side", show=False),
        Binding("q,escape", "done", "Done", id="manual.done"),
    ]

    KEYS_HELP = (
        ("mouse", "the box follows; click: lock"),
        ("wheel", "resize; right click: force"),
        ("arrows hjkl", "move the box (shift/HJKL x8)"),
        ("+ - [ ]", "resize the box"),
        ("enter", "accept, next frame"),
        ("space", "no face here, next frame"),
        (", .", "previous / next frame"),
        ("f", "force landmarks on / off"),
        ("< > + -", "turn / stretch (force mode)"),
        ("c", "lock / unlock the box"),
        ("a", "accurate second pass on / off"),
        ("z", "zoom on the box / whole frame"),
        ("M", "all / no face / deleted debug"),
        ("S", "switch src / dst"),
        ("q esc", "done"),
    )

    def __init__(self, entry: Any = None, *, options: Any = None, side: str | None = None, mode: str | None = None,
                 frames: list[Path] | None = None, **kw: Any) -> None:
        super().__init__(**kw)
        self.entry = entry
        preset = dict(getattr(entry, "options", {}) or {})
        self.options = options
        self.side = side or getattr(options, "side", None) or preset.get("side") or "dst"
        if mode is None:
            mode = preset.get("mode") or ("deleted-debug" if getattr(options, "fix_deleted_debug", False) else None)
        self.mode = mode  # None: choose (no-face frames when there are any, else all)
        self._frames_arg = frames
        self.standalone = False  # opened from the command line: leaving exits the app
        self.frames: list[Path] = []
        self.index = -1
        self.bgr: np.ndarray | None = None
        self.box = (0.0, 0.0, 100.0)  # cx, cy, size in frame pixels
        self.locked = False
        self.force = False
        self.vector = (0.0, -90.0)
        self.landmarks: np.ndarray | None = None
        self.fit_state = "idle"  # idle | fitting | ok | failed
        self.accurate = bool(getattr(options, "accurate", True))
        self.zoomed = False
        self.fitter: Any = None
        self.token = 0
        self.records: dict[str, str] = {}  # frame name -> "accepted" | "skipped"
        self.accepted = 0
        self.skipped = 0
        self.note = ""
        self.writer: Any = None
        self.fmt: manual.SetFormat | None = None
        self._pending: int | None = None
        self._fit_busy = False

    # -- where ---------------------------------------------------------------------------------
    @property
    def workspace(self) -> Any:
        return getattr(self.app, "workspace", None)

    def _dirs(self) -> tuple[Path, Path, Path]:
        ws = self.workspace
        return ws.frames(self.side), ws.aligned(self.side), ws.aligned_debug(self.side)

    # -- layout --------------------------------------------------------------------------------
    def on_mount(self) -> None:
        self.canvas.draw = self._draw
        self.canvas.focus()
        self.note = "loading the landmark model..."
        self._load_fitter()
        self._list_frames()
        self._refresh_text()

    def on_unmount(self) -> None:
        if self.fitter is not None:
            try:
                self.fitter.close()
            except Exception:  # noqa: BLE001 - closing a helper must not break leaving
                pass

    # -- set-up workers ----------------------------------------------------------------------------
    @work(thread=True, group="manual-fitter")
    def _load_fitter(self) -> None:
        o = self.options
        try:
            fitter = manual.make_fitter(getattr(o, "detector", "auto"), getattr(o, "device", "auto") or "auto",
                                        three_d=bool(getattr(o, "three_d", False)),
                                        weights_dir=getattr(o, "weights_dir", None))
            self.post_message(FitterReady(fitter, None))
        except (DflError, ValueError, OSError) as exc:
            self.post_message(FitterReady(None, str(exc)))

    @on(FitterReady)
    def _fitter_ready(self, msg: FitterReady) -> None:
        if msg.error:
            self.note = f"no landmark model ({msg.error}): use force landmarks (f)"
        else:
            self.fitter = msg.fitter
            self.note = f"landmarks: {msg.fitter.describe()}"
            self._request_fit()
        self._refresh_text()

    @work(thread=True, exclusive=True, group="manual-frames")
    def _list_frames(self) -> None:
        frames_dir, aligned, debug_dir = self._dirs()
        try:
            if self._frames_arg is not None:
                frames = list(self._frames_arg)
            else:
                if self.mode is None:
                    self.mode = "noface" if manual.noface_frame_paths(frames_dir, aligned) else "all"
                if self.mode == "noface":
                    frames = manual.noface_frame_paths(frames_dir, aligned)
                elif self.mode == "deleted-debug":
                    frames = manual.deleted_debug_frames(frames_dir, aligned, debug_dir)
                else:
                    frames = list_frames(frames_dir)
            error = None if frames else f"no {MODE_TITLES.get(self.mode or 'all', 'frames')} in {frames_dir}"
        except InputError as exc:
            frames, error = [], str(exc)
        self.post_message(FramesListed(frames, error, manual.set_format(aligned)))

    @on(FramesListed)
    def _frames_listed(self, msg: FramesListed) -> None:
        self.frames = msg.frames
        self.fmt = msg.fmt
        if msg.error:
            self.note = msg.error
        self._make_writer()
        if self.frames:
            self._open(0)
        else:
            self.bgr = None
            self.canvas.set_image(None)
        self._refresh_text()

    def _make_writer(self) -> None:
        _frames_dir, aligned, debug_dir = self._dirs()
        o = self.options
        if self.fmt is not None:  # faces join a set: keep its face type, size, format and border fill
            ft, size, ext, border = self.fmt
        elif o is not None and getattr(o, "face_type", None):
            ft, size, ext, border = o.face_type_enum, o.image_size, o.format, getattr(o, "border", "black")
        else:
            ft, size, ext, border = FaceType.WHOLE_FACE, 512, "jpg", "black"
        debug = bool(getattr(o, "debug", True)) if o is not None else True
        quality = int(getattr(o, "jpeg_quality", 90)) if o is not None else 90
        self.writer = manual.ManualWriter(aligned, debug_dir if debug else None, ft, size, ext, quality, border)

    # -- frames --------------------------------------------------------------------------------------
    def _open(self, index: int) -> None:
        self._pending = index
        self._load_frame(index, self.frames[index])

    @work(thread=True, exclusive=True, group="manual-load")
    def _load_frame(self, index: int, path: Path) -> None:
        from ...faces import dflimg
        from ...faces.extract import read_frame

        bgr = read_frame(path)
        previous = []
        if self.writer is not None and bgr is not None:
            for p in self.writer.existing(path):
                try:
                    meta = dflimg.read_meta(p)
                except dflimg.FaceFileError:
                    continue
                if meta.source_rect is not None and meta.source_landmarks is not None:
                    previous.append({"rect": np.asarray(meta.source_rect, np.float32),
                                     "landmarks": np.asarray(meta.source_landmarks, np.float32)})
        self.post_message(FrameLoaded(index, bgr, previous))

    @on(FrameLoaded)
    def _frame_loaded(self, msg: FrameLoaded) -> None:
        if msg.index != self._pending:
            return
        self._pending = None
        self.index = msg.index
        path = self.frames[self.index]
        if msg.bgr is None:
            self.bgr = None
            self.canvas.set_image(None)
            self.note = f"{path.name} cannot be read: skip it (space) or fix the file"
            self._refresh_text()
            return
        first = self.bgr is None
        self.bgr = msg.bgr
        h, w = self.bgr.shape[:2]
        self.canvas.set_image(np.ascontiguousarray(self.bgr[..., ::-1]))
        if msg.previous:  # DeepFaceLab re-shows a done frame's face, locked
            l, t, r, b = msg.previous[0]["rect"][:4]
            self.box = ((l + r) / 2, (t + b) / 2, float(max(r - l, b - t)))
            self.locked = True
        elif first or self.box[2] <= 0:
            self.box = (w / 2, h / 2, max(manual.MIN_BOX, min(h, w) / 3))
            self.locked = False
        self.force = False
        self.vector = manual.default_vector(self._rect())
        self.landmarks = None
        if self.zoomed:
            self._zoom_to_box()
        self._request_fit()
        self._refresh_text()

    def _rect(self) -> np.ndarray:
        cx, cy, s = self.box
        return manual.box_rect(cx, cy, s)

    # -- fitting --------------------------------------------------------------------------------------
    def _request_fit(self) -> None:
        if self.bgr is None or self.force:
            return
        if self.fitter is None:
            self.fit_state = "idle"
            return
        self.token += 1
        self.fit_state = "fitting"
        if self._fit_busy:
            return  # one fit at a time: the newest box is fitted when the running one ends
        self._fit_busy = True
        self._fit(self.token, self.bgr, self._rect(), self.accurate)

    @work(thread=True, group="manual-fit")
    def _fit(self, token: int, frame: np.ndarray, rect: np.ndarray, accurate: bool) -> None:
        try:
            lm = self.fitter.fit(frame, rect, accurate)
            self.post_message(Fitted(token, lm, None))
        except (DflError, ValueError, cv2.error, np.linalg.LinAlgError) as exc:
            self.post_message(Fitted(token, None, str(exc)))

    @on(Fitted)
    def _fitted(self, msg: Fitted) -> None:
        self._fit_busy = False
        if msg.token != self.token:
            # The box moved while this fit ran (the mouse drags it): fit the newest box now.
            if self.bgr is not None and not self.force and self.fitter is not None:
                self._fit_busy = True
                self._fit(self.token, self.bgr, self._rect(), self.accurate)
            return
        self.landmarks = msg.landmarks
        self.fit_state = "ok" if msg.landmarks is not None else "failed"
        if msg.error:
            self.note = msg.error
        elif msg.landmarks is None:
            self.note = "the landmark model found no face in this box: move/resize it, or force landmarks (f)"
        self.redraw()

    def current_landmarks(self) -> np.ndarray | None:
        if self.force:
            cx, cy, _s = self.box
            return manual.forced_landmarks((cx, cy), self.vector)
        return self.landmarks if self.fit_state == "ok" else None

    # -- drawing -----------------------------------------------------------------------------------------
    def _draw(self, disp: np.ndarray, m: np.ndarray) -> None:
        if self.bgr is None:
            return
        rect = self._rect()
        corners = to_disp(np.float32([[rect[0], rect[1]], [rect[2], rect[1]], [rect[2], rect[3]], [rect[0], rect[3]]]), m)
        cv2.polylines(disp, [np.round(corners).astype(np.int32).reshape(-1, 1, 2)], True,
                      LOCKED_RGB if self.locked else BOX_RGB, 1, cv2.LINE_8)
        lm = self.current_landmarks()
        if lm is not None:
            from ...faces.landmarks import draw_landmarks, get_transform_mat, transform_points

            pts = to_disp(lm, m).astype(np.float32)
            draw_landmarks(disp, pts, SELECT_RGB if self.force else INCLUDE_RGB, draw_circles=False)
            ft = self.writer.face_type if self.writer is not None else FaceType.WHOLE_FACE
            if ft != FaceType.MARK_ONLY:
                try:
                    mat = get_transform_mat(lm, 256, ft)
                    outline = transform_points(np.float32([(0, 0), (255, 0), (255, 255), (0, 255)]), mat, invert=True)
                    cv2.polylines(disp, [np.round(to_disp(outline, m)).astype(np.int32).reshape(-1, 1, 2)], True,
                                  CROP_RGB, 1, cv2.LINE_8)
                except (ValueError, np.linalg.LinAlgError):
                    pass
        if self.force:
            cx, cy, _s = self.box
            a = to_disp(np.float32([[cx, cy], [cx + self.vector[0], cy + self.vector[1]]]), m)
            cv2.line(disp, tuple(int(v) for v in np.round(a[0])), tuple(int(v) for v in np.round(a[1])), VECTOR_RGB, 1)
        c = to_disp(np.float32([self.box[:2]]), m)[0]
        draw_cursor(disp, c[0], c[1], CURSOR_RGB)

    def redraw(self) -> None:
        self.canvas.invalidate()
        self._refresh_text()

    def _refresh_text(self) -> None:
        n = len(self.frames)
        name = self.frames[self.index].name if 0 <= self.index < n else "-"
        title = Text()
        title.append("Manual face extraction", style="bold")
        title.append(f" · data_{self.side} · {MODE_TITLES.get(self.mode or 'all', '')} · {name} ({self.index + 1}/{n})")
        self.query_one("#mx-title", Static).update(title)
        info = Text()
        cx, cy, s = self.box
        info.append(f"box: {cx:.0f}, {cy:.0f}  size {s:.0f}" + ("  (locked)" if self.locked else "") + "\n")
        if self.force:
            info.append(f"force landmarks: turned {manual.angle_of(self.vector):+.0f}°, "
                        f"length {math.hypot(*self.vector):.0f}\n", style="yellow")
        else:
            style = {"ok": "green", "failed": "red", "fitting": "yellow"}.get(self.fit_state, "dim")
            info.append(f"landmarks: {self.fit_state}\n", style=style)
        info.append(f"accurate second pass: {'on' if self.accurate else 'off'}\n")
        if self.writer is not None:
            info.append(f"writes: {self.writer.face_type.to_string()} faces into {self.writer.aligned.name}/\n")
        rec = self.records.get(name)
        if rec:
            info.append(f"this frame: {rec}\n", style="bold")
        info.append(f"accepted {self.accepted} · no face {self.skipped}\n")
        self.query_one("#mx-info", Static).update(info)
        self.query_one("#mx-status", Static).update(Text(self.note or " "))

    # -- the box -----------------------------------------------------------------------------------------
    def _set_box(self, cx: float, cy: float, size: float) -> None:
        if self.bgr is not None:
            h, w = self.bgr.shape[:2]
            cx, cy = min(max(cx, 0.0), w - 1.0), min(max(cy, 0.0), h - 1.0)
            size = min(max(size, manual.MIN_BOX), 2.0 * max(h, w))
        changed = (cx, cy, size) != self.box
        self.box = (cx, cy, size)
        if changed:
            if self.zoomed:
                self._zoom_to_box()
            if not self.force:
                self.landmarks = None
                self._request_fit()
        self.redraw()

    def _zoom_to_box(self) -> None:
        cx, cy, s = self.box
        w, h = self.canvas.display_px
        self.canvas.scale = max(0.05, min(w, h) / (s * 2.2))
        self.canvas.pan_to(cx, cy)

    def action_move(self, dx: int, dy: int) -> None:
        if self.bgr is None:
            return
        if self.locked and not self.force:
            self.note = "the box is locked: c (or a click) unlocks it"
            self._refresh_text()
            return
        s = self.canvas.scale
        cx, cy, size = self.box
        self._set_box(cx + dx / s, cy + 2 * dy / s, size)
        self.canvas.ensure_visible(*self.box[:2])

    def action_grow(self, direction: int) -> None:
        if self.force:
            vx, vy = self.vector
            k = 1.05 if direction > 0 else 1 / 1.05
            self.vector = (vx * k, vy * k)
            self.redraw()
            return
        cx, cy, size = self.box
        self._set_box(cx, cy, size + direction * manual.wheel_step(size))

    def action_turn(self, degrees: float) -> None:
        if not self.force:
            return
        a = math.radians(degrees)
        vx, vy = self.vector
        self.vector = (vx * math.cos(a) - vy * math.sin(a), vx * math.sin(a) + vy * math.cos(a))
        self.redraw()

    def action_lock(self) -> None:
        self.locked = not self.locked
        self.redraw()

    def action_force(self) -> None:
        self.force = not self.force
        if self.force:
            self.vector = manual.default_vector(self._rect())
            self.note = "force landmarks: drag from the box centre (or < > + -), enter accepts"
        else:
            self._request_fit()
            self.note = ""
        self.redraw()

    def action_accurate(self) -> None:
        self.accurate = not self.accurate
        self._request_fit()
        self.redraw()

    def action_zoom_box(self) -> None:
        self.zoomed = not self.zoomed
        if self.zoomed:
            self._zoom_to_box()
        else:
            self.canvas.fit()
        self.redraw()

    # -- mouse -------------------------------------------------------------------------------------------
    @on(ImageCanvas.Pointer)
    def _pointer(self, msg: ImageCanvas.Pointer) -> None:
        if self.bgr is None:
            return
        cx, cy, size = self.box
        if msg.kind == "scroll":
            if self.force:
                self.action_grow(msg.delta)
            else:
                self._set_box(cx, cy, size + msg.delta * manual.wheel_step(size))
            return
        if self.force:
            if msg.kind in ("down", "drag") and msg.button in (0, 1, 3):
                v = (msg.x - cx, msg.y - cy)
                if math.hypot(*v) > 2:
                    self.vector = v
                    self.redraw()
            return
        if msg.kind == "down":
            if msg.button == 3:
                self.action_force()
                return
            if msg.button == 1:
                if not self.locked:
                    self._set_box(msg.x, msg.y, size)
                self.locked = not self.locked
                self.redraw()
            return
        if msg.kind == "move" and not self.locked:
            self._set_box(msg.x, msg.y, size)

    # -- decisions ----------------------------------------------------------------------------------------
    def action_accept(self) -> None:
        if self.bgr is None or self.writer is None or not (0 <= self.index < len(self.frames)):
            return
        lm = self.current_landmarks()
        if lm is None:
            self.note = ("landmarks are still being fitted: press enter again in a moment" if self.fit_state == "fitting"
                         else "no landmarks for this box: move it onto the face, or force landmarks (f)")
            self._refresh_text()
            return
        frame = self.frames[self.index]
        rect = self._rect()
        if self.force:
            from ...faces.landmarks import get_rect_from_landmarks

            rect = get_rect_from_landmarks(lm)
        try:
            names = self.writer.write(frame, self.bgr, [manual.ManualFace(rect, np.asarray(lm, np.float32))])
        except (InputError, OSError, ValueError) as exc:
            self.note = str(exc)
            self._refresh_text()
            return
        if self.records.get(frame.name) != "accepted":
            self.accepted += 1
        self.records[frame.name] = "accepted"
        self.note = f"{frame.name}: wrote {', '.join(names)}"
        self._next_or_stay()

    def action_skip(self) -> None:
        if not (0 <= self.index < len(self.frames)):
            return
        frame = self.frames[self.index]
        if self.mode == "deleted-debug" and self.writer is not None:
            moved = self.writer.clear_frame(frame, "no face (manual pass)")
            self.note = f"{frame.name}: no face" + (f"; its {moved} earlier face(s) went to the trash" if moved else "")
        else:
            self.note = f"{frame.name}: no face"
        if self.records.get(frame.name) != "skipped":
            self.skipped += 1
        self.records[frame.name] = "skipped"
        self._next_or_stay()

    def _next_or_stay(self) -> None:
        if self.index + 1 < len(self.frames):
            self._open(self.index + 1)
        else:
            self.note += " · that was the last frame: q to finish"
        self._refresh_text()

    def action_go(self, step: int) -> None:
        if not self.frames:
            return
        target = max(0, min(len(self.frames) - 1, self.index + step))
        if target != self.index:
            self._open(target)

    def action_cycle_mode(self) -> None:
        if self._frames_arg is not None:
            return
        i = MODES.index(self.mode) if self.mode in MODES else -1
        self.mode = MODES[(i + 1) % len(MODES)]
        self.index = -1
        self._list_frames()
        self.note = f"frames: {MODE_TITLES[self.mode]}"
        self._refresh_text()

    def action_switch_side(self) -> None:
        if self._frames_arg is not None:
            return
        self.side = "src" if self.side == "dst" else "dst"
        self.index, self.bgr = -1, None
        self.canvas.set_image(None)
        self._list_frames()
        self._refresh_text()

    def action_done(self) -> None:
        summary = f"manual extraction: {self.accepted} face(s) accepted, {self.skipped} frame(s) without a face"
        self.app.notify(summary, timeout=6)
        if self.standalone:
            self.app.exit(0)
        else:
            self.dismiss(self.accepted)

    def save_state(self) -> None:
        """Nothing buffered: every accepted face is written when it is accepted."""


def list_frames(frames_dir: Path) -> list[Path]:
    from ...workspace import list_images

    return list_images(frames_dir)


def open_fix_deleted_debug(app: Any, side: str, on_close: Any = None) -> ManualExtractScreen:
    """The reviewer's "re-do the frames whose debug image I deleted" flow (DeepFaceLab's debug fix).

    ``on_close()`` runs when the manual screen closes (the reviewer reloads its faces).
    """
    screen = ManualExtractScreen(side=side, mode="deleted-debug")
    app.push_screen(screen, callback=(lambda _accepted: on_close()) if on_close is not None else None)
    return screen
