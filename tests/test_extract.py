"""The extract-faces step on real faces: the demo clips' frames, written as a user's frames folder."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import pytest

from faces_data import astronaut_bgr, grace_hopper_bgr

from dfl_tui import options as om
from dfl_tui.errors import DflError
from dfl_tui.faces.dflimg import load_face, read_meta
from dfl_tui.faces.extract import run_extract_faces
from dfl_tui.faces.extract_state import NOFACE_FILE, STATE_FILE, noface_frames, plan_run
from dfl_tui.faces.options import ExtractFacesOptions
from dfl_tui.faceset.trash import Trash
from dfl_tui.jobs.context import Reporter
from dfl_tui.workspace import Workspace, list_images

FPS = 25


class Recorder(Reporter):
    """A reporter that keeps what the step says."""

    def __init__(self, ws: Workspace) -> None:
        super().__init__(ws)
        self.logs: list[tuple[str, str]] = []
        self.progress_calls: list[dict[str, Any]] = []
        self.results: dict[str, Any] = {}

    def log(self, message: str, level: str = "info") -> None:
        self.logs.append((level, message))

    def progress(self, done, total=None, *, message=None, **counts):
        self.progress_calls.append({"done": done, "total": total, **counts})

    def result(self, **values):
        self.results.update(values)

    def warnings(self) -> list[str]:
        return [m for lvl, m in self.logs if lvl == "warning"]


@pytest.fixture(autouse=True)
def _no_s3fd_weights(tmp_path, monkeypatch):
    """'auto' must pick the offline backend here whatever the machine's torch cache holds."""
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "no-torch-home"))


def write_demo_frames(folder: Path, n: int, portrait: str = "grace_hopper", size: int = 512, start: int = 1,
                      seed: int = 0) -> list[Path]:
    """Frames of the demo clip (a real photo under a moving virtual camera) as PNG files."""
    from dfl_tui.video import demo

    p = demo.GRACE_HOPPER if portrait == "grace_hopper" else demo.ASTRONAUT
    folder.mkdir(parents=True, exist_ok=True)
    out = []
    for i, f in enumerate(demo.render_frames(p, start - 1 + n, FPS, size, seed)):
        if i + 1 < start:
            continue
        path = folder / f"{i + 1:05d}.png"
        cv2.imwrite(str(path), f)
        out.append(path)
    return out


def opts(**kw) -> ExtractFacesOptions:
    return om.from_dict(ExtractFacesOptions, {"side": "src", **kw})


def extract(ws: Workspace, **kw) -> tuple[dict, Recorder]:
    rec = Recorder(ws)
    return run_extract_faces(rec, opts(**kw)), rec


def face_space_sanity(lm: np.ndarray, size: int) -> None:
    eyes_y, nose_y, mouth_y = lm[36:48, 1].mean(), lm[30, 1], lm[48:68, 1].mean()
    assert eyes_y < nose_y < mouth_y
    d = np.linalg.norm(lm[42:48].mean(0) - lm[36:42].mean(0)) / size
    assert 0.22 < d < 0.32, d  # the mean face's eye distance in a whole-face crop is ~0.27


@pytest.mark.parametrize("side,portrait", [("src", "grace_hopper"), ("dst", "astronaut")])
def test_extracts_the_demo_clip(tmp_path, side, portrait):
    from dfl_tui.video.demo import ASTRONAUT, GRACE_HOPPER, face_box

    ws = Workspace.open(tmp_path / "ws")
    n = 14
    frames = write_demo_frames(ws.frames(side), n, portrait)
    res, rec = extract(ws, side=side)
    assert res["detector"] == "mediapipe" and res["processed"] == n
    assert any("auto: s3fd weights not found" in m for _l, m in rec.logs)
    faces = list_images(ws.aligned(side))
    with_face = {frame_of(f) for f in faces}
    assert len(with_face) >= 0.95 * n
    assert res["faces"] == len(faces) and res["no_face"] == n - len(with_face)
    p = GRACE_HOPPER if portrait == "grace_hopper" else ASTRONAUT
    for f in faces:
        assert f.suffix == ".jpg" and f.stem.endswith("_0")
        img, meta = load_face(f)
        assert img.shape == (512, 512, 3)
        assert meta.face_type == "whole_face" and meta.source_filename == f"{frame_of(f)}.png"
        face_space_sanity(meta.landmarks, 512)
        # the metadata agrees with itself: frame landmarks through the matrix = face landmarks
        back = cv2.transform(meta.source_landmarks[None].astype(np.float64), meta.image_to_face_mat)[0]
        assert np.abs(back - meta.landmarks).max() < 0.05
        # and the face is where the demo put it
        x0, y0, x1, y1 = face_box(p, (int(frame_of(f)) - 1) / FPS, 512, 0)
        cx, cy = meta.source_landmarks.mean(0)
        assert x0 - 20 < cx < x1 + 20 and y0 - 20 < cy < y1 + 20
        assert (ws.aligned(side) / ".thumbs" / f"{f.stem}.jpg").exists()
    assert len(list_images(ws.aligned_debug(side))) == n
    state = json.loads((ws.aligned(side) / STATE_FILE).read_text())
    assert len(state["done"]) == n and state["face_type"] == "whole_face" and state["detector"] == "mediapipe"
    assert json.loads((ws.aligned(side) / NOFACE_FILE).read_text())["frames"] == sorted(
        f.name for f in frames if f.stem not in with_face)
    last = rec.progress_calls[-1]
    assert last["done"] == n and last["total"] == n and last["faces"] == len(faces) and "fps" in last and "no_face" in last


def frame_of(face: Path) -> str:
    return face.stem.rsplit("_", 1)[0]


def test_resume_continues_and_never_loses_faces(tmp_path):
    ws = Workspace.open(tmp_path / "ws")
    write_demo_frames(ws.frames("src"), 5, size=320)
    r1, _ = extract(ws, debug=False, accurate=False)
    assert r1["processed"] == 5
    first = {f.name: f.stat().st_mtime_ns for f in list_images(ws.aligned("src"))}

    write_demo_frames(ws.frames("src"), 3, size=320, start=6)  # new frames arrive
    r2, rec2 = extract(ws, debug=False, accurate=False)
    assert r2["processed"] == 3 and r2["done_before"] == 5
    assert any("continuing: 5 of 8" in m for _l, m in rec2.logs)
    for name, mtime in first.items():  # the earlier faces were not touched
        assert (ws.aligned("src") / name).stat().st_mtime_ns == mtime

    r3, rec3 = extract(ws, debug=False, accurate=False)
    assert r3["processed"] == 0 and any("nothing to do" in m for _l, m in rec3.logs)

    # a crash after a frame's faces were written but before the state recorded it
    state_path = ws.aligned("src") / STATE_FILE
    state = json.loads(state_path.read_text())
    state["done"].remove("00008.png")
    state_path.write_text(json.dumps(state))
    before = len(list_images(ws.aligned("src")))
    r4, _ = extract(ws, debug=False, accurate=False)
    assert r4["processed"] == 1
    trashed = [p for p in list_images(ws.aligned("src") / ".trash") if p.name == "00008_0.jpg"]
    assert len(trashed) == 1 and (ws.aligned("src") / "00008_0.jpg").exists()
    assert len(list_images(ws.aligned("src"))) == before

    # other settings than the faces there: refused, nothing moved
    with pytest.raises(DflError, match="--overwrite"):
        extract(ws, face_type="full", debug=False)
    assert len(list_images(ws.aligned("src"))) == before

    # a detector that cannot load: the error comes before anything is moved
    with pytest.raises(DflError, match="s3fd weights not found"):
        extract(ws, detector="s3fd", overwrite=True, debug=False)
    assert len(list_images(ws.aligned("src"))) == before
    assert Trash(ws.aligned("src")).last().action == "extract-faces redo"

    # --overwrite moves everything to the trash (undoable) and starts again
    r5, _ = extract(ws, face_type="full", overwrite=True, debug=False, accurate=False)
    assert r5["processed"] == 8 and r5["done_before"] == 0
    op = Trash(ws.aligned("src")).last()
    assert op.action == "extract-faces --overwrite" and op.trashed == before + 2  # + .extract.json, .noface.json
    assert read_meta(ws.aligned("src") / "00001_0.jpg").face_type == "full_face"


def test_overwrite_then_faceset_undo_brings_the_faces_back(tmp_path):
    """``dfl-tui extract-faces src --overwrite`` then ``dfl-tui faceset src undo``, from the command line."""
    import subprocess
    import sys

    ws = Workspace.open(tmp_path / "ws")
    write_demo_frames(ws.frames("src"), 3, size=320)
    extract(ws, debug=True, accurate=False)
    aligned, debug = ws.aligned("src"), ws.aligned_debug("src")
    before = {p.name: p.read_bytes() for p in list_images(aligned)}
    state = (aligned / STATE_FILE).read_bytes()
    assert len(before) == 3 and len(list_images(debug)) == 3

    def cli(*args: str) -> str:
        env = dict(os.environ, PYTHONPATH=str(Path(__file__).resolve().parents[1]))
        r = subprocess.run([sys.executable, "-m", "dfl_tui", "-w", str(ws.root), *args], capture_output=True,
                           text=True, env=env, timeout=300)
        assert r.returncode == 0, r.stdout + r.stderr
        return r.stdout + r.stderr

    cli("extract-faces", "src", "--overwrite", "--face-type", "full", "--no-debug")
    assert read_meta(aligned / "00001_0.jpg").face_type == "full_face"
    status = json.loads(cli("status", "--json"))
    assert status["src_trash"] == 3 and status["src_faces"] == 3  # the trash is counted where status looks

    out = cli("faceset", "src", "undo")
    assert "extract-faces --overwrite" in out
    assert {p.name: p.read_bytes() for p in list_images(aligned)} == before
    assert (aligned / STATE_FILE).read_bytes() == state
    assert read_meta(aligned / "00001_0.jpg").face_type == "whole_face"
    # the faces of the undone run are in the trash, not lost; the next run resumes the earlier one
    assert [read_meta(p).face_type for p in list_images(aligned / ".trash")] == ["full_face"] * 3
    r, rec = extract(ws, debug=False, accurate=False)
    assert r["processed"] == 0
    # the debug images went to their own folder's trash, and come back the same way
    assert list_images(debug) == []
    cli("faceset", "src", "undo", "--folder", str(debug))
    assert len(list_images(debug)) == 3


def test_unreadable_frame_is_reported_and_skipped(tmp_path):
    ws = Workspace.open(tmp_path / "ws")
    frames = write_demo_frames(ws.frames("src"), 4, size=320)
    frames[1].write_bytes(b"\x89PNG\r\n\x1a\n not really a png")
    res, rec = extract(ws, debug=False, accurate=False)
    assert res["unreadable"] == 1 and res["processed"] == 3
    assert any("00002.png" in w for w in rec.warnings())
    assert not list(ws.aligned("src").glob("00002_*"))
    assert len(list_images(ws.aligned("src"))) == 3
    assert json.loads((ws.aligned("src") / NOFACE_FILE).read_text())["unreadable"] == ["00002.png"]
    # fixed: the next run does just that frame
    write_demo_frames(ws.frames("src"), 1, size=320, start=2)
    res2, _ = extract(ws, debug=False, accurate=False)
    assert res2["processed"] == 1 and res2["unreadable"] == 0
    assert (ws.aligned("src") / "00002_0.jpg").exists()


def test_two_faces_named_by_area_and_max_faces(tmp_path):
    ws = Workspace.open(tmp_path / "ws")
    ws.frames("dst").mkdir(parents=True)
    big = grace_hopper_bgr()[60:460, 56:456]  # face about 200 px
    small = cv2.resize(astronaut_bgr()[20:260, 110:350], (200, 200))  # face about 90 px
    frame = np.full((400, 700, 3), 127, np.uint8)
    frame[:, :400] = big
    frame[150:350, 460:660] = small
    cv2.imwrite(str(ws.frames("dst") / "00001.png"), frame)
    sky = np.full((300, 300, 3), (210, 160, 100), np.uint8)
    cv2.imwrite(str(ws.frames("dst") / "00002.png"), sky)
    res, _ = extract(ws, side="dst")
    assert res["faces"] == 2 and res["no_face"] == 1
    m0, m1 = read_meta(ws.aligned("dst") / "00001_0.jpg"), read_meta(ws.aligned("dst") / "00001_1.jpg")

    def area(r):
        return (r[2] - r[0]) * (r[3] - r[1])

    assert area(m0.source_rect) > area(m1.source_rect)
    assert m0.source_landmarks[:, 0].mean() < 400 < m1.source_landmarks[:, 0].mean()
    assert noface_frames(ws.aligned("dst")) == ["00002.png"]
    res2, _ = extract(ws, side="dst", max_faces=1, overwrite=True)
    assert res2["faces"] == 1 and (ws.aligned("dst") / "00001_0.jpg").exists()
    assert not (ws.aligned("dst") / "00001_1.jpg").exists()


def test_mark_only_png_and_head_size(tmp_path):
    ws = Workspace.open(tmp_path / "ws")
    write_demo_frames(ws.frames("src"), 1, size=320)
    res, _ = extract(ws, face_type="mark-only", format="png", debug=False, accurate=False)
    img, meta = load_face(ws.aligned("src") / "00001_0.png")
    assert img.shape == (320, 320, 3) and meta.face_type == "mark_only" and meta.image_to_face_mat is None
    assert np.allclose(meta.landmarks, meta.source_landmarks)
    assert opts(face_type="head").image_size == 768 and opts().image_size == 512 and opts(size=256).image_size == 256
    assert opts(face_type="head").three_d and not opts().three_d


def test_plan_run_continues_a_deepfacelab_faceset(tmp_path):
    aligned = tmp_path / "aligned"
    aligned.mkdir()
    frames = [tmp_path / f"{i:05d}.png" for i in range(1, 201)]
    for i in range(1, 141):  # a DeepFaceLab set: faces of frames 1..140, no state file
        (aligned / f"{i:05d}_0.jpg").write_bytes(b"")
    plan = plan_run(frames, aligned, opts())
    # the 128th-from-last face is 00013_0.jpg: frames from 00013 on are done again
    assert plan.todo[0].name == "00013.png" and len(plan.done) == 12
    assert len(plan.redo_faces) == 128 and plan.redo_faces[0].name == "00013_0.jpg"
    for f in list(aligned.iterdir())[:20]:
        f.unlink()
    with pytest.raises(DflError, match="--overwrite"):
        plan_run(frames, aligned, opts())


def test_no_frames_is_a_clear_error(tmp_path):
    ws = Workspace.open(tmp_path / "ws")
    with pytest.raises(DflError, match="extract-frames src"):
        extract(ws)


def test_options_and_cli(tmp_path):
    from dfl_tui import cli

    ns = cli.build_parser().parse_args(["extract-faces", "dst", "--face-type", "head", "--no-debug", "--device",
                                        "cuda:0,1", "--max-faces", "2"])
    o = om.from_namespace(ExtractFacesOptions, ns)
    assert (o.side, o.face_type, o.debug, o.device, o.max_faces, o.detector) == ("dst", "head", False, "cuda:0,1", 2, "auto")
    with pytest.raises(om.OptionError, match="device"):
        opts(device="gpu0")
    with pytest.raises(om.OptionError):
        opts(face_type="profile")


def test_extract_faces_runs_as_a_job(tmp_path):
    from dfl_tui import jobs

    ws = Workspace.open(tmp_path / "ws")
    write_demo_frames(ws.frames("dst"), 3, "astronaut", size=320)
    st = jobs.run_inline(ws, "extract-faces", opts(side="dst", debug=False))
    assert st["state"] == "done", st.get("error")
    assert st["result"]["faces"] == 3 and st["result"]["detector"] == "mediapipe"
    assert st["progress"]["counts"]["faces"] == 3


def test_bench_dispatcher_and_extract_bench(tmp_path, capsys, monkeypatch):
    import argparse

    from dfl_tui.commands import bench as cmd
    from dfl_tui.faces import bench

    monkeypatch.setitem(cmd.AREAS, "nothing", ("dfl_tui.no_such_area.bench", "x"))
    assert cmd.run(argparse.Namespace(area="nothing", bench_args=[])) == 2
    assert "not available yet" in capsys.readouterr().err
    rc = bench.main(["--frames", "6", "--no-1080p", "--detector", "mediapipe", "--json", "--keep",
                     str(tmp_path / "b")])
    out = json.loads(capsys.readouterr().out)
    assert rc == 0
    (row,) = out["results"]
    assert row["detector"] == "mediapipe" and row["frame"] == "512x512" and row["processed"] >= 6
    assert row["fps"] > 0 and row["faces"] >= 0.95 * row["processed"]
    assert set(row["stage_ms"]) == {"decode", "detect", "landmarks", "refine", "write"}
    assert os.path.isdir(tmp_path / "b")


def test_options_and_commands_stay_light():
    """The CLI's --help and the TUI import these: no numpy, OpenCV or torch at import."""
    import subprocess
    import sys

    code = ("import sys, dfl_tui.faces.options, dfl_tui.faces.detect, dfl_tui.faces.detect.weights, "
            "dfl_tui.commands.bench; print([m for m in ('numpy', 'cv2', 'torch') if m in sys.modules])")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"


def test_stop_saves_progress_and_a_rerun_finishes(tmp_path):
    from dfl_tui.errors import JobCancelled

    class StopSoon(Recorder):
        def progress(self, done, total=None, *, message=None, **counts):
            super().progress(done, total, **counts)
            if done >= 2:
                self.request_stop("test stop")

    ws = Workspace.open(tmp_path / "ws")
    write_demo_frames(ws.frames("src"), 8, size=256)
    rec = StopSoon(ws)
    with pytest.raises(JobCancelled):
        run_extract_faces(rec, opts(debug=False, accurate=False, batch_size=1))
    state = json.loads((ws.aligned("src") / STATE_FILE).read_text())
    done = state["done"]
    assert 2 <= len(done) < 8
    res, _ = extract(ws, debug=False, accurate=False)
    assert res["done_before"] == len(done) and res["processed"] == 8 - len(done)
    faces = list_images(ws.aligned("src"))
    assert len({frame_of(f) for f in faces}) >= 0.95 * 8 and all(f.stem.endswith("_0") for f in faces)


def _outside_inside(meta, frame_shape, size: int, margin: float = 6.0) -> tuple[np.ndarray, np.ndarray]:
    """Face pixels that map more than ``margin`` px outside / inside the frame (past the resampling kernel)."""
    from dfl_tui.faces.landmarks import transform_points

    yy, xx = np.mgrid[0:size, 0:size]
    pts = transform_points(np.stack([xx, yy], -1).reshape(-1, 2).astype(np.float32), meta.image_to_face_mat,
                           invert=True)
    h, w = frame_shape[:2]
    x, y = pts[:, 0], pts[:, 1]
    outside = (x < -margin) | (y < -margin) | (x > w - 1 + margin) | (y > h - 1 + margin)
    inside = (x > margin) & (y > margin) & (x < w - 1 - margin) & (y < h - 1 - margin)
    return outside.reshape(size, size), inside.reshape(size, size)


def test_crops_past_the_frame_edge_are_black_by_default_or_replicated(tmp_path):
    """DeepFaceLab fills a crop running past the frame edge with black; --border replicate repeats the edge."""
    from dfl_tui.faces.extract_state import extraction_border, face_border
    from dfl_tui.merge.predict import model_inputs

    frame = np.ascontiguousarray(grace_hopper_bgr()[120:420, 60:400])  # the whole-face crop runs past the top
    faces = {}
    for border in ("black", "replicate"):
        ws = Workspace.open(tmp_path / border)
        ws.frames("dst").mkdir(parents=True)
        cv2.imwrite(str(ws.frames("dst") / "00001.png"), frame)
        kw = {} if border == "black" else {"border": "replicate"}
        res, rec = extract(ws, side="dst", size=128, format="png", debug=False, accurate=False, **kw)
        assert res["faces"] == 1 and any(f"{border} past the frame edge" in m for _l, m in rec.logs)
        face_path = ws.aligned("dst") / "00001_0.png"
        img, meta = load_face(face_path)
        assert meta.extra["crop_border"] == border and face_border(meta) == border  # recorded in the face
        assert json.loads((ws.aligned("dst") / STATE_FILE).read_text())["border"] == border
        faces[border] = (img, meta)
        # the merger's model input (model predict cuts it the same way) uses the face's fill
        x, _names = model_inputs([face_path], 64, "whole_face")
        small_out, _ = _outside_inside(meta, frame.shape, 128, margin=12)
        small_out = cv2.resize(small_out.astype(np.uint8), (64, 64), interpolation=cv2.INTER_NEAREST) > 0
        if border == "black":
            assert small_out.sum() > 200 and x[0][small_out].max() == 0
        else:
            assert x[0][small_out].mean() > 0.1
    (black, meta_b), (rep, meta_r) = faces["black"], faces["replicate"]
    assert np.allclose(meta_b.image_to_face_mat, meta_r.image_to_face_mat)
    outside, inside = _outside_inside(meta_b, frame.shape, 128)
    assert outside.sum() > 0.15 * 128 * 128, outside.sum()
    assert black[outside].max() == 0  # black past the frame edge
    # replicated: the frame's edge pixels repeated outwards, exactly as cv2's BORDER_REPLICATE
    want = cv2.warpAffine(frame, meta_r.image_to_face_mat, (128, 128), flags=cv2.INTER_LANCZOS4,
                          borderMode=cv2.BORDER_REPLICATE)
    assert np.array_equal(rep[outside], want[outside]) and rep[outside].mean() > 40
    assert np.array_equal(black[inside], rep[inside])  # inside the frame both agree

    # a re-run with the other fill would mix two kinds of faces: refused
    with pytest.raises(DflError, match="border black"):
        extract(Workspace.open(tmp_path / "replicate"), side="dst", size=128, format="png", debug=False)
    # faces that do not record their fill: the folder's, replicate for dfl-tui's before --border
    old = Workspace.open(tmp_path / "replicate").aligned("dst")
    state = json.loads((old / STATE_FILE).read_text())
    del state["border"]
    (old / STATE_FILE).write_text(json.dumps(state))
    assert extraction_border(old) == "replicate" and extraction_border(tmp_path) == "black"
    meta_r.extra.clear()
    assert face_border(meta_r, extraction_border(old)) == "replicate" and face_border(meta_r) == "black"


def test_border_option_on_the_command_line():
    from dfl_tui import cli

    ns = cli.build_parser().parse_args(["extract-faces", "dst", "--border", "replicate"])
    assert om.from_namespace(ExtractFacesOptions, ns).border == "replicate"
    assert opts().border == "black"
    with pytest.raises(om.OptionError):
        opts(border="reflect")
