"""faceset.pak as DeepFaceLab writes it: read back by an independent reader written from DFL's format description
(samplelib/PackedFaceset.py: Q version, Q len, pickle of sample configs, N+1 Q offsets, files; enums pickled by
class name), the default when nothing is lost; PNG faces fall back to our pack and convert to JPEG with metadata."""

from __future__ import annotations

import enum
import io
import pickle
import struct
from pathlib import Path

import numpy as np

from dfl_tui import cli
from dfl_tui.faces.dflimg import read_meta
from dfl_tui.workspace import Workspace
from train_fixtures import make_faceset


class SampleType(enum.IntEnum):  # samplelib.Sample.SampleType as DeepFaceLab defines it
    IMAGE = 0
    FACE = 1
    FACE_PERSON = 2
    FACE_TEMPORAL_SORTED = 3


class FaceType(enum.IntEnum):  # facelib.FaceType.FaceType
    HALF = 0
    MID_FULL = 1
    FULL = 2
    FULL_NO_ALIGN = 3
    WHOLE_FACE = 4
    HEAD = 10
    HEAD_NO_ALIGN = 20
    MARK_ONLY = 100


class DflLikeUnpickler(pickle.Unpickler):
    """What DeepFaceLab's pickle.loads would resolve: its two enums, numpy, builtins."""

    def find_class(self, module, name):
        if (module, name) == ("samplelib.Sample", "SampleType"):
            return SampleType
        if (module, name) == ("facelib.FaceType", "FaceType"):
            return FaceType
        assert module.split(".")[0] in ("numpy", "builtins", "_codecs", "copyreg"), (module, name)
        return super().find_class(module, name)


def read_pak_independently(path: Path) -> list[tuple[dict, bytes]]:
    with open(path, "rb") as f:
        version, = struct.unpack("Q", f.read(8))
        assert version == 1
        n_bytes, = struct.unpack("Q", f.read(8))
        configs = DflLikeUnpickler(io.BytesIO(f.read(n_bytes))).load()
        offsets = [struct.unpack("Q", f.read(8))[0] for _ in range(len(configs) + 1)]
        data_start = f.tell()
        out = []
        for i, c in enumerate(configs):
            f.seek(data_start + offsets[i])
            out.append((c, f.read(offsets[i + 1] - offsets[i])))  # the last read stops at EOF (DFL's quirk)
    return out


def test_pack_writes_deepfacelabs_pak_by_default_and_reads_it_back(tmp_path):
    ws = Workspace(tmp_path / "ws")
    aligned = ws.root / "data_src" / "aligned"
    faces = make_faceset(aligned, "hopper", n=3, size=64, xseg=True)
    originals = {p.name: p.read_bytes() for p in faces}
    assert cli.main(["-w", str(ws.root), "faceset", "src", "pack"]) == 0
    pak = aligned / "faceset.pak"
    assert pak.exists() and not (aligned / "faceset.dflpack").exists()
    got = read_pak_independently(pak)
    assert [c["filename"] for c, _ in got] == sorted(originals)
    for c, data in got:
        assert data == originals[c["filename"]]
        assert c["sample_type"] is SampleType.FACE and c["face_type"] is FaceType.WHOLE_FACE
        assert tuple(c["shape"]) == (64, 64, 3)
        assert isinstance(c["landmarks"], list) and np.asarray(c["landmarks"]).shape == (68, 2)
        assert c["seg_ie_polys"] == {"polys": []}
        assert c["xseg_mask"] is None and isinstance(c["xseg_mask_compressed"], np.ndarray)
        assert c["eyebrows_expand_mod"] == 1.0 and c["person_name"] is None
        assert c["source_filename"].endswith(".png")
    assert set(got[0][0]) == {"sample_type", "filename", "face_type", "shape", "landmarks", "seg_ie_polys",
                              "xseg_mask", "xseg_mask_compressed", "eyebrows_expand_mod", "source_filename",
                              "person_name"}
    # and we read it back ourselves (unpack), byte for byte
    assert cli.main(["-w", str(ws.root), "faceset", "src", "unpack"]) == 0
    assert {p.name: p.read_bytes() for p in aligned.glob("*.jpg")} == originals


def test_png_faces_pack_as_dflpack_and_convert_to_jpeg_with_metadata(tmp_path, capsys):
    ws = Workspace(tmp_path / "ws")
    aligned = ws.root / "data_src" / "aligned"
    faces = make_faceset(aligned, "hopper", n=2, size=64, ext=".png")
    metas = {p.stem: read_meta(p) for p in faces}
    assert cli.main(["-w", str(ws.root), "faceset", "src", "pack", "--format", "dfl"]) != 0
    assert not (aligned / "faceset.pak").exists()
    assert cli.main(["-w", str(ws.root), "faceset", "src", "convert", "--to", "jpg"]) == 0
    jpgs = sorted(aligned.glob("*.jpg"))
    assert [p.stem for p in jpgs] == sorted(metas) and not list(aligned.glob("*.png"))
    for p in jpgs:
        m, o = read_meta(p), metas[p.stem]
        assert np.allclose(m.landmarks, o.landmarks) and m.source_filename == o.source_filename
        assert m.face_type == o.face_type and np.allclose(m.image_to_face_mat, o.image_to_face_mat)
    assert cli.main(["-w", str(ws.root), "faceset", "src", "undo"]) == 0
    assert sorted(p.suffix for p in aligned.iterdir() if p.is_file()) == [".png", ".png"]
    assert cli.main(["-w", str(ws.root), "faceset", "src", "pack"]) == 0  # auto: PNGs -> our own pack
    assert (aligned / "faceset.dflpack").exists() and not (aligned / "faceset.pak").exists()
