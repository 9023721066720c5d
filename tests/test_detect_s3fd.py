"""The s3fd backend's real loading path (face-alignment 1.5.0), with no network.

No real S3FD/FAN weights can be downloaded here, so we build state dicts of the right
shapes from face-alignment's own model classes, save them under the file names it
expects in a temporary torch hub folder, and run detection end to end. With random
weights it finds junk or nothing; what is checked is that every stage runs and returns
the right types, and that nothing is downloaded.
"""

from __future__ import annotations

import numpy as np
import pytest

from faces_data import astronaut_bgr

from dfl_tui.faces.detect import create_backend, resolve_detector, weights
from dfl_tui.faces.detect.base import Candidate, FaceFound, Fit, find_faces

torch = pytest.importorskip("torch")
fa_models = pytest.importorskip("face_alignment.models")


@pytest.fixture(scope="module")
def hub(tmp_path_factory):
    from face_alignment.detection.sfd.net_s3fd import s3fd

    root = tmp_path_factory.mktemp("hub")
    ck = root / "checkpoints"
    ck.mkdir()
    torch.manual_seed(0)
    torch.save(s3fd().state_dict(), ck / weights.S3FD_FILE)
    torch.save(fa_models.FAN(4).state_dict(), ck / weights.FAN2D_FILE)
    return root


@pytest.fixture()
def no_network(monkeypatch):
    import face_alignment.utils as fau

    def refuse(*a, **k):
        raise AssertionError(f"tried to download {a[:1]}")

    monkeypatch.setattr(torch.hub, "download_url_to_file", refuse)
    monkeypatch.setattr(fau, "download_url_to_file", refuse)


def test_s3fd_loads_from_a_hub_folder_and_runs(hub, no_network, monkeypatch):
    monkeypatch.setenv("TORCH_HOME", str(hub.parent / "empty-torch-home"))
    name, why = resolve_detector("auto", weights_dir=hub)
    assert name == "s3fd", why
    hub_before = torch.hub.get_dir()
    b = create_backend("s3fd", device="cpu", weights_dir=hub)
    try:
        assert torch.hub.get_dir() == hub_before  # set only while face-alignment loads
        assert b.weights["fan"].endswith(weights.FAN2D_FILE) and b.weights["s3fd"].endswith(weights.S3FD_FILE)
        assert "2DFAN" in b.describe()
        img = np.ascontiguousarray(astronaut_bgr()[::2, ::2])  # 256 px: quick on a CPU
        # every stage on its own, so each runs whatever the random detector finds
        dets = b.detect([img, img])
        assert len(dets) == 2 and all(isinstance(c, Candidate) for c in dets[0])
        box = Candidate(np.float32([80, 30, 150, 120]), 0.9)
        fits = b.landmarks([img], [[box]])
        assert isinstance(fits[0][0], Fit)
        lm = fits[0][0].lm68
        assert lm.shape == (68, 2) and lm.dtype == np.float32 and np.all(np.isfinite(lm))
        refined = b.refine([img], [[fits[0][0]]])
        assert len(refined[0]) == 1 and refined[0][0].lm68.shape == (68, 2)
        # and the whole search, with DeepFaceLab's rules around it
        res = find_faces(b, [img], max_faces=1, accurate=True)
        assert isinstance(res, list) and len(res) == 1 and len(res[0]) <= 1
        for f in res[0]:
            assert isinstance(f, FaceFound) and f.landmarks.shape == (68, 2) and f.rect.shape == (4,)
    finally:
        b.close()


def test_s3fd_plain_folder_and_missing_weights(hub, no_network, tmp_path, monkeypatch):
    from dfl_tui.errors import DflError

    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))
    with pytest.raises(DflError, match="weights not found"):
        create_backend("s3fd", device="cpu", weights_dir=tmp_path)
    # a plain folder holding the files (no checkpoints/ inside) works too
    plain = tmp_path / "plain"
    plain.mkdir()
    for n in (weights.S3FD_FILE, weights.FAN2D_FILE):
        (plain / n).symlink_to(hub / "checkpoints" / n)
    b = create_backend("s3fd", device="cpu", weights_dir=plain)
    try:
        assert b.weights["fan"].startswith(str(plain))
    finally:
        b.close()
    with pytest.raises(DflError, match="no CUDA"):
        create_backend("s3fd", device="cuda:0", weights_dir=hub)


def test_our_batched_s3fd_decodes_like_face_alignment(hub, no_network):
    """Same input convention (BGR minus the means), anchors and decoding as face-alignment's own detector."""
    import cv2

    from dfl_tui.faces.detect.s3fd import s3fd_input_scale

    b = create_backend("s3fd", device="cpu", weights_dir=hub)
    try:
        img = np.ascontiguousarray(astronaut_bgr()[::2, ::2])
        ours = b._s3fd_batch([img])[0]
        s = s3fd_input_scale(*img.shape[:2])
        small = cv2.resize(img, (int(img.shape[1] / s), int(img.shape[0] / s)), interpolation=cv2.INTER_LINEAR)
        rgb = torch.from_numpy(np.ascontiguousarray(small[..., ::-1])).permute(2, 0, 1)[None].float()
        theirs = np.asarray(b.fa.face_detector.detect_from_batch(rgb)[0], np.float32).reshape(-1, 5)
        assert len(ours) and len(theirs), "random weights should give some boxes over 0.5"
        top_ours = ours[np.argmax(ours[:, 4])]
        top_theirs = theirs[np.argmax(theirs[:, 4])]
        assert top_ours[4] == pytest.approx(top_theirs[4], abs=1e-5)
        assert np.allclose(top_ours[:4], top_theirs[:4] * s, atol=1e-2)
    finally:
        b.close()


def test_fan_crop_and_heatmap_decoding():
    from dfl_tui.faces.detect.s3fd import FAN_RES, decode_heatmaps, fan_crop_matrix

    rect = (100.0, 50.0, 200.0, 160.0)
    m, k = fan_crop_matrix(rect)
    c = m @ np.array([150.0, 105.0, 1.0])
    assert np.allclose(c, [(FAN_RES - 1) / 2] * 2)
    assert k == pytest.approx(FAN_RES / (200.0 * (100 + 110) / 195.0))
    # peaks at known heatmap cells (and a quarter step towards a higher neighbour)
    hm = np.zeros((1, 68, 64, 64), np.float32)
    cells = np.stack([np.arange(68) % 60 + 2, (np.arange(68) * 7) % 60 + 2], 1)
    for i, (x, y) in enumerate(cells):
        hm[0, i, y, x] = 1.0
        hm[0, i, y, x + 1] = 0.5  # right neighbour higher than the left one
    pts = decode_heatmaps(hm)[0]
    want_x = (cells[:, 0] + 0.25 + 0.5) * 4 - 0.5
    want_y = (cells[:, 1] + 0.5) * 4 - 0.5
    assert np.allclose(pts[:, 0], want_x) and np.allclose(pts[:, 1], want_y)


def test_batched_s3fd_as_on_a_gpu_finds_what_single_images_find(hub, no_network):
    """CUDA runs S3FD on 16 frames at once (the CPU default is 4): forced here, every frame of a
    mixed-size batch gets the boxes it gets alone."""
    b = create_backend("s3fd", device="cpu", weights_dir=hub)
    try:
        b.batch_size = 16  # what the backend picks on CUDA
        base = np.ascontiguousarray(astronaut_bgr()[::2, ::2])
        frames = [np.ascontiguousarray(np.roll(base, 9 * i, axis=1)) for i in range(5)]
        frames.insert(2, np.ascontiguousarray(base[:200, :180]))  # another size: its own group
        together = b._s3fd(frames)
        assert sum(len(g) for g in together) > 0, "random weights should give some boxes over 0.5"
        for frame, got in zip(frames, together):
            alone = b._s3fd_batch([frame])[0]
            assert got.shape == alone.shape
            np.testing.assert_allclose(got, alone, rtol=1e-4, atol=1e-3)
    finally:
        b.close()
