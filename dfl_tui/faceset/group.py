"""``dfl-tui faceset SIDE group --by identity``: the faces of each person into their own sub-folder.

``person_1/`` holds the largest group (the set's main person), ``person_2/`` the next, and so on
(the names ``pack --persons`` packs as persons). One undoable operation of the set's trash:
``faceset SIDE undo`` puts every face back. Faces that cannot be embedded stay where they are.
Each sub-folder gets its faces' embeddings in its own cache, so sorting it later embeds nothing.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Sequence

import numpy as np

from ..jobs.context import Reporter


def group_by_identity(folder: Path, paths: Sequence[Path], ctx: Reporter, *, model: str = "dlib",
                      threshold: float | None = None, prefix: str = "person_",
                      undo: str = "dfl-tui faceset SIDE undo (or u in the reviewer)") -> dict[str, Any]:
    from ..identity.cache import EmbeddingCache, content_key
    from ..identity.embed import embed_faces
    from ..identity.grouping import identity_groups
    from ..identity.models import load_model
    from .trash import Trash

    m = load_model(model)
    thr = float(threshold or m.threshold)
    errors: dict[str, str] = {}
    emb = embed_faces(paths, m, ctx=ctx, errors=errors)
    ok = [i for i in range(len(paths)) if np.isfinite(emb[i]).all()]
    for why in list(errors.values())[:5]:
        ctx.warn(f"{why}; left in place")
    if not ok:
        return {"groups": 0, "moved": 0, "left": len(paths)}
    ctx.stage("grouping people", len(ok), "faces")
    groups = [[ok[j] for j in g] for g in identity_groups(emb[ok], thr, m.metric)]
    width = max(1, len(str(len(groups))))
    names = [f"{prefix}{k + 1:0{width}d}" for k in range(len(groups))]
    moves = [(paths[i].name, f"{name}/{paths[i].name}") for name, g in zip(names, groups) for i in g]
    op = Trash(folder).apply(moves, "group by identity", avoid_clash=True,
                             info={"method": "identity", "threshold": thr, "groups": len(groups)})
    # the moved faces keep their embeddings: each sub-folder's cache gets them
    where = {a: b for a, b in op.moves}
    for name, g in zip(names, groups):
        cache = EmbeddingCache(folder / name, m.id, m.dim)
        for i in g:
            dst = folder / where.get(paths[i].name, f"{name}/{paths[i].name}")
            if dst.parent == folder / name and dst.is_file():
                cache.put(dst, dst.stat(), content_key(dst), emb[i])
        cache.save()
    for name, g in zip(names, groups):
        ctx.log(f"{name}/: {len(g)} face(s)")
    ctx.log(f"{len(groups)} people; undo: {undo}")
    return {"groups": len(groups), "sizes": [len(g) for g in groups], "moved": len(op.moves),
            "left": len(paths) - len(ok), "threshold": thr, "undo_id": op.id}
