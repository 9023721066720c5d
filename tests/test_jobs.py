"""The jobs engine: run folders, detach, cancel, crashes, parents that die."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path


from dfl_tui import jobs
from dfl_tui.jobs.rundir import RunDir
from dfl_tui.jobs.selftest import SelfTestOptions
from dfl_tui.workspace import Workspace


def _wait_for(pred, timeout=20.0, step=0.05):
    t0 = time.monotonic()
    while time.monotonic() - t0 < timeout:
        if pred():
            return True
        time.sleep(step)
    return False


def test_job_runs_in_its_own_process_and_reports(tmp_path):
    ws = Workspace.open(tmp_path / "ws")
    run = jobs.start(ws, "selftest", SelfTestOptions(items=12, delay=0.01))
    st = jobs.wait(run, timeout=30)
    assert st["state"] == "done", st
    assert st["pid"] != os.getpid()
    assert st["result"] == {"counted": 12}
    assert st["progress"]["done"] == 12 and st["progress"]["counts"] == {"even": 6}
    # status.json turns final just before the closing "state" event is appended: give it a moment
    assert _wait_for(lambda: [e["type"] for e in run.read_events()[0]][-1:] == ["state"] and
                     len([e for e in run.read_events()[0] if e["type"] == "state"]) >= 2)
    events, _ = run.read_events()
    kinds = [e["type"] for e in events]
    assert kinds[0] == "state" and "stage" in kinds and "progress" in kinds and kinds[-1] == "state"
    assert "counted 12 items" in run.log_path.read_text()
    assert json.loads(run.spec_path.read_text())["options"]["items"] == 12


def test_crash_is_recorded_with_traceback(tmp_path):
    ws = Workspace.open(tmp_path / "ws")
    run = jobs.start(ws, "selftest", SelfTestOptions(items=5, crash_at=2))
    st = jobs.wait(run, timeout=30)
    assert st["state"] == "failed"
    assert "selftest crash at item 2" in st["error"]
    assert "Traceback" in st["traceback"] and "run_selftest" in st["traceback"]
    listed = {j["id"]: j for j in jobs.list_jobs(ws)}
    assert listed[run.id]["state"] == "failed" and "crash" in listed[run.id]["error"]


def test_user_error_is_recorded_without_being_called_a_crash(tmp_path):
    ws = Workspace.open(tmp_path / "ws")
    st = jobs.run_inline(ws, "selftest", SelfTestOptions(items=5, fail_at=1))
    assert st["state"] == "failed" and st["error"].startswith("selftest: item 1 is bad")


def test_cancel_stops_cleanly(tmp_path):
    ws = Workspace.open(tmp_path / "ws")
    marker = tmp_path / "marker"
    run = jobs.start(ws, "selftest", SelfTestOptions(items=500, delay=0.02, marker=str(marker)), detach=True)
    assert _wait_for(lambda: (run.read_status().get("progress") or {}).get("done", 0) >= 3)
    assert jobs.cancel(run)
    st = jobs.wait(run, timeout=30)
    assert st["state"] == "cancelled"
    assert marker.exists() and 0 < int(marker.read_text()) < 500  # it ran its clean-up


def test_cancel_by_control_file_alone(tmp_path):
    ws = Workspace.open(tmp_path / "ws")
    run = jobs.start(ws, "selftest", SelfTestOptions(items=500, delay=0.02))
    assert _wait_for(lambda: run.read_status().get("state") == "running")
    run.request("cancel")
    assert jobs.wait(run, timeout=30)["state"] == "cancelled"


def test_sigkilled_job_shows_as_lost(tmp_path):
    ws = Workspace.open(tmp_path / "ws")
    run = jobs.start(ws, "selftest", SelfTestOptions(items=500, delay=0.02))
    assert _wait_for(lambda: run.read_status().get("state") == "running")
    os.kill(run.read_status()["pid"], signal.SIGKILL)
    assert _wait_for(lambda: run.read_status()["state"] == "lost")
    assert "job.log" in run.read_status()["error"]


_PARENT = textwrap.dedent(
    """
    import sys, time
    from dfl_tui import jobs
    from dfl_tui.jobs.selftest import SelfTestOptions
    from dfl_tui.workspace import Workspace
    ws = Workspace.open(sys.argv[1])
    run = jobs.start(ws, "selftest", SelfTestOptions(items=int(sys.argv[3]), delay=0.02, marker=sys.argv[4]),
                     detach=sys.argv[2] == "detach")
    print(run.path, flush=True)
    time.sleep(60)
    """
)


def _start_parent(tmp_path, mode, items, marker):
    script = tmp_path / "parent.py"
    script.write_text(_PARENT)
    env = dict(os.environ, PYTHONPATH=str(Path(__file__).resolve().parents[1]))
    parent = subprocess.Popen([sys.executable, str(script), str(tmp_path / "ws"), mode, str(items), str(marker)],
                              stdout=subprocess.PIPE, text=True, start_new_session=True, env=env)
    run = RunDir(Path(parent.stdout.readline().strip()))
    assert _wait_for(lambda: run.read_status().get("state") == "running")
    return parent, run


def test_detached_job_outlives_its_parent_and_a_hangup(tmp_path):
    marker = tmp_path / "marker"
    parent, run = _start_parent(tmp_path, "detach", 60, marker)
    os.killpg(parent.pid, signal.SIGHUP)  # the terminal going away hits the parent's whole process group
    os.kill(parent.pid, signal.SIGKILL)
    parent.wait()
    assert run.is_alive()
    st = jobs.wait(run, timeout=30)
    assert st["state"] == "done" and marker.read_text().strip() == "60"
    assert st["detached"] is True


def test_attached_job_stops_when_its_parent_dies(tmp_path):
    marker = tmp_path / "marker"
    parent, run = _start_parent(tmp_path, "attach", 2000, marker)
    os.kill(parent.pid, signal.SIGKILL)
    parent.wait()
    assert _wait_for(lambda: run.read_status()["state"] in ("cancelled", "lost", "done"), timeout=20)
    st = run.read_status()
    assert st["state"] == "cancelled" and "exited" in st.get("message", "")
    assert int(marker.read_text()) < 2000


def test_cli_runs_a_step_follows_it_and_lists_jobs(tmp_path):
    ws = tmp_path / "ws"
    env = dict(os.environ, PYTHONPATH=str(Path(__file__).resolve().parents[1]))
    # selftest has no CLI command; run it through the API, then look at it with the CLI.
    run = jobs.start(Workspace.open(ws), "selftest", SelfTestOptions(items=3, delay=0.0))
    jobs.wait(run, timeout=30)
    out = subprocess.run([sys.executable, "-m", "dfl_tui", "-w", str(ws), "jobs"], capture_output=True, text=True, env=env)
    assert out.returncode == 0 and run.id in out.stdout and "done" in out.stdout
    out = subprocess.run([sys.executable, "-m", "dfl_tui", "-w", str(ws), "jobs", "show", run.id[-12:], "--json"],
                         capture_output=True, text=True, env=env)
    assert json.loads(out.stdout)["result"] == {"counted": 3}
