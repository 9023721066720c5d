"""Write DeepFaceLab's ``faceset.pak`` (``samplelib/PackedFaceset.py``) without importing DeepFaceLab.

Layout (native-endian ``Q`` = little-endian uint64 on every machine DFL runs on)::

    Q version = 1 | Q len(P) | P = pickle (protocol 4) of a list of sample configs
    | (N + 1) x Q offsets | the face files, byte for byte

Offsets are relative to the start of the file data; DFL writes the last one as an absolute
file position (a quirk its reader survives because it reads to the end of the file), and so do
we, so the file is byte-compatible with DFL's own. Each sample config is the dict DFL's
``Sample.get_config()`` returns: ``sample_type`` (``samplelib.Sample.SampleType.FACE``),
``filename``, ``face_type`` (``facelib.FaceType.FaceType``), ``shape`` (h, w, c), ``landmarks``
(list), ``seg_ie_polys`` (``{'polys': [{'type', 'pts'}]}``), ``xseg_mask`` (None),
``xseg_mask_compressed`` (the face's encoded mask), ``eyebrows_expand_mod``,
``source_filename``, ``person_name``. The two enums are written by class name with their int
value (``GLOBAL`` + ``REDUCE``), which is how pickle stores an ``IntEnum``; our own reader maps
them back to ints, DeepFaceLab's to its enums.
"""

from __future__ import annotations

import io
import pickle
import struct
from pathlib import Path
from typing import Any

import numpy as np

from ..faces.dflimg import _check_plain, _CompatPickler


class DflEnum(int):
    """An IntEnum member of DeepFaceLab's, pickled by its class name (we never import DFL)."""

    module: str = ""
    qualname: str = ""

    def __new__(cls, value: int, module: str, qualname: str) -> "DflEnum":
        obj = super().__new__(cls, value)
        obj.module, obj.qualname = module, qualname
        return obj


def sample_type_face() -> DflEnum:
    return DflEnum(1, "samplelib.Sample", "SampleType")  # SampleType.FACE


def face_type_enum(value: int) -> DflEnum:
    return DflEnum(int(value), "facelib.FaceType", "FaceType")


class _PakPickler(_CompatPickler):
    def save(self, obj: Any, save_persistent_id: bool = True) -> None:  # type: ignore[override]
        if isinstance(obj, DflEnum):
            self.save(obj.module)
            self.save(obj.qualname)
            self.write(pickle.STACK_GLOBAL)
            self.save((int(obj),))
            self.write(pickle.REDUCE)
            return
        super().save(obj, save_persistent_id)


def pak_dumps(configs: list[dict[str, Any]]) -> bytes:
    """Pickle sample configs as DeepFaceLab does (protocol 4), refusing anything but plain data and the enums."""
    for c in configs:
        _check_plain({k: (int(v) if isinstance(v, DflEnum) else v) for k, v in c.items()}, "sample")
    buf = io.BytesIO()
    _PakPickler(buf, protocol=4).dump(configs)
    return buf.getvalue()


def sample_config(path: Path, data: bytes, person: str | None) -> dict[str, Any]:
    """DeepFaceLab's sample config of one JPEG face (its bytes ``data``)."""
    from PIL import Image

    from ..faces.dflimg import FaceFileError, meta_from_bytes
    from ..faces.facetype import FaceType

    meta = meta_from_bytes(data, str(path))
    if meta.landmarks is None or meta.face_type is None:
        raise FaceFileError(f"{path}: no face type or landmarks in its metadata; DeepFaceLab would skip it")
    try:
        with Image.open(io.BytesIO(data)) as im:
            w, h = im.size
            c = len(im.getbands())
    except Exception as exc:  # noqa: BLE001 - PIL raises many kinds
        raise FaceFileError(f"{path}: not a readable image ({exc})") from None
    polys = {"polys": [{"type": int(p["type"]), "pts": np.asarray(p["pts"], np.float32).reshape(-1, 2)}
                       for p in (meta.seg_ie_polys or [])]}
    return {
        "sample_type": sample_type_face(),
        "filename": path.name,
        "face_type": face_type_enum(FaceType.from_string(meta.face_type)),
        "shape": (h, w, c),
        "landmarks": np.asarray(meta.landmarks, np.float32).reshape(-1, 2).tolist(),
        "seg_ie_polys": polys,
        "xseg_mask": None,
        "xseg_mask_compressed": (np.frombuffer(meta.xseg_mask_buf, np.uint8).copy()
                                 if meta.xseg_mask_buf is not None else None),
        "eyebrows_expand_mod": float(meta.eyebrows_expand_mod if meta.eyebrows_expand_mod is not None else 1.0),
        "source_filename": meta.source_filename,
        "person_name": person,
    }


def write_pak(fh: Any, items: list[tuple[Path, str | None]], progress: Any = None) -> int:
    """Write a faceset.pak of ``items`` (path, person) to the open binary file ``fh``; returns the face count."""
    datas = []
    configs = []
    for i, (p, person) in enumerate(items):
        data = p.read_bytes()
        configs.append(sample_config(p, data, person))
        datas.append(len(data))
        if progress is not None and i % 64 == 0:
            progress(i + 1, 2 * len(items))
    blob = pak_dumps(configs)
    fh.write(struct.pack("<QQ", 1, len(blob)))
    fh.write(blob)
    table_pos = fh.tell()
    fh.write(bytes(8 * (len(items) + 1)))
    data_start = fh.tell()
    offsets = []
    for i, ((p, _), size) in enumerate(zip(items, datas)):
        offsets.append(fh.tell() - data_start)
        data = p.read_bytes()
        if len(data) != size:
            raise OSError(f"{p} changed while packing; run pack again")
        fh.write(data)
        if progress is not None and i % 64 == 0:
            progress(len(items) + i + 1, 2 * len(items))
    offsets.append(fh.tell())  # DeepFaceLab's quirk: the end sentinel is an absolute position
    fh.seek(table_pos)
    fh.write(struct.pack(f"<{len(offsets)}Q", *offsets))
    fh.seek(0, 2)
    return len(items)


__all__ = ["DflEnum", "pak_dumps", "sample_config", "write_pak"]
