"""``dfl-tui bench gpu``: the dry run (every section on the CPU at tiny sizes, through the same code
the GPU runs, bf16 autocast, channels_last and torch.compile included) produces figures of the
right kind; sections run isolated, within the budget, and a SIGTERM keeps what was measured;
the GPU scripts are valid bash with their timeout. Figures are checked for kind, never speed."""

from __future__ import annotations

import json
import math
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from dfl_tui.gpubench import run as gpurun

ROOT = Path(__file__).resolve().parents[1]


def bench(*args: str, timeout: float = 900) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "dfl_tui", "bench", "gpu", *args], cwd=ROOT, capture_output=True,
                          text=True, timeout=timeout)


def positive(v) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v) and v > 0


@pytest.mark.slow
def test_dry_run_every_section_gives_figures_of_the_right_kind(tmp_path):
    out = tmp_path / "gpu.json"
    p = bench("--dry-run", "--json", str(out))
    assert p.returncode == 0, p.stdout[-3000:] + p.stderr[-3000:]
    r = json.loads(out.read_text())
    assert r["schema"] == gpurun.SCHEMA and r["dry_run"] is True and r["device"] == "cpu"
    assert set(r["commit"]) == {"commit", "dirty", "from"} and r["env"]["torch"]
    assert list(r["sections"]) == [j.name for j in gpurun.plan(dry=True)]
    assert {rec["section"] for rec in r["sections"].values()} == {
        "probe", "faces", "train", "real_train", "samples", "extract", "merge", "xseg", "compile"}
    assert all(rec["status"] == "ok" for rec in r["sections"].values()), \
        {n: rec.get("error") for n, rec in r["sections"].items()}
    s = {n: rec["figures"] for n, rec in r["sections"].items()}

    for key in ("bf16", "fp32"):
        assert positive(s["probe"][key]["tflops"]) and s["probe"][key]["finite"]
        assert s["probe"][key]["rel_err_vs_fp64"] < (5e-2 if key == "bf16" else 1e-4)
    assert r["peaks_tflops"]["bf16"] == s["probe"]["bf16"]["tflops"]

    for name in ("train_quick96_b4", "train_saehd256_b16"):
        rows = s[name]["configs"]
        assert [(c["precision"], c["channels_last"]) for c in rows] == [
            ("bf16", True), ("bf16", False), ("fp32", True), ("fp32", False)]
        for c in rows:
            assert "error" not in c, c
            assert c["bf16_autocast"] is (c["precision"] == "bf16")  # the CUDA-only branches ran
            assert c["memory_format"] == ("channels_last" if c["channels_last"] else "contiguous")
            for k in ("it_per_s", "ms_per_iter", "samples_per_s", "tflops", "share_of_bf16_peak"):
                assert positive(c[k]), (name, k, c)
            assert isinstance(c["flops_per_iter"], int) and c["flops_per_iter"] > 0
            assert all(math.isfinite(v) for v in c["last_losses"].values())
            assert c["peak_mem_mib"] is None  # CUDA only
    comp = s["compile_saehd256_b16"]["configs"][0]
    assert comp["compile"] is True and comp["compile_backend"] == "aot_eager" and positive(comp["compile_s"])
    assert positive(comp["it_per_s"]) and positive(comp["speedup_vs_eager"]) and comp["bf16_autocast"]

    real = s["real_train"]
    assert real["iterations"] == 3 and positive(real["trainer_it_per_s"]) and real["loss_windows"] >= 1
    assert positive(real["loss_first"]) and positive(real["loss_last"]) and isinstance(real["loss_falling"], bool)

    smp = s["samples"]
    assert positive(smp["augment_ms_per_batch_ct_none"]) and positive(smp["augment_ms_per_batch_ct_rct"])
    assert smp["decode"] and all(positive(d["samples_per_s"]) for d in smp["decode"])
    assert positive(r["derived"]["samples_needed_per_side_per_s"])

    ext = s["extract"]
    assert ext["accurate"]["faces"] == ext["frames"] == 1  # one face per frame, through both passes
    for k in ("frames_per_s", "detect_ms_per_frame", "landmarks_ms_per_frame", "refine_ms_per_frame"):
        assert positive(ext["accurate"][k]), k

    mrg = s["merge"]
    assert mrg["fresh_model"] is False and mrg["model"] == "gpu-proof"  # the model trained above
    assert mrg["sizes"]["demo"]["merged"] == 2 and positive(mrg["sizes"]["demo"]["frames_per_s"])

    (xs,) = s["xseg"]["configs"]
    assert positive(xs["it_per_s"]) and positive(xs["tflops"]) and math.isfinite(xs["loss"])

    table = p.stdout
    assert "DRY RUN" in table and "training step" in table and "extraction S3FD+2DFAN" in table
    assert "sections: probe ok" in table


def test_isolated_section_budget_and_no_cuda(tmp_path):
    out = tmp_path / "gpu.json"
    p = bench("--dry-run", "--isolate", "--only", "probe", "--json", str(out), timeout=300)
    assert p.returncode == 0, p.stdout[-2000:] + p.stderr[-2000:]
    r = json.loads(out.read_text())
    assert r["isolated"] is True and r["sections"]["probe"]["status"] == "ok"
    assert positive(r["sections"]["probe"]["figures"]["fp32"]["tflops"])

    p = bench("--dry-run", "--budget", "1", "--only", "probe,faces", "--json", str(out), timeout=300)
    assert p.returncode == 1
    r = json.loads(out.read_text())
    assert [rec["status"] for rec in r["sections"].values()] == ["skipped", "skipped"]

    assert bench("--dry-run", "--only", "nothing").returncode == 2
    import torch

    if not torch.cuda.is_available():
        p = bench(timeout=120)
        assert p.returncode == 2 and "--dry-run" in p.stderr


@pytest.mark.slow
def test_sigterm_keeps_the_figures_measured_so_far(tmp_path):
    out = tmp_path / "gpu.json"
    proc = subprocess.Popen([sys.executable, "-m", "dfl_tui", "bench", "gpu", "--dry-run", "--json", str(out),
                             "--only", "probe,faces,train_quick96_b4,xseg"], cwd=ROOT, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True)
    deadline = time.monotonic() + 240
    while time.monotonic() < deadline:
        if out.exists() and "faces" in json.loads(out.read_text())["sections"]:
            break
        time.sleep(0.2)
    proc.send_signal(signal.SIGTERM)
    text, _ = proc.communicate(timeout=120)
    assert proc.returncode == 1, text[-2000:]
    r = json.loads(out.read_text())
    assert r["sections"]["probe"]["status"] == "ok" and r["sections"]["faces"]["status"] == "ok"
    assert {r["sections"][n]["status"] for n in ("train_quick96_b4", "xseg")} <= {"interrupted", "skipped", "ok"}
    assert "stopped by a signal" in text and "sections: probe ok" in text


def test_derived_figures_and_table():
    cfg = {"precision": "bf16", "channels_last": True, "compile": False, "it_per_s": 10.0, "ms_per_iter": 100.0,
           "samples_per_s": 160.0, "flops_per_iter": 4 * 10**12, "tflops": 40.0, "peak_mem_mib": 1000.0}
    r = {"dry_run": False, "device": "cuda", "sections": {
        "probe": {"section": "probe", "status": "ok", "figures": {"env": {}, "bf16": {"tflops": 800.0},
                                                                  "tf32": {"tflops": 400.0}, "fp32": {"tflops": 50.0}}},
        "train_saehd256_b16": {"section": "train", "status": "ok", "figures": {
            "model": "SAEHD", "batch": 16, "resolution": 256, "configs": [
                cfg, {**cfg, "precision": "fp32", "channels_last": False, "tflops": 20.0, "it_per_s": 5.0}]}},
        "compile_saehd256_b16": {"section": "compile", "status": "ok", "figures": {
            "model": "SAEHD", "batch": 16, "resolution": 256, "configs": [
                {**cfg, "compile": True, "compile_s": 80.0, "it_per_s": 15.0, "flops_per_iter": None, "tflops": None}]}},
        "samples": {"section": "samples", "status": "ok", "figures": {
            "resolution": 256, "batch": 16, "augment_ms_per_batch_ct_none": 2.0, "default_threads": 4,
            "decode": [{"threads": 1, "samples_per_s": 100.0}, {"threads": 16, "samples_per_s": 1000.0}]}},
        "xseg": {"section": "xseg", "status": "error", "error": "RuntimeError: boom"},
    }}
    r["sections"]["compile_saehd256_b16"]["figures"]["configs"][0].pop("flops_per_iter")
    r["sections"]["compile_saehd256_b16"]["figures"]["configs"][0].pop("tflops")
    gpurun.derive(r)
    bf16, fp32 = r["sections"]["train_saehd256_b16"]["figures"]["configs"]
    assert bf16["share_of_bf16_peak"] == pytest.approx(0.05) and bf16["share_of_precision_peak"] == pytest.approx(0.05)
    assert fp32["share_of_bf16_peak"] == pytest.approx(0.025) and fp32["share_of_precision_peak"] == pytest.approx(0.05)
    comp = r["sections"]["compile_saehd256_b16"]["figures"]["configs"][0]
    assert comp["speedup_vs_eager"] == pytest.approx(1.5) and comp["tflops"] == pytest.approx(60.0)
    assert r["derived"]["samples_needed_per_side_per_s"] == pytest.approx(160.0)
    assert [d["covers_best_saehd_step"] for d in r["sections"]["samples"]["figures"]["decode"]] == [False, True]
    table = gpurun.format_table(r)
    assert "SAEHD 256px b16" in table and "x1.50 vs eager" in table and "xseg: error: RuntimeError: boom" in table
    assert "needs 160 samples/s per side" in table


def test_gpu_scripts_are_valid_bash_with_a_timeout():
    check = ROOT / "scripts" / "gpu-check.sh"
    wheels = ROOT / "scripts" / "gpu-wheels.sh"
    for script in (check, wheels):
        assert os.access(script, os.X_OK), script
        p = subprocess.run(["bash", "-n", str(script)], capture_output=True, text=True)
        assert p.returncode == 0, p.stderr
    text = check.read_text()
    assert 'timeout -k 15 "$LIMIT"' in text and "LIMIT=\"${GPU_CHECK_LIMIT:-400}\"" in text
    assert "-m dfl_tui bench gpu --json \"$OUTDIR/gpu.json\"" in text and "PYTHONUNBUFFERED=1" in text
    assert "--no-index" in text and "tee -a \"$LOG\"" in text and "pip install -e" not in text
    w = wheels.read_text()
    assert "--python-version 3.12" in w and "--no-deps" in w and "manylinux" in w
    assert '"$(pin PyWavelets)" "$(pin face-alignment)"' in w
    # the pins the wheels script reads exist
    pins = (ROOT / "constraints.txt").read_text().lower().replace("_", "-")
    assert "\npywavelets==" in pins and "\nface-alignment==" in pins
