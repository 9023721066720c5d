"""Merging (issue 6): every mode and mask mode on the moving-astronaut dst clip, with a property each must show.

A stand-in predictor (tests/merge_fixtures.ShiftPredictor: the dst face colour-shifted,
elliptical learned masks) makes the compositing checks exact; the real models are
exercised by the bench and the end-to-end test.
"""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from dfl_tui.faces.landmarks import get_transform_mat, transform_points
from dfl_tui.merge import filters
from dfl_tui.merge.color_transfer import color_transfer, hist_match
from dfl_tui.merge.masked import FaceJob, MaskUnavailable, _hull_in_face, cut_input, merge_frame, process_mask
from dfl_tui.merge.options import COLOR_TRANSFER_MODES, MASK_MODES, MODES, XSEG_MASK_MODES, FrameSettings
from dfl_tui.options import replace
from merge_fixtures import ShiftPredictor, frame_and_landmarks, xseg_for

RES = 64
FT = "wf"


def setup_face(i: int = 0, with_xseg: bool = False, res: int = RES):
    frame, lm = frame_and_landmarks(i)
    face = FaceJob(lm, "00001_0.jpg")
    if with_xseg:
        # the XSeg mask of a 128 px whole-face crop, stored at 256 like DeepFaceLab
        mat = get_transform_mat(lm, 128, "whole_face")
        face.xseg = xseg_for(256)
        to_face = np.array([[0.5, 0, 0], [0, 0.5, 0], [0, 0, 1]])
        face.xseg_to_frame = (np.linalg.inv(np.vstack([mat, [0, 0, 1]])) @ to_face)[:2]
    p = ShiftPredictor(res)
    pred = p.predict(cut_input(frame, face, res, FT)[None])
    return frame, face, pred


def merged(s: FrameSettings, i: int = 0, **kw):
    frame, face, pred = setup_face(i, **{k: v for k, v in kw.items() if k == "with_xseg"})
    return frame, face, merge_frame(frame, [face], [pred], s, RES, FT, **{k: v for k, v in kw.items() if k != "with_xseg"})


def footprint(face: FaceJob, shape) -> np.ndarray:
    """Where the face square lands in the frame."""
    mat = get_transform_mat(face.landmarks, RES, FT)
    corners = transform_points(np.float32([(0, 0), (RES, 0), (RES, RES), (0, RES)]), mat, invert=True)
    m = np.zeros(shape[:2], np.uint8)
    cv2.fillConvexPoly(m, np.round(corners).astype(np.int32), 1)
    return cv2.dilate(m, np.ones((5, 5), np.uint8)).astype(bool)


# ---------------------------------------------------------------------------
# modes
# ---------------------------------------------------------------------------


def test_original_leaves_the_frame_unchanged_and_writes_the_mask():
    frame, face, r = merged(FrameSettings(mode="original"))
    assert np.array_equal(r.image, frame)
    assert r.mask.max() == 255 and (r.mask > 0).sum() > 500


@pytest.mark.parametrize("mode", [m for m in MODES if m not in ("original", "raw-predict")])
def test_modes_change_only_the_face_region(mode):
    frame, face, r = merged(FrameSettings(mode=mode))
    assert r.image.shape == frame.shape and r.faces == 1
    changed = np.abs(r.image.astype(int) - frame).max(axis=2) > 2
    assert changed.sum() > 300, "the face was not put in"
    inside = footprint(face, frame.shape)
    assert not changed[~inside].any(), "pixels outside the face square changed"
    if mode != "raw-rgb":
        # blended by the mask: nothing changes where the mask is 0 (seamless may touch its 1 px rim)
        m = cv2.dilate((r.mask > 0).astype(np.uint8), np.ones((3, 3), np.uint8)).astype(bool)
        assert not changed[~m].any()


def test_raw_rgb_pastes_the_whole_square():
    frame, face, r = merged(FrameSettings(mode="raw-rgb"))
    _, _, ov = merged(FrameSettings(mode="overlay"))
    assert (r.mask > 127).sum() > 1.5 * (ov.mask > 127).sum()  # square vs face-shaped mask


@pytest.mark.parametrize("sr", [0, 50])
def test_raw_predict_has_the_model_size(sr):
    frame, face, r = merged(FrameSettings(mode="raw-predict", super_resolution=sr))
    size = RES * 4 if sr else RES
    assert r.image.shape == (size, size, 3) and r.mask.shape == (size, size)


def test_hist_match_undoes_a_colour_shift():
    frame, face, r = merged(FrameSettings(mode="hist-match", color_transfer="none", hist_match_threshold=255))
    _, _, plain = merged(FrameSettings(mode="overlay", color_transfer="none"))
    m = r.mask > 250
    err_hist = np.abs(r.image[m].astype(float) - frame[m]).mean(0).sum()
    err_plain = np.abs(plain.image[m].astype(float) - frame[m]).mean(0).sum()
    assert err_hist < 0.5 * err_plain


def test_seamless_blends_the_edge_into_the_frame():
    frame, face, r = merged(FrameSettings(mode="seamless", color_transfer="none"))
    _, _, plain = merged(FrameSettings(mode="overlay", color_transfer="none"))
    # along the mask's rim the seamless result is closer to the frame than a plain paste
    m = (r.mask > 127).astype(np.uint8)
    rim = (cv2.dilate(m, np.ones((5, 5), np.uint8)) - cv2.erode(m, np.ones((5, 5), np.uint8))).astype(bool)
    d_seam = np.abs(r.image[rim].astype(float) - frame[rim]).mean()
    d_plain = np.abs(plain.image[rim].astype(float) - frame[rim]).mean()
    assert d_seam < d_plain


# ---------------------------------------------------------------------------
# mask modes, erode, blur, scale
# ---------------------------------------------------------------------------


@pytest.mark.parametrize("mask_mode", [m for m in MASK_MODES if m not in XSEG_MASK_MODES or m == "XSeg-dst"])
def test_mask_modes_stay_inside_the_face(mask_mode):
    frame, face, r = merged(FrameSettings(mask_mode=mask_mode), with_xseg=True)
    area = (r.mask > 0).sum()
    assert area > 300
    assert not (r.mask > 0)[~footprint(face, frame.shape)].any()
    if mask_mode in ("dst", "XSeg-dst"):  # (the stand-in's learned masks are fixed ellipses, not face-fitted)
        hull = np.zeros(frame.shape[:2], np.uint8)
        cv2.fillConvexPoly(hull, cv2.convexHull(np.round(face.landmarks).astype(np.int32)), 1)
        # every face-shaped mask lies within the landmark hull's box, grown by a fifth
        x, y, w, h = cv2.boundingRect(hull)
        box = np.zeros_like(hull, bool)
        box[max(0, y - h // 5):y + h + h // 5, max(0, x - w // 5):x + w + w // 5] = True
        assert not (r.mask > 0)[~box].any()


def test_mask_products_and_sums_are_ordered():
    area = {m: (merged(FrameSettings(mask_mode=m))[2].mask > 127).sum()
            for m in ("learned-prd", "learned-dst", "learned-prd*learned-dst", "learned-prd+learned-dst")}
    assert area["learned-prd*learned-dst"] <= min(area["learned-prd"], area["learned-dst"])
    assert area["learned-prd+learned-dst"] >= max(area["learned-prd"], area["learned-dst"])
    assert area["learned-prd"] != area["learned-dst"]  # the two ellipses differ: the modes read different masks


@pytest.mark.parametrize("mask_mode", XSEG_MASK_MODES)
def test_xseg_modes_without_xseg_say_so(mask_mode):
    frame, face, pred = setup_face()
    with pytest.raises(MaskUnavailable, match="XSeg"):
        merge_frame(frame, [face], [pred], FrameSettings(mask_mode=mask_mode), RES, FT)


def test_xseg_prd_uses_the_given_masks():
    frame, face, pred = setup_face(with_xseg=True)
    small = np.zeros((RES, RES), np.float32)
    small[20:44, 22:42] = 1
    r = merge_frame(frame, [face], [pred], FrameSettings(mask_mode="XSeg-prd"), RES, FT, xseg_prd=[small])
    r2 = merge_frame(frame, [face], [pred], FrameSettings(mask_mode="XSeg-dst"), RES, FT)
    assert 0 < (r.mask > 127).sum() < (r2.mask > 127).sum()


def test_erode_shrinks_and_dilate_grows_the_mask():
    area = {e: (merged(FrameSettings(erode_mask=e))[2].mask > 127).sum() for e in (-40, 0, 40)}
    assert area[40] < area[0] < area[-40]


def test_blur_softens_the_mask():
    hard = merged(FrameSettings(blur_mask=0))[2].mask
    soft = merged(FrameSettings(blur_mask=60))[2].mask
    partial = lambda m: ((m > 5) & (m < 250)).sum()  # noqa: E731
    assert partial(soft) > 3 * partial(hard)
    # and it fades inside the face square: zero at the square's edge
    assert soft.max() == 255


def test_process_mask_works_at_4x_resolution():
    wrk = np.zeros((RES, RES), np.float32)
    wrk[16:48, 16:48] = 1
    m0 = process_mask(wrk, RES, 0, 0)
    m8 = process_mask(wrk, RES, 8, 0)
    assert m0.shape == (4 * RES, 4 * RES)
    # an 8 px erode at 4x removes about 4 px per side: (128 - 8)^2 of 128^2
    assert abs((m8 > 0.5).sum() - 120 * 120) < 600 and abs((m0 > 0.5).sum() - 128 * 128) < 600


def test_face_scale_works_as_in_deepfacelab():
    # DeepFaceLab's sign: a positive output face scale crops tighter, so the pasted face is smaller.
    big = (merged(FrameSettings(face_scale=-20))[2].mask > 127).sum()
    normal = (merged(FrameSettings(face_scale=0))[2].mask > 127).sum()
    small = (merged(FrameSettings(face_scale=20))[2].mask > 127).sum()
    assert small < normal < big


def test_two_faces_in_one_frame_are_both_merged():
    frame, lm = frame_and_landmarks(0)
    from faces_data import template_landmarks

    lm2 = template_landmarks(center=(190.0, 185.0), height=45.0)
    faces = [FaceJob(lm, "a"), FaceJob(lm2, "b")]
    p = ShiftPredictor(RES)
    preds = [p.predict(cut_input(frame, f, RES, FT)[None]) for f in faces]
    r = merge_frame(frame, faces, preds, FrameSettings(color_transfer="none"), RES, FT)
    assert r.faces == 2
    n, _ = cv2.connectedComponents((r.mask > 127).astype(np.uint8))
    assert n - 1 == 2
    one = merge_frame(frame, faces[:1], preds[:1], FrameSettings(color_transfer="none"), RES, FT)
    assert (r.mask > 127).sum() > (one.mask > 127).sum()


def test_no_face_passes_the_frame_through():
    frame, _ = frame_and_landmarks(0)
    r = merge_frame(frame, [], [], FrameSettings(), RES, FT)
    assert np.array_equal(r.image, frame) and r.mask.max() == 0 and r.faces == 0
    raw = merge_frame(frame, [], [], FrameSettings(mode="raw-predict"), RES, FT)
    assert raw.image.shape == (RES, RES, 3) and raw.image.max() == 0


# ---------------------------------------------------------------------------
# colour transfer and filters
# ---------------------------------------------------------------------------


@pytest.mark.parametrize("mode", [m for m in COLOR_TRANSFER_MODES if m != "none"])
def test_colour_transfer_moves_mean_and_spread_toward_the_target(mode):
    frame, lm = frame_and_landmarks(1)
    face_job = FaceJob(lm)
    dst = cut_input(frame, face_job, RES, FT).astype(np.float32) / 255
    pred = ShiftPredictor(RES).predict((dst * 255).astype(np.uint8)[None]).face[0]
    hull = _hull_in_face(face_job, get_transform_mat(lm, RES, FT), RES)
    sel = hull > 0.5
    out = color_transfer(mode, pred, dst, hull)
    assert out.shape == pred.shape and out.dtype == np.float32 and 0 <= out.min() and out.max() <= 1

    def dist(x):
        return np.abs(x[sel].mean(0) - dst[sel].mean(0)).sum(), np.abs(x[sel].std(0) - dst[sel].std(0)).sum()

    (m0, s0), (m1, s1) = dist(pred), dist(out)
    assert m1 < 0.5 * m0, (m0, m1)
    assert s1 < 0.5 * s0, (s0, s1)


def test_hist_match_threshold_tames_highlights():
    frame, lm = frame_and_landmarks(0)
    dst = cut_input(frame, FaceJob(lm), RES, FT).astype(np.float32) / 255
    a = hist_match(dst * 0.7, dst, None, 255)
    b = hist_match(dst * 0.7, dst, None, 200)
    assert b.mean() < a.mean() and abs(a.mean() - dst.mean()) < 0.02


def test_filters_do_what_they_say():
    frame, _ = frame_and_landmarks(0)
    img = frame[40:168, 60:188].astype(np.float32) / 255
    lap = lambda x: cv2.Laplacian(cv2.cvtColor(x, cv2.COLOR_BGR2GRAY), cv2.CV_32F).var()  # noqa: E731
    assert lap(filters.blur_sharpen(img, "gaussian", 60)) > lap(img) > lap(filters.blur_sharpen(img, "box", -60))
    assert lap(filters.blur_sharpen(img, "box", 60)) > lap(img)
    # motion blur along x flattens horizontal detail more than vertical
    mb = filters.motion_blur(img, 15, 0.0)
    gx = lambda x: np.abs(np.diff(x, axis=1)).mean()  # noqa: E731
    gy = lambda x: np.abs(np.diff(x, axis=0)).mean()  # noqa: E731
    assert gx(mb) / gx(img) < 0.6 * gy(mb) / gy(img)
    noisy = np.clip(img + np.random.default_rng(0).normal(0, 0.08, img.shape).astype(np.float32), 0, 1)
    assert np.abs(filters.denoise(noisy, 200) - img).mean() < np.abs(noisy - img).mean()
    assert lap(filters.bicubic_degrade(img, 60)) < 0.5 * lap(img)
    deg = (filters.color_degrade(img, 100) * 255).round().astype(np.uint8)
    assert len(np.unique(deg.reshape(-1, 3), axis=0)) <= 256
    up = filters.super_resolution(img[:32, :32], 100)
    assert up.shape == (128, 128, 3)
    assert lap(up) > lap(filters.super_resolution(img[:32, :32], 0))
    assert filters.motion_kernel_size(30, 50, False) == 16 and filters.motion_kernel_size(500, 100, True) == 100


def test_post_processing_settings_change_the_face():
    base = merged(FrameSettings())[2].image.astype(int)
    for kw in (dict(sharpen_mode="gaussian", sharpen_amount=80), dict(sharpen_amount=-60), dict(image_denoise=200),
               dict(bicubic_degrade=50), dict(color_degrade=100), dict(super_resolution=100)):
        r = merged(FrameSettings(**kw))[2]
        assert np.abs(r.image.astype(int) - base).mean() > 0.05, kw
    mb = merged(FrameSettings(motion_blur=100), motion=(40.0, 0.0))[2].image.astype(int)
    assert np.abs(mb - base).mean() > 0.05
    # without a motion vector, motion blur does nothing (single-face rule)
    assert np.array_equal(merged(FrameSettings(motion_blur=100), motion=None)[2].image, merged(FrameSettings())[2].image)


def test_settings_defaults_and_ranges_follow_deepfacelab():
    s = FrameSettings()
    assert (s.mode, s.hist_match_threshold, s.color_transfer, s.masked_hist_match) == ("overlay", 238, "rct", True)
    with pytest.raises(ValueError):
        replace(s, erode_mask=401)
    with pytest.raises(ValueError):
        replace(s, color_transfer="bogus")
