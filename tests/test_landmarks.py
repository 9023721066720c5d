"""DeepFaceLab alignment: crops line up with the template exactly as the spec says."""

from __future__ import annotations

import math

import cv2
import numpy as np
import pytest

from dfl_tui.faces import landmarks as L
from dfl_tui.faces.facetype import FaceType
from faces_data import astronaut_bgr, template_landmarks


def _similarity(points: np.ndarray, scale: float, angle: float, shift) -> np.ndarray:
    c, s = math.cos(angle), math.sin(angle)
    rot = np.array([[c, -s], [s, c]])
    return (points @ rot.T) * scale + np.asarray(shift)


def frame_landmarks(scale=180.0, angle=0.3, shift=(300.0, 240.0)) -> np.ndarray:
    """68 points whose 33 alignment points are exactly the template, moved by a similarity."""
    unit = L._mean_face_68_unit().astype(np.float64)
    unit[L.ALIGN_INDICES] = L.MEAN_FACE_33
    return _similarity(unit, scale, angle, shift).astype(np.float32)


@pytest.mark.parametrize("ft,side,dy", [
    (FaceType.HALF, 1.0, 0.0),
    (FaceType.MID_FULL, 1 + 2 * math.sqrt(2) * 0.0675, 0.0),
    (FaceType.FULL, 1 + 2 * math.sqrt(2) * 0.2109375, 0.0),
    (FaceType.WHOLE_FACE, 1 + 2 * math.sqrt(2) * 0.40, 0.07),
])
def test_template_points_land_where_the_face_type_puts_them(ft, side, dy):
    size = 256
    lm = frame_landmarks()
    mat = L.get_transform_mat(lm, size, ft)
    aligned = L.transform_points(lm, mat)[L.ALIGN_INDICES]
    # In face space the unit square is centred (moved up by dy units for whole face) and spans size/side pixels.
    expected = (L.MEAN_FACE_33 - np.array([0.5, 0.5 - dy])) * (size / side) + size / 2
    assert np.abs(aligned - expected).max() < 0.05


def test_head_crop_moves_centre_half_a_unit_up_for_a_frontal_face():
    size = 256
    lm = frame_landmarks(angle=0.0)
    # Make the jaw exactly symmetric about the nose line so the averaged yaw is 0.
    mid = lm[27, 0]
    for i in range(8):
        lm[16 - i, 0] = 2 * mid - lm[i, 0]
        lm[16 - i, 1] = lm[i, 1]
    assert abs(L.estimate_averaged_yaw(lm)) < 1e-3
    side = 1 + 2 * math.sqrt(2) * 0.70
    aligned = L.transform_points(lm, L.get_transform_mat(lm, size, FaceType.HEAD))[L.ALIGN_INDICES]
    expected = (L.MEAN_FACE_33 - np.array([0.5, 0.0])) * (size / side) + size / 2
    assert np.abs(aligned - expected).max() < 0.05


def test_no_align_crop_is_axis_aligned_with_the_same_area():
    lm = frame_landmarks(angle=0.4)
    m_al = L.get_transform_mat(lm, 256, FaceType.FULL)
    m_na = L.get_transform_mat(lm, 256, FaceType.FULL_NO_ALIGN)
    lin = m_na[:, :2]
    assert abs(lin[0, 1]) < 1e-9 and abs(lin[1, 0]) < 1e-9 and abs(lin[0, 0] - lin[1, 1]) < 1e-9
    assert abs(abs(np.linalg.det(m_al[:, :2])) - abs(np.linalg.det(lin))) / abs(np.linalg.det(lin)) < 1e-6
    # The aligned crop undoes the roll: eyes level in face space.
    a = L.transform_points(lm, m_al)
    assert abs(a[36, 1] - a[45, 1]) < 0.5


def test_scale_grows_the_crop():
    lm = frame_landmarks()
    small = L.get_transform_mat(lm, 256, FaceType.WHOLE_FACE, scale=1.0)
    big = L.get_transform_mat(lm, 256, FaceType.WHOLE_FACE, scale=2.0)
    assert abs(np.linalg.det(big[:, :2]) / np.linalg.det(small[:, :2]) - 4.0) < 1e-6


def test_align_face_on_a_real_photo_and_landmark_order():
    img = astronaut_bgr()
    lm = template_landmarks(center=(240, 150), height=110)
    face, mat, aligned = L.align_face(img, lm, 128, FaceType.WHOLE_FACE)
    assert face.shape == (128, 128, 3) and face.dtype == np.uint8
    eyes_y = aligned[36:48, 1].mean()
    assert eyes_y < aligned[30, 1] < aligned[48:68, 1].mean()  # eyes above nose above mouth
    assert L.alignment_residual(lm) < 0.05
    back = L.transform_points(aligned, mat, invert=True)
    assert np.abs(back - lm).max() < 1e-3


def test_rect_from_landmarks_contains_the_face():
    lm = frame_landmarks(angle=0.0)
    l, t, r, b = L.get_rect_from_landmarks(lm)
    assert l < lm[36, 0] and r > lm[45, 0] and t < lm[19, 1] and b > lm[57, 1]
    assert abs((r - l) - (b - t)) < 1.0


def test_hull_mask_covers_face_not_background():
    lm = template_landmarks(center=(128, 128), height=120)
    m = L.get_image_hull_mask((256, 256), lm)
    assert m.shape == (256, 256, 1)
    assert m[int(lm[30, 1]), int(lm[30, 0]), 0] == 1.0  # nose tip
    assert m[5, 5, 0] == 0.0
    expanded = L.get_image_hull_mask((256, 256), lm, eyebrows_expand_mod=1.0).sum()
    plain = L.get_image_hull_mask((256, 256), lm, eyebrows_expand_mod=0.0).sum()
    assert expanded > plain


def test_eye_and_mouth_masks_are_soft_and_local():
    lm = template_landmarks(center=(128, 128), height=120)
    eyes = L.get_image_eye_mask((256, 256), lm)
    mouth = L.get_image_mouth_mask((256, 256), lm)
    ey, ex = int(lm[36:42, 1].mean()), int(lm[36:42, 0].mean())
    assert eyes[ey, ex, 0] > 0.5 and mouth[ey, ex, 0] < 0.01
    assert 0 < eyes.max() <= 1.0 and ((eyes > 0) & (eyes < 1)).any()


def test_pose_of_a_frontal_face_is_near_zero_and_yaw_has_a_sign():
    size = 256
    unit = L._mean_face_68_unit()
    lm = unit * 100 + 78
    p, y, r = L.estimate_pitch_yaw_roll(lm, size)
    assert max(abs(p), abs(y), abs(r)) < 0.25
    # Project the 3D mean head turned by +/-30 degrees: yaw changes sign.
    yaws = []
    for deg in (-30, 30):
        a = math.radians(deg)
        rot = np.array([[math.cos(a), 0, math.sin(a)], [0, 1, 0], [-math.sin(a), 0, math.cos(a)]])
        pts = L.MEAN_HEAD_3D @ rot.T
        z = pts[:, 2] + 600
        proj = np.stack([pts[:, 0] * size / z * 1.5, pts[:, 1] * size / z * 1.5], 1) + size / 2
        yaws.append(L.estimate_pitch_yaw_roll(proj.astype(np.float32), size)[1])
    assert yaws[0] * yaws[1] < 0 and abs(yaws[0]) > 0.3


def test_mirror_landmarks_swaps_sides():
    lm = template_landmarks(center=(100, 128), height=120)
    m = L.mirror_landmarks(lm, 256)
    assert np.allclose(m[36, 0], 255 - lm[45, 0]) and np.allclose(m[0], [255 - lm[16, 0], lm[16, 1]])
    assert np.allclose(L.mirror_landmarks(m, 256), lm)


def test_debug_drawing_marks_the_frame():
    img = astronaut_bgr().copy()
    lm = template_landmarks(center=(240, 150), height=110)
    before = img.copy()
    L.draw_debug(img, L.get_rect_from_landmarks(lm), lm, FaceType.WHOLE_FACE)
    red = (img[..., 2] > 200) & (img[..., 1] < 60) & (img[..., 0] < 60)
    assert red.sum() > 100 and not np.array_equal(img, before)


def _feature_mask_whole_image(shape, groups):
    """The eye/mouth mask filtered over the whole image (what the box-limited version must equal)."""
    h, w = int(shape[0]), int(shape[1])
    mask = np.zeros((h, w), np.float32)
    for pts in groups:
        cv2.fillConvexPoly(mask, cv2.convexHull(np.asarray(pts, np.float32).astype(np.int32)), (1.0,))
    k = max(1, h // 32)
    mask = cv2.dilate(mask, cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (k, k)), iterations=1)
    blur = max(1, h // 16)
    blur += 1 - blur % 2
    return cv2.GaussianBlur(mask, (blur, blur), 0)[..., None]


def test_feature_masks_filtered_in_a_box_equal_the_whole_image():
    rng = np.random.default_rng(0)
    for t in range(60):
        h = int(rng.integers(32, 600))
        w = h if t % 3 else int(rng.integers(32, 600))
        centre = rng.uniform(-0.2, 1.2, 2) * [w, h]  # some hulls cross or leave the image
        groups = [centre + rng.normal(0, rng.uniform(1, h / 6), (int(rng.integers(3, 9)), 2))
                  for _ in range(int(rng.integers(1, 3)))]
        np.testing.assert_allclose(L._feature_mask((h, w), groups), _feature_mask_whole_image((h, w), groups),
                                   rtol=0, atol=1e-6)
