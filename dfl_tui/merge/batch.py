"""The ``merge`` step: every dst frame through the model into ``data_dst/merged/``.

Pipeline (one job process):

* reader threads decode frames, read the frame's aligned faces and cut the model inputs
  (:func:`dfl_tui.video.imageio.read_ahead`);
* the main thread batches faces from several frames into one model call (the GPU);
* writer threads (:class:`dfl_tui.video.imageio.ImageWriter`) composite (:mod:`.masked`, OpenCV releases the GIL), add the visible
  label if asked, embed the invisible watermark, encode the PNG with its "AI-generated"
  metadata and write it atomically, with its mask in ``data_dst/merged_mask/``.

Resume: every merged PNG records a key of the settings, model iteration and faces it
was made with; a frame whose PNG already has the key it would get now is skipped, so
an interrupted merge (or one re-run after changing a few frames in the interactive
merger) redoes only what changed. Frames with no aligned face are copied through
(marked like the others); a frame that cannot be read or merged is reported and the
batch goes on.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import cv2
import numpy as np

from .. import __version__
from ..errors import DflError, InputError
from ..faces import dflimg
from ..faces.extract_state import extraction_border, face_border
from ..faces.facetype import FaceType
from ..provenance import metadata as md
from ..provenance import watermark as wm
from ..provenance.label import draw_label
from ..util.atomic import disk_full, is_disk_full
from ..util.imagesize import size_problem
from ..video.imageio import ImageWriter, read_ahead, read_image, write_file
from ..workspace import list_images
from .masked import FaceJob, MaskUnavailable, MergeResult, cut_input, merge_frame, motion_vector
from .options import XSEG_MASK_MODES, FrameSettings, MergeOptions, settings_key
from .predictor import Prediction, Predictor, load_predictor
from .session import MergeSession

MERGE_KEY = "dfl-tui:merge"
#: bump when the output of the same settings changes (invalidates resumed frames)
PIPELINE_VERSION = 1
PNG_COMPRESSION = 1  # fast; merged frames are intermediate files


# ---------------------------------------------------------------------------
# dst faces, grouped by frame
# ---------------------------------------------------------------------------


@dataclass
class DstFace:
    path: Path
    meta: dflimg.FaceMeta
    index: int  # the _N of 00001_N.jpg: order of faces in a frame


def _face_index(path: Path) -> int:
    tail = path.stem.rsplit("_", 1)
    return int(tail[1]) if len(tail) == 2 and tail[1].isdigit() else 0


def _frame_stem_of(path: Path, meta: dflimg.FaceMeta) -> str:
    if meta.source_filename:
        return Path(meta.source_filename).stem
    return path.stem.rsplit("_", 1)[0]


def read_dst_faces(folder: Path, warn: Callable[[str], None], workers: int = 4) -> dict[str, list[DstFace]]:
    """Aligned dst faces grouped by the stem of the frame they come from (DeepFaceLab's rule)."""
    files = list_images(folder)

    def read(p: Path) -> DstFace | str:
        try:
            meta = dflimg.read_meta(p)
        except InputError as exc:
            return str(exc)
        if meta.source_landmarks is None:
            return f"{p}: has no frame landmarks (source_landmarks): re-extract it"
        return DstFace(p, meta, _face_index(p))

    groups: dict[str, list[DstFace]] = {}
    bad = 0
    with ThreadPoolExecutor(max_workers=max(1, workers), thread_name_prefix="merge-meta") as pool:
        for got in pool.map(read, files):
            if isinstance(got, str):
                bad += 1
                if bad <= 5:
                    warn(f"face skipped: {got}")
                continue
            groups.setdefault(_frame_stem_of(got.path, got.meta), []).append(got)
    if bad > 5:
        warn(f"... {bad} unreadable faces in {folder} in all")
    for faces in groups.values():
        faces.sort(key=lambda f: (f.index, f.path.name))
    return groups


def smooth_dst_faces(groups: dict[str, list[DstFace]], stems: list[str], strength: int) -> int:
    """Smooth the frame landmarks of the faces in ``groups`` along their tracks (:mod:`.smooth`), in place.

    Only where each face sits changes (centre, size, roll); returns the number of tracks smoothed."""
    from .smooth import build_tracks, smooth_frames

    if strength <= 0:
        return 0
    per_frame = [groups.get(s, []) for s in stems]
    lms = [[np.asarray(f.meta.source_landmarks, np.float32) for f in fs] for fs in per_frame]
    smoothed = smooth_frames(lms, strength)
    for fs, new in zip(per_frame, smoothed):
        for f, lm in zip(fs, new):
            f.meta.source_landmarks = lm
    return sum(1 for t in build_tracks(lms) if len(t) >= 3)


def _image_size(path: Path) -> int:
    from PIL import Image

    with Image.open(path) as im:
        return int(im.size[0])


def face_job(face: DstFace, with_xseg: bool, border: str = "black") -> FaceJob:
    """``border``: the fill of faces that do not record theirs (:func:`extraction_border` of their folder)."""
    meta = face.meta
    job = FaceJob(np.asarray(meta.source_landmarks, np.float32), face.path.name,
                  float(meta.eyebrows_expand_mod or 1.0), border=face_border(meta, border))
    if with_xseg and meta.image_to_face_mat is not None:
        mask = meta.get_xseg_mask()
        if mask is not None:
            size = _image_size(face.path)
            s = size / float(mask.shape[1])
            to_face = np.array([[s, 0, 0], [0, s, 0], [0, 0, 1]], np.float64)
            face_to_frame = np.linalg.inv(np.vstack([np.asarray(meta.image_to_face_mat, np.float64), [0, 0, 1]]))
            job.xseg = mask
            job.xseg_to_frame = (face_to_frame @ to_face)[:2]
    return job


def faces_key(faces: list[FaceJob]) -> str:
    h = hashlib.sha1()
    for f in faces:
        h.update(np.round(np.asarray(f.landmarks, np.float32), 2).tobytes())
        h.update(b"x" if f.xseg is not None else b"-")
        if f.border != "black":
            h.update(f.border.encode())
    return h.hexdigest()[:12]


# ---------------------------------------------------------------------------
# writing one frame
# ---------------------------------------------------------------------------


@dataclass
class Marking:
    """How every output frame is marked as synthetic."""

    record: dict[str, Any]
    mark_id: int
    label: bool

    @classmethod
    def for_predictor(cls, p: Predictor, label: bool) -> "Marking":
        mid = wm.mark_id_for(f"{p.model_type}:{p.name}")
        rec = md.provenance_record(model=p.name, model_type=p.model_type, iteration=p.iteration, mark_id=mid,
                                   label=label)
        return cls(rec, mid, label)


def encode_merged(image: np.ndarray, mask: np.ndarray, marking: Marking, key: str) -> tuple[bytes, bytes]:
    """(frame PNG, mask PNG): label, watermark and metadata applied."""
    img = draw_label(image) if marking.label else image
    img = wm.embed(img, marking.mark_id)
    ok, buf = cv2.imencode(".png", img, [cv2.IMWRITE_PNG_COMPRESSION, PNG_COMPRESSION])
    if not ok:
        raise OSError("PNG encoding failed")
    png = md.mark_png(buf.tobytes(), marking.record, {MERGE_KEY: key})
    ok, mbuf = cv2.imencode(".png", mask, [cv2.IMWRITE_PNG_COMPRESSION, PNG_COMPRESSION])
    if not ok:
        raise OSError("PNG encoding failed")
    mpng = md.add_png_text(mbuf.tobytes(), {"Software": f"dfl-tui {__version__}", "Comment": md.DISCLAIMER,
                                            MERGE_KEY: key})
    return png, mpng


def merged_key(path: Path) -> str | None:
    try:
        return md.read_png_text(path, head_only=True).get(MERGE_KEY)
    except (OSError, ValueError):
        return None


# ---------------------------------------------------------------------------
# the step
# ---------------------------------------------------------------------------


def motion_table(stems: list[str], groups: dict[str, list[DstFace]]) -> Callable[[int], tuple[float, float] | None]:
    """Frame index -> the face's motion (power, angle) between its neighbours; None when off.

    Off for every frame when any frame has several faces (DeepFaceLab's rule), and for
    frames without a face or without a neighbouring face."""
    multi = any(len(fs) > 1 for fs in groups.values())
    lm_of = {stem: np.asarray(fs[0].meta.source_landmarks, np.float32) for stem, fs in groups.items() if len(fs) == 1}

    def motion_for(i: int) -> tuple[float, float] | None:
        if multi:
            return None
        cur = lm_of.get(stems[i])
        prev_lm = lm_of.get(stems[i - 1]) if i > 0 else None
        next_lm = lm_of.get(stems[i + 1]) if i + 1 < len(stems) else None
        if cur is None or (prev_lm is None and next_lm is None):
            return None
        return motion_vector(prev_lm if prev_lm is not None else cur, next_lm if next_lm is not None else cur)

    return motion_for


def fallback_settings(s: FrameSettings, faces: list[FaceJob]) -> FrameSettings:
    """XSeg-dst modes for a frame whose faces lack XSeg masks: the landmark hull (mask mode dst) instead."""
    if s.mask_mode in ("XSeg-dst", "XSeg-prd*XSeg-dst", "learned-prd*learned-dst*XSeg-prd*XSeg-dst") and \
            any(f.xseg is None for f in faces):
        from ..options import replace

        return replace(s, mask_mode="dst")
    return s


@dataclass
class _Frame:
    index: int
    path: Path
    stem: str
    settings: FrameSettings
    key: str
    image: np.ndarray | None = None
    faces: list[FaceJob] = field(default_factory=list)
    inputs: list[np.ndarray] = field(default_factory=list)
    error: str | None = None


def frame_settings_source(ctx: Any, o: MergeOptions, model_dir: Path) -> Callable[[str], FrameSettings]:
    """Per-frame settings: the interactive merger's session when there is one (and --session), else the options."""
    base = o.frame_settings()
    if o.session:
        sess = MergeSession.load(model_dir)
        if sess is not None:
            ctx.log(f"using the interactive merger's session ({sess.summary()}; --no-session ignores it)")
            return sess.settings_for
    return lambda stem: base


def run_merge(ctx: Any, o: MergeOptions, predictor: Predictor | None = None) -> dict[str, Any]:
    ws = ctx.workspace
    frames_dir = ws.frames("dst")
    frames = list_images(frames_dir)
    if not frames:
        raise InputError(f"no frames in {frames_dir}: extract them first (step 3 in the TUI, or "
                         "dfl-tui extract-frames dst)")
    if o.limit:
        frames = frames[: o.limit]
    aligned = ws.aligned("dst")
    if not list_images(aligned):
        raise InputError(f"no faces in {aligned}: extract them first (step 6 in the TUI, or dfl-tui extract-faces dst)")
    workers = o.workers or max(2, min(8, os.cpu_count() or 2))

    ctx.stage("loading the model", total=None)
    if predictor is None:
        predictor = load_predictor(ws, o.model, o.device, o.batch_size)
    res = int(predictor.resolution)
    ft = FaceType.from_string(predictor.face_type)
    ctx.log(f"model {predictor.name} ({predictor.model_type}, iteration {predictor.iteration}, {res} px, "
            f"{ft.to_string()}) on {predictor.device}")
    model_dir = ws.model_dir / predictor.name
    settings_of = frame_settings_source(ctx, o, model_dir)
    marking = Marking.for_predictor(predictor, o.label)

    groups = read_dst_faces(aligned, ctx.warn, workers)
    stems = [p.stem for p in frames]
    if o.smooth:
        tracks = smooth_dst_faces(groups, stems, o.smooth)
        ctx.log(f"face placement smoothed along {tracks} track(s) (--smooth {o.smooth}; --smooth 0 turns it off)")
    border = extraction_border(aligned)  # for faces that do not record their fill past the frame edge
    orphans = sorted(set(groups) - set(stems))
    if orphans and not o.limit:
        ctx.warn(f"{len(orphans)} aligned face(s) name frames that are not in {frames_dir} (e.g. {orphans[0]})")

    # settings per frame, and what they need
    per_frame = [settings_of(s) for s in stems]
    needs_xseg_dst = any(s.mask_mode in XSEG_MASK_MODES for s in per_frame)
    needs_xseg_prd = any("XSeg-prd" in s.mask_mode for s in per_frame)
    xseg_model = None
    if needs_xseg_prd:
        from ..xseg.model import load_xseg, model_dir_for

        try:
            xseg_model = load_xseg(model_dir_for(ws), "cpu" if predictor.device == "cpu" else predictor.device)
        except DflError as exc:
            raise DflError(f"mask mode XSeg-prd: {exc}") from None
    if needs_xseg_dst:
        with_mask = sum(1 for fs in groups.values() for f in fs if f.meta.xseg_mask_buf is not None)
        total_faces = sum(len(fs) for fs in groups.values())
        if with_mask == 0:
            raise DflError(f"the XSeg mask modes need dst faces carrying XSeg masks, and none of the {total_faces} "
                           f"faces in {aligned} has one: apply a mask first (step 8 in the TUI: y for the trained XSeg, "
                           "g for the generic mask; or dfl-tui xseg apply dst / dfl-tui xseg apply-generic dst), "
                           "or choose another mask mode")
        if with_mask < total_faces:
            ctx.warn(f"{total_faces - with_mask} of {total_faces} dst faces have no XSeg mask: those use the "
                     "landmark hull (mask mode dst) instead")

    # motion blur needs one face per frame (DeepFaceLab switches it off otherwise)
    motion_for = motion_table(stems, groups)
    if any(len(fs) > 1 for fs in groups.values()) and any(s.motion_blur > 0 for s in per_frame):
        ctx.warn("motion blur is off: some frames have several faces (as in DeepFaceLab)")

    out_dir, mask_dir = ws.merged, ws.merged_mask
    out_dir.mkdir(parents=True, exist_ok=True)
    mask_dir.mkdir(parents=True, exist_ok=True)
    _trash_stale(ctx, out_dir, mask_dir, set(stems), o.limit)

    # which frames are already done with the same settings
    todo: list[_Frame] = []
    resumed = 0
    for i, (p, stem, s) in enumerate(zip(frames, stems, per_frame)):
        faces_now = [face_job(f, False, border) for f in groups.get(stem, [])]
        key = settings_key(s, model=predictor.name, iteration=predictor.iteration, label=o.label,
                           faces=faces_key(faces_now), pipeline=PIPELINE_VERSION, res=res)
        if not o.restart and (mask_dir / f"{stem}.png").exists() and merged_key(out_dir / f"{stem}.png") == key:
            resumed += 1
            continue
        todo.append(_Frame(i, p, stem, s, key))
    if resumed:
        ctx.log(f"{resumed} frame(s) already merged with these settings: skipped (--restart merges them again)")

    counts = {"merged": 0, "copied": 0, "bad": 0, "resumed": resumed}
    total = len(frames)
    ctx.stage("merging", total=total, unit="frames")
    ctx.progress(resumed, total, **counts)
    if not todo:
        return _result(counts, total, out_dir, 0.0)

    def load(fr: _Frame) -> _Frame:
        img = read_image(fr.path)
        if img is None:
            fr.error = size_problem(fr.path) or f"{fr.path}: not a readable image (corrupt or truncated?): skipped"
            return fr
        fr.image = img
        uses_xseg = fr.settings.mask_mode in XSEG_MASK_MODES
        for f in groups.get(fr.stem, []):
            try:
                job = face_job(f, uses_xseg, border)
            except (OSError, ValueError) as exc:
                fr.error = f"{f.path}: {exc}"
                continue
            fr.faces.append(job)
            fr.inputs.append(cut_input(img, job, res, ft, exact=True))
        return fr

    last_preview = [0.0]

    def write(fr: _Frame, preds: list[Prediction], xprd: list[np.ndarray | None] | None) -> str:
        assert fr.image is not None
        s = fr.settings
        notes: list[str] = []
        result: MergeResult | None = None
        if fr.faces:
            try:
                result = merge_frame(fr.image, fr.faces, preds, fallback_settings(s, fr.faces), res, ft,
                                     motion=motion_for(fr.index), xseg_prd=xprd)
            except (MaskUnavailable, cv2.error, ValueError) as exc:
                notes.append(f"{fr.path.name}: could not be merged ({exc}); copied through unchanged")
        if result is None:
            h, w = fr.image.shape[:2]
            if s.mode == "raw-predict":
                result = MergeResult(np.zeros((res, res, 3), np.uint8), np.zeros((res, res), np.uint8))
            else:
                result = MergeResult(fr.image, np.zeros((h, w), np.uint8))
        notes.extend(result.notes)
        png, mpng = encode_merged(result.image, result.mask, marking, fr.key)
        write_file(mask_dir / f"{fr.stem}.png", mpng)
        out_path = out_dir / f"{fr.stem}.png"
        write_file(out_path, png)
        now = time.monotonic()
        if now - last_preview[0] > 2.0:
            last_preview[0] = now
            ctx.artifact("preview", str(out_path))
        for n in notes:
            ctx.warn(n)
        return "merged" if result.faces else "copied"

    def write_or_count_bad(fr: _Frame, preds: list[Prediction], xprd: list[np.ndarray | None] | None) -> str:
        try:
            return write(fr, preds, xprd)
        except OSError as exc:
            if is_disk_full(exc):  # every next frame would fail the same way: the merge stops (below)
                raise
            ctx.warn(f"a merged frame could not be written: {exc}")
            return "bad"

    done = resumed

    def written(outcome: str) -> None:
        nonlocal done
        counts[outcome] += 1
        done += 1
        ctx.progress(done, total, **counts)

    t0 = time.monotonic()
    max_faces = max(1, int(getattr(predictor, "batch_size", o.batch_size) or o.batch_size))
    no_face_frames: list[str] = []
    writer = ImageWriter(workers, backlog=workers * 2, on_done=written)
    loaded = read_ahead(todo, max(1, workers // 2), load=load, ahead=workers * 2)
    try:
        more = True
        while more:
            ctx.check_cancel()
            batch: list[_Frame] = []
            nfaces = 0
            while nfaces < max_faces or not batch:
                nxt = next(loaded, None)
                if nxt is None:
                    more = False
                    break
                fr = nxt[1]
                if fr.error and fr.image is None:
                    counts["bad"] += 1
                    done += 1
                    ctx.warn(fr.error)
                    ctx.progress(done, total, **counts)
                    continue
                if fr.error:
                    ctx.warn(fr.error)
                if not fr.faces:
                    no_face_frames.append(fr.path.name)
                batch.append(fr)
                nfaces += len(fr.faces)
            if not batch:
                continue
            preds_by_frame = predict_frames(predictor, batch)
            xprd_by_frame = xseg_prd_masks(xseg_model, batch, preds_by_frame, res, ft) if xseg_model is not None else None
            for j, fr in enumerate(batch):  # back-pressure in the writer: bounded memory
                writer.submit(write_or_count_bad, fr, preds_by_frame[j],
                              xprd_by_frame[j] if xprd_by_frame is not None else None)
            writer.reap()
        writer.close()
        writer.sync(out_dir)
        writer.sync(mask_dir)
    except OSError as exc:
        if not is_disk_full(exc):
            raise
        kept = counts["merged"] + counts["copied"] + counts["resumed"]
        raise disk_full(getattr(exc, "filename", None) or out_dir,
                        f"{kept} merged frame(s) are kept in {out_dir}; free some space and run merge again: it "
                        "goes on from there") from None
    finally:
        loaded.close()
        with contextlib.suppress(Exception):  # stopped or failed: the frames handed to the writers are finished
            writer.close()
    elapsed = time.monotonic() - t0
    if no_face_frames:
        ctx.warn(f"{len(no_face_frames)} frame(s) have no aligned face and were copied through unchanged "
                 f"(e.g. {', '.join(no_face_frames[:3])})")
    return _result(counts, total, out_dir, elapsed, counts["merged"] + counts["copied"])


def predict_frames(predictor: Predictor, batch: list[_Frame]) -> list[list[Prediction]]:
    """One model call per morph value for all faces of the batch; predictions split back per frame."""
    out: list[list[Prediction]] = [[] for _ in batch]
    by_morph: dict[float, list[tuple[int, int]]] = {}
    for j, fr in enumerate(batch):
        for k in range(len(fr.faces)):
            by_morph.setdefault(float(fr.settings.morph_factor), []).append((j, k))
    slots: dict[tuple[int, int], Prediction] = {}
    for morph, where in by_morph.items():
        x = np.stack([batch[j].inputs[k] for j, k in where])
        pred = predictor.predict(x, morph if predictor.morphable else None)
        for n, jk in enumerate(where):
            slots[jk] = pred.item(n)
    for j, fr in enumerate(batch):
        out[j] = [slots[(j, k)] for k in range(len(fr.faces))]
    return out


def xseg_prd_masks(xseg: Any, batch: list[_Frame], preds: list[list[Prediction]], res: int,
              ft: FaceType) -> list[list[np.ndarray | None]]:
    """XSeg masks of the predicted faces (in the model's face space), with the trained XSeg model."""
    from ..faces.landmarks import get_transform_mat

    crops, where, mats = [], [], []
    for j, fr in enumerate(batch):
        if "XSeg-prd" not in fr.settings.mask_mode:
            continue
        for k, face in enumerate(fr.faces):
            model_mat = np.vstack([get_transform_mat(face.landmarks, res, ft), [0, 0, 1]])
            xmat = np.vstack([get_transform_mat(face.landmarks, xseg.resolution, xseg.face_type), [0, 0, 1]])
            m = (xmat @ np.linalg.inv(model_mat))[:2]  # model face -> XSeg crop
            img = (np.clip(preds[j][k].face[0], 0, 1) * 255 + 0.5).astype(np.uint8)
            crops.append(cv2.warpAffine(img, m, (xseg.resolution, xseg.resolution), flags=cv2.INTER_CUBIC,
                                        borderMode=cv2.BORDER_REPLICATE))
            where.append((j, k))
            mats.append(m)
    out: list[list[np.ndarray | None]] = [[None] * len(fr.faces) for fr in batch]
    if crops:
        masks = xseg.predict(crops)
        for (j, k), m, mask in zip(where, mats, masks):
            out[j][k] = cv2.warpAffine(mask.astype(np.float32), m, (res, res),
                                       flags=cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP, borderValue=0)
    return out


def _trash_stale(ctx: Any, out_dir: Path, mask_dir: Path, stems: set[str], limited: int) -> None:
    """Merged frames of dst frames that no longer exist would end up in the video: move them to the trash."""
    if limited:
        return
    stale = [p for p in list_images(out_dir) if p.stem not in stems]
    stale_masks = [p for p in list_images(mask_dir) if p.stem not in stems]
    if not stale and not stale_masks:
        return
    from ..faceset.trash import set_aside, undo_hint

    for folder, files in ((out_dir, stale), (mask_dir, stale_masks)):
        if files:
            ctx.log(f"{len(files)} file(s) in {folder.name}/ have no dst frame any more")
            set_aside(folder, files, "stale-merged", ctx, undo=undo_hint("dst", folder))


def _result(counts: dict[str, int], total: int, out_dir: Path, elapsed: float, processed: int = 0) -> dict[str, Any]:
    fps = processed / elapsed if elapsed > 0 else 0.0
    return {"frames": total, **counts, "merged_dir": str(out_dir), "seconds": round(elapsed, 2),
            "frames_per_s": round(fps, 2),
            "next": "dfl-tui make-video (result.mp4 carries the marks; check it with dfl-tui verify result.mp4)"}
