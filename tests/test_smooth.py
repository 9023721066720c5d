"""Steadier merges: one-euro smoothing of where each face sits, along its track."""

from __future__ import annotations

import math

import numpy as np

from dfl_tui.faces.landmarks import landmarks_to_unit_mat, transform_points
from dfl_tui.merge import smooth as S
from dfl_tui.merge.options import FrameSettings
from faces_data import template_landmarks


def jittered_track(n=90, jit=2.0, pts=1.0, seed=0, amp=40.0, period=60, speed=0.0):
    """A head swaying (and drifting at ``speed`` px a frame) with detector-like jitter on its landmarks."""
    rng = np.random.default_rng(seed)
    truth, noisy = [], []
    for i in range(n):
        cx = 256 + amp * math.sin(2 * math.pi * i / period) + speed * i
        lm = template_landmarks(center=(cx, 256 + 0.3 * amp * math.cos(2 * math.pi * i / period)), height=100,
                                angle_deg=5 * math.sin(2 * math.pi * i / 45))
        truth.append([lm])
        noisy.append([lm + rng.normal(0, jit, 2) + rng.normal(0, pts, lm.shape)])
    return truth, noisy


def centre_error(a, b):
    e = [np.linalg.norm(S.placement(x[0])[1][:2] - S.placement(y[0])[1][:2]) for x, y in zip(a, b)]
    return float(np.sqrt(np.mean(np.square(e))))


def test_smoothing_lowers_jitter_on_a_jittered_track():
    truth, noisy = jittered_track()
    sm = S.smooth_frames(noisy, 50)
    before, after = S.jitter(noisy), S.jitter(sm)
    assert after < 0.4 * before, (before, after)
    assert centre_error(truth, sm) < 0.7 * centre_error(truth, noisy)
    # stronger smoothing: steadier still
    assert S.jitter(S.smooth_frames(noisy, 100)) < after
    # 0: off, the landmarks come back as they were
    off = S.smooth_frames(noisy, 0)
    assert all(np.array_equal(a[0], b[0].astype(np.float32)) for a, b in zip(off, noisy))


def test_no_lag_at_constant_speed_and_the_expression_is_kept():
    truth, _ = jittered_track(amp=0.0, speed=6.0, jit=0.0, pts=0.0)
    sm = S.smooth_frames(truth, 100)
    assert centre_error(truth, sm) < 0.05  # forward + backward passes: no lag, ends included
    # only the placement moves: in the aligned face, the points are where they were
    _, noisy = jittered_track(seed=3)
    sm = S.smooth_frames(noisy, 50)
    for a, b in zip(noisy[::7], sm[::7]):
        ua = transform_points(a[0], landmarks_to_unit_mat(a[0]))
        ub = transform_points(b[0], landmarks_to_unit_mat(b[0]))
        assert np.abs(ua - ub).max() < 1e-3


def test_tracks_follow_each_face_and_reset_at_a_jump():
    left = [template_landmarks(center=(150 + i, 200), height=80) for i in range(10)]
    right = [template_landmarks(center=(400 - i, 220), height=90) for i in range(10)]
    # frame 3 lists the faces the other way round; a face is missing in frame 6
    frames = [[l, r] for l, r in zip(left, right)]
    frames[3] = [right[3], left[3]]
    frames[6] = [left[6]]
    tracks = S.build_tracks(frames)
    by_start = {t[0]: t for t in tracks}
    assert [f for f, _ in by_start[(0, 0)]] == list(range(10))  # the left face, all along
    assert by_start[(0, 0)][3] == (3, 1)
    assert [f for f, _ in by_start[(0, 1)]] == [0, 1, 2, 3, 4, 5]  # the right face ends where it is missing
    assert [f for f, _ in by_start[(7, 1)]] == [7, 8, 9]
    # a scene cut: the face jumps across the frame -> a new track, nothing smoothed across it
    cut = [[template_landmarks(center=(150 if i < 20 else 330, 200), height=80)] for i in range(40)]
    assert [len(t) for t in S.build_tracks(cut)] == [20, 20]
    sm = S.smooth_frames(cut, 100)
    assert np.abs(sm[19][0] - cut[19][0]).max() < 1e-3 and np.abs(sm[20][0] - cut[20][0]).max() < 1e-3
    # a known cut splits a track even without a jump
    still = [[template_landmarks(center=(150, 200), height=80)] for _ in range(8)]
    assert [len(t) for t in S.build_tracks(still, cuts=[4])] == [4, 4]


def test_the_merger_preview_places_faces_as_the_merge_does(tmp_path):
    from dfl_tui.merge.preview import MergePreview
    from eval_fixtures import make_jittered_dst
    from merge_fixtures import ShiftPredictor

    info = make_jittered_dst(tmp_path, n=8)
    prev = MergePreview(info["ws"], predictor=ShiftPredictor(), smooth=0)
    raw = [np.array(prev.groups[s][0].meta.source_landmarks) for s in prev.stems]
    assert all(np.array_equal(r, info["landmarks"][s][0]) for r, s in zip(raw, prev.stems))
    prev.compose(prev.stems[3], FrameSettings())
    prev.set_smooth(100)
    steady = [np.array(prev.groups[s][0].meta.source_landmarks) for s in prev.stems]
    assert S.jitter([[x] for x in steady]) < 0.5 * S.jitter([[x] for x in raw])
    assert prev._last is None and not prev._cache  # what was rendered with the old placement is gone
    prev.set_smooth(0)
    assert all(np.array_equal(np.array(prev.groups[s][0].meta.source_landmarks), r) for s, r in zip(prev.stems, raw))
