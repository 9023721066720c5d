"""``dfl-tui sort``: every sort method of DeepFaceLab's sorter (deepfacelab.md §4.1).

A sort reads each face once, in threads (:mod:`dfl_tui.faceset.parallel`), reducing
it to a number or a small vector, then orders the set with numpy. Each method is one
row of :data:`dfl_tui.faceset.sort_methods.METHODS` (what it measures, how it
orders); the orderings themselves are in :mod:`dfl_tui.faceset.ordering`. The new
order is applied as one undoable transaction of the set's trash
(:mod:`dfl_tui.faceset.trash`): rejected faces go to ``<set>/.trash`` and the kept
ones are renamed ``00000.jpg, 00001.jpg ...``. Original names come back with
``dfl-tui faceset src recover-names`` (from the metadata) or by undoing the sort.

Differences from DeepFaceLab, on purpose:

* histogram chains (``hist``, ``absdiff``) use exact distances between compact
  features with a k-nearest-neighbour shortlist, so they are near O(n log n)
  instead of O(n^2) per step, and run on tens of thousands of faces;
* ``blur`` measures edges inside the landmark hull instead of on the masked
  image, so the hull's own border does not count as a sharp edge;
* faces without metadata go to the trash only for methods that need it.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Sequence

from ..errors import InputError
from ..jobs.context import Reporter
from ..workspace import Workspace, list_images
from .options import SORT_CHOICES
from .parallel import map_faces
from .sort_methods import METHODS, Params

UNREADABLE = "unreadable or no face metadata"


@dataclass
class SortResult:
    kept: list[Path]  # in the new order
    trashed: list[Path]
    reasons: dict[str, int]  # why faces were rejected -> how many
    scores: dict[str, float] | None = None  # face name -> the value sorted on (when there is one)


def _measure(paths: Sequence[Path], method, ctx: Reporter, workers: int,
             params: Params) -> tuple[list[int], list[int], list[Any]]:
    """(readable positions, unreadable positions, their values); the unreadable are reported."""
    if method.measure_all is not None:
        vals = method.measure_all(paths, ctx, params)
    elif method.measure is None:
        return list(range(len(paths))), [], [p.name for p in paths]
    else:
        vals = map_faces(paths, method.measure, ctx, stage=method.stage, workers=workers)
    ok = [i for i, v in enumerate(vals) if not isinstance(v, Exception)]
    bad = [i for i, v in enumerate(vals) if isinstance(v, Exception)]
    for i in bad[:5]:
        ctx.warn(f"{vals[i]} -> trash")
    if len(bad) > 5:
        ctx.warn(f"... and {len(bad) - 5} more unreadable faces -> trash")
    return ok, bad, [vals[i] for i in ok]


def sort_faces(paths: Sequence[Path], method: str, *, target: int = 2000, dissimilar: bool = False,
               ctx: Reporter | None = None, workers: int = 0, identity_model: str = "dlib") -> SortResult:
    """Order ``paths`` by ``method``; returns what to keep (in order) and what to trash."""
    if method not in SORT_CHOICES:
        raise InputError(f"unknown sort method {method!r}; use one of: {', '.join(SORT_CHOICES)}")
    ctx = ctx or Reporter()
    paths = [Path(p) for p in paths]
    m = METHODS[method]
    params = Params(target=target, dissimilar=dissimilar, identity_model=identity_model)
    ok, bad, values = _measure(paths, m, ctx, workers, params)
    reasons: dict[str, int] = {UNREADABLE: len(bad)} if bad else {}
    if not ok:
        return SortResult([], [paths[i] for i in bad], reasons)
    if m.then:
        ctx.stage(m.then, len(ok), "faces")
    got = m.order(values, [paths[i].name for i in ok], params)
    if got.rejected:
        reasons[got.why] = reasons.get(got.why, 0) + len(got.rejected)
    scores = None
    if got.scores is not None:
        scores = {paths[ok[j]].name: float(s) for j, s in enumerate(got.scores)}
    return SortResult([paths[ok[j]] for j in got.order], [paths[i] for i in bad] + [paths[ok[j]] for j in got.rejected],
                      reasons, scores)


# ---------------------------------------------------------------------------
# Applying an order to the files
# ---------------------------------------------------------------------------


def numbered_names(kept: Sequence[Path]) -> list[str]:
    """``00000.jpg, 00001.jpg ...`` (more digits past 99,999 faces), keeping each file's suffix."""
    width = max(5, len(str(max(0, len(kept) - 1))))
    return [f"{i:0{width}d}{p.suffix.lower()}" for i, p in enumerate(kept)]


def apply_order(folder: Path, result: SortResult, action: str, ctx: Reporter | None = None):
    """Trash the rejects and rename the kept faces into order, as one undoable operation."""
    from .trash import TRASH_DIR, Trash

    ctx = ctx or Reporter()
    folder = Path(folder)
    trash = Trash(folder)
    moves: list[tuple[str, str]] = []
    taken: set[str] = set()
    for p in result.trashed:
        name = p.name
        base, n = Path(name), 1
        while name in taken:
            name = f"{base.stem}~{n}{base.suffix}"
            n += 1
        taken.add(name)
        moves.append((p.name, f"{TRASH_DIR}/{name}"))
    for p, new in zip(result.kept, numbered_names(result.kept)):
        moves.append((p.name, new))
    total = len(moves)
    ctx.stage("renaming", total * 2, "files")
    op = trash.apply(moves, action, avoid_clash=True,
                     progress=lambda d, t: (ctx.progress(d, t)), info={"method": action})
    ctx.progress(total * 2, total * 2)
    return op


def resolve_folder(ws: Workspace, side: str, folder: str | None) -> Path:
    if folder:
        p = Path(os.path.expanduser(folder))
        return p if p.is_absolute() else (ws.root / p)
    return ws.aligned(side)  # type: ignore[arg-type]


def check_faceset(folder: Path) -> list[Path]:
    paths = list_images(folder)
    if not paths:
        packed = [n for n in ("faceset.dflpack", "faceset.pak") if (folder / n).exists()]
        if packed:
            raise InputError(f"{folder} is packed ({packed[0]}); unpack it first: Faceset tools in the TUI, "
                             "action unpack, or dfl-tui faceset SIDE unpack")
        if not folder.is_dir():
            raise InputError(f"{folder} does not exist; extract faces first (step 4 or 6 in the TUI, "
                             "or dfl-tui extract-faces)")
        raise InputError(f"{folder} has no face images")
    return paths


def run_sort(ctx: Reporter, opts: Any) -> dict:
    """The ``sort`` step."""
    ws: Workspace = ctx.workspace
    folder = resolve_folder(ws, opts.side, opts.folder)
    paths = check_faceset(folder)
    ctx.log(f"sorting {len(paths)} faces in {folder} by {opts.by}")
    result = sort_faces(paths, opts.by, target=opts.target, dissimilar=opts.dissimilar, ctx=ctx,
                        workers=opts.workers, identity_model=opts.identity_model)
    op = apply_order(folder, result, f"sort {opts.by}", ctx)
    for why, n in result.reasons.items():
        ctx.log(f"{n} face{'s' if n != 1 else ''} to the trash: {why}")
    res = {"folder": str(folder), "method": opts.by, "kept": len(result.kept), "trashed": len(result.trashed),
           "undo_id": op.id}
    ctx.result(**res)
    if result.trashed:
        ctx.log(f"rejected faces are in {folder / '.trash'}")
    from .trash import undo_hint

    ctx.log(f"undo the sort: {undo_hint(opts.side)}; original names only: Faceset tools in the TUI, "
            f"action recover-names, or 'dfl-tui faceset {opts.side} recover-names'")
    return res
