"""Manual face extraction: a box placed by keys gives a face with correct metadata; force landmarks;
the deleted-debug re-extract flow; the helper-process fitter."""

from __future__ import annotations

import math

import cv2
import numpy as np
import pytest

from faces_data import astronaut_bgr, grace_hopper_bgr
from tui_fixtures import make_app, wait_for

from dfl_tui.faces import dflimg, manual
from dfl_tui.faces.landmarks import get_transform_mat, transform_points
from dfl_tui.workspace import Workspace


def frames_ws(root) -> Workspace:
    ws = Workspace.open(root).ensure()
    d = ws.frames("dst")
    d.mkdir(parents=True)
    cv2.imwrite(str(d / "00001.png"), astronaut_bgr())
    cv2.imwrite(str(d / "00002.png"), grace_hopper_bgr())
    return ws


@pytest.fixture(scope="module")
def auto_face():
    """The mediapipe backend's own detection of the astronaut: where the box should go."""
    from dfl_tui.faces.detect.base import find_faces, prepare_frame
    from dfl_tui.faces.detect.mediapipe import MediaPipeBackend

    found = find_faces(MediaPipeBackend(), [prepare_frame(astronaut_bgr())])[0]
    return found[0]


async def press_towards(pilot, scr, target_xy):
    """Move the box centre to ``target_xy`` with arrow keys only (8x steps, then single cells)."""
    for _ in range(60):
        cx, cy, _ = scr.box
        s = scr.canvas.scale
        dx, dy = (target_xy[0] - cx) * s, (target_xy[1] - cy) * s / 2  # in cells
        if abs(dx) < 1 and abs(dy) < 1:
            return
        if abs(dx) >= 8:
            await pilot.press("shift+right" if dx > 0 else "shift+left")
        elif abs(dx) >= 1:
            await pilot.press("right" if dx > 0 else "left")
        if abs(dy) >= 8:
            await pilot.press("shift+down" if dy > 0 else "shift+up")
        elif abs(dy) >= 1:
            await pilot.press("down" if dy > 0 else "up")
    raise AssertionError("the box did not reach the face")


async def test_box_placed_by_keys_writes_a_face_with_correct_metadata(tmp_path, auto_face):
    from dfl_tui.tui.screens.manual_extract import ManualExtractScreen

    ws = frames_ws(tmp_path / "ws")
    app = make_app(ws, tmp_path)
    async with app.run_test(size=(110, 40)) as pilot:
        scr = ManualExtractScreen(side="dst", mode="all")
        app.push_screen(scr)
        await wait_for(pilot, lambda: scr.fitter is not None and scr.bgr is not None, what="the model and frame")
        assert [p.name for p in scr.frames] == ["00001.png", "00002.png"]
        rect = auto_face.rect
        target = ((rect[0] + rect[2]) / 2, (rect[1] + rect[3]) / 2)
        side = max(rect[2] - rect[0], rect[3] - rect[1])
        await press_towards(pilot, scr, target)
        while scr.box[2] > side + 5:
            await pilot.press("minus")
        while scr.box[2] < side - 5:
            await pilot.press("plus")
        await wait_for(pilot, lambda: scr.fit_state in ("ok", "failed"), what="the landmark fit")
        assert scr.fit_state == "ok", scr.note
        await pilot.press("enter")
        await wait_for(pilot, lambda: scr.index == 1 and scr.bgr is not None, what="the next frame")
        face = ws.aligned("dst") / "00001_0.jpg"
        img, meta = dflimg.load_face(face)
        assert img.shape == (512, 512, 3)  # whole face at 512, the default for a new set
        assert meta.face_type == "whole_face" and meta.source_filename == "00001.png"
        # The landmarks fitted for the hand-placed box agree with the automatic detection.
        eye_dist = float(np.linalg.norm(auto_face.landmarks[36] - auto_face.landmarks[45]))
        err = np.linalg.norm(meta.source_landmarks - auto_face.landmarks, axis=1).mean() / eye_dist
        assert err < 0.08, err
        # And the metadata is consistent: the matrix maps the frame landmarks onto the face's.
        mat = get_transform_mat(meta.source_landmarks, 512, "whole_face")
        assert np.allclose(meta.image_to_face_mat, mat, atol=1e-3)
        assert np.allclose(transform_points(meta.source_landmarks, mat), meta.landmarks, atol=0.05)
        l, t, r, b = meta.source_rect
        assert abs((l + r) / 2 - target[0]) < 16 and abs((t + b) / 2 - target[1]) < 16
        assert (ws.aligned_debug("dst") / "00001.jpg").exists()
        assert (ws.aligned("dst") / ".thumbs" / "00001_0.jpg").exists()
        # Frame 2 with force landmarks: the mean face placed by the (turned) vector.
        await pilot.press("f", "greater_than_sign", "greater_than_sign")
        assert scr.force and math.isclose(manual.angle_of(scr.vector), 10, abs_tol=0.5)
        expected = manual.forced_landmarks(scr.box[:2], scr.vector)
        await pilot.press("enter")
        await wait_for(pilot, lambda: (ws.aligned("dst") / "00002_0.jpg").exists(), what="the forced face")
        m2 = dflimg.read_meta(ws.aligned("dst") / "00002_0.jpg")
        assert np.allclose(m2.source_landmarks, expected, atol=1e-3)
        # Back to frame 1: its face comes back locked; space says "no face" (the frame keeps its file in 'all').
        await pilot.press("comma")
        await wait_for(pilot, lambda: scr.index == 0 and scr.bgr is not None, what="frame 1 again")
        assert scr.locked
        assert abs(scr.box[0] - (l + r) / 2) < 1 and abs(scr.box[1] - (t + b) / 2) < 1
        await pilot.press("q")
        assert scr.accepted == 2


def test_deleted_debug_frames_and_skip_sends_old_faces_to_the_trash(tmp_path):
    from dfl_tui import jobs
    from dfl_tui.faces.options import ExtractFacesOptions

    ws = frames_ws(tmp_path / "ws")
    st = jobs.run_inline(ws, "extract-faces", ExtractFacesOptions(side="dst", detector="mediapipe", size=128))
    assert st["state"] == "done", st
    frames_dir, aligned, debug = ws.frames("dst"), ws.aligned("dst"), ws.aligned_debug("dst")
    assert manual.deleted_debug_frames(frames_dir, aligned, debug) == []
    (debug / "00002.jpg").unlink()  # the user deleted this debug image in the reviewer
    todo = manual.deleted_debug_frames(frames_dir, aligned, debug)
    assert [p.name for p in todo] == ["00002.png"]
    fmt = manual.set_format(aligned)
    assert fmt is not None and fmt[1] == 128
    assert fmt.border == "black"  # the default fill, recorded in each face
    w = manual.ManualWriter(aligned, debug, fmt.face_type, fmt.size, fmt.ext, border=fmt.border)
    assert w.clear_frame(todo[0], "no face") == 1
    assert not (aligned / "00002_0.jpg").exists() and (aligned / ".trash" / "00002_0.jpg").exists()
    with pytest.raises(Exception):
        manual.deleted_debug_frames(frames_dir, aligned, tmp_path / "nowhere")


def test_fitter_in_a_helper_process_matches_the_in_process_one():
    frame = astronaut_bgr()
    rect = manual.box_rect(225, 120, 110)
    local = manual.BoxFitter("mediapipe")
    remote = manual.FitterProcess("mediapipe", "cpu", timeout=120)
    try:
        a = local.fit(frame, rect, accurate=False)
        b = remote.fit(frame, rect, accurate=False)
    finally:
        remote.close()
    assert a is not None and b is not None and np.allclose(a, b, atol=1e-3)
    assert not remote.proc.is_alive()


def test_cli_manual_route_and_job_refusal(tmp_path):
    """``--detector manual`` opens the screen from the CLI; as a background job it is refused clearly."""
    from dfl_tui import cli, jobs
    from dfl_tui.faces.options import ExtractFacesOptions

    ws = frames_ws(tmp_path / "ws")
    st = jobs.run_inline(ws, "extract-faces", ExtractFacesOptions(side="dst", detector="manual"))
    assert st["state"] == "failed" and "interactive" in st["error"]
    args = cli.build_parser().parse_args(["-w", str(ws.root), "extract-faces", "dst", "--detector", "manual",
                                          "--fix-deleted-debug"])
    assert args.detector == "manual" and args.fix_deleted_debug is True


async def test_reviewer_E_redoes_the_frames_whose_debug_image_was_deleted(tmp_path):
    """Review aligned_debug, delete a bad frame, press E: only that frame comes up for manual extraction."""
    from dfl_tui import jobs, workflow
    from dfl_tui.faces.options import ExtractFacesOptions
    from dfl_tui.tui.screens.manual_extract import ManualExtractScreen
    from dfl_tui.tui.screens.review import ReviewScreen

    ws = frames_ws(tmp_path / "ws")
    st = jobs.run_inline(ws, "extract-faces", ExtractFacesOptions(side="dst", detector="mediapipe", size=128))
    assert st["state"] == "done", st
    (ws.aligned_debug("dst") / "00001.jpg").unlink()
    app = make_app(ws, tmp_path)
    async with app.run_test(size=(110, 40)) as pilot:
        review = ReviewScreen(workflow.get("review-dst"))
        app.push_screen(review)
        await wait_for(pilot, lambda: review.loaded, what="the reviewer")
        await pilot.press("E")
        await wait_for(pilot, lambda: isinstance(app.screen, ManualExtractScreen), what="the manual screen")
        scr = app.screen
        await wait_for(pilot, lambda: scr.bgr is not None, what="the frame")
        assert scr.mode == "deleted-debug" and [p.name for p in scr.frames] == ["00001.png"]
        # Space: no face in it; its old face goes to the (undoable) trash.
        await pilot.press("space")
        assert not (ws.aligned("dst") / "00001_0.jpg").exists()
        assert (ws.aligned("dst") / ".trash" / "00001_0.jpg").exists()
        await pilot.press("q")
        await wait_for(pilot, lambda: app.screen is review, what="back in the reviewer")
