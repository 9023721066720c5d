"""DeepFaceLab's per-face merge (``MergeMaskedFace``, deepfacelab.md §7.2), in our own code.

One frame, its dst faces (landmarks in frame pixels), and the model's predictions for
those faces go in; the merged frame and its mask come out. The steps, per face:

1. cut the dst face at the output size (the model resolution, x4 with super-resolution);
2. build the work mask of the chosen mask mode in face space, resize it to 4x the model
   resolution, erode/dilate and blur it there (so ``erode``/``blur`` are measured in
   pixels of that 4x mask, as in DeepFaceLab), and warp it back into the frame with the
   output-scale matrix;
3. colour-transfer / histogram-match the predicted face toward the dst face (face space),
   warp it into the frame, Poisson-clone it for the seamless modes, alpha-blend;
4. post-process (motion blur, blur/sharpen, denoise and bicubic degrade of the frame
   around it, colour degrade) and re-composite.

Everything frame-sized is done only inside the face's bounding box (the ROI), which
makes compositing cheap even at 4K: that is why it stays on the CPU (OpenCV releases
the GIL, so frames composite in parallel threads) while the model runs on the GPU.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import cv2
import numpy as np

from ..errors import DflError
from ..faces.facetype import FaceType
from ..faces.landmarks import border_args, get_image_hull_mask, get_transform_mat, transform_points
from . import filters
from .color_transfer import color_transfer, hist_match
from .options import FrameSettings
from .predictor import Prediction

_EPS = 1.0 / 255.0
_CUBIC = cv2.INTER_CUBIC
_INV_CUBIC = cv2.INTER_CUBIC | cv2.WARP_INVERSE_MAP
_INV_LINEAR = cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP


class MaskUnavailable(DflError):
    """A mask mode needs data this face does not have (an XSeg mask)."""


@dataclass
class FaceJob:
    """One dst face of a frame, as the merger needs it."""

    landmarks: np.ndarray  # 68x2 float32, frame pixels (DFL's source_landmarks)
    source: str = ""  # the aligned face file, for messages
    eyebrows_expand_mod: float = 1.0
    xseg: np.ndarray | None = None  # the face's stored XSeg mask (HxW float32 0..1), aligned-face space
    xseg_to_frame: np.ndarray | None = None  # 2x3: XSeg-mask pixels -> frame pixels
    border: str = "black"  # fill past the frame edge, as the face was extracted (faces.extract_state.face_border)


@dataclass
class MergeResult:
    image: np.ndarray  # uint8 BGR: the merged frame (or, raw-predict, the predicted face)
    mask: np.ndarray  # uint8 HxW: where the face was blended in (0..255)
    faces: int = 0  # faces merged
    notes: list[str] = field(default_factory=list)


def to_float(img: np.ndarray) -> np.ndarray:
    if img.dtype != np.uint8:
        return img.astype(np.float32)
    f = img.astype(np.float32)
    f *= 1.0 / 255.0
    return f


def to_u8(img: np.ndarray) -> np.ndarray:
    """[0, 1] float -> uint8, rounded and saturated (two OpenCV passes: ~5x faster than numpy)."""
    f = np.ascontiguousarray(img, dtype=np.float32)
    _, f = cv2.threshold(f, 0.0, 0.0, cv2.THRESH_TOZERO)  # negatives -> 0
    return cv2.convertScaleAbs(f, alpha=255.0)


def blend(base: np.ndarray, over: np.ndarray, m: np.ndarray) -> np.ndarray:
    """base * (1 - m) + over * m for HxWx3 float images and an HxW mask."""
    m = np.ascontiguousarray(m, dtype=np.float32)
    return cv2.blendLinear(np.ascontiguousarray(over, np.float32), np.ascontiguousarray(base, np.float32), m, 1.0 - m)


def _affine3(m: np.ndarray) -> np.ndarray:
    return np.vstack([np.asarray(m, np.float64).reshape(2, 3), [0.0, 0.0, 1.0]])


def cut_input(frame: np.ndarray, face: FaceJob, res: int, face_type: FaceType | str,
              exact: bool = False) -> np.ndarray:
    """The model's input for one face: the dst face cut with the model's face type at its resolution.

    As DeepFaceLab's merger: cubic warp, black outside the frame (or the frame's edge replicated,
    for faces extracted with ``--border replicate``: the fill the model was trained on). ``exact``:
    float32 in [0, 1] warped from the float frame and clipped, bit for bit what DeepFaceLab feeds
    its model (only the frame area the crop reads is converted); otherwise uint8 (within 0.5/255 of it)."""
    mat = get_transform_mat(face.landmarks, res, face_type)
    fill = border_args(face.border)
    if not exact:
        return cv2.warpAffine(frame, mat, (res, res), flags=_CUBIC, **fill)
    h, w = frame.shape[:2]
    corners = transform_points(np.array([[0, 0], [res, 0], [0, res], [res, res]], np.float32), mat, invert=True)
    x0, y0 = np.floor(corners.min(0)).astype(int) - 3
    x1, y1 = np.ceil(corners.max(0)).astype(int) + 4
    x0, y0, x1, y1 = max(x0, 0), max(y0, 0), min(x1, w), min(y1, h)
    if x1 <= x0 or y1 <= y0:
        return np.zeros((res, res, 3), np.float32)
    roi = to_float(frame[y0:y1, x0:x1])
    m = np.asarray(mat, np.float64).copy()
    m[:, 2] += m[:, 0] * x0 + m[:, 1] * y0  # the same mapping with the ROI's origin
    # pixels of the frame outside the ROI are never read by the cubic kernel, except at the frame
    # edge, where the ROI edge *is* the frame edge: black beyond it, as in DeepFaceLab (or replicated)
    out = cv2.warpAffine(roi, m, (res, res), flags=_CUBIC, **fill)
    return np.clip(out, 0.0, 1.0, out=out)


# ---------------------------------------------------------------------------
# masks
# ---------------------------------------------------------------------------


def _resize(img: np.ndarray, size: int, interp: int = _CUBIC) -> np.ndarray:
    if img.shape[0] == size and img.shape[1] == size:
        return img
    out = cv2.resize(img, (size, size), interpolation=interp)
    return out


def _mask2d(m: np.ndarray) -> np.ndarray:
    m = np.asarray(m, np.float32)
    return m[..., 0] if m.ndim == 3 else m


def xseg_dst_in_face(face: FaceJob, face_mat: np.ndarray, size: int) -> np.ndarray:
    """The face's stored XSeg mask, warped into the model's face space at ``size``."""
    if face.xseg is None or face.xseg_to_frame is None:
        raise MaskUnavailable(f"{face.source or 'a dst face'} has no XSeg mask: run 'dfl-tui xseg apply' "
                              "(or 'xseg apply-generic') on data_dst/aligned, or pick a non-XSeg mask mode")
    m = _affine3(face_mat) @ _affine3(face.xseg_to_frame)
    return cv2.warpAffine(face.xseg.astype(np.float32), m[:2], (size, size), flags=cv2.INTER_LINEAR,
                          borderMode=cv2.BORDER_CONSTANT, borderValue=0)


def work_mask(mode: str, size: int, *, hull: np.ndarray, pred: Prediction, xseg_prd: np.ndarray | None,
              xseg_dst: np.ndarray | None) -> np.ndarray:
    """The mask of ``mode`` in face space at ``size`` (float32 0..1, HxW)."""

    def learned(which: str) -> np.ndarray:
        m = pred.swap_mask[0] if which == "prd" else pred.dst_mask[0]
        return np.clip(_resize(_mask2d(m), size), 0, 1)

    def xseg(which: str) -> np.ndarray:
        m = xseg_prd if which == "prd" else xseg_dst
        if m is None:
            if which == "prd":
                raise MaskUnavailable("mask mode XSeg-prd needs the trained XSeg model (model/XSeg): train it with "
                                      "'dfl-tui xseg train', or use XSeg-dst, which uses the masks stored in the dst faces")
            raise MaskUnavailable("this face has no XSeg mask: run 'dfl-tui xseg apply' on data_dst/aligned")
        return np.clip(_resize(_mask2d(m), size), 0, 1)

    if mode == "full":
        return np.ones((size, size), np.float32)
    if mode == "dst":
        return hull
    if mode == "learned-prd":
        return learned("prd")
    if mode == "learned-dst":
        return learned("dst")
    if mode == "learned-prd*learned-dst":
        return learned("prd") * learned("dst")
    if mode == "learned-prd+learned-dst":
        return np.clip(learned("prd") + learned("dst"), 0, 1)
    if mode == "XSeg-prd":
        return xseg("prd")
    if mode == "XSeg-dst":
        return xseg("dst")
    if mode == "XSeg-prd*XSeg-dst":
        return xseg("prd") * xseg("dst")
    if mode == "learned-prd*learned-dst*XSeg-prd*XSeg-dst":
        return learned("prd") * learned("dst") * xseg("prd") * xseg("dst")
    raise ValueError(f"unknown mask mode {mode!r}")


def process_mask(wrk: np.ndarray, res: int, erode: int, blur: int) -> np.ndarray:
    """Erode/dilate and blur the work mask at 4x the model resolution (DeepFaceLab's units).

    The mask is zero-padded by ``res`` so growing it is not cut at the square's edge,
    and a border of ``res + blur/2`` is cleared before blurring so the blurred mask
    fades to zero inside the face square instead of ending in a hard edge.
    """
    sub = 4 * res
    m = np.clip(_resize(wrk.astype(np.float32), sub), 0, 1)
    m[m < _EPS] = 0
    pad = res
    m = cv2.copyMakeBorder(m, pad, pad, pad, pad, cv2.BORDER_CONSTANT, value=0)
    if erode > 0:
        m = cv2.erode(m, cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (erode, erode)), iterations=1)
    elif erode < 0:
        m = cv2.dilate(m, cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (-erode, -erode)), iterations=1)
    border = pad + blur // 2
    if border > 0:
        m[:border, :] = 0
        m[-border:, :] = 0
        m[:, :border] = 0
        m[:, -border:] = 0
    if blur > 0:
        k = blur | 1
        m = cv2.GaussianBlur(m, (k, k), 0)
    m = m[pad:-pad, pad:-pad]
    return np.clip(m, 0, 1)


# ---------------------------------------------------------------------------
# geometry: the face's footprint in the frame (ROI) and matrices relative to it
# ---------------------------------------------------------------------------


@dataclass
class _Geometry:
    out_size: int
    face_mat: np.ndarray  # frame -> face (out_size), scale 1: input cut, colour reference
    out_mat: np.ndarray  # frame -> face (out_size), output scale: where the face goes
    mask_mat: np.ndarray  # frame -> 4x mask, output scale
    roi: tuple[int, int, int, int]  # x0, y0, x1, y1 in the frame

    def rel(self, mat: np.ndarray) -> np.ndarray:
        """``mat`` for ROI coordinates."""
        x0, y0 = self.roi[0], self.roi[1]
        m = np.array(mat, np.float64).copy()
        m[:, 2] += m[:, :2] @ np.array([x0, y0], np.float64)
        return m


def _geometry(lm: np.ndarray, res: int, face_type: FaceType, out_size: int, face_scale: int,
              frame_shape: tuple[int, ...]) -> _Geometry | None:
    # DeepFaceLab's output face scale, number for number: the crop scale is 1 + N/100, so a
    # positive N crops tighter and the pasted face comes out *smaller* (a session's values carry over).
    scale = 1.0 + 0.01 * face_scale
    face_mat = get_transform_mat(lm, out_size, face_type)
    out_mat = get_transform_mat(lm, out_size, face_type, scale=scale)
    mask_mat = get_transform_mat(lm, 4 * res, face_type, scale=scale)
    corners = np.float32([(0, 0), (out_size, 0), (out_size, out_size), (0, out_size)])
    pts = np.vstack([transform_points(corners, out_mat, invert=True),
                     transform_points(corners, face_mat, invert=True)])
    h, w = frame_shape[:2]
    x0 = max(0, int(math.floor(pts[:, 0].min())) - 2)
    y0 = max(0, int(math.floor(pts[:, 1].min())) - 2)
    x1 = min(w, int(math.ceil(pts[:, 0].max())) + 3)
    y1 = min(h, int(math.ceil(pts[:, 1].max())) + 3)
    if x1 - x0 < 2 or y1 - y0 < 2:
        return None
    return _Geometry(out_size, face_mat, out_mat, mask_mat, (x0, y0, x1, y1))


def _warp_back(img: np.ndarray, mat: np.ndarray, size: tuple[int, int], onto: np.ndarray | None = None,
               flags: int = _INV_CUBIC) -> np.ndarray:
    if onto is None:
        return cv2.warpAffine(img, mat, size, flags=flags, borderMode=cv2.BORDER_CONSTANT, borderValue=0)
    dst = onto.copy()
    cv2.warpAffine(img, mat, size, dst=dst, flags=flags, borderMode=cv2.BORDER_TRANSPARENT)
    return dst


def _seamless(face_roi: np.ndarray, frame_roi: np.ndarray, mask: np.ndarray) -> np.ndarray | None:
    """Poisson (normal) clone of the face into the frame, centred on the mask's box (no jitter)."""
    for t in (0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9):
        b = (mask > t).astype(np.uint8)
        if b.any():
            break
    else:
        return None
    b[0, :] = b[-1, :] = 0
    b[:, 0] = b[:, -1] = 0
    x, y, w, h = cv2.boundingRect(b)
    if w < 4 or h < 4:
        return None
    center = (x + w // 2, y + h // 2)
    try:
        out = cv2.seamlessClone(to_u8(face_roi), to_u8(frame_roi), b * 255, center, cv2.NORMAL_CLONE)
    except cv2.error:
        return None
    return to_float(out)


# ---------------------------------------------------------------------------
# the frame
# ---------------------------------------------------------------------------


def needs_postprocess(s: FrameSettings, motion: tuple[float, float] | None) -> bool:
    seamless = s.mode.startswith("seamless")
    return bool((seamless and s.color_transfer != "none") or s.mode == "seamless-hist-match"
                or (s.motion_blur > 0 and motion is not None and motion[0] > 0)
                or s.sharpen_amount != 0 or s.image_denoise > 0 or s.bicubic_degrade > 0)


def merge_frame(frame: np.ndarray, faces: list[FaceJob], preds: list[Prediction], s: FrameSettings, res: int,
                face_type: FaceType | str, *, motion: tuple[float, float] | None = None,
                xseg_prd: list[np.ndarray | None] | None = None) -> MergeResult:
    """Merge the predicted faces into ``frame`` (BGR uint8). ``preds[i]`` is the prediction for ``faces[i]``.

    ``motion``: (power in pixels, angle in degrees) of the face between the neighbouring
    frames, for motion blur (None: off). ``xseg_prd``: XSeg masks of the predicted faces
    (face space), needed by the XSeg-prd mask modes.
    """
    ft = FaceType.from_string(face_type)
    h, w = frame.shape[:2]
    sr = s.super_resolution > 0
    out_size = res * 4 if sr else res
    notes: list[str] = []

    if s.mode == "raw-predict":
        if not faces:
            return MergeResult(np.zeros((out_size, out_size, 3), np.uint8), np.zeros((out_size, out_size), np.uint8))
        pred = preds[0]
        face = pred.face[0]
        face = filters.super_resolution(face, s.super_resolution) if sr else face
        hull = _hull_in_face(faces[0], get_transform_mat(faces[0].landmarks, out_size, ft), out_size)
        xd = None
        if s.mask_mode in ("XSeg-dst", "XSeg-prd*XSeg-dst", "learned-prd*learned-dst*XSeg-prd*XSeg-dst"):
            xd = xseg_dst_in_face(faces[0], get_transform_mat(faces[0].landmarks, out_size, ft), out_size)
        wrk = work_mask(s.mask_mode, out_size, hull=hull, pred=pred, xseg_prd=(xseg_prd or [None])[0], xseg_dst=xd)
        if len(faces) > 1:
            notes.append(f"raw-predict shows the first of {len(faces)} faces")
        return MergeResult(to_u8(_resize(face, out_size)), to_u8(wrk), 1, notes)

    # Frame-sized images stay uint8; only each face's ROI is converted to float.
    active = s.mode not in ("original", "raw-rgb")
    post = active and needs_postprocess(s, motion)
    bg = frame
    if post and faces and (s.image_denoise > 0 or s.bicubic_degrade > 0):
        # the frame around the face is softened to match it (whole frame, once)
        bg = to_u8(filters.bicubic_degrade(filters.denoise(to_float(frame), s.image_denoise), s.bicubic_degrade))
    out = bg.copy()
    mask_total = np.zeros((h, w), np.float32)
    union: list[tuple[int, int, int, int]] = []
    merged = 0

    for i, (face, pred) in enumerate(zip(faces, preds)):
        geo = _geometry(face.landmarks, res, ft, out_size, s.face_scale, frame.shape)
        if geo is None:
            notes.append(f"{face.source or 'a face'} lies outside the frame: skipped")
            continue
        x0, y0, x1, y1 = geo.roi
        size = (x1 - x0, y1 - y0)
        frame_roi = to_float(frame[y0:y1, x0:x1])
        bg_roi = frame_roi if bg is frame else to_float(bg[y0:y1, x0:x1])

        pface = pred.face[0]
        pface = filters.super_resolution(pface, s.super_resolution) if sr else _resize(pface, out_size)

        if s.mode == "raw-rgb":
            ones = np.ones((out_size, out_size), np.float32)
            m = _warp_back(ones, geo.rel(geo.out_mat), size, flags=_INV_LINEAR)
            x = _warp_back(pface, geo.rel(geo.out_mat), size)
            out[y0:y1, x0:x1] = to_u8(blend(to_float(out[y0:y1, x0:x1]), x, m))
            mask_total[y0:y1, x0:x1] += m
            union.append(geo.roi)
            merged += 1
            continue

        # -- the mask ------------------------------------------------------------------
        hull = _hull_in_face(face, geo.face_mat, out_size)
        xd = None
        if "XSeg-dst" in s.mask_mode or s.mask_mode == "learned-prd*learned-dst*XSeg-prd*XSeg-dst":
            xd = xseg_dst_in_face(face, geo.face_mat, out_size)
        xp = xseg_prd[i] if xseg_prd else None
        wrk = work_mask(s.mask_mode, out_size, hull=hull, pred=pred, xseg_prd=xp, xseg_dst=xd)
        wrk = np.where(wrk < _EPS, 0, wrk).astype(np.float32)
        mask4 = process_mask(wrk, res, s.erode_mask, s.blur_mask)
        m = _warp_back(mask4, geo.rel(geo.mask_mat), size, flags=_INV_LINEAR)
        m = np.clip(m, 0, 1)
        m[m < _EPS] = 0

        if s.mode == "original":
            mask_total[y0:y1, x0:x1] += m
            union.append(geo.roi)
            merged += 1
            continue

        _, _, bw, bh = cv2.boundingRect((m > 0).astype(np.uint8))
        if bw < 4 or bh < 4:
            notes.append(f"{face.source or 'a face'}: its mask is (nearly) empty with these settings")
            continue

        # -- the face, in face space -----------------------------------------------------
        # the dst face as the model saw it (same fill past the frame edge): colour references
        dst_face = to_float(cv2.warpAffine(frame, geo.face_mat, (out_size, out_size), flags=_CUBIC,
                                           **border_args(face.border)))
        area = (wrk > 0.5).astype(np.float32)
        seamless = s.mode.startswith("seamless")
        if not seamless and s.color_transfer != "none":
            pface = color_transfer(s.color_transfer, pface, dst_face, area)
        if s.mode == "hist-match":
            pface = hist_match(pface, dst_face, area if s.masked_hist_match else None, s.hist_match_threshold)

        x = _warp_back(pface, geo.rel(geo.out_mat), size, onto=frame_roi)
        if seamless:
            cloned = _seamless(x, frame_roi, m)
            if cloned is None:
                notes.append(f"{face.source or 'a face'}: seamless clone not possible here (face at the frame "
                             "edge or mask too small): blended without it")
            else:
                x = cloned
        if post:
            blended = blend(frame_roi, x, m)
            # the merged face re-cut for the filters below: only its in-frame part is pasted back,
            # and a replicated edge keeps blur and sharpening from pulling black into the frame's
            # edge pixels (DeepFaceLab's black fill darkens them here)
            face2 = cv2.warpAffine(blended, geo.rel(geo.out_mat), (out_size, out_size), flags=_CUBIC,
                                   borderMode=cv2.BORDER_REPLICATE)
            if seamless and (s.color_transfer != "none" or s.mode == "seamless-hist-match"):
                ref = dst_face if s.face_scale == 0 else to_float(cv2.warpAffine(
                    frame, geo.out_mat, (out_size, out_size), flags=_CUBIC, **border_args(face.border)))
                fa = area if s.face_scale == 0 else (cv2.warpAffine(
                    m, geo.rel(geo.out_mat), (out_size, out_size), flags=cv2.INTER_LINEAR) > 0.5).astype(np.float32)
                if s.color_transfer != "none":
                    face2 = color_transfer(s.color_transfer, face2, ref, fa)
                if s.mode == "seamless-hist-match":
                    face2 = hist_match(face2, ref, fa if s.masked_hist_match else None, s.hist_match_threshold)
            if s.motion_blur > 0 and motion is not None and motion[0] > 0:
                k = filters.motion_kernel_size(motion[0], s.motion_blur, sr)
                face2 = filters.motion_blur(face2, k, motion[1])
            if s.sharpen_amount != 0:
                face2 = filters.blur_sharpen(face2, s.sharpen_mode, s.sharpen_amount)
            x = _warp_back(np.clip(face2, 0, 1), geo.rel(geo.out_mat), size, onto=bg_roi)
        out[y0:y1, x0:x1] = to_u8(blend(to_float(out[y0:y1, x0:x1]), x, m))
        mask_total[y0:y1, x0:x1] += m
        union.append(geo.roi)
        merged += 1

    if s.mode == "original" or not merged:
        image = frame.copy()  # original mode, or nothing merged: the frame goes through untouched
    elif active and s.color_degrade > 0:
        image = to_u8(filters.color_degrade(to_float(out), s.color_degrade))
    else:
        image = out
    mask = np.zeros((h, w), np.uint8)
    if union:
        ux0, uy0 = min(r[0] for r in union), min(r[1] for r in union)
        ux1, uy1 = max(r[2] for r in union), max(r[3] for r in union)
        mask[uy0:uy1, ux0:ux1] = to_u8(np.minimum(mask_total[uy0:uy1, ux0:ux1], 1.0))
    return MergeResult(image, mask, merged, notes)


def _hull_in_face(face: FaceJob, face_mat: np.ndarray, size: int) -> np.ndarray:
    """The dst landmark hull mask, drawn directly in face space (cheaper than warping a frame-sized one)."""
    lm = transform_points(face.landmarks, face_mat)
    return get_image_hull_mask((size, size), lm, face.eyebrows_expand_mod)[..., 0]


def motion_vector(prev_lm: np.ndarray, next_lm: np.ndarray) -> tuple[float, float]:
    """(power px, angle deg) of the face centre between the frames around the current one (DeepFaceLab §7.1.6)."""

    def centre(lm: np.ndarray) -> np.ndarray:
        mat = get_transform_mat(lm, 256, FaceType.FULL)
        return transform_points(np.float32([[128, 128]]), mat, invert=True)[0]

    v = centre(next_lm) - centre(prev_lm)
    power = float(np.linalg.norm(v))
    angle = float(math.degrees(math.atan2(-v[1], v[0]))) if power > 0 else 0.0
    return power, angle
