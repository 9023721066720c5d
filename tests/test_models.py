"""SAEHD / AMP / Quick96: build, train, predict, checkpoint (reference §6)."""

from __future__ import annotations

import math
import subprocess
import sys

import numpy as np
import pytest
import torch

from dfl_tui.models import build_model, canonical_name, model_names, options_class
from dfl_tui.models.archi import Archi, Decoder, Encoder, Inter
from dfl_tui.models.options import AMPOptions, Quick96Options, SAEHDOptions
from dfl_tui.models.quick96 import Quick96Model
from dfl_tui.options import OptionError, from_dict
from models_fixtures import face_batch, tiny_amp, tiny_saehd

ARCHIS = ["df", "liae", "df-u", "liae-d", "df-t", "liae-c", "df-ud", "liae-ud", "liae-udt", "df-udtc"]


def _finite(losses: dict[str, float]) -> bool:
    return all(math.isfinite(v) for v in losses.values())


@pytest.mark.parametrize("archi", ARCHIS)
def test_saehd_archi_builds_steps_and_predicts(archi):
    torch.manual_seed(0)
    model = build_model("SAEHD", tiny_saehd(archi=archi, eyes_mouth_prio=True), "cpu")
    batch = face_batch(32, n=2)
    first, second = model.train_step(batch), model.train_step(batch)
    assert set(first) == {"src_loss", "dst_loss"} and _finite(first) and _finite(second)
    assert model.iteration == 2
    swap, swap_mask, dst_mask = model.predict(batch["target_dst"])
    assert swap.shape == (2, 3, 32, 32) and swap_mask.shape == dst_mask.shape == (2, 1, 32, 32)
    assert 0 <= swap.min() and swap.max() <= 1
    prev = model.preview(batch)
    assert {"pred_src_src", "pred_dst_dst", "pred_src_dst", "pred_src_dstm", "pred_dst_dstm"} <= set(prev)
    assert all(t.device.type == "cpu" and t.shape[-1] == 32 for t in prev.values())


def test_channel_arithmetic_matches_dfl_liae_ud_128():
    # reference §6.4: liae-ud 128/256/64/64/22
    a = Archi.parse("liae-ud")
    enc = Encoder(3, 64, a)
    assert enc.out_features(128) == 32768
    inter = Inter(32768, 256, 512, a.lowest_dense_res(128), a)
    dec = Decoder(1024, 64, 22, a)
    with torch.no_grad():
        z = enc(torch.rand(1, 3, 128, 128))
        code = inter(z)
        rgb, mask = dec(torch.cat([code, code], 1))
    assert z.shape == (1, 32768) and code.shape == (1, 512, 8, 8)
    assert rgb.shape == (1, 3, 128, 128) and mask.shape == (1, 1, 128, 128)
    assert [m.conv.out_channels // 4 for m in dec.mask if hasattr(m, "conv")] == [176, 88, 44, 22]
    assert str(Archi.parse("LIAE-tdu")) == "liae-udt"
    with pytest.raises(ValueError):
        Archi.parse("dfx-u")


def test_options_defaults_ranges_and_normalisation():
    o = from_dict(SAEHDOptions, {})
    assert (o.resolution, o.face_type, o.archi, o.ae_dims, o.d_mask_dims, o.batch_size) == (128, "f", "liae-ud", 256, 22, 8)
    assert from_dict(SAEHDOptions, {"resolution": 120, "archi": "df"}).resolution == 112
    assert from_dict(SAEHDOptions, {"resolution": 120, "archi": "df-d"}).resolution == 96
    assert from_dict(SAEHDOptions, {"e_dims": 33}).e_dims == 34
    for bad in ({"archi": "dfu"}, {"archi": "liae-x"}, {"resolution": 32}, {"gan_power": 6},
                {"archi": "liae", "true_face_power": 0.5}, {"face_type": "x"}):
        with pytest.raises(OptionError):
            from_dict(SAEHDOptions, bad)
    from dfl_tui.options import describe
    fixed = {s.name for s in describe(SAEHDOptions) if s.fixed}
    assert fixed == {"resolution", "face_type", "archi", "ae_dims", "e_dims", "d_dims", "d_mask_dims"}
    amp = from_dict(AMPOptions, {"resolution": 100})
    assert (amp.resolution, amp.face_type, amp.inter_dims, amp.morph_factor) == (96, "wf", 1024, 0.5)
    assert "morph_factor" in {s.name for s in describe(AMPOptions) if s.fixed}
    assert canonical_name("quick96") == "Quick96" and options_class("amp") is AMPOptions
    assert model_names() == ["SAEHD", "AMP", "Quick96"]


def test_light_modules_do_not_import_torch():
    code = ("import sys, dfl_tui.models, dfl_tui.models.options, dfl_tui.models.registry, dfl_tui.models.bench;"
            "assert 'torch' not in sys.modules, 'torch imported'")
    subprocess.run([sys.executable, "-c", code], check=True)


def _loss_falls(model, batch, steps):
    hist = [sum(model.train_step(batch).values()) for _ in range(steps)]
    return hist, np.mean(hist[-5:]) < 0.8 * np.mean(hist[:3])


def test_saehd_loss_falls_on_real_faces():
    torch.manual_seed(1)
    model = build_model("SAEHD", tiny_saehd(resolution=64, archi="liae-ud", ae_dims=32, e_dims=16, d_dims=16,
                                            d_mask_dims=8, eyes_mouth_prio=True), "cpu")
    hist, fell = _loss_falls(model, face_batch(64, n=4), 40)
    assert fell, hist


def test_amp_loss_falls_on_real_faces():
    torch.manual_seed(2)
    model = build_model("AMP", tiny_amp(), "cpu")
    hist, fell = _loss_falls(model, face_batch(64, n=4), 40)
    assert fell, hist


def test_checkpoint_round_trip_is_bit_exact(tmp_path):
    opts = tiny_saehd(archi="df-ud", gan_power=0.5, true_face_power=0.2, lr_dropout="y", clipgrad=True)
    batch = face_batch(32, n=2)
    torch.manual_seed(3)
    a = build_model("SAEHD", opts, "cpu")
    for _ in range(2):
        a.train_step(batch)
    paths = a.save(tmp_path, prefix="m_SAEHD_")
    names = sorted(p.name for p in paths)
    assert "m_SAEHD_encoder.safetensors" in names and "m_SAEHD_GAN_opt.safetensors" in names
    assert "m_SAEHD_D_code_opt.safetensors" in names and "m_SAEHD_state.safetensors" in names
    assert not list(tmp_path.glob("*.tmp*"))

    torch.manual_seed(99)  # different fresh weights
    b = build_model("SAEHD", opts, "cpu")
    assert b.load(tmp_path, prefix="m_SAEHD_", strict=True) == []
    assert b.iteration == 2
    pa, pb = a.state_dict_parts(), b.state_dict_parts()
    assert pa.keys() == pb.keys()
    for part in pa:
        for k in pa[part]:
            assert torch.equal(pa[part][k], pb[part][k]), (part, k)
    for x, y in zip(a.predict(batch["target_dst"]), b.predict(batch["target_dst"])):
        assert torch.equal(x, y)
    torch.manual_seed(5)
    la = a.train_step(batch)
    torch.manual_seed(5)
    lb = b.train_step(batch)
    assert la == lb  # optimizer state (incl. step count for the cosine) came back too


def test_loading_is_tolerant_of_changed_options(tmp_path):
    torch.manual_seed(0)
    a = build_model("SAEHD", tiny_saehd(archi="df", gan_power=0.5, gan_patch_size=4), "cpu")
    a.save(tmp_path)
    b = build_model("SAEHD", tiny_saehd(archi="df", gan_power=0.5, gan_patch_size=16), "cpu")
    notes = b.load(tmp_path)
    assert any(n.startswith("GAN:") for n in notes) and not any(n.startswith("encoder") for n in notes)
    with pytest.raises(KeyError):
        b.load(tmp_path, strict=True)
    c = build_model("SAEHD", tiny_saehd(archi="df"), "cpu")
    (tmp_path / "decoder_dst.safetensors").unlink()
    assert any("decoder_dst: not in the checkpoint" in n for n in c.load(tmp_path))


def test_gan_and_true_face_train_their_discriminators():
    torch.manual_seed(0)
    model = build_model("SAEHD", tiny_saehd(archi="df-ud", gan_power=1.0, true_face_power=0.5,
                                            face_style_power=10, bg_style_power=10, blur_out_mask=True), "cpu")
    d0 = {k: v.clone() for k, v in model.D_src.state_dict().items()}
    c0 = {k: v.clone() for k, v in model.code_discriminator.state_dict().items()}
    losses = model.train_step(face_batch(32, n=2))
    assert set(losses) == {"src_loss", "dst_loss", "true_face_loss", "gan_loss"} and _finite(losses)
    assert any(not torch.equal(v, model.D_src.state_dict()[k]) for k, v in d0.items())
    assert any(not torch.equal(v, model.code_discriminator.state_dict()[k]) for k, v in c0.items())
    amp = build_model("AMP", tiny_amp(gan_power=0.5), "cpu")
    assert "gan_loss" in amp.train_step(face_batch(64, n=2))


def test_liae_without_random_warp_freezes_inter_ab_and_pretrain_end_resets():
    torch.manual_seed(0)
    model = build_model("SAEHD", tiny_saehd(archi="liae", random_warp=False), "cpu")
    ab0 = [p.clone() for p in model.inter_AB.parameters()]
    b0 = [p.clone() for p in model.inter_B.parameters()]
    model.train_step(face_batch(32, n=2))
    assert all(torch.equal(x, y) for x, y in zip(ab0, model.inter_AB.parameters()))
    assert any(not torch.equal(x, y) for x, y in zip(b0, model.inter_B.parameters()))

    pre = build_model("SAEHD", tiny_saehd(archi="df", pretrain=True, gan_power=1.0, random_warp=True), "cpu")
    cfg = pre.sampler_config()
    assert pre.D_src is None and not cfg["random_warp"] and cfg["random_src_flip"] and cfg["uniform_yaw"]
    pre.train_step(face_batch(32, n=2))
    enc, inter = [p.clone() for p in pre.encoder.parameters()], [p.clone() for p in pre.inter.parameters()]
    pre.end_pretraining()
    assert pre.iteration == 0
    assert all(torch.equal(x, y) for x, y in zip(enc, pre.encoder.parameters()))
    assert any(not torch.equal(x, y) for x, y in zip(inter, pre.inter.parameters()))


def test_amp_morph_factor_changes_the_swap_and_inters_stay_untrained():
    torch.manual_seed(0)
    model = build_model("AMP", tiny_amp(), "cpu")
    inter0 = [p.clone() for p in model.inter_src.parameters()]
    batch = face_batch(64, n=2)
    model.train_step(batch)
    assert all(torch.equal(x, y) for x, y in zip(inter0, model.inter_src.parameters()))
    s0, m0, d0 = model.predict(batch["target_dst"], morph_value=0.0)
    s1, m1, d1 = model.predict(batch["target_dst"], morph_value=1.0)
    assert not torch.allclose(s0, s1) and torch.equal(d0, d1)
    assert torch.equal(model.predict(batch["target_dst"])[0], s1)  # default 1.0, as the merger
    prev = model.preview(batch)
    assert {"pred_src_dst_0.25", "pred_src_dst_0.75", "pred_src_dst_1", "pred_src_dst"} <= set(prev)
    trained = build_model("AMP", tiny_amp(train_inters=True), "cpu")
    w0 = trained.inter_dst.dense.weight.clone()
    trained.train_step(batch)
    assert not torch.equal(w0, trained.inter_dst.dense.weight)


def test_quick96_fixed_settings_and_every_third_step_reuses_the_batch():
    full = build_model("Quick96", {}, "cpu")
    assert (full.resolution, full.face_type, str(full.archi), full.lr) == (96, "f", "df-ud", 2e-4)
    cfg = full.sampler_config()
    assert cfg["batch_size"] == 4 and cfg["random_warp"] and not cfg["random_src_flip"] and not cfg["random_dst_flip"]
    assert full.src_dst_opt.lr_dropout == 0.3 and full.src_dst_opt.lr_cos == 0
    assert sum(p.numel() for p in full.encoder.parameters()) > 1_000_000

    torch.manual_seed(0)
    tiny = Quick96Model(Quick96Options(), "cpu", sizes=dict(resolution=32, ae_dims=16, e_dims=8, d_dims=8,
                                                            d_mask_dims=8))
    batch = face_batch(32, n=2)
    wanted = []
    for _ in range(7):
        wanted.append(tiny.needs_batch)
        assert _finite(tiny.train_step(batch if tiny.needs_batch else None))
    assert wanted == [True, True, True, False, True, True, False]
    with pytest.raises(ValueError):
        build_model("SAEHD", tiny_saehd(), "cpu").train_step(None)


def test_predict_numpy_and_uint8_batches():
    model = build_model("SAEHD", tiny_saehd(archi="df"), "cpu")
    faces = (face_batch(32, n=2)["target_dst"].permute(0, 2, 3, 1).numpy() * 255).astype(np.uint8)
    swap, swap_mask, dst_mask = model.predict_numpy(faces)
    assert swap.shape == (2, 32, 32, 3) and swap_mask.shape == dst_mask.shape == (2, 32, 32, 1)
    assert swap.dtype == np.float32
    batch = {k: (v * 255).to(torch.uint8) for k, v in face_batch(32, n=2).items()}
    assert _finite(model.train_step(batch))
    with pytest.raises(ValueError, match="NCHW"):
        model.train_step(face_batch(64, n=2))


@pytest.mark.parametrize("runtime", [dict(channels_last=True), dict(precision="bf16", channels_last=True)])
def test_channels_last_and_bf16_autocast_run_on_cpu(runtime):
    torch.manual_seed(0)
    model = build_model("SAEHD", tiny_saehd(archi="liae-udt", gan_power=0.1, **runtime), "cpu")
    assert model.memory_format == torch.channels_last and model.use_bf16 == (runtime.get("precision") == "bf16")
    batch = face_batch(32, n=2)
    assert _finite(model.train_step(batch))
    swap = model.predict(batch["target_dst"])[0]
    assert swap.dtype == torch.float32 and swap.shape == (2, 3, 32, 32)
    assert model.describe()["channels_last"] is True


def test_bench_cli_prints_json_and_table(capsys):
    import argparse
    import json

    from dfl_tui.models import bench

    p = argparse.ArgumentParser()
    bench.add_arguments(p)
    small = ["--model", "saehd", "--res", "64", "--batch", "1", "--iters", "1", "--warmup", "0",
             "--set", "ae_dims=32", "--set", "e_dims=16", "--set", "d_dims=16", "--set", "d_mask_dims=16",
             "--device", "cpu"]
    assert bench.run(p.parse_args(small + ["--json"])) == 0
    r = json.loads(capsys.readouterr().out)
    assert r["model"] == "SAEHD" and r["resolution"] == 64 and r["batch"] == 1 and r["it_per_s"] > 0
    assert r["flops_per_iter"] > 1e8 and r["peak_mem_mb"] > 0 and r["share_of_peak"] is None
    assert bench.run(p.parse_args(small + ["--no-flops"])) == 0
    out = capsys.readouterr().out
    assert "it/s" in out and "peak probe" in out and "share of peak    -" in out  # no FLOPs: no share
    assert bench.run(p.parse_args(["--model", "nope"])) == 2
    assert "unknown model" in capsys.readouterr().out
    assert bench.card_peak("NVIDIA H100 80GB HBM3", True) == (989.4, "bf16 dense")
    assert bench.card_peak("NVIDIA H100 PCIe", False)[0] == 378.0
    assert bench.card_peak("NVIDIA GeForce RTX 3090", True)[0] == 71.0
    assert bench.card_peak("NVIDIA H200", True)[0] == 989.4 and bench.card_peak("Mystery", True)[0] is None


@pytest.mark.slow
@pytest.mark.skipif(not any(__import__("shutil").which(c) for c in ("cc", "gcc", "g++")),
                    reason="torch.compile on the CPU needs a C++ compiler")
def test_compiled_step_computes_what_the_eager_step_computes():
    """--compile (torch.compile of the generator pass, the GPU fast path) on the CPU: same losses
    and weights as eager within float tolerance, step after step."""
    batch = face_batch(32, n=2)
    models = []
    for compiled in (False, True):
        torch.manual_seed(0)
        models.append(build_model("SAEHD", tiny_saehd(archi="df-ud", lr_dropout="n", compile=compiled), "cpu"))
    eager, comp = models
    for _ in range(2):
        le, lc = eager.train_step(batch), comp.train_step(batch)
        assert le.keys() == lc.keys() and all(abs(le[k] - lc[k]) <= 1e-4 * abs(le[k]) + 1e-5 for k in le), (le, lc)
    for (n, a), (_, b) in zip(eager.named_parameters(), comp.named_parameters()):
        torch.testing.assert_close(a, b, rtol=1e-3, atol=1e-5, msg=n)
