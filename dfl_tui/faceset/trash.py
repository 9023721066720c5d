"""The one trash of dfl-tui, with an undo journal: nothing dfl-tui removes is lost.

Every move-aside in the project is one *transaction* of the trash of the folder it
happens in, recorded in ``<folder>/.trash/journal.jsonl`` before any file moves:
faces deleted, moved, renamed or replaced (the reviewer, the sorter, recover-names,
pack, resize, enhance...), faces that make way for an extraction (``extract-faces
--overwrite``, frames extracted again, manual extraction), frames replaced by
extract-frames or denoise-frames, merged frames that lost their dst frame, a video
that a new one replaces, an XSeg model started again::

    {"op": "7f3a..", "t": 1718000000.0, "action": "delete", "moves": [["a_0.jpg", ".trash/a_0.jpg"], ...]}
    {"undo": "7f3a..", "t": ..., "op": "91bc..", "moves": [[".trash/a_0.jpg", "a_0.jpg"], ...]}

Paths are relative to the folder. Files move in two phases through hidden
temporary names (``.txn-<op>-<i><ext>``), so cycles (``a->b, b->a``) and
renumbering work; a ``{"phase2": op}`` record between the phases tells a crash
in the first (some files still under their old names) from one in the second.
:meth:`Trash.recover` finishes an interrupted transaction from the journal, and
every job does so for the workspace's folders before it starts
(:func:`tidy_folders`), so nothing reads a set with faces hidden under temporary
names. Moves stay inside the set: a sub-folder or a ``.trash`` that is a symlink
leading elsewhere is refused (:mod:`dfl_tui.util.paths`). Thumbnails (``.thumbs/``) move with their faces, and the
reviewer's tag journal (:mod:`dfl_tui.faceset.journal`) is told about every
move, so a tag follows its face into the trash and back.

Trashed files sit directly in ``<folder>/.trash/`` (a name already there gets a
``~N`` suffix), where ``dfl-tui status`` counts them and a user can find them
by hand. ``dfl-tui faceset src undo`` (``--folder`` for another folder) and ``u``
in the reviewer undo the last operation. An operation made with ``displace`` (a
set cleared for a new run: ``--overwrite``) undoes by putting what now stands in
its place into the trash, so undo brings the earlier set back whole. Only
:meth:`Trash.empty` deletes anything, and only when asked.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import shutil
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable, Iterator, Sequence

from ..errors import InputError
from ..faces.thumbs import move_face, thumbnail_path
from ..util.atomic import read_jsonl
from ..util.paths import inside, plain_dir
from ..util.tempfiles import TXN_PREFIX, clean_stale_temps, interrupted_moves
from ..workspace import TRASH_DIR

JOURNAL = "journal.jsonl"
LOCK = "lock"
TMP_PREFIX = TXN_PREFIX
STAGING_DIR = ".staging"


@dataclass
class Op:
    """One recorded transaction: ``moves`` are (from, to) paths relative to the set folder."""

    id: str
    action: str
    moves: list[tuple[str, str]]
    t: float = 0.0
    undone: bool = False
    info: dict = field(default_factory=dict)

    @property
    def trashed(self) -> int:
        return sum(1 for _, b in self.moves if b.startswith(TRASH_DIR + "/"))

    def describe(self) -> str:
        n = len(self.moves)
        if self.trashed == n:
            return f"{self.action}: {n} face{'s' if n != 1 else ''} to the trash"
        if self.trashed:
            return f"{self.action}: {n - self.trashed} renamed, {self.trashed} to the trash"
        return f"{self.action}: {n} file{'s' if n != 1 else ''} moved"


def _rel(folder: Path, p: str | os.PathLike) -> str:
    p = Path(p)
    if not p.is_absolute():
        p = folder / p
    try:
        return p.relative_to(folder).as_posix()
    except ValueError:
        raise ValueError(f"{p} is not inside {folder}") from None


class Trash:
    """The trash and undo journal of one set folder (``data_src/aligned``, ``aligned_debug``...)."""

    def __init__(self, folder: str | os.PathLike) -> None:
        self.folder = Path(folder).absolute()
        self.root = self.folder / TRASH_DIR
        self.journal = self.root / JOURNAL

    # -- locking and the journal -----------------------------------------------------
    @contextlib.contextmanager
    def _locked(self) -> Iterator[None]:
        plain_dir(self.root, "trash folder")
        self.root.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.root / LOCK, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            yield
        finally:
            with contextlib.suppress(OSError):
                fcntl.flock(fd, fcntl.LOCK_UN)
            os.close(fd)

    def _append(self, rec: dict) -> None:
        data = (json.dumps(rec, separators=(",", ":")) + "\n").encode("utf-8")
        fd = os.open(self.journal, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        try:
            os.write(fd, data)
            os.fsync(fd)
        finally:
            os.close(fd)

    def _records(self) -> list[dict]:
        recs, _ = read_jsonl(self.journal)
        return recs

    def history(self, include_undone: bool = False) -> list[Op]:
        """Recorded operations, oldest first."""
        ops: dict[str, Op] = {}
        for r in self._records():
            if "op" in r and "undo" not in r:
                ops[r["op"]] = Op(r["op"], r.get("action", "?"), [tuple(m) for m in r.get("moves", [])],
                                  r.get("t", 0.0), info=r.get("info") or {})
            elif "undo" in r and r["undo"] in ops:
                ops[r["undo"]].undone = True
        return [o for o in ops.values() if include_undone or not o.undone]

    def last(self, action: str | None = None) -> Op | None:
        """The latest operation not undone (optionally the latest of one ``action``)."""
        h = [o for o in self.history() if action is None or o.action == action]
        return h[-1] if h else None

    # -- transactions ----------------------------------------------------------------------
    def _unique(self, rel: str, taken: set[str], vacated: set[str]) -> str:
        """``rel`` or ``stem~N.ext`` beside it: a target nobody holds or will hold."""
        cand = rel
        n = 1
        while cand in taken or ((self.folder / cand).exists() and cand not in vacated):
            p = Path(rel)
            cand = (p.parent / f"{p.stem}~{n}{p.suffix}").as_posix()
            n += 1
        return cand

    def _check_inside(self, moves: Sequence[tuple[str, str]]) -> None:
        """Every folder a move reads from or writes to really lies inside the set (the symlink rule)."""
        seen: set[str] = set()
        for a, b in moves:
            for rel in (a, b):
                parent = Path(rel).parent.as_posix()
                if parent not in seen:
                    seen.add(parent)
                    if parent != ".":
                        inside(self.folder, self.folder / parent, "folder")

    def _plan(self, moves: Sequence[tuple[str, str]], avoid_clash: bool) -> list[tuple[str, str]]:
        self._check_inside(moves)
        vacated = {a for a, _ in moves}
        taken: set[str] = set()
        plan = []
        for a, b in moves:
            if a == b:
                continue
            if avoid_clash:
                b = self._unique(b, taken, vacated)
            elif b in taken or ((self.folder / b).exists() and b not in vacated):
                raise FileExistsError(f"{self.folder / b} already exists")
            taken.add(b)
            plan.append((a, b))
        return plan

    def _execute(self, op_id: str, plan: list[tuple[str, str]], progress=None) -> list[tuple[str, str]]:
        """Move every ``a`` to a temporary name, then every temporary to ``b``."""
        done: list[tuple[str, str]] = []
        tmps: list[tuple[Path, str, str]] = []
        n = len(plan)
        for i, (a, b) in enumerate(plan):
            src = self.folder / a
            if not src.exists():
                continue
            tmp = src.parent / f"{TMP_PREFIX}{op_id}-{i}{src.suffix}"
            move_face(src, tmp)
            tmps.append((tmp, a, b))
            if progress and i % 500 == 0:
                progress(i, 2 * n)
        self._append({"phase2": op_id})
        for j, (tmp, a, b) in enumerate(tmps):
            move_face(tmp, self.folder / b)
            done.append((a, b))
            if progress and j % 500 == 0:
                progress(n + j, 2 * n)
        _notify_tags(self.folder, done)
        return done

    def apply(self, moves: Iterable[tuple[str | os.PathLike, str | os.PathLike]], action: str, *,
              avoid_clash: bool = True, info: dict | None = None, progress=None, displace: str = "") -> Op:
        """Move files as one undoable operation; returns the operation as done.

        ``moves`` are (from, to) pairs, absolute or relative to the set folder. With
        ``avoid_clash`` a target that exists gets a ``~N`` suffix; otherwise it raises.
        ``displace`` says what undoing it does to what has taken the files' place since:
        ``"names"``, whatever holds an old name goes to the trash (a replaced video);
        ``"images"``, every image of the folder too (a set cleared for a new run). By
        default a file that comes back to a taken name gets a ``~N`` suffix instead.
        """
        if displace:
            info = {**(info or {}), "displace": displace}
        rel = [(_rel(self.folder, a), _rel(self.folder, b)) for a, b in moves]
        with self._locked():
            self._recover_locked()
            plan = self._plan(rel, avoid_clash)
            op_id = uuid.uuid4().hex[:12]
            rec = {"op": op_id, "t": time.time(), "action": action, "moves": plan, "v": 2}
            if info:
                rec["info"] = info
            if plan:
                self._append(rec)
            done = self._execute(op_id, plan, progress)
        return Op(op_id, action, done, rec["t"], info=info or {})

    def delete(self, paths: Iterable[str | os.PathLike], action: str = "delete", **kw) -> Op:
        """Move files into the trash (``<set>/.trash/<name>``)."""
        moves = []
        for p in paths:
            r = _rel(self.folder, p)
            moves.append((r, f"{TRASH_DIR}/{Path(r).name}"))
        return self.apply(moves, action, avoid_clash=True, **kw)

    def move_to(self, paths: Iterable[str | os.PathLike], subfolder: str, action: str = "move", **kw) -> Op:
        """Move files into a sub-folder of the set (faces sorted into folders by hand)."""
        sub = subfolder.strip().strip("/")
        if not sub or sub.startswith(".") or ".." in Path(sub).parts or os.path.isabs(subfolder):
            raise InputError(f"sub-folder {subfolder!r}: give a plain folder name inside {self.folder}")
        moves = [(_rel(self.folder, p), f"{sub}/{Path(p).name}") for p in paths]
        return self.apply(moves, action, avoid_clash=True, **kw)

    def rename(self, pairs: Iterable[tuple[str | os.PathLike, str | os.PathLike]], action: str = "rename", **kw) -> Op:
        """Rename files (targets must be free or vacated by the same operation)."""
        return self.apply(pairs, action, avoid_clash=False, **kw)

    def staging(self) -> Path:
        """A hidden folder of the set where new versions of faces are written before :meth:`replace`."""
        d = self.folder / STAGING_DIR
        d.mkdir(parents=True, exist_ok=True)
        return d

    def replace(self, names: Iterable[str], action: str, **kw) -> Op:
        """Swap in new versions written to :meth:`staging` under the same names; the old ones go to the trash.

        One operation: undo puts the old files back and the new ones back in staging.
        """
        moves: list[tuple[str, str]] = []
        for n in names:
            moves.append((n, f"{TRASH_DIR}/{Path(n).name}"))
            moves.append((f"{STAGING_DIR}/{Path(n).name}", n))
        return self.apply(moves, action, avoid_clash=True, **kw)

    def undo(self, op_id: str | None = None, progress=None) -> Op | None:
        """Put back what an operation moved (the last one not undone by default).

        Returns the undo as an :class:`Op` whose moves are (where it was, where it is now).
        A face whose old name has been taken since comes back as ``name~N``, unless the
        operation was made with ``displace``: then what holds the name goes to the trash.
        """
        with self._locked():
            self._recover_locked()
            ops = self.history()
            if not ops:
                return None
            op = ops[-1] if op_id is None else next((o for o in ops if o.id == op_id), None)
            if op is None:
                raise InputError(f"nothing to undo with id {op_id} in {self.journal}")
            back = [(b, a) for a, b in reversed(op.moves) if (self.folder / b).exists()]
            if op.info.get("displace"):
                back = self._displaced(back, op.info["displace"]) + back
            plan = self._plan(back, avoid_clash=True)
            undo_id = uuid.uuid4().hex[:12]
            self._append({"undo": op.id, "op": undo_id, "t": time.time(), "moves": plan, "v": 2})
            done = self._execute(undo_id, plan, progress)
            self._prune_emptied({Path(a).parent for a, _b in done})
        return Op(undo_id, f"undo {op.action}", done, time.time())

    def _prune_emptied(self, dirs: set[Path]) -> None:
        """Remove the sub-folders an undo emptied (``person_2/`` after undoing a grouping), when all
        that is left in one is what dfl-tui derived from its faces (thumbnails, the embedding cache).
        A folder with anything else in it stays as it is."""
        from ..identity.cache import CACHE_DIR
        from ..workspace import THUMBS_DIR

        derived = {CACHE_DIR, THUMBS_DIR}
        for rel in sorted(dirs, key=lambda d: len(d.parts), reverse=True):
            if not rel.parts or rel.parts[0].startswith("."):
                continue  # the set itself, the trash, staging
            d = self.folder / rel
            try:
                if d.is_symlink() or not d.is_dir():
                    continue
                left = list(d.iterdir())
                if any(e.name not in derived or e.is_symlink() or not e.is_dir() for e in left):
                    continue
                for e in left:
                    shutil.rmtree(e)
                d.rmdir()
            except OSError:
                continue  # in use or not ours to remove: leaving an empty folder loses nothing

    def _displaced(self, back: list[tuple[str, str]], how: str) -> list[tuple[str, str]]:
        """Moves to the trash for what stands where ``back`` puts files ("names"), and for
        ``how == "images"`` every image of the folder too (and is not moved back itself)."""
        from ..workspace import list_images

        leaving = {a for a, _ in back}
        occupied = {b for _a, b in back if (self.folder / b).exists()}
        if how == "images":
            occupied |= {p.name for p in list_images(self.folder)}
        return [(n, f"{TRASH_DIR}/{Path(n).name}") for n in sorted(occupied) if n not in leaving]

    # -- crash recovery ----------------------------------------------------------------------
    def recover(self) -> int:
        """Finish a transaction a crash interrupted; returns how many files it put in place."""
        if not self.journal.exists():
            return 0
        with self._locked():
            return self._recover_locked()

    def _recover_locked(self) -> int:
        """Finish every transaction that left files under temporary names: a crash in the second
        phase is finished (temporary -> target); one in the first also moves the files it had not
        reached yet, so the whole operation is done as recorded (and can be undone)."""
        leftovers = interrupted_moves(self.folder)
        if not leftovers:
            return 0
        plans: dict[str, list] = {}
        versions: dict[str, int] = {}
        in_phase2: set[str] = set()
        for r in self._records():
            if "op" in r:
                plans[r["op"]] = r.get("moves", [])
                versions[r["op"]] = int(r.get("v", 1))
            elif "phase2" in r:
                in_phase2.add(r["phase2"])
        tmp_of: dict[str, dict[int, Path]] = {}
        for p in leftovers:
            stem = p.name[len(TMP_PREFIX):].rsplit(".", 1)[0]
            op_id, _, idx = stem.rpartition("-")
            moves = plans.get(op_id)
            if moves is None or not idx.isdigit() or int(idx) >= len(moves):
                continue
            tmp_of.setdefault(op_id, {})[int(idx)] = p
        fixed = 0
        for op_id, tmps in tmp_of.items():
            moves = plans[op_id]
            if versions[op_id] >= 2 and op_id not in in_phase2:  # cut short in phase 1: take the rest along
                for i, (a, _b) in enumerate(moves):
                    src = self.folder / a
                    if i not in tmps and src.exists():
                        tmps[i] = src.parent / f"{TMP_PREFIX}{op_id}-{i}{src.suffix}"
                        move_face(src, tmps[i])
            done = []
            for i in sorted(tmps):
                rel = moves[i][1]
                if (self.folder / rel).exists():
                    rel = self._unique(rel, set(), set())
                move_face(tmps[i], self.folder / rel)
                done.append((moves[i][0], rel))
                fixed += 1
            _notify_tags(self.folder, done)
        return fixed

    # -- what is in it ---------------------------------------------------------------------
    def items(self) -> list[Path]:
        from ..workspace import list_images

        return list_images(self.root)

    def count(self) -> int:
        from ..workspace import count_images

        return count_images(self.root)

    def empty(self) -> int:
        """Delete the trashed files for good (the user asked for it); returns how many."""
        n = 0
        with self._locked():
            for p in self.items():
                with contextlib.suppress(OSError):
                    p.unlink()
                    n += 1
                with contextlib.suppress(OSError):
                    thumbnail_path(p).unlink()
            self._append({"emptied": True, "t": time.time()})
        return n


def _notify_tags(folder: Path, moves: list[tuple[str, str]]) -> None:
    """Keep the reviewer's tags on their faces (see :mod:`dfl_tui.faceset.journal`)."""
    if not moves:
        return
    from .journal import TagJournal

    TagJournal.record_moves(folder, moves)


# The way every other part of the project moves files aside ----------------------------------


def undo_hint(side: str = "src", folder: str | os.PathLike | None = None) -> str:
    """How to undo a move-aside, in the TUI and on the command line (log lines carry both):
    ``u in the reviewer, or dfl-tui faceset src undo`` for a side's faces; for any other folder
    the Faceset tools' undo with that folder."""
    if folder is None:
        return f"u in the reviewer, or dfl-tui faceset {side} undo"
    return (f"Faceset tools in the TUI: action undo, folder {folder}; "
            f"or dfl-tui faceset {side} undo --folder {folder}")



def set_aside(folder: str | os.PathLike, paths: Iterable[str | os.PathLike], action: str, reporter=None, *,
              undo: str = "", displace: str = "", **info) -> Op | None:
    """Move ``paths`` (inside ``folder``; missing ones are skipped) to ``folder``'s trash as one undoable
    operation, and say so on ``reporter`` (anything with ``log``), with ``undo``: how to undo it.
    None when there was nothing to move."""
    folder = Path(folder).absolute()
    present = [p for p in paths if (folder / p).exists()]
    if not present:
        return None
    op = Trash(folder).delete(present, action, info=info or None, displace=displace)
    if reporter is not None:
        reporter.log(f"moved {len(op.moves)} file(s) from {folder.name}/ to {folder.name}/{TRASH_DIR}/"
                     + (f" (undo: {undo})" if undo else " (undoable)"))
    return op


def tidy_folders(folders: Iterable[str | os.PathLike], log=None) -> dict[str, int]:
    """Before a job: finish the transactions a crash interrupted and remove the temporary files of
    killed runs in ``folders`` (:meth:`dfl_tui.workspace.Workspace.work_folders`); says so on ``log``."""
    out = {"finished": 0, "removed": 0}
    for folder in dict.fromkeys(Path(f) for f in folders):
        if not folder.is_dir():
            continue
        if interrupted_moves(folder):
            try:
                n = Trash(folder).recover()
            except (OSError, InputError) as exc:
                if log is not None:
                    log(f"{folder}: an interrupted move could not be finished ({exc}); 'dfl-tui status' shows it")
                n = 0
            out["finished"] += n
            if n and log is not None:
                log(f"finished an interrupted operation in {folder}: {n} file(s) put in place from the journal")
        out["removed"] += clean_stale_temps(folder, log)[0]
    return out
