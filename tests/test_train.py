"""The trainer on tiny real facesets: loss falls, target stops, options persist, checkpoints survive SIGKILL,
detached training outlives its parent, NaN and out-of-memory end cleanly, AMP runs, the CLI and the bench."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import numpy as np
import pytest
import torch

from dfl_tui import jobs
from dfl_tui import options as optmod
from dfl_tui.jobs.rundir import RunDir
from dfl_tui.train import checkpoint as ckpt
from dfl_tui.train.modeldir import ModelDir
from dfl_tui.train.options import TrainOptions
from dfl_tui.train.summary import summary_text
from dfl_tui.util.atomic import read_jsonl
from train_fixtures import make_workspace

ROOT = Path(__file__).resolve().parents[1]
TINY = dict(model="SAEHD", name="tiny", resolution=64, ae_dims=32, e_dims=16, d_dims=16, d_mask_dims=16,
            batch_size=4, archi="df-ud", device="cpu")


def opts(**kw):
    return optmod.from_dict(TrainOptions, {**TINY, **kw})


def metrics(mdir: ModelDir) -> list[dict]:
    return read_jsonl(mdir.metrics_path)[0]


def events_text(status: dict, ws) -> str:
    run = jobs.find(ws, status["id"])
    return "\n".join(str(e.get("message", "")) for e in run.read_events()[0])


def test_loss_falls_target_stops_options_persist_and_files(tmp_path, monkeypatch):
    from dfl_tui.train import trainer

    # Metrics lines normally hold the mean of about a second of iterations, which depends on the machine's
    # speed; here every iteration gets its own line so the comparison below is the same everywhere.
    init = trainer.MetricsWriter.__init__
    monkeypatch.setattr(trainer.MetricsWriter, "__init__", lambda self, path, batch, every=1.0: init(self, path, batch, 0.0))
    ws = make_workspace(tmp_path / "ws", n=6, size=64)
    st = jobs.run_inline(ws, "train", opts(target_iter=30, seed=1, preview_every=10, write_preview_history=True))
    assert st["state"] == "done", st.get("error")
    assert st["result"]["iteration"] == 30 and st["result"]["target_reached"] is True
    mdir = ModelDir.of(ws, "tiny")
    lines = [m for m in metrics(mdir) if "loss" in m]
    total = [m["loss"]["src_loss"] + m["loss"]["dst_loss"] for m in lines]
    assert len(total) == 30
    first, last = float(np.mean(total[:5])), float(np.mean(total[-5:]))
    assert last < 0.85 * first, (first, last)
    assert lines[-1]["it"] == 30 and all(k in lines[-1] for k in ("ms", "sps", "n", "t"))
    # The checkpoint is the target iteration; the previous one is kept beside it.
    folder, manifest = ckpt.find_checkpoint(mdir)
    assert folder.name == "checkpoint" and manifest["iteration"] == 30
    assert ckpt.verify(mdir.checkpoint("checkpoint.prev"))["iteration"] == 1
    assert {"encoder.safetensors", "inter.safetensors", "decoder_src.safetensors", "decoder_dst.safetensors",
            "src_dst_opt.safetensors", "rng.safetensors"} <= set(manifest["files"])
    # Previews as DeepFaceLab lays them out: 5 columns, min(4, batch, 800 // res) rows.
    panels = mdir.preview_panels()
    assert [n for n, _ in panels] == ["SAEHD", "SAEHD masked"]
    import cv2

    img = cv2.imread(str(panels[0][1]))
    assert img.shape == (4 * 64, 5 * 64, 3)
    hist = sorted(p.name for p in (mdir.history_dir / "saehd").iterdir())
    assert hist == ["0000010.jpg", "0000020.jpg", "0000030.jpg", "_last.jpg"]
    assert cv2.imread(str(mdir.history_dir / "saehd" / "0000030.jpg")).shape[0] == 100 + 4 * 64  # graph strip
    summary = mdir.summary_path.read_text().splitlines()
    assert "Model Summary" in summary[0] and "Model Options" in "".join(summary) and "Running On" in "".join(summary)
    assert len({len(line) for line in summary}) == 1
    assert any("Current iteration: 30" in line for line in summary) and any("Using device: CPU" in line for line in summary)
    assert ws.models()[0]["iteration"] == 30 and ws.models()[0]["model"] == "SAEHD"

    # Restart: overridable options change, fixed ones stay (and say so); training goes on from 30.
    st2 = jobs.run_inline(ws, "train", optmod.from_dict(TrainOptions, dict(
        name="tiny", resolution=128, archi="liae", batch_size=2, target_iter=33, device="cpu")))
    assert st2["state"] == "done", st2.get("error")
    saved = mdir.read_options()
    assert saved["model"] == "SAEHD" and saved["options"]["resolution"] == 64 and saved["options"]["archi"] == "df-ud"
    assert saved["options"]["batch_size"] == 2 and saved["trainer"]["target_iter"] == 33
    log = events_text(st2, ws)
    assert "resolution: stays 64" in log and "archi: stays df-ud" in log and "batch size: 4 -> 2" in log
    assert "resumed from checkpoint at iteration 30" in log
    assert ckpt.find_checkpoint(mdir)[1]["iteration"] == 33
    starts = [m for m in metrics(mdir) if m.get("event") == "start"]
    assert [s["it"] for s in starts] == [0, 30]
    # Already at the target: nothing to do.
    st3 = jobs.run_inline(ws, "train", optmod.from_dict(TrainOptions, dict(name="tiny", device="cpu")))
    assert st3["state"] == "done" and st3["result"]["iteration"] == 33


def test_the_gpu_paths_of_the_trainer_run_on_the_cpu(tmp_path, monkeypatch):
    """What a GPU run takes that a CPU run does not, forced on the CPU: losses read one step late,
    bf16 autocast, channels_last, faces decoded in a loader process."""
    from dfl_tui.train import trainer

    monkeypatch.setattr(trainer.Trainer, "loss_lag", lambda self: 1)
    init = trainer.MetricsWriter.__init__
    monkeypatch.setattr(trainer.MetricsWriter, "__init__", lambda self, path, batch, every=1.0: init(self, path, batch, 0.0))
    ws = make_workspace(tmp_path / "ws", n=4, size=64)
    st = jobs.run_inline(ws, "train", opts(target_iter=6, seed=2, precision="bf16", channels_last=True,
                                           loader_processes=1, cache_mb=0))
    assert st["state"] == "done", st.get("error")
    mdir = ModelDir.of(ws, "tiny")
    lines = [m for m in metrics(mdir) if "loss" in m]
    assert [m["it"] for m in lines] == [1, 2, 3, 4, 5, 6]  # every step recorded, in order, before the last save
    assert all(np.isfinite(v) for m in lines for v in m["loss"].values())
    assert set(lines[-1]["split"]) == {"wait", "step", "augment", "other"}
    assert ckpt.find_checkpoint(mdir)[1]["iteration"] == 6
    assert "1 loader process" in events_text(st, ws) and "bf16" in mdir.summary_path.read_text()


def _random_batch(res: int, n: int, seed: int) -> dict:
    from dfl_tui.models.bench import random_batch

    return random_batch(res, n, "cpu", seed)


def test_checkpoint_round_trip_is_bit_exact(tmp_path):
    from dfl_tui.models import build_model

    o = dict(resolution=64, ae_dims=32, e_dims=16, d_dims=16, d_mask_dims=16, batch_size=2, archi="df-ud",
             gan_power=0.1, true_face_power=0.1, lr_dropout="y")
    torch.manual_seed(0)
    a = build_model("SAEHD", o, "cpu")
    for i in range(2):
        a.train_step(_random_batch(64, 2, i))
    mdir = ModelDir(tmp_path / "m")
    gen = torch.Generator().manual_seed(5)
    gen.manual_seed(7)
    ckpt.save_checkpoint(mdir, a.state_dict_parts(), iteration=a.iteration, model="SAEHD",
                         rng=ckpt.rng_state({"augment": gen}))
    parts, manifest, _ = ckpt.load_checkpoint(mdir)
    assert manifest["iteration"] == 2
    assert {"GAN", "GAN_opt", "code_discriminator", "D_code_opt", "src_dst_opt"} <= set(parts)
    torch.manual_seed(123)  # a different init: everything must come from the file
    b = build_model("SAEHD", o, "cpu")
    rng = parts.pop(ckpt.RNG_PART)
    assert b.load_parts(parts) == []
    sa, sb = a.state_dict_parts(), b.state_dict_parts()
    assert sa.keys() == sb.keys()
    for part in sa:
        assert sa[part].keys() == sb[part].keys(), part
        for k in sa[part]:
            assert torch.equal(sa[part][k], sb[part][k]), (part, k)
    # Same random state + same batch: the next step is identical (lr dropout masks included).
    gen_b = torch.Generator()
    ckpt.set_rng_state(rng, {"augment": gen_b})
    assert torch.equal(gen_b.get_state(), gen.get_state())
    state = torch.get_rng_state()
    batch = _random_batch(64, 2, 9)
    la = a.train_step(batch)
    torch.set_rng_state(state)
    lb = b.train_step(batch)
    assert la == lb
    for (n, p), (_n, q) in zip(a.named_parameters(), b.named_parameters()):
        assert torch.equal(p, q), n


KILL_SCRIPT = textwrap.dedent("""
    import sys, torch
    from pathlib import Path
    from dfl_tui.train import checkpoint as ckpt
    from dfl_tui.train.modeldir import ModelDir
    mdir = ModelDir(Path(sys.argv[1]))
    it = int(sys.argv[2])
    while True:
        it += 1
        parts = {f"part{i}": {"w": torch.full((64, 64), float(it)), "b": torch.full((7,), float(it))} for i in range(6)}
        ckpt.save_checkpoint(mdir, parts, iteration=it, model="test", delay=0.01)
        print(it, flush=True)
""")


def test_sigkill_at_random_points_of_saves_never_loses_the_last_good_checkpoint(tmp_path):
    mdir = ModelDir(tmp_path / "m")
    rng = np.random.default_rng(0)
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    last_seen = 0
    for round_ in range(3):
        proc = subprocess.Popen([sys.executable, "-c", KILL_SCRIPT, str(mdir.root), str(last_seen)],
                                stdout=subprocess.PIPE, env=env, text=True)
        first = proc.stdout.readline()  # at least one save completed in this round
        assert first.strip(), "the saver did not start"
        time.sleep(float(rng.uniform(0.0, 0.25)))
        proc.send_signal(signal.SIGKILL)
        out = first + proc.stdout.read()
        proc.wait()
        completed = [int(x) for x in out.split()]
        got = ckpt.load_checkpoint(mdir)
        assert got is not None, f"round {round_}: no loadable checkpoint"
        parts, manifest, folder = got
        it = manifest["iteration"]
        # Never older than the last save reported complete, and its content is that iteration's.
        assert it >= completed[-1], (round_, it, completed[-1], folder)
        for part in parts.values():
            for t in part.values():
                assert torch.all(t == float(it)), (round_, folder)
        last_seen = it
    # Each round completed at least one save on top of the last (more under a quiet machine).
    assert last_seen >= 3


def _wait(cond, timeout=60.0, what="condition"):
    t0 = time.monotonic()
    while True:
        v = cond()
        if v:
            return v
        if time.monotonic() - t0 > timeout:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.05)


@pytest.mark.slow
def test_training_killed_in_the_middle_of_a_save_resumes_from_the_last_good_checkpoint(tmp_path):
    ws = make_workspace(tmp_path / "ws", n=4, size=64)
    mdir = ModelDir.of(ws, "tiny")
    run = jobs.start(ws, "train", opts(seed=2), detach=True, env={ckpt.SAVE_DELAY_ENV: "0.4"})
    try:
        # The first save (iteration 1) completes; then ask for another and kill it half-way.
        _wait(lambda: ckpt.verify(mdir.checkpoint()) is not None, what="the first checkpoint")
        _wait(lambda: any("loss" in m and m["it"] >= 3 for m in metrics(mdir)), what="a few iterations")
        run.request("save")
        _wait(lambda: (mdir.checkpoint("checkpoint.new") / "decoder_dst.safetensors").exists(), what="the save to start")
        pid = run.read_status()["pid"]
        os.kill(pid, signal.SIGKILL)
        _wait(lambda: not run.is_alive(), what="the kill")
    finally:
        jobs.cancel(run)
    assert run.read_status()["state"] == "lost"
    assert (mdir.checkpoint("checkpoint.new")).exists() and ckpt.verify(mdir.checkpoint("checkpoint.new")) is None
    good = ckpt.find_checkpoint(mdir)
    assert good is not None and good[1]["iteration"] == 1
    st = jobs.run_inline(ws, "train", opts(target_iter=4))
    assert st["state"] == "done", st.get("error")
    assert "resumed from checkpoint at iteration 1" in events_text(st, ws)
    assert not mdir.checkpoint("checkpoint.new").exists()
    assert ckpt.find_checkpoint(mdir)[1]["iteration"] == 4


PARENT_SCRIPT = textwrap.dedent("""
    import sys
    from dfl_tui import jobs, options as optmod
    from dfl_tui.train.options import TrainOptions
    from dfl_tui.workspace import Workspace
    o = optmod.from_dict(TrainOptions, {k: v for k, v in __import__("json").loads(sys.argv[2]).items()})
    run = jobs.start(Workspace.open(sys.argv[1]), "train", o, detach=True)
    print(run.path, flush=True)
""")


@pytest.mark.slow
def test_detached_training_outlives_its_parent_and_saves_when_stopped(tmp_path):
    ws = make_workspace(tmp_path / "ws", n=4, size=64)
    mdir = ModelDir.of(ws, "tiny")
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    parent = subprocess.run([sys.executable, "-c", PARENT_SCRIPT, str(ws.root), json.dumps({**TINY, "seed": 3})],
                            capture_output=True, text=True, env=env, timeout=60)
    assert parent.returncode == 0, parent.stderr
    run = RunDir(Path(parent.stdout.strip()))
    try:
        # The parent is gone; the training keeps going (it has its own session).
        _wait(lambda: any("loss" in m and m["it"] >= 5 for m in metrics(mdir)), what="iterations after the parent left")
        assert run.is_alive()
        st = run.read_status()
        assert st["detached"] is True and os.getsid(st["pid"]) == st["pid"]
        # Control files from any UI: save and preview now.
        before = mdir.read_preview_index().get("time", 0)
        run.request("save")
        run.request("preview")
        _wait(lambda: any(m.get("event") == "save" and m.get("reason") == "requested" for m in metrics(mdir)),
              what="a requested save")
        _wait(lambda: mdir.read_preview_index().get("time", 0) > before, what="a requested preview")
    finally:
        jobs.cancel(run)
    final = jobs.wait(run, timeout=60)
    assert final["state"] == "cancelled" and final.get("message") in ("received SIGTERM", "cancel requested")
    saved_it = ckpt.find_checkpoint(mdir)[1]["iteration"]
    last = [m for m in metrics(mdir) if "it" in m][-1]
    assert last.get("event") == "stop" and last["it"] == saved_it == mdir.read_state()["iteration"]


@pytest.mark.parametrize("lag", [0, 1])
def test_nan_loss_stops_and_keeps_the_last_good_checkpoint(tmp_path, monkeypatch, lag):
    """lag 1: losses read one step late, as on a GPU (forced here on the CPU)."""
    from dfl_tui.models.base import FaceSwapModel
    from dfl_tui.train.trainer import Trainer

    monkeypatch.setattr(Trainer, "loss_lag", lambda self: lag)
    ws = make_workspace(tmp_path / "ws", n=4, size=64)
    real = FaceSwapModel.train_step_async

    def poisoned(self, batch):
        if self.iteration == 5:  # a weight goes bad: the next loss is a real NaN
            with torch.no_grad():
                next(self.parameters()).fill_(float("nan"))
        return real(self, batch)

    monkeypatch.setattr(FaceSwapModel, "train_step_async", poisoned)
    st = jobs.run_inline(ws, "train", opts(target_iter=50, seed=4))
    assert st["state"] == "failed"
    assert "nan at iteration 6" in st["error"].lower() and "last good checkpoint (iteration 1) is kept" in st["error"]
    mdir = ModelDir.of(ws, "tiny")
    parts, manifest, _ = ckpt.load_checkpoint(mdir)
    assert manifest["iteration"] == 1
    assert all(torch.isfinite(t).all() for p in parts.values() for t in p.values() if t.is_floating_point())
    assert any(m.get("event") == "nan" and m["it"] == 6 for m in metrics(mdir))


def test_out_of_memory_ends_with_advice(tmp_path, monkeypatch):
    from dfl_tui.models.base import FaceSwapModel

    ws = make_workspace(tmp_path / "ws", n=4, size=64)
    real = FaceSwapModel.train_step_async

    def oom(self, batch):
        if self.iteration == 2:
            raise torch.OutOfMemoryError("CUDA out of memory. Tried to allocate 2.00 GiB")
        return real(self, batch)

    monkeypatch.setattr(FaceSwapModel, "train_step_async", oom)
    st = jobs.run_inline(ws, "train", opts(target_iter=10))
    assert st["state"] == "failed"
    assert "out of memory" in st["error"] and "--batch-size 2" in st["error"] and "64px" in st["error"]
    assert ckpt.find_checkpoint(ModelDir.of(ws, "tiny"))[1]["iteration"] == 2  # what was learnt is saved


def test_amp_trains_with_its_morph_previews(tmp_path):
    ws = make_workspace(tmp_path / "ws", n=4, size=64)
    st = jobs.run_inline(ws, "train", optmod.from_dict(TrainOptions, dict(
        model="AMP", name="amp", resolution=64, ae_dims=32, inter_dims=32, e_dims=16, d_dims=16, d_mask_dims=16,
        batch_size=2, target_iter=3, device="cpu", ct_mode="rct")))
    assert st["state"] == "done", st.get("error")
    names = [n for n, _ in ModelDir.of(ws, "amp").preview_panels()]
    assert names == ["AMP morph 1.0", "AMP morph list", "AMP morph list masked"]


def test_summary_table_layout():
    text = summary_text("new_SAEHD", 123, {"resolution": 128, "masked_training": True}, [("Using device", "CPU")])
    lines = text.splitlines()
    assert len({len(x) for x in lines}) == 1
    assert lines[0].startswith("==") and " Model Summary " in lines[0]
    assert "Model name: new_SAEHD" in text and "masked_training: y" in text and "Current iteration: 123" in text


def test_cli_train_checks_and_show_options(tmp_path, capsys):
    from dfl_tui import cli

    empty = tmp_path / "empty"
    assert cli.main(["-w", str(empty), "train", "--model", "Quick96"]) == 2
    assert "no aligned faces" in capsys.readouterr().err
    assert cli.main(["-w", str(empty), "train"]) == 2
    assert "choose one of SAEHD, AMP, Quick96" in capsys.readouterr().err
    assert cli.main(["-w", str(empty), "train", "--model", "Quick96", "--resolution", "128"]) == 2
    assert "Quick96's settings are fixed" in capsys.readouterr().err
    ws = make_workspace(tmp_path / "ws", n=4, size=64)
    mdir = ModelDir.of(ws, "x")
    mdir.write_options({"format": "dfl-tui-model/1", "model": "AMP", "options": {"resolution": 96}, "trainer": {}})
    assert cli.main(["-w", str(ws.root), "train", "--name", "x", "--show-options"]) == 0
    assert json.loads(capsys.readouterr().out)["model"] == "AMP"
    assert cli.main(["-w", str(ws.root), "train", "--name", "x", "--model", "SAEHD"]) == 2
    assert "is a AMP model" in capsys.readouterr().err
    assert cli.main(["-w", str(ws.root), "train", "--name", "x", "--request", "save"]) == 2
    assert "not training now" in capsys.readouterr().err


def test_bench_train_prints_figures(tmp_path, capsys):
    from dfl_tui import cli

    ws = make_workspace(tmp_path / "ws", n=4, size=64)
    args = ["-w", str(ws.root), "bench", "train", "--model", "SAEHD", "--res", "64", "--batch", "2", "--iters", "2",
            "--warmup", "1", "--set", "ae_dims=32", "--set", "e_dims=16", "--set", "d_dims=16", "--set",
            "d_mask_dims=16", "--faces"]
    assert cli.main(args + ["--json"]) == 0
    r = json.loads(capsys.readouterr().out)
    assert r["it_per_s"] > 0 and r["samples_per_s"] == pytest.approx(2 * r["it_per_s"])
    assert r["augment_ms_per_batch"] > 0 and r["faces_it_per_s"] > 0 and r["flops_per_iter"] > 0
    # the share of peak is measured: matmul and convolution probes in the same run
    assert r["probe_tflops"] == max(r["matmul_tflops"], r["conv_tflops"]) > 0
    assert r["share_of_probe"] == pytest.approx(r["tflops"] / r["probe_tflops"])
    # the full trainer beside bare steps of its model, its iteration split into parts
    assert r["faces_iteration_ms"] > 0 and r["faces_bare_step_ms"] > 0 and r["faces_iters"] >= 2
    assert r["faces_overhead"] == pytest.approx(r["faces_iteration_ms"] / r["faces_bare_step_ms"] - 1)
    assert set(r["faces_split_ms"]) == {"wait", "augment", "step", "other"} and r["faces_split_ms"]["step"] > 0
    assert not (ws.root / "model").exists()  # the trainer ran in a scratch folder
    assert cli.main(args) == 0
    out = capsys.readouterr().out
    assert "peak probe" in out and "full trainer" in out and "overhead" in out


def test_bench_samples_only_measures_the_pipeline_per_core(tmp_path, capsys):
    from dfl_tui import cli

    ws = make_workspace(tmp_path / "ws", n=4, size=64)
    args = ["-w", str(ws.root), "bench", "train", "--samples-only", "--res", "64", "--batch", "2", "--workers",
            "0,1", "--batches", "1", "--target-it-s", "5"]
    assert cli.main(args + ["--json"]) == 0
    r = json.loads(capsys.readouterr().out)
    assert [row["workers"] for row in r["rows"]] == [0, 1] and all(row["samples_per_s"] > 0 for row in r["rows"])
    assert r["needed_samples_per_s"] == 10 and r["cores_needed"] == pytest.approx(10 / r["samples_per_core_s"])
    assert cli.main(args) == 0
    assert "needs 10 samples/s" in capsys.readouterr().out


@pytest.mark.slow
def test_torchrun_data_parallel_keeps_ranks_identical(tmp_path):
    """Two CPU ranks (gloo): each trains on its own faces, gradients are averaged, weights stay equal."""
    import re

    ws = make_workspace(tmp_path / "ws", n=4, size=64)
    torchrun = Path(sys.executable).with_name("torchrun")
    cmd = [str(torchrun), "--standalone", "--nproc_per_node=2", "-m", "dfl_tui.train.ddp", "-w", str(ws.root),
           "--model", "SAEHD", "--name", "tiny", "--resolution", "64", "--ae-dims", "32", "--e-dims", "16",
           "--d-dims", "16", "--d-mask-dims", "16", "--batch-size", "4", "--archi", "df-ud", "--lr-dropout", "y",
           "--target-iter", "4"]
    res = subprocess.run(cmd, capture_output=True, text=True, timeout=240, cwd=str(ROOT),
                         env={**os.environ, "PYTHONPATH": str(ROOT)})
    assert res.returncode == 0, res.stderr[-3000:]
    st = jobs.list_jobs(ws)[0]
    assert st["state"] == "done" and st["result"]["iteration"] == 4
    rank0 = re.findall(r"rank 0: weights checksum (\S+)", events_text(st, ws))
    rank1 = re.findall(r"rank 1: weights checksum (\S+)", res.stderr)
    assert rank0 and rank0 == rank1
    assert "rank 1 of 2: 2 faces per side" in res.stderr
    assert ckpt.find_checkpoint(ModelDir.of(ws, "tiny"))[1]["iteration"] == 4


def test_backups_rotate_newest_first(tmp_path):
    from dfl_tui.jobs.context import Reporter
    from dfl_tui.train.trainer import Trainer

    ws = make_workspace(tmp_path / "ws", n=4, size=64)
    assert jobs.run_inline(ws, "train", opts(target_iter=2, backup_slots=2))["state"] == "done"
    t = Trainer(Reporter(ws), opts())
    t.setup()
    try:
        for _ in range(3):
            t.model.iteration += 1
            t.backup("test")
    finally:
        t.src.close()
        t.dst.close()
        os.close(t._model_lock)
    mdir = ModelDir.of(ws, "tiny")
    assert [p.name for p in mdir.backups()] == ["01", "02"]
    assert ckpt.verify(mdir.backups_dir / "01" / "checkpoint")["iteration"] == 5
    assert ckpt.verify(mdir.backups_dir / "02" / "checkpoint")["iteration"] == 4
    assert (mdir.backups_dir / "01" / "options.json").exists() and (mdir.backups_dir / "01" / "summary.txt").exists()
    assert mdir.read_state()["backup_iteration"] == 5


def test_one_trainer_per_model(tmp_path):
    import fcntl

    ws = make_workspace(tmp_path / "ws", n=4, size=64)
    mdir = ModelDir.of(ws, "tiny")
    mdir.root.mkdir(parents=True)
    fd = os.open(mdir.root / "train.lock", os.O_RDWR | os.O_CREAT)
    fcntl.flock(fd, fcntl.LOCK_EX)  # someone else is training it
    try:
        st = jobs.run_inline(ws, "train", opts(target_iter=2))
    finally:
        os.close(fd)
    assert st["state"] == "failed" and "already being trained" in st["error"]
    assert jobs.run_inline(ws, "train", opts(target_iter=2))["state"] == "done"
