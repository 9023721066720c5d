"""Atomic file writes: a reader never sees a half-written file.

Every file dfl-tui writes that a user would miss (faces, checkpoints, status,
sessions) goes through here: write to a temporary file in the same folder,
fsync it, rename it over the target, then fsync the folder so the rename itself
survives a power cut.
"""

from __future__ import annotations

import contextlib
import errno
import json
import os
import shutil
import tempfile
from pathlib import Path
from typing import Any, Iterator

from ..errors import DflError


class DiskFullError(DflError, OSError):
    """Raised instead of a bare ENOSPC so the message can name the file, the free space and what is kept."""

    def __str__(self) -> str:
        return self.strerror or super().__str__()


def is_disk_full(exc: BaseException) -> bool:
    """ENOSPC/EDQUOT, also inside the error list of ``shutil.copytree`` (which drops the errno)."""
    if isinstance(exc, shutil.Error):
        marks = tuple(f"[Errno {e}]" for e in (errno.ENOSPC, errno.EDQUOT))
        return any(isinstance(e, tuple) and any(m in str(e[-1]) for m in marks)
                   for e in (exc.args[0] if exc.args and isinstance(exc.args[0], list) else []))
    return isinstance(exc, OSError) and exc.errno in (errno.ENOSPC, errno.EDQUOT)


def free_mb(path: str | os.PathLike) -> float:
    """Free space (MB) of the file system holding ``path`` (its nearest existing folder)."""
    p = Path(path)
    for q in (p, *p.parents):
        try:
            return shutil.disk_usage(q).free / 2**20
        except OSError:
            continue
    return 0.0


def disk_full(path: str | os.PathLike, then: str = "free some space and run the step again") -> DiskFullError:
    """The one disk-full message: ``disk full: <path>, N MB free, <what is kept, what to do>``."""
    return DiskFullError(errno.ENOSPC, f"disk full: {path}, {free_mb(path):.0f} MB free, {then}", str(path))


def _fsync_dir(folder: Path) -> None:
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


@contextlib.contextmanager
def atomic_open(path: str | os.PathLike, mode: str = "wb", *, fsync: bool = True) -> Iterator[Any]:
    """Open a temporary file that replaces ``path`` only if the block succeeds."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    # The writer's process id in the name: a temporary file of a killed run is known as stale
    # (util.tempfiles) and removed by the next run.
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.{os.getpid()}.", suffix=".tmp", dir=path.parent)
    try:
        os.fchmod(fd, 0o644)  # mkstemp makes 0600 files; ours are ordinary user files
        with os.fdopen(fd, mode) as fh:
            yield fh
            fh.flush()
            if fsync:
                os.fsync(fh.fileno())
        os.replace(tmp, path)
        if fsync:
            _fsync_dir(path.parent)
    except OSError as exc:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        if is_disk_full(exc) and not isinstance(exc, DiskFullError):
            raise disk_full(path) from exc
        raise
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise


def atomic_write_bytes(path: str | os.PathLike, data: bytes, *, fsync: bool = True) -> None:
    with atomic_open(path, "wb", fsync=fsync) as fh:
        fh.write(data)


def atomic_write_text(path: str | os.PathLike, text: str, *, fsync: bool = True) -> None:
    atomic_write_bytes(path, text.encode("utf-8"), fsync=fsync)


def atomic_write_json(path: str | os.PathLike, obj: Any, *, fsync: bool = True, indent: int | None = 2) -> None:
    atomic_write_text(path, json.dumps(obj, indent=indent, default=_json_default) + "\n", fsync=fsync)


def _json_default(obj: Any) -> Any:
    if isinstance(obj, Path):
        return str(obj)
    tolist = getattr(obj, "tolist", None)
    if callable(tolist):  # numpy arrays and scalars, without importing numpy
        return tolist()
    raise TypeError(f"not JSON serialisable: {type(obj).__name__}")


def read_json(path: str | os.PathLike, default: Any = None) -> Any:
    """Read a JSON file; a missing or unreadable file gives ``default``."""
    try:
        with open(path, "rb") as fh:
            return json.loads(fh.read())
    except (OSError, ValueError):
        return default


def append_line(path: str | os.PathLike, line: str) -> None:
    """Append one line with a single write(), so concurrent readers see whole lines."""
    data = (line.rstrip("\n") + "\n").encode("utf-8")
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    try:
        os.write(fd, data)
    finally:
        os.close(fd)


def append_jsonl(path: str | os.PathLike, obj: Any) -> None:
    append_line(path, json.dumps(obj, default=_json_default, separators=(",", ":")))


def read_jsonl(path: str | os.PathLike, offset: int = 0) -> tuple[list[Any], int]:
    """Read complete JSON lines from ``offset``; return them and the new offset.

    A trailing partial line (a writer mid-append) is left for the next call.
    """
    out: list[Any] = []
    try:
        with open(path, "rb") as fh:
            fh.seek(offset)
            data = fh.read()
    except OSError:
        return out, offset
    end = data.rfind(b"\n")
    if end < 0:
        return out, offset
    for raw in data[: end + 1].splitlines():
        if not raw.strip():
            continue
        try:
            out.append(json.loads(raw))
        except ValueError:
            continue
    return out, offset + end + 1
