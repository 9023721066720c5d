"""Temporary files a killed run leaves behind, and interrupted moves: found, reported, cleaned.

Every file dfl-tui writes goes first to a hidden temporary name beside its target, carrying the
writer's process id: ``.<name>.<pid>.<random>.tmp`` (atomic writes: faces, packs, JSON),
``.<name>.<pid>.<thread>.tmp`` (frames) and ``.<name>.<pid>.part`` (videos). A temporary file
whose process is gone is *stale*: a re-run removes it (:func:`clean_stale_temps`, called for the
workspace's folders before every job) and ``dfl-tui status`` reports it with its size. A name
without a process id (older versions) counts as stale after :data:`STALE_AFTER` seconds.

Moves of the trash go through ``.txn-<op>-<i><ext>`` names; those are not deleted but put in
place from the trash journal (:meth:`dfl_tui.faceset.trash.Trash.recover`).

Light module: no numpy.
"""

from __future__ import annotations

import contextlib
import os
import time
from pathlib import Path
from typing import Callable, Iterator

TXN_PREFIX = ".txn-"
TEMP_SUFFIXES = (".tmp", ".part")
STALE_AFTER = 3600.0


def writer_pid(name: str) -> int | None:
    """The process id in a temporary file's name (see the module docstring), or None."""
    parts = name.split(".")
    for field in (parts[-3:-1] if name.endswith(".tmp") else parts[-2:-1]):
        if field.isdigit():
            return int(field)
    return None


def _alive(pid: int) -> bool:
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:  # exists, owned by someone else
        return True
    return True


def is_stale(p: Path, now: float | None = None) -> bool:
    pid = writer_pid(p.name)
    if pid is not None:
        return not _alive(pid)
    try:
        return (now or time.time()) - p.stat().st_mtime > STALE_AFTER
    except OSError:
        return False


def _scan(folder: Path) -> Iterator[os.DirEntry]:
    with contextlib.suppress(OSError):
        for e in os.scandir(folder):
            yield e


def stale_temps(folder: str | os.PathLike) -> list[Path]:
    """Stale temporary files directly in ``folder``."""
    now = time.time()
    out = []
    for e in _scan(Path(folder)):
        if e.name.startswith(".") and e.name.endswith(TEMP_SUFFIXES) and e.is_file(follow_symlinks=False):
            p = Path(e.path)
            if is_stale(p, now):
                out.append(p)
    return out


def clean_stale_temps(folder: str | os.PathLike, log: Callable[[str], None] | None = None) -> tuple[int, int]:
    """Remove the stale temporary files of ``folder``; returns (files, bytes) and says so on ``log``."""
    n = size = 0
    for p in stale_temps(folder):
        try:
            b = p.stat().st_size
            p.unlink()
        except OSError:
            continue
        n += 1
        size += b
    if n and log is not None:
        log(f"removed {n} temporary file(s) ({size / 2**20:.1f} MB) left in {folder} by a run that was killed")
    return n, size


def interrupted_moves(folder: str | os.PathLike) -> list[Path]:
    """Files of a trash transaction a crash interrupted (``.txn-*``) in a set, its trash, its staging
    folder and its sub-folders (one level)."""
    folder = Path(folder)
    dirs = [folder, folder / ".trash", folder / ".staging"]
    dirs += [Path(e.path) for e in _scan(folder) if e.is_dir(follow_symlinks=False) and not e.name.startswith(".")]
    return [Path(e.path) for d in dirs for e in _scan(d)
            if e.name.startswith(TXN_PREFIX) and e.is_file(follow_symlinks=False)]


__all__ = ["STALE_AFTER", "TXN_PREFIX", "clean_stale_temps", "interrupted_moves", "is_stale", "stale_temps",
           "writer_pid"]
