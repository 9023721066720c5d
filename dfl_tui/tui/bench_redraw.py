"""``dfl-tui bench redraw [--json]``: how many bytes the TUI writes to the terminal.

Over a slow SSH link every byte the UI re-sends costs time, so this counts exactly what
a user's link would carry: each screen runs as ``dfl-tui tui`` in a pseudo-terminal of
160x48 (``TERM=xterm-256color``, truecolor) and every byte read from the terminal's
master side is counted. Per screen and graphics mode it reports:

* ``startup_bytes``: from start until the screen has been quiet for a moment;
* ``idle_bytes_per_s``: then, nobody touching anything, for ``--idle`` seconds;
* ``key_bytes``: the mean of a few presses of a typical key (the idle rate subtracted).

Screens: ``home`` (a workspace with videos and frames), ``review`` (1,000 faces with
generated flat thumbnails, ``--open 5``, key: right arrow), ``train`` (a model folder
with metrics and previews and a trainer that holds its lock but writes nothing new;
key: space, the next preview), ``merge`` (dst frames, faces and a tiny untrained model
in the merger's helper process; key: ``.``, the next frame), ``xseg`` (the XSeg editor on 20
dst faces of 256 px, ``--open 8``; key: right arrow, the drawing cursor moves). The fixtures are built in a
temporary folder (``--keep DIR`` keeps and reuses them); the tiny model is written by a
child process so this one stays free of torch.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

from ..util import bench as benchutil

SCREENS = ("home", "review", "train", "merge", "xseg")
# screen -> (--open argument or None, key name, the bytes a terminal sends for it)
KEYS: dict[str, tuple[str | None, str, bytes]] = {
    "home": (None, "down", b"\x1b[B"),
    "review": ("5", "right", b"\x1b[C"),
    "train": ("9", "space", b" "),
    "merge": ("10", ".", b"."),
    "xseg": ("8", "right", b"\x1b[C"),
}
# text the screen writes once it shows its content (then the bench waits for quiet)
# the start of a picture in each graphics mode's output
PICTURE_MARK = {"kitty": b"\x1b_G", "sixel": b"\x1bP"}
READY: dict[str, bytes] = {"home": b"Extract source frames", "review": b"faces", "train": b"iter 3000", "xseg": b"XSeg editor",
                           "merge": b"merged in"}
REVIEW_FACES = 1000


def graphics_modes() -> list[str]:
    """The graphics modes the TUI draws with (``dfl-tui tui --graphics`` less auto), half-block first. From
    the widget that draws them, not from the CLI: the TUI does not import the CLI (ARCHITECTURE.md)."""
    from .widgets.termgfx import DRAW_MODES

    return sorted(DRAW_MODES, key=lambda m: (m != "halfblock", m))


# ---------------------------------------------------------------------------
# A program in a pseudo-terminal, its output counted
# ---------------------------------------------------------------------------


@dataclass
class PtyRun:
    """``argv`` in a new pseudo-terminal of ``cols`` x ``rows``; a thread counts what it writes."""

    argv: list[str]
    env: dict[str, str]
    cols: int = 160
    rows: int = 48
    pid: int = 0
    fd: int = -1
    total: int = 0
    last_output: float = 0.0
    chunks: list[bytes] = field(default_factory=list)
    keep_output: bool = False
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _thread: threading.Thread | None = None

    def start(self) -> "PtyRun":
        import fcntl
        import pty
        import struct
        import termios

        pid, fd = pty.fork()
        if pid == 0:  # the child: the pty is its controlling terminal and stdio
            try:
                fcntl.ioctl(0, termios.TIOCSWINSZ, struct.pack("HHHH", self.rows, self.cols, 0, 0))
                os.execvpe(self.argv[0], self.argv, self.env)
            finally:
                os._exit(127)
        fcntl.ioctl(fd, termios.TIOCSWINSZ, struct.pack("HHHH", self.rows, self.cols, 0, 0))
        self.pid, self.fd = pid, fd
        self.last_output = time.monotonic()
        self._thread = threading.Thread(target=self._read, name="bench-pty-reader", daemon=True)
        self._thread.start()
        return self

    def _read(self) -> None:
        while True:
            try:
                data = os.read(self.fd, 65536)
            except OSError:
                return
            if not data:
                return
            with self._lock:
                self.total += len(data)
                self.last_output = time.monotonic()
                if self.keep_output:
                    self.chunks.append(data)

    def count(self) -> int:
        with self._lock:
            return self.total

    def quiet_for(self) -> float:
        with self._lock:
            return time.monotonic() - self.last_output

    def alive(self) -> bool:
        try:
            pid, _status = os.waitpid(self.pid, os.WNOHANG)
        except ChildProcessError:
            return False
        return pid == 0

    def send(self, data: bytes) -> None:
        os.write(self.fd, data)

    def settle(self, quiet: float, timeout: float) -> bool:
        """Wait until nothing was written for ``quiet`` s (False: still writing after ``timeout`` s)."""
        t0 = time.monotonic()
        while time.monotonic() - t0 < timeout:
            if not self.alive():
                return True
            if self.quiet_for() >= quiet:
                return True
            time.sleep(0.05)
        return False

    def wait_for(self, text: bytes, timeout: float) -> bool:
        """Wait until ``text`` appeared in the output (kept with ``keep_output``)."""
        t0 = time.monotonic()
        while time.monotonic() - t0 < timeout:
            if text in self.output() or not self.alive():
                return text in self.output()
            time.sleep(0.1)
        return False

    def output(self) -> bytes:
        with self._lock:
            return b"".join(self.chunks)

    def stop(self) -> None:
        import signal

        if self.alive():
            try:
                self.send(b"\x11")  # ctrl+q: quit, saving state
            except OSError:
                pass
            t0 = time.monotonic()
            while self.alive() and time.monotonic() - t0 < 10:
                time.sleep(0.05)
        if self.alive():
            os.kill(self.pid, signal.SIGTERM)
            time.sleep(0.5)
            if self.alive():
                os.kill(self.pid, signal.SIGKILL)
        try:
            os.waitpid(self.pid, 0)
        except ChildProcessError:
            pass
        try:
            os.close(self.fd)
        except OSError:
            pass


# ---------------------------------------------------------------------------
# The fixtures: a workspace per screen
# ---------------------------------------------------------------------------


def _frame(size: int = 256) -> Any:
    """A BGR frame with a face (the astronaut), and its 68 landmarks."""
    import cv2
    import numpy as np
    from skimage import data

    from ..faces.landmarks import mean_face_68

    img = np.ascontiguousarray(data.astronaut()[..., ::-1])
    img = cv2.resize(img, (size, size), interpolation=cv2.INTER_AREA)
    k = size / 512
    lm = mean_face_68((240.0 * k, 150.0 * k), (0.0, -150.0 * k))
    return img, lm


def make_home(root: Path) -> None:
    """Two videos' worth of frames (a few), so the home screen has states to show."""
    import cv2

    from ..workspace import Workspace

    ws = Workspace.open(root).ensure()
    img, _lm = _frame(128)
    for side in ("src", "dst"):
        d = ws.frames(side)
        d.mkdir(parents=True, exist_ok=True)
        for i in range(3):
            cv2.imwrite(str(d / f"{i + 1:05d}.png"), img)


def make_review(root: Path, n: int = REVIEW_FACES) -> None:
    """``n`` aligned source faces with flat generated thumbnails (as ``bench review`` uses, flat colours)."""
    from ..faceset.synthetic import make_set
    from ..workspace import Workspace

    ws = Workspace.open(root).ensure()
    make_set(ws.aligned("src"), n, 64, flat=True, source=_frame(512))


def make_train(root: Path, name: str = "bench", iterations: int = 3000) -> None:
    """A Quick96 model folder as the trainer leaves it: options, state, metrics and previews; a run folder."""
    import cv2
    import numpy as np

    from ..jobs.rundir import RunDir
    from ..train.modeldir import ModelDir
    from ..train.preview import layout_previews, write_previews
    from ..util.atomic import atomic_write_json
    from ..workspace import Workspace

    ws = Workspace.open(root).ensure()
    mdir = ModelDir.of(ws, name)
    mdir.write_options({"format": "dfl-tui-model/1", "model": "Quick96", "options": {},
                        "trainer": {"target_iter": 2 * iterations}, "fixed": []})
    t0 = time.time() - iterations
    lines = [json.dumps({"event": "start", "it": 0, "t": t0})]
    for i in range(1, iterations + 1):
        lines.append(json.dumps({"it": i, "t": t0 + i, "n": 1, "ms": 250.0, "sps": 16.0,
                                 "loss": {"src_loss": 2.0 * np.exp(-i / 1000) + 0.3,
                                          "dst_loss": 2.2 * np.exp(-i / 1200) + 0.35}}))
    lines.append(json.dumps({"event": "save", "it": iterations, "t": time.time() - 30}))
    mdir.metrics_path.parent.mkdir(parents=True, exist_ok=True)
    mdir.metrics_path.write_text("\n".join(lines) + "\n")
    mdir.write_state({"model": "Quick96", "iteration": iterations, "saved": time.time() - 30})
    frame, _lm = _frame(256)
    a = cv2.resize(frame[60:200, 60:200], (96, 96)).astype(np.float32) / 255
    g = a[:, ::-1].copy()
    nchw = lambda im: np.repeat(im.transpose(2, 0, 1)[None], 4, 0)  # noqa: E731
    m = np.ones((4, 1, 96, 96), np.float32)
    out = {"target_src": nchw(a), "pred_src_src": nchw(a) * 0.9, "target_dst": nchw(g), "pred_dst_dst": nchw(g) * 0.9,
           "pred_src_dst": nchw(a) * 0.8, "target_srcm": m, "target_dstm": m, "pred_dst_dstm": m, "pred_src_dstm": m}
    write_previews(mdir, layout_previews("Quick96", out), iterations, cell=96)
    run = RunDir(ws.jobs_dir / "20260101-000000-train-bnch")
    run.path.mkdir(parents=True, exist_ok=True)
    atomic_write_json(run.spec_path, {"id": run.id, "step": "train", "options": {"name": name}})
    run.write_status({"id": run.id, "step": "train", "state": "running",
                      "progress": {"counts": {"iteration": iterations}}})
    atomic_write_json(mdir.run_path, {"run_id": run.id, "run_dir": str(run.path), "pid": None})


_TINY_MODEL = """
import sys
from dfl_tui.models import build_model
from dfl_tui.train.checkpoint import save_checkpoint
from dfl_tui.train.modeldir import ModelDir
from dfl_tui.workspace import Workspace
ws = Workspace.open(sys.argv[1])
opts = dict(resolution=64, face_type="wf", archi="df-ud", ae_dims=32, e_dims=16, d_dims=16, d_mask_dims=16)
model = build_model("SAEHD", opts, "cpu")
mdir = ModelDir.of(ws, "bench")
mdir.write_options({"format": "dfl-tui-model/1", "model": "SAEHD", "options": opts, "trainer": {}, "fixed": []})
parts = model.state_dict_parts()
parts.pop("state", None)
save_checkpoint(mdir, parts, iteration=1, model="SAEHD")
mdir.write_state({"iteration": 1})
"""


def make_merge(root: Path, frames: int = 4) -> None:
    """dst frames with one face each, their aligned faces, and a tiny untrained SAEHD (written by a child)."""
    import cv2

    from ..faces.dflimg import FaceMeta, encode_face
    from ..faces.landmarks import align_face, get_rect_from_landmarks
    from ..workspace import Workspace

    ws = Workspace.open(root).ensure()
    fdir, adir = ws.frames("dst"), ws.aligned("dst")
    fdir.mkdir(parents=True, exist_ok=True)
    adir.mkdir(parents=True, exist_ok=True)
    frame, lm = _frame(256)
    for i in range(frames):
        stem = f"{i + 1:05d}"
        img = frame if i % 2 == 0 else cv2.flip(frame, 1)
        mark = lm if i % 2 == 0 else lm * [-1, 1] + [255, 0]
        cv2.imwrite(str(fdir / f"{stem}.png"), img)
        face, mat, aligned = align_face(img, mark, 128, "whole_face")
        meta = FaceMeta(face_type="whole_face", landmarks=aligned, source_filename=f"{stem}.png",
                        source_rect=get_rect_from_landmarks(mark), source_landmarks=mark, image_to_face_mat=mat)
        (adir / f"{stem}_0.jpg").write_bytes(encode_face(face, meta, ".jpg", 90))
    subprocess.run([sys.executable, "-c", _TINY_MODEL, str(root)], check=True, capture_output=True)


def make_xseg(root: Path, n: int = 20) -> None:
    """``n`` aligned dst faces of 256 px (hue shifts of a real face) for the XSeg editor."""
    from ..faceset.synthetic import make_set
    from ..workspace import Workspace

    ws = Workspace.open(root).ensure()
    make_set(ws.aligned("dst"), n, 256, source=_frame(512))


MAKERS: dict[str, Callable[[Path], None]] = {"home": make_home, "review": make_review, "train": make_train,
                                             "merge": make_merge, "xseg": make_xseg}


def prepare(base: Path, screen: str) -> Path:
    """The screen's workspace under ``base`` (built once; a ``.ready`` file marks a finished one)."""
    root = base / screen
    if (root / ".bench-ready").exists():
        return root
    if root.exists():
        shutil.rmtree(root)
    MAKERS[screen](root)
    (root / ".bench-ready").write_text("ok\n")
    return root


# ---------------------------------------------------------------------------
# Measuring
# ---------------------------------------------------------------------------


def _env(base: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("TMUX", "TEXTUAL", "DFL_TUI"))}
    env.update(TERM="xterm-256color", COLORTERM="truecolor", LANG=env.get("LANG") or "C.UTF-8",
               DFL_TUI_CONFIG_DIR=str(base / ".config"), DFL_TUI_STATE_DIR=str(base / ".state"),
               COLUMNS="160", LINES="48")
    env.pop("NO_COLOR", None)
    return env


def _lock_run(root: Path) -> int | None:
    """Hold the training run's lock, as a live trainer does (the monitor then polls it as running)."""
    from ..jobs.rundir import RunDir
    from ..workspace import Workspace

    ws = Workspace.open(root)
    runs = sorted(ws.jobs_dir.iterdir()) if ws.jobs_dir.is_dir() else []
    return RunDir(runs[0]).acquire_lock() if runs else None


NAMED_KEYS = {"right": b"\x1b[C", "left": b"\x1b[D", "up": b"\x1b[A", "down": b"\x1b[B", "space": b" ",
              "enter": b"\r", "tab": b"\t"}


def key_bytes_of(name: str) -> bytes:
    """What a terminal sends for key ``name``: one of :data:`NAMED_KEYS` or a single character."""
    if name in NAMED_KEYS:
        return NAMED_KEYS[name]
    if len(name) == 1:
        return name.encode()
    raise ValueError(f"unknown key {name!r}: give one character or one of {', '.join(NAMED_KEYS)}")


def measure(root: Path, screen: str, mode: str, *, cols: int, rows: int, idle_s: float, keys: int,
            startup_timeout: float, base: Path, key: str | None = None) -> dict[str, Any]:
    open_arg, key_name, key_bytes = KEYS[screen]
    if key:
        key_name, key_bytes = key, key_bytes_of(key)
    argv = [sys.executable, "-m", "dfl_tui", "-w", str(root), "tui"]
    if open_arg:
        argv += ["--open", open_arg]
    if mode != "halfblock" or len(graphics_modes()) > 1:
        argv += ["--graphics", mode]
    lock = _lock_run(root) if screen == "train" else None
    if screen == "merge":  # start on the first frame, as the first time (the merger resumes its session)
        from ..merge.session import SESSION_FILE

        for f in root.glob(f"*/*/{SESSION_FILE}"):
            f.unlink()
    run = PtyRun(argv, _env(base), cols, rows, keep_output=True)
    res: dict[str, Any] = {"screen": screen, "mode": mode, "key": key_name}
    try:
        run.start()
        t0 = time.monotonic()
        res["ready"] = run.wait_for(READY[screen], startup_timeout)
        if screen in ("train", "merge") and mode in PICTURE_MARK:  # the picture is encoded in a thread: wait for it
            run.wait_for(PICTURE_MARK[mode], max(5.0, startup_timeout - (time.monotonic() - t0)))
        settled = run.settle(quiet=3.0, timeout=max(5.0, startup_timeout - (time.monotonic() - t0)))
        res["startup_bytes"] = run.count()
        res["settled"] = settled
        if not run.alive():
            res["error"] = "the UI exited: " + run.output()[-400:].decode("utf-8", "replace")
            return res
        # idle: nobody touches anything
        c0, t0 = run.count(), time.monotonic()
        time.sleep(idle_s)
        idle = (run.count() - c0) / (time.monotonic() - t0)
        res["idle_bytes_per_s"] = round(idle, 1)
        # a typical key, a few times: bytes until quiet again, less what idling would have written
        per_key = []
        for _ in range(keys):
            c0, t0 = run.count(), time.monotonic()
            mark = PICTURE_MARK.get(mode) if screen in ("train", "merge") else None
            marks = run.output().count(mark) if mark else 0
            run.send(key_bytes)
            time.sleep(0.3)
            if mark:  # the key shows another picture, encoded in a thread: wait for it to go out
                t1 = time.monotonic()
                while run.output().count(mark) <= marks and time.monotonic() - t1 < 30 and run.alive():
                    time.sleep(0.1)
            run.settle(quiet=2.0, timeout=30.0)
            spent = time.monotonic() - t0
            per_key.append(max(0.0, (run.count() - c0) - idle * spent))
        res["key_bytes"] = round(sum(per_key) / max(1, len(per_key)))
        res["key_bytes_max"] = round(max(per_key)) if per_key else 0
        out = run.output()
        res["sixel"] = b"\x1bP" in out and b"q" in out.split(b"\x1bP", 1)[-1][:40]
        res["kitty"] = b"\x1b_G" in out
    finally:
        run.stop()
        if lock is not None:
            os.close(lock)  # the lock is a file descriptor: closing it lets the lock go
    return res


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--screens", default=",".join(SCREENS), help=f"which screens [default: {','.join(SCREENS)}]")
    p.add_argument("--modes", default=None, help="graphics modes [default: every mode --graphics offers]")
    p.add_argument("--idle", type=float, default=10.0, help="seconds of idling to count [default: 10]")
    p.add_argument("--keys", type=int, default=3, help="presses of the typical key [default: 3]")
    p.add_argument("--key", default=None, help="press this key instead of the screen's typical one: a character "
                   "(the merger's w: erode +1) or right/left/up/down/space/enter/tab")
    p.add_argument("--size", default="160x48", help="terminal size COLSxROWS [default: 160x48]")
    p.add_argument("--startup-timeout", type=float, default=60.0,
                   help="longest wait for a screen to become quiet after it opens [default: 60]")
    p.add_argument("--keep", metavar="DIR", help="build the workspaces in DIR and keep them (reused next time)")
    p.add_argument("--json", action="store_true", help="print the figures as JSON")


def _kb(v: float) -> str:
    return f"{v / 1024:.1f} KB" if v >= 1024 else f"{v:.0f} B"


def run(args: argparse.Namespace) -> int:
    screens = [s.strip() for s in str(args.screens).split(",") if s.strip()]
    bad = [s for s in screens if s not in SCREENS]
    if bad:
        print(f"dfl-tui bench redraw: unknown screen(s) {', '.join(bad)}; choose from {', '.join(SCREENS)}",
              file=sys.stderr)
        return 2
    modes = [m.strip() for m in str(args.modes).split(",")] if args.modes else graphics_modes()
    if args.key:
        try:
            key_bytes_of(args.key)
        except ValueError as exc:
            print(f"dfl-tui bench redraw: {exc}", file=sys.stderr)
            return 2
    cols, rows = (int(v) for v in str(args.size).lower().split("x"))
    tmp = None
    if args.keep:
        base = Path(args.keep).absolute()
        base.mkdir(parents=True, exist_ok=True)
    else:
        tmp = tempfile.mkdtemp(prefix="dfl-bench-redraw-")
        base = Path(tmp)
    results = []
    try:
        for screen in screens:
            root = prepare(base, screen)
            for mode in modes:
                if not args.json:
                    print(f"{screen} / {mode} ...", file=sys.stderr, flush=True)
                results.append(measure(root, screen, mode, cols=cols, rows=rows, idle_s=float(args.idle),
                                       keys=int(args.keys), startup_timeout=float(args.startup_timeout), base=base,
                                       key=args.key))
    finally:
        if tmp:
            shutil.rmtree(tmp, ignore_errors=True)
    doc = {"terminal": f"{cols}x{rows}", "idle_s": float(args.idle), "results": results}
    if args.json:
        print(json.dumps(doc, indent=2))
        return 0
    print(f"bytes written to a {cols}x{rows} pseudo-terminal (what an SSH link carries)")
    print(benchutil.format_table(
        ["screen", "mode", "startup", "idle/s", "key", "per key", "worst key"],
        [[r["screen"], r["mode"], f"error: {r['error']}"] if r.get("error") else
         [r["screen"], r["mode"], _kb(r["startup_bytes"]), _kb(r["idle_bytes_per_s"]), r["key"], _kb(r["key_bytes"]),
          _kb(r["key_bytes_max"])] for r in results], align="llrrlrr"))
    return 0


main = benchutil.bench_main(__name__)


if __name__ == "__main__":
    sys.exit(main())
