"""Plain ``dfl-tui`` takes the TUI's options as the README shows (``dfl-tui --open 5 --theme ...``)."""

from __future__ import annotations

import pytest

from dfl_tui import cli
from dfl_tui.commands import tui as tuicmd


@pytest.mark.parametrize("argv, open_step, theme, colors, ws", [
    (["--open", "5"], "5", None, "auto", None),
    (["--theme", "dfl-light", "--colors", "256"], None, "dfl-light", "256", None),
    (["-w", "W", "--open", "4.2"], "4.2", None, "auto", "W"),
    (["--workspace=W", "--colors", "truecolor", "--open", "train"], "train", None, "truecolor", "W"),
])
def test_global_tui_options_work_without_the_word_tui(monkeypatch, argv, open_step, theme, colors, ws):
    seen = {}
    monkeypatch.setattr(tuicmd, "run", lambda args: seen.setdefault("args", args) and 0)
    assert cli.main(argv) == 0
    args = seen["args"]
    assert args.command == "tui" and args.open_step == open_step and args.theme == theme and args.colors == colors
    assert getattr(args, "workspace", None) == ws


def test_commands_and_help_are_left_alone():
    assert cli.default_to_tui(["status"]) == ["status"]
    assert cli.default_to_tui(["-w", "W", "status", "--json"]) == ["-w", "W", "status", "--json"]
    assert cli.default_to_tui(["--help"]) == ["--help"]
    assert cli.default_to_tui(["--version"]) == ["--version"]
    assert cli.default_to_tui([]) == []
    assert cli.default_to_tui(["--keys"]) == ["tui", "--keys"]
