"""The reviewer's full-screen view of one face (``z``), alone or beside its source frame (``s``).

The face fills the screen at the terminal's real resolution (kitty / Sixel) or in half-blocks; the
side-by-side view puts the frame it was cut from on the right with the face's box and landmarks drawn,
so a misalignment or a wrong person shows at a glance. Arrows go through the faces in the grid's order,
the tag keys tag the face shown, and ``z`` / ``esc`` go back to the grid on the same face.
"""

from __future__ import annotations

from typing import Any

from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal
from textual.message import Message
from textual.screen import Screen
from textual.widgets import Footer

from ...faceset.journal import TAGS
from ..widgets.picture import Picture
from ..widgets.text_pane import TextPane
from .review_dialogs import TAG_KEYS
from .review_preview import PreviewResult, render_preview


class ZoomReady(Message):
    def __init__(self, req: int, result: PreviewResult) -> None:
        super().__init__()
        self.req = req
        self.result = result


class FaceZoomScreen(Screen):
    """One face, as big as the terminal allows; ``s``: beside its source frame."""

    HELP_TITLE = "Face zoom"
    DEFAULT_CSS = """
    FaceZoomScreen #zoom-title { height: 1; padding: 0 1; background: $panel; }
    FaceZoomScreen #zoom-body { height: 1fr; }
    FaceZoomScreen #zoom-frame { display: none; border-left: solid $panel; }
    FaceZoomScreen.-side #zoom-frame { display: block; }
    FaceZoomScreen #zoom-info { height: 2; padding: 0 1; color: $text-muted; }
    """
    BINDINGS = [
        Binding("escape,z", "close", "Back to the grid", id="zoom.back"),
        Binding("right,l,down,j", "step(1)", "Next face", id="zoom.next"),
        Binding("left,h,up,k", "step(-1)", "Previous face", id="zoom.prev"),
        Binding("s", "side", "Face + frame", id="zoom.side"),
        Binding("L", "toggle('landmarks')", "Landmarks", id="zoom.landmarks"),
        Binding("M", "toggle('mask')", "Mask", id="zoom.mask", show=False),
        *[Binding(TAG_KEYS[t], f"tag('{t}')", f"Tag {t} ({m})", id=f"zoom.tag-{t}", show=False) for t, m in TAGS],
        Binding("0,backspace", "tag('')", "Clear tag", id="zoom.tag-clear", show=False),
    ]

    def __init__(self, review: Any, *, side_by_side: bool = False) -> None:
        super().__init__()
        self.review = review
        self.side_by_side = side_by_side
        self.show = {"landmarks": bool(review.show.get("landmarks")), "mask": bool(review.show.get("mask"))}
        self._req = 0
        self.shown: str | None = None  # the face on screen now (tests)
        self.renders = 0

    def compose(self) -> ComposeResult:
        yield TextPane(id="zoom-title")
        with Horizontal(id="zoom-body"):
            yield Picture("loading...", id="zoom-face")
            yield Picture("", id="zoom-frame")
        yield TextPane(id="zoom-info")
        yield Footer()

    def on_mount(self) -> None:
        self.set_class(self.side_by_side, "-side")
        self.call_after_refresh(self._draw)

    def on_resize(self) -> None:
        self.call_after_refresh(self._draw)

    @property
    def name_now(self) -> str | None:
        return self.review.grid.current_name

    def _title(self) -> None:
        g = self.review.grid
        name = self.name_now or ""
        t = Text()
        t.append("Face ", style="bold")
        t.append(f"{g.cursor + 1}/{len(g.names)}  {name}", style="bold")
        tag = g.tags.get(name)
        if tag:
            t.append(f"  {tag} ", style=g.tag_style(tag))
        t.append("   z/esc: back to the grid" + ("   s: face only" if self.side_by_side else "   s: face + source frame"),
                 style="dim")
        self.query_one("#zoom-title", TextPane).update(t)

    def _draw(self) -> None:
        name = self.name_now
        self._title()
        if name is None:
            self.query_one("#zoom-face", Picture).set_message("no face")
            return
        self._req += 1
        face = self.query_one("#zoom-face", Picture)
        frame = self.query_one("#zoom-frame", Picture)
        ws = self.review.workspace
        side = self.review.side
        self._work(self._req, self.review.folder / name, face.pixel_box(), frame.pixel_box(),
                   self.review.grid.tags.get(name), ws.frames(side) if ws else None,
                   ws.aligned_debug(side) if ws else None)

    @work(thread=True, exclusive=True, group="review-zoom", exit_on_error=False)
    def _work(self, req: int, path: Any, box: tuple[int, int], frame_box: tuple[int, int], tag: str | None,
              frames_dir: Any, debug_dir: Any) -> None:
        try:
            res = render_preview(path, box, landmarks=self.show["landmarks"], mask=self.show["mask"],
                                 source=self.review.is_debug_folder, frames_dir=frames_dir, debug_dir=debug_dir,
                                 tag=tag, side_by_side=self.side_by_side, frame_box=frame_box)
        except Exception as exc:  # noqa: BLE001 - a bad face shows its error
            res = PreviewResult(path.name, None, Text(f"{path.name}: {exc}", style="red"))
        self.post_message(ZoomReady(req, res))

    @on(ZoomReady)
    def _ready(self, msg: ZoomReady) -> None:
        if msg.req != self._req:
            return
        res = msg.result
        face = self.query_one("#zoom-face", Picture)
        frame = self.query_one("#zoom-frame", Picture)
        if res.rgb is None:
            face.set_message(res.info.plain)
        else:
            face.set_image(res.rgb, key=(res.name, tuple(sorted(self.show.items())), self.side_by_side, face.size))
        if self.side_by_side:
            if res.frame is not None:
                frame.set_image(res.frame, key=(res.name, "frame", frame.size))
            else:
                frame.set_message("source frame not found")
        self.query_one("#zoom-info", TextPane).update(Text(" · ".join(
            line for line in res.info.plain.splitlines()[1:] if line)))
        self.shown = res.name
        self.renders += 1

    # -- actions ------------------------------------------------------------------------------
    def action_close(self) -> None:
        self.app.pop_screen()

    def action_step(self, d: int) -> None:
        g = self.review.grid
        if g.names:
            g.go(g.cursor + d)
            self._draw()

    def action_side(self) -> None:
        self.side_by_side = not self.side_by_side
        self.set_class(self.side_by_side, "-side")
        self.call_after_refresh(self._draw)

    def action_toggle(self, what: str) -> None:
        self.show[what] = not self.show[what]
        self._draw()

    def action_tag(self, tag: str) -> None:
        name = self.name_now
        if name is not None:
            self.review.tag_faces([name], tag or None, toggle=True)
            self._title()
