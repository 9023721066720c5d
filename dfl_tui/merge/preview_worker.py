"""The interactive merger's helper process: ``python -m dfl_tui.merge.preview_worker WORKSPACE``.

The UI never imports torch; it starts this process (:class:`.preview_client.PreviewClient`)
and talks to it over its standard input and output:

* a request is one JSON line: ``{"id": 7, "cmd": "render", "frame": "00012",
  "settings": {...}, "width": 160, "height": 90, "zoom": 1, "label": false}``;
  other commands: ``info``, ``prefetch`` (``frames``, ``settings``), ``quit``;
* a reply is one JSON line (``{"type": "render", "id": 7, ..., "nbytes": N}``) followed
  by N bytes of an uncompressed ``.npz`` holding the images (``after``, ``before``, ``mask``).

The first reply, unrequested, is ``{"type": "ready", ...facts}`` or ``{"type": "error"}``.
While no request is waiting it predicts the frames after the one last shown, so
stepping forward is instant. Anything libraries print goes to stderr (the UI sends
it to a log file), never into the protocol. It exits when its input closes.
"""

from __future__ import annotations

import argparse
import io
import json
import os
import select
import sys
import traceback
from collections import deque
from typing import Any, BinaryIO


class _Lines:
    """Line reader on a raw fd that can tell whether a request is already waiting."""

    def __init__(self, fd: int) -> None:
        self.fd = fd
        self.buf = b""
        self.eof = False

    def waiting(self) -> bool:
        if b"\n" in self.buf or self.eof:
            return True
        r, _, _ = select.select([self.fd], [], [], 0)
        return bool(r)

    def readline(self) -> bytes | None:
        while b"\n" not in self.buf:
            chunk = os.read(self.fd, 65536)
            if not chunk:
                self.eof = True
                rest, self.buf = self.buf, b""
                return rest or None
            self.buf += chunk
        line, _, self.buf = self.buf.partition(b"\n")
        return line


def send(out: BinaryIO, header: dict[str, Any], arrays: dict[str, Any] | None = None) -> None:
    payload = b""
    if arrays:
        import numpy as np

        bio = io.BytesIO()
        np.savez(bio, **arrays)
        payload = bio.getvalue()
    header = dict(header, nbytes=len(payload))
    out.write(json.dumps(header, default=str).encode() + b"\n")
    if payload:
        out.write(payload)
    out.flush()


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m dfl_tui.merge.preview_worker")
    ap.add_argument("workspace")
    ap.add_argument("--model", default="")
    ap.add_argument("--device", default="auto")
    args = ap.parse_args(argv)

    # The protocol owns the real stdout; whatever else prints goes to stderr (the log).
    out = os.fdopen(os.dup(1), "wb")
    os.dup2(2, 1)
    sys.stdout = sys.stderr
    lines = _Lines(sys.stdin.fileno())

    from ..errors import DflError
    from ..workspace import Workspace
    from .options import settings_from_dict
    from .preview import MergePreview

    try:
        engine = MergePreview(Workspace.open(args.workspace), args.model, args.device)
    except DflError as exc:
        send(out, {"type": "error", "error": str(exc)})
        return 1
    except Exception as exc:  # noqa: BLE001 - the UI shows it; the log has the traceback
        traceback.print_exc()
        send(out, {"type": "error", "error": f"{type(exc).__name__}: {exc}"})
        return 1
    send(out, {"type": "ready", **engine.info()})

    ahead: deque[tuple[str, Any]] = deque()
    while True:
        if ahead and not lines.waiting():
            stem, s = ahead.popleft()
            engine.prefetch(stem, s)
            continue
        raw = lines.readline()
        if raw is None:
            return 0
        raw = raw.strip()
        if not raw:
            continue
        try:
            req = json.loads(raw)
        except json.JSONDecodeError:
            send(out, {"type": "error", "error": "bad request (not JSON)"})
            continue
        rid, cmd = req.get("id"), req.get("cmd")
        try:
            if cmd == "quit":
                send(out, {"type": "bye", "id": rid})
                return 0
            if cmd == "info":
                send(out, {"type": "info", "id": rid, **engine.info()})
            elif cmd == "render":
                if req.get("smooth") is not None:
                    engine.set_smooth(int(req["smooth"]))
                s = settings_from_dict(req.get("settings") or {})
                meta, arrays = engine.render(str(req["frame"]), s, int(req.get("width", 160)),
                                             int(req.get("height", 90)), float(req.get("zoom", 1.0)),
                                             bool(req.get("label", False)))
                send(out, {"type": "render", "id": rid, **meta}, arrays)
                i = engine.index.get(str(req["frame"]), -1)
                ahead.clear()
                for j in range(i + 1, min(len(engine.stems), i + 1 + int(req.get("ahead", 2)))):
                    ahead.append((engine.stems[j], s))
            elif cmd == "prefetch":
                s = settings_from_dict(req.get("settings") or {})
                ahead.extend((str(f), s) for f in req.get("frames") or [])
                send(out, {"type": "ok", "id": rid})
            else:
                send(out, {"type": "error", "id": rid, "error": f"unknown command {cmd!r}"})
        except (DflError, KeyError, ValueError) as exc:
            send(out, {"type": "error", "id": rid, "error": str(exc)})
        except Exception as exc:  # noqa: BLE001 - keep serving; the log has the traceback
            traceback.print_exc()
            send(out, {"type": "error", "id": rid, "error": f"{type(exc).__name__}: {exc}"})


if __name__ == "__main__":
    sys.exit(main())
