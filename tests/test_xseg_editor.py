"""The XSeg mask editor screen driven with Pilot: draw, close, edit, delete, undo, and the saved metadata."""

from __future__ import annotations

import numpy as np

from tui_fixtures import make_app, wait_for
from xseg_fixtures import labelled_workspace

from dfl_tui.faces import dflimg
from dfl_tui.tui.screens.xseg_editor import XSegEditorScreen
from dfl_tui.tui.widgets.image_canvas import ImageCanvas
from dfl_tui.xseg.polys import EXCLUDE, INCLUDE, MODE_DRAW, MODE_EDIT


def unlabel(folder):
    for p in sorted(folder.glob("*.jpg")):
        m = dflimg.read_meta(p)
        m.seg_ie_polys = None
        dflimg.write_meta(p, m)


async def open_editor(app, pilot, side="src", **kw) -> XSegEditorScreen:
    scr = XSegEditorScreen(side=side, **kw)
    app.push_screen(scr)
    await wait_for(pilot, lambda: scr.rgb is not None and scr.canvas.size.width > 0, what="the first face")
    await pilot.pause()
    return scr


def cell_of(canvas: ImageCanvas, x: float, y: float) -> tuple[int, int]:
    """The cell whose pointer position maps closest to image point (x, y)."""
    dx, dy = canvas.to_display(x, y)
    return int(round(dx)), int(round((dy - 0.5) / 2))


async def test_draw_edit_delete_undo_with_the_mouse_and_save(tmp_path):
    ws = labelled_workspace(tmp_path / "ws")
    unlabel(ws.aligned("src"))
    app = make_app(ws, tmp_path)
    async with app.run_test(size=(100, 40)) as pilot:
        scr = await open_editor(app, pilot)
        cv = scr.canvas
        ed = scr.editor
        assert ed.polys == [] and scr.files[0].name == "astronaut_wf.jpg"
        # Draw an include quadrilateral: four clicks, then a click on the first point closes it.
        corners = [(60, 60), (196, 60), (196, 220), (60, 220)]
        cells = [cell_of(cv, *c) for c in corners]
        for c in cells:
            await pilot.click(cv, offset=c)
        assert ed.mode == MODE_DRAW and ed.polys[0].n == 4
        expected = np.float32([cv.cell_to_image(*c) for c in cells])
        assert np.allclose(ed.polys[0].pts, expected)
        await pilot.click(cv, offset=cells[0])
        assert ed.mode == MODE_EDIT and ed.counts() == (1, 0)
        # Drag the third corner outward.
        far = cell_of(cv, 240, 250)
        await pilot.mouse_down(cv, offset=cells[2])
        await pilot.hover(cv, offset=(cells[2][0] + 3, cells[2][1] + 1))
        await pilot.hover(cv, offset=far)
        await pilot.mouse_up(cv, offset=far)
        assert np.allclose(ed.polys[0].pts[2], cv.cell_to_image(*far))
        # Ctrl+click on the top edge inserts a point; ctrl+click on it deletes it again.
        mid = cell_of(cv, 128, 60)
        await pilot.click(cv, offset=mid, control=True)
        assert ed.polys[0].n == 5
        await pilot.click(cv, offset=mid, control=True)
        assert ed.polys[0].n == 4
        # An exclude polygon drawn with keys: w, cursor moves, space, c to close.
        await pilot.press("escape")  # let go of the selected polygon
        await pilot.press("w")
        scr.cursor = (100.0, 100.0)
        await pilot.press("space")
        await pilot.press(*["right"] * 6, "space")
        await pilot.press(*["down"] * 3, "space")
        await pilot.press("c")
        assert ed.counts() == (1, 1) and ed.polys[1].type == EXCLUDE
        s = cv.scale
        assert np.allclose(ed.polys[1].pts, [[100, 100], [100 + 6 / s, 100], [100 + 6 / s, 100 + 6 / s]], atol=1e-3)
        baked = ed.mask()
        assert baked[80, 80] == 1 and baked[101, 105] == 0  # exclude wins inside the include
        # Delete the exclude polygon, then undo the delete.
        await pilot.press("delete")
        assert ed.counts() == (1, 0)
        await pilot.press("u")
        assert ed.counts() == (1, 1)
        # Next face saves this one's labels into its file.
        await pilot.press("d")
        await wait_for(pilot, lambda: scr.index == 1 and scr.rgb is not None, what="the second face")
        meta = dflimg.read_meta(ws.aligned("src") / "astronaut_wf.jpg")
        assert [p["type"] for p in meta.seg_ie_polys] == [INCLUDE, EXCLUDE]
        assert np.allclose(meta.seg_ie_polys[0]["pts"][2], cv.cell_to_image(*far), atol=1e-3)
        assert "astronaut_wf.jpg" in scr.labelled
        # Back: the polygons come back from the file; views of the baked mask work.
        await pilot.press("a")
        await wait_for(pilot, lambda: scr.index == 0 and scr.rgb is not None, what="the first face again")
        assert scr.editor.counts() == (1, 1) and not scr.editor.dirty
        await pilot.press("4")
        assert scr.view == "baked"
        await pilot.press("4", "grave_accent")
        assert scr.view == "labels" and scr.overlay


async def test_keyboard_carry_insert_delete_and_labelled_navigation(tmp_path):
    ws = labelled_workspace(tmp_path / "ws")
    app = make_app(ws, tmp_path)
    async with app.run_test(size=(100, 40)) as pilot:
        scr = await open_editor(app, pilot, side="src")
        ed = scr.editor
        assert ed.counts() == (1, 0)  # the fixture's hand label
        n0 = ed.polys[0].n
        first = tuple(float(v) for v in ed.polys[0].pts[0])
        # Pick up the first point with m, carry it 4 cells right, put it down: one undo step.
        scr.cursor = first
        await pilot.press("m", "right", "right", "right", "right", "m")
        moved = ed.polys[0].pts[0]
        assert moved[0] > first[0] + 3 and abs(moved[1] - first[1]) < 1e-4
        await pilot.press("u")
        assert np.allclose(ed.polys[0].pts[0], first)
        # x deletes the point under the cursor, i inserts on the nearest edge.
        scr.cursor = first
        await pilot.press("x")
        assert ed.polys[0].n == n0 - 1
        await pilot.press("i")
        assert ed.polys[0].n == n0
        # Save explicitly, then jump between labelled faces with D.
        await pilot.press("s")
        assert not ed.dirty
        await pilot.press("D")
        await wait_for(pilot, lambda: scr.index == 1 and scr.rgb is not None, what="the next labelled face")
        assert scr.path.name == "camera_wf.jpg"
        # Escape with nothing selected leaves the screen, saving first.
        await pilot.press("escape", "escape")
        await wait_for(pilot, lambda: not isinstance(app.screen, XSegEditorScreen), what="the editor to close")


async def test_a_mask_job_shows_its_mask_c_closes_a_mouse_polygon_and_the_footer_says_how_to_leave(tmp_path):
    """Issue 10's walk-through: the new trained mask appears, ``c`` closes, esc is in the footer at 80x24."""
    from textual.screen import Screen
    from textual.widgets import Footer

    ws = labelled_workspace(tmp_path / "ws")
    unlabel(ws.aligned("src"))
    app = make_app(ws, tmp_path)
    async with app.run_test(size=(80, 24)) as pilot:
        scr = await open_editor(app, pilot)
        assert scr.xseg_mask is None
        # the footer shows how to leave, whole, at 80 columns
        from textual.widgets._footer import FooterKey

        back = [k for k in scr.query_one(Footer).query(FooterKey) if k.action == "escape"]
        assert back and back[0].description == "Back" and 0 <= back[0].region.x and back[0].region.right <= 80
        # draw three points with the mouse, close with c
        cv = scr.canvas
        for c in [(40, 40), (200, 40), (120, 200)]:
            await pilot.click(cv, offset=cell_of(cv, *c))
        assert scr.editor.mode == MODE_DRAW and scr.editor.polys[0].n == 3
        await pilot.press("c")
        assert scr.editor.mode == MODE_EDIT and scr.note == "closed"
        await pilot.press("s")
        # an XSeg apply job writes a trained mask into this face's file...
        path = scr.path
        h, w = scr.rgb.shape[:2]
        mask = np.zeros((h, w), np.float32)
        mask[h // 4: 3 * h // 4, w // 4: 3 * w // 4] = 1
        meta = dflimg.read_meta(path)
        meta.set_xseg_mask(mask)
        dflimg.write_meta(path, meta)
        # ... while the step screen shows the job; back in the editor, the face shows the new mask
        app.push_screen(Screen())
        await pilot.pause()
        app.pop_screen()
        await wait_for(pilot, lambda: scr.xseg_mask is not None, what="the new trained mask")
        assert scr.overlay and "trained mask" in scr.note
        assert scr.editor.counts() == (1, 0)  # the labels stay
        assert abs(float(scr.xseg_mask[h // 2, w // 2]) - 1.0) < 0.1 and float(scr.xseg_mask[2, 2]) < 0.1
        # while the editor is on screen, the workspace watcher's signal does the same
        meta.set_xseg_mask(None)
        dflimg.write_meta(path, meta)
        app.action_refresh_workspace()
        await wait_for(pilot, lambda: scr.xseg_mask is None, what="the mask to go")
