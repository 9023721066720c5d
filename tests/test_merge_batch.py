"""The merge step: frames with no face, several faces, corrupt frames, resume, sessions, XSeg checks, marks."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from dfl_tui.errors import DflError, InputError
from dfl_tui.jobs.context import Reporter
from dfl_tui.merge.batch import MERGE_KEY, run_merge
from dfl_tui.merge.options import FrameSettings, MergeOptions
from dfl_tui.merge.session import MergeSession
from dfl_tui.options import validate
from dfl_tui.provenance import metadata as md
from dfl_tui.provenance import watermark as wm
from merge_fixtures import Recorder, ShiftPredictor, make_dst


def merge(info, predictor=None, **kw):
    ctx = Recorder(info["ws"])
    res = run_merge(ctx, validate(MergeOptions(**kw)), predictor=predictor or ShiftPredictor())
    return res, ctx


def test_batch_merges_copies_and_survives_bad_frames(tmp_path):
    info = make_dst(tmp_path, 7, no_face=(2,), two_faces=(4,), corrupt=(6,))
    ws = info["ws"]
    p = ShiftPredictor()
    res, ctx = merge(info, p)
    assert res["merged"] == 5 and res["copied"] == 1 and res["bad"] == 1 and res["frames"] == 7
    assert any("00007.png" in w and "not a readable image" in w for w in ctx.warnings)
    assert any("no aligned face" in w and "00003.png" in w for w in ctx.warnings)
    names = sorted(p.name for p in ws.merged.iterdir() if not p.name.startswith("."))
    assert names == [f"{i:05d}.png" for i in (1, 2, 3, 4, 5, 6)]
    assert sorted(p.name for p in ws.merged_mask.iterdir()) == names
    # the model saw every face of the batch in batched calls (two faces in frame 5)
    assert sum(p.calls) == 6 and max(p.calls) > 1
    # frame without a face: the frame itself (plus the invisible mark), and a black mask
    src = cv2.imread(str(info["frames"][2]))
    out = cv2.imread(str(ws.merged / "00003.png"))
    assert wm.psnr(src, out) > 40 and wm.detect(out).found
    assert cv2.imread(str(ws.merged_mask / "00003.png"), cv2.IMREAD_GRAYSCALE).max() == 0
    # the two-face frame has two blobs in its mask
    m5 = cv2.imread(str(ws.merged_mask / "00005.png"), cv2.IMREAD_GRAYSCALE)
    assert cv2.connectedComponents((m5 > 127).astype(np.uint8))[0] - 1 == 2
    # every merged frame is marked: metadata and watermark
    for name in names:
        rec = md.read_provenance(ws.merged / name)
        assert rec and rec["ai_generated"] and rec["model"] == "standin" and rec["tool"] == "dfl-tui"
        assert wm.detect(cv2.imread(str(ws.merged / name))).found
    # no temporary files left behind
    assert not [p for p in ws.merged.iterdir() if p.name.startswith(".") and p.suffix == ".tmp"]


def test_resume_skips_frames_merged_with_the_same_settings(tmp_path):
    info = make_dst(tmp_path, 4, no_face=())
    ws = info["ws"]
    res1, _ = merge(info)
    assert res1["merged"] == 4
    keys = {p.name: md.read_png_text(p)[MERGE_KEY] for p in ws.merged.iterdir() if p.suffix == ".png"}
    # an interrupted run: one output lost, another half-written by something else
    (ws.merged / "00002.png").unlink()
    (ws.merged / "00003.png").write_bytes(b"garbage")
    res2, ctx = merge(info)
    assert res2["resumed"] == 2 and res2["merged"] == 2
    assert md.read_png_text(ws.merged / "00003.png")[MERGE_KEY] == keys["00003.png"]
    # other settings: everything again; --restart: everything again
    assert merge(info, mode="seamless")[0]["merged"] == 4
    assert merge(info, mode="seamless")[0]["resumed"] == 4
    assert merge(info, mode="seamless", restart=True)[0]["merged"] == 4
    # a newer model iteration invalidates the frames too
    p = ShiftPredictor()
    p.iteration = 99
    assert merge(info, p, mode="seamless")[0]["merged"] == 4


def test_session_settings_are_used_per_frame(tmp_path):
    info = make_dst(tmp_path, 5, no_face=())
    ws = info["ws"]
    sess = MergeSession.open(ws.model_dir / "standin")
    sess.set_frame("00003", FrameSettings(mode="original"))
    sess.set_frame("00005", FrameSettings(mode="overlay"))
    sess.save()
    res, ctx = merge(info)
    assert any("session" in m for m in ctx.logs)
    for i in (1, 2, 3, 4, 5):
        src = cv2.imread(str(info["frames"][i - 1])).astype(int)
        out = cv2.imread(str(ws.merged / f"{i:05d}.png")).astype(int)
        diff = np.abs(out - src).max(axis=2) > 12  # the invisible mark changes pixels by a few levels at most
        if i in (3, 4):  # keyframe "original" at 3, inherited by 4
            assert diff.sum() == 0, i
        else:
            assert diff.sum() > 200, i
    # --no-session ignores it
    res, ctx = merge(info, session=False)
    out = cv2.imread(str(ws.merged / "00003.png")).astype(int)
    assert (np.abs(out - cv2.imread(str(info["frames"][2])).astype(int)).max(axis=2) > 12).sum() > 200


def test_xseg_modes_need_xseg_masks(tmp_path):
    info = make_dst(tmp_path, 2, no_face=())
    with pytest.raises(DflError, match="XSeg masks"):
        merge(info, mask_mode="XSeg-dst")
    info2 = make_dst(tmp_path / "x", 2, no_face=(), with_xseg=True)
    res, _ = merge(info2, mask_mode="XSeg-dst")
    assert res["merged"] == 2
    m = cv2.imread(str(info2["ws"].merged_mask / "00001.png"), cv2.IMREAD_GRAYSCALE)
    merge(info2, mask_mode="dst")
    m_hull = cv2.imread(str(info2["ws"].merged_mask / "00001.png"), cv2.IMREAD_GRAYSCALE)
    assert (m > 127).sum() > 200 and (m > 127).sum() != (m_hull > 127).sum()


def test_xseg_prd_without_a_trained_xseg_model_is_a_clear_error(tmp_path):
    info = make_dst(tmp_path, 2, no_face=(), with_xseg=True)
    with pytest.raises(DflError, match="XSeg-prd"):
        merge(info, mask_mode="XSeg-prd")


def test_xseg_prd_runs_the_trained_xseg_model_on_the_predicted_faces(tmp_path):
    from merge_fixtures import save_tiny_xseg

    info = make_dst(tmp_path, 2, no_face=(), with_xseg=True)
    save_tiny_xseg(info["ws"])
    res, _ = merge(info, mask_mode="XSeg-prd")
    assert res["merged"] == 2
    m_prd = cv2.imread(str(info["ws"].merged_mask / "00001.png"), cv2.IMREAD_GRAYSCALE)
    merge(info, mask_mode="XSeg-prd*XSeg-dst")
    m_both = cv2.imread(str(info["ws"].merged_mask / "00001.png"), cv2.IMREAD_GRAYSCALE)
    # 'face everywhere' on the predicted face: the XSeg crop's whole square; the product is the dst mask's shape
    assert (m_prd > 127).sum() > 1.5 * (m_both > 127).sum() > 0


def test_amp_morph_factor_reaches_the_model(tmp_path):
    info = make_dst(tmp_path, 2, no_face=())
    p = ShiftPredictor(morphable=True)
    merge(info, p, color_transfer="none", morph_factor=0.0)
    a = cv2.imread(str(info["ws"].merged / "00001.png")).astype(int)
    merge(info, p, color_transfer="none", morph_factor=1.0)
    b = cv2.imread(str(info["ws"].merged / "00001.png")).astype(int)
    assert np.abs(a - b).mean() > 0.5


def test_label_is_visible_and_stale_frames_go_to_the_trash(tmp_path):
    info = make_dst(tmp_path, 3, no_face=())
    ws = info["ws"]
    ws.merged.mkdir(parents=True)
    cv2.imwrite(str(ws.merged / "00099.png"), np.zeros((8, 8, 3), np.uint8))
    res, ctx = merge(info, label=True)
    assert not (ws.merged / "00099.png").exists()
    assert list((ws.merged / ".trash").rglob("00099.png"))
    out = cv2.imread(str(ws.merged / "00001.png"))
    corner = out[-30:, -110:]
    assert (corner > 240).all(axis=2).sum() > 20  # white text on the dark box
    assert md.read_provenance(ws.merged / "00001.png")["visible_label"] is True


def test_missing_inputs_are_clear_errors(tmp_path):
    from dfl_tui.workspace import Workspace

    ws = Workspace.open(tmp_path)
    with pytest.raises(InputError, match="extract-frames"):
        run_merge(Reporter(ws), validate(MergeOptions()), predictor=ShiftPredictor())
    info = make_dst(tmp_path, 2, no_face=(0, 1))
    with pytest.raises(InputError, match="extract-faces"):
        merge(info)
    info = make_dst(tmp_path / "b", 2, no_face=())
    with pytest.raises(DflError, match="train"):
        run_merge(Reporter(info["ws"]), validate(MergeOptions()))  # the real model is loaded: none is trained
    with pytest.raises(DflError, match="no model 'nope'"):
        run_merge(Reporter(info["ws"]), validate(MergeOptions(model="nope")))
