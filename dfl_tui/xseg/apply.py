"""The ``xseg`` step: apply a trained or the generic mask, remove masks or labels, fetch, export.

Actions (DeepFaceLab §5.4 and §1 ``xseg ...``, plus dfl-tui's own):

* ``apply``: the trained model (``model/XSeg``) on every face of a set, fed as DeepFaceLab's
  "XSeg apply" feeds it (the face as float, Lanczos-resized to the model's resolution). When
  the faceset's face type differs from the model's, the model's crop is cut from the face's
  landmarks, predicted there and mapped back, as DeepFaceLab does. Masks are binarised at 0.5
  and stored at 256 px in the face file (``xseg_mask``); the pixels are not touched.
* ``apply-generic``: the FaceMesh whole-face mask (:mod:`dfl_tui.xseg.generic`), no model needed.
* ``remove`` / ``remove-labels``: drop the masks / the polygons. Nothing is lost: what is
  removed is first written to ``<aligned>/.xseg_backup/<kind>-<time>.json``;
  ``restore-labels`` puts the newest labels backup back.
* ``fetch``: copy the labelled faces to ``<aligned>_xseg`` (the originals stay).
* ``export-masks``: each face's mask as ``<stem>_mask.png`` in ``<aligned>_masks``.

A face that cannot be read is reported and skipped; the rest go on.
"""

from __future__ import annotations

import base64
import os
import shutil
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, Callable

import cv2
import numpy as np

from ..errors import DflError, InputError
from ..faces import dflimg
from ..faces.facetype import FaceType
from ..faces.landmarks import get_transform_mat
from ..faces.thumbs import thumbnail_path
from ..util.atomic import atomic_write_bytes, atomic_write_json, read_json
from ..workspace import list_images
from .options import XSegOptions
from .polys import face_mask_from_meta, has_labels, polys_from_meta

MASK_SIZE = 256
BACKUP_DIR = ".xseg_backup"


# ---------------------------------------------------------------------------
# Helpers
# ---------------------------------------------------------------------------


def _skipped(message: str) -> str:
    """A warning for a face that was left out: messages that already say so are not said twice."""
    return message if "skipped" in message else f"skipped: {message}"


def faces_dir(ctx: Any, opts: XSegOptions) -> Path:
    if opts.input_dir:
        p = Path(opts.input_dir).expanduser()
        if not p.is_absolute() and ctx.workspace is not None:
            p = Path(ctx.workspace.root) / p
        return p
    if ctx.workspace is None:
        raise DflError("no workspace and no --input-dir")
    return ctx.workspace.aligned(opts.side)


def _faces(folder: Path) -> list[Path]:
    if not folder.is_dir():
        raise InputError(f"{folder} does not exist: extract faces first (step 4 or 6 in the TUI, "
                         "or dfl-tui extract-faces)")
    files = list_images(folder)
    if not files and (folder / "faceset.pak").exists():
        raise InputError(f"{folder} holds a packed faceset.pak: unpack it first (Faceset tools in the TUI, "
                         "action unpack, or dfl-tui faceset SIDE unpack)")
    return files


def keep_thumbnail_fresh(face: Path) -> None:
    """Metadata-only rewrites leave the pixels alone: keep the thumbnail counted as fresh."""
    tp = thumbnail_path(face)
    if tp.exists():
        try:
            os.utime(tp, None)
        except OSError:
            pass


def store_mask(path: Path, meta: dflimg.FaceMeta, mask: np.ndarray) -> None:
    """Binarise at 0.5, store at 256 px in the face's metadata, rewrite only the metadata."""
    m = mask.astype(np.float32)
    if m.shape[:2] != (MASK_SIZE, MASK_SIZE):
        m = cv2.resize(m, (MASK_SIZE, MASK_SIZE), interpolation=cv2.INTER_LINEAR)
    meta.set_xseg_mask((m > 0.5).astype(np.float32))
    dflimg.write_meta(path, meta)
    keep_thumbnail_fresh(path)


def backup_path(folder: Path, kind: str) -> Path:
    return folder / BACKUP_DIR / f"{kind}-{time.strftime('%Y%m%d-%H%M%S')}-{os.getpid()}.json"


def latest_backup(folder: Path, kind: str) -> Path | None:
    d = folder / BACKUP_DIR
    if not d.is_dir():
        return None
    found = sorted(p for p in d.glob(f"{kind}-*.json"))
    return found[-1] if found else None


# ---------------------------------------------------------------------------
# apply (trained model)
# ---------------------------------------------------------------------------


def predict_for_face(model: Any, image: np.ndarray, meta: dflimg.FaceMeta) -> tuple[np.ndarray, np.ndarray | None]:
    """(model input, matrix face -> crop, or None for a plain resize) for one face, as DeepFaceLab's
    "XSeg apply" cuts it: the face as float in [0, 1], resized (same face type) or warped (the model's
    type cut from the face's landmarks, black outside) with Lanczos to the model's resolution."""
    img = image.astype(np.float32) * np.float32(1.0 / 255.0)
    res = model.resolution
    if meta.face_type_enum == model.face_type or meta.landmarks is None or model.face_type == FaceType.MARK_ONLY:
        if img.shape[:2] != (res, res):
            img = cv2.resize(img, (res, res), interpolation=cv2.INTER_LANCZOS4)
        return img, None
    mat = get_transform_mat(meta.landmarks, res, model.face_type)
    crop = cv2.warpAffine(img, mat, (res, res), flags=cv2.INTER_LANCZOS4, borderMode=cv2.BORDER_CONSTANT,
                          borderValue=0)
    return crop, mat


def mask_back(pred: np.ndarray, mat: np.ndarray | None, face_shape: tuple[int, int]) -> np.ndarray:
    """A predicted crop mask mapped back onto the face (zero outside the crop); ``mat`` None: the face
    itself was resized, so the mask is already the face's (at the model's resolution)."""
    if mat is None:
        return pred
    h, w = face_shape
    return cv2.warpAffine(pred, mat, (w, h), flags=cv2.INTER_LANCZOS4 | cv2.WARP_INVERSE_MAP,
                          borderMode=cv2.BORDER_CONSTANT, borderValue=0)


def apply_model(ctx: Any, folder: Path, opts: XSegOptions) -> dict[str, Any]:
    from ..device import pick_device
    from .model import load_xseg, model_dir_for

    mdir = model_dir_for(ctx.workspace, opts.model_dir or None)
    model = load_xseg(mdir, pick_device(opts.device), warn=ctx.warn)
    ctx.log(f"XSeg model {mdir.root} (iteration {model.iteration}, {model.face_type.to_string()} "
            f"{model.resolution}px) on {model.device}")
    files = _faces(folder)
    ctx.stage(f"applying XSeg to {folder}", total=len(files), unit="faces")
    done = masked = skipped = 0
    batch = int(opts.batch_size)

    def load(p: Path) -> tuple[Path, np.ndarray, dflimg.FaceMeta, np.ndarray, np.ndarray] | str:
        try:
            image, meta = dflimg.load_face(p)
            if meta.face_type_enum != model.face_type and meta.landmarks is None:
                return f"{p}: no landmarks to cut the model's {model.face_type.to_string()} crop from"
            crop, mat = predict_for_face(model, image, meta)
            return p, image, meta, crop, mat
        except InputError as exc:
            return str(exc)

    with ThreadPoolExecutor(max_workers=2, thread_name_prefix="xseg-read") as pool:
        for start in range(0, len(files), batch):
            ctx.check_cancel()
            loaded = list(pool.map(load, files[start:start + batch]))
            good = [x for x in loaded if not isinstance(x, str)]
            for x in loaded:
                if isinstance(x, str):
                    ctx.warn(_skipped(x))
                    skipped += 1
            preds = model.predict([g[3] for g in good])
            for (p, image, meta, _crop, mat), pred in zip(good, preds):
                try:
                    store_mask(p, meta, mask_back(pred, mat, image.shape[:2]))
                    masked += 1
                except (InputError, OSError) as exc:
                    ctx.warn(_skipped(f"{p}: {exc}"))
                    skipped += 1
            done += len(loaded)
            ctx.progress(done, len(files), masked=masked, skipped=skipped)
    return {"faces": len(files), "masked": masked, "skipped": skipped, "model_iteration": model.iteration}


# ---------------------------------------------------------------------------
# apply-generic
# ---------------------------------------------------------------------------


def apply_generic(ctx: Any, folder: Path, opts: XSegOptions) -> dict[str, Any]:
    from ..faces.landmarks import get_image_hull_mask
    from .generic import GenericMasker

    files = _faces(folder)
    ctx.log(f"generic whole-face mask (FaceMesh 468 points, forehead x{opts.forehead:g}, "
            f"skin refine {'on' if opts.skin_refine else 'off'}) on {len(files)} faces in {folder}")
    ctx.stage(f"generic masks for {folder}", total=len(files), unit="faces")
    local = threading.local()
    fallbacks: list[str] = []

    def one(p: Path) -> str | None:
        masker = getattr(local, "masker", None)
        if masker is None:
            masker = local.masker = GenericMasker(forehead=opts.forehead, skin_refine=opts.skin_refine)
        try:
            image, meta = dflimg.load_face(p)
        except InputError as exc:
            return str(exc)
        if meta.landmarks is None:
            return f"{p}: no landmarks in its metadata"
        try:
            mask = masker(image, meta.landmarks)
        except (cv2.error, ValueError, np.linalg.LinAlgError) as exc:
            # A mesh that will not fit (a face cut off at the border, say): the landmark hull rather than nothing.
            mask = get_image_hull_mask(image.shape, meta.landmarks)[..., 0]
            fallbacks.append(f"{p.name} ({type(exc).__name__})")
        store_mask(p, meta, mask)
        return None

    done = masked = skipped = 0
    workers = max(1, min(4, (os.cpu_count() or 2)))
    with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="xseg-generic") as pool:
        for start in range(0, len(files), 32):
            ctx.check_cancel()
            for err in pool.map(one, files[start:start + 32]):
                done += 1
                if err is None:
                    masked += 1
                else:
                    skipped += 1
                    ctx.warn(_skipped(err))
            ctx.progress(done, len(files), masked=masked, skipped=skipped)
    if fallbacks:
        ctx.warn(f"{len(fallbacks)} face(s) got the landmark hull mask because the mesh could not fit: "
                 + ", ".join(fallbacks[:10]) + (" ..." if len(fallbacks) > 10 else ""))
    return {"faces": len(files), "masked": masked, "skipped": skipped, "hull_fallbacks": len(fallbacks),
            "method": "generic (FaceMesh)"}


# ---------------------------------------------------------------------------
# remove / remove-labels / restore-labels
# ---------------------------------------------------------------------------


def _rewrite_all(ctx: Any, folder: Path, title: str, change: Callable[[dflimg.FaceMeta], Any | None],
                 kind: str) -> dict[str, Any]:
    """Apply ``change`` to every face's metadata; keep what it removed in a backup file first."""
    files = _faces(folder)
    ctx.stage(title, total=len(files), unit="faces")
    removed: dict[str, Any] = {}
    plans: list[tuple[Path, dflimg.FaceMeta]] = []
    skipped = 0
    for i, p in enumerate(files):
        try:
            meta = dflimg.read_meta(p)
        except InputError as exc:
            ctx.warn(f"skipped: {exc}")
            skipped += 1
            continue
        old = change(meta)
        if old is not None:
            removed[p.name] = old
            plans.append((p, meta))
        if i % 64 == 0:
            ctx.progress(i, len(files))
            ctx.check_cancel()  # nothing is written before every face is read: stopping here changes nothing
    backup = None
    if removed:
        backup = backup_path(folder, kind)
        atomic_write_json(backup, {"kind": kind, "folder": str(folder), "time": time.time(), "faces": removed},
                          indent=None)
        ctx.log(f"backup of what is removed: {backup}")
    changed = 0
    for p, meta in plans:
        try:
            dflimg.write_meta(p, meta)
            keep_thumbnail_fresh(p)
            changed += 1
        except (InputError, OSError) as exc:
            ctx.warn(f"skipped: {p}: {exc}")
            skipped += 1
    ctx.progress(len(files), len(files), changed=changed, skipped=skipped)
    return {"faces": len(files), "changed": changed, "skipped": skipped, "backup": str(backup) if backup else None}


def remove_masks(ctx: Any, folder: Path) -> dict[str, Any]:
    def change(meta: dflimg.FaceMeta) -> Any | None:
        if meta.xseg_mask_buf is None:
            return None
        old = base64.b64encode(meta.xseg_mask_buf).decode("ascii")
        meta.xseg_mask_buf = None
        return old

    return _rewrite_all(ctx, folder, f"removing XSeg masks in {folder}", change, "masks")


def remove_labels(ctx: Any, folder: Path) -> dict[str, Any]:
    def change(meta: dflimg.FaceMeta) -> Any | None:
        if not meta.seg_ie_polys:
            return None
        old = [{"type": int(p["type"]), "pts": np.asarray(p["pts"], np.float32).tolist()} for p in meta.seg_ie_polys]
        meta.seg_ie_polys = None
        return old

    return _rewrite_all(ctx, folder, f"removing XSeg labels in {folder}", change, "labels")


def restore_labels(ctx: Any, folder: Path) -> dict[str, Any]:
    """Put back the polygons of the newest labels backup (faces that now have labels are left alone)."""
    backup = latest_backup(folder, "labels")
    if backup is None:
        raise InputError(f"no labels backup in {folder / BACKUP_DIR}: nothing to restore")
    data = read_json(backup, None)
    if not isinstance(data, dict) or not isinstance(data.get("faces"), dict):
        raise InputError(f"{backup}: not a labels backup written by dfl-tui")
    faces = data["faces"]
    ctx.stage(f"restoring labels from {backup.name}", total=len(faces), unit="faces")
    restored = kept = missing = 0
    for i, (name, polys) in enumerate(faces.items()):
        p = folder / name
        try:
            meta = dflimg.read_meta(p)
        except InputError:
            missing += 1
            continue
        if has_labels(polys_from_meta(meta.seg_ie_polys)):
            kept += 1
            continue
        meta.seg_ie_polys = [{"type": int(q["type"]), "pts": np.asarray(q["pts"], np.float32)} for q in polys]
        dflimg.write_meta(p, meta)
        keep_thumbnail_fresh(p)
        restored += 1
        ctx.progress(i + 1, len(faces))
    if missing:
        ctx.warn(f"{missing} face(s) of the backup are no longer in {folder}")
    return {"backup": str(backup), "restored": restored, "already_labelled": kept, "missing": missing}


# ---------------------------------------------------------------------------
# fetch / export-masks
# ---------------------------------------------------------------------------


def sibling(folder: Path, suffix: str, override: str = "") -> Path:
    if override:
        return Path(override).expanduser()
    return folder.with_name(folder.name + suffix)


def fetch(ctx: Any, folder: Path, opts: XSegOptions) -> dict[str, Any]:
    """Copy the labelled faces to ``<aligned>_xseg`` (a set to label further or to share)."""
    files = _faces(folder)
    out = sibling(folder, "_xseg", opts.output_dir)
    ctx.stage(f"fetching labelled faces to {out}", total=len(files), unit="faces")
    copied = existing = 0
    for i, p in enumerate(files):
        if i % 64 == 0:
            ctx.check_cancel()
        try:
            meta = dflimg.read_meta(p)
        except InputError as exc:
            ctx.warn(f"skipped: {exc}")
            continue
        if has_labels(polys_from_meta(meta.seg_ie_polys)):
            out.mkdir(parents=True, exist_ok=True)
            dest = out / p.name
            if dest.exists() and dest.read_bytes() == p.read_bytes():
                existing += 1
            else:
                shutil.copy2(p, dest)
                copied += 1
        if i % 64 == 0:
            ctx.progress(i, len(files), copied=copied)
    ctx.progress(len(files), len(files), copied=copied)
    return {"faces": len(files), "copied": copied, "already_there": existing, "output": str(out)}


def export_masks(ctx: Any, folder: Path, opts: XSegOptions) -> dict[str, Any]:
    """Each face's mask (trained/generic mask, else baked labels) as an 8-bit PNG ``<stem>_mask.png``."""
    files = [p for p in _faces(folder) if "_mask" not in p.stem]
    out = sibling(folder, "_masks", opts.output_dir)
    ctx.stage(f"exporting masks to {out}", total=len(files), unit="faces")
    written = none = 0
    for i, p in enumerate(files):
        ctx.check_cancel()
        try:
            meta = dflimg.read_meta(p)
            h, w = _image_size(p)
        except InputError as exc:
            ctx.warn(f"skipped: {exc}")
            continue
        for note in meta.notes:
            ctx.warn(note)
        mask = face_mask_from_meta(meta, (h, w), opts.source)
        if mask is None:
            none += 1
            continue
        ok, buf = cv2.imencode(".png", ((mask > 0.5) * 255).astype(np.uint8))
        if ok:
            atomic_write_bytes(out / f"{p.stem}_mask.png", buf.tobytes(), fsync=False)
            written += 1
        ctx.progress(i + 1, len(files), written=written)
    if none:
        ctx.warn(f"{none} face(s) have no {'mask or labels' if opts.source == 'auto' else opts.source}: not exported")
    return {"faces": len(files), "written": written, "without_mask": none, "output": str(out)}


def _image_size(p: Path) -> tuple[int, int]:
    img = cv2.imread(str(p), cv2.IMREAD_GRAYSCALE)
    if img is None:
        raise InputError(f"{p}: cannot decode the image")
    return img.shape[:2]


# ---------------------------------------------------------------------------
# The step
# ---------------------------------------------------------------------------


def run_xseg(ctx: Any, opts: XSegOptions) -> dict[str, Any]:
    """The ``xseg`` step's run function (see the module docstring)."""
    folder = faces_dir(ctx, opts)
    action = opts.action
    if action == "apply":
        res = apply_model(ctx, folder, opts)
    elif action == "apply-generic":
        res = apply_generic(ctx, folder, opts)
    elif action == "remove":
        res = remove_masks(ctx, folder)
    elif action == "remove-labels":
        res = remove_labels(ctx, folder)
    elif action == "restore-labels":
        res = restore_labels(ctx, folder)
    elif action == "fetch":
        res = fetch(ctx, folder, opts)
    elif action == "export-masks":
        res = export_masks(ctx, folder, opts)
    else:  # validated by the options; kept for direct callers
        raise InputError(f"unknown xseg action {action!r}")
    res = {"action": action, "folder": str(folder), **res}
    ctx.result(**res)
    return res

