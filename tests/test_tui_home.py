"""Home screen: the numbered workflow with states, the demo offer, navigation, clear workspace."""

from __future__ import annotations

import subprocess
import sys
import textwrap

from textual.widgets import DataTable

from dfl_tui import jobs as jobsmod
from dfl_tui import workflow
from dfl_tui.tui.screens.clear import ClearWorkspaceScreen
from dfl_tui.tui.screens.home import HomeScreen, entry_available, entry_state
from dfl_tui.tui.screens.step import StepScreen
from dfl_tui.workspace import Workspace

from tui_fixtures import make_app, prepare_workspace, stop_all_jobs, wait_for

NUMBERS = ["1", "2", "3", "4", "4.1", "4.2", "5", "6", "7", "8", "9", "10", "11"]


def _cell(table: DataTable, row: str, col: str) -> str:
    return table.get_cell(row, col).plain


async def test_home_lists_steps_with_states(tmp_path):
    ws = prepare_workspace(tmp_path / "ws", src_frames=12, src_faces=5, trash=2)
    app = make_app(ws, tmp_path)
    async with app.run_test(size=(100, 40)) as pilot:
        home = app.screen
        assert isinstance(home, HomeScreen)
        await wait_for(pilot, lambda: home.loaded >= 1, what="workspace status")
        table = home.query_one("#steps", DataTable)
        numbers = [_cell(table, w.key, "num") for w in workflow.WORKFLOW if not w.tool]
        for n in NUMBERS:
            assert n in numbers
        assert "12 frames" in _cell(table, "extract-frames-src", "state")
        assert "data_src.mp4" in _cell(table, "extract-frames-src", "state")
        assert "no data_dst.mp4" in _cell(table, "extract-frames-dst", "state")
        assert "5 faces · 2 in trash" in _cell(table, "sort-src", "state") or "not available yet" in _cell(table, "sort-src", "state")
        assert "no merged frames" in _cell(table, "make-video", "state")
        # Steps a later issue delivers say so, and still show their state.
        for w in workflow.WORKFLOW:
            if not entry_available(w):
                assert "not available yet" in _cell(table, w.key, "state"), w.key
        # A populated workspace does not offer the demo.
        assert not home.query_one("#banner").display


async def test_home_offers_demo_on_empty_workspace(tmp_path):
    ws = Workspace.open(tmp_path / "empty")
    app = make_app(ws, tmp_path)
    async with app.run_test(size=(80, 24)) as pilot:
        home = app.screen
        await wait_for(pilot, lambda: home.loaded >= 1)
        banner = home.query_one("#banner")
        assert banner.display
        assert "empty" in str(home.query_one("#banner-text").render())
        try:
            await pilot.press("d")
            screen = await wait_for(pilot, lambda: isinstance(app.screen, StepScreen) and app.screen)
            assert screen.entry.step == "demo"
            assert screen.autostart
            if screen.unavailable is None:
                # It really starts the demo job (detached); stop it again at once.
                await wait_for(pilot, lambda: screen.job_view.run_dir is not None, what="demo job")
                jobs = jobsmod.list_jobs(ws)
                assert jobs and jobs[0]["step"] == "demo"
        finally:
            stop_all_jobs(ws)


async def test_typed_step_numbers_go_to_that_step_and_enter_opens(tmp_path):
    ws = prepare_workspace(tmp_path / "ws")
    app = make_app(ws, tmp_path)
    async with app.run_test(size=(80, 24)) as pilot:
        home = app.screen
        home.GOTO_TIMEOUT = 600  # a loaded machine must not end a number between two keys
        await wait_for(pilot, lambda: home.loaded >= 1)

        async def typed(*keys: str) -> str:
            await pilot.press(*keys)
            number = home.current_entry().number
            home._typed_done()  # as the timeout after the last key does
            return number

        assert await typed("1", "1") == "11"  # not 1, then the next row starting with 1
        assert home.typed == ""  # nothing longer than 11: the next digit starts a new number
        assert await typed("4", "full_stop", "2") == "4.2"
        assert await typed("4") == "4"
        assert await typed("1") == "1"
        assert await typed("1", "0") == "10"
        assert await typed("7", "full_stop", "1") == "7.1"
        assert await typed("9", "3") == "3"  # no step 93: the 3 starts a new number
        # the timeout ends a number that could go on (1 -> 10, 11)
        home.GOTO_TIMEOUT = 0.2
        await pilot.press("1")
        await wait_for(pilot, lambda: home.typed == "", what="the typed number to end")
        await pilot.press("3")
        await pilot.press("enter")
        screen = await wait_for(pilot, lambda: isinstance(app.screen, StepScreen) and app.screen)
        assert screen.entry.key == "extract-frames-dst"
        await pilot.press("escape")
        assert app.screen is home


async def test_cursor_starts_on_the_last_step_used_or_the_next_to_do(tmp_path):
    import json

    ws = prepare_workspace(tmp_path / "ws")
    # nothing remembered: the first step not done yet (no data_dst.mp4: step 3)
    app = make_app(ws, tmp_path)
    async with app.run_test(size=(80, 24)) as pilot:
        home = app.screen
        await wait_for(pilot, lambda: home.loaded >= 1)
        assert home.current_entry().number == "3"
    # the last step used in this workspace, as ui.json keeps it
    state = tmp_path / "state2" / "ui.json"
    state.parent.mkdir()
    state.write_text(json.dumps({"workspaces": {str(ws.root): {"last_step": "sort-src"}}}))
    app = make_app(ws, tmp_path, state_path=state)
    async with app.run_test(size=(80, 24)) as pilot:
        home = app.screen
        await wait_for(pilot, lambda: home.loaded >= 1)
        assert home.current_entry().number == "4.2"


async def test_unavailable_step_says_so(tmp_path):
    ws = prepare_workspace(tmp_path / "ws")
    app = make_app(ws, tmp_path)
    target = next((w for w in workflow.WORKFLOW if not entry_available(w) and w.step is None), None)
    if target is None:  # every screen-only step has landed: use a step marked unavailable
        target = workflow.WorkflowStep("later", "99", "Later", None)
    async with app.run_test(size=(80, 24)) as pilot:
        screen = app.open_entry(target)
        await pilot.pause()
        assert isinstance(screen, StepScreen)
        assert "not available yet" in str(screen.query_one("#step-unavailable").render())
        assert not screen.query("#form")
        await pilot.press("ctrl+r")  # nothing to run: no job appears
        assert jobsmod.list_jobs(ws) == []


def test_entry_state_shows_running_job_and_failures():
    entry = workflow.get("extract-frames-src")
    status = {"exists": True, "src_video": "/w/data_src.mp4", "src_video_bytes": 10, "src_frames": 0}
    running = {"step": "extract-frames", "state": "running", "options": {"side": "src"},
               "progress": {"done": 5, "total": 10}}
    assert entry_state(entry, status, [running]).text == "running 50%"
    assert entry_state(entry, status, [running]).level == "busy"
    other_side = dict(running, options={"side": "dst"})
    assert entry_state(entry, status, [other_side]).level != "busy"
    failed = dict(running, state="failed")
    assert "last run failed" in entry_state(entry, status, [failed]).text


async def test_clear_workspace_asks_then_deletes(tmp_path):
    ws = prepare_workspace(tmp_path / "ws")
    app = make_app(ws, tmp_path)
    async with app.run_test(size=(80, 24)) as pilot:
        home = app.screen
        await wait_for(pilot, lambda: home.loaded >= 1)
        await pilot.press("3", "1", "enter")  # "1" on step 1 would cycle on to 10
        modal = await wait_for(pilot, lambda: isinstance(app.screen, ClearWorkspaceScreen) and app.screen)
        await wait_for(pilot, lambda: modal.ready, what="scan")
        await pilot.press("n")  # keep everything
        assert app.screen is home
        assert ws.video("src").exists()
        await pilot.press("enter")
        modal = await wait_for(pilot, lambda: isinstance(app.screen, ClearWorkspaceScreen) and app.screen)
        await wait_for(pilot, lambda: modal.ready, what="scan")
        await pilot.press("y")
        await wait_for(pilot, lambda: app.screen is home, what="modal closed")
        assert list(ws.entries()) == []
        await wait_for(pilot, lambda: home.query_one("#banner").display, what="demo offer after clearing")


def test_ui_imports_no_torch(tmp_path):
    """The UI process never loads torch; the app, home and generic step screens not even cv2/numpy.

    Dedicated screens (the reviewer, say) may decode images with numpy in the UI process;
    torch stays out of their modules too.
    """
    script = textwrap.dedent(f"""
        import asyncio, sys
        import dfl_tui.tui.app as appmod
        from dfl_tui import workflow
        from dfl_tui.tui.registry import screen_key_for
        from dfl_tui.tui.screens.home import entry_available
        app = appmod.DflApp({str(tmp_path / 'ws')!r}, watch=False, poll_interval=None, load_user_config=False,
                            state_path={str(tmp_path / 'ui.json')!r})
        heavy = ("torch", "cv2", "numpy")
        after_build = [m for m in heavy if m in sys.modules]
        generic = [w for w in workflow.WORKFLOW if w.step and entry_available(w) and screen_key_for(w) is None]
        dedicated = [w for w in workflow.WORKFLOW if screen_key_for(w) is not None]
        async def main():
            async with app.run_test(size=(80, 24)) as pilot:
                await pilot.pause(0.2)
                for w in generic:
                    app.open_entry(w)
                    await pilot.pause()
                    app.pop_screen()
                app.open_step("selftest")
                await pilot.pause()
                await pilot.press("f2", "f1")
                await pilot.pause()
                print("RUN", [m for m in heavy if m in sys.modules])
        asyncio.run(main())
        from dfl_tui.tui.registry import load_screen
        for w in dedicated:  # their modules import without torch (mounting them is their own tests' job)
            load_screen(screen_key_for(w))
        print("BUILD", after_build)
        print("TORCH", "torch" in sys.modules)
    """)
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr[-3000:]
    assert "BUILD []" in out.stdout, out.stdout
    assert "RUN []" in out.stdout, out.stdout
    assert "TORCH False" in out.stdout, out.stdout
    # The command module itself (imported by `dfl-tui --help`) does not even import Textual.
    out = subprocess.run([sys.executable, "-c", "import sys, dfl_tui.commands.tui; print('textual' in sys.modules)"],
                         capture_output=True, text=True, timeout=30)
    assert out.stdout.strip() == "False", out.stdout + out.stderr
