"""End to end: demo media -> frames -> faces -> a tiny training -> merge -> result.mp4 with audio -> verify.

Small on purpose (a 1.2 s clip at 10 fps, 160 px frames, a tiny SAEHD trained for a few
iterations): it checks that the steps fit together and that the result is marked, not
that the swap looks good.
"""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from dfl_tui import jobs
from dfl_tui import options as optmod
from dfl_tui.cli import main
from dfl_tui.faces.options import ExtractFacesOptions
from dfl_tui.merge.options import MergeOptions
from dfl_tui.provenance.verify import verify_file
from dfl_tui.train.options import TrainOptions
from dfl_tui.video.options import DemoOptions, ExtractFramesOptions, MakeVideoOptions
from dfl_tui.workspace import Workspace, list_images
from video_fixtures import video_stats

pytestmark = [pytest.mark.slow, pytest.mark.timeout(900)]


def run(ws, step, opts):
    st = jobs.run_inline(ws, step, opts)
    assert st["state"] == "done", f"{step}: {st.get('error')}"
    return st.get("result") or {}


def test_demo_to_verified_result(tmp_path, capsys):
    ws = Workspace.open(tmp_path / "ws")
    run(ws, "demo", DemoOptions(seconds=1.2, fps=10, size=160))
    for side in ("src", "dst"):
        run(ws, "extract-frames", ExtractFramesOptions(side=side))
        run(ws, "extract-faces", optmod.from_dict(ExtractFacesOptions, dict(side=side, size=96, debug=False,
                                                                             accurate=False, device="cpu")))
    n = len(list_images(ws.frames("dst")))
    assert n == 12 and list_images(ws.aligned("dst")) and list_images(ws.aligned("src"))
    run(ws, "train", optmod.from_dict(TrainOptions, dict(
        model="SAEHD", name="tiny", resolution=64, face_type="wf", archi="df-ud", ae_dims=32, e_dims=16, d_dims=16,
        d_mask_dims=16, batch_size=4, target_iter=3, device="cpu", seed=0)))
    res = run(ws, "merge", MergeOptions(model="tiny", device="cpu", color_transfer="rct"))
    assert res["merged"] + res["copied"] == n and res["bad"] == 0 and res["merged"] >= n - 2
    # the face region changed, the rest of the frame did not (beyond the invisible mark)
    src = cv2.imread(str(list_images(ws.frames("dst"))[0])).astype(int)
    out = cv2.imread(str(ws.merged / list_images(ws.frames("dst"))[0].name)).astype(int)
    mask = cv2.imread(str(ws.merged_mask / list_images(ws.frames("dst"))[0].name), cv2.IMREAD_GRAYSCALE)
    assert mask.max() == 255
    diff = np.abs(out - src).max(axis=2)
    assert (diff[mask > 200] > 12).mean() > 0.2 and (diff[mask == 0] > 12).mean() < 0.01
    run(ws, "make-video", MakeVideoOptions())
    stats = video_stats(ws.result)
    assert stats["frames"] == n and stats["audio"]
    rep = verify_file(ws.result)
    assert rep["marked"] and rep["metadata"]["fields"]["model"] == "tiny"
    assert rep["watermark"]["found"] and rep["frames"]["rate"] >= 0.9, rep["frames"]
    assert main(["verify", str(ws.result)]) == 0
    assert main(["verify", str(ws.root / "data_dst.mp4")]) == 1  # the original clip carries no mark
    capsys.readouterr()
