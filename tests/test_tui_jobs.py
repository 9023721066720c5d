"""Jobs screen: every job with state, progress and error; live view, traceback, cancel, open its step."""

from __future__ import annotations

from textual.widgets import DataTable

from dfl_tui import jobs as jobsmod
from dfl_tui.jobs.selftest import SelfTestOptions
from dfl_tui.tui.screens.jobs import JobsScreen
from dfl_tui.tui.screens.step import StepScreen
from dfl_tui.workspace import Workspace

from tui_fixtures import make_app, stop_all_jobs, wait_for


async def test_jobs_screen_lists_states_errors_and_cancels(tmp_path):
    ws = Workspace.open(tmp_path / "ws")
    done = jobsmod.run_inline(ws, "selftest", SelfTestOptions(items=3, delay=0))
    failed = jobsmod.run_inline(ws, "selftest", SelfTestOptions(items=3, delay=0, crash_at=1))
    assert failed["state"] == "failed"
    running = jobsmod.start(ws, "selftest", SelfTestOptions(items=400, delay=0.05), detach=True)
    app = make_app(ws, tmp_path)
    try:
        async with app.run_test(size=(80, 24)) as pilot:
            await pilot.press("f2")
            screen = await wait_for(pilot, lambda: isinstance(app.screen, JobsScreen) and app.screen)
            await wait_for(pilot, lambda: screen.loaded >= 1)
            table = screen.query_one("#jobs-table", DataTable)
            assert table.row_count == 3
            assert table.get_cell(done["id"], "state").plain == "done"
            assert table.get_cell(failed["id"], "state").plain == "failed"
            assert "selftest crash at item 1" in table.get_cell(failed["id"], "error").plain
            # The selected job is followed live.
            jv = screen.query_one("#job")
            table.move_cursor(row=table.get_row_index(running.id))
            await wait_for(pilot, lambda: jv.run_dir is not None and jv.run_dir.id == running.id)
            await wait_for(pilot, lambda: jv.status.get("state") == "running")
            # The failed job's traceback, on demand.
            table.move_cursor(row=table.get_row_index(failed["id"]))
            await wait_for(pilot, lambda: jv.run_dir.id == failed["id"] and jv.final)
            await pilot.press("t")
            assert "RuntimeError" in jv.log_text
            # Stop the running one from here.
            table.move_cursor(row=table.get_row_index(running.id))
            await wait_for(pilot, lambda: jv.run_dir.id == running.id)
            await pilot.press("x")
            await wait_for(pilot, lambda: jv.final, what="cancelled")
            assert jv.status["state"] == "cancelled"
            # Enter opens the job's step screen, attached to that job.
            await pilot.press("enter")
            step = await wait_for(pilot, lambda: isinstance(app.screen, StepScreen) and app.screen)
            await wait_for(pilot, lambda: step.job_view.run_dir is not None)
            assert step.job_view.run_dir.id == running.id
    finally:
        stop_all_jobs(ws)


async def test_jobs_screen_empty(tmp_path):
    app = make_app(Workspace.open(tmp_path / "ws"), tmp_path)
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.press("j")
        screen = await wait_for(pilot, lambda: isinstance(app.screen, JobsScreen) and app.screen)
        await wait_for(pilot, lambda: screen.loaded >= 1)
        assert "No jobs yet" in str(screen.query_one("#jobs-empty").render())
        await pilot.press("escape")
        assert not isinstance(app.screen, JobsScreen)


async def test_home_shows_running_jobs(tmp_path):
    ws = Workspace.open(tmp_path / "ws")
    run = jobsmod.start(ws, "selftest", SelfTestOptions(items=400, delay=0.05), detach=True)
    app = make_app(ws, tmp_path)
    try:
        async with app.run_test(size=(80, 24)) as pilot:
            home = app.screen
            await wait_for(pilot, lambda: home.loaded >= 1)
            await wait_for(pilot, lambda: (home.refresh_status() or True)
                           and "Job self-test" in str(home.query_one("#jobs-strip").render()), what="jobs strip")
            jobsmod.cancel(run)
            jobsmod.wait(run, timeout=15)
            home.refresh_status()
            await wait_for(pilot, lambda: "No jobs running" in str(home.query_one("#jobs-strip").render()))
    finally:
        stop_all_jobs(ws)
