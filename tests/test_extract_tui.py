"""The extraction screens (workflow steps 4 and 6) run extract-faces as a job with live counts."""

from __future__ import annotations

import cv2

from dfl_tui import jobs as jobsmod
from dfl_tui import workflow
from dfl_tui.workspace import Workspace, list_images

from tui_fixtures import make_app, stop_all_jobs, wait_for


async def test_extract_faces_screen_runs_the_job(tmp_path, monkeypatch):
    from dfl_tui.video import demo

    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "no-torch-home"))  # auto -> the offline backend
    ws = Workspace.open(tmp_path / "ws")
    ws.frames("dst").mkdir(parents=True)
    for i, f in enumerate(demo.render_frames(demo.ASTRONAUT, 3, 25, 256, 1)):
        cv2.imwrite(str(ws.frames("dst") / f"{i + 1:05d}.png"), f)
    app = make_app(ws, tmp_path)
    try:
        async with app.run_test(size=(100, 30)) as pilot:
            screen = app.open_entry(workflow.get("extract-faces-dst"))
            await pilot.pause()
            assert not screen.unavailable
            opts, errors = screen.form.collect()
            assert errors == [] and opts.side == "dst" and opts.face_type == "whole" and opts.size is None
            await pilot.press("ctrl+r")
            jv = screen.job_view
            await wait_for(pilot, lambda: jv.run_dir is not None, what="job start")
            await wait_for(pilot, lambda: jv.final, timeout=60, what="job end")
            assert jv.status["state"] == "done", jv.status.get("error")
            stats = str(jv.query_one("#job-stats").render())
            assert "faces" in stats
            st = jobsmod.list_jobs(ws)[0]
            assert st["result"]["faces"] == 3 and st["progress"]["counts"]["no_face"] == 0
            assert len(list_images(ws.aligned("dst"))) == 3
    finally:
        stop_all_jobs(ws)


async def test_reference_picker_keeps_the_picked_person(tmp_path, monkeypatch):
    """ctrl+e in the extract step: faces of the first frames (a short job), pick the astronaut, run: the
    cameraman's faces go to the trash."""
    import pytest

    pytest.importorskip("dlib")
    from dfl_tui.faces.dflimg import read_meta
    from dfl_tui.tui.screens.reference_picker import ReferencePicker
    from dfl_tui.tui.widgets.face_grid import FaceGrid
    from dfl_tui.video.demo_hard import render_hard

    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "no-torch-home"))
    ws = Workspace.open(tmp_path / "ws")
    ws.frames("dst").mkdir(parents=True)
    for i, f in zip(range(3), render_hard(20, 25, 320, 1)):  # the clean start: the astronaut on the left
        cv2.imwrite(str(ws.frames("dst") / f"{i + 1:05d}.png"), f)
    app = make_app(ws, tmp_path)
    try:
        async with app.run_test(size=(100, 30)) as pilot:
            screen = app.open_entry(workflow.get("extract-faces-dst"))
            await pilot.pause()
            await pilot.press("ctrl+e")
            await wait_for(pilot, lambda: isinstance(app.screen, ReferencePicker), what="picker")
            picker = app.screen
            grid = picker.query_one(FaceGrid)
            await wait_for(pilot, lambda: grid.names, timeout=90, what="candidate faces")
            left = [n for n in grid.names if read_meta(grid.folder / n).source_rect[0] < 160]  # the astronaut
            assert len(left) >= 2 and len(grid.names) - len(left) >= 2
            grid.go(grid.names.index(left[0]))
            await pilot.press("space", "enter")
            await wait_for(pilot, lambda: app.screen is screen, what="back to the step")
            opts, errors = screen.form.collect()
            assert errors == [] and opts.reference == str(ws.frames("dst") / "reference")
            assert [p.name for p in list_images(ws.frames("dst") / "reference")] == [left[0]]
            await pilot.press("ctrl+r")
            jv = screen.job_view
            await wait_for(pilot, lambda: jv.run_dir is not None, what="job start")
            await wait_for(pilot, lambda: jv.final, timeout=120, what="job end")
            assert jv.status["state"] == "done", jv.status.get("error")
            kept = [read_meta(p).source_rect[0] < 160 for p in list_images(ws.aligned("dst"))]
            trashed = [read_meta(p).source_rect[0] < 160 for p in list_images(ws.aligned("dst") / ".trash")]
            assert len(kept) >= 2 and all(kept) and len(trashed) >= 2 and not any(trashed)
    finally:
        stop_all_jobs(ws)
