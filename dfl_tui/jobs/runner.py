"""The job process: ``python -m dfl_tui.jobs.runner RUN_DIR [--parent-pid PID]``.

It takes the run folder's life lock, sends its own output to ``job.log``, turns
SIGTERM/SIGINT/SIGHUP into a clean stop at the step's next safe point, runs the
step, and records how it ended (with the traceback of a crash).
"""

from __future__ import annotations

import argparse
import logging
import os
import signal
import socket
import sys
import threading
import time
import traceback
from pathlib import Path
from typing import Any

from .. import options as optmod
from .. import steps as stepsmod
from ..errors import DflError, JobCancelled
from ..util.atomic import disk_full, is_disk_full
from ..workspace import Workspace
from .context import JobContext, Reporter
from .rundir import RunDir


def _redirect_output(log_path: Path) -> None:
    """Point fds 1 and 2 at job.log so nothing (torch warnings, tqdm) reaches a terminal."""
    fd = os.open(log_path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    os.dup2(fd, 1)
    os.dup2(fd, 2)
    os.close(fd)
    sys.stdout = open(1, "w", buffering=1, encoding="utf-8", errors="replace", closefd=False)
    sys.stderr = open(2, "w", buffering=1, encoding="utf-8", errors="replace", closefd=False)
    devnull = os.open(os.devnull, os.O_RDONLY)
    os.dup2(devnull, 0)
    os.close(devnull)


def _watch_parent(ctx: Reporter, parent_pid: int) -> None:
    """An attached job stops when the CLI or TUI that started it is gone."""

    def loop() -> None:
        while not ctx.cancelled:
            if os.getppid() != parent_pid:
                ctx.request_stop("the process that started this job has exited")
                return
            time.sleep(1.0)

    threading.Thread(target=loop, name="parent-watch", daemon=True).start()


def execute(run: RunDir, ctx: JobContext) -> int:
    """Run the step named in job.json; return the process exit code."""
    spec = run.spec()
    step = stepsmod.get(spec["step"])
    ws = Workspace.open(spec["workspace"])
    ctx.workspace = ws  # type: ignore[attr-defined]
    try:
        opts = optmod.from_dict(step.options_cls(), spec.get("options") or {})
        ctx.set_state("running")
        _tidy(ws, opts, ctx)
        fn = step.run_fn()
        result = fn(ctx, opts)
        if isinstance(result, dict):
            ctx.result(**result)
        if ctx.cancelled:
            ctx.set_state("cancelled", ended=time.time(), message=ctx.stop_reason)
            return 130
        ctx.set_state("done", ended=time.time())
        return 0
    except JobCancelled as exc:
        ctx.log(f"stopped: {exc}")
        ctx.set_state("cancelled", ended=time.time(), message=str(exc))
        return 130
    except (DflError, optmod.OptionError) as exc:
        ctx.log(str(exc), "error")
        ctx.set_state("failed", ended=time.time(), error=str(exc), traceback=traceback.format_exc())
        return 1
    except MemoryError:
        msg = "out of memory: try a smaller batch size or resolution"
        ctx.log(msg, "error")
        ctx.set_state("failed", ended=time.time(), error=msg, traceback=traceback.format_exc())
        return 1
    except BaseException as exc:  # noqa: BLE001 - a crash must be recorded, whatever it is
        tb = traceback.format_exc()
        print(tb, file=sys.stderr, flush=True)
        msg = _friendly_error(exc)
        ctx.log(msg, "error")
        ctx.set_state("failed", ended=time.time(), error=msg, traceback=tb)
        return 1


def _tidy(ws: Workspace, opts: Any, ctx: JobContext) -> None:
    """Finish interrupted moves and remove temporary files of killed runs before the step reads anything."""
    from ..faceset.trash import tidy_folders

    extra = [Path(v) for v in (getattr(opts, k, None) for k in ("folder", "input_dir")) if isinstance(v, str) and v]
    try:
        tidy_folders([*ws.work_folders(), *extra], ctx.log)
    except Exception as exc:  # noqa: BLE001 - tidying must never keep a step from running
        ctx.warn(f"could not tidy the workspace before the step ({type(exc).__name__}: {exc})")


def _friendly_error(exc: BaseException) -> str:
    text = f"{type(exc).__name__}: {exc}"
    low = text.lower()
    if "out of memory" in low and ("cuda" in low or "gpu" in low or "hip" in low):
        return "the GPU ran out of memory: try a smaller batch size or resolution. (" + text.splitlines()[0][:200] + ")"
    if is_disk_full(exc):
        return str(disk_full(getattr(exc, "filename", None) or Path.cwd()))
    return text


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="dfl_tui.jobs.runner")
    ap.add_argument("run_dir")
    ap.add_argument("--parent-pid", type=int, default=0)
    ap.add_argument("--no-redirect", action="store_true")
    ns = ap.parse_args(argv)
    run = RunDir(Path(ns.run_dir))
    if not ns.no_redirect:
        _redirect_output(run.log_path)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s", stream=sys.stderr, force=True)
    try:
        lock_fd = run.acquire_lock()
    except OSError:
        print(f"job {run.id} is already running", file=sys.stderr)
        return 3
    spec = run.spec()
    status: dict[str, Any] = dict(run.read_status())
    status.update(
        id=run.id,
        step=spec.get("step"),
        title=spec.get("title"),
        state="starting",
        pid=os.getpid(),
        host=socket.gethostname(),
        detached=bool(spec.get("detached")),
        started=time.time(),
        workspace=spec.get("workspace"),
        options=spec.get("options"),
        log=str(run.log_path),
    )
    status.pop("error", None)
    ctx = JobContext(run, status)

    def on_signal(signum: int, _frame: Any) -> None:
        ctx.request_stop(f"received {signal.Signals(signum).name}")

    for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
        signal.signal(sig, on_signal)
    if ns.parent_pid and not spec.get("detached"):
        _watch_parent(ctx, ns.parent_pid)
    print(f"dfl-tui job {run.id}: step {spec.get('step')} pid {os.getpid()}", flush=True)
    run.reserve()
    try:
        code = execute(run, ctx)
    finally:
        run.release_reserve()
    os.close(lock_fd)
    return code


if __name__ == "__main__":
    sys.exit(main())
