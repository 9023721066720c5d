"""``recover-names``: give faces back the names they had at extraction.

A sort renames faces ``00000.jpg, 00001.jpg ...``; the metadata still knows each
face's source frame, so every face becomes ``<frame stem>_<n><ext>`` again, where
``n`` counts the faces of that frame in the current order (as DeepFaceLab does).
Faces without metadata keep their names. One undoable operation of the trash.
"""

from __future__ import annotations

from pathlib import Path
from typing import Sequence

from ..jobs.context import Reporter
from . import features as F
from .parallel import map_faces
from .trash import Op, Trash


def _source_of(p: Path) -> str | None:
    meta = F.try_meta(F.read_bytes(p), str(p))
    return meta.source_filename if meta is not None else None


def recovered_names(paths: Sequence[Path], sources: Sequence[str | None]) -> list[str]:
    counts: dict[str, int] = {}
    out = []
    for p, src in zip(paths, sources):
        if not src:
            out.append(p.name)
            continue
        stem = Path(src).stem
        n = counts.get(stem, 0)
        counts[stem] = n + 1
        out.append(f"{stem}_{n}{p.suffix.lower()}")
    return out


def recover_names(folder: Path, paths: Sequence[Path], ctx: Reporter | None = None, workers: int = 0) -> Op:
    ctx = ctx or Reporter()
    vals = map_faces(paths, _source_of, ctx, stage="reading names", workers=workers)
    for v in vals:
        if isinstance(v, Exception):
            ctx.warn(f"{v}; it keeps its name")
    sources = [None if isinstance(v, Exception) else v for v in vals]
    missing = sum(1 for s in sources if not s)
    if missing:
        ctx.warn(f"{missing} file(s) have no face metadata and keep their names")
    new = recovered_names(paths, sources)
    moves = [(p.name, n) for p, n in zip(paths, new) if p.name != n]
    ctx.stage("renaming", 2 * len(moves), "files")
    return Trash(folder).apply(moves, "recover-names", avoid_clash=True, progress=lambda d, t: ctx.progress(d, t))
