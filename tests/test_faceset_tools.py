"""Faceset tools on real faces: names, metadata, pack/unpack (and DeepFaceLab's faceset.pak), resize,
enhance, debug images, masks, duplicates."""

from __future__ import annotations

import enum
import json
import os
import pickle
import struct
import sys
import types
from pathlib import Path

import cv2
import numpy as np
import pytest

import faceset_fixtures as ff
from dfl_tui import jobs
from dfl_tui.faces.dflimg import FaceFileError, UnsafeMetadataError, load_face, read_meta
from dfl_tui.faceset.options import FacesetOptions, SortOptions
from dfl_tui.faceset.pack import read_dfl_pak, read_pack
from dfl_tui.faceset.trash import Trash
from dfl_tui.workspace import Workspace, list_images

SIZE = 96


@pytest.fixture()
def ws(tmp_path):
    ws = Workspace.open(tmp_path / "ws").ensure()
    folder = ws.aligned("src")
    frames = ff.frames()
    i = 0
    for who in ("hopper", "astronaut", "camera"):
        frame, lm = frames[who]
        face, meta = ff.make_face(frame, lm, SIZE, source_filename=f"{i:05d}.png")
        ff.save(folder, f"{i:05d}_0.jpg", face, meta)
        i += 1
    # a frame with two faces
    frame, lm = frames["hopper"]
    face, meta = ff.make_face(frame, lm, SIZE, source_filename="00009.png")
    ff.save(folder, "00009_0.jpg", face, meta)
    ff.save(folder, "00009_1.jpg", ff.brighten(face, 30), meta)
    return ws


def step(ws, action, **kw):
    st = jobs.run_inline(ws, "faceset", FacesetOptions(side="src", action=action, **kw))
    assert st["state"] == "done", st.get("error")
    return st["result"]


def snapshot(folder):
    return {p.name: p.read_bytes() for p in list_images(folder)}


def test_recover_names_round_trip(ws):
    folder = ws.aligned("src")
    before = snapshot(folder)
    st = jobs.run_inline(ws, "sort", SortOptions(side="src", by="brightness"))
    assert st["state"] == "done"
    assert all(p.stem.isdigit() for p in list_images(folder))
    step(ws, "recover-names")
    after = snapshot(folder)
    assert set(after) == set(before)
    for n in ("00000_0.jpg", "00001_0.jpg", "00002_0.jpg"):
        assert after[n] == before[n]
    # the two faces of frame 00009 keep their frame; their index follows the current order
    assert {after["00009_0.jpg"], after["00009_1.jpg"]} == {before["00009_0.jpg"], before["00009_1.jpg"]}
    # and both operations undo from the command line's step, newest first
    assert step(ws, "undo")["undone"] == "recover-names"
    assert step(ws, "undo")["undone"] == "sort brightness"
    assert snapshot(folder) == before
    st = jobs.run_inline(ws, "faceset", FacesetOptions(side="src", action="undo"))
    assert st["state"] == "failed" and "nothing to undo" in st["error"]


def test_metadata_save_restore_onto_upscaled_images(ws):
    folder = ws.aligned("src")
    metas = {p.name: read_meta(p) for p in list_images(folder)}
    step(ws, "metadata-save")
    doc = json.loads((folder / "metadata.json").read_text())
    assert set(doc["files"]) == set(metas)
    # an external editor upscales the images and drops the metadata; one comes back as PNG
    for p in list_images(folder):
        img = cv2.imread(str(p))
        big = cv2.resize(img, (SIZE * 2, SIZE * 2), interpolation=cv2.INTER_CUBIC)
        if p.name == "00001_0.jpg":
            p.unlink()
            cv2.imwrite(str(p.with_suffix(".png")), big)
        else:
            cv2.imwrite(str(p), big)
        with pytest.raises(FaceFileError):
            read_meta(p if p.exists() else p.with_suffix(".png"))
    res = step(ws, "metadata-restore")
    assert res["restored"] == 5 and res["resized"] == 5
    for name, meta in metas.items():
        p = folder / name if (folder / name).exists() else (folder / name).with_suffix(".png")
        img, got = load_face(p)
        assert img.shape[:2] == (SIZE, SIZE)
        np.testing.assert_allclose(got.landmarks, meta.landmarks, atol=1e-3)
        assert got.source_filename == meta.source_filename
        np.testing.assert_allclose(got.image_to_face_mat, meta.image_to_face_mat, atol=1e-6)
    assert Trash(folder).count() == 5  # the edited versions are kept


def test_pack_unpack_round_trip(ws):
    folder = ws.aligned("src")
    before = snapshot(folder)
    res = step(ws, "pack", format="dflpack")
    assert res["packed"] == 5 and list_images(folder) == []
    entries = read_pack(folder / "faceset.dflpack")
    assert sorted(e.name for e in entries) == sorted(before)
    st = jobs.run_inline(ws, "sort", SortOptions(side="src", by="hist"))
    assert st["state"] == "failed" and "packed" in st["error"]
    res = step(ws, "unpack")
    assert res["unpacked"] == 5
    assert snapshot(folder) == before
    assert not (folder / "faceset.dflpack").exists()


def test_pack_persons(ws):
    folder = ws.aligned("src")
    Trash(folder).move_to([folder / "00000_0.jpg"], "alice")
    Trash(folder).move_to([folder / "00001_0.jpg"], "bob")
    res = step(ws, "pack", persons=True)
    assert res["packed"] == 2
    step(ws, "unpack")
    assert (folder / "alice" / "00000_0.jpg").exists() and (folder / "bob" / "00001_0.jpg").exists()


def _dfl_modules():
    """Stand-ins for DeepFaceLab's modules so this test pickles exactly what DeepFaceLab's packer does."""
    samplelib = types.ModuleType("samplelib")
    sample = types.ModuleType("samplelib.Sample")
    facelib = types.ModuleType("facelib")
    facetype = types.ModuleType("facelib.FaceType")

    class SampleType(enum.IntEnum):
        IMAGE = 0
        FACE = 1

    class FaceType(enum.IntEnum):
        FULL = 2
        WHOLE_FACE = 4

    SampleType.__module__, SampleType.__qualname__ = "samplelib.Sample", "SampleType"
    FaceType.__module__, FaceType.__qualname__ = "facelib.FaceType", "FaceType"
    sample.SampleType = SampleType
    facetype.FaceType = FaceType
    return {"samplelib": samplelib, "samplelib.Sample": sample, "facelib": facelib,
            "facelib.FaceType": facetype}, SampleType, FaceType


def write_dfl_pak(path: Path, files: list[Path], person: str | None = None, payload_obj=None) -> None:
    """An independent writer of DeepFaceLab's layout, including its absolute last offset."""
    mods, SampleType, FaceType = _dfl_modules()
    saved = {k: sys.modules.get(k) for k in mods}
    sys.modules.update(mods)
    try:
        configs = []
        for f in files:
            meta = read_meta(f)
            configs.append({"sample_type": SampleType.FACE, "filename": f.name, "face_type": FaceType.WHOLE_FACE,
                            "shape": (SIZE, SIZE, 3), "landmarks": meta.landmarks.tolist(),
                            "seg_ie_polys": {"polys": []}, "xseg_mask": None, "xseg_mask_compressed": None,
                            "eyebrows_expand_mod": 1.0, "source_filename": meta.source_filename,
                            "person_name": person})
        blob = pickle.dumps(payload_obj if payload_obj is not None else configs, 4)
    finally:
        for k, v in saved.items():
            if v is None:
                sys.modules.pop(k, None)
            else:
                sys.modules[k] = v
    with open(path, "wb") as of:
        of.write(struct.pack("Q", 1))
        of.write(struct.pack("Q", len(blob)))
        of.write(blob)
        table = of.tell()
        of.write(bytes(8 * (len(files) + 1)))
        start = of.tell()
        offsets = []
        for f in files:
            offsets.append(of.tell() - start)
            of.write(f.read_bytes())
        offsets.append(of.tell())  # DeepFaceLab's quirk: absolute, not relative
        of.seek(table)
        for o in offsets:
            of.write(struct.pack("Q", o))


def test_reads_deepfacelab_pak_safely(ws, tmp_path):
    folder = ws.aligned("src")
    files = list_images(folder)
    before = snapshot(folder)
    pak = folder / "faceset.pak"
    write_dfl_pak(pak, files)
    entries, configs = read_dfl_pak(pak)
    assert [e.name for e in entries] == [f.name for f in files]
    assert configs[0]["sample_type"] == 1 and configs[0]["face_type"] == 4
    for f in files:
        f.unlink()
    res = step(ws, "unpack")
    assert res["unpacked"] == len(files) and res["pack"] == "faceset.pak"
    assert snapshot(folder) == before  # the last file is whole despite the absolute sentinel


class _Evil:
    def __reduce__(self):
        return (os.system, ("touch pwned-by-pak",))


def test_refuses_a_malicious_pak(ws, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    folder = ws.aligned("src")
    files = list_images(folder)
    pak = folder / "faceset.pak"
    write_dfl_pak(pak, files, payload_obj=[{"filename": "a.jpg", "x": _Evil()}])
    with pytest.raises(UnsafeMetadataError, match="nothing in it ran"):
        read_dfl_pak(pak)
    st = jobs.run_inline(ws, "faceset", FacesetOptions(side="src", action="unpack"))
    assert st["state"] == "failed"
    assert not (tmp_path / "pwned-by-pak").exists() and not (ws.root / "pwned-by-pak").exists()
    assert pak.exists()  # not consumed


def test_pak_with_escaping_names_is_refused(ws):
    folder = ws.aligned("src")
    files = list_images(folder)[:1]
    pak = folder / "faceset.pak"
    write_dfl_pak(pak, files, payload_obj=[{"filename": "../../evil.jpg", "person_name": None}])
    st = jobs.run_inline(ws, "faceset", FacesetOptions(side="src", action="unpack"))
    assert st["state"] == "failed" and "outside" in st["error"]


def test_resize_same_type_and_new_type(ws):
    folder = ws.aligned("src")
    p = folder / "00000_0.jpg"
    _, meta0 = load_face(p)
    step(ws, "resize", size=64)
    img, meta = load_face(p)
    assert img.shape[:2] == (64, 64)
    np.testing.assert_allclose(meta.landmarks, meta0.landmarks * (64 / SIZE), atol=1e-3)
    # the recomputed frame->face matrix maps the source landmarks onto the new landmarks
    from dfl_tui.faces.landmarks import transform_points

    np.testing.assert_allclose(transform_points(meta.source_landmarks, meta.image_to_face_mat), meta.landmarks, atol=0.5)
    step(ws, "resize", size=64, face_type="head")
    img, meta = load_face(p)
    assert meta.face_type == "head" and img.shape[:2] == (64, 64)
    np.testing.assert_allclose(transform_points(meta.source_landmarks, meta.image_to_face_mat), meta.landmarks, atol=1.0)
    assert Trash(folder).count() == 10  # both versions of every face kept


def test_enhance_tagged_faces_says_what_it_uses(ws):
    from dfl_tui.faceset.journal import TagJournal

    folder = ws.aligned("src")
    j = TagJournal(folder)
    j.set(["00002_0.jpg"], "yellow")
    j.close()
    st = jobs.run_inline(ws, "faceset", FacesetOptions(side="src", action="enhance", tag="yellow", scale=2))
    assert st["state"] == "done"
    log = (Path(st["run"]) if "run" in st else None)
    img, meta = load_face(folder / "00002_0.jpg")
    assert img.shape[:2] == (SIZE * 2, SIZE * 2)
    assert load_face(folder / "00000_0.jpg")[0].shape[:2] == (SIZE, SIZE)
    assert st["result"]["method"] == "lanczos+unsharp"
    events = [json.loads(l) for l in (Path(ws.jobs_dir) / st["id"] / "events.jsonl").read_text().splitlines()]
    assert any("no super-resolution model" in e.get("message", "") for e in events)
    del log


def test_landmarks_debug_and_export_masks(ws):
    folder = ws.aligned("src")
    res = step(ws, "add-landmarks-debug")
    assert res["written"] == 5 and len(list(Path(res["folder"]).glob("*_debug.jpg"))) == 5
    assert len(list_images(folder)) == 5  # debug images are not mistaken for faces
    st = jobs.run_inline(ws, "faceset", FacesetOptions(side="src", action="export-masks"))
    assert st["state"] == "failed" and "XSeg" in st["error"]
    from dfl_tui.faces.dflimg import write_meta

    p = folder / "00000_0.jpg"
    meta = read_meta(p)
    meta.seg_ie_polys = [{"type": 1, "pts": np.float32([[10, 10], [80, 10], [80, 80], [10, 80]])},
                         {"type": 0, "pts": np.float32([[30, 30], [50, 30], [50, 50], [30, 50]])}]
    write_meta(p, meta)
    res = step(ws, "export-masks")
    assert res["written"] == 1
    m = cv2.imread(str(folder / "masks" / "00000_0_mask.png"), cv2.IMREAD_GRAYSCALE)
    assert m[20, 20] == 255 and m[40, 40] == 0 and m[5, 5] == 0


def test_dedupe_groups_near_copies(ws):
    folder = ws.aligned("src")
    img, meta = load_face(folder / "00001_0.jpg")
    ff.save(folder, "00005_0.jpg", ff.blur(img, 0.6), meta)  # a near copy, less sharp
    res = step(ws, "dedupe")
    groups = json.loads((folder / "dupes.json").read_text())["groups"]
    assert ["00001_0.jpg", "00005_0.jpg"] in groups
    assert res["duplicates"] >= 1
    step(ws, "dedupe", dedupe="trash")
    assert not (folder / "00005_0.jpg").exists() and (folder / "00001_0.jpg").exists()
