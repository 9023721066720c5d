"""``dfl-tui verify``: finds the marks in merged frames and in result videos, none in unmarked ones."""

from __future__ import annotations

import json
import subprocess
import sys

import cv2
import numpy as np

from dfl_tui import jobs
from dfl_tui.cli import main
from dfl_tui.jobs.context import Reporter
from dfl_tui.merge.batch import run_merge
from dfl_tui.merge.options import MergeOptions
from dfl_tui.options import validate
from dfl_tui.provenance.verify import verify_file
from dfl_tui.video.encode import encode_video
from dfl_tui.video.options import MakeVideoOptions
from merge_fixtures import ShiftPredictor, make_dst
from video_fixtures import make_clip


def merged_workspace(tmp_path, n=8):
    info = make_dst(tmp_path, n, no_face=(3,))
    run_merge(Reporter(info["ws"]), validate(MergeOptions()), predictor=ShiftPredictor())
    return info


def test_verify_finds_both_marks_in_a_merged_frame(tmp_path, capsys):
    info = merged_workspace(tmp_path, 4)
    frame = info["ws"].merged / "00001.png"
    rep = verify_file(frame)
    assert rep["marked"] and rep["watermark"]["found"] and rep["metadata"]["provenance"]["model"] == "standin"
    assert rep["metadata"]["iptc_digital_source_type"].endswith("compositeWithTrainedAlgorithmicMedia")
    # the frame copied through (no face) is marked too
    assert verify_file(info["ws"].merged / "00004.png")["marked"]
    assert main(["verify", str(frame)]) == 0
    out = capsys.readouterr().out
    assert "metadata:  FOUND" in out and "watermark: FOUND" in out
    # an original frame: nothing
    assert main(["verify", str(info["frames"][0]), "--json"]) == 1
    rep = json.loads(capsys.readouterr().out)
    assert rep["marked"] is False and rep["metadata"] is None and rep["watermark"]["found"] is False


def test_metadata_stripped_still_leaves_the_watermark(tmp_path):
    info = merged_workspace(tmp_path, 2)
    img = cv2.imread(str(info["ws"].merged / "00001.png"))
    stripped = tmp_path / "stripped.png"
    cv2.imwrite(str(stripped), img)  # re-encoded: text chunks gone
    rep = verify_file(stripped)
    assert rep["metadata"] is None and rep["watermark"]["found"] and rep["marked"]


def test_make_video_of_merged_frames_is_marked_and_plain_video_is_not(tmp_path, capsys):
    info = merged_workspace(tmp_path, 8)
    ws = info["ws"]
    make_clip(ws.root / "data_dst.mp4", seconds=8 / 25, fps=25, size=(256, 256), audio=True)
    st = jobs.run_inline(ws, "make-video", MakeVideoOptions())
    assert st["state"] == "done", st.get("error")
    rep = verify_file(ws.result)
    assert rep["marked"] and rep["metadata"]["fields"]["model"] == "standin"
    assert rep["frames"]["checked"] == 8 and rep["frames"]["rate"] >= 0.85 and rep["watermark"]["found"]
    assert main(["verify", str(ws.result)]) == 0
    assert "watermark: FOUND" in capsys.readouterr().out
    # the same frames without marks, encoded the same way: nothing found, exit 1
    plain = tmp_path / "plain.mp4"
    encode_video(info["frames"][:3] + info["frames"][4:], plain, 25, None)
    rep = verify_file(plain)
    assert not rep["marked"] and rep["metadata"] is None and rep["frames"]["detected"] == 0
    assert main(["verify", str(plain), "--json"]) == 1
    assert json.loads(capsys.readouterr().out)["watermark"]["found"] is False


def test_verify_errors_and_sampling(tmp_path, capsys):
    assert main(["verify", str(tmp_path / "missing.png")]) == 2
    bad = tmp_path / "bad.mp4"
    bad.write_bytes(b"not a video")
    assert main(["verify", str(bad)]) == 2
    clip = make_clip(tmp_path / "c.mp4", seconds=1.0, size=(96, 64), audio=False)
    rep = verify_file(clip, max_frames=5)
    assert rep["frames"]["checked"] == 5 and rep["frames"]["decoded"] == 25 and not rep["marked"]


def test_verify_does_not_import_torch(tmp_path):
    img = tmp_path / "x.png"
    cv2.imwrite(str(img), np.zeros((64, 64, 3), np.uint8))
    code = ("import sys; from dfl_tui.cli import main; rc = main(['verify', sys.argv[1]]); "
            "print('TORCH' if 'torch' in sys.modules else 'NO-TORCH')")
    out = subprocess.run([sys.executable, "-c", code, str(img)], capture_output=True, text=True, timeout=120)
    assert out.stdout.strip().endswith("NO-TORCH"), out.stdout + out.stderr


def test_odd_sized_frames_padded_by_the_encoder_are_still_found(tmp_path):
    from dfl_tui.provenance import watermark as wm
    from faces_data import astronaut_bgr

    marked, plain = [], []
    for i in range(6):
        m = cv2.getRotationMatrix2D((256, 256), 0.5 * i, 1.0)
        f = cv2.warpAffine(astronaut_bgr(), m, (512, 512))[:383, :511]  # H.264 pads this to 512x384
        for name, img, out in (("m", wm.embed(f, 5), marked), ("p", f, plain)):
            p = tmp_path / f"{name}{i:05d}.png"
            cv2.imwrite(str(p), img)
            out.append(p)
    encode_video(marked, tmp_path / "m.mp4", 25, None)
    encode_video(plain, tmp_path / "p.mp4", 25, None)
    assert verify_file(tmp_path / "m.mp4")["frames"]["rate"] == 1.0
    assert verify_file(tmp_path / "p.mp4")["frames"]["detected"] == 0
