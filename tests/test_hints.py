"""Log lines that tell how to undo give the TUI's way next to the command line's."""

from __future__ import annotations

from dfl_tui.faceset.trash import set_aside, undo_hint


class Log:
    def __init__(self) -> None:
        self.lines: list[str] = []

    def log(self, text: str) -> None:
        self.lines.append(text)


def test_undo_hints_name_the_tui_action_and_the_command(tmp_path):
    assert undo_hint("src") == "u in the reviewer, or dfl-tui faceset src undo"
    h = undo_hint("dst", "data_dst/aligned_debug")
    assert "Faceset tools in the TUI: action undo, folder data_dst/aligned_debug" in h
    assert "dfl-tui faceset dst undo --folder data_dst/aligned_debug" in h
    (tmp_path / "a.jpg").write_bytes(b"x")
    log = Log()
    set_aside(tmp_path, ["a.jpg"], "test", log, undo=undo_hint("src"))
    assert log.lines[-1].endswith("(undo: u in the reviewer, or dfl-tui faceset src undo)")
