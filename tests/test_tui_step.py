"""The generic step screen running real jobs (the hidden ``selftest`` step): progress, cancel, crash, re-attach."""

from __future__ import annotations

from textual.widgets import Input, ProgressBar, Switch

from dfl_tui import jobs as jobsmod
from dfl_tui import workflow
from dfl_tui.jobs.selftest import SelfTestOptions
from dfl_tui.tui.screens.step import StepScreen
from dfl_tui.workspace import Workspace

from tui_fixtures import make_app, stop_all_jobs, wait_for


async def _open_selftest(app, pilot, **values):
    screen = app.open_step("selftest", values=values)
    await pilot.pause()
    assert isinstance(screen, StepScreen)
    return screen


async def test_run_step_shows_progress_and_ends_done(tmp_path):
    ws = Workspace.open(tmp_path / "ws")
    app = make_app(ws, tmp_path)
    try:
        async with app.run_test(size=(80, 24)) as pilot:
            screen = await _open_selftest(app, pilot)
            # The form is generated from SelfTestOptions: typing into it sets the job's options.
            items = screen.query_one("#opt-items", Input)
            items.value = "30"
            screen.query_one("#opt-delay", Input).value = "0.05"
            await pilot.press("ctrl+r")
            jv = screen.job_view
            await wait_for(pilot, lambda: jv.run_dir is not None, what="job start")
            bar = jv.query_one("#job-bar", ProgressBar)
            # Progress arrives while the job runs: the bar moves and the counts are shown.
            await wait_for(pilot, lambda: bar.total == 30 and 0 < bar.progress < 30, what="partial progress")
            stats = str(jv.query_one("#job-stats").render())
            assert "/30 items" in stats and "even" in stats and "items/s" in stats
            await wait_for(pilot, lambda: jv.final, what="job end")
            assert jv.status["state"] == "done"
            assert bar.progress == 30
            assert "Done" in str(jv.query_one("#job-stats").render())
            assert "counted 30 items" in jv.log_text
            st = jobsmod.list_jobs(ws)[0]
            assert st["options"]["items"] == 30 and st["detached"] is True
    finally:
        stop_all_jobs(ws)


async def test_invalid_option_is_refused_with_message(tmp_path):
    ws = Workspace.open(tmp_path / "ws")
    app = make_app(ws, tmp_path)
    async with app.run_test(size=(80, 24)) as pilot:
        screen = await _open_selftest(app, pilot)
        screen.query_one("#opt-items", Input).value = "-5"  # min 0
        await pilot.press("ctrl+r")
        await pilot.pause()
        err = str(screen.query_one("#err-items").render())
        assert "below the minimum" in err
        assert jobsmod.list_jobs(ws) == []


async def test_cancel_stops_a_running_job(tmp_path):
    ws = Workspace.open(tmp_path / "ws")
    marker = tmp_path / "stopped.txt"
    app = make_app(ws, tmp_path)
    try:
        async with app.run_test(size=(80, 24)) as pilot:
            screen = await _open_selftest(app, pilot, items=400, delay=0.05, marker=str(marker))
            await pilot.press("ctrl+r")
            jv = screen.job_view
            await wait_for(pilot, lambda: (jv.status.get("progress") or {}).get("done", 0) >= 2, what="running")
            await pilot.press("ctrl+x")
            await wait_for(pilot, lambda: jv.final, what="cancelled")
            assert jv.status["state"] == "cancelled"
            assert "Stopped" in str(jv.query_one("#job-stats").render())
            done = (jv.status.get("progress") or {}).get("done", 0)
            assert done < 400
        # The job stopped cleanly (its finally block ran), it was not killed.
        assert marker.exists()
    finally:
        stop_all_jobs(ws)


async def test_crashing_job_shows_error_and_traceback(tmp_path):
    ws = Workspace.open(tmp_path / "ws")
    app = make_app(ws, tmp_path)
    try:
        async with app.run_test(size=(80, 24)) as pilot:
            screen = await _open_selftest(app, pilot, items=5, delay=0.01, crash_at=2)
            await pilot.press("ctrl+r")
            jv = screen.job_view
            await wait_for(pilot, lambda: jv.final, what="crash recorded")
            assert jv.status["state"] == "failed"
            err = jv.query_one("#job-error")
            assert err.has_class("-shown")
            assert "selftest crash at item 2" in str(err.render())
            await pilot.press("ctrl+t")
            assert jv.mode == "traceback"
            assert "Traceback" in jv.log_text and "RuntimeError" in jv.log_text
            await pilot.press("ctrl+t")
            assert jv.mode == "events"
            await pilot.press("ctrl+l")
            await wait_for(pilot, lambda: "dfl-tui job" in jv.log_text, what="job.log shown")
    finally:
        stop_all_jobs(ws)


async def test_reopening_attaches_to_running_job(tmp_path):
    """A job started elsewhere (the CLI, another session) shows up when its step is opened."""
    ws = Workspace.open(tmp_path / "ws")
    run = jobsmod.start(ws, "selftest", SelfTestOptions(items=200, delay=0.05), detach=True)
    app = make_app(ws, tmp_path)
    try:
        async with app.run_test(size=(80, 24)) as pilot:
            screen = await _open_selftest(app, pilot)
            jv = screen.job_view
            await wait_for(pilot, lambda: jv.run_dir is not None and jv.run_dir.id == run.id, what="re-attach")
            await wait_for(pilot, lambda: jv.status.get("state") == "running", what="running")
            before = jv.updates
            await wait_for(pilot, lambda: jv.updates > before + 1, what="live updates")
            # Running it again while it runs is refused.
            await pilot.press("ctrl+r")
            await pilot.pause()
            assert len(jobsmod.list_jobs(ws)) == 1
            # Leaving the screen leaves the job running.
            await pilot.press("escape")
            await pilot.pause(0.2)
            assert run.is_alive()
    finally:
        stop_all_jobs(ws)


async def test_form_kinds_from_options(tmp_path):
    """Select for choices, Switch for booleans, Input for numbers; preset options are not editable."""
    from textual.widgets import Select

    ws = Workspace.open(tmp_path / "ws")
    app = make_app(ws, tmp_path)
    entry = workflow.get("extract-frames-src")
    async with app.run_test(size=(80, 24)) as pilot:
        screen = app.open_entry(entry)
        await pilot.pause()
        if screen.unavailable:
            return
        form = screen.form
        specs = {s.name: s for s in form.specs}
        assert not form.query("#opt-side")  # side=src is fixed by step 2
        for name, spec in specs.items():
            if name == "side":
                continue
            w = form.field(name)
            if spec.type is bool:
                assert isinstance(w, Switch)
            elif spec.choices is not None:
                assert isinstance(w, Select)
            else:
                assert isinstance(w, Input)
        opts, errors = form.collect()
        assert errors == [] and opts.side == "src"
