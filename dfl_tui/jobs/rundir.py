"""A job's run folder: the only thing a job and its watchers share.

```
<workspace>/.jobs/<id>/
  job.json        what to run: step, options, workspace (written once, before start)
  status.json     state, progress, error (replaced atomically by the job)
  events.jsonl    progress and log events (appended, one JSON object per line)
  job.log         everything the job printed (stdout and stderr)
  lock            held with flock by the running job: free lock + "running" = crashed
  control/        files a watcher drops to ask for something: cancel, save, backup, preview
  reserve         space set aside while the job runs, freed to write its last status on a full disk
```

On a full disk the job's own report must still get out: the reserve is freed and the status
written again; failing that, a short status is written over the old one in place (its blocks are
already allocated). A progress event that cannot be written is dropped, never the job.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import json
import os
import secrets
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..util.atomic import append_jsonl, atomic_write_json, is_disk_full, read_json, read_jsonl

RESERVE_BYTES = 256 << 10
ACTIVE_STATES = ("queued", "running")
FINAL_STATES = ("done", "failed", "cancelled", "lost")


def new_job_id(step: str) -> str:
    return time.strftime("%Y%m%d-%H%M%S") + f"-{step}-{secrets.token_hex(2)}"


@dataclass(frozen=True)
class RunDir:
    path: Path

    @property
    def id(self) -> str:
        return self.path.name

    @property
    def spec_path(self) -> Path:
        return self.path / "job.json"

    @property
    def status_path(self) -> Path:
        return self.path / "status.json"

    @property
    def events_path(self) -> Path:
        return self.path / "events.jsonl"

    @property
    def log_path(self) -> Path:
        return self.path / "job.log"

    @property
    def lock_path(self) -> Path:
        return self.path / "lock"

    @property
    def control_dir(self) -> Path:
        return self.path / "control"

    # -- spec and status ----------------------------------------------------------
    def spec(self) -> dict[str, Any]:
        return read_json(self.spec_path, {}) or {}

    def read_status(self) -> dict[str, Any]:
        st = read_json(self.status_path, None)
        if st is None:
            spec = self.spec()
            st = {"id": self.id, "step": spec.get("step"), "title": spec.get("title"), "state": "queued"}
        # A job that says it runs but holds no lock has died without a word (SIGKILL, OOM killer, power).
        if st.get("state") in ACTIVE_STATES and self.lock_path.exists() and not self.is_alive():
            st = dict(st)
            if st.get("state") == "running" or time.time() - float(st.get("created", 0) or 0) > 30:
                st["state"] = "lost"
                st.setdefault("error", "the job process ended without reporting (killed, or out of memory?); see job.log")
        return st

    @property
    def reserve_path(self) -> Path:
        return self.path / "reserve"

    def write_status(self, status: dict[str, Any]) -> None:
        """Replace status.json atomically; on a full disk free the reserve and retry, then write a short
        status in place (see the module docstring). Raises only if even that fails."""
        final = status.get("state") in FINAL_STATES
        for attempt in range(2):  # the second, on a full disk, with the reserve freed for the last words
            if attempt and not (final and self.release_reserve()):
                break
            try:
                atomic_write_json(self.status_path, status, fsync=False)
                return
            except OSError as exc:
                if not is_disk_full(exc):
                    raise
        short = {k: v for k, v in status.items() if k not in ("traceback", "options", "progress", "result")}
        data = json.dumps(short, default=str).encode()
        with open(self.status_path, "r+b") as fh:  # its blocks exist: overwriting needs no new space
            fh.write(data)
            fh.truncate(len(data))

    def append_event(self, event: dict[str, Any]) -> None:
        event.setdefault("t", time.time())
        try:
            append_jsonl(self.events_path, event)
        except OSError as exc:
            if not is_disk_full(exc):
                raise
            # A full disk: a final event (the state, the error) is worth the reserve; progress is not.
            if event.get("type") in ("state", "log") and self.release_reserve():
                with contextlib.suppress(OSError):
                    append_jsonl(self.events_path, event)

    def reserve(self, size: int = RESERVE_BYTES) -> None:
        """Set space aside for the job's last words (best effort: a full disk now just means no reserve)."""
        try:
            fd = os.open(self.reserve_path, os.O_WRONLY | os.O_CREAT, 0o644)
            try:
                os.posix_fallocate(fd, 0, size)
            finally:
                os.close(fd)
        except (OSError, AttributeError):
            with contextlib.suppress(OSError):
                self.reserve_path.unlink()

    def release_reserve(self) -> bool:
        """Free the reserve (True when there was one to free)."""
        try:
            self.reserve_path.unlink()
            return True
        except OSError:
            return False

    def read_events(self, offset: int = 0) -> tuple[list[dict[str, Any]], int]:
        return read_jsonl(self.events_path, offset)

    def log_tail(self, lines: int = 40) -> str:
        try:
            with open(self.log_path, "rb") as fh:
                fh.seek(0, os.SEEK_END)
                size = fh.tell()
                fh.seek(max(0, size - 64 * 1024))
                data = fh.read().decode("utf-8", "replace")
        except OSError:
            return ""
        return "\n".join(data.splitlines()[-lines:])

    # -- liveness -----------------------------------------------------------------
    def acquire_lock(self) -> int:
        """Take the life lock (the job does this first); the fd must stay open."""
        fd = os.open(self.lock_path, os.O_RDWR | os.O_CREAT, 0o644)
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        os.ftruncate(fd, 0)
        os.write(fd, str(os.getpid()).encode())
        return fd

    def is_alive(self) -> bool:
        """True while the job process holds its lock."""
        try:
            fd = os.open(self.lock_path, os.O_RDONLY)
        except OSError:
            return False
        try:
            fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
        except OSError as exc:
            if exc.errno in (errno.EAGAIN, errno.EACCES, errno.EWOULDBLOCK):
                return True
            return False
        else:
            fcntl.flock(fd, fcntl.LOCK_UN)
            return False
        finally:
            os.close(fd)

    # -- control files ------------------------------------------------------------
    def request(self, what: str) -> None:
        """Drop a control file (cancel, save, backup, preview); the job polls for them."""
        self.control_dir.mkdir(parents=True, exist_ok=True)
        (self.control_dir / what).write_text(str(time.time()))

    def take_request(self, what: str) -> bool:
        """Consume a control file if present (the job side)."""
        p = self.control_dir / what
        try:
            p.unlink()
            return True
        except FileNotFoundError:
            return False

    def has_request(self, what: str) -> bool:
        return (self.control_dir / what).exists()

    def clear_requests(self) -> None:
        with contextlib.suppress(OSError):
            for p in self.control_dir.iterdir():
                p.unlink()


def list_run_dirs(jobs_dir: Path) -> list[RunDir]:
    """Run folders, newest first."""
    try:
        dirs = [p for p in jobs_dir.iterdir() if p.is_dir() and (p / "job.json").exists()]
    except OSError:
        return []
    def created(p: Path) -> tuple[float, str]:
        # Ids order only to the second; the spec's creation time breaks ties.
        spec = read_json(p / "job.json", {}) or {}
        return float(spec.get("created") or 0.0), p.name

    return [RunDir(p) for p in sorted(dirs, key=created, reverse=True)]
