"""Jobs: every heavy step runs in its own process with a run folder.

* :func:`start` spawns ``python -m dfl_tui.jobs.runner`` for a step. Attached jobs
  stop when their parent goes; detached ones (``detach=True``) get their own
  session, so an SSH drop or a closed TUI does not touch them.
* :func:`list_jobs`, :func:`cancel` and :func:`follow` work on any job, started by
  anyone, from the files in its run folder.
* :func:`run_inline` runs a step in this process (tests, benchmarks) with the same
  run folder and reporting.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import Any, Callable, Iterator

from .. import options as optmod
from .. import steps as stepsmod
from ..util.atomic import atomic_write_json, disk_full, is_disk_full
from ..workspace import Workspace
from .context import JobContext, PrintReporter, Reporter
from .rundir import ACTIVE_STATES, FINAL_STATES, RunDir, list_run_dirs, new_job_id

__all__ = [
    "ACTIVE_STATES",
    "FINAL_STATES",
    "JobContext",
    "PrintReporter",
    "Reporter",
    "RunDir",
    "cancel",
    "create",
    "find",
    "follow",
    "list_jobs",
    "run_inline",
    "start",
    "wait",
]


def create(ws: Workspace, step_name: str, options: Any, *, detached: bool = False, title: str | None = None) -> RunDir:
    """Make a run folder for a step with validated options (nothing runs yet)."""
    step = stepsmod.get(step_name)
    if not isinstance(options, dict):
        options = optmod.to_dict(optmod.validate(options))
    else:
        options = optmod.to_dict(optmod.from_dict(step.options_cls(), options))
    try:
        return _create(ws, step_name, options, detached, title or step.title)
    except OSError as exc:
        if is_disk_full(exc):
            raise disk_full(ws.jobs_dir, f"{step_name} was not started: free some space, then start it again") \
                from None
        raise


def _create(ws: Workspace, step_name: str, options: dict[str, Any], detached: bool, title: str) -> RunDir:
    ws.ensure()
    run = RunDir(ws.jobs_dir / new_job_id(step_name))
    run.path.mkdir(parents=True)
    try:
        _write_spec(ws, run, step_name, options, detached, title)
    except BaseException:
        shutil.rmtree(run.path, ignore_errors=True)
        raise
    return run


def _write_spec(ws: Workspace, run: RunDir, step_name: str, options: dict[str, Any], detached: bool,
                title: str) -> None:
    spec = {
        "id": run.id,
        "step": step_name,
        "title": title,
        "options": options,
        "workspace": str(ws.root),
        "detached": detached,
        "created": time.time(),
        "argv": sys.argv,
    }
    atomic_write_json(run.spec_path, spec)
    run.write_status({"id": run.id, "step": step_name, "title": spec["title"], "state": "queued", "created": spec["created"],
                      "detached": detached, "options": options})


def start(ws: Workspace, step_name: str, options: Any, *, detach: bool = False, title: str | None = None,
          env: dict[str, str] | None = None) -> RunDir:
    """Start a step in a new process and return its run folder at once."""
    run = create(ws, step_name, options, detached=detach, title=title)
    cmd = [sys.executable, "-m", "dfl_tui.jobs.runner", str(run.path), "--parent-pid", str(os.getpid())]
    child_env = dict(os.environ)
    child_env.setdefault("PYTHONUNBUFFERED", "1")
    # Make the job importable exactly as this process imports dfl_tui (source checkouts included).
    pkg_root = str(Path(__file__).resolve().parents[2])
    child_env["PYTHONPATH"] = pkg_root + (os.pathsep + child_env["PYTHONPATH"] if child_env.get("PYTHONPATH") else "")
    if env:
        child_env.update(env)
    log = open(run.log_path, "ab")
    try:
        proc = subprocess.Popen(
            cmd,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            close_fds=True,
            start_new_session=detach,
            env=child_env,
            cwd=str(ws.root),
        )
    finally:
        log.close()
    st = run.read_status()
    st.update(pid=proc.pid)
    run.write_status(st)
    _CHILDREN[run.id] = proc
    return run


# Popen objects of attached jobs, so they are reaped (no zombies) when they end.
_CHILDREN: dict[str, subprocess.Popen] = {}


def reap() -> None:
    for key, proc in list(_CHILDREN.items()):
        if proc.poll() is not None:
            del _CHILDREN[key]


def run_inline(ws: Workspace, step_name: str, options: Any, *, reporter: Reporter | None = None) -> dict[str, Any]:
    """Run a step in this process, recording to a run folder like a real job.

    Returns the final status. Exceptions are recorded and re-raised.
    """
    from .runner import execute

    run = create(ws, step_name, options)
    status = run.read_status()
    status.update(pid=os.getpid(), started=time.time(), workspace=str(ws.root))
    ctx = JobContext(run, status)
    if reporter is not None and reporter.cancelled:
        ctx.request_stop(reporter.stop_reason or "cancelled")
    run_lock = run.acquire_lock()
    run.reserve()
    try:
        execute(run, ctx)
    finally:
        run.release_reserve()
        os.close(run_lock)
    return run.read_status()


def find(ws: Workspace, job_id: str) -> RunDir:
    """A job by id or unique id prefix/suffix."""
    runs = list_run_dirs(ws.jobs_dir)
    exact = [r for r in runs if r.id == job_id]
    if exact:
        return exact[0]
    matches = [r for r in runs if r.id.startswith(job_id) or r.id.endswith(job_id) or job_id in r.id]
    if len(matches) == 1:
        return matches[0]
    if not matches:
        raise KeyError(f"no job {job_id!r} in {ws.jobs_dir}")
    raise KeyError(f"{job_id!r} matches {len(matches)} jobs; give more of the id")


def list_jobs(ws: Workspace, *, limit: int | None = None, active_only: bool = False) -> list[dict[str, Any]]:
    """Status of every job in the workspace, newest first (crashed ones show as 'lost')."""
    out = []
    for run in list_run_dirs(ws.jobs_dir):
        st = run.read_status()
        st.setdefault("id", run.id)
        st["run_dir"] = str(run.path)
        if active_only and st.get("state") not in ACTIVE_STATES:
            continue
        out.append(st)
        if limit and len(out) >= limit:
            break
    return out


def cancel(run: RunDir, *, signal_too: bool = True) -> bool:
    """Ask a job to stop: a control file, and SIGTERM to its process. True if it was alive."""
    run.request("cancel")
    if not run.is_alive():
        return False
    pid = run.read_status().get("pid")
    if signal_too and pid:
        import signal

        try:
            os.kill(int(pid), signal.SIGTERM)
        except (ProcessLookupError, PermissionError):
            pass
    return True


def wait(run: RunDir, timeout: float | None = None, poll: float = 0.1) -> dict[str, Any]:
    """Block until the job reaches a final state (or the timeout); return its status."""
    t0 = time.monotonic()
    while True:
        reap()
        st = run.read_status()
        if st.get("state") in FINAL_STATES:
            return st
        proc = _CHILDREN.get(run.id)
        if proc is not None and proc.poll() is not None:
            # The process is gone: give it a moment to have written its last status.
            time.sleep(0.05)
            return run.read_status()
        if timeout is not None and time.monotonic() - t0 > timeout:
            return st
        time.sleep(poll)


def follow(run: RunDir, on_event: Callable[[dict[str, Any]], None] | None = None, poll: float = 0.2,
           stop: Callable[[], bool] | None = None) -> Iterator[dict[str, Any]]:
    """Yield events as the job writes them until it ends; ``stop()`` ends early."""
    offset = 0
    while True:
        events, offset = run.read_events(offset)
        for ev in events:
            if on_event:
                on_event(ev)
            yield ev
        st = run.read_status()
        if st.get("state") in FINAL_STATES:
            events, offset = run.read_events(offset)
            yield from events
            return
        proc = _CHILDREN.get(run.id)
        if proc is not None and proc.poll() is not None:
            time.sleep(0.05)
            events, offset = run.read_events(offset)
            yield from events
            return
        if stop is not None and stop():
            return
        time.sleep(poll)
