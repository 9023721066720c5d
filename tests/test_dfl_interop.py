"""DeepFaceLab models in and out: import-dfl reproduces DeepFaceLab's own predictions (shared/dfl-fixtures),
training continues from DFL's iteration, .dfm/.onnx exports run in ONNX Runtime with DeepFaceLive's names and
carry the synthetic-media mark, and bad model files are refused with the tensor and shapes named.

Tolerances (float32 both sides): the networks alone, fed DeepFaceLab's own input crops, agree to 1e-5 (measured
~5e-7); through ``model predict``, which cuts the faces from the frames itself, to 1e-4 (measured ~5e-6: OpenCV 5's
cubic warp differs from DFL's OpenCV 4.8 by up to 4e-3 on a few input pixels, which the networks damp).
"""

from __future__ import annotations

import pickle
import shutil
from pathlib import Path

import numpy as np
import pytest

from dfl_tui import cli
from dfl_tui.models import dflimport as D
from dfl_tui.workspace import Workspace

FIXTURES = Path(__file__).resolve().parents[1].parent / "shared" / "dfl-fixtures"
if not FIXTURES.is_dir():  # a checkout beside /work/shared
    FIXTURES = Path("/work/shared/dfl-fixtures")
CASES = {"saehd_liae_ud": ("SAEHD", "liaeud"), "amp": ("AMP", "amp")}
NET_TOL = 1e-5
PREDICT_TOL = 1e-4

pytestmark = pytest.mark.skipif(not FIXTURES.is_dir(), reason="shared/dfl-fixtures is not beside the checkout")


def workspace_for(tmp_path: Path, fixture: str) -> Workspace:
    root = tmp_path / "ws"
    shutil.copytree(FIXTURES / fixture / "data_dst", root / "data_dst")
    return Workspace(root)


def imported(tmp_path: Path, fixture: str, name: str = "m") -> Workspace:
    ws = workspace_for(tmp_path, fixture)
    assert cli.main(["-w", str(ws.root), "model", "import-dfl", str(FIXTURES / fixture / "model"), "--name", name]) == 0
    return ws


@pytest.mark.parametrize("fixture", list(CASES))
def test_import_then_predict_matches_deepfacelab(tmp_path, fixture, capsys):
    ws = imported(tmp_path, fixture)
    ref = np.load(FIXTURES / fixture / "predictions.npz")
    out = tmp_path / "p.npz"
    faces = sorted(str(p) for p in (ws.root / "data_dst" / "aligned").glob("*.jpg"))
    assert cli.main(["-w", str(ws.root), "model", "predict", "--name", "m", *faces, "--out", str(out)]) == 0
    got = np.load(out)
    assert got["face"].dtype == np.float32 and got["face"].shape == ref["pred_src_face_bgr"].shape
    assert got["mask_dst"].shape == (*ref["pred_dst_mask"].shape, 1)
    errs = {"face": np.abs(got["face"] - ref["pred_src_face_bgr"]).max(),
            "mask_src": np.abs(got["mask_src"][..., 0] - ref["pred_src_mask"]).max(),
            "mask_dst": np.abs(got["mask_dst"][..., 0] - ref["pred_dst_mask"]).max()}
    print(f"{fixture}: model predict vs DeepFaceLab, max abs error {errs}")
    assert max(errs.values()) < PREDICT_TOL, errs
    # the crop itself is DFL's merger crop (up to OpenCV's cubic-interpolation version differences)
    assert np.abs(got["input"] - ref["input_face_bgr"]).mean() < 1e-3
    assert list(got["files"]) == [Path(f).name for f in faces]


@pytest.mark.parametrize("fixture", list(CASES))
def test_networks_alone_are_exact_on_deepfacelabs_inputs(tmp_path, fixture):
    from dfl_tui.train.checkpoint import load_model

    ws = imported(tmp_path, fixture)
    ref = np.load(FIXTURES / fixture / "predictions.npz")
    model = load_model(ws, "m", "cpu")
    face, mask_src, mask_dst = model.predict_numpy(ref["input_face_bgr"], 1.0)
    assert np.abs(face - ref["pred_src_face_bgr"]).max() < NET_TOL
    assert np.abs(mask_src[..., 0] - ref["pred_src_mask"]).max() < NET_TOL
    assert np.abs(mask_dst[..., 0] - ref["pred_dst_mask"]).max() < NET_TOL


def test_import_keeps_options_iteration_history_and_optimizer(tmp_path):
    import json

    from dfl_tui.train import checkpoint as ckpt
    from dfl_tui.train.modeldir import ModelDir

    ws = imported(tmp_path, "saehd_liae_ud")
    mdir = ModelDir.of(ws, "m")
    saved = json.loads(mdir.options_path.read_text())
    assert saved["model"] == "SAEHD" and saved["imported_from"]["iteration"] == 21
    o = saved["options"]
    assert (o["archi"], o["resolution"], o["face_type"], o["ae_dims"], o["e_dims"], o["d_dims"], o["d_mask_dims"]) == \
        ("liae-ud", 64, "wf", 32, 16, 16, 16)
    assert o["batch_size"] == 2 and o["adabelief"] is True and o["random_dst_flip"] is True
    parts, manifest, _ = ckpt.load_checkpoint(mdir)
    assert manifest["iteration"] == 21
    opt = parts["src_dst_opt"]
    assert int(opt["step"]) == 21
    # DFL's AdaBelief moments, permuted like their weights: the first conv's moments are DFL's transposed
    dfl_opt = D.read_pickle(FIXTURES / "saehd_liae_ud/model/liaeud_SAEHD_src_dst_opt.npy")
    want = dfl_opt["ms_encoder/down1/downs_0/conv1/weight_0:0"].transpose(3, 2, 0, 1)
    assert np.array_equal(opt["m.encoder.net.0.conv.weight"].numpy(), want)
    assert float(opt["v.decoder.body.0.conv.weight"].abs().sum()) > 0
    lines = [json.loads(x) for x in mdir.metrics_path.read_text().splitlines()]
    assert len(lines) == 21 and set(lines[0]["loss"]) == {"src_loss", "dst_loss"}


@pytest.mark.slow
@pytest.mark.parametrize("fixture", list(CASES))
def test_training_continues_from_the_imported_iteration(tmp_path, fixture):
    from dfl_tui import jobs
    from dfl_tui import options as optmod
    from dfl_tui.train.options import TrainOptions

    ws = imported(tmp_path, fixture)
    shutil.copytree(ws.root / "data_dst" / "aligned", ws.root / "data_src" / "aligned")
    st = jobs.run_inline(ws, "train", optmod.from_dict(TrainOptions, dict(name="m", target_iter=26, device="cpu")))
    assert st["state"] == "done", st.get("error")
    assert st["result"]["iteration"] == 26
    run = jobs.find(ws, st["id"])
    text = "\n".join(str(e.get("message", "")) for e in run.read_events()[0])
    assert "at iteration 21" in text


def test_missing_optimizer_is_fine_and_mismatches_are_named(tmp_path):
    ws = workspace_for(tmp_path, "amp")
    src = tmp_path / "dfl"
    shutil.copytree(FIXTURES / "amp" / "model", src)
    assert not (src / "amp_AMP_src_dst_opt.npy").exists()
    # a decoder tensor of the wrong shape
    dec = D.read_pickle(src / "amp_AMP_decoder.npy")
    good = dict(dec)
    dec["res0/conv1/weight:0"] = np.zeros((3, 3, 128, 64), np.float32)
    (src / "amp_AMP_decoder.npy").write_bytes(pickle.dumps(dec, 4))
    from dfl_tui.train.import_dfl import import_dfl

    with pytest.raises(D.DflImportError, match=r"res0/conv1/weight:0.*\[3, 3, 128, 64\].*\[128, 128, 3, 3\]"):
        import_dfl(src, ws, "x", log=lambda m: None)
    # an unknown tensor
    bad = dict(good)
    bad["res9/conv1/weight:0"] = np.zeros((3, 3, 8, 8), np.float32)
    (src / "amp_AMP_decoder.npy").write_bytes(pickle.dumps(bad, 4))
    with pytest.raises(D.DflImportError, match=r"res9/conv1/weight:0.*\[3, 3, 8, 8\]"):
        import_dfl(src, ws, "x", log=lambda m: None)
    # a missing tensor
    short = dict(good)
    del short["out_conv3/bias:0"]
    (src / "amp_AMP_decoder.npy").write_bytes(pickle.dumps(short, 4))
    with pytest.raises(D.DflImportError, match=r"out_conv3/bias:0.*missing"):
        import_dfl(src, ws, "x", log=lambda m: None)
    assert not (ws.model_dir / "x").exists() or not (ws.model_dir / "x" / "checkpoint").exists()
    (src / "amp_AMP_decoder.npy").write_bytes(pickle.dumps(good, 4))
    notes: list[str] = []
    assert import_dfl(src, ws, "x", log=notes.append)["iteration"] == 21
    assert any("no optimizer file" in n for n in notes)
    with pytest.raises(Exception, match="already exists"):  # never overwritten
        import_dfl(src, ws, "x", log=notes.append)


def test_a_model_file_that_would_run_code_is_refused(tmp_path):
    class Evil:
        def __reduce__(self):
            return (print, ("pwned",))

    src = tmp_path / "dfl"
    shutil.copytree(FIXTURES / "amp" / "model", src)
    (src / "amp_AMP_encoder.npy").write_bytes(pickle.dumps({"down1/conv1/weight:0": Evil()}))
    from dfl_tui.train.import_dfl import import_dfl

    with pytest.raises(D.DflImportError, match="plain data"):
        import_dfl(src, workspace_for(tmp_path, "amp"), "x", log=lambda m: None)


def test_layout_conversions_round_trip():
    rng = np.random.default_rng(0)
    k = rng.standard_normal((3, 3, 5, 8)).astype(np.float32)
    for kind in (D.CONV, D.CONV_D2S):
        t = D.convert(kind, k, (8, 5, 3, 3))
        assert np.array_equal(D.unconvert(kind, t, k.shape), k)
    b = rng.standard_normal(8).astype(np.float32)
    assert np.array_equal(D.unconvert(D.BIAS_D2S, D.convert(D.BIAS_D2S, b, (8,)), b.shape), b)
    # DCR -> CRD: DFL channel (dy*2+dx)*C + c becomes ours c*4 + dy*2 + dx
    t = D.convert(D.BIAS_D2S, np.arange(8, dtype=np.float32), (8,))
    assert t.tolist() == [0, 2, 4, 6, 1, 3, 5, 7]


def _tf_same_conv_transpose(x: np.ndarray, w: np.ndarray) -> np.ndarray:
    """TensorFlow's conv2d_transpose(stride 2, SAME) from its definition: input (i, j) adds w[ky, kx] to output
    (2i + ky, 2j + kx), kept inside 2H x 2W. x: H,W,Cin; w: kh,kw,Cout,Cin (TF layout)."""
    h, wd, _ = x.shape
    out = np.zeros((2 * h + 2, 2 * wd + 2, w.shape[2]), np.float64)
    for ky in range(3):
        for kx in range(3):
            out[ky:ky + 2 * h:2, kx:kx + 2 * wd:2] += x @ w[ky, kx].T
    return out[:2 * h, :2 * wd]


def test_xseg_import_maps_every_tensor_and_up_convolutions_sit_where_tensorflow_puts_them(tmp_path):
    import torch

    from dfl_tui.train.import_dfl import import_dfl
    from dfl_tui.xseg.model import load_xseg
    from dfl_tui.train.modeldir import ModelDir
    from dfl_tui.xseg.net import XSegNet

    torch.manual_seed(0)
    ref = XSegNet(256, 32)
    with torch.no_grad():
        for p in ref.parameters():
            p.add_(torch.randn_like(p) * 0.01)
    sd = {k: v.numpy() for k, v in ref.state_dict().items()}
    entries = D.xseg_map()
    assert {e[1] for e in entries} == set(sd)  # every tensor of ours has a DFL name
    dfl = {}
    for name, key, kind in entries:
        shape = {D.CONV: lambda s: (s[2], s[3], s[1], s[0]), D.CONVT: lambda s: (s[2], s[3], s[1], s[0]),
                 D.DENSE: lambda s: (s[1], s[0])}.get(kind, lambda s: (int(np.prod(s)),))(sd[key].shape)
        dfl[name + ":0"] = D.unconvert(kind, sd[key], shape)
    folder = tmp_path / "dfl"
    folder.mkdir()
    (folder / "XSeg_256.npy").write_bytes(pickle.dumps(dfl, 4))
    (folder / "XSeg_data.dat").write_bytes(pickle.dumps({"iter": 7, "options": {"face_type": "wf", "pretrain": False,
                                                                               "batch_size": 4}}, 4))
    ws = Workspace(tmp_path / "ws")
    assert cli.main(["-w", str(ws.root), "model", "import-dfl", str(folder)]) == 0
    model = load_xseg(ModelDir.of(ws, "XSeg"))
    assert model.iteration == 7 and model.net.upconv == "tf" and model.net.pool_pad == "zeros"
    for k, v in model.net.state_dict().items():
        assert np.array_equal(v.numpy(), sd[k]), k
    # the transposed convolution is TensorFlow's SAME placement (DFL's Conv2DTranspose), checked from its definition
    rng = np.random.default_rng(1)
    x = rng.standard_normal((4, 5, 6)).astype(np.float32)
    w = rng.standard_normal((3, 3, 7, 6)).astype(np.float32)
    up = model.net.ups[0][0].__class__(6, 7)
    with torch.no_grad():
        up.weight.copy_(torch.from_numpy(D.convert(D.CONVT, w, (6, 7, 3, 3))))
        up.bias.zero_()
        got = up(torch.from_numpy(x).permute(2, 0, 1)[None])[0].permute(1, 2, 0).numpy()
    assert np.abs(got - _tf_same_conv_transpose(x, w)).max() < 1e-4


def test_export_dfm_runs_in_onnxruntime_with_deepfacelive_names(tmp_path, capsys):
    ort = pytest.importorskip("onnxruntime")
    ref = np.load(FIXTURES / "amp" / "predictions.npz")
    ws = imported(tmp_path, "amp")
    assert cli.main(["-w", str(ws.root), "model", "export", "--name", "m", "--format", "dfm"]) == 0
    path = ws.model_dir / "m" / "m_AMP_model.dfm"
    sess = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    ins, outs = sess.get_inputs(), sess.get_outputs()
    # DeepFaceLive's DFMModel: first input contains in_face, its dims 1-2 are the resolution, a second input
    # contains morph_value; outputs are unpacked by position
    assert [i.name for i in ins] == ["in_face:0", "morph_value:0"]
    assert ins[0].shape[1:] == [64, 64, 3] and ins[1].shape == [1]
    assert [o.name for o in outs] == ["out_face_mask:0", "out_celeb_face:0", "out_celeb_face_mask:0"]
    face_mask, celeb, celeb_mask = sess.run(None, {"in_face:0": ref["input_face_bgr"],
                                                   "morph_value:0": np.float32([1.0])})
    assert np.abs(celeb - ref["pred_src_face_bgr"]).max() < NET_TOL
    assert np.abs(celeb_mask[..., 0] - ref["pred_src_mask"]).max() < NET_TOL
    assert np.abs(face_mask[..., 0] - ref["pred_dst_mask"]).max() < NET_TOL
    import onnx

    m = onnx.load(str(path))
    assert m.ir_version <= 8 and all(o.version <= 17 for o in m.opset_import)  # DeepFaceLive's ONNX Runtime 1.15
    capsys.readouterr()
    assert cli.main(["verify", str(path)]) == 0
    assert "AI-generated" in capsys.readouterr().out


def test_export_onnx_saehd_matches_torch_and_is_marked(tmp_path, capsys):
    ort = pytest.importorskip("onnxruntime")
    ref = np.load(FIXTURES / "saehd_liae_ud" / "predictions.npz")
    ws = imported(tmp_path, "saehd_liae_ud")
    out = tmp_path / "x.onnx"
    assert cli.main(["-w", str(ws.root), "model", "export", "--name", "m", "--format", "onnx", "--out", str(out)]) == 0
    sess = ort.InferenceSession(str(out), providers=["CPUExecutionProvider"])
    assert [i.name for i in sess.get_inputs()] == ["face"]
    mask_dst, face, mask_src = sess.run(None, {"face": ref["input_face_bgr"]})
    assert np.abs(face - ref["pred_src_face_bgr"]).max() < NET_TOL
    assert np.abs(mask_dst[..., 0] - ref["pred_dst_mask"]).max() < NET_TOL
    from dfl_tui.provenance.verify import verify_file

    rep = verify_file(out)
    assert rep["marked"] and rep["metadata"]["provenance"]["model_type"] == "SAEHD"
