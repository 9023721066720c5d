"""The reviewer at real resolution: thumbnails as kitty / Sixel pictures (sent once, never for a cursor
move), adjustable and remembered thumbnail size, the full-screen zoom and the face beside its source
frame. Thumbnails are flat colours (deterministic); the bytes are what the app hands the terminal."""

from __future__ import annotations

import pytest

import faceset_fixtures as ff
from dfl_tui.tui.screens.review_zoom import FaceZoomScreen
from dfl_tui.tui.widgets import termgfx
from dfl_tui.tui.widgets.picture import Picture
from dfl_tui.tui.widgets.termgfx import Graphics
from test_review import build_ws, flat_colour, open_review
from tui_fixtures import make_app, wait_for


def graphics_app(ws, tmp_path, mode: str):
    app = make_app(ws, tmp_path)
    app.graphics = Graphics(mode, mode, "test", cell_w=8, cell_h=16)
    app.graphics_sink = []
    return app


@pytest.fixture
def flat_thumbs(monkeypatch):
    from dfl_tui.tui.widgets import face_grid

    monkeypatch.setattr(face_grid, "load_thumb_rgb", lambda face, w, h: flat_colour(face.name, w, h))


def sent(app, marker: str) -> int:
    return sum(s.count(marker) for s in app.graphics_sink)


async def test_kitty_thumbnails_sent_once_and_placed(tmp_path, flat_thumbs):
    ws = build_ws(tmp_path / "ws", n=60)
    app = graphics_app(ws, tmp_path, "kitty")
    async with app.run_test(size=(120, 40)) as pilot:
        scr = await open_review(app, pilot)
        g = scr.grid
        assert g.thumb_size == 128 and g.thumb_w == 16 and g.thumb_h == 8  # 128 px on 8x16-pixel cells
        await wait_for(pilot, lambda: len(g._cache) > len(g.visible_range()), what="the prefetch")
        await pilot.pause()
        # only the faces on screen were sent (the prefetched page is sent when it is scrolled to)
        preview = scr.query_one("#review-preview", Picture)
        assert g.kitty_sends == len(g.visible_range()) > 0
        assert sent(app, "\x1b_Ga=t,") == g.kitty_sends + preview.kitty_sends
        line = g.render_line(1)
        assert termgfx.PLACEHOLDER in line.text
        sends = g.kitty_sends
        await pilot.press("right", "right", "left")  # the cursor moves: nothing is transmitted again
        await pilot.pause(0.2)
        assert g.kitty_sends == sends
        # bigger thumbnails: new pictures (and the old ones freed in the terminal), size remembered
        await pilot.press("plus")
        await wait_for(pilot, lambda: g.missing_visible() == 0 and g._cache, what="bigger thumbnails")
        assert g.thumb_size == 160 and app.ui_state["review"]["thumbs_pixels"] == 160
        assert any("a=d,d=I" in s for s in app.graphics_sink)


async def test_sixel_thumbnails_painted_and_not_for_a_cursor_move(tmp_path, flat_thumbs):
    ws = build_ws(tmp_path / "ws", n=12)
    app = graphics_app(ws, tmp_path, "sixel")
    async with app.run_test(size=(120, 40)) as pilot:
        scr = await open_review(app, pilot)
        g = scr.grid
        await wait_for(pilot, lambda: g.sixel_paints > 0, what="sixel thumbnails")
        await pilot.pause(0.2)
        assert sent(app, "\x1bP0;1;0q") >= g.sixel_paints and "\x1b_G" not in "".join(app.graphics_sink)
        painted = g.sixel_paints
        await pilot.press("right")
        await pilot.pause(0.2)
        assert g.sixel_paints == painted  # only borders and name bars were redrawn
        await pilot.press("1")  # a tag changes the name bar only
        await pilot.pause(0.2)
        assert g.sixel_paints == painted


async def test_halfblock_reviewer_sends_no_graphics(tmp_path, flat_thumbs):
    ws = build_ws(tmp_path / "ws", n=6)
    app = graphics_app(ws, tmp_path, "halfblock")
    async with app.run_test(size=(100, 30)) as pilot:
        scr = await open_review(app, pilot)
        await pilot.press("right", "z")
        await wait_for(pilot, lambda: isinstance(app.screen, FaceZoomScreen) and app.screen.shown, what="zoom")
        assert app.graphics_sink == []
        await pilot.press("escape")
        assert app.screen is scr
        # half-block thumbnail sizes are cells across; the choice is remembered
        await pilot.press("plus")
        assert scr.grid.thumb_size == 24 and app.ui_state["review"]["thumbs_cells"] == 24


async def test_zoom_and_face_beside_its_source_frame(tmp_path):
    ws = build_ws(tmp_path / "ws", n=6, size=64)
    frame, _lm = ff.frames()["astronaut"]
    import cv2

    ws.frames("src").mkdir(parents=True, exist_ok=True)
    for i in range(6):
        cv2.imwrite(str(ws.frames("src") / f"{i:05d}.png"), frame)
    app = make_app(ws, tmp_path)
    async with app.run_test(size=(120, 40)) as pilot:
        scr = await open_review(app, pilot)
        await pilot.press("right", "z")
        await wait_for(pilot, lambda: isinstance(app.screen, FaceZoomScreen) and app.screen.shown == "00001_0.jpg",
                       what="zoom")
        zoom = app.screen
        face = zoom.query_one("#zoom-face", Picture)
        await wait_for(pilot, lambda: face.has_picture, what="the zoomed face")
        # the face fills the screen: far bigger than the 40-cell preview beside the grid
        assert len(face.strips) >= 30
        await pilot.press("right")  # the next face, and the grid follows
        await wait_for(pilot, lambda: zoom.shown == "00002_0.jpg", what="next face")
        assert scr.grid.cursor == 2
        await pilot.press("5")  # tag the face shown
        assert scr.grid.tags.get("00002_0.jpg") == "purple"
        await pilot.press("s")  # beside its source frame, with the face's box and landmarks
        frame_pic = zoom.query_one("#zoom-frame", Picture)
        await wait_for(pilot, lambda: frame_pic.has_picture, what="the source frame")
        assert "right: data_src/00002.png + box + landmarks" in zoom.query_one("#zoom-info").text.plain
        await pilot.press("z")
        assert app.screen is scr and scr.grid.cursor == 2
        # Z opens straight into the side-by-side view
        await pilot.press("Z")
        await wait_for(pilot, lambda: isinstance(app.screen, FaceZoomScreen) and app.screen.side_by_side,
                       what="side by side")


async def test_graphics_choice_from_the_palette_is_remembered(tmp_path, monkeypatch):
    from dfl_tui.commands.tui import settle_graphics

    ws = build_ws(tmp_path / "ws", n=2)
    app = make_app(ws, tmp_path, load_user_config=True)
    async with app.run_test(size=(100, 30)) as pilot:
        assert app.graphics.mode == "halfblock"
        app.set_graphics("sixel")
        assert app.graphics.mode == "sixel" and app.ui_state["graphics"] == "sixel"
        app.save_state()
    monkeypatch.setenv("DFL_TUI_STATE_DIR", str(app.state_path.parent))
    env = {"TERM": "xterm-256color"}
    assert settle_graphics(env, None).mode == "sixel"  # remembered
    assert settle_graphics(env, "halfblock").mode == "halfblock"  # --graphics wins
    env = {"TERM": "xterm-256color", "DFL_TUI_GRAPHICS": "kitty"}
    assert settle_graphics(env, None).mode == "kitty" and env["COLORTERM"] == "truecolor"  # the id is a colour
