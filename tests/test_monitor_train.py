"""The training monitor: metrics reading/downsampling/smoothing, and a Pilot test on a recorded run folder."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

from dfl_tui.jobs.rundir import RunDir
from dfl_tui.train.modeldir import ModelDir
from dfl_tui.train.monitor import MetricsReader, downsample, ema, training_facts
from dfl_tui.util.atomic import append_jsonl, atomic_write_json

ROOT = Path(__file__).resolve().parents[1]


def _line(it: int, t: float, src: float, dst: float, n: int = 1) -> dict:
    return {"it": it, "t": t, "n": n, "ms": 250.0, "sps": 16.0, "loss": {"src_loss": src, "dst_loss": dst}}


def test_reader_follows_appends_partial_lines_and_resume(tmp_path):
    path = tmp_path / "metrics.jsonl"
    r = MetricsReader(str(path))
    assert r.poll() is False
    append_jsonl(path, {"event": "start", "it": 0, "t": 0.0})
    for i in range(1, 11):
        append_jsonl(path, _line(i, 100.0 + i, 1.0 / i, 2.0 / i))
    assert r.poll() is True and len(r.points) == 10 and r.loss_names == ["src_loss", "dst_loss"]
    with open(path, "a") as fh:  # a writer half-way through a line
        fh.write('{"it": 11, "t": 111.0, "n": 1, "loss": {"src_lo')
    assert r.poll() is False and len(r.points) == 10
    with open(path, "a") as fh:
        fh.write('ss": 0.09, "dst_loss": 0.18}}\n')
    assert r.poll() is True and r.points[-1].it == 11
    assert abs(r.rate() - 1.0) < 1e-6  # 1 iteration per second
    # The trainer was killed at 11 and resumed from its checkpoint at 8: points after 8 go.
    append_jsonl(path, {"event": "start", "it": 8, "t": 200.0})
    append_jsonl(path, _line(9, 201.0, 0.5, 0.5))
    r.poll()
    assert [p.it for p in r.points][-3:] == [7, 8, 9] and r.points[-1].loss["src_loss"] == 0.5
    xs, ys, ws = r.series("dst_loss", last_iters=3)
    assert xs == [7, 8, 9] and len(ys) == 3 and ws == [1, 1, 1]


def test_reader_memory_is_bounded_and_recent_points_stay_fine(tmp_path):
    r = MetricsReader(str(tmp_path / "m.jsonl"), max_points=1000)
    r.feed(_line(i, float(i), 1.0, 1.0) for i in range(1, 10001))
    assert len(r.points) <= 1000
    assert sum(p.n for p in r.points) == 10000  # every iteration still counted once
    assert [p.it for p in r.points[-5:]] == [9996, 9997, 9998, 9999, 10000]


def test_downsample_and_ema():
    xs = list(range(1, 1001))
    ys = [float(x % 10) for x in xs]
    bx, bm, lo, hi = downsample(xs, ys, 50)
    assert len(bx) == 50 and all(a <= m <= b for a, m, b in zip(lo, bm, hi))
    assert abs(np.mean(bm) - 4.5) < 0.2 and min(lo) == 0 and max(hi) == 9
    assert downsample([1, 2], [3.0, 4.0], 50) == ([1.0, 2.0], [3.0, 4.0], [3.0, 4.0], [3.0, 4.0])
    sm = ema([0.0] * 5 + [1.0] * 200, 0.1)
    assert sm[4] == 0.0 and 0.05 < sm[5] < 0.15 and sm[-1] > 0.99
    # A point standing for 10 iterations moves the average as 10 steps would.
    assert abs(ema([0.0, 1.0], 0.1, [1, 10])[1] - (1 - 0.9 ** 10)) < 1e-9


def test_facts_eta_and_time_since_save(tmp_path):
    r = MetricsReader(str(tmp_path / "m.jsonl"))
    r.feed([_line(i, 1000.0 + i / 2, 0.5, 0.6) for i in range(1, 101)])  # 2 it/s
    r.feed([{"event": "save", "it": 90, "t": 1045.0}])
    f = training_facts(r, {"iteration": 90, "saved": 1045.0}, {"state": "running", "progress": {"counts": {}}},
                       {"target_iter": 300}, now=1060.0)
    assert f.iteration == 100 and f.target == 300 and abs(f.rate - 2.0) < 1e-6
    assert abs(f.eta - 100.0) < 1e-6 and f.since_save == 15.0 and f.saved_iteration == 90
    h = f.header()
    assert "iter 100/300" in h and "2.00 it/s" in h and "ETA 1:40" in h and "saved 0:15 ago" in h
    assert len(h) <= 78


def test_rate_right_after_a_resume(tmp_path):
    """Rate = iterations done in this run over the time of this run: the previous run's last point (an
    hour ago) must not stretch the window (it showed 0.01 it/s where the truth was 0.13)."""
    r = MetricsReader(str(tmp_path / "m.jsonl"))
    r.feed([{"event": "start", "it": 0, "t": 0.0}] + [_line(i * 10, i * 10 / 0.13, 0.5, 0.6) for i in range(1, 40)])
    r.feed([{"event": "stop", "it": 390, "t": 3000.0}, {"event": "start", "it": 390, "t": 6600.0}])
    r.feed([_line(391, 6600.0 + 1 / 0.13, 0.5, 0.6)])
    assert abs(r.rate() - 0.13) < 1e-6
    r.feed([_line(392 + i, 6600.0 + (2 + i) / 0.13, 0.5, 0.6) for i in range(10)])
    assert abs(r.rate() - 0.13) < 1e-6
    f = training_facts(r, {"iteration": 390}, {"state": "running", "progress": {}}, {"target_iter": 1000})
    assert abs(f.rate - 0.13) < 1e-6 and f.eta is not None and 4600 < f.eta < 4800


def test_preview_captions_and_how_a_stop_reads():
    from dfl_tui.tui.screens.train_monitor import ended_text, preview_columns

    assert preview_columns("SAEHD") == ["src", "src→src", "dst", "dst→dst", "src→dst"]
    assert preview_columns("Quick96 masked", 5)[4] == "src→dst ×mask"
    assert preview_columns("SAEHD pred") == ["dst", "src→dst"] and preview_columns("SAEHD masked src-src")[0] == "src ×mask"
    assert len(preview_columns("AMP morph 1.0")) == 3 and preview_columns("SAEHD", 2) == []
    st = {"state": "cancelled", "message": "cancelled", "result": {"iteration": 1200, "target_reached": False}}
    assert ended_text("cancelled", st, {}) == "stopped, saved at iteration 1200"
    assert ended_text("stopped", {}, {"iteration": 40}) == "stopped, saved at iteration 40"
    assert ended_text("failed", {}, {}) == "failed"


def test_ui_modules_do_not_import_torch():
    code = ("import sys; import dfl_tui.tui.screens.train_monitor, dfl_tui.train.options, dfl_tui.train.monitor, "
            "dfl_tui.train.modeldir, dfl_tui.commands.train, dfl_tui.train.bench; "
            "bad = [m for m in ('torch', 'cv2') if m in sys.modules]; print(bad); sys.exit(1 if bad else 0)")
    res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=str(ROOT))
    assert res.returncode == 0, res.stdout + res.stderr


# ---------------------------------------------------------------------------
# A recorded run folder and the screen on it
# ---------------------------------------------------------------------------


def record_run(ws, name: str = "rec", iterations: int = 300) -> tuple[ModelDir, RunDir]:
    """A model folder as the trainer leaves it (metrics, previews, state, options) and a run folder."""
    import cv2

    from dfl_tui.train.preview import layout_previews, write_previews
    from faces_data import astronaut_bgr, grace_hopper_bgr

    mdir = ModelDir.of(ws, name)
    mdir.write_options({"format": "dfl-tui-model/1", "model": "Quick96", "options": {},
                        "trainer": {"target_iter": 600}, "fixed": []})
    t0 = time.time() - iterations
    append_jsonl(mdir.metrics_path, {"event": "start", "it": 0, "t": t0})
    for i in range(1, iterations + 1):
        append_jsonl(mdir.metrics_path, _line(i, t0 + i, 2.0 * np.exp(-i / 100) + 0.3, 2.2 * np.exp(-i / 120) + 0.35))
    append_jsonl(mdir.metrics_path, {"event": "save", "it": iterations, "t": time.time() - 30})
    mdir.write_state({"model": "Quick96", "iteration": iterations, "saved": time.time() - 30})
    a = cv2.resize(astronaut_bgr()[30:230, 130:330], (96, 96)).astype(np.float32) / 255
    g = cv2.resize(grace_hopper_bgr()[120:360, 150:390], (96, 96)).astype(np.float32) / 255
    nchw = lambda im: np.repeat(im.transpose(2, 0, 1)[None], 4, 0)  # noqa: E731
    m = np.ones((4, 1, 96, 96), np.float32)
    out = {"target_src": nchw(a), "pred_src_src": nchw(a) * 0.9, "target_dst": nchw(g), "pred_dst_dst": nchw(g) * 0.9,
           "pred_src_dst": nchw(a) * 0.8, "target_srcm": m, "target_dstm": m, "pred_dst_dstm": m, "pred_src_dstm": m}
    write_previews(mdir, layout_previews("Quick96", out), iterations, cell=96)
    run = RunDir(ws.jobs_dir / "20260101-000000-train-beef")
    run.path.mkdir(parents=True)
    atomic_write_json(run.spec_path, {"id": run.id, "step": "train", "options": {"name": name}})
    run.write_status({"id": run.id, "step": "train", "state": "running", "progress": {"counts": {"iteration": iterations}}})
    atomic_write_json(mdir.run_path, {"run_id": run.id, "run_dir": str(run.path), "pid": None})
    return mdir, run


async def test_monitor_screen_on_a_recorded_run(tmp_path):
    from dfl_tui.tui.screens.train_monitor import TrainMonitorScreen
    from dfl_tui.workspace import Workspace
    from tui_fixtures import make_app, wait_for

    ws = Workspace.open(tmp_path / "ws").ensure()
    mdir, run = record_run(ws)
    lock = run.acquire_lock()  # the "trainer" is alive while this test holds its lock
    try:
        app = make_app(ws, tmp_path)
        async with app.run_test(size=(80, 24)) as pilot:
            screen = app.open_step("train")
            assert isinstance(screen, TrainMonitorScreen)
            await wait_for(pilot, lambda: screen.polls >= 1 and screen.preview.strips, what="first poll and preview")
            title = str(screen.query_one("#tm-title").render())
            facts = str(screen.query_one("#tm-facts").render())
            assert "Quick96 'rec'" in title and "training" in title
            assert "iter 300/600" in facts and "it/s" in facts and "ETA" in facts and "saved 0:3" in facts
            assert len(facts) <= 80
            assert "src_loss" in str(screen.query_one("#tm-losses").render())
            assert screen.plot_draws >= 1 and screen.reader.loss_names == ["src_loss", "dst_loss"]
            # Preview views: the two panels, and each panel's four samples one at a time.
            assert [v.label for v in screen.views][:3] == ["Quick96", "Quick96 · row 1/4", "Quick96 · row 2/4"]
            assert len(screen.views) == 10
            # DeepFaceLab's column captions over the picture; the preview of the current iteration
            assert screen.preview.columns == ["src", "src→src", "dst", "dst→dst", "src→dst"]
            assert any("src→dst" in screen.preview.render_line(y).text for y in range(screen.preview.size.height))
            assert "at iter 300" in str(screen.query_one("#tm-status").render())
            full = list(screen.preview.strips)
            await pilot.press("space")
            await wait_for(pilot, lambda: screen.preview.strips and screen.preview.strips != full, what="next view")
            assert "row 1/4" in str(screen.query_one("#tm-status").render())
            # Range and smoothing redraw the plot.
            draws = screen.plot_draws
            await pilot.press("l")
            assert screen.plot_draws == draws + 1 and "last 5k" in str(screen.query_one("#tm-status").render())
            # New metrics arrive: the numbers follow (incremental read), the plot redraws once.
            for i in range(301, 311):
                append_jsonl(mdir.metrics_path, _line(i, time.time(), 0.4, 0.45))
            draws = screen.plot_draws
            screen.poll()
            await wait_for(pilot, lambda: "iter 310/600" in str(screen.query_one("#tm-facts").render()),
                           what="new metrics")
            assert screen.plot_draws == draws + 1
            # Keys drop control files for the trainer.
            await pilot.press("s")
            await pilot.press("b")
            await pilot.press("p")
            assert {p.name for p in run.control_dir.iterdir()} == {"save", "backup", "preview"}
            await pilot.press("t")
            assert not (run.control_dir / "cancel").exists()  # the first press only asks for confirmation
            assert any("within 3 s" in str(n.message) for n in app._notifications)
            await pilot.press("t")
            await wait_for(pilot, lambda: (run.control_dir / "cancel").exists(), what="stop request")
            # Leaving the screen leaves the training alone.
            await pilot.press("escape")
            await pilot.pause()
            assert not isinstance(app.screen, TrainMonitorScreen)
            assert run.is_alive()
    finally:
        import os

        os.close(lock)


async def test_monitor_without_a_model_starts_one_from_the_form(tmp_path):
    from dfl_tui.tui.screens.step import StepScreen
    from tui_fixtures import make_app, stop_all_jobs, wait_for
    from train_fixtures import make_workspace

    ws = make_workspace(tmp_path / "ws", n=4, size=64)
    app = make_app(ws, tmp_path)
    async with app.run_test(size=(100, 40)) as pilot:
        screen = app.open_step("train")
        await wait_for(pilot, lambda: screen.polls >= 1, what="poll")
        assert "no model" in str(screen.query_one("#tm-title").render())
        assert "Press o" in str(screen.query_one("#tm-facts").render())
        await pilot.press("o")
        await pilot.pause()
        assert isinstance(app.screen, StepScreen) and app.screen.entry.step == "train"
        # The form starts from a new model's defaults (a switch cannot say "keep", so every value is shown).
        from textual.widgets import Select, Switch

        form = app.screen.form
        assert form.field("model").value == "SAEHD" and form.field("random_warp").value is True
        assert form.field("random_dst_flip").value is True and form.field("adabelief").value is True
        values, errors = form.collect()
        assert not errors and values.model_options()["random_warp"] is True
        assert isinstance(form.field("face_type"), Select) and isinstance(form.field("masked_training"), Switch)
        # A tiny model, started from the form; the monitor attaches to it when we go back.
        for k, v in dict(name="tui", resolution=64, ae_dims=32, e_dims=16, d_dims=16, d_mask_dims=16, batch_size=2,
                         target_iter=6, device="cpu").items():
            form.field(k).value = str(v)
        form.field("archi").value = "df-ud"
        step = app.screen
        try:
            await pilot.press("ctrl+r")  # starts the training and goes back to the monitor, which follows it
            await wait_for(pilot, lambda: app.screen is screen, what="back on the monitor")
            assert step.started_here
            await wait_for(pilot, lambda: (screen.poll() or True) and screen.snap and screen.snap.model == "tui"
                           and screen.reader and screen.reader.last is not None, timeout=90, what="metrics of the run")
            assert "SAEHD 'tui'" in str(screen.query_one("#tm-title").render())
        finally:
            stop_all_jobs(ws)


def test_recorded_run_json_is_what_the_trainer_writes(tmp_path):
    """The recorded folder above uses the trainer's own writers' formats (guards the Pilot test's realism)."""
    from dfl_tui.train.metrics import MetricsWriter

    p = tmp_path / "m.jsonl"
    w = MetricsWriter(p, batch_size=4, every=0.0)
    w.add(1, {"src_loss": 1.0, "dst_loss": 2.0}, 0.25)
    w.event("save", 1)
    lines = [json.loads(x) for x in p.read_text().splitlines()]
    assert set(lines[0]) == set(_line(1, 0, 0, 0)) and lines[1]["event"] == "save"
    r = MetricsReader(str(p))
    r.poll()
    assert r.points[0].sps == 16.0 and r.last_event("save")["it"] == 1


def test_metrics_lines_split_the_iteration_time(tmp_path):
    import time as _time

    from dfl_tui.train.metrics import IterationTimes, MetricsWriter

    p = tmp_path / "m.jsonl"
    w = MetricsWriter(p, batch_size=2, every=3600)
    for _ in range(2):
        w.add(1, {"src_loss": 1.0}, 0.03, IterationTimes(wait=0.001, augment=0.004, step=0.025))
    _time.sleep(0.1)
    w.flush()
    split = json.loads(p.read_text().splitlines()[0])["split"]
    assert split["wait"] == 1.0 and split["augment"] == 4.0 and split["step"] == 25.0
    assert split["other"] >= 50 - 30  # 0.1 s over 2 iterations, minus the 30 ms accounted for


def test_preview_layouts_follow_deepfacelab():
    from dfl_tui.train.preview import layout_previews, loss_graph, with_graph

    def out(res: int, n: int) -> dict:
        rng = np.random.default_rng(0)
        d = {k: rng.random((n, 3, res, res), dtype=np.float32) for k in
             ("target_src", "pred_src_src", "target_dst", "pred_dst_dst", "pred_src_dst")}
        d.update({k: np.ones((n, 1, res, res), np.float32) for k in
                  ("target_srcm", "target_dstm", "pred_dst_dstm", "pred_src_dstm")})
        return d

    small = layout_previews("SAEHD", out(64, 8))
    assert [n for n, _ in small] == ["SAEHD", "SAEHD masked"] and small[0][1].shape == (4 * 64, 5 * 64, 3)
    big = layout_previews("SAEHD", out(288, 3))  # > 256 px: six 2-column panels, min(4, batch, 800 // res) rows
    assert [n for n, _ in big] == ["SAEHD src-src", "SAEHD dst-dst", "SAEHD pred", "SAEHD masked src-src",
                                   "SAEHD masked dst-dst", "SAEHD masked pred"]
    assert big[0][1].shape == (2 * 288, 2 * 288, 3)
    amp = out(64, 2)
    for v in (0.25, 0.5, 0.65, 0.75, 1.0):
        amp[f"pred_src_dst_{v:g}"], amp[f"pred_src_dstm_{v:g}"] = amp["pred_src_dst"] * v, amp["pred_src_dstm"]
    panels = layout_previews("AMP", amp)
    assert [n for n, _ in panels] == ["AMP morph 1.0", "AMP morph list", "AMP morph list masked"]
    assert all(img.shape == (2 * 64, 3 * 64, 3) for _, img in panels)
    hist = np.stack([np.linspace(2, 1, 500), np.linspace(3, 1.5, 500)], 1)
    strip = loss_graph(hist, 320)
    assert strip.shape == (100, 320, 3) and strip.any()
    assert with_graph(small[0][1], hist, 500).shape == (100 + 4 * 64, 5 * 64, 3)
