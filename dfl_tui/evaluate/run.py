"""``dfl-tui evaluate``: a scorecard of a finished merge (a job: runs in a worker process).

What it reads: the merged frames (``data_dst/merged/*.png``) and their masks
(``data_dst/merged_mask/``), the dst frames they were made from (``data_dst/``), the dst
faces' landmarks (``data_dst/aligned``) and the src set (``data_src/aligned``). What it
writes: ``evaluation.json`` in the workspace (:attr:`Workspace.evaluation`) (the scorecard, for the TUI's step list).

The figures (:data:`~dfl_tui.evaluate.options.KEYS`) and how each is made:

* ``id_sim_src`` / ``id_sim_dst``: the identity embedding of the swapped face (cut from the
  merged frame where the dst face is) against the mean embedding of the src set, and against
  the dst face it replaced (cut from the dst frame). Cosine similarity, -1..1.
* ``pose_error_deg`` / ``landmark_error``: landmarks found on the merged frame with the landmark
  pipeline of extraction, against those the same pipeline finds on the dst frame.
* ``outside_ssim``: SSIM of the dst and merged frames away from the merge mask.
* ``flicker``: frame-to-frame change of the face region, merged over dst.
* ``marked_share``: share of merged frames carrying the synthetic-media mark (metadata or
  watermark, as ``dfl-tui verify`` decides), checked on every frame.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any, Callable, Sequence

import cv2
import numpy as np

from ..errors import InputError
from ..util.atomic import atomic_write_json
from ..video.imageio import read_image
from ..workspace import list_images
from . import metrics as M
from .options import KEYS, EvaluateOptions
from .report import verdict_lines



def spread(n: int, k: int) -> list[int]:
    """``k`` indices spread evenly over ``range(n)`` (all of them when k is 0 or >= n)."""
    if k <= 0 or k >= n:
        return list(range(n))
    return sorted({int(round(i * (n - 1) / (k - 1))) for i in range(k)}) if k > 1 else [n // 2]


def _mean(xs: Sequence[float]) -> float | None:
    return float(np.mean(xs)) if xs else None


def _rounded(v: float | None, digits: int = 4) -> float | None:
    return None if v is None or not math.isfinite(v) else round(float(v), digits)


def merged_model(path: Path) -> str | None:
    from ..provenance import metadata as md

    rec = md.read_provenance(path)
    return str(rec["model"]) if rec and rec.get("model") else None


def pick_detector(ws: Any, asked: str) -> str:
    """``auto``: the detector the dst faces were extracted with, when the folder records it."""
    if asked != "auto":
        return asked
    from ..faces.extract_state import STATE_FILE
    from ..util.atomic import read_json

    state = read_json(ws.aligned("dst") / STATE_FILE, None)
    det = state.get("detector") if isinstance(state, dict) else None
    return det if det in ("s3fd", "mediapipe") else "auto"


class Landmarker:
    """The extraction's landmark pipeline, run on the dst frame and on the merged frame *with the boxes the
    detector found on the dst frame*: the swapped face sits where the dst face was, and a half-trained
    face that no detector would call a face still gets its landmarks measured."""

    def __init__(self, detector: str, device: str, ctx: Any) -> None:
        from ..faces.detect import create_backend, resolve_detector

        name, why = resolve_detector(detector)
        ctx.log(f"landmarks: {why}")
        dev = "cpu"
        if name == "s3fd":
            from ..device import pick_devices

            dev = str(pick_devices(device)[0])
        self.backend = create_backend(name, device=dev)

    def __call__(self, dst: np.ndarray, merged: np.ndarray) -> list[tuple[np.ndarray, np.ndarray | None]]:
        """(landmarks on the dst frame, on the merged frame or None) for each face found on the dst frame.

        On the merged frame the landmark model first looks in the dst face's box; where it finds no face
        there, the detector searches the merged frame and the face nearest the dst face is taken."""
        from ..faces.detect.base import filter_boxes, prepare_frame

        d, m = prepare_frame(dst), prepare_frame(merged)
        b = self.backend
        cands = filter_boxes(b.detect([d])[0])
        if not cands:
            return []
        fits = b.landmarks([d, m], [cands, cands])
        keep = [k for k, f in enumerate(fits[0]) if f is not None]
        if not keep:
            return []
        fd = b.refine([d], [[fits[0][k] for k in keep]])[0]
        fm = [fits[1][k] for k in keep]
        lm_d = [np.asarray(f.lm68, np.float32) for f in fd]
        if any(f is None for f in fm):
            found = filter_boxes(b.detect([m])[0])
            got = b.landmarks([m], [found])[0] if found else []
            pool = [(c, f) for c, f in zip(found, got) if f is not None]
            for k, f in enumerate(fm):
                if f is None and pool:
                    j = M.nearest_face([np.asarray(g.lm68, np.float32) for _c, g in pool], lm_d[k])
                    if j is not None:
                        fm[k] = pool.pop(j)[1]
        ok = [k for k, f in enumerate(fm) if f is not None]
        out_m: list[np.ndarray | None] = [None] * len(fd)
        if ok:
            for k, f in zip(ok, b.refine([m], [[fm[k] for k in ok]])[0]):
                out_m[k] = np.asarray(f.lm68, np.float32)
        return list(zip(lm_d, out_m))

    def close(self) -> None:
        self.backend.close()


def run_evaluate(ctx: Any, o: EvaluateOptions, *, embedder: Any = None,
                 landmarker: Callable[[np.ndarray, np.ndarray], list[tuple[np.ndarray, np.ndarray | None]]] | None = None
                 ) -> dict[str, Any]:
    """The job. ``embedder`` / ``landmarker``: stand-ins for tests (default: the identity model of
    ``--identity-model`` -- an :class:`dfl_tui.identity.models.EmbeddingModel` -- and the extraction's
    landmark pipeline)."""
    from ..merge.batch import read_dst_faces
    from ..merge.smooth import landmark_box
    from ..provenance import metadata as md

    ws = ctx.workspace
    merged_paths = list_images(ws.merged)
    if not merged_paths:
        raise InputError(f"no merged frames in {ws.merged}: run 'dfl-tui merge' first")
    dst_by_stem = {p.stem: p for p in list_images(ws.frames("dst"))}
    merged_paths = [p for p in merged_paths if p.stem in dst_by_stem]
    if not merged_paths:
        raise InputError(f"the merged frames in {ws.merged} have no dst frame of the same name in "
                         f"{ws.frames('dst')}: run 'dfl-tui merge' again")
    made_by = merged_model(merged_paths[0])
    if o.model and made_by and made_by != o.model:
        raise InputError(f"the merged frames in {ws.merged} were made by model '{made_by}', not '{o.model}': "
                         f"run 'dfl-tui merge --model {o.model}' first, or evaluate without --model")
    model = o.model or made_by or "?"
    counts: dict[str, int] = {"frames": len(merged_paths)}

    # -- the mark, on every frame -----------------------------------------------------------
    from ..provenance.verify import verify_image

    ctx.stage("checking the marks", total=len(merged_paths), unit="frames")
    marked = 0
    for i, p in enumerate(merged_paths):
        ctx.check_cancel()
        try:
            marked += bool(verify_image(p)["marked"])
        except InputError as exc:
            ctx.warn(str(exc))
        ctx.progress(i + 1, len(merged_paths), marked=marked)
    counts["marked"] = marked

    # -- the sampled frames ------------------------------------------------------------------
    groups = read_dst_faces(ws.aligned("dst"), ctx.warn)
    index = {p.stem: i for i, p in enumerate(merged_paths)}
    sample = spread(len(merged_paths), o.frames)
    label_skip: dict[tuple[int, int], np.ndarray] = {}
    ssims: list[float] = []
    d_merged: list[float] = []
    d_dst: list[float] = []
    chips_m: list[np.ndarray] = []  # the identity model's crops of the swapped faces ...
    chips_d: list[np.ndarray] = []  # ... and of the dst faces they replaced
    idm = _identity_model(ctx, o, embedder)
    lm_pairs: list[tuple[np.ndarray, np.ndarray]] = []  # (found on merged, found on dst) of the same face
    faces = faces_swapped = faces_lost = 0
    own_landmarker = landmarker is None
    if landmarker is None:
        landmarker = Landmarker(pick_detector(ws, o.detector), o.device, ctx)

    def load(stem: str) -> tuple[np.ndarray, np.ndarray, np.ndarray] | None:
        p = merged_paths[index[stem]]
        m, d = read_image(p), read_image(dst_by_stem[stem])
        mask = cv2.imread(str(ws.merged_mask / f"{stem}.png"), cv2.IMREAD_GRAYSCALE)
        if m is None or d is None:
            ctx.warn(f"{p if m is None else dst_by_stem[stem]}: not a readable image: not scored")
            return None
        if mask is None or mask.shape != m.shape[:2]:
            mask = (np.abs(m.astype(np.int16) - d.astype(np.int16)).max(axis=2) > 12).astype(np.uint8) * 255
        if m.shape != d.shape:
            ctx.warn(f"{p}: {m.shape[1]}x{m.shape[0]}, but its dst frame is {d.shape[1]}x{d.shape[0]}: not scored")
            return None
        return m, d, mask

    ctx.stage("scoring frames", total=len(sample), unit="frames")
    try:
        for n, i in enumerate(sample):
            ctx.check_cancel()
            stem = merged_paths[i].stem
            got = load(stem)
            if got is None:
                continue
            m, d, mask = got
            rec = md.read_provenance(merged_paths[i]) or {}
            skip = None
            if rec.get("visible_label"):
                key = m.shape[:2]
                if key not in label_skip:
                    label_skip[key] = M.label_area(m.shape)
                skip = label_skip[key]
            s = M.outside_ssim(d, m, mask, skip=skip)
            if s is not None:
                ssims.append(s)
            # flicker: this frame against the one before it
            if i > 0 and merged_paths[i - 1].stem in dst_by_stem:
                prev = load(merged_paths[i - 1].stem)
                if prev is not None:
                    region = M.face_region(prev[2], mask)
                    cm, cd = M.region_change(prev[0], m, region), M.region_change(prev[1], d, region)
                    if cm is not None and cd is not None:
                        d_merged.append(cm)
                        d_dst.append(cd)
            # the faces of this frame
            dst_faces = groups.get(stem, [])
            found = landmarker(d, m) if dst_faces else []
            for f in dst_faces:
                ref = np.asarray(f.meta.source_landmarks, np.float32)
                faces += 1
                box = landmark_box(ref).astype(int)
                x0, y0 = max(0, box[0]), max(0, box[1])
                inside = mask[y0:max(y0 + 1, box[3]), x0:max(x0 + 1, box[2])]
                if inside.size == 0 or (inside > M.MASK_LEVEL).mean() < 0.2:
                    continue  # not swapped here (mode original, or outside the frame)
                faces_swapped += 1
                if idm is not None:
                    chips_m.append(idm.chip(m, ref))
                    chips_d.append(idm.chip(d, ref))
                k = M.nearest_face([a for a, _ in found], ref)
                if k is None:
                    continue  # the landmark pipeline does not find this dst face now
                lm_d, lm_m = found[k]
                if lm_m is None:
                    faces_lost += 1
                else:
                    lm_pairs.append((lm_m, lm_d))
            ctx.progress(n + 1, len(sample), faces=faces_swapped)
    finally:
        if own_landmarker and hasattr(landmarker, "close"):
            landmarker.close()
    counts.update(scored=len(sample), faces=faces, faces_swapped=faces_swapped,
                  landmarks_lost=faces_lost, landmarks_compared=len(lm_pairs), flicker_pairs=len(d_merged))

    # -- identity ----------------------------------------------------------------------------
    id_src = id_dst = None
    if chips_m and idm is not None:
        ctx.stage("identity", total=None)
        id_src, id_dst, counts["src_faces"] = _identity(ctx, ws, o, idm, chips_m, chips_d)

    poses = [M.pose_error_deg(a, b)[0] for a, b in lm_pairs]
    card: dict[str, Any] = {
        "id_sim_src": _rounded(id_src),
        "id_sim_dst": _rounded(id_dst),
        "pose_error_deg": _rounded(_mean(poses), 2),
        "landmark_error": _rounded(_mean([M.landmark_error(a, b) for a, b in lm_pairs])),
        "outside_ssim": _rounded(_mean(ssims)),
        "flicker": _rounded(M.flicker(d_merged, d_dst), 3),
        "marked_share": _rounded(marked / len(merged_paths)),
    }
    assert tuple(card) == KEYS
    result = {**card, "counts": counts, "model": model}
    for line in verdict_lines(result):
        ctx.log(line)
    try:
        atomic_write_json(ws.evaluation, result)
    except OSError as exc:
        ctx.warn(f"could not save {ws.evaluation}: {exc}")
    ctx.result(**result)
    return result


def _identity_model(ctx: Any, o: EvaluateOptions, given: Any = None) -> Any:
    """The identity model of ``--identity-model`` (None, said in the log, when it cannot be loaded)."""
    if given is not None:
        return given
    try:
        from ..identity.models import load_model

        return load_model(o.identity_model)
    except InputError as exc:  # no identity model installed, an unreadable model file...
        ctx.warn(f"identity not measured: {exc}")
        return None


def _identity(ctx: Any, ws: Any, o: EvaluateOptions, model: Any, chips_m: list[np.ndarray],
              chips_d: list[np.ndarray]) -> tuple[float | None, float | None, int]:
    """(id_sim_src, id_sim_dst, src faces used): cosine similarity of each swapped face's embedding to the src
    set's main identity (:func:`dfl_tui.identity.distance.central` of the set's embeddings, cached beside
    the set) and to the dst face it replaced (the dst frame cut at the same landmarks)."""
    from ..identity.distance import central
    from ..identity.embed import embed_faces

    e = np.asarray(model.embed_chips(chips_m + chips_d), np.float64)
    k = len(chips_m)
    em, ed = e[:k], e[k:]
    id_dst = _mean([M.cosine(a, b) for a, b in zip(em, ed)])
    src_paths = list_images(ws.aligned("src"))
    src_paths = [src_paths[i] for i in spread(len(src_paths), o.src_faces)]
    if not src_paths:
        ctx.warn(f"no src faces in {ws.aligned('src')}: id_sim_src is not measured")
        return None, id_dst, 0
    es = np.asarray(embed_faces(src_paths, model, ctx=ctx, stage="src identity"), np.float64)
    es = es[np.isfinite(es).all(axis=1)]
    if not len(es):
        ctx.warn(f"none of the src faces in {ws.aligned('src')} could be embedded: id_sim_src is not measured")
        return None, id_dst, 0
    ref = central(es, model.metric)
    return _mean([M.cosine(a, ref) for a in em]), id_dst, len(es)
