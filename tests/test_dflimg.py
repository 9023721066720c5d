"""The aligned-face file format: DeepFaceLab-compatible, and safe to read."""

from __future__ import annotations

import os
import pickle
import struct

import cv2
import numpy as np
import pytest

from dfl_tui.faces import dflimg
from dfl_tui.faces.dflimg import FaceFileError, FaceMeta, UnsafeMetadataError
from dfl_tui.faces.facetype import FaceType
from dfl_tui.faces import landmarks as L
from faces_data import astronaut_bgr, template_landmarks


def _meta_and_face(size=128):
    lm = template_landmarks(center=(240, 150), height=110)
    face, mat, aligned = L.align_face(astronaut_bgr(), lm, size, FaceType.WHOLE_FACE)
    meta = FaceMeta(face_type="whole_face", landmarks=aligned, source_filename="00001.png",
                    source_rect=L.get_rect_from_landmarks(lm), source_landmarks=lm, image_to_face_mat=mat)
    return face, meta


@pytest.mark.parametrize("ext", [".jpg", ".png"])
def test_round_trip(tmp_path, ext):
    face, meta = _meta_and_face()
    meta.seg_ie_polys = [{"type": 1, "pts": np.float32([[1, 2], [30, 4], [20, 40]])},
                         {"type": 0, "pts": np.float32([[5, 5], [9, 5], [7, 9]])}]
    mask = np.zeros((64, 64), np.float32)
    mask[10:50, 12:40] = 1.0
    meta.set_xseg_mask(mask)
    p = tmp_path / f"00001_0{ext}"
    dflimg.save_face(p, face, meta, quality=95)
    img, back = dflimg.load_face(p)
    assert img.shape == face.shape
    assert back.face_type == "whole_face" and back.source_filename == "00001.png"
    assert np.allclose(back.landmarks, meta.landmarks, atol=1e-4)
    assert np.allclose(back.source_landmarks, meta.source_landmarks, atol=1e-4)
    assert np.allclose(back.image_to_face_mat, meta.image_to_face_mat)
    assert np.array_equal(back.source_rect, np.round(meta.source_rect))
    assert [p_["type"] for p_ in back.seg_ie_polys] == [1, 0]
    assert np.array_equal(back.seg_ie_polys[0]["pts"], meta.seg_ie_polys[0]["pts"])
    assert np.array_equal(back.get_xseg_mask() > 0.5, mask > 0.5)


def test_write_meta_keeps_pixels_byte_for_byte(tmp_path):
    face, meta = _meta_and_face()
    p = tmp_path / "a.jpg"
    dflimg.save_face(p, face, meta)
    before = cv2.imdecode(np.fromfile(str(p), np.uint8), cv2.IMREAD_UNCHANGED)
    meta.source_filename = "renamed.png"
    dflimg.write_meta(p, meta)
    after = cv2.imdecode(np.fromfile(str(p), np.uint8), cv2.IMREAD_UNCHANGED)
    assert np.array_equal(before, after)
    assert dflimg.read_meta(p).source_filename == "renamed.png"


def _independent_dfl_jpeg(d: dict, quality=90) -> bytes:
    """Build a DeepFaceLab-style file the way DeepFaceLab does, without our writer:
    standard pickle (protocol 3, numpy arrays) in one APP15 segment after the JFIF APP0."""
    ok, buf = cv2.imencode(".jpg", astronaut_bgr()[:64, :64], [cv2.IMWRITE_JPEG_QUALITY, quality])
    data = buf.tobytes()
    assert data[2:4] == b"\xff\xe0"
    app0_len = struct.unpack(">H", data[4:6])[0]
    cut = 4 + app0_len
    payload = pickle.dumps(d, protocol=3)
    seg = b"\xff\xef" + struct.pack(">H", len(payload) + 2) + payload
    return data[:cut] + seg + data[cut:]


def test_reads_a_file_written_the_deepfacelab_way(tmp_path):
    lm = template_landmarks(center=(32, 32), height=30)
    d = {"face_type": "full_face", "landmarks": lm.tolist(), "source_filename": "00042.png",
         "source_rect": np.array([1, 2, 60, 61]), "source_landmarks": lm.tolist(),
         "image_to_face_mat": np.eye(2, 3), "eyebrows_expand_mod": 1.0,
         "seg_ie_polys": [(1, np.float32([[0, 0], [10, 0], [10, 10]]))]}  # the older polygon layout
    p = tmp_path / "00042_0.jpg"
    p.write_bytes(_independent_dfl_jpeg(d))
    img, meta = dflimg.load_face(p)
    assert img.shape == (64, 64, 3)
    assert meta.face_type == "full_face" and meta.source_filename == "00042.png"
    assert meta.source_rect.tolist() == [1, 2, 60, 61]
    assert meta.seg_ie_polys[0]["type"] == 1 and meta.seg_ie_polys[0]["pts"].shape == (3, 2)


def test_our_pickle_loads_with_a_plain_unpickler_and_names_numpy_1_paths(tmp_path):
    """DeepFaceLab (numpy 1.x, plain pickle.loads) must be able to read what we write."""
    face, meta = _meta_and_face()
    p = tmp_path / "a.jpg"
    dflimg.save_face(p, face, meta)
    payload = dflimg.read_payload(p.read_bytes(), str(p))
    assert b"numpy._core" not in payload and b"numpy.core.multiarray" in payload
    d = pickle.loads(payload)  # a trusted file we just wrote: what DeepFaceLab itself does
    assert isinstance(d["image_to_face_mat"], np.ndarray) and d["image_to_face_mat"].shape == (2, 3)
    assert isinstance(d["source_rect"], np.ndarray) and d["source_rect"][[0, 2, 2, 0]].shape == (4,)
    assert isinstance(d["landmarks"], list) and len(d["landmarks"]) == 68
    # And the segment sits right after the last APPn, before the quantisation tables.
    data = p.read_bytes()
    assert data.index(b"\xff\xef") < data.index(b"\xff\xdb")


class _Boom:
    def __reduce__(self):
        return (os.system, ("touch /tmp/dfl_tui_pwned",))


def test_malicious_payload_is_refused_without_running(tmp_path):
    marker = "/tmp/dfl_tui_pwned"
    if os.path.exists(marker):
        os.unlink(marker)
    p = tmp_path / "evil_0.jpg"
    p.write_bytes(_independent_dfl_jpeg({"face_type": "whole_face", "landmarks": _Boom()}))
    with pytest.raises(UnsafeMetadataError) as info:
        dflimg.load_face(p)
    assert str(p) in str(info.value) and "posix.system" in str(info.value)
    assert not os.path.exists(marker)


def test_clear_errors_for_plain_images_and_corrupt_files(tmp_path):
    plain = tmp_path / "photo.jpg"
    cv2.imwrite(str(plain), astronaut_bgr()[:32, :32])
    with pytest.raises(FaceFileError, match="no face metadata"):
        dflimg.read_meta(plain)
    assert dflimg.try_read_meta(plain) is None
    junk = tmp_path / "junk.jpg"
    junk.write_bytes(b"this is not an image")
    with pytest.raises(FaceFileError, match="junk.jpg"):
        dflimg.load_face(junk)
    face, meta = _meta_and_face()
    good = tmp_path / "t.jpg"
    dflimg.save_face(good, face, meta)
    trunc = tmp_path / "trunc.jpg"
    trunc.write_bytes(good.read_bytes()[:300])
    with pytest.raises(FaceFileError, match="trunc.jpg"):
        dflimg.load_face(trunc)
    with pytest.raises(FaceFileError, match="missing.jpg"):
        dflimg.read_meta(tmp_path / "missing.jpg")


def test_oversized_metadata_is_a_clear_error_not_a_broken_file(tmp_path):
    face, meta = _meta_and_face()
    meta.seg_ie_polys = [{"type": 1, "pts": np.random.rand(9000, 2).astype(np.float32)}]
    with pytest.raises(FaceFileError, match="segment limit"):
        dflimg.save_face(tmp_path / "big.jpg", face, meta)
    assert not (tmp_path / "big.jpg").exists()
    dflimg.save_face(tmp_path / "big.png", face, meta)  # PNG chunks have no such limit
    back = dflimg.read_meta(tmp_path / "big.png")  # but reading thins labels past the point limit, saying so
    assert len(back.seg_ie_polys[0]["pts"]) <= dflimg.MAX_POLY_POINTS and "9000 points" in back.notes[0]


def test_large_xseg_mask_is_compressed_under_the_limit():
    meta = FaceMeta()
    noise = np.random.default_rng(0).random((256, 256)).astype(np.float32)
    meta.set_xseg_mask(noise)
    assert len(meta.xseg_mask_buf) <= dflimg.XSEG_MASK_MAX_BYTES
    assert meta.get_xseg_mask().shape == (256, 256)


def test_unknown_keys_survive_a_rewrite(tmp_path):
    face, meta = _meta_and_face()
    meta.extra["person_name"] = "hopper"
    p = tmp_path / "x.png"
    dflimg.save_face(p, face, meta)
    assert dflimg.read_meta(p).extra == {"person_name": "hopper"}
