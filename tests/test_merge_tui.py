"""The interactive merger screen: a real model in the helper process, keys, views, session, background merge."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from dfl_tui.merge.session import SESSION_FILE
from dfl_tui.tui import registry
from merge_fixtures import make_dst, save_tiny_model
from tui_fixtures import make_app, wait_for

pytestmark = pytest.mark.slow


def test_merger_screen_is_registered_and_light():
    assert registry.SCREENS["merge"] == "dfl_tui.tui.screens.merger:MergerScreen"
    assert registry.has_screen("merge")
    code = ("import sys; import dfl_tui.tui.screens.merger, dfl_tui.merge.preview_client, dfl_tui.merge.session; "
            "print(sorted(m for m in ('torch', 'cv2', 'numpy') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert out.stdout.strip() == "[]", out.stdout + out.stderr


async def test_merger_tunes_frames_saves_the_session_and_merges(tmp_path):
    from dfl_tui.tui.screens.merger import MergerScreen

    info = make_dst(tmp_path / "ws", 4, no_face=(2,))
    ws = info["ws"]
    save_tiny_model(ws, "tiny")
    app = make_app(ws, tmp_path)
    async with app.run_test(size=(130, 40)) as pilot:
        app.open_step("merge")
        await pilot.pause()
        screen = app.screen
        assert isinstance(screen, MergerScreen)
        await wait_for(pilot, lambda: screen.render_count >= 1 and screen.image.strips, timeout=90,
                       what="the first merged frame")
        assert screen.info["model"] == "tiny" and screen.stem == "00001"
        assert "1 face" in screen.last_message
        first = screen.render_count
        # DeepFaceLab's keys change the settings of this frame
        await pilot.press("3", "w", "W", "x", "c")
        assert screen.settings.mode == "seamless" and screen.settings.erode_mask == 6
        assert screen.settings.mask_mode == "learned-prd" and screen.settings.color_transfer == "lct"
        await wait_for(pilot, lambda: screen.render_count > first, timeout=30, what="a re-render")
        # views: result, original, mask
        await pilot.press("v")
        assert screen.view == "before"
        await pilot.press("b")
        assert screen.view == "after"
        await pilot.press("equals_sign")
        assert screen.zoom_i == 1
        # side by side (a render at half the width, both pictures in one), full screen, esc back from it
        await pilot.press("B")
        assert screen.view == "side" and "view: original | result" in str(screen.query_one("#merger-title").render())
        await wait_for(pilot, lambda: screen._layout == "side", timeout=60, what="the side-by-side render")
        await pilot.press("space")
        assert screen.full and not screen.query_one("#merger-panel").display
        assert "full screen" in str(screen.query_one("#merger-title").render())
        await pilot.press("escape")
        assert not screen.full and isinstance(app.screen, MergerScreen) and screen.query_one("#merger-panel").display
        await pilot.press("B")
        assert screen.view == "after"
        # next frame inherits; "/" carries the settings over explicitly; the no-face frame says so
        await pilot.press("full_stop")
        assert screen.stem == "00002" and screen.settings.mode == "seamless"
        await pilot.press("slash")
        assert screen.stem == "00003"
        await wait_for(pilot, lambda: "copied through" in screen.last_message, timeout=30, what="the no-face note")
        await pilot.press("1")  # overlay from frame 3 on
        await pilot.press("comma", "comma")
        assert screen.stem == "00001" and screen.settings.mode == "seamless"
        await pilot.press("question_mark")  # seamless for all following frames
        assert all(screen.session.settings_for(s).mode == "seamless" for s in ("00002", "00003", "00004"))
        # face smoothing (merge --smooth) for the preview and the merge job: 50 -> 75
        assert screen.smooth == 50
        await pilot.press("exclamation_mark")
        assert screen.smooth == 75
        await pilot.press("tab")
        assert screen.query_one("#merger-help").has_class("shown")
        # merge everything in the background, with the session's per-frame settings
        await pilot.press("enter")
        from dfl_tui.tui.widgets.job_view import JobView

        jv = screen.query_one("#job", JobView)
        await wait_for(pilot, lambda: jv.display and jv.final, timeout=120, what="the merge job")
        client = screen.client
        await pilot.press("escape")
        await pilot.pause()
        assert not isinstance(app.screen, MergerScreen)
    # the session was saved in the model folder and records where we were
    data = json.loads((ws.model_dir / "tiny" / SESSION_FILE).read_text())
    assert data["current"] == "00001" and data["keyframes"]["00001"]["mode"] == "seamless"
    # the background job merged every frame (marked), and the helper process is gone
    assert sorted(p.name for p in ws.merged.glob("*.png")) == ["00001.png", "00002.png", "00003.png", "00004.png"]
    from dfl_tui import jobs as jobsmod

    assert [j["options"]["smooth"] for j in jobsmod.list_jobs(ws) if j["step"] == "merge"] == [75]
    client.proc.wait(timeout=10)
    assert client.proc.returncode is not None
