"""The UI's side of the interactive merger's helper process (light: no torch, numpy only when decoding).

:class:`PreviewClient` starts ``python -m dfl_tui.merge.preview_worker`` with pipes
for its standard input and output and its stderr in a log file, and exchanges one
request and one reply at a time (see that module for the protocol). Every call
blocks, so the UI makes them from thread workers; the helper exits when the pipe
closes, so it never outlives the UI.
"""

from __future__ import annotations

import io
import itertools
import json
import os
import subprocess
import sys
import threading
from pathlib import Path
from typing import Any

from ..errors import DflError


class PreviewClient:
    def __init__(self, workspace_root: str | os.PathLike, model: str = "", device: str = "auto",
                 log_path: str | os.PathLike | None = None, python: str | None = None) -> None:
        self.log_path = Path(log_path) if log_path else None
        if self.log_path is not None:
            self.log_path.parent.mkdir(parents=True, exist_ok=True)
        self._log = open(self.log_path, "ab") if self.log_path else open(os.devnull, "wb")
        cmd = [python or sys.executable, "-m", "dfl_tui.merge.preview_worker", str(workspace_root),
               "--model", model, "--device", device]
        self.proc = subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=self._log,
                                     close_fds=True)
        self._lock = threading.Lock()
        self._ids = itertools.count(1)
        self.info: dict[str, Any] | None = None

    def _where(self) -> str:
        return f" (see {self.log_path})" if self.log_path else ""

    def _read(self) -> tuple[dict[str, Any], dict[str, Any]]:
        assert self.proc.stdout is not None
        line = self.proc.stdout.readline()
        if not line:
            raise DflError("the merger's helper process stopped" + self._where())
        header = json.loads(line)
        n = int(header.get("nbytes") or 0)
        arrays: dict[str, Any] = {}
        if n:
            data = self.proc.stdout.read(n)
            if len(data) != n:
                raise DflError("the merger's helper process stopped mid-reply" + self._where())
            import numpy as np

            with np.load(io.BytesIO(data)) as z:
                arrays = {k: z[k] for k in z.files}
        return header, arrays

    def wait_ready(self) -> dict[str, Any]:
        """Block until the helper has loaded the model; its facts, or DflError with its message."""
        with self._lock:
            header, _ = self._read()
        if header.get("type") != "ready":
            raise DflError(str(header.get("error") or "the merger's helper process failed to start") + self._where())
        self.info = header
        return header

    def request(self, cmd: str, **kw: Any) -> tuple[dict[str, Any], dict[str, Any]]:
        rid = next(self._ids)
        msg = json.dumps({"id": rid, "cmd": cmd, **kw}, default=str).encode() + b"\n"
        with self._lock:
            if self.proc.poll() is not None or self.proc.stdin is None:
                raise DflError("the merger's helper process is not running" + self._where())
            try:
                self.proc.stdin.write(msg)
                self.proc.stdin.flush()
            except (BrokenPipeError, OSError):
                raise DflError("the merger's helper process stopped" + self._where()) from None
            while True:
                header, arrays = self._read()
                if header.get("id") in (rid, None):
                    return header, arrays

    def render(self, frame: str, settings: dict[str, Any], width: int, height: int, zoom: float = 1.0,
               label: bool = False, smooth: int | None = None) -> tuple[dict[str, Any], dict[str, Any]]:
        """``smooth``: the merge's face smoothing (None: as before)."""
        extra = {} if smooth is None else {"smooth": int(smooth)}
        return self.request("render", frame=frame, settings=settings, width=int(width), height=int(height),
                            zoom=float(zoom), label=bool(label), **extra)

    def alive(self) -> bool:
        return self.proc.poll() is None

    def close(self, timeout: float = 3.0) -> None:
        """Ask the helper to quit; stop it if it does not."""
        try:
            if self.proc.poll() is None and self.proc.stdin is not None:
                self.proc.stdin.write(b'{"cmd": "quit"}\n')
                self.proc.stdin.flush()
                self.proc.stdin.close()
        except (BrokenPipeError, OSError, ValueError):
            pass
        try:
            self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.proc.terminate()
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
        for f in (self.proc.stdout, self._log):
            try:
                if f is not None:
                    f.close()
            except OSError:
                pass
