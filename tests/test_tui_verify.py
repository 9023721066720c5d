"""The TUI checks the synthetic-media mark: the palette's Verify entry, ctrl+k on steps 10/11, and a
finished merge / make-video saying that its output is marked."""

from __future__ import annotations

from dfl_tui.jobs.context import Reporter
from dfl_tui.merge.batch import run_merge
from dfl_tui.merge.options import MergeOptions
from dfl_tui.options import validate
from dfl_tui.tui.commands import palette_entries
from dfl_tui.tui.messages import JobFinished
from dfl_tui.tui.screens.step import StepScreen
from dfl_tui.tui.screens.verify import VerifyScreen
from merge_fixtures import ShiftPredictor, make_dst
from tui_fixtures import make_app, wait_for


async def test_verify_from_the_palette_and_step_11(tmp_path):
    info = make_dst(tmp_path / "ws", 2, no_face=())
    ws = info["ws"]
    run_merge(Reporter(ws), validate(MergeOptions()), predictor=ShiftPredictor())
    app = make_app(ws, tmp_path)
    async with app.run_test(size=(100, 30)) as pilot:
        entry = [cb for text, _help, cb in palette_entries(app) if text.startswith("Verify")]
        assert entry
        entry[0]()
        scr = await wait_for(pilot, lambda: isinstance(app.screen, VerifyScreen) and app.screen)
        # it starts on the newest merged frame and checks it at once
        await wait_for(pilot, lambda: scr.checks >= 1, timeout=60, what="the first check")
        assert scr.marked is True
        report = str(scr.query_one("#verify-report").render())
        assert "watermark: FOUND" in report and "=> marked as AI-generated" in report
        # an original frame carries no mark
        field = scr.query_one("#verify-path")
        field.value = str(info["frames"][0])
        await pilot.press("enter")
        await wait_for(pilot, lambda: scr.checks >= 2, timeout=60, what="the second check")
        assert scr.marked is False and "no synthetic-content mark" in str(scr.query_one("#verify-report").render())
        # a file that is not there says so
        field.value = "nope.png"
        await pilot.press("enter")
        await wait_for(pilot, lambda: scr.checks >= 3, timeout=60, what="the third check")
        assert scr.marked is None and "no such file" in str(scr.query_one("#verify-report").render())
        await pilot.press("escape")
        assert not isinstance(app.screen, VerifyScreen)
        # step 11 offers ctrl+k; a finished make-video says its output is marked
        step = app.open_step("11")
        await pilot.pause()
        assert isinstance(step, StepScreen) and step.check_action("verify", ()) is True
        step._on_finished(JobFinished("x", {"state": "done", "result": {"result": str(ws.result)}}, live=True))
        assert any("result.mp4 is marked as AI-generated" in text for _level, text in step.job_view._lines)
        await pilot.press("ctrl+k")
        await wait_for(pilot, lambda: isinstance(app.screen, VerifyScreen), what="the verify screen")
        await pilot.press("escape")
        await pilot.press("escape")
        # other steps do not offer it
        other = app.open_step("2")
        await pilot.pause()
        assert other.check_action("verify", ()) is False
