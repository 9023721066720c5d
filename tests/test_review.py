"""The face reviewer: tags, filter, selection, bulk delete to the trash, undo, the journal surviving a crash,
sorting from the screen, and a snapshot."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

import faceset_fixtures as ff
from dfl_tui import workflow
from dfl_tui.faceset.journal import read_tags
from dfl_tui.faceset.trash import Trash
from dfl_tui.tui.screens.review import ReviewScreen
from dfl_tui.workspace import Workspace, list_images
from tui_fixtures import make_app, wait_for

HERE = Path(__file__).parent


def build_ws(root: Path, n: int = 12, size: int = 32) -> Workspace:
    ws = Workspace.open(root).ensure()
    folder = ws.aligned("src")
    frames = list(ff.frames().values())
    for i in range(n):
        frame, lm = frames[i % 3]
        face, meta = ff.make_face(frame, lm, size, source_filename=f"{i:05d}.png")
        ff.save(folder, f"{i:05d}_0.jpg", ff.hue_shift(face, (i // 3) * 12), meta)
    return ws


async def open_review(app, pilot, key: str = "review-src") -> ReviewScreen:
    screen = ReviewScreen(workflow.get(key))
    app.push_screen(screen)
    await wait_for(pilot, lambda: screen.loaded, what="the faces to load")
    await wait_for(pilot, lambda: screen.grid.names and screen.grid.missing_visible() == 0, what="thumbnails")
    return screen


async def test_tag_filter_and_counts(tmp_path):
    ws = build_ws(tmp_path / "ws")
    app = make_app(ws, tmp_path)
    async with app.run_test(size=(110, 32)) as pilot:
        scr = await open_review(app, pilot)
        g = scr.grid
        assert len(g.names) == 12 and g.cols >= 2
        await pilot.press("1")  # green; the cursor stays (arrows move on)
        assert g.cursor == 0 and scr.journal.tags == {"00000_0.jpg": "green"}
        await pilot.press("1")  # the same key again clears it (README), it does not tag the next face
        assert scr.journal.tags == {} and g.cursor == 0
        await pilot.press("1", "right", "2", "right", "2")  # green, red, red on the third
        await pilot.press("2")  # the same key again on a red face clears it
        assert scr.journal.tags == {"00000_0.jpg": "green", "00001_0.jpg": "red"}
        assert scr.journal.counts()["red"] == 1
        status = scr.query_one("#review-status").text.plain
        assert "3/12" in status and "2 1" in status  # clearing does not move on; 1 red
        # filter: only red
        await pilot.press("f")
        await pilot.press("2")
        assert g.names == ["00001_0.jpg"]
        await pilot.press("escape")  # clears the filter
        assert len(g.names) == 12
        # on disk already, before any clean exit
        assert read_tags(ws.aligned("src")) == {"00000_0.jpg": "green", "00001_0.jpg": "red"}


async def test_select_range_delete_to_trash_and_undo(tmp_path):
    ws = build_ws(tmp_path / "ws")
    folder = ws.aligned("src")
    before = {p.name: p.read_bytes() for p in list_images(folder)}
    app = make_app(ws, tmp_path)
    async with app.run_test(size=(110, 32)) as pilot:
        scr = await open_review(app, pilot)
        g = scr.grid
        await pilot.press("3", "right")  # blue on face 0, cursor on 1
        await pilot.press("space", "shift+right", "shift+right")
        assert g.selected == {"00001_0.jpg", "00002_0.jpg", "00003_0.jpg"}
        await pilot.press("d")
        await pilot.press("n")  # declined: nothing moves
        assert len(list_images(folder)) == 12
        await pilot.press("d")
        await pilot.press("y")
        await wait_for(pilot, lambda: len(scr.all_names) == 9 and scr.busy is None, what="delete")
        assert Trash(folder).count() == 3 and len(list_images(folder)) == 9
        assert g.current_name == "00004_0.jpg" and not g.selected
        await pilot.press("u")
        await wait_for(pilot, lambda: len(scr.all_names) == 12 and scr.busy is None, what="undo")
        assert {p.name: p.read_bytes() for p in list_images(folder)} == before
        assert scr.journal.tags == {"00000_0.jpg": "blue"}
        # delete every face with a tag
        await pilot.press("D")
        await pilot.press("3")
        await pilot.press("y")
        await wait_for(pilot, lambda: len(scr.all_names) == 11 and scr.busy is None, what="delete tagged")
        assert not (folder / "00000_0.jpg").exists()
        assert read_tags(folder) == {".trash/00000_0.jpg": "blue"}
        assert scr.tag_counts()["blue"] == 0  # a deleted face's tag is not counted
        assert " 3 0 " in scr.query_one("#review-status").text.plain


async def test_navigation_goto_move_and_preview(tmp_path):
    ws = build_ws(tmp_path / "ws", n=40)
    folder = ws.aligned("src")
    app = make_app(ws, tmp_path)
    async with app.run_test(size=(100, 30)) as pilot:
        scr = await open_review(app, pilot)
        g = scr.grid
        await pilot.press("end")
        assert g.cursor == 39
        await pilot.press("home", "pagedown")
        assert g.cursor == g.page_rows * g.cols
        await pilot.press("j", "l", "k", "h")
        assert g.cursor == g.page_rows * g.cols
        await pilot.press("g")
        await pilot.press(*"17", "enter")
        assert g.cursor == 16
        await pilot.press("g")
        await pilot.press(*"00033", "enter")
        assert g.current_name == "00033_0.jpg"
        await wait_for(pilot, lambda: scr.query_one("#review-info").text.plain.startswith("00033_0.jpg"),
                       what="preview")
        assert "yaw" in scr.query_one("#review-info").text.plain
        await pilot.press("L", "M")
        await wait_for(pilot, lambda: "landmarks" in scr.query_one("#review-info").text.plain, what="overlays")
        await pilot.press("m")
        await pilot.press(*"keep", "enter")
        await wait_for(pilot, lambda: len(scr.all_names) == 39 and scr.busy is None, what="move")
        assert (folder / "keep" / "00033_0.jpg").exists()
        # mouse: click the second cell of the first row
        await pilot.press("home")
        await pilot.click(g, offset=(g.cell_w + 3, 2))
        assert g.cursor == 1


async def test_sort_from_the_reviewer(tmp_path):
    ws = build_ws(tmp_path / "ws", n=6)
    app = make_app(ws, tmp_path)
    async with app.run_test(size=(110, 32)) as pilot:
        scr = await open_review(app, pilot)
        scr._start_sort("brightness", 2000)
        await wait_for(pilot, lambda: scr.busy is None and scr.grid.names and scr.grid.names[0] == "00000.jpg",
                       timeout=60, what="the sort job")
        assert [p.name for p in list_images(ws.aligned("src"))] == [f"{i:05d}.jpg" for i in range(6)]


CRASH = textwrap.dedent("""
    import asyncio, os, sys
    sys.path.insert(0, {tests!r})
    from pathlib import Path
    from tui_fixtures import make_app, wait_for
    from test_review import open_review

    async def main():
        app = make_app({ws!r}, Path({tmp!r}))
        async with app.run_test(size=(110, 32)) as pilot:
            scr = await open_review(app, pilot)
            await pilot.press("5", "right", "5", "right", "7")
            os._exit(9)  # no clean exit: no close, no flush, no unmount

    asyncio.run(main())
""")


def test_journal_survives_a_crash(tmp_path):
    ws = build_ws(tmp_path / "ws", n=6)
    code = CRASH.format(tests=str(HERE), ws=str(ws.root), tmp=str(tmp_path))
    proc = subprocess.run([sys.executable, "-c", code], cwd=HERE, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 9, proc.stderr[-2000:]
    assert read_tags(ws.aligned("src")) == {"00000_0.jpg": "purple", "00001_0.jpg": "purple", "00002_0.jpg": "orange"}


async def test_tags_reload_on_the_next_start(tmp_path):
    ws = build_ws(tmp_path / "ws", n=6)
    app = make_app(ws, tmp_path)
    async with app.run_test(size=(110, 32)) as pilot:
        await open_review(app, pilot)
        await pilot.press("4", "right", "6")
    app2 = make_app(ws, tmp_path)
    async with app2.run_test(size=(110, 32)) as pilot:
        scr = await open_review(app2, pilot)
        assert scr.grid.tags == {"00000_0.jpg": "yellow", "00001_0.jpg": "pink"}


async def test_aligned_debug_view(tmp_path):
    ws = build_ws(tmp_path / "ws", n=3)
    dbg = ws.aligned_debug("dst")
    frame, lm = ff.frames()["astronaut"]
    import cv2

    dbg.mkdir(parents=True)
    for i in range(3):
        cv2.imwrite(str(dbg / f"{i:05d}.jpg"), cv2.resize(frame, (64, 64)))
    app = make_app(ws, tmp_path)
    async with app.run_test(size=(110, 32)) as pilot:
        scr = ReviewScreen(workflow.get("review-dst"), debug=True)
        app.push_screen(scr)
        await wait_for(pilot, lambda: scr.loaded and len(scr.grid.names) == 3, what="debug frames")
        await pilot.press("right", "d", "y")
        await wait_for(pilot, lambda: len(scr.all_names) == 2 and scr.busy is None, what="delete")
        assert not (dbg / "00001.jpg").exists() and (dbg / ".trash" / "00001.jpg").exists()


def test_every_reviewer_key_has_an_id():
    from dfl_tui.tui.widgets.face_grid import FaceGrid

    for cls in (ReviewScreen, FaceGrid):
        for b in cls.BINDINGS:
            assert b.id and b.id.startswith("review."), b


def flat_colour(name: str, width: int, height: int):
    """A flat RGB picture chosen by the face's name: every decoder and resizer gives the same pixels."""
    import numpy as np

    stem = Path(name).stem
    i = sum(map(ord, stem))
    return np.full((height, width, 3), ((i * 37) % 200 + 40, (i * 71) % 200 + 40, (i * 113) % 200 + 40), np.uint8)


@pytest.mark.serial
def test_reviewer_snapshot(tmp_path, snap_compare, monkeypatch):
    # The picture must not depend on the exact OpenCV/libjpeg build: thumbnails and the preview are
    # flat colours generated from the names (the grid's loader and the preview's decoder are swapped).
    from dfl_tui.faceset import features
    from dfl_tui.tui.widgets import face_grid

    monkeypatch.setattr(face_grid, "load_thumb_rgb", lambda face, w, h: flat_colour(face.name, w, h))
    monkeypatch.setattr(features, "decode", lambda data, source, *a, **k: flat_colour(source, 32, 32)[..., ::-1])
    ws = build_ws(tmp_path / "ws", n=10, size=32)
    from dfl_tui.faceset.journal import TagJournal

    j = TagJournal(ws.aligned("src"))
    j.set(["00001_0.jpg"], "red")
    j.set(["00002_0.jpg"], "green")
    j.close()
    app = make_app(ws, tmp_path)

    async def run_before(pilot):
        scr = await open_review(app, pilot)
        await pilot.press("right", "space")
        await wait_for(pilot, lambda: scr.query_one("#review-info").text.plain.startswith("00001_0.jpg"),
                       what="preview")
        await pilot.pause()

    assert snap_compare(app, terminal_size=(100, 28), run_before=run_before)


def test_reviewer_imports_no_numpy_cv2_or_torch():
    code = ("import sys, dfl_tui.tui.screens.review, dfl_tui.faceset.options, dfl_tui.faceset.journal; "
            "print(sorted(m for m in ('numpy', 'cv2', 'torch') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert out.stdout.strip() == "[]", out.stderr


def test_halfblock_pixels_to_cells():
    import numpy as np

    from dfl_tui.tui.widgets import halfblock

    rgb = np.array([[[255, 0, 0], [255, 0, 0], [0, 0, 255]],
                    [[0, 255, 0], [0, 255, 0], [0, 0, 255]]], np.uint8)
    strips = halfblock.render(rgb, quantize=0)
    assert len(strips) == 1 and strips[0].cell_length == 3
    segs = list(strips[0])
    assert [s.text for s in segs] == ["▀▀", "▀"]  # equal neighbours merged into one segment
    assert segs[0].style.color.triplet == (255, 0, 0) and segs[0].style.bgcolor.triplet == (0, 255, 0)
    assert halfblock.style_for(0xFF0000, 0x00FF00) is segs[0].style  # cached


async def test_identity_sort_and_group_from_the_reviewer(tmp_path):
    """o -> identity: the astronaut (4 of 6 faces) first; o -> group-identity: person_1/ and more, u undoes."""
    pytest.importorskip("dlib")
    from identity_fixtures import small_set

    ws = Workspace.open(tmp_path / "ws").ensure()
    faces = small_set(ws.aligned("src"))
    others = {faces["h"].name, faces["c"].name}
    app = make_app(ws, tmp_path)
    async with app.run_test(size=(110, 32)) as pilot:
        scr = await open_review(app, pilot)
        scr._start_sort("identity", 2000)
        await wait_for(pilot, lambda: scr.busy is None and scr.grid.names and scr.grid.names[0] == "00000.jpg",
                       timeout=120, what="the sort job")
        from dfl_tui.faces.dflimg import read_meta

        order = [read_meta(p).source_filename for p in list_images(ws.aligned("src"))]
        assert {f"{Path(n).stem.split('_')[0]}.png" for n in others} == set(order[4:])
        assert scr._busy("grouping")
        scr._run_group()
        await wait_for(pilot, lambda: scr.busy is None and (ws.aligned("src") / "person_1").is_dir(), timeout=120,
                       what="the group job")
        assert len(list_images(ws.aligned("src") / "person_1")) == 4
        assert list_images(ws.aligned("src")) == []
        Trash(ws.aligned("src")).undo()
        assert len(list_images(ws.aligned("src"))) == 6
