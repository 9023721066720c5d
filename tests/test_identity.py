"""Identity embeddings: the dlib model on aligned faces, the cache beside the set, other models."""

from __future__ import annotations

import json
import os

import numpy as np
import pytest

from identity_fixtures import small_set, write_face

pytest.importorskip("dlib")


@pytest.fixture(scope="module")
def faceset(tmp_path_factory):
    folder = tmp_path_factory.mktemp("ids") / "aligned"
    return folder, small_set(folder)


def counting(model, monkeypatch):
    calls = []
    real = model.embed_chips

    def embed_chips(chips):
        calls.append(len(chips))
        return real(chips)

    monkeypatch.setattr(model, "embed_chips", embed_chips)
    return calls


def test_dlib_embeddings_tell_people_apart(faceset):
    from dfl_tui.identity.distance import euclidean
    from dfl_tui.identity.embed import embed_faces

    folder, faces = faceset
    names = ["a0", "a1", "a2", "a3", "h", "c"]
    emb = embed_faces([faces[k] for k in names], use_cache=False)
    assert emb.shape == (6, 128) and emb.dtype == np.float32 and np.isfinite(emb).all()
    d = euclidean(emb, emb)
    same = d[:4, :4][np.triu_indices(4, 1)]
    other = d[:4, 4:]
    assert same.max() < 0.45, same
    assert other.min() > 0.65, other
    assert d[4, 5] > 0.6


def test_cache_reuses_renamed_and_retagged_faces_and_recomputes_changed_ones(tmp_path, monkeypatch):
    from dfl_tui.faces.dflimg import read_meta, write_meta
    from dfl_tui.identity.cache import CACHE_DIR
    from dfl_tui.identity.embed import embed_faces
    from dfl_tui.identity.models import load_model

    folder = tmp_path / "aligned"
    faces = small_set(folder)
    paths = sorted(faces.values())
    model = load_model("dlib")
    calls = counting(model, monkeypatch)
    first = embed_faces(paths)
    assert sum(calls) == len(paths)
    doc = json.loads((folder / CACHE_DIR / "dlib-resnet-v1.json").read_text())
    assert set(doc["faces"]) == {p.name for p in paths}
    npys = list((folder / CACHE_DIR).glob("*.npy"))
    assert len(npys) == 1 and np.load(npys[0], allow_pickle=False).shape == (len(paths), 128)

    calls.clear()
    again = embed_faces(paths)
    assert calls == [] and np.array_equal(first, again)

    # Metadata-only change (an XSeg mask written in) and a rename: still cached.
    meta = read_meta(faces["a1"])
    meta.set_xseg_mask(np.ones((32, 32), np.float32))
    write_meta(faces["a1"], meta)
    renamed = faces["h"].with_name("zz_renamed.jpg")
    os.rename(faces["h"], renamed)
    paths2 = [renamed if p == faces["h"] else p for p in paths]
    calls.clear()
    third = embed_faces(paths2)
    assert calls == [] and np.array_equal(first, third)

    # New pixels under the same name: computed again, and only that face.
    write_face(folder, faces["a0"].name, "hopper", brighten=12)
    calls.clear()
    fourth = embed_faces(paths2)
    assert calls == [1]
    i = paths2.index(faces["a0"])
    assert np.linalg.norm(fourth[i] - first[i]) > 0.6
    assert np.linalg.norm(fourth[i] - first[paths.index(faces["h"])]) < 0.3


def test_faces_without_landmarks_get_nan_rows_and_a_reason(tmp_path):
    import cv2

    from dfl_tui.identity.embed import embed_faces

    ok = write_face(tmp_path, "00000_0.jpg", "astronaut")
    plain = tmp_path / "plain.jpg"
    cv2.imwrite(str(plain), np.full((64, 64, 3), 128, np.uint8))
    errors: dict[str, str] = {}
    emb = embed_faces([ok, plain], errors=errors)
    assert np.isfinite(emb[0]).all() and np.isnan(emb[1]).all()
    assert str(plain) in errors and "metadata" in errors[str(plain)]


def test_a_broken_cache_is_ignored_with_a_warning(tmp_path):
    from dfl_tui.identity.cache import CACHE_DIR
    from dfl_tui.identity.embed import embed_faces
    from dfl_tui.jobs.context import Reporter

    p = write_face(tmp_path, "00000_0.jpg", "astronaut")
    embed_faces([p])
    (tmp_path / CACHE_DIR / "dlib-resnet-v1.json").write_text('{"version": 1, "model": "dlib-resnet-v1", "npy": "../x"}')

    class R(Reporter):
        warnings: list[str] = []

        def warn(self, message: str) -> None:
            self.warnings.append(message)

    r = R()
    emb = embed_faces([p], ctx=r)
    assert np.isfinite(emb).all() and any("ignored" in w for w in r.warnings)


def test_an_onnx_model_can_stand_in(tmp_path):
    """Any ONNX embedding model: here a tiny one (mean colour of 4x4 blocks) built on the spot."""
    import onnx
    from onnx import TensorProto, helper

    from dfl_tui.identity.embed import embed_faces
    from dfl_tui.identity.models import load_model

    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", 3, 32, 32])
    y = helper.make_tensor_value_info("y", TensorProto.FLOAT, ["N", 48])
    graph = helper.make_graph([
        helper.make_node("AveragePool", ["x"], ["p"], kernel_shape=[8, 8], strides=[8, 8]),
        helper.make_node("Flatten", ["p"], ["y"], axis=1),
    ], "tiny", [x], [y])
    path = tmp_path / "tiny.onnx"
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)]), path)
    model = load_model(str(path))
    assert model.size == (32, 32) and model.id.startswith("onnx-tiny-")
    faces = [write_face(tmp_path / "set", f"0000{i}_0.jpg", who) for i, who in enumerate(("astronaut", "hopper"))]
    emb = embed_faces(faces, model)
    assert emb.shape == (2, 48)
    assert np.allclose(np.linalg.norm(emb, axis=1), 1.0, atol=1e-5)
    assert (tmp_path / "set" / ".identity" / f"{model.id}.json").is_file()


def test_distance_helpers():
    from dfl_tui.identity.distance import central, cosine_distance, euclidean, nearest

    a = np.array([[0.0, 0.0], [3.0, 4.0]])
    assert np.allclose(euclidean(a, a), [[0, 5], [5, 0]])
    assert np.allclose(cosine_distance([1.0, 0.0], [[0.0, 2.0], [3.0, 0.0]]), [[1.0, 0.0]])
    assert np.allclose(nearest(a, np.array([[3.0, 3.0]])), [np.sqrt(18), 1.0])
    pts = np.vstack([np.random.default_rng(0).normal(0, 0.05, (20, 2)), [[5.0, 5.0], [6.0, 5.0]]])
    assert np.linalg.norm(central(pts)) < 0.3


def test_a_photo_can_be_the_reference(tmp_path):
    """A plain photo (no metadata): its largest face is found and embedded like an aligned one."""
    import cv2

    from dfl_tui.identity.distance import euclidean
    from dfl_tui.identity.embed import embed_faces
    from dfl_tui.identity.reference import reference_embeddings
    from faces_data import astronaut_bgr

    photo = tmp_path / "her.png"
    cv2.imwrite(str(photo), astronaut_bgr())
    refs = reference_embeddings(photo)
    faces = [write_face(tmp_path / "set", "00000_0.jpg", "astronaut"), write_face(tmp_path / "set", "00001_0.jpg", "hopper")]
    d = euclidean(embed_faces(faces), refs)[:, 0]
    assert d[0] < 0.2 and d[1] > 0.6
    with pytest.raises(Exception, match="no face found"):
        blank = tmp_path / "blank.png"
        cv2.imwrite(str(blank), np.full((200, 200, 3), 90, np.uint8))
        reference_embeddings(blank)


def test_track_rescue_keeps_a_blurred_run_beside_a_clear_face_only():
    from dfl_tui.identity.reference import track_rescue

    box = np.array([10.0, 10.0, 60.0, 60.0])
    far = np.array([200.0, 10.0, 250.0, 60.0])
    frames = ["00001.png", "00002.png", "00003.png", "00004.png", "00002.png", "00009.png"]
    rects = [box, box + 3, box + 6, box + 8, far, box]
    d = np.array([0.3, 0.65, 0.68, 0.9, 0.65, 0.65])
    keep = d <= 0.6
    got = track_rescue(frames, rects, d, keep, 0.6)
    # 2 and 3 continue the track of 1 (and 3 only through 2); 4 is too far in identity, the 5th face is
    # elsewhere in the frame, the last is too many frames away
    assert got.tolist() == [True, True, True, False, False, False]


def test_identity_step_reports_the_faces_far_from_the_main_person(tmp_path):
    from dfl_tui import jobs
    from dfl_tui.identity.options import IdentityOptions
    from dfl_tui.workspace import Workspace

    ws = Workspace.open(tmp_path / "ws")
    small_set(ws.aligned("dst"))
    st = jobs.run_inline(ws, "identity", IdentityOptions(side="dst"))
    assert st["state"] == "done", st.get("error")
    assert st["result"]["embedded"] == 6 and st["result"]["far_from_main"] == 2


def test_the_reference_filter_leaves_a_hostile_face_unchecked(tmp_path):
    """A face whose metadata would run code is never unpickled: it is reported unchecked, the rest goes on."""
    from dfl_tui.faces import dflimg
    from dfl_tui.identity.reference import filter_by_reference, reference_embeddings

    good = write_face(tmp_path / "set", "00000_0.jpg", "astronaut")
    other = write_face(tmp_path / "set", "00001_0.jpg", "hopper")
    bad = tmp_path / "set" / "00002_0.jpg"
    payload = b"cos\nsystem\n(S'echo pwned'\ntR."
    bad.write_bytes(dflimg._with_payload(other.read_bytes(), payload, str(bad)))
    refs = reference_embeddings(write_face(tmp_path / "ref", "ref.jpg", "astronaut", brighten=10))
    res = filter_by_reference([good, other, bad], refs)
    assert res.keep == [good] and res.reject == [other] and res.unchecked == [bad]


def test_faces_kept_by_an_earlier_run_carry_their_tracks_on(tmp_path, monkeypatch):
    """Extraction continued: a face a little over the threshold next to a face kept in the earlier run
    (same place, next frame) is rescued, as it would have been in one run; the earlier face is not checked again."""
    from dfl_tui.identity import reference as R

    kept_before = write_face(tmp_path / "set", "00001_0.jpg", "astronaut")
    new = write_face(tmp_path / "set", "00002_0.jpg", "astronaut", shift=1.0)
    far = {new.name: 0.65}  # a little over 0.6: blurred, say

    def fake_embed(paths, model, ctx=None, errors=None):
        return np.array([[far.get(os.path.basename(p), 0.3), 0.0] for p in paths])

    monkeypatch.setattr(R, "embed_faces", fake_embed)
    monkeypatch.setattr(R, "nearest", lambda emb, refs, metric: emb[:, 0])
    refs = np.zeros((1, 2))
    alone = R.filter_by_reference([new], refs, threshold=0.6)
    assert alone.reject == [new]  # nothing kept near it in this run
    res = R.filter_by_reference([new], refs, threshold=0.6, anchors=[kept_before])
    assert res.keep == [new] and res.rescued == [new] and set(res.distance) == {new.name}
