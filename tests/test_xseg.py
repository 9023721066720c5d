"""XSeg: polygon labels and their baking, the network, training, apply/remove/fetch/export."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest

from xseg_fixtures import fixture_faces, labelled_workspace

from dfl_tui.faces import dflimg
from dfl_tui.xseg.polys import EXCLUDE, INCLUDE, MODE_DRAW, MODE_EDIT, MODE_NONE, LabelEditor, Poly, rasterize


# ---------------------------------------------------------------------------
# Baking: exclude wins
# ---------------------------------------------------------------------------


def square(x0, y0, x1, y1):
    return np.float32([[x0, y0], [x1, y0], [x1, y1], [x0, y1]])


def test_exclude_wins_over_include_whatever_the_drawing_order():
    hole = Poly(EXCLUDE, square(20, 20, 40, 40))
    big = Poly(INCLUDE, square(10, 10, 50, 50))
    inside_again = Poly(INCLUDE, square(25, 25, 35, 35))  # an include drawn *after* the exclude, inside it
    for order in ([hole, big, inside_again], [big, inside_again, hole], [inside_again, hole, big]):
        m = rasterize(order, (64, 64))
        assert m[15, 15] == 1.0 and m[45, 45] == 1.0
        assert m[30, 30] == 0.0, "an exclude polygon must win over every include"
        assert m[5, 5] == 0.0
    # Area: the 41x41 square minus the 21x21 hole (edge pixels belong to each polygon; the exclude's win).
    assert rasterize([big, hole], (64, 64)).sum() == 41 * 41 - 21 * 21


def test_rasterize_scales_and_skips_degenerate_polygons():
    p = Poly(INCLUDE, square(0, 0, 255, 255))
    half = rasterize([p], (128, 128), scale=0.5)
    assert half.shape == (128, 128) and half.mean() > 0.99
    assert rasterize([Poly(INCLUDE, square(0, 0, 10, 10)[:2])], (16, 16)).sum() == 0
    # Dicts as stored in FaceMeta.seg_ie_polys work too.
    assert rasterize([{"type": 1, "pts": square(2, 2, 5, 5)}], (8, 8)).sum() == 16


# ---------------------------------------------------------------------------
# The editor's model (the screen maps mouse and keys onto it)
# ---------------------------------------------------------------------------


def test_editor_draw_close_edit_delete_undo():
    ed = LabelEditor(size=(100, 100))
    ed.radius = 3
    assert ed.click((10, 10)) == "new polygon" and ed.mode == MODE_DRAW
    assert ed.click((60, 10)) == "add point"
    assert ed.click((60, 60)) == "add point"
    assert ed.click((10, 60)) == "add point"
    assert ed.click((11, 11)) == "close"  # on the first point
    assert ed.mode == MODE_EDIT and ed.counts() == (1, 0)
    baked = ed.mask()
    assert baked[30, 30] == 1 and baked[80, 80] == 0
    # Drag a point: one undo step for the whole drag.
    assert ed.click((60, 60)) == "select point"
    ed.begin_drag(ed.active, ed.selected_vertex)
    for x in range(61, 90, 4):
        ed.drag_to((x, x))
    ed.end_drag()
    assert tuple(ed.polys[0].pts[2]) == (89.0, 89.0)
    # Insert on an edge (the modifier), then delete that point again.
    assert ed.click((35, 10), edit_modifier=True) == "insert point" and ed.polys[0].n == 5
    assert ed.click((35, 10), edit_modifier=True) == "delete point" and ed.polys[0].n == 4
    # Undo walks back: the delete, the insert, then the drag.
    assert ed.undo() == "delete point" and ed.polys[0].n == 5
    assert ed.undo() == "insert point" and ed.polys[0].n == 4
    assert ed.undo() == "move point" and tuple(ed.polys[0].pts[2]) == (60.0, 60.0)
    assert ed.redo() == "move point" and tuple(ed.polys[0].pts[2]) == (89.0, 89.0)
    # An exclude polygon inside wins.
    ed.deselect()
    ed.set_type(EXCLUDE)
    for pt in ((20, 20), (40, 20), (40, 40)):
        ed.click(pt)
    ed.finish_draw()
    assert ed.counts() == (1, 1)
    assert ed.mask()[25, 35] == 0 and ed.mask()[50, 50] == 1
    # Delete the selected polygon; undo brings it back.
    ed.select(1)
    assert ed.delete_poly() and ed.counts() == (1, 0)
    ed.undo()
    assert ed.counts() == (1, 1)


def test_editor_drops_a_polygon_left_with_too_few_points():
    ed = LabelEditor(size=(50, 50))
    ed.click((5, 5))
    ed.click((20, 5))
    ed.finish_draw()  # 2 points: nothing to keep
    assert ed.polys == [] and ed.mode == MODE_NONE
    ed.undo()  # the discard is undoable
    assert len(ed.polys) == 1 and ed.polys[0].n == 2
    # A closed triangle losing a point disappears (DeepFaceLab: < 3 points remain).
    ed = LabelEditor([Poly(INCLUDE, np.float32([[5, 5], [20, 5], [20, 20]]))], size=(50, 50))
    ed.delete_point(0, 1)
    assert ed.polys == []
    ed.undo()
    assert ed.polys[0].n == 3


def test_editor_nudges_are_one_undo_step_and_clamped():
    ed = LabelEditor([Poly(INCLUDE, np.float32([[5, 5], [20, 5], [20, 20]]))], size=(30, 30))
    ed.active, ed.selected_vertex = 0, 2
    for _ in range(20):
        ed.nudge_selected(1, 1)
    assert tuple(ed.polys[0].pts[2]) == (29.0, 29.0)  # clamped to the image
    ed.undo()
    assert tuple(ed.polys[0].pts[2]) == (20.0, 20.0)


def test_labels_round_trip_through_the_face_file(tmp_path):
    src = fixture_faces("wf")[0]
    face = tmp_path / src.name
    face.write_bytes(src.read_bytes())
    img_before = face.read_bytes().split(b"\xff\xda", 1)[1]
    ed = LabelEditor(size=(256, 256))
    for pt in ((50, 50), (200, 50), (200, 200), (50, 200)):
        ed.click(pt)
    ed.close()
    ed.set_type(EXCLUDE)
    ed.deselect()
    for pt in ((100, 100), (150, 100), (125, 150)):
        ed.click(pt)
    ed.close()
    meta = dflimg.read_meta(face)
    meta.seg_ie_polys = ed.to_meta()
    dflimg.write_meta(face, meta)
    back = dflimg.read_meta(face)
    assert [p["type"] for p in back.seg_ie_polys] == [1, 0]
    assert np.allclose(back.seg_ie_polys[0]["pts"], [[50, 50], [200, 50], [200, 200], [50, 200]])
    assert face.read_bytes().split(b"\xff\xda", 1)[1] == img_before  # pixels untouched


# ---------------------------------------------------------------------------
# The network
# ---------------------------------------------------------------------------


def test_xseg_net_shapes_and_pretrain_mode():
    import torch

    from dfl_tui.xseg.net import BlurPool, XSegNet, count_parameters

    torch.manual_seed(0)
    net = XSegNet(64, 8).eval()
    x = torch.rand(2, 3, 64, 64)
    logits = net(x)
    assert logits.shape == (2, 1, 64, 64)
    # Pretrain feeds zeros instead of the skips: a different function of the same weights.
    assert not torch.allclose(logits, net(x, pretrain=True))
    m = net.predict(x)
    assert m.min() >= 0 and m.max() <= 1 and bool(((m == 0) | (m >= 0.1)).all())
    # Six anti-aliased halvings down to the dense bottleneck (256 px -> 4 x 4 x 8 base).
    assert BlurPool(3, 4)(torch.rand(1, 3, 256, 256)).shape == (1, 3, 128, 128)
    full = XSegNet(256, 32)
    assert full.bottom == 4 and full.dense1.in_features == 4 * 4 * 256 and full.dense1.out_features == 512
    assert count_parameters(full) == 17_569_317
    with pytest.raises(ValueError):
        XSegNet(100, 8)


def test_a_few_training_steps_reduce_the_loss_on_real_labels():
    import torch
    import torch.nn.functional as F

    from dfl_tui.models.optim import RMSprop
    from dfl_tui.faces.facetype import FaceType
    from dfl_tui.xseg.net import XSegNet
    from dfl_tui.xseg.samples import XSegSample, load_truth

    torch.manual_seed(0)
    faces = [load_truth(XSegSample(p, "src", True, False), 64, FaceType.WHOLE_FACE, "labels") for p in fixture_faces()]
    x = torch.from_numpy(np.stack([f[0] for f in faces])).permute(0, 3, 1, 2).float() / 255
    y = torch.from_numpy(np.stack([f[1] for f in faces]))[:, None]
    net = XSegNet(64, 8)
    opt = RMSprop(net.named_parameters(), lr=1e-3)
    losses = []
    for _ in range(12):
        opt.zero_grad()
        loss = F.binary_cross_entropy_with_logits(net(x), y)
        loss.backward()
        opt.step()
        losses.append(float(loss.detach()))
    assert losses[-1] < losses[0] * 0.8, losses


# ---------------------------------------------------------------------------
# The steps, end to end on the labelled fixtures
# ---------------------------------------------------------------------------


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    from dfl_tui import jobs
    from dfl_tui.xseg.options import XSegTrainOptions

    ws = labelled_workspace(tmp_path_factory.mktemp("xseg-ws"))
    opts = XSegTrainOptions(resolution=64, base_ch=8, batch_size=4, iterations=6, preview_every=3, device="cpu",
                            seed=3, workers=1)
    st = jobs.run_inline(ws, "xseg-train", opts)
    return ws, st


def test_xseg_train_writes_a_resumable_model(trained):
    from dfl_tui import jobs
    from dfl_tui.train.checkpoint import find_checkpoint
    from dfl_tui.xseg.model import model_dir_for
    from dfl_tui.xseg.options import XSegTrainOptions

    ws, st = trained
    assert st["state"] == "done", st
    assert st["result"]["iteration"] == 6
    md = model_dir_for(ws)
    opts = json.loads(md.options_path.read_text())
    assert opts["model"] == "XSeg" and opts["options"] == {"face_type": "whole", "resolution": 64, "base_ch": 8,
                                                       "upconv": "tf", "pool_pad": "zeros"}
    folder, manifest = find_checkpoint(md)
    assert manifest["iteration"] == 6 and {"XSeg.safetensors", "XSeg_opt.safetensors"} <= set(manifest["files"])
    lines = [json.loads(x) for x in md.metrics_path.read_text().splitlines()]
    assert any("loss" in x and np.isfinite(x["loss"]["loss"]) for x in lines)
    panels = [name for name, _ in md.preview_panels()]
    assert panels == ["XSeg training faces", "XSeg src faces", "XSeg dst faces"]
    # A second run resumes at 6 and stops at the new target; the fixed resolution stays.
    st2 = jobs.run_inline(ws, "xseg-train", XSegTrainOptions(resolution=128, base_ch=8, batch_size=2, iterations=8,
                                                             device="cpu", seed=4, workers=0))
    assert st2["state"] == "done" and st2["result"]["iteration"] == 8 and st2["result"]["iterations_run"] == 2
    assert json.loads(md.options_path.read_text())["options"]["resolution"] == 64
    # The workspace sees the model (the home screen's XSeg state reads this).
    assert [m["model"] for m in ws.models()] == ["XSeg"]


def test_xseg_train_without_labels_says_what_to_do(tmp_path):
    from dfl_tui import jobs
    from dfl_tui.xseg.options import XSegTrainOptions

    ws = labelled_workspace(tmp_path)
    for f in ws.aligned("src").iterdir():
        m = dflimg.read_meta(f)
        m.seg_ie_polys = None
        dflimg.write_meta(f, m)
    for f in ws.aligned("dst").iterdir():
        f.unlink()
    st = jobs.run_inline(ws, "xseg-train", XSegTrainOptions(resolution=64, base_ch=8, iterations=1, device="cpu"))
    assert st["state"] == "failed"
    assert "no labelled faces" in st["error"] and "XSeg editor" in st["error"] and "--pretrain" in st["error"]
    # Pretraining needs no labels: the net learns to rebuild the grey faces.
    st = jobs.run_inline(ws, "xseg-train", XSegTrainOptions(resolution=64, base_ch=8, iterations=2, device="cpu",
                                                            pretrain=True, batch_size=2, workers=0))
    assert st["state"] == "done" and st["result"]["iteration"] == 2 and np.isfinite(st["result"]["loss"])


def test_apply_writes_256px_binary_masks_into_every_face(trained, tmp_path):
    from dfl_tui import jobs
    from dfl_tui.xseg.options import XSegOptions

    ws, _ = trained
    before = {p.name: p.read_bytes().split(b"\xff\xda", 1)[1] for p in ws.aligned("dst").iterdir() if p.is_file()}
    st = jobs.run_inline(ws, "xseg", XSegOptions(action="apply", side="dst", device="cpu"))
    assert st["state"] == "done", st
    assert st["result"]["masked"] == 3 and st["result"]["skipped"] == 0
    for p in ws.aligned("dst").iterdir():
        if not p.is_file():
            continue
        m = dflimg.read_meta(p).get_xseg_mask()
        assert m is not None and m.shape == (256, 256)
        assert set(np.unique(m)) <= {0.0, 1.0}
        assert p.read_bytes().split(b"\xff\xda", 1)[1] == before[p.name]  # only the metadata changed


def test_remove_restore_fetch_and_export(tmp_path):
    from dfl_tui import jobs
    from dfl_tui.xseg.options import XSegOptions

    ws = labelled_workspace(tmp_path)
    st = jobs.run_inline(ws, "xseg", XSegOptions(action="apply-generic", side="src"))
    assert st["result"]["masked"] == 3
    st = jobs.run_inline(ws, "xseg", XSegOptions(action="export-masks", side="src"))
    out = ws.frames("src") / "aligned_masks"
    assert st["result"]["written"] == 3 and len(list(out.glob("*_mask.png"))) == 3
    st = jobs.run_inline(ws, "xseg", XSegOptions(action="fetch", side="src"))
    assert st["result"]["copied"] == 3 and len(list((ws.frames("src") / "aligned_xseg").glob("*.jpg"))) == 3
    st = jobs.run_inline(ws, "xseg", XSegOptions(action="remove", side="src"))
    assert st["result"]["changed"] == 3 and st["result"]["backup"]
    assert all(dflimg.read_meta(p).xseg_mask_buf is None for p in ws.aligned("src").glob("*.jpg"))
    polys_before = {p.name: dflimg.read_meta(p).seg_ie_polys for p in ws.aligned("src").glob("*.jpg")}
    st = jobs.run_inline(ws, "xseg", XSegOptions(action="remove-labels", side="src"))
    assert st["result"]["changed"] == 3
    assert all(not dflimg.read_meta(p).seg_ie_polys for p in ws.aligned("src").glob("*.jpg"))
    st = jobs.run_inline(ws, "xseg", XSegOptions(action="restore-labels", side="src"))
    assert st["result"]["restored"] == 3
    for p in ws.aligned("src").glob("*.jpg"):
        got = dflimg.read_meta(p).seg_ie_polys
        assert np.allclose(got[0]["pts"], polys_before[p.name][0]["pts"])


def test_apply_without_a_model_is_a_clear_error(tmp_path):
    from dfl_tui import jobs
    from dfl_tui.xseg.options import XSegOptions

    ws = labelled_workspace(tmp_path)
    st = jobs.run_inline(ws, "xseg", XSegOptions(action="apply", side="dst"))
    assert st["state"] == "failed"
    assert "no trained XSeg model" in st["error"] and "apply-generic" in st["error"]


def test_cli_xseg_apply_generic_runs_as_a_job(tmp_path):
    ws = labelled_workspace(tmp_path)
    r = subprocess.run([sys.executable, "-m", "dfl_tui", "-w", str(ws.root), "xseg", "apply-generic", "dst", "--json"],
                       capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    status = json.loads(r.stdout)
    assert status["state"] == "done" and status["result"]["masked"] == 3
    assert all(dflimg.read_meta(p).xseg_mask_buf for p in ws.aligned("dst").glob("*.jpg"))
    bad = subprocess.run([sys.executable, "-m", "dfl_tui", "-w", str(ws.root), "xseg", "apply", "left"],
                         capture_output=True, text=True, timeout=60)
    assert bad.returncode == 2 and "src|dst" in bad.stderr
