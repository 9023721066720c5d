"""``dfl-tui bench merge`` runs end to end (tiny settings) and says when its model is untrained."""

from __future__ import annotations

import json

import pytest

from dfl_tui.cli import main

pytestmark = pytest.mark.slow


def test_bench_merge_prints_frames_per_second(tmp_path, capsys):
    rc = main(["-w", str(tmp_path / "none"), "bench", "merge", "--frames", "2", "--sizes", "demo", "--batch-size", "2",
               "--device", "cpu", "--json"])
    assert rc == 0
    r = json.loads(capsys.readouterr().out)
    assert r["fresh_model"] is True and r["model_type"] == "Quick96" and r["device"] == "cpu"
    row = r["sizes"]["demo"]
    assert (row["width"], row["height"]) == (512, 512) and row["merged"] == 2 and row["frames_per_s"] > 0
    assert r["inference_ms_per_face"] > 0 and row["watermark_ms"] > 0
    assert main(["bench", "merge", "--sizes", "8k"]) == 2
