"""dfl-tui evaluate: the scorecard of a finished merge; merge --smooth lowers its flicker figure."""

from __future__ import annotations

import importlib.util
import json

import cv2
import numpy as np
import pytest

from dfl_tui.errors import InputError
from dfl_tui.evaluate import metrics as M
from dfl_tui.evaluate.options import KEYS, EvaluateOptions
from dfl_tui.evaluate.report import verdict_lines
from dfl_tui.evaluate.run import run_evaluate, spread
from dfl_tui.merge.batch import run_merge
from dfl_tui.merge.options import MergeOptions
from dfl_tui.options import validate
from eval_fixtures import FixedFacePredictor, NoLandmarks, constant_embedder, make_jittered_dst
from merge_fixtures import Recorder, ShiftPredictor, make_dst


def evaluate(ws, **kw):
    ctx = Recorder(ws)
    stand_ins = {k: kw.pop(k) for k in ("embedder", "landmarker") if k in kw}
    return run_evaluate(ctx, validate(EvaluateOptions(**kw)), **stand_ins), ctx


def test_smoothing_lowers_the_flicker_of_a_jittered_still_shot(tmp_path):
    info = make_jittered_dst(tmp_path, n=12, jitter=1.5)
    ws = info["ws"]
    figures = {}
    for strength in (0, 50):
        run_merge(Recorder(ws), validate(MergeOptions(smooth=strength, color_transfer="none", workers=1)),
                  predictor=FixedFacePredictor())
        card, _ = evaluate(ws, frames=0, embedder=constant_embedder, landmarker=NoLandmarks())
        figures[strength] = card["flicker"]
        assert card["counts"]["flicker_pairs"] == 11
    # the dst is still: every change of the merged face is shimmer the swap added
    print("flicker without / with smoothing:", figures)
    assert figures[0] > 1.5, figures
    assert figures[50] < 0.6 * figures[0], figures


def test_scorecard_of_a_standin_merge_and_its_verdicts(tmp_path):
    from train_fixtures import make_faceset

    info = make_dst(tmp_path, 6, no_face=(2,))
    ws = info["ws"]
    make_faceset(ws.aligned("src"), "hopper", n=3)
    run_merge(Recorder(ws), validate(MergeOptions(workers=1, label=True)), predictor=ShiftPredictor())
    card, ctx = evaluate(ws, frames=4, embedder=constant_embedder, landmarker=NoLandmarks())
    assert set(KEYS) <= set(card) and card["model"] == "standin"
    assert card["marked_share"] == 1.0 and card["counts"]["frames"] == 6 and card["counts"]["scored"] == 4
    assert 0.95 <= card["outside_ssim"] <= 1.0  # the visible label's box is left out
    assert card["id_sim_src"] == pytest.approx(1.0) and card["id_sim_dst"] == pytest.approx(1.0)
    assert card["pose_error_deg"] is None and card["landmark_error"] is None  # no landmarks found
    assert 0 < card["flicker"]
    lines = verdict_lines(card)
    assert any("every merged frame carries" in line for line in lines)
    assert any(line.startswith("pose") and "not measured" in line for line in lines)
    assert ctx.logs[-len(lines):] == lines  # the job log ends with the verdicts
    saved = json.loads((ws.root / "evaluation.json").read_text())
    assert saved["flicker"] == card["flicker"]
    # a frame that lost its mark shows
    img = cv2.imread(str(ws.merged / "00002.png"))
    cv2.imwrite(str(ws.merged / "00002.png"), img)  # re-encoded: metadata gone ...
    cv2.imwrite(str(ws.merged / "00004.png"), cv2.imread(str(info["frames"][3])))  # ... and an unmarked frame
    card, _ = evaluate(ws, frames=2, embedder=constant_embedder, landmarker=NoLandmarks())
    assert card["marked_share"] == pytest.approx(5 / 6, abs=1e-3)
    assert any("NOT every frame" in line for line in verdict_lines(card))


def test_clear_errors(tmp_path):
    info = make_dst(tmp_path, 3, no_face=())
    with pytest.raises(InputError, match="run 'dfl-tui merge' first"):
        evaluate(info["ws"], embedder=constant_embedder, landmarker=NoLandmarks())
    run_merge(Recorder(info["ws"]), validate(MergeOptions(workers=1)), predictor=ShiftPredictor())
    with pytest.raises(InputError, match="made by model 'standin', not 'other'"):
        evaluate(info["ws"], model="other", embedder=constant_embedder, landmarker=NoLandmarks())


def test_metrics():
    rng = np.random.default_rng(0)
    a = rng.integers(0, 255, (64, 80, 3), np.uint8)
    mask = np.zeros((64, 80), np.uint8)
    mask[20:40, 30:50] = 255
    b = a.copy()
    b[22:38, 32:48] = 0  # changed inside the mask only
    assert M.outside_ssim(a, b, mask) == pytest.approx(1.0)
    c = b.copy()
    c[:10, :10] = 255
    assert M.outside_ssim(a, c, mask) < 0.99
    assert spread(10, 3) == [0, 4, 9] or spread(10, 3) == [0, 5, 9]
    assert spread(5, 0) == [0, 1, 2, 3, 4] and spread(5, 9) == [0, 1, 2, 3, 4]
    assert M.flicker([0.0, 0.0], [0.0, 0.0]) == 1.0 and M.flicker([3.0], [1.0]) == 2.0
    from faces_data import template_landmarks

    ref = template_landmarks(center=(100, 100), height=80)
    assert M.landmark_error(ref, ref) == pytest.approx(0.0, abs=1e-6)
    assert M.pose_error_deg(ref, ref)[0] == pytest.approx(0.0, abs=1e-3)
    turned = template_landmarks(center=(100, 100), height=80, angle_deg=10)
    assert 8 < M.pose_error_deg(turned, ref)[0] < 12  # a 10 degree roll
    assert 0.005 < M.landmark_error(ref + 2.0, ref) < 0.05


def _painted_merge(tmp_path, n=4):
    """dst: the astronaut (faces extracted by extract-faces, mediapipe); src set: Grace Hopper; the 'model'
    paints Hopper's face on every dst face."""
    from dfl_tui import jobs
    from dfl_tui import options as optmod
    from dfl_tui.faces.options import ExtractFacesOptions
    from train_fixtures import make_faceset

    info = make_dst(tmp_path, n, no_face=tuple(range(n)))
    ws = info["ws"]
    st = jobs.run_inline(ws, "extract-faces", optmod.from_dict(ExtractFacesOptions, dict(
        side="dst", detector="mediapipe", size=128, debug=False, device="cpu")))
    assert st["state"] == "done" and st["result"]["faces"] == n, st
    make_faceset(ws.aligned("src"), "hopper", n=4, size=128)
    run_merge(Recorder(ws), validate(MergeOptions(workers=1, color_transfer="rct", erode_mask=-20, blur_mask=20)),
              predictor=FixedFacePredictor(resolution=96))
    return ws


def test_pose_and_landmarks_with_the_extraction_pipeline(tmp_path):
    ws = _painted_merge(tmp_path)
    card, _ = evaluate(ws, frames=3, detector="mediapipe", embedder=constant_embedder)
    c = card["counts"]
    assert c["faces_swapped"] == 3 and c["landmarks_compared"] == 3, c
    # the painted face is a frontal mean-face crop placed by the dst landmarks: it looks the same way
    assert 0.0 <= card["pose_error_deg"] < 15.0 and 0.0 <= card["landmark_error"] < 0.08, card


def test_identity_is_closer_to_the_src_set(tmp_path):
    pytest.importorskip("dfl_tui.identity")
    ws = _painted_merge(tmp_path)
    card, _ = evaluate(ws, frames=3, landmarker=NoLandmarks())
    print("identity:", card["id_sim_src"], card["id_sim_dst"], card["counts"])
    assert -1.0 <= card["id_sim_dst"] < card["id_sim_src"] <= 1.0, card


@pytest.mark.slow
def test_evaluate_a_tiny_trained_model_every_figure_in_range(tmp_path):
    """The whole path with the real parts: a tiny SAEHD (3 iterations), merge, and 'dfl-tui evaluate --json'
    running the identity model and the extraction's landmark pipeline in a job process."""
    from dfl_tui import jobs
    from dfl_tui.cli import main
    from eval_fixtures import make_hopper_dst
    from faults_fixtures import opts
    from train_fixtures import make_workspace

    ws = make_workspace(tmp_path / "ws", n=4, size=64)
    st = jobs.run_inline(ws, "train", opts(target_iter=3, seed=1))
    assert st["state"] == "done", st
    make_hopper_dst(ws.root, n=5)
    st = jobs.run_inline(ws, "merge", validate(MergeOptions(model="tiny", device="cpu", workers=1)))
    assert st["state"] == "done" and st["result"]["merged"] == 5, st
    import contextlib
    import io

    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        assert main(["-w", str(ws.root), "evaluate", "--json", "--model", "tiny", "--device", "cpu"]) == 0
    card = json.loads(out.getvalue())
    assert list(card) == [*KEYS, "counts"]
    c = card["counts"]
    assert c["frames"] == 5 and c["faces_swapped"] == 5
    if importlib.util.find_spec("dfl_tui.identity") is not None:
        assert -1.0 <= card["id_sim_src"] <= 1.0 and -1.0 <= card["id_sim_dst"] <= 1.0
    # after 3 iterations the face is noise: the landmark pipeline may call it no face (and says so)
    assert c["landmarks_compared"] + c["landmarks_lost"] == 5
    if c["landmarks_compared"]:
        assert 0.0 <= card["pose_error_deg"] <= 180.0 and 0.0 <= card["landmark_error"] <= 1.0
    else:
        assert card["pose_error_deg"] is None and card["landmark_error"] is None
    assert 0.9 <= card["outside_ssim"] <= 1.0
    assert card["flicker"] > 0
    assert card["marked_share"] == 1.0
    # the TUI's step list shows the card
    from dfl_tui import workflow

    state = workflow.get("evaluate").state_of(ws.status())
    assert "flicker" in state.text and state.level == "done"
