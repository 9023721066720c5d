"""The ``identity`` step: embed every face of a set (cache beside it) and report the set's identities."""

from __future__ import annotations

from typing import Any

import numpy as np

from ..jobs.context import Reporter
from .options import IdentityOptions


def run_identity(ctx: Reporter, o: IdentityOptions) -> dict[str, Any]:
    from ..faceset.sort import check_faceset, resolve_folder
    from .distance import central, distance
    from .embed import embed_faces
    from .models import load_model

    folder = resolve_folder(ctx.workspace, o.side, o.folder)
    paths = check_faceset(folder)
    model = load_model(o.identity_model)
    ctx.log(f"{len(paths)} faces in {folder}; model: {model.describe()}")
    errors: dict[str, str] = {}
    emb = embed_faces(paths, model, ctx=ctx, errors=errors)
    for p, why in list(errors.items())[:5]:
        ctx.warn(why)
    ok = np.isfinite(emb).all(1)
    res: dict[str, Any] = {"folder": str(folder), "faces": len(paths), "embedded": int(ok.sum()),
                           "failed": len(errors), "model": model.id}
    if ok.any():
        d = distance(emb[ok], central(emb[ok], model.metric), model.metric)[:, 0]
        far = int((d > model.threshold).sum())
        res["far_from_main"] = far
        ctx.log(f"{int(ok.sum())} faces embedded; {far} are farther than {model.threshold} from the set's main "
                f"identity (sort them last: dfl-tui sort {o.side} --by identity)")
    ctx.result(**res)
    return res
