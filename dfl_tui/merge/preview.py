"""The interactive merger's engine: one frame merged with given settings, sized for the terminal.

It runs in the helper process (:mod:`.preview_worker`), never in the UI: it holds the
model (torch), the dst faces and two caches, so that

* changing a compositing setting re-composites from the cached prediction (no model call),
* stepping to the next frame finds its prediction already made (prefetched while idle),
* zooming or resizing only re-crops the cached result.

Everything here is also usable in-process (tests, scripts).
"""

from __future__ import annotations

import time
from collections import OrderedDict
from dataclasses import dataclass
from typing import Any

import cv2
import numpy as np

from ..errors import DflError
from ..faces.facetype import FaceType
from ..workspace import list_images
from .batch import Marking, face_job, fallback_settings, motion_table, read_dst_faces, smooth_dst_faces
from .masked import FaceJob, MaskUnavailable, MergeResult, cut_input, merge_frame
from .options import SMOOTH_DEFAULT, XSEG_MASK_MODES, FrameSettings, settings_from_dict, settings_key
from .predictor import Prediction, Predictor, load_predictor

ZOOMS = (1, 1.5, 2, 3, 4, 6, 8)


@dataclass
class _Loaded:
    image: np.ndarray
    faces: list[FaceJob]
    preds: list[Prediction]
    xseg_prd: list[np.ndarray | None] | None = None


class MergePreview:
    def __init__(self, workspace: Any, model: str = "", device: str = "auto", predictor: Predictor | None = None,
                 cache: int = 12, smooth: int = SMOOTH_DEFAULT) -> None:
        self.ws = workspace
        self.warnings: list[str] = []
        self.predictor = predictor or load_predictor(workspace, model, device, batch_size=4)
        self.res = int(self.predictor.resolution)
        self.ft = FaceType.from_string(self.predictor.face_type)
        self.frames = list_images(workspace.frames("dst"))
        if not self.frames:
            raise DflError(f"no frames in {workspace.frames('dst')}: extract them first (step 3 in the TUI, "
                           "or dfl-tui extract-frames dst)")
        self.stems = [p.stem for p in self.frames]
        self.index = {s: i for i, s in enumerate(self.stems)}
        self.groups = read_dst_faces(workspace.aligned("dst"), self.warnings.append)
        self._raw_landmarks = {id(f): f.meta.source_landmarks for fs in self.groups.values() for f in fs}
        self.smooth = 0
        self.motion_for = motion_table(self.stems, self.groups)
        self._cache: OrderedDict[tuple, _Loaded] = OrderedDict()
        self._cache_size = cache
        self._last: tuple[tuple, np.ndarray, MergeResult] | None = None
        self._xseg: Any = None
        self._xseg_error: str | None = None
        self.set_smooth(smooth)  # faces placed as the batch merge places them

    def set_smooth(self, strength: int) -> None:
        """Place the faces as ``merge --smooth strength`` does (from the landmarks as extracted)."""
        strength = max(0, min(100, int(strength)))
        if strength == self.smooth:
            return
        for fs in self.groups.values():
            for f in fs:
                f.meta.source_landmarks = self._raw_landmarks[id(f)]
        smooth_dst_faces(self.groups, self.stems, strength)
        self.smooth = strength
        self.motion_for = motion_table(self.stems, self.groups)
        self._cache.clear()
        self._last = None

    # -- facts -------------------------------------------------------------------------
    def info(self) -> dict[str, Any]:
        p = self.predictor
        return {
            "model": p.name, "model_type": p.model_type, "iteration": p.iteration, "resolution": self.res,
            "face_type": self.ft.to_string(), "device": p.device, "morphable": bool(p.morphable),
            "frames": self.stems, "faces": {s: len(v) for s, v in self.groups.items()},
            "xseg_faces": sum(1 for v in self.groups.values() for f in v if f.meta.xseg_mask_buf is not None),
            "warnings": self.warnings[:20],
        }

    # -- model work (cached) ---------------------------------------------------------------
    def _load(self, stem: str, s: FrameSettings) -> _Loaded:
        uses_xseg = s.mask_mode in XSEG_MASK_MODES
        wants_xprd = "XSeg-prd" in s.mask_mode
        morph = float(s.morph_factor) if self.predictor.morphable else None
        key = (stem, morph, uses_xseg)
        hit = self._cache.get(key)
        if hit is not None:
            self._cache.move_to_end(key)
            if wants_xprd and hit.xseg_prd is None:
                hit.xseg_prd = self._xseg_prd(hit)
            return hit
        path = self.frames[self.index[stem]]
        img = cv2.imread(str(path), cv2.IMREAD_COLOR)
        if img is None:
            raise DflError(f"{path}: not a readable image (corrupt or truncated?)")
        faces = [face_job(f, uses_xseg) for f in self.groups.get(stem, [])]
        preds: list[Prediction] = []
        if faces:
            x = np.stack([cut_input(img, f, self.res, self.ft, exact=True) for f in faces])
            pred = self.predictor.predict(x, morph)
            preds = [pred.item(i) for i in range(len(faces))]
        got = _Loaded(img, faces, preds)
        if wants_xprd:
            got.xseg_prd = self._xseg_prd(got)
        self._cache[key] = got
        while len(self._cache) > self._cache_size:
            self._cache.popitem(last=False)
        return got

    def _xseg_prd(self, got: _Loaded) -> list[np.ndarray | None]:
        if self._xseg is None and self._xseg_error is None:
            from ..xseg.model import load_xseg, model_dir_for

            try:
                dev = "cpu" if self.predictor.device == "cpu" else self.predictor.device
                self._xseg = load_xseg(model_dir_for(self.ws), dev)
            except DflError as exc:
                self._xseg_error = f"mask mode XSeg-prd: {exc}"
        if self._xseg is None:
            raise MaskUnavailable(self._xseg_error or "XSeg-prd: no XSeg model")
        from types import SimpleNamespace

        from .batch import xseg_prd_masks

        fr = SimpleNamespace(faces=got.faces, settings=SimpleNamespace(mask_mode="XSeg-prd"))
        return xseg_prd_masks(self._xseg, [fr], [got.preds], self.res, self.ft)[0]  # type: ignore[list-item]

    def prefetch(self, stem: str, s: FrameSettings) -> None:
        """Make the model's prediction for a frame ahead of time (called while the UI is idle)."""
        if stem in self.index:
            try:
                self._load(stem, s)
            except (DflError, OSError, ValueError):
                pass

    # -- one frame --------------------------------------------------------------------------
    def compose(self, stem: str, s: FrameSettings, label: bool = False) -> tuple[np.ndarray, MergeResult, list[str]]:
        """(the original frame, the merged result, notes) for frame ``stem`` with settings ``s``."""
        if stem not in self.index:
            raise DflError(f"no frame {stem!r} in {self.ws.frames('dst')}")
        key = (stem, settings_key(s), label)
        if self._last is not None and self._last[0] == key:
            return self._last[1], self._last[2], []
        got = self._load(stem, s)
        notes: list[str] = []
        eff = fallback_settings(s, got.faces)
        if eff is not s:
            notes.append("a face here has no XSeg mask: showing the landmark hull (mask mode dst) for it")
        result = merge_frame(got.image, got.faces, got.preds, eff, self.res, self.ft,
                             motion=self.motion_for(self.index[stem]), xseg_prd=got.xseg_prd)
        if label and s.mode != "raw-predict":
            from ..provenance.label import draw_label

            result = MergeResult(draw_label(result.image), result.mask, result.faces, result.notes)
        notes += result.notes
        if not got.faces:
            notes.append("no aligned face in this frame: it is copied through")
        self._last = (key, got.image, result)
        return got.image, result, notes

    def render(self, stem: str, settings: dict[str, Any] | FrameSettings, width: int, height: int,
               zoom: float = 1.0, label: bool = False) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
        """Merged frame, original and mask, cropped by ``zoom`` around the face and fitted into width x height px (RGB)."""
        t0 = time.perf_counter()
        s = settings if isinstance(settings, FrameSettings) else settings_from_dict(settings)
        meta: dict[str, Any] = {"stem": stem, "index": self.index.get(stem, -1)}
        try:
            frame, result, notes = self.compose(stem, s, label)
        except (MaskUnavailable, DflError) as exc:
            meta["error"] = str(exc)
            return meta, {}
        t1 = time.perf_counter()
        got_faces = self.groups.get(stem, [])
        if s.mode == "raw-predict":
            before = cv2.resize(frame, (result.image.shape[1], result.image.shape[0]), interpolation=cv2.INTER_AREA)
            if got_faces:
                before = cut_input(frame, face_job(got_faces[0], False), result.image.shape[0], self.ft)
            views = {"after": result.image, "before": before, "mask": result.mask}
            centre = None
        else:
            views = {"after": result.image, "before": frame, "mask": result.mask}
            centre = None
            if got_faces:
                lm = np.asarray(got_faces[0].meta.source_landmarks, np.float32)
                centre = (float(lm[:, 0].mean()), float(lm[:, 1].mean()))
        out = {k: _fit(v, width, height, zoom, centre) for k, v in views.items()}
        out = {k: (cv2.cvtColor(v, cv2.COLOR_BGR2RGB) if v.ndim == 3 else v) for k, v in out.items()}
        meta.update({
            "faces": result.faces, "notes": notes, "frame_size": [int(frame.shape[1]), int(frame.shape[0])],
            "display": [int(out["after"].shape[1]), int(out["after"].shape[0])],
            "merge_ms": round((t1 - t0) * 1000, 1), "total_ms": round((time.perf_counter() - t0) * 1000, 1),
        })
        return meta, out

    def marking(self, label: bool) -> Marking:
        return Marking.for_predictor(self.predictor, label)


def _fit(img: np.ndarray, width: int, height: int, zoom: float, centre: tuple[float, float] | None) -> np.ndarray:
    """Crop a 1/zoom window (around ``centre``) and fit it into width x height, keeping the aspect."""
    h, w = img.shape[:2]
    if zoom > 1.0:
        cw, ch = max(8, int(w / zoom)), max(8, int(h / zoom))
        cx, cy = centre if centre is not None else (w / 2, h / 2)
        x0 = int(min(max(0, cx - cw / 2), w - cw))
        y0 = int(min(max(0, cy - ch / 2), h - ch))
        img = img[y0:y0 + ch, x0:x0 + cw]
        h, w = img.shape[:2]
    width, height = max(2, int(width)), max(2, int(height))
    scale = min(width / w, height / h)
    nw, nh = max(1, int(round(w * scale))), max(1, int(round(h * scale)))
    interp = cv2.INTER_AREA if scale < 1 else cv2.INTER_LINEAR
    return cv2.resize(img, (nw, nh), interpolation=interp)
