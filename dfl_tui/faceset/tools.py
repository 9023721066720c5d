"""The ``faceset`` step: one job that runs a faceset action (``dfl-tui faceset src ACTION``)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from ..errors import InputError
from ..jobs.context import Reporter
from ..workspace import Workspace, list_images
from .sort import check_faceset, resolve_folder


def chosen_faces(folder: Path, paths: list[Path], opts: Any) -> list[Path]:
    """All faces, or those tagged ``opts.tag`` in the reviewer, or those named in ``opts.faces``."""
    out = paths
    if opts.tag:
        from .journal import read_tags

        tags = read_tags(folder)
        out = [p for p in out if tags.get(p.name) == opts.tag]
        if not out:
            raise InputError(f"no face in {folder} is tagged {opts.tag} (tag faces in the reviewer first)")
    if opts.faces:
        wanted = {Path(n).name for n in opts.faces}
        out = [p for p in out if p.name in wanted]
        missing = wanted - {p.name for p in out}
        if missing:
            raise InputError(f"not in {folder}: {', '.join(sorted(missing)[:5])}")
    return out


def run_faceset(ctx: Reporter, opts: Any) -> dict:
    ws: Workspace = ctx.workspace
    folder = resolve_folder(ws, opts.side, opts.folder)
    action = opts.action
    ctx.log(f"{action} on {folder}")
    if action == "undo":
        from .trash import Trash

        op = Trash(folder).undo()
        if op is None:
            raise InputError(f"nothing to undo in {folder}")
        what = op.action.removeprefix("undo ")
        ctx.log(f"undid {what}: {len(op.moves)} file(s) put back")
        res = {"undone": what, "files": len(op.moves)}
    elif action == "unpack":
        from .pack import unpack_folder

        res = unpack_folder(folder, ctx, overwrite=opts.overwrite)
    elif action == "metadata-restore":
        from .metadata import restore_metadata

        res = restore_metadata(folder, ctx, quality=100, workers=opts.workers)
    elif action == "pack":
        from .pack import pack_folder

        res = pack_folder(folder, ctx, persons=opts.persons, overwrite=opts.overwrite, fmt=opts.format)
    else:
        paths = list_images(folder) if action == "pack" else check_faceset(folder)
        if action == "recover-names":
            from .names import recover_names

            op = recover_names(folder, paths, ctx, opts.workers)
            res = {"renamed": len(op.moves), "undo_id": op.id}
        elif action == "metadata-save":
            from .metadata import save_metadata

            out = save_metadata(folder, paths, ctx, overwrite=True, workers=opts.workers)
            res = {"saved": str(out)}
        elif action == "add-landmarks-debug":
            from .debug import add_landmarks_debug

            res = add_landmarks_debug(folder, paths, ctx, overwrite=opts.overwrite, workers=opts.workers)
        elif action == "resize":
            from .resize import resize_set

            res = resize_set(folder, paths, opts.size, opts.face_type, ctx, quality=opts.quality, workers=opts.workers)
        elif action == "enhance":
            from .enhance import enhance_set

            res = enhance_set(folder, chosen_faces(folder, paths, opts), ctx, scale=opts.scale,
                              keep_size=opts.keep_size, quality=opts.quality, workers=opts.workers)
        elif action == "export-masks":
            from .masks_export import export_masks

            res = export_masks(folder, chosen_faces(folder, paths, opts), ctx, overwrite=opts.overwrite,
                               workers=opts.workers)
        elif action == "convert":
            from .convert import convert_set

            res = convert_set(folder, paths, opts.to, ctx, quality=opts.quality, workers=opts.workers)
        elif action == "group":
            from .group import group_by_identity

            res = group_by_identity(folder, paths, ctx, model=opts.identity_model,
                                    threshold=opts.identity_threshold or None,
                                    undo=f"dfl-tui faceset {opts.side} undo (or u in the reviewer)")
        elif action == "dedupe":
            from .dupes import run_dedupe

            res = run_dedupe(folder, paths, opts.dedupe, opts.threshold, ctx, opts.workers)
        else:
            raise InputError(f"unknown faceset action {action!r}")
    ctx.result(**{"action": action, "folder": str(folder), **res})
    return res
