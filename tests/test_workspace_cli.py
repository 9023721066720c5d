"""Workspace layout, status, clear-workspace, and a light, fast CLI."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from dfl_tui import options as optmod
from dfl_tui.workspace import Workspace

ROOT = Path(__file__).resolve().parents[1]


def _cli(*args, input=None, env=None):
    e = dict(os.environ, PYTHONPATH=str(ROOT))
    e.update(env or {})
    return subprocess.run([sys.executable, "-m", "dfl_tui", *args], capture_output=True, text=True, input=input, env=e)


def _fill(ws: Workspace) -> None:
    for side in ("src", "dst"):
        ws.frames(side).mkdir(parents=True)
        ws.aligned(side).mkdir()
        (ws.root / f"data_{side}.mp4").write_bytes(b"\0" * 10)
    for i in range(3):
        (ws.frames("src") / f"{i + 1:05d}.png").write_bytes(b"x")
        (ws.aligned("src") / f"{i + 1:05d}_0.jpg").write_bytes(b"x")
    (ws.frames("dst") / "00001.png").write_bytes(b"x")
    (ws.model_dir / "demo").mkdir(parents=True)
    (ws.model_dir / "demo" / "options.json").write_text(json.dumps({"model": "Quick96"}))
    (ws.model_dir / "demo" / "state.json").write_text(json.dumps({"iteration": 42}))


def test_layout_names_are_deepfacelabs(tmp_path):
    ws = Workspace.open(tmp_path)
    assert ws.video("src").name == "data_src.mp4"
    assert ws.aligned("dst") == tmp_path / "data_dst" / "aligned"
    assert ws.aligned_debug("dst") == tmp_path / "data_dst" / "aligned_debug"
    assert ws.merged == tmp_path / "data_dst" / "merged" and ws.merged_mask.name == "merged_mask"
    assert ws.result.name == "result.mp4" and ws.model_dir.name == "model"
    (tmp_path / "data_dst.mkv").write_bytes(b"")
    assert ws.video("dst").name == "data_dst.mkv"
    with pytest.raises(ValueError):
        ws.frames("left")


def test_status_counts_what_is_there(tmp_path):
    ws = Workspace.open(tmp_path / "w")
    _fill(ws)
    st = ws.status()
    assert st["src_frames"] == 3 and st["src_faces"] == 3 and st["dst_frames"] == 1
    assert st["models"][0]["name"] == "demo" and st["models"][0]["iteration"] == 42
    out = _cli("-w", str(ws.root), "status", "--json")
    assert out.returncode == 0 and json.loads(out.stdout)["src_faces"] == 3
    out = _cli("-w", str(ws.root), "status")
    assert "3 faces" in out.stdout and "Quick96" in out.stdout
    out = _cli("status", "--json", env={"DFL_WORKSPACE": str(ws.root)})
    assert json.loads(out.stdout)["workspace"] == str(ws.root)


def test_clear_workspace_asks_first(tmp_path):
    ws = Workspace.open(tmp_path / "w")
    _fill(ws)
    (ws.root / "README.md").write_text("keep me")
    out = _cli("-w", str(ws.root), "clear-workspace")  # no TTY, no --yes: refuses
    assert out.returncode == 1 and ws.frames("src").exists()
    out = _cli("-w", str(ws.root), "clear-workspace", "--yes")
    assert out.returncode == 0, out.stderr
    assert [p.name for p in ws.root.iterdir()] == ["README.md"]


def test_help_and_status_do_not_import_heavy_modules(tmp_path):
    code = (
        "import sys; from dfl_tui import cli; cli.build_parser().format_help();"
        "sys.argv=['dfl-tui','-w',%r,'status']; cli.main();"
        "heavy=[m for m in ('torch','cv2','numpy','textual','av') if m in sys.modules]; print('HEAVY', heavy)"
    ) % str(tmp_path)
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=dict(os.environ, PYTHONPATH=str(ROOT)))
    assert out.returncode == 0, out.stderr
    assert "HEAVY []" in out.stdout


def test_every_step_has_options_with_help(tmp_path):
    from dfl_tui import steps

    for step in steps.STEPS.values():
        try:
            cls = step.options_cls()
        except ModuleNotFoundError:
            assert not step.available, f"{step.name} is marked available but its options module is missing"
            continue
        for spec in optmod.describe(cls):
            assert spec.help, f"{step.name}.{spec.name} has no help text"


def test_options_validate_ranges_and_choices():
    from dataclasses import dataclass

    from dfl_tui.options import OptionError, opt

    @dataclass
    class O:
        side: str = opt("src", "which set", choices=("src", "dst"), positional=True)
        fps: int = opt(0, "frames per second", min=0, max=240)
        debug: bool = opt(True, "debug images")
        scale: float = opt(1.0, "scale", min=0.5, max=2.0, fixed=True)

    assert optmod.from_dict(O, {"fps": "25", "debug": "no"}) == O(fps=25, debug=False)
    with pytest.raises(OptionError, match="fps"):
        optmod.from_dict(O, {"fps": 999})
    with pytest.raises(OptionError, match="side"):
        optmod.from_dict(O, {"side": "left"})
    new, kept = optmod.merge(O(), {"fps": 5, "scale": 1.5})
    assert new.fps == 5 and new.scale == 1.0 and kept == ["scale"]
    import argparse

    p = argparse.ArgumentParser()
    optmod.add_arguments(p, O)
    ns = p.parse_args(["dst", "--fps", "12", "--no-debug"])
    assert optmod.from_namespace(O, ns) == O(side="dst", fps=12, debug=False)
