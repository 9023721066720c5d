"""Training samples from real aligned faces: index, face-type conversion, masks, sources, uniform yaw, packed sets."""

from __future__ import annotations

import pickle
import random
import struct

import cv2
import numpy as np
import pytest

from dfl_tui.errors import InputError
from dfl_tui.faces import dflimg
from dfl_tui.faces import landmarks as L
from dfl_tui.faces.facetype import FaceType
from dfl_tui.train.samples import (FaceCache, FaceSource, IndexHost, YawIndexHost, load_faceset, load_prepared,
                                   prepare_face)
from faces_data import astronaut_bgr, template_landmarks
from train_fixtures import FACES, make_faceset


def test_index_reads_metadata_and_skips_broken_files(tmp_path):
    folder = tmp_path / "aligned"
    make_faceset(folder, "astronaut", n=4, size=64, face_type="whole_face")
    (folder / "99999_0.jpg").write_bytes(b"not a jpeg at all")
    plain = folder / "88888_0.jpg"
    cv2.imwrite(str(plain), astronaut_bgr()[:64, :64])  # an image without DFL metadata
    warnings: list[str] = []
    samples = load_faceset(folder, warn=warnings.append)
    assert len(samples) == 4
    assert {s.face_type for s in samples} == {FaceType.WHOLE_FACE}
    assert all(s.size == 64 and s.landmarks.shape == (68, 2) for s in samples)
    assert all(abs(s.yaw) < 0.3 for s in samples)  # frontal faces
    assert len(warnings) == 2 and any("99999_0.jpg" in w for w in warnings) and any("88888_0.jpg" in w for w in warnings)
    with pytest.raises(InputError, match="no aligned faces"):
        load_faceset(tmp_path / "empty")


def test_face_type_conversion_matches_aligning_the_frame(tmp_path):
    """A whole-face crop re-cut to a full-face model crop equals aligning the frame at full face directly."""
    folder = tmp_path / "aligned"
    make_faceset(folder, "astronaut", n=1, size=256, face_type="whole_face")
    samples = load_faceset(folder)
    face = load_prepared(samples[0], 96, FaceType.FULL)
    get, center, height = FACES["astronaut"]
    direct, _mat, lm96 = L.align_face(get(), template_landmarks(center=center, height=height), 96, "full_face")
    diff = np.abs(face.image.astype(np.float32) - direct.astype(np.float32))
    assert face.image.shape == (96, 96, 3)
    assert diff[8:-8, 8:-8].mean() < 6.0  # same crop; small resampling differences (JPEG, two warps)
    # The full-face mask is the landmark hull, placed where the full-face landmarks say.
    hull = L.get_image_hull_mask((96, 96), lm96)[..., 0]
    iou = ((face.mask > 127) & (hull > 0.5)).sum() / ((face.mask > 127) | (hull > 0.5)).sum()
    assert iou > 0.9
    # Same face type: a plain resize.
    same = load_prepared(samples[0], 128, FaceType.WHOLE_FACE)
    img, _ = dflimg.load_face(samples[0].path)
    assert np.abs(same.image.astype(int) - cv2.resize(img, (128, 128), interpolation=cv2.INTER_CUBIC)).max() <= 1


def test_xseg_mask_is_used_when_present_and_eyes_mouth_inside_it(tmp_path):
    folder = tmp_path / "aligned"
    make_faceset(folder, "hopper", n=1, size=96, face_type="whole_face", xseg=True)
    s = load_faceset(folder)[0]
    assert s.has_xseg
    img, meta = dflimg.load_face(s.path)
    face = prepare_face(img, meta, 96, FaceType.WHOLE_FACE)
    ellipse = np.zeros((96, 96), np.float32)
    cv2.ellipse(ellipse, (48, 48), (32, 40), 0, 0, 360, 1.0, -1)
    hull = L.get_image_hull_mask((96, 96), meta.landmarks)[..., 0]
    xseg_iou = ((face.mask > 127) & (ellipse > 0.5)).sum() / ((face.mask > 127) | (ellipse > 0.5)).sum()
    hull_iou = ((face.mask > 127) & (hull > 0.5)).sum() / ((face.mask > 127) | (hull > 0.5)).sum()
    assert xseg_iou > 0.95 and hull_iou < xseg_iou - 0.05
    # eyes+mouth: non-empty, only where the full mask is on, around the eyes and the mouth.
    em = face.em_mask.astype(np.float32) / 255
    assert em.max() > 0.9 and (em[face.mask == 0] == 0).all()
    ys, _xs = np.nonzero(em > 0.5)
    eye_y, mouth_y = meta.landmarks[36:48, 1].mean(), meta.landmarks[48:68, 1].mean()
    assert ys.min() < eye_y + 6 and ys.max() > mouth_y - 6


def test_face_source_batches_cache_and_damaged_files(tmp_path):
    folder = tmp_path / "aligned"
    paths = make_faceset(folder, "astronaut", n=5, size=64)
    warnings: list[str] = []
    src = FaceSource(load_faceset(folder), 48, FaceType.FULL, 3, seed=1, cache_bytes=1 << 20, warn=warnings.append,
                     label="src")
    try:
        b = src.next(timeout=30)
        assert b.images.shape == (3, 48, 48, 3) and b.images.dtype == np.uint8
        assert b.masks.shape == (3, 48, 48) and b.em_masks.shape == (3, 48, 48)
        seen = set(b.indexes)
        for _ in range(4):
            seen |= set(src.next(timeout=30).indexes)
        assert seen == set(range(5))  # every face comes up: shuffle without replacement per epoch
        assert src.cache.hits > 0 and len(src.cache) == 5
    finally:
        src.close()
    # A face damaged while training is reported once and replaced by another.
    samples = load_faceset(folder)
    paths[2].write_bytes(paths[2].read_bytes()[:200])
    src2 = FaceSource(samples, 48, FaceType.FULL, 5, seed=2, cache_bytes=0, warn=warnings.append, label="src")
    try:
        b = src2.make_batch(list(range(5)))
        assert 2 not in b.indexes and len(b.indexes) == 5
        assert any("00002_0.jpg" in w for w in warnings)
    finally:
        src2.close()


def test_cache_is_bounded_by_bytes():
    from dfl_tui.train.samples import PreparedFace

    cache = FaceCache(3 * (32 * 32 * 5))
    for i in range(10):
        cache.put(i, PreparedFace(np.zeros((32, 32, 3), np.uint8), np.zeros((32, 32), np.uint8),
                                  np.zeros((32, 32), np.uint8)))
    assert len(cache) == 3 and cache.nbytes <= cache.max_bytes
    assert cache.get(9) is not None and cache.get(0) is None


def test_uniform_yaw_balances_bins():
    # 90 frontal faces and 10 profiles: uniform yaw serves both bins equally.
    yaws = [0.0] * 90 + [1.0] * 10
    host = YawIndexHost(yaws, random.Random(0))
    picks = [host.next() for _ in range(2000)]
    profiles = sum(1 for i in picks if i >= 90)
    assert 900 <= profiles <= 1100
    plain = IndexHost(100, random.Random(0))
    picks = [plain.next() for _ in range(2000)]
    assert 150 <= sum(1 for i in picks if i >= 90) <= 250


def _write_pak(folder, files):
    """A DeepFaceLab faceset.pak (§3.3): version, pickled configs, offsets, concatenated files."""
    configs = [{"filename": p.name, "face_type": 4, "shape": (64, 64, 3)} for p in files]
    blob = pickle.dumps(configs, protocol=4)
    datas = [p.read_bytes() for p in files]
    offsets, pos = [], 0
    for d in datas:
        offsets.append(pos)
        pos += len(d)
    header = struct.pack("QQ", 1, len(blob)) + blob
    offsets.append(len(header) + 8 * (len(files) + 1) + pos)  # DFL's quirk: an absolute last offset
    with open(folder / "faceset.pak", "wb") as fh:
        fh.write(header)
        fh.write(struct.pack(f"{len(offsets)}Q", *offsets))
        for d in datas:
            fh.write(d)


def test_packed_faceset_is_read(tmp_path):
    loose = tmp_path / "loose"
    files = make_faceset(loose, "hopper", n=3, size=64)
    packed = tmp_path / "packed"
    packed.mkdir()
    _write_pak(packed, files)
    samples = load_faceset(packed)
    assert [s.name for s in samples] == [p.name for p in files]
    for s, p in zip(samples, files):
        a = load_prepared(s, 64, FaceType.WHOLE_FACE)
        b = load_prepared(load_faceset(loose)[files.index(p)], 64, FaceType.WHOLE_FACE)
        assert np.array_equal(a.image, b.image) and np.array_equal(a.mask, b.mask)


@pytest.mark.parametrize("fmt,name", [("dflpack", "faceset.dflpack"), ("auto", "faceset.pak")])
def test_faceset_packed_by_dfl_tui_is_read(tmp_path, fmt, name):
    """`dfl-tui faceset src pack` writes faceset.pak (DFL's) or faceset.dflpack; training reads either like loose files."""
    from dfl_tui.faceset.pack import pack_folder

    loose = tmp_path / "loose"
    files = make_faceset(loose, "hopper", n=3, size=64)
    before = {s.name: load_prepared(s, 64, FaceType.WHOLE_FACE) for s in load_faceset(loose)}
    packed = tmp_path / "packed"
    packed.mkdir()
    for p in files:
        (packed / p.name).write_bytes(p.read_bytes())
    pack_folder(packed, fmt=fmt)
    assert (packed / name).is_file() and not list(packed.glob("*.jpg"))
    samples = load_faceset(packed)
    assert sorted(s.name for s in samples) == sorted(before)
    for s in samples:
        a = load_prepared(s, 64, FaceType.WHOLE_FACE)
        assert np.array_equal(a.image, before[s.name].image) and np.array_equal(a.mask, before[s.name].mask)


def test_face_source_decodes_in_worker_processes_the_same_faces(tmp_path):
    """processes=1: faces decoded in a spawned loader process equal those decoded in a thread."""
    folder = tmp_path / "aligned"
    make_faceset(folder, "astronaut", n=4, size=64)
    samples = load_faceset(folder)
    threads = FaceSource(samples, 48, FaceType.FULL, 4, seed=3, cache_bytes=0, label="src")
    procs = FaceSource(samples, 48, FaceType.FULL, 4, seed=3, cache_bytes=0, label="src", processes=1)
    try:
        a, b = threads.make_batch([0, 1, 2, 3]), procs.make_batch([0, 1, 2, 3])
        for x, y in ((a.images, b.images), (a.masks, b.masks), (a.em_masks, b.em_masks)):
            np.testing.assert_array_equal(x, y)
        assert procs._procs is not None and procs.next(timeout=60).images.shape == (4, 48, 48, 3)
    finally:
        threads.close()
        procs.close()
