"""Every sort method on real faces, each with a property it must show."""

from __future__ import annotations

import dataclasses
import random
from pathlib import Path

import cv2
import numpy as np
import pytest

import faceset_fixtures as ff
from dfl_tui import jobs
from dfl_tui.faceset import ordering
from dfl_tui.faceset import sort as S
from dfl_tui.faceset.options import SORT_CHOICES, SortOptions
from dfl_tui.faceset.trash import Trash
from dfl_tui.workspace import Workspace, list_images

SIZE = 96


@pytest.fixture(scope="module")
def bases():
    out = {}
    for name, (frame, lm) in ff.frames().items():
        out[name] = ff.make_face(frame, lm, SIZE)
    return out


def names(paths):
    return [Path(p).name for p in paths]


def test_blur_sharp_before_blurred(tmp_path, bases):
    paths = {}
    for who in ("hopper", "astronaut"):
        face, meta = bases[who]
        for tag, sigma in (("b2", 1.6), ("sharp", 0), ("b1", 0.8)):
            img = face if sigma == 0 else ff.blur(face, sigma)
            paths[(who, tag)] = ff.save(tmp_path, f"{who}_{tag}_0.jpg", img, meta)
    res = S.sort_faces(list_images(tmp_path), "blur")
    order = names(res.kept)
    for who in ("hopper", "astronaut"):
        assert order.index(f"{who}_sharp_0.jpg") < order.index(f"{who}_b1_0.jpg") < order.index(f"{who}_b2_0.jpg")
    assert len(res.kept) + len(res.trashed) == 6


def test_blur_flat_face_is_rejected(tmp_path, bases):
    face, meta = bases["hopper"]
    ff.save(tmp_path, "a_0.jpg", face, meta)
    ff.save(tmp_path, "flat_0.jpg", np.full_like(face, 128), meta)
    res = S.sort_faces(list_images(tmp_path), "blur")
    assert names(res.kept) == ["a_0.jpg"] and names(res.trashed) == ["flat_0.jpg"]
    assert res.reasons == {"no sharp edges at all": 1}


def test_motion_blur_sorts_streaked_copy_last(tmp_path, bases):
    face, meta = bases["astronaut"]
    k = np.zeros((9, 9), np.float32)
    k[4, :] = 1 / 9
    ff.save(tmp_path, "m_0.jpg", cv2.filter2D(face, -1, k), meta)
    ff.save(tmp_path, "s_0.jpg", face, meta)
    res = S.sort_faces(list_images(tmp_path), "motion-blur")
    assert names(res.kept) == ["s_0.jpg", "m_0.jpg"]


@pytest.mark.parametrize("method,key", [("face-yaw", "yaw"), ("face-pitch", "pitch")])
def test_pose_orders_a_series(tmp_path, method, key):
    frame, _ = ff.frames()["hopper"]
    angles = [-0.5, -0.25, 0.0, 0.25, 0.5]
    shuffled = angles[:]
    random.Random(3).shuffle(shuffled)
    for i, a in enumerate(shuffled):
        lm = ff.posed_landmarks(**{key: a}, center=(256, 280), height=220)
        face, meta = ff.make_face(frame, lm, SIZE)
        ff.save(tmp_path, f"{i:05d}_0.jpg", face, meta)
    res = S.sort_faces(list_images(tmp_path), method)
    got = [shuffled[int(p.stem.split("_")[0])] for p in res.kept]
    assert got in (sorted(angles), sorted(angles, reverse=True)), got
    # descending by the estimate that the method reports
    scores = [res.scores[p.name] for p in res.kept]
    assert scores == sorted(scores, reverse=True)


def test_source_rect_size_largest_first(tmp_path):
    frame, _ = ff.frames()["hopper"]
    for i, h in enumerate([150.0, 230.0, 100.0]):
        face, meta = ff.make_face(frame, ff.template_landmarks(center=(260.0, 250.0), height=h), SIZE)
        ff.save(tmp_path, f"{i:05d}_0.jpg", face, meta)
    res = S.sort_faces(list_images(tmp_path), "face-source-rect-size")
    assert names(res.kept) == ["00001_0.jpg", "00000_0.jpg", "00002_0.jpg"]


@pytest.mark.parametrize("method", ["hist", "absdiff"])
def test_similarity_chain_groups_each_person(tmp_path, bases, method):
    people = ["hopper", "astronaut", "camera"]
    for v in range(3):
        for j, who in enumerate(people):
            face, meta = bases[who]
            ff.save(tmp_path, f"{v * 3 + j:05d}_0.jpg", ff.brighten(face, (v - 1) * 6), meta)
    res = S.sort_faces(list_images(tmp_path), method)
    who_of = {f"{v * 3 + j:05d}_0.jpg": people[j] for v in range(3) for j in range(3)}
    seq = [who_of[n] for n in names(res.kept)]
    runs = [seq[0]] + [b for a, b in zip(seq, seq[1:]) if a != b]
    assert len(runs) == 3, seq  # each person's faces sit together


def test_absdiff_dissimilar_alternates(tmp_path, bases):
    for v in range(2):
        for j, who in enumerate(["hopper", "astronaut"]):
            face, meta = bases[who]
            ff.save(tmp_path, f"{who}{v}_0.jpg", ff.brighten(face, v * 5), meta)
    res = S.sort_faces(sorted(list_images(tmp_path)), "absdiff", dissimilar=True)
    seq = [n[:3] for n in names(res.kept)]
    assert all(a != b for a, b in zip(seq, seq[1:])), seq


def test_hist_dissim_puts_the_odd_face_first(tmp_path, bases):
    face, meta = bases["hopper"]
    for v in range(5):
        ff.save(tmp_path, f"h{v}_0.jpg", ff.brighten(face, v * 2), meta)
    face2, meta2 = bases["astronaut"]
    ff.save(tmp_path, "odd_0.jpg", face2, meta2)
    res = S.sort_faces(list_images(tmp_path), "hist-dissim")
    assert names(res.kept)[0] == "odd_0.jpg"


def test_brightness_orders_a_series(tmp_path, bases):
    face, meta = bases["astronaut"]
    deltas = [-40, 20, 0, 40, -20]
    for i, d in enumerate(deltas):
        ff.save(tmp_path, f"{i:05d}_0.jpg", ff.brighten(face, d), meta)
    res = S.sort_faces(list_images(tmp_path), "brightness")
    got = [deltas[int(p.stem[:5])] for p in res.kept]
    assert got == [40, 20, 0, -20, -40]


def test_hue_orders_a_series(tmp_path, bases):
    face, meta = bases["hopper"]
    shifts = [10, 30, 0, 20]
    for i, s in enumerate(shifts):
        ff.save(tmp_path, f"{i:05d}_0.jpg", ff.hue_shift(face, s), meta)
    res = S.sort_faces(list_images(tmp_path), "hue")
    got = [shifts[int(p.stem[:5])] for p in res.kept]
    assert got == [30, 20, 10, 0]


def test_black_fewest_black_pixels_first(tmp_path, bases):
    face, meta = bases["hopper"]
    for i, cut in enumerate([30, 0, 10]):
        img = face.copy()
        img[:, :cut] = 0
        ff.save(tmp_path, f"{i:05d}_0.png", img, meta)
    res = S.sort_faces(list_images(tmp_path), "black")
    assert names(res.kept) == ["00001_0.png", "00002_0.png", "00000_0.png"]


def test_origname_orders_by_source_frame(tmp_path, bases):
    face, meta = bases["camera"]
    for name, src in [("c.jpg", "00002.png"), ("a.jpg", "00003.png"), ("b.jpg", "00001.png")]:
        ff.save(tmp_path, name, face, dataclasses.replace(meta, source_filename=src))
    res = S.sort_faces(list_images(tmp_path), "origname")
    assert names(res.kept) == ["b.jpg", "c.jpg", "a.jpg"]


def test_oneface_drops_multi_face_frames(tmp_path, bases):
    face, meta = bases["camera"]
    for n in ["00000_0.jpg", "00001_0.jpg", "00001_1.jpg", "00002_0.jpg", "00003_2.jpg"]:
        ff.save(tmp_path, n, face, meta)
    res = S.sort_faces(list_images(tmp_path), "oneface")
    assert names(res.kept) == ["00000_0.jpg", "00002_0.jpg"]
    assert sorted(names(res.trashed)) == ["00001_0.jpg", "00001_1.jpg", "00003_2.jpg"]


@pytest.mark.parametrize("method", ["final", "final-fast"])
def test_final_keeps_target_and_spreads_yaw(tmp_path, method):
    frame, _ = ff.frames()["astronaut"]
    yaws = {}
    i = 0
    for yaw, count, size, sigma in [(0.0, 10, 220, 0), (-0.7, 2, 150, 1.2), (0.7, 2, 150, 1.2)]:
        for k in range(count):
            lm = ff.posed_landmarks(yaw=yaw + 0.01 * k, center=(250, 200), height=size)
            face, meta = ff.make_face(frame, lm, SIZE)
            ff.save(tmp_path, f"{i:05d}_0.jpg", ff.blur(face, sigma) if sigma else face, meta)
            yaws[f"{i:05d}_0.jpg"] = yaw
            i += 1
    res = S.sort_faces(list_images(tmp_path), method, target=6)
    assert len(res.kept) == 6 and len(res.kept) + len(res.trashed) == 14
    kept_yaws = {yaws[p.name] for p in res.kept}
    assert kept_yaws == {-0.7, 0.0, 0.7}  # the rare angles survive though they are small and blurry


def test_select_final_is_exact_and_pure():
    rng = np.random.default_rng(0)
    n = 500
    yaw = rng.normal(0, 0.3, n)
    pitch = rng.normal(0, 0.2, n)
    sharp = rng.random(n)
    hists = np.sqrt(rng.dirichlet(np.ones(16), n)).astype(np.float32)
    keep, drop = ordering.select_final(yaw, pitch, sharp, hists, 100)
    assert len(keep) == 100 and len(set(keep)) == 100 and len(keep) + len(drop) == n
    # spread: every occupied yaw region is represented
    assert np.histogram(yaw[keep], bins=6, range=(-0.9, 0.9))[0].min() > 0


def test_greedy_chain_is_exact_nearest_neighbour():
    rng = np.random.default_rng(1)
    x = rng.random((300, 8)).astype(np.float32)
    chain = ordering.greedy_chain(x, k=4)
    assert sorted(chain.tolist()) == list(range(300))
    seen = {int(chain[0])}
    for a, b in zip(chain, chain[1:]):
        rest = np.array([j for j in range(300) if j not in seen])
        d = ((x[rest] - x[a]) ** 2).sum(1)
        assert abs(d.min() - ((x[b] - x[a]) ** 2).sum()) < 1e-5
        seen.add(int(b))


def test_sort_step_renames_trashes_and_undoes(tmp_path, bases):
    ws = Workspace.open(tmp_path / "ws").ensure()
    folder = ws.aligned("src")
    face, meta = bases["hopper"]
    originals = {}
    for n in ["00000_0.jpg", "00001_0.jpg", "00001_1.jpg", "00002_0.jpg"]:
        originals[n] = ff.save(folder, n, face, meta).read_bytes()
    res = jobs.run_inline(ws, "sort", SortOptions(side="src", by="oneface"))["result"]
    assert res["kept"] == 2 and res["trashed"] == 2
    assert names(list_images(folder)) == ["00000.jpg", "00001.jpg"]
    trash = Trash(folder)
    assert trash.count() == 2 and len(list_images(folder)) + trash.count() == 4
    trash.undo()
    assert sorted(names(list_images(folder))) == sorted(originals)
    assert all((folder / n).read_bytes() == b for n, b in originals.items())


def test_every_method_runs_as_a_step(tmp_path, bases):
    ws = Workspace.open(tmp_path / "ws").ensure()
    folder = ws.aligned("dst")
    for i, who in enumerate(["hopper", "astronaut", "camera"]):
        face, meta = bases[who]
        ff.save(folder, f"{i:05d}_0.jpg", face, dataclasses.replace(meta, source_filename=f"{i:05d}.png"))
    (folder / "notaface.jpg").write_bytes(cv2.imencode(".jpg", np.zeros((8, 8, 3), np.uint8))[1].tobytes())
    for method in SORT_CHOICES:
        st = jobs.run_inline(ws, "sort", SortOptions(side="dst", by=method, target=2))
        assert st["state"] == "done", (method, st.get("error"))
        assert len(list_images(folder)) + Trash(folder).count() == 4, method
