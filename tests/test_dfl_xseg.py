"""DeepFaceLab's XSeg in dfl-tui: a model trained by DeepFaceLab's own code (tests/fixtures/dfl/xseg, in the
repository; its RECIPE.md says how it was made) imports with its width, iteration and optimizer, the network
reproduces DeepFaceLab's masks, and ``xseg apply`` stores the masks DeepFaceLab's own "XSeg apply" stored.

Tolerance: the network alone, float32 both sides, 1e-4 on the sigmoid output (measured 4.0e-5).
"""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest

from dfl_tui import cli
from dfl_tui.models import dflimport as D
from dfl_tui.workspace import Workspace
FIXTURE = Path(__file__).resolve().parent / "fixtures" / "dfl" / "xseg"
XSEG_TOL = 1e-4  # the network alone, float32 both sides (measured 4.0e-5 on the sigmoid output)


@pytest.fixture(scope="module")
def xseg_ws(tmp_path_factory):
    """A workspace with DeepFaceLab's XSeg fixture imported and the fixture's 4 faces in data_dst/aligned."""
    fx = FIXTURE
    ws = Workspace(tmp_path_factory.mktemp("xseg") / "ws")
    shutil.copytree(fx / "data_dst" / "aligned", ws.root / "data_dst" / "aligned")
    assert cli.main(["-w", str(ws.root), "model", "import-dfl", str(fx / "model")]) == 0
    return ws


def test_deepfacelab_xseg_imports_with_its_width_iteration_and_optimizer(xseg_ws):
    import json

    from dfl_tui.train import checkpoint as ckpt
    from dfl_tui.train.modeldir import ModelDir

    mdir = ModelDir.of(xseg_ws, "XSeg")
    saved = json.loads(mdir.options_path.read_text())
    assert saved["options"] == {"face_type": "whole_face", "resolution": 256, "base_ch": 4, "upconv": "tf",
                                "pool_pad": "zeros"}
    parts, manifest, _ = ckpt.load_checkpoint(mdir)
    assert manifest["iteration"] == 200 and int(parts["XSeg_opt"]["step"]) == 200
    dfl_opt = D.read_pickle(FIXTURE / "model" / "XSeg_256_opt.npy")
    want = dfl_opt["acc_XSeg/conv01/conv/weight_0:0"]  # RMSprop's accumulator, permuted like its weight
    assert np.array_equal(parts["XSeg_opt"]["a.enc.0.0.0.weight"].numpy(), want.transpose(3, 2, 0, 1))


def test_deepfacelab_xseg_network_matches_its_predictions(xseg_ws):
    import torch

    from dfl_tui.train.modeldir import ModelDir
    from dfl_tui.xseg.model import load_xseg

    ref = np.load(FIXTURE / "predictions.npz")
    model = load_xseg(ModelDir.of(xseg_ws, "XSeg"))
    x = torch.from_numpy(ref["input_face_bgr_u8"]).permute(0, 3, 1, 2).float() / 255
    with torch.no_grad():
        got = torch.sigmoid(model.net(x))[:, 0].numpy()
    err = np.abs(got - ref["pred_mask"]).max()
    print(f"XSeg network vs DeepFaceLab: max abs error {err:.2e}")
    assert err < XSEG_TOL
    # the same network with the BlurPool padding of earlier dfl-tui versions (reflect) is visibly off
    for pool in model.net.pools:
        pool.mode = "reflect"
    with torch.no_grad():
        off = torch.sigmoid(model.net(x))[:, 0].numpy()
    assert np.abs(off - ref["pred_mask"]).max() > 100 * XSEG_TOL


def test_xseg_apply_stores_deepfacelabs_masks(xseg_ws):
    """'xseg apply' with DeepFaceLab's model gives the masks DeepFaceLab's own 'XSeg apply' stored (binarised at
    0.5, 256 px): the faces are fed as DeepFaceLab feeds them (float, Lanczos-resized)."""
    from dfl_tui.faces.dflimg import read_meta

    ref = np.load(FIXTURE / "predictions.npz")
    assert cli.main(["-w", str(xseg_ws.root), "xseg", "apply", "dst"]) == 0
    faces = sorted((xseg_ws.root / "data_dst" / "aligned").glob("*.jpg"))
    for i, face in enumerate(faces):
        mask = read_meta(face).get_xseg_mask()
        assert mask.shape == (256, 256)
        differ = int(((mask > 0.5) != (ref["applied_mask"][i] > 127)).sum())
        print(f"{face.name}: {differ} of 65536 mask pixels differ from DeepFaceLab's")
        assert differ <= 16, differ  # measured 1..5 (this model's output sits near 0.5 in many places)


def test_xseg_layout_of_saved_models():
    from dfl_tui.xseg.model import net_layout

    assert net_layout({"options": {}}) == {"upconv": "torch", "pool_pad": "reflect"}  # dfl-tui's older models
    assert net_layout({"options": {"upconv": "tf"}}) == {"upconv": "tf", "pool_pad": "reflect"}
    assert net_layout({"options": {}, "imported_from": {"tool": "DeepFaceLab"}}) == {"upconv": "tf",
                                                                                     "pool_pad": "zeros"}
    assert net_layout({"options": {"upconv": "tf", "pool_pad": "zeros"}}) == {"upconv": "tf", "pool_pad": "zeros"}
