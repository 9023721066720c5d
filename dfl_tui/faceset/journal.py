"""The reviewer's tag journal: colour tags written as they are made.

``<set>/.tags.jsonl`` is append-only JSON lines, one per change::

    {"s": {"00001_0.jpg": "green", ...}}        a snapshot (the first line after compaction)
    {"t": "red", "n": ["00042_0.jpg", ...]}     these faces now carry this tag (null: no tag)
    {"mv": [["a_0.jpg", ".trash/a_0.jpg"]]}     faces moved (delete, undo, sort, sub-folder)

Each change is one ``write()`` on an ``O_APPEND`` descriptor, so it is in the
kernel before the key press returns: a dropped SSH connection or a crash of the
UI loses nothing. A background thread fsyncs shortly after (so the UI never waits
on the disk); :meth:`TagJournal.close` fsyncs at once. On open the journal is
replayed and compacted into one snapshot line (written atomically).

Keys are paths relative to the set folder, so tags follow faces into sub-folders
and the trash; :mod:`dfl_tui.faceset.trash` records every move here.
"""

from __future__ import annotations

import contextlib
import json
import os
import threading
from pathlib import Path
from typing import Iterable

from ..util.atomic import atomic_write_text

FILENAME = ".tags.jsonl"

#: The seven tags of WORKFLOW.md step 5, in reviewer order, with their meaning.
TAGS: tuple[tuple[str, str], ...] = (
    ("green", "good"),
    ("red", "misaligned"),
    ("blue", "obstructed"),
    ("yellow", "blurry"),
    ("purple", "other person"),
    ("pink", "cut off"),
    ("orange", "too bright/dark"),
)
TAG_NAMES = tuple(t for t, _ in TAGS)


def journal_path(folder: str | os.PathLike) -> Path:
    return Path(folder) / FILENAME


def replay(lines: Iterable[dict]) -> dict[str, str]:
    tags: dict[str, str] = {}
    for rec in lines:
        if "s" in rec and isinstance(rec["s"], dict):
            tags = {str(k): str(v) for k, v in rec["s"].items() if v in TAG_NAMES}
        elif "t" in rec:
            tag = rec["t"]
            for n in rec.get("n", []):
                if tag in TAG_NAMES:
                    tags[n] = tag
                else:
                    tags.pop(n, None)
        elif "mv" in rec:
            moved = {}
            for a, b in rec["mv"]:
                if a in tags:
                    moved[b] = tags.pop(a)
            tags.update(moved)
    return tags


def read_tags(folder: str | os.PathLike) -> dict[str, str]:
    """The tags of a set (relative path -> tag) without opening it for writing."""
    p = journal_path(folder)
    try:
        raw = p.read_bytes()
    except OSError:
        return {}
    recs = []
    for line in raw.splitlines():
        if line.strip():
            with contextlib.suppress(ValueError):
                recs.append(json.loads(line))
    return replay(recs)


class TagJournal:
    """The tags of one set folder, kept in memory and written through to the journal."""

    FSYNC_DELAY = 0.2

    def __init__(self, folder: str | os.PathLike, *, compact: bool = True) -> None:
        self.folder = Path(folder)
        self.path = journal_path(folder)
        self.tags: dict[str, str] = read_tags(folder)
        if compact:
            self.compact()
        self._fd: int | None = None
        self._dirty = threading.Event()
        self._closed = False
        self._thread: threading.Thread | None = None
        self.fsyncs = 0

    # -- writing --------------------------------------------------------------------------
    def _open(self) -> int:
        if self._fd is None:
            self.folder.mkdir(parents=True, exist_ok=True)
            self._fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        return self._fd

    def _write(self, rec: dict) -> None:
        os.write(self._open(), (json.dumps(rec, separators=(",", ":")) + "\n").encode("utf-8"))
        self._dirty.set()
        if self._thread is None:
            self._thread = threading.Thread(target=self._syncer, name="tag-journal-fsync", daemon=True)
            self._thread.start()

    def _syncer(self) -> None:
        while not self._closed:
            if not self._dirty.wait(1.0):
                continue
            self._dirty.wait(self.FSYNC_DELAY)  # gather a burst of key presses
            self._dirty.clear()
            fd = self._fd
            if fd is not None:
                with contextlib.suppress(OSError):
                    os.fsync(fd)
                    self.fsyncs += 1

    def set(self, names: Iterable[str], tag: str | None) -> list[str]:
        """Give ``names`` (relative paths) this tag (None: clear); returns the names changed."""
        if tag is not None and tag not in TAG_NAMES:
            raise ValueError(f"unknown tag {tag!r}; use one of {', '.join(TAG_NAMES)}")
        changed = [n for n in names if self.tags.get(n) != tag]
        if not changed:
            return []
        for n in changed:
            if tag is None:
                self.tags.pop(n, None)
            else:
                self.tags[n] = tag
        self._write({"t": tag, "n": changed})
        return changed

    def get(self, name: str) -> str | None:
        return self.tags.get(name)

    def names_with(self, tag: str) -> list[str]:
        return [n for n, t in self.tags.items() if t == tag]

    def counts(self) -> dict[str, int]:
        out = {t: 0 for t in TAG_NAMES}
        for t in self.tags.values():
            out[t] = out.get(t, 0) + 1
        return out

    def apply_moves(self, moves: Iterable[tuple[str, str]], *, write: bool = False) -> None:
        """Follow moved faces in memory (the trash already wrote the move to the file)."""
        moves = list(moves)
        moved = {}
        for a, b in moves:
            if a in self.tags:
                moved[b] = self.tags.pop(a)
        self.tags.update(moved)
        if write and moves:
            self._write({"mv": [list(m) for m in moves]})

    @classmethod
    def record_moves(cls, folder: str | os.PathLike, moves: list[tuple[str, str]]) -> None:
        """Append a move record if the set has a tag journal (called by the trash)."""
        p = journal_path(folder)
        if not p.exists():
            return
        fd = os.open(p, os.O_WRONLY | os.O_APPEND)
        try:
            os.write(fd, (json.dumps({"mv": [list(m) for m in moves]}, separators=(",", ":")) + "\n").encode())
            os.fsync(fd)
        finally:
            os.close(fd)

    # -- maintenance --------------------------------------------------------------------------
    def compact(self, keep: set[str] | None = None) -> None:
        """Rewrite the journal as one snapshot (dropping faces that no longer exist)."""
        if keep is None:
            keep = {n for n in self.tags if (self.folder / n).exists()}
        self.tags = {n: t for n, t in self.tags.items() if n in keep}
        if not self.tags and not self.path.exists():
            return
        fd, self._fd = getattr(self, "_fd", None), None
        if fd is not None:
            os.close(fd)
        atomic_write_text(self.path, json.dumps({"s": self.tags}, separators=(",", ":")) + "\n")

    def flush(self) -> None:
        if self._fd is not None:
            os.fsync(self._fd)
            self.fsyncs += 1

    def close(self) -> None:
        self._closed = True
        self._dirty.set()
        if self._fd is not None:
            with contextlib.suppress(OSError):
                os.fsync(self._fd)
            os.close(self._fd)
            self._fd = None
