"""scripts/dfl-speed-compare.py: reads DeepFaceLab's trainer lines and runs both trainers in turns.

DeepFaceLab itself is not installed here: a stand-in main.py prints its lines (as they look in a real
run on this VM) and the dfl-tui side runs for real on the demo faces, so the orchestration is tested."""

from __future__ import annotations

import importlib.util
import json
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
pytestmark = pytest.mark.slow


def _module():
    spec = importlib.util.spec_from_file_location("dfl_speed_compare", ROOT / "scripts" / "dfl-speed-compare.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def test_reads_deepfacelab_iteration_lines():
    mod = _module()
    log = ("[22:13:45][#000011][2710ms][4.0779][3.8436]\r[22:13:48][#000012][2740ms][3.7621][3.7425]\r"
           "[22:15:01][#000041][12.345s][1.0][1.0]\n")  # over 10 s DeepFaceLab prints seconds: not an ms line
    assert mod.iteration_ms(log) == {11: 2710, 12: 2740}


def test_runs_both_trainers_in_turns(tmp_path, capsys):
    from train_fixtures import make_workspace

    ws = make_workspace(tmp_path / "ws", n=4, size=96, face_type="full_face").root
    fake = tmp_path / "dfl"
    fake.mkdir()
    (fake / "main.py").write_text(
        "import sys, time\n"
        "assert '--model' in sys.argv and sys.argv[sys.argv.index('--model') + 1] == 'Quick96'\n"
        "for i in range(1, 9):\n"
        "    sys.stdout.write('[00:00:0%d][#%06d][%04dms][1.0][1.0]\\r' % (i, i, 2000 + 100 * i)); sys.stdout.flush()\n"
        "time.sleep(60)\n")
    capsys.readouterr()
    mod = _module()
    rc = mod.main(["--dfl", str(fake), "--dfl-python", sys.executable, "-w", str(ws), "--iters", "8", "--rounds", "1",
                   "--json", "--bench-args", "--iters 2 --warmup 1 --no-flops"])
    doc = json.loads(capsys.readouterr().out)
    assert rc == 0, doc
    [row] = doc["rounds"]
    assert row["deepfacelab"]["iterations"] == 5 and row["deepfacelab"]["median_ms"] == 2600  # 3 warm-up dropped
    assert row["dfl_tui"]["iteration_ms"] > 0 and row["dfl_tui"]["bare_step_ms"] > 0
    assert row["ratio"] == pytest.approx(row["dfl_tui"]["iteration_ms"] / 2600)
