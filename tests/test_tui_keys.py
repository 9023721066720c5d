"""Key bindings: every screen's ids listed by ``dfl-tui tui --keys`` and unique; the merger's keys
come from one table, so a keymap remap changes the binding, the settings panel and the help."""

from __future__ import annotations

import os
import subprocess
import sys
from collections import Counter

from dfl_tui.tui.keymap import all_bindings, binding_sections
from dfl_tui.workspace import Workspace
from tui_fixtures import make_app, wait_for


def test_every_screen_has_bindings_with_unique_ids():
    sections = binding_sections()
    names = {cls.__name__ for _s, cls in sections}
    assert {"DflApp", "HomeScreen", "ReviewScreen", "FaceGrid", "XSegEditorScreen", "MergerScreen",
            "ManualExtractScreen", "TrainMonitorScreen", "StepScreen", "JobsScreen"} <= names
    app_ids = [b.id for b in all_bindings(sections[0][1])]
    owner: dict[str, str] = {}
    for section, cls in sections:
        bindings = all_bindings(cls)
        assert all(b.id for b in bindings), f"{section}: a binding without an id: {[b.key for b in bindings if not b.id]}"
        ids = [b.id for b in bindings] + [b.id for w in getattr(cls, "HELP_WIDGETS", ()) for b in all_bindings(w)]
        if cls.__name__ != "DflApp":
            ids += app_ids  # the app's keys work on every screen
        dups = [i for i, n in Counter(ids).items() if n > 1]
        assert not dups, f"{section}: binding ids used twice: {dups}"
        for b in cls.__dict__.get("BINDINGS", []):
            assert owner.setdefault(b.id, cls.__name__) == cls.__name__, f"{b.id} declared by two classes"


def test_keys_command_lists_every_screen():
    out = subprocess.run([sys.executable, "-m", "dfl_tui", "tui", "--keys"], capture_output=True, text=True,
                         timeout=120, env={**os.environ, "DFL_TUI_CONFIG_DIR": "/nonexistent"})
    assert out.returncode == 0, out.stderr
    for bid in ("app.help", "home.goto-dot", "review.confirm-yes", "xseg.close", "xseg.escape", "merger.erode-up",
                "merger.view", "manual.left", "train.next-view", "# face_grid"):
        assert bid in out.stdout, bid


async def test_merger_bindings_panel_and_help_follow_a_keymap_remap(tmp_path):
    from dfl_tui.tui.screens.merger import MergerScreen

    ws = Workspace.open(tmp_path / "ws").ensure()
    app = make_app(ws, tmp_path)
    async with app.run_test(size=(80, 24)) as pilot:
        app.keymap_user = {"merger.erode-up": "9", "merger.erode-down": "8"}
        app.set_keymap(app.keymap_user)
        screen = MergerScreen()
        app.push_screen(screen)
        await wait_for(pilot, lambda: "No trained model" in screen.last_message, what="the merger to start")
        panel = str(screen.query_one("#merger-settings").render())
        erode = next(line for line in panel.splitlines() if line.startswith("erode"))
        assert erode.split()[-2:] == ["9", "8"], erode
        calls = []
        screen.action_step = lambda name, delta: calls.append((name, delta))  # type: ignore[method-assign]
        await pilot.press("9", "8")
        assert calls == [("erode_mask", 1), ("erode_mask", -1)]
        await pilot.press("tab")
        help_ = str(screen.query_one("#merger-help").render())
        assert "9 / 8 (x5: W / S)" in help_ and "erode + / -" in help_
        # the header names the current view, first, so that 80 columns show it
        await pilot.press("tab", "v")
        title = screen.query_one("#merger-title")
        assert "view: original" in str(title.render()) and title.region.width <= 80
        assert str(title.render()).index("view: original") < 20


def test_side_by_side_puts_original_and_result_next_to_each_other():
    import numpy as np

    from dfl_tui.tui.screens.merger import SIDE_GAP, side_by_side

    before = np.full((10, 6, 3), 50, np.uint8)
    after = np.full((8, 6), 200, np.uint8)  # a grey mask-like picture, shorter
    both = side_by_side(before, after)
    assert both.shape == (10, 6 + SIDE_GAP + 6, 3)
    assert (both[:, :6] == 50).all() and (both[1:9, 6 + SIDE_GAP:] == 200).all() and (both[0, 6 + SIDE_GAP:] == 0).all()
