"""``metadata-save`` / ``metadata-restore``: keep face metadata across external editing.

Users upscale or colour-correct faces with other programs, which drop the
metadata inside the files. ``metadata-save`` writes every face's metadata to
``<set>/metadata.json`` (JSON: numpy arrays and bytes are tagged, nothing is
pickled); ``metadata-restore`` puts it back into the edited images, resizing an
image back to its saved size (Lanczos) when the editor changed it. A face whose
file became ``.png`` (or ``.jpg``) is found by its stem. DeepFaceLab's ``meta.dat``
is read too, through the restricted unpickler. Restored files replace the edited
ones as one undoable operation (the edited versions go to the trash).
"""

from __future__ import annotations

import base64
import json
import time
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from ..errors import InputError
from ..faces.dflimg import FaceMeta, encode_face, restricted_loads
from ..jobs.context import Reporter
from ..util.atomic import atomic_write_text
from ..workspace import list_images
from . import features as F
from .parallel import map_faces
from .trash import Trash

SIDECAR = "metadata.json"
DFL_META = "meta.dat"


def to_jsonable(v: Any) -> Any:
    if isinstance(v, np.ndarray):
        return {"__ndarray__": v.tolist(), "dtype": str(v.dtype), "shape": list(v.shape)}
    if isinstance(v, (bytes, bytearray)):
        return {"__bytes__": base64.b64encode(bytes(v)).decode("ascii")}
    if isinstance(v, np.generic):
        return v.item()
    if isinstance(v, dict):
        return {str(k): to_jsonable(x) for k, x in v.items()}
    if isinstance(v, (list, tuple)):
        return [to_jsonable(x) for x in v]
    return v


def from_jsonable(v: Any, depth: int = 0) -> Any:
    """Inverse of :func:`to_jsonable`; raises ValueError/TypeError for what it did not write."""
    if depth > 32:
        raise ValueError("nested too deeply")
    if isinstance(v, dict):
        if "__ndarray__" in v:
            dtype = np.dtype(str(v.get("dtype", "float64")))
            if dtype.kind not in "biufc":
                raise ValueError(f"array of {dtype}")
            return np.asarray(v["__ndarray__"], dtype=dtype).reshape(v.get("shape", [-1]))
        if "__bytes__" in v:
            return base64.b64decode(v["__bytes__"])
        return {k: from_jsonable(x, depth + 1) for k, x in v.items()}
    if isinstance(v, list):
        return [from_jsonable(x, depth + 1) for x in v]
    return v


def _shape(v: Any) -> list[int]:
    if not isinstance(v, (list, tuple)) or len(v) not in (2, 3) or \
            not all(isinstance(n, int) and not isinstance(n, bool) and 0 < n <= 1 << 16 for n in v):
        raise ValueError(f"shape {v!r} is not [height, width(, channels)]")
    return list(v)


def _entry(p: Path) -> dict:
    data = F.read_bytes(p)
    meta = F.try_meta(data, str(p))
    if meta is None:
        raise F.FaceFileError(f"{p}: no face metadata to save")
    img = F.decode(data, str(p))
    return {"shape": list(img.shape), "meta": to_jsonable(meta.to_dict())}


def save_metadata(folder: Path, paths: Sequence[Path], ctx: Reporter | None = None, *, overwrite: bool = True,
                  workers: int = 0) -> Path:
    ctx = ctx or Reporter()
    out = folder / SIDECAR
    if out.exists() and not overwrite:
        raise InputError(f"{out} already exists; restore it first or pass --overwrite")
    vals = map_faces(paths, _entry, ctx, stage="reading metadata", workers=workers)
    files = {}
    for p, v in zip(paths, vals):
        if isinstance(v, Exception):
            ctx.warn(str(v))
        else:
            files[p.name] = v
    atomic_write_text(out, json.dumps({"version": 1, "saved": time.time(), "files": files}, separators=(",", ":")))
    ctx.log(f"saved the metadata of {len(files)} faces to {out}")
    return out


def load_saved(folder: Path, warn: Any = None) -> dict[str, dict]:
    """name -> {"shape": [h, w, c], "meta": DeepFaceLab dict} from metadata.json or DeepFaceLab's meta.dat.

    A file that is not what metadata-save (or DeepFaceLab) writes is an error naming it; a single
    malformed entry is reported through ``warn`` (naming the file and the entry) and skipped."""
    side, dat = folder / SIDECAR, folder / DFL_META
    if side.exists():
        try:
            doc = json.loads(side.read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            raise InputError(f"{side}: cannot read it ({exc})") from None
        files = doc.get("files") if isinstance(doc, dict) else None
        if not isinstance(files, dict):
            raise InputError(f"{side}: not a metadata file of metadata-save (no 'files' object); run metadata-save "
                             "again, or fix the file")
        source, items = side, list(files.items())
    elif dat.exists():
        obj = restricted_loads(dat.read_bytes(), str(dat))
        if not isinstance(obj, dict):
            raise InputError(f"{dat}: not a DeepFaceLab metadata file (it holds a {type(obj).__name__}, not a "
                             "dictionary)")
        source, items = dat, list(obj.items())
    else:
        raise InputError(f"no {SIDECAR} (or DeepFaceLab {DFL_META}) in {folder}; run metadata-save first")
    out = {}
    for n, e in items:
        try:
            if source == side:
                if not isinstance(e, dict):
                    raise ValueError(f"a {type(e).__name__}, not an object")
                shape, meta = _shape(e.get("shape")), from_jsonable(e.get("meta"))
            else:
                if not isinstance(e, (list, tuple)) or len(e) != 2:
                    raise ValueError("not a (shape, metadata) pair")
                shape, meta = _shape(e[0]), e[1]
            if not isinstance(meta, dict):
                raise ValueError(f"its metadata is a {type(meta).__name__}, not a dictionary")
        except (ValueError, TypeError) as exc:
            if warn is not None:
                warn(f"{source}: the entry for {str(n)!r} is malformed ({exc}); skipped")
            continue
        out[str(n)] = {"shape": shape, "meta": meta}
    return out


def restore_metadata(folder: Path, ctx: Reporter | None = None, *, quality: int = 100, workers: int = 0) -> dict:
    import cv2

    ctx = ctx or Reporter()
    saved = load_saved(folder, ctx.warn)
    by_stem = {p.stem: p for p in list_images(folder)}
    trash = Trash(folder)
    staging = trash.staging()
    jobs = []
    for name, entry in saved.items():
        p = folder / name
        if not p.exists():
            p = by_stem.get(Path(name).stem)
        if p is None:
            ctx.warn(f"{name}: not found in {folder}; skipped")
            continue
        jobs.append((p, entry))

    def work(item: tuple[Path, dict]) -> tuple[str, bool]:
        p, entry = item
        data = F.read_bytes(p)
        img = F.decode(data, str(p))
        h, w = int(entry["shape"][0]), int(entry["shape"][1])
        resized = img.shape[:2] != (h, w)
        if resized:
            img = cv2.resize(img, (w, h), interpolation=cv2.INTER_LANCZOS4)
        meta = FaceMeta.from_dict(entry["meta"], f"{p} (saved metadata)")
        (staging / p.name).write_bytes(encode_face(img, meta, p.suffix, quality))
        return p.name, resized

    vals = map_faces([j for j in jobs], work, ctx, stage="restoring metadata", workers=workers)  # type: ignore[arg-type]
    names, resized = [], 0
    for (p, _), v in zip(jobs, vals):
        if isinstance(v, Exception):
            ctx.warn(f"{p}: {v}")
            continue
        names.append(v[0])
        resized += int(v[1])
    op = trash.replace(names, "metadata-restore")
    ctx.log(f"restored metadata into {len(names)} faces ({resized} resized back); the edited files are in the trash")
    return {"restored": len(names), "resized": resized, "undo_id": op.id}
