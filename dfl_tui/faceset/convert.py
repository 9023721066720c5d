"""``faceset src convert --to jpg``: PNG faces to JPEG faces for DeepFaceLab, metadata kept.

DeepFaceLab reads only ``.jpg`` aligned faces (its loader ignores PNG), so a set extracted with
``--format png`` must be converted before DeepFaceLab can train on it. Each face is re-encoded
as JPEG (``--quality``, 95 by default) with its metadata (landmarks, polygons, XSeg mask...)
inside, exactly as extraction writes JPEG faces; the PNGs go to the set's trash in one
undoable operation.
"""

from __future__ import annotations

from pathlib import Path
from typing import Sequence

from ..errors import InputError
from ..faces.dflimg import encode_face
from ..jobs.context import Reporter
from . import features as F
from .sort import map_faces
from .trash import STAGING_DIR, TRASH_DIR, Trash

CONVERT_TARGETS = ("jpg",)


def convert_set(folder: Path, paths: Sequence[Path], to: str = "jpg", ctx: Reporter | None = None, *,
                quality: int = 95, workers: int = 0) -> dict:
    ctx = ctx or Reporter()
    if to not in CONVERT_TARGETS:
        raise InputError(f"convert --to {to}: only jpg (the format DeepFaceLab reads)")
    todo = [p for p in paths if p.suffix.lower() not in (".jpg", ".jpeg")]
    if not todo:
        ctx.log(f"every face in {folder} is a JPEG already; nothing to convert")
        return {"converted": 0}
    clash = [p for p in todo if p.with_suffix(".jpg").exists()]
    if clash:
        raise InputError(f"{clash[0].with_suffix('.jpg')} already exists beside {clash[0].name}; move one of them "
                         "away first")
    trash = Trash(folder)
    staging = trash.staging()

    def work(p: Path) -> str:
        data = F.read_bytes(p)
        meta = F.try_meta(data, str(p))
        if meta is None:
            raise F.FaceFileError(f"{p}: no face metadata; left as it is")
        (staging / (p.stem + ".jpg")).write_bytes(encode_face(F.decode(data, str(p)), meta, ".jpg", quality))
        return p.name

    names = []
    for v in map_faces(todo, work, ctx, stage="converting to JPEG", workers=workers):
        if isinstance(v, Exception):
            ctx.warn(str(v))
        else:
            names.append(v)
    moves = []
    for n in names:
        moves.append((n, f"{TRASH_DIR}/{n}"))
        moves.append((f"{STAGING_DIR}/{Path(n).stem}.jpg", f"{Path(n).stem}.jpg"))
    op = trash.apply(moves, "convert to jpg", avoid_clash=True)
    ctx.log(f"converted {len(names)} faces to JPEG (quality {quality}, metadata kept); the PNGs are in the trash "
            "(undo puts them back)")
    return {"converted": len(names), "undo_id": op.id}
