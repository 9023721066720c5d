"""Hostile and malformed input (issue 12, items 3, 4, 5 and 8): every bad file gives an error naming
it, jobs skip it and go on, and nothing a file asks for takes unbounded memory or time."""

from __future__ import annotations

import json
import pickle
import struct
import tracemalloc
from pathlib import Path

import numpy as np
import pytest

import faceset_fixtures as ff
from dfl_tui import jobs
from dfl_tui.faces import dflimg
from dfl_tui.workspace import Workspace, list_images

SIZE = 64


@pytest.fixture(scope="module")
def base():
    frame, lm = ff.frames()["hopper"]
    return ff.make_face(frame, lm, SIZE)


def raw_dict(path: Path) -> dict:
    data = path.read_bytes()
    return dflimg.restricted_loads(dflimg.read_payload(data, str(path)))


def write_raw(path: Path, d: dict | None = None, payload: bytes | None = None) -> None:
    """Put a metadata dict (or raw pickle bytes) in a face as another tool might, bypassing our checks."""
    data = path.read_bytes()
    payload = payload if payload is not None else pickle.dumps(d, protocol=4)
    path.write_bytes(dflimg._with_payload(data, payload, str(path)))


def poison(path: Path, **changes) -> Path:
    d = raw_dict(path)
    d.update(changes)
    write_raw(path, d)
    return path


def faceset(folder: Path, base, n: int = 4, ext: str = ".jpg") -> list[Path]:
    face, meta = base
    return [ff.save(folder, f"{i:05d}_0{ext}", face, meta) for i in range(n)]


BAD_METADATA = {
    "strings": dict(landmarks=[["a", "b"]] * 68),
    "seven": dict(landmarks=np.arange(7, dtype=np.float32)),
    "nan": dict(landmarks=np.full((68, 2), np.nan, np.float32)),
    "matrix": dict(image_to_face_mat="identity"),
    "rect": dict(source_rect=[1, 2, 3]),
    "facetype": dict(face_type=["whole_face"]),
    "name": dict(source_filename=42),
    "eyebrows": dict(eyebrows_expand_mod=float("inf")),
}


# -- item 4: wrong-typed metadata is refused once, where it is read ------------------------------


@pytest.mark.parametrize("kind", sorted(BAD_METADATA))
def test_wrong_typed_metadata_is_an_error_naming_file_and_field(tmp_path, base, kind):
    p = poison(faceset(tmp_path, base, 1)[0], **BAD_METADATA[kind])
    with pytest.raises(dflimg.BadMetadataError) as err:
        dflimg.read_meta(p)
    field = next(iter(BAD_METADATA[kind]))
    assert str(p) in str(err.value) and f"'{field}'" in str(err.value)


def test_inspect_names_the_bad_file_and_goes_on(tmp_path, base, capsys):
    from dfl_tui import cli

    good, bad = faceset(tmp_path, base, 2)
    poison(bad, landmarks=[["a", "b"]] * 68)
    assert cli.main(["inspect", str(bad), str(good)]) == 1
    out, err = capsys.readouterr()
    assert f"error: {bad}: its metadata field 'landmarks' is not a list of numbers" in err
    assert "Traceback" not in err and str(good) in out


def test_xseg_apply_generic_skips_bad_faces_and_finishes(tmp_path, base):
    from dfl_tui.xseg.options import XSegOptions

    ws = Workspace.open(tmp_path / "ws").ensure()
    paths = faceset(ws.aligned("src"), base, 5)
    for p, kind in zip(paths, ("strings", "seven", "nan")):
        poison(p, **BAD_METADATA[kind])
    st = jobs.run_inline(ws, "xseg", XSegOptions(action="apply-generic", side="src"))
    assert st["state"] == "done", st.get("error")
    assert st["result"]["masked"] == 2 and st["result"]["skipped"] == 3
    events = "\n".join(str(e.get("message", "")) for e in jobs.find(ws, st["id"]).read_events()[0])
    for p in paths[:3]:
        assert str(p) in events
    assert all(dflimg.read_meta(p).xseg_mask_buf is not None for p in paths[3:])


def test_training_index_skips_bad_faces_naming_them(tmp_path, base):
    from dfl_tui.train.samples import load_faceset

    paths = faceset(tmp_path / "aligned", base, 4)
    poison(paths[0], **BAD_METADATA["nan"])
    poison(paths[1], **BAD_METADATA["seven"])
    warnings = []
    samples = load_faceset(tmp_path / "aligned", warn=warnings.append)
    assert len(samples) == 2
    # the whole path (src and dst folders are both "aligned"), once, and the field
    assert any(w.startswith(f"{paths[0]}: ") and "NaN" in w for w in warnings), warnings
    assert any(w.startswith(f"{paths[1]}: ") and "'landmarks'" in w and w.count(paths[1].name) == 1 for w in warnings)


@pytest.mark.parametrize("method", ["face-yaw", "face-source-rect-size", "origname"])
def test_sort_names_bad_faces_and_sorts_the_rest(tmp_path, base, method):
    from dfl_tui.faceset.options import SortOptions
    from dfl_tui.faceset.trash import Trash

    ws = Workspace.open(tmp_path / "ws").ensure()
    paths = faceset(ws.aligned("dst"), base, 4)
    poison(paths[0], **BAD_METADATA["strings"])
    # a list nested 5000 deep (more than Python's recursion allows a naive walk): pushed as 5000
    # empty lists, then 4999 APPENDs, then set under a key of the face's own dict
    head = pickle.dumps(raw_dict(paths[1]), protocol=2)[:-1]
    key = b"junk"
    write_raw(paths[1], payload=head + b"X" + struct.pack("<I", len(key)) + key + b"]" * 5000 + b"a" * 4999 + b"s.")
    st = jobs.run_inline(ws, "sort", SortOptions(side="dst", by=method))
    assert st["state"] == "done", st.get("error")
    events = "\n".join(str(e.get("message", "")) for e in jobs.find(ws, st["id"]).read_events()[0])
    assert str(paths[0]) in events and str(paths[1]) in events
    assert "recursion" not in events
    assert len(list_images(ws.aligned("dst"))) + Trash(ws.aligned("dst")).count() == 4


# -- a face with no metadata at all: its own error naming the file; jobs skip it and go on ----------


def _plain(path: Path, base) -> Path:
    """An image with no face metadata (a photo dropped into the set)."""
    import cv2

    cv2.imwrite(str(path), base[0])
    return path


def test_no_metadata_is_its_own_error_and_only_it_reads_as_none(tmp_path, base):
    from dfl_tui.faceset import features as F

    plain = _plain(tmp_path / "00009_0.jpg", base)
    with pytest.raises(dflimg.NoMetadataError) as err:
        dflimg.read_meta(plain)
    assert str(plain) in str(err.value) and "no face metadata" in str(err.value)
    assert dflimg.try_read_meta(plain) is None
    assert F.try_meta(plain.read_bytes(), str(plain)) is None
    # bad metadata is not "no metadata": the tolerant readers still raise, naming the file and field
    bad = poison(faceset(tmp_path, base, 1)[0], **BAD_METADATA["strings"])
    for read in (lambda: dflimg.try_read_meta(bad), lambda: F.try_meta(bad.read_bytes(), str(bad))):
        with pytest.raises(dflimg.BadMetadataError, match="'landmarks'"):
            read()


def _messages(ws, st) -> str:
    return "\n".join(str(e.get("message", "")) for e in jobs.find(ws, st["id"]).read_events()[0])


def test_sort_names_a_face_without_metadata_apart_from_one_with_bad_metadata(tmp_path, base):
    from dfl_tui.faceset.options import SortOptions

    ws = Workspace.open(tmp_path / "ws").ensure()
    paths = faceset(ws.aligned("dst"), base, 3)
    plain = _plain(ws.aligned("dst") / "00009_0.jpg", base)
    poison(paths[0], **BAD_METADATA["strings"])
    st = jobs.run_inline(ws, "sort", SortOptions(side="dst", by="face-yaw"))
    assert st["state"] == "done", st.get("error")
    lines = _messages(ws, st).splitlines()
    assert any(str(plain) in m and "no face metadata" in m for m in lines)
    assert any(str(paths[0]) in m and "'landmarks'" in m for m in lines)
    assert not any(str(paths[0]) in m and "no metadata" in m for m in lines)


@pytest.mark.parametrize("action", ["metadata-save", "masks-export", "recover-names"])
def test_faceset_tools_name_faces_without_or_with_bad_metadata_and_go_on(tmp_path, base, action):
    from dfl_tui.faceset import masks_export, metadata, names
    from dfl_tui.jobs.context import Reporter

    folder = tmp_path / "aligned"
    paths = faceset(folder, base, 3)
    poison(paths[0], **BAD_METADATA["seven"])
    plain = _plain(folder / "00009_0.jpg", base)
    d = raw_dict(paths[1])
    d["seg_ie_polys"] = {"polys": [{"type": 1, "pts": np.array([[1, 1], [40, 2], [20, 40]], np.float32)}]}
    write_raw(paths[1], d)
    warnings: list[str] = []

    class Rec(Reporter):
        def warn(self, msg):
            warnings.append(str(msg))

    everything = sorted(list_images(folder))
    if action == "metadata-save":
        metadata.save_metadata(folder, everything, Rec())
        assert (folder / metadata.SIDECAR).exists()
    elif action == "masks-export":
        assert masks_export.export_masks(folder, everything, Rec())["written"] == 1
    else:
        names.recover_names(folder, everything, Rec())
    assert any(str(paths[0]) in w and "'landmarks'" in w for w in warnings), warnings
    assert len(list_images(folder)) == len(everything) and dflimg.try_read_meta(plain) is None  # nothing lost


def test_extract_continue_check_reads_past_a_bad_last_face(tmp_path, base):
    """Continuing a faceset DeepFaceLab made checks its face type on the last face that reads."""
    import shutil

    from dfl_tui.errors import DflError
    from dfl_tui.faces import extract_state
    from dfl_tui.faces.options import ExtractFacesOptions

    aligned = tmp_path / "aligned"
    first = faceset(aligned, base, 1)[0]
    n = extract_state.CONTINUE_BACK + 2
    for i in range(1, n):
        shutil.copyfile(first, aligned / f"{i:05d}_0.jpg")
    poison(aligned / f"{n - 1:05d}_0.jpg", **BAD_METADATA["strings"])
    frames = [tmp_path / f"{i:05d}.png" for i in range(n + 5)]
    with pytest.raises(DflError, match="whole_face faces, not head"):
        extract_state.plan_run(frames, aligned, ExtractFacesOptions(face_type="head"))
    plan = extract_state.plan_run(frames, aligned, ExtractFacesOptions(face_type="whole"))
    assert plan.todo


# -- item 8: the restricted reader bounds what a pickle may allocate -----------------------------


def _pickle_bytearray(n: int) -> bytes:
    return (b"\x80\x02cbuiltins\nbytearray\nJ" + struct.pack("<i", n) + b"\x85R.")


def test_a_2gb_bytearray_is_refused_before_it_is_allocated(tmp_path, base):
    p = faceset(tmp_path, base, 1)[0]
    write_raw(p, payload=b"\x80\x02}q\x00X\x04\x00\x00\x00junkq\x01" + _pickle_bytearray(2_000_000_000)[2:-1] + b"s.")
    tracemalloc.start()
    try:
        with pytest.raises(dflimg.UnsafeMetadataError) as err:
            dflimg.read_meta(p)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert str(p) in str(err.value) and "2000000000-byte bytearray" in str(err.value)
    assert peak < 50 << 20


@pytest.mark.parametrize("payload,why", [
    # numpy.ndarray((50000, 50000)) called directly: 20 GB
    (b"\x80\x02cnumpy\nndarray\nJ\x50\xc3\x00\x00J\x50\xc3\x00\x00\x86\x85R.", "other than from its pickled data"),
    # an object array (numpy's own __setstate__ crashes the process on a short list)
    (pickle.dumps(np.array([1, 2], dtype=object), protocol=2), "refused"),
    # a void dtype turned into an object dtype by its state
    (b"\x80\x02cnumpy\ndtype\nX\x02\x00\x00\x00V8\x89\x88\x87R(K\x03X\x01\x00\x00\x00|NNNK\x08K\x01K=tb.",
     "refused"),
])
def test_hostile_numpy_pickles_are_refused(tmp_path, base, payload, why):
    p = faceset(tmp_path, base, 1)[0]
    write_raw(p, payload=payload)
    with pytest.raises(dflimg.UnsafeMetadataError) as err:
        dflimg.read_meta(p)
    assert str(p) in str(err.value) and why in str(err.value)


def test_real_metadata_still_round_trips_through_the_checked_reader(tmp_path, base):
    p = faceset(tmp_path, base, 1)[0]
    d = raw_dict(p)
    assert isinstance(d["image_to_face_mat"], np.ndarray) and d["image_to_face_mat"].shape == (2, 3)
    assert isinstance(d["source_rect"], np.ndarray) and d["source_rect"].dtype == np.int64
    meta = dflimg.read_meta(p)
    np.testing.assert_allclose(meta.landmarks, base[1].landmarks, atol=1e-4)


def _png_header(w: int, h: int) -> bytes:
    import zlib

    ihdr = struct.pack(">IIBBBBB", w, h, 8, 2, 0, 0, 0)
    chunk = lambda t, d: struct.pack(">I", len(d)) + t + d + struct.pack(">I", zlib.crc32(t + d) & 0xFFFFFFFF)  # noqa: E731
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(b"\x00" * 64)) + chunk(b"IEND", b"")


def test_a_20000_pixel_frame_is_refused_from_its_header(tmp_path, monkeypatch):
    import cv2

    from dfl_tui.faces import extract
    from dfl_tui.util import imagesize

    big = tmp_path / "00001.png"
    big.write_bytes(_png_header(20000, 20000))
    decoded = []
    monkeypatch.setattr(cv2, "imdecode", lambda *a, **k: decoded.append(1))
    assert extract.read_frame(big) is None and not decoded
    why = imagesize.size_problem(big)
    assert str(big) in why and "20000x20000" in why and "MP" in why


def test_merge_reports_an_oversized_frame_and_goes_on(tmp_path):
    from dfl_tui.util import imagesize

    big = tmp_path / "00001.png"
    big.write_bytes(_png_header(20000, 20000))
    small = tmp_path / "00002.png"
    small.write_bytes(_png_header(64, 64))
    assert imagesize.size_problem(small) is None
    assert "over the" in imagesize.size_problem(big)


# -- item 3: absurd XSeg labels are bounded, every long loop can be stopped -----------------------


def _labelled(path: Path, pts: np.ndarray) -> Path:
    d = raw_dict(path)
    d["seg_ie_polys"] = {"polys": [{"type": 1, "pts": pts}]}
    write_raw(path, d)
    return path


def test_a_100000_point_label_is_thinned_with_a_note_naming_the_face(tmp_path, base):
    p = faceset(tmp_path, base, 1, ".png")[0]  # labels this big only fit in a PNG face
    rng = np.random.default_rng(0)
    _labelled(p, rng.uniform(0, SIZE, (100_000, 2)).astype(np.float32))
    meta = dflimg.read_meta(p)
    assert len(meta.seg_ie_polys[0]["pts"]) <= dflimg.MAX_POLY_POINTS
    assert meta.notes and str(p) in meta.notes[0] and "100000 points" in meta.notes[0]


@pytest.mark.parametrize("bad", ["nan", "inf", "huge"])
def test_non_finite_or_absurd_label_points_are_set_aside_and_kept_in_the_file(tmp_path, base, bad):
    p = faceset(tmp_path, base, 1)[0]
    pts = np.array([[1, 1], [30, 2], [20, 40]], np.float32)
    pts[1, 0] = {"nan": np.nan, "inf": np.inf, "huge": 1e9}[bad]
    _labelled(p, pts)
    meta = dflimg.read_meta(p)
    assert meta.seg_ie_polys is None and not meta.has_polys()
    assert str(p) in meta.notes[0] and "not used" in meta.notes[0]
    dflimg.write_meta(p, meta)  # a rewrite (say, a mask applied) keeps the labels as they were
    kept = raw_dict(p)["seg_ie_polys"]["polys"][0]["pts"]
    assert kept.shape == (3, 2) and (np.isnan(kept[1, 0]) if bad == "nan" else kept[1, 0] == pts[1, 0])


def test_xseg_export_masks_on_absurd_labels_is_quick_names_the_face_and_can_be_cancelled(tmp_path, base):
    from dfl_tui.jobs.context import Reporter
    from dfl_tui.xseg.options import XSegOptions

    ws = Workspace.open(tmp_path / "ws").ensure()
    paths = faceset(ws.aligned("src"), base, 3, ".png")
    rng = np.random.default_rng(1)
    for p in paths:
        _labelled(p, rng.uniform(0, SIZE, (100_000, 2)).astype(np.float32))
    st = jobs.run_inline(ws, "xseg", XSegOptions(action="export-masks", side="src"))
    assert st["state"] == "done", st.get("error")
    assert st["result"]["written"] == 3
    events = "\n".join(str(e.get("message", "")) for e in jobs.find(ws, st["id"]).read_events()[0])
    assert all(str(p) in events for p in paths) and "thinned" in events

    stop = Reporter(ws)
    stop.request_stop("test")
    st = jobs.run_inline(ws, "xseg", XSegOptions(action="export-masks", side="src"), reporter=stop)
    assert st["state"] == "cancelled"


# -- item 5: malformed pack headers, meta.dat and metadata.json name the file -------------------


def _dflpack(folder: Path, header: object) -> Path:
    from dfl_tui.faceset import pack

    h = json.dumps(header).encode()
    p = folder / pack.PACK_NAME
    p.write_bytes(pack.MAGIC + struct.pack("<IQ", pack.VERSION, len(h)) + h + b"\0" * 64)
    return p


@pytest.mark.parametrize("header", [
    [1, 2],
    {"files": {"a": 1}},
    {"files": [{"name": "a.jpg", "size": 3}]},
    {"files": [{"name": "a.jpg", "offset": "0", "size": 3}]},
    {"files": [{"name": "a.jpg", "offset": 0, "size": 3, "crc32": 12}]},
    {"files": [{"name": 7, "offset": 0, "size": 3}]},
    {"files": ["a.jpg"]},
])
def test_malformed_pack_header_names_the_file(tmp_path, header):
    from dfl_tui.errors import InputError
    from dfl_tui.faceset import pack

    p = _dflpack(tmp_path, header)
    with pytest.raises(InputError) as err:
        pack.unpack_folder(tmp_path)
    assert str(p) in str(err.value) and "corrupt" in str(err.value)
    assert p.exists() and not list_images(tmp_path)


@pytest.mark.parametrize("doc", [[1], {"files": [1]}, {"version": 1}])
def test_malformed_metadata_json_names_the_file(tmp_path, base, doc):
    from dfl_tui.errors import InputError
    from dfl_tui.faceset.metadata import restore_metadata

    faceset(tmp_path, base, 1)
    side = tmp_path / "metadata.json"
    side.write_text(json.dumps(doc))
    with pytest.raises(InputError) as err:
        restore_metadata(tmp_path)
    assert str(side) in str(err.value)


def test_malformed_metadata_json_entries_are_named_and_skipped(tmp_path, base):
    from dfl_tui.faceset.metadata import restore_metadata, save_metadata

    paths = faceset(tmp_path, base, 3)
    side = save_metadata(tmp_path, paths)
    doc = json.loads(side.read_text())
    names = sorted(doc["files"])
    doc["files"][names[0]]["shape"] = "big"
    doc["files"][names[1]]["meta"]["landmarks"] = {"__ndarray__": [1, 2, 3], "dtype": "float32", "shape": [3]}
    side.write_text(json.dumps(doc))

    class Rec:
        def __init__(self):
            self.warnings = []

        def __getattr__(self, name):
            return lambda *a, **k: None

        def warn(self, msg):
            self.warnings.append(msg)

        cancelled = False

    rec = Rec()
    res = restore_metadata(tmp_path, rec)
    assert res["restored"] == 1
    assert any(str(side) in w and names[0] in w for w in rec.warnings)
    assert any(names[1] in w and "'landmarks'" in w for w in rec.warnings)


@pytest.mark.parametrize("obj", [[1, 2], {"a.jpg": 5}, {"a.jpg": ((64, 64, 3),)}, {"a.jpg": ("x", {})}])
def test_malformed_meta_dat_names_the_file(tmp_path, base, obj):
    from dfl_tui.errors import InputError
    from dfl_tui.faceset.metadata import load_saved

    dat = tmp_path / "meta.dat"
    dat.write_bytes(pickle.dumps(obj))
    warnings = []
    try:
        out = load_saved(tmp_path, warnings.append)
    except InputError as exc:
        assert str(dat) in str(exc)
    else:
        assert out == {} and warnings and str(dat) in warnings[0]
