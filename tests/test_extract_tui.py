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
