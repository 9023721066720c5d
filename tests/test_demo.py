"""Demo media (Grace Hopper -> data_src.mp4, the astronaut -> data_dst.mp4) and the issue's command sequence."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from dfl_tui import jobs
from dfl_tui.faceset.trash import Trash
from dfl_tui.video.demo import ASTRONAUT, GRACE_HOPPER, face_box, render_frames, speech_like_audio
from dfl_tui.video.options import DemoOptions
from dfl_tui.workspace import Workspace
from video_fixtures import video_stats


def test_demo_writes_both_clips_with_audio_only_in_dst(tmp_path):
    ws = Workspace.open(tmp_path / "ws")
    st = jobs.run_inline(ws, "demo", DemoOptions(seconds=1.0, fps=10, size=128))
    assert st["state"] == "done", st.get("error")
    src, dst = video_stats(ws.root / "data_src.mp4"), video_stats(ws.root / "data_dst.mp4")
    assert src["frames"] == dst["frames"] == 10 and src["fps"] == dst["fps"] == 10.0
    assert (src["width"], src["height"]) == (128, 128)
    assert not src["audio"] and dst["audio"] and abs(dst["audio_seconds"] - 1.0) < 0.05
    # A second run refuses to replace the user's videos...
    before = (ws.root / "data_dst.mp4").read_bytes()
    st = jobs.run_inline(ws, "demo", DemoOptions(seconds=1.0, fps=10, size=128))
    assert st["state"] == "failed" and "--overwrite" in st["error"] and "data_src.mp4" in st["error"]
    assert (ws.root / "data_dst.mp4").read_bytes() == before
    # ...unless told to; the old ones go to the trash.
    st = jobs.run_inline(ws, "demo", DemoOptions(seconds=0.5, fps=10, size=128, overwrite=True))
    assert st["state"] == "done"
    assert Trash(ws.root).last().action == "demo --overwrite"
    assert (ws.root / ".trash" / "data_dst.mp4").read_bytes() == before
    assert video_stats(ws.root / "data_dst.mp4")["frames"] == 5
    # Undo brings the user's videos back, and the demo's go to the trash in their place.
    Trash(ws.root).undo()
    assert (ws.root / "data_dst.mp4").read_bytes() == before
    assert video_stats(ws.root / ".trash" / "data_dst.mp4")["frames"] == 5


def test_demo_is_deterministic_and_moves():
    a = list(render_frames(ASTRONAUT, 3, 25, 128, seed=1))
    b = list(render_frames(ASTRONAUT, 3, 25, 128, seed=1))
    c = list(render_frames(ASTRONAUT, 3, 25, 128, seed=2))
    assert all(np.array_equal(x, y) for x, y in zip(a, b))
    assert not np.array_equal(a[0], c[0])
    assert np.abs(a[0].astype(int) - a[2].astype(int)).mean() > 1  # the camera moves
    assert np.array_equal(speech_like_audio(0.5, seed=3), speech_like_audio(0.5, seed=3))


@pytest.mark.parametrize("portrait,seed", [(GRACE_HOPPER, 0), (ASTRONAUT, 1)])
def test_demo_face_stays_in_frame_and_big(portrait, seed):
    """Over a minute of motion the face box stays inside a 512 frame and 180-320 px wide."""
    boxes = np.array([face_box(portrait, t / 10, 512, seed) for t in range(600)])
    assert boxes[:, :2].min() > 0 and boxes[:, 2:].max() < 512
    widths = boxes[:, 2] - boxes[:, 0]
    assert 180 < widths.min() and widths.max() < 320


def test_demo_faces_are_detected():
    """The offline BlazeFace detector finds exactly one big face in demo frames of both clips."""
    blazeface = pytest.importorskip("dfl_tui.faces.detect.blazeface")
    det = blazeface.BlazeFace("back")
    for portrait, seed in ((GRACE_HOPPER, 0), (ASTRONAUT, 1)):
        frames = [f for i, f in enumerate(render_frames(portrait, 150, 25, 512, seed)) if i % 30 == 0]
        for img, rows in zip(frames, det.detect(frames)):
            assert len(rows) == 1
            assert rows[0][2] - rows[0][0] > 150


def test_done_when_command_sequence(tmp_path):
    """Issue 2: demo, extract-frames src and dst, make-video give the dst clip's frames, fps and audio."""
    w = tmp_path / "W"
    env = dict(os.environ, PYTHONPATH=str(Path(__file__).resolve().parents[1]))
    exe = [sys.executable, "-m", "dfl_tui"]
    for args in (["demo", "--seconds", "1", "--size", "256"], ["extract-frames", "src"], ["extract-frames", "dst"],
                 ["make-video", "--from", str(w / "data_dst"), "--out", str(w / "result.mp4")]):
        r = subprocess.run(exe + ["--workspace", str(w)] + args + ["-q"], capture_output=True, text=True, env=env,
                           timeout=120)
        assert r.returncode == 0, (args, r.stdout, r.stderr)
    dst, res = video_stats(w / "data_dst.mp4"), video_stats(w / "result.mp4")
    assert res["frames"] == dst["frames"] == 25 and res["fps"] == dst["fps"] == 25.0
    assert res["audio"] and abs(res["audio_seconds"] - dst["audio_seconds"]) < 0.05
    assert len(list((w / "data_src").glob("*.png"))) == 25


def test_stopped_demo_leaves_no_video(tmp_path):
    from dfl_tui.errors import JobCancelled
    from dfl_tui.jobs.context import Reporter
    from dfl_tui.video.demo import run_demo

    class StopInDst(Reporter):
        stages = 0

        def stage(self, name, total=None, unit="items"):
            self.stages += 1

        def progress(self, done, total=None, **kw):
            if self.stages == 2 and done >= 2:
                self.request_stop("test stop")

    ws = Workspace.open(tmp_path / "ws")
    with pytest.raises(JobCancelled):
        run_demo(StopInDst(ws), DemoOptions(seconds=1.0, fps=10, size=128))
    assert sorted(p.name for p in ws.root.iterdir()) == []


def test_plain_demo_over_a_hard_one_takes_its_truth_and_references_away(tmp_path):
    """After ``demo --hard``, ``demo --overwrite`` must not leave the hard clip's truth and reference
    faces beside a clip they do not describe; a reference/ folder without the truth is the user's."""
    from dfl_tui.video.demo_hard import REFERENCE_DIR, TRUTH_FILE

    ws = Workspace.open(tmp_path / "ws")
    (ws.root / REFERENCE_DIR).mkdir(parents=True)
    (ws.root / REFERENCE_DIR / "mine.jpg").write_bytes(b"the user's own reference")
    st = jobs.run_inline(ws, "demo", DemoOptions(seconds=0.5, fps=10, size=128))
    assert st["state"] == "done" and (ws.root / REFERENCE_DIR / "mine.jpg").exists()  # not the demo's: left alone
    (ws.root / TRUTH_FILE).write_text("{}")  # now it is a hard demo's
    st = jobs.run_inline(ws, "demo", DemoOptions(seconds=0.5, fps=10, size=128, overwrite=True))
    assert st["state"] == "done"
    assert not (ws.root / TRUTH_FILE).exists() and not (ws.root / REFERENCE_DIR).exists()
    assert (ws.root / ".trash" / TRUTH_FILE).exists() and (ws.root / ".trash" / REFERENCE_DIR / "mine.jpg").exists()
