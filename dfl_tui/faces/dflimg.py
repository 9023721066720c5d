"""The aligned-face file: an image with DeepFaceLab's metadata inside.

JPEG faces carry a pickled dict in one APP15 segment, exactly where and how
DeepFaceLab puts it, so DeepFaceLab opens our faces and we open theirs. PNG
faces carry the same dict in an ``fcWp`` chunk (DeepFaceLab 1.0's DFLPNG).

Reading never runs code from a file: the dict goes through
:class:`RestrictedUnpickler`, which builds only plain Python values and numpy
arrays. Anything else (a pickled callable, an unknown class) is refused with
:class:`UnsafeMetadataError` before it is constructed.

Writing uses our own pickler, which emits only those same types and names
numpy's array constructor the way numpy 1.x (DeepFaceLab's) can load.
"""

from __future__ import annotations

import io
import os
import pickle
import struct
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import InputError
from ..util import container as C
from ..util.atomic import atomic_write_bytes
from ..util.container import APP15, MAX_SEGMENT

PNG_CHUNK = b"fcWp"  # DeepFaceLab 1.0's DFLPNG chunk
XSEG_MASK_MAX_BYTES = 50_000


class FaceFileError(InputError):
    """An aligned face that cannot be used: no metadata, corrupt, or not an image."""


class UnsafeMetadataError(FaceFileError):
    """Metadata that would run code or build unknown objects if unpickled."""


# ---------------------------------------------------------------------------
# Restricted reading
# ---------------------------------------------------------------------------


def _latin1_encode(obj: str, encoding: str = "latin1") -> bytes:
    if encoding not in ("latin1", "latin-1", "iso-8859-1"):
        raise pickle.UnpicklingError(f"codec {encoding!r} is not allowed")
    return obj.encode("latin1")


def _allowed_globals() -> dict[tuple[str, str], Any]:
    recon = np.ndarray.__reduce__(np.zeros(1))[0]  # numpy's own _reconstruct, whatever its module
    scalar = np.float64(0).__reduce__()[0]
    allowed: dict[tuple[str, str], Any] = {
        ("numpy", "ndarray"): np.ndarray,
        ("numpy", "dtype"): np.dtype,
        ("builtins", "set"): set,
        ("builtins", "frozenset"): frozenset,
        ("builtins", "bytearray"): bytearray,
        ("builtins", "complex"): complex,
        ("__builtin__", "set"): set,
        ("collections", "OrderedDict"): dict,
        ("_codecs", "encode"): _latin1_encode,
    }
    for mod in ("numpy.core.multiarray", "numpy._core.multiarray"):
        allowed[(mod, "_reconstruct")] = recon
        allowed[(mod, "scalar")] = scalar
    return allowed


_ALLOWED: dict[tuple[str, str], Any] | None = None


class RestrictedUnpickler(pickle.Unpickler):
    """Unpickles plain types and numpy arrays only."""

    def find_class(self, module: str, name: str) -> Any:
        global _ALLOWED
        if _ALLOWED is None:
            import warnings

            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                _ALLOWED = _allowed_globals()
        try:
            return _ALLOWED[(module, name)]
        except KeyError:
            raise pickle.UnpicklingError(f"refused to load {module}.{name}") from None

    def persistent_load(self, pid: Any) -> Any:
        raise pickle.UnpicklingError("persistent ids are not allowed")


def restricted_loads(data: bytes, source: str = "<data>") -> Any:
    """Unpickle ``data`` allowing only plain values and numpy arrays."""
    try:
        obj = RestrictedUnpickler(io.BytesIO(data)).load()
    except pickle.UnpicklingError as exc:
        if "refused" in str(exc) or "not allowed" in str(exc):
            raise UnsafeMetadataError(
                f"{source}: its metadata holds something other than plain data ({exc}); it was not loaded and nothing "
                "in it ran. If you trust where this faceset came from, re-extract the faces; otherwise delete the file."
            ) from None
        raise FaceFileError(f"{source}: its metadata is corrupt ({exc})") from None
    except (EOFError, ValueError, TypeError, IndexError, AttributeError, struct.error, MemoryError) as exc:
        raise FaceFileError(f"{source}: its metadata is corrupt ({type(exc).__name__}: {exc})") from None
    return obj


# ---------------------------------------------------------------------------
# Writing a pickle DeepFaceLab (numpy 1.x) can read
# ---------------------------------------------------------------------------


class _CompatPickler(pickle._Pickler):  # type: ignore[name-defined]
    """Pickle with numpy globals named as numpy 1.x knows them (``numpy.core``, not ``numpy._core``)."""

    def save_global(self, obj: Any, name: str | None = None) -> None:
        module = getattr(obj, "__module__", None) or ""
        qual = name or getattr(obj, "__qualname__", None) or obj.__name__
        if module.startswith("numpy._core"):
            module = "numpy.core" + module[len("numpy._core"):]
            self.save(module)
            self.save(qual)
            self.write(pickle.STACK_GLOBAL)
            self.memoize(obj)
            return
        super().save_global(obj, name)


def _check_plain(obj: Any, path: str = "metadata") -> None:
    """Refuse to write anything our own reader would refuse."""
    if obj is None or isinstance(obj, (bool, int, float, str, bytes, complex)):
        return
    if isinstance(obj, np.ndarray):
        if obj.dtype.hasobject:
            raise TypeError(f"{path}: object arrays are not allowed in face metadata")
        return
    if isinstance(obj, np.generic):
        return
    if isinstance(obj, dict):
        for k, v in obj.items():
            _check_plain(k, path)
            _check_plain(v, f"{path}.{k}")
        return
    if isinstance(obj, (list, tuple)):
        for i, v in enumerate(obj):
            _check_plain(v, f"{path}[{i}]")
        return
    raise TypeError(f"{path}: {type(obj).__name__} is not allowed in face metadata")


def compat_dumps(obj: Any) -> bytes:
    _check_plain(obj)
    buf = io.BytesIO()
    _CompatPickler(buf, protocol=4).dump(obj)
    return buf.getvalue()


# ---------------------------------------------------------------------------
# The metadata
# ---------------------------------------------------------------------------

_KNOWN = ("face_type", "landmarks", "source_filename", "source_rect", "source_landmarks", "image_to_face_mat",
          "seg_ie_polys", "xseg_mask", "eyebrows_expand_mod")


@dataclass
class FaceMeta:
    """What an aligned face knows about itself (DeepFaceLab's DFLIMG dict, typed)."""

    face_type: str = "full_face"
    landmarks: np.ndarray | None = None  # 68x2 float32, aligned-image pixels
    source_filename: str | None = None  # frame file name, no folder
    source_rect: np.ndarray | None = None  # [l, t, r, b] ints, frame pixels
    source_landmarks: np.ndarray | None = None  # 68x2 float32, frame pixels
    image_to_face_mat: np.ndarray | None = None  # 2x3 float64 frame -> face (absent for mark_only)
    seg_ie_polys: list[dict[str, Any]] | None = None  # [{'type': 1 include | 0 exclude, 'pts': Nx2 float32}]
    xseg_mask_buf: bytes | None = None  # encoded PNG/JPEG of the trained XSeg mask
    eyebrows_expand_mod: float | None = None
    extra: dict[str, Any] = field(default_factory=dict)  # keys we do not know, kept as they were

    # -- conversion to and from DeepFaceLab's dict --------------------------------------
    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> "FaceMeta":
        def arr(v: Any, dtype: Any, shape: tuple[int, ...] | None = None) -> np.ndarray | None:
            if v is None:
                return None
            a = np.asarray(v, dtype=dtype)
            return a.reshape(shape) if shape is not None else a

        polys = d.get("seg_ie_polys")
        mask = d.get("xseg_mask")
        return cls(
            face_type=str(d.get("face_type") or "full_face"),
            landmarks=arr(d.get("landmarks"), np.float32, (-1, 2)),
            source_filename=d.get("source_filename"),
            source_rect=arr(d.get("source_rect"), np.float64),
            source_landmarks=arr(d.get("source_landmarks"), np.float32, (-1, 2)),
            image_to_face_mat=arr(d.get("image_to_face_mat"), np.float64, (2, 3)),
            seg_ie_polys=_normalise_polys(polys),
            xseg_mask_buf=bytes(np.asarray(mask, np.uint8).tobytes()) if mask is not None else None,
            eyebrows_expand_mod=d.get("eyebrows_expand_mod"),
            extra={k: v for k, v in d.items() if k not in _KNOWN},
        )

    def to_dict(self) -> dict[str, Any]:
        """DeepFaceLab's dict: the types its code expects (lists, numpy arrays), None values dropped."""
        d: dict[str, Any] = dict(self.extra)
        d["face_type"] = self.face_type
        if self.landmarks is not None:
            d["landmarks"] = np.asarray(self.landmarks, np.float64).tolist()
        if self.source_filename is not None:
            d["source_filename"] = self.source_filename
        if self.source_rect is not None:
            d["source_rect"] = np.asarray(np.round(self.source_rect), np.int64)
        if self.source_landmarks is not None:
            d["source_landmarks"] = np.asarray(self.source_landmarks, np.float64).tolist()
        if self.image_to_face_mat is not None:
            d["image_to_face_mat"] = np.asarray(self.image_to_face_mat, np.float64).reshape(2, 3)
        if self.seg_ie_polys:
            d["seg_ie_polys"] = {"polys": [{"type": int(p["type"]), "pts": np.asarray(p["pts"], np.float32).reshape(-1, 2)}
                                           for p in self.seg_ie_polys]}
        if self.xseg_mask_buf is not None:
            d["xseg_mask"] = np.frombuffer(self.xseg_mask_buf, np.uint8).copy()
        if self.eyebrows_expand_mod is not None:
            d["eyebrows_expand_mod"] = float(self.eyebrows_expand_mod)
        return {k: v for k, v in d.items() if v is not None}

    def to_json(self) -> dict[str, Any]:
        """A JSON-friendly view (for ``dfl-tui inspect`` and metadata-save)."""
        d: dict[str, Any] = {"face_type": self.face_type}
        for name in ("landmarks", "source_rect", "source_landmarks", "image_to_face_mat"):
            v = getattr(self, name)
            d[name] = None if v is None else np.asarray(v).tolist()
        d["source_filename"] = self.source_filename
        d["seg_ie_polys"] = None if not self.seg_ie_polys else [
            {"type": int(p["type"]), "pts": np.asarray(p["pts"]).tolist()} for p in self.seg_ie_polys]
        d["xseg_mask"] = None if self.xseg_mask_buf is None else {"bytes": len(self.xseg_mask_buf)}
        d["eyebrows_expand_mod"] = self.eyebrows_expand_mod
        if self.extra:
            d["extra_keys"] = sorted(self.extra)
        return d

    @classmethod
    def from_json(cls, d: dict[str, Any]) -> "FaceMeta":
        """Inverse of :meth:`to_json` except the xseg mask (carried separately when needed)."""
        polys = d.get("seg_ie_polys")
        return cls.from_dict({k: v for k, v in {
            "face_type": d.get("face_type"), "landmarks": d.get("landmarks"), "source_filename": d.get("source_filename"),
            "source_rect": d.get("source_rect"), "source_landmarks": d.get("source_landmarks"),
            "image_to_face_mat": d.get("image_to_face_mat"), "seg_ie_polys": {"polys": polys} if polys else None,
            "eyebrows_expand_mod": d.get("eyebrows_expand_mod")}.items() if v is not None})

    # -- convenience ----------------------------------------------------------------------
    @property
    def face_type_enum(self) -> "Any":
        from .facetype import FaceType

        return FaceType.from_string(self.face_type)

    def get_xseg_mask(self) -> np.ndarray | None:
        """The trained XSeg mask as HxW float32 in [0, 1], or None."""
        if self.xseg_mask_buf is None:
            return None
        import cv2

        img = cv2.imdecode(np.frombuffer(self.xseg_mask_buf, np.uint8), cv2.IMREAD_UNCHANGED)
        if img is None:
            return None
        if img.ndim == 3:
            img = img[..., 0]
        return img.astype(np.float32) / 255.0

    def set_xseg_mask(self, mask: np.ndarray | None) -> None:
        """Store a mask as DeepFaceLab does: PNG, or JPEG of falling quality until under 50 kB."""
        if mask is None:
            self.xseg_mask_buf = None
            return
        import cv2

        m = np.asarray(mask, np.float32)
        if m.ndim == 3:
            m = m[..., 0]
        img = np.clip(m * 255.0, 0, 255).astype(np.uint8)
        ok, buf = cv2.imencode(".png", img)
        if not ok:
            raise ValueError("could not encode the mask")
        if len(buf) > XSEG_MASK_MAX_BYTES:
            for q in range(100, -1, -1):
                ok, buf = cv2.imencode(".jpg", img, [int(cv2.IMWRITE_JPEG_QUALITY), q])
                if len(buf) <= XSEG_MASK_MAX_BYTES:
                    break
        self.xseg_mask_buf = buf.tobytes()

    def has_polys(self) -> bool:
        return bool(self.seg_ie_polys) and any(len(p["pts"]) >= 3 for p in self.seg_ie_polys)


def _normalise_polys(polys: Any) -> list[dict[str, Any]] | None:
    """Both DeepFaceLab layouts: {'polys': [{'type', 'pts'}]} and the older [(type, pts)]."""
    if not polys:
        return None
    items = polys.get("polys", []) if isinstance(polys, dict) else polys
    out = []
    for p in items:
        if isinstance(p, dict):
            t, pts = p.get("type", 1), p.get("pts", [])
        else:
            t, pts = p[0], p[1]
        out.append({"type": int(t), "pts": np.asarray(pts, np.float32).reshape(-1, 2)})
    return out or None


# ---------------------------------------------------------------------------
# Where the metadata sits in the file (:mod:`dfl_tui.util.container`)
# ---------------------------------------------------------------------------


def read_payload(data: bytes, source: str) -> bytes | None:
    """The pickled metadata of a face image (APP15 / ``fcWp``), or None."""
    try:
        kind = C.kind(data)
        if kind == "jpg":
            return C.jpeg_segment(data, APP15, source)
        if kind == "png":
            return C.png_chunk(data, PNG_CHUNK, source)
    except C.ContainerError as exc:
        raise FaceFileError(str(exc)) from None
    raise FaceFileError(f"{source}: not a JPEG or PNG image")


def _with_payload(data: bytes, payload: bytes | None, source: str) -> bytes:
    if payload is not None and len(payload) > MAX_SEGMENT and C.kind(data) == "jpg":
        raise FaceFileError(
            f"{source}: the face's metadata is {len(payload)} bytes, over JPEG's {MAX_SEGMENT}-byte segment limit "
            "(too many mask polygons?); save this faceset as PNG (--format png) or simplify the polygons")
    try:
        kind = C.kind(data)
        if kind == "jpg":
            return C.jpeg_with_segment(data, APP15, payload, source)
        if kind == "png":
            return C.png_with_chunks(data, [(PNG_CHUNK, payload)] if payload is not None else [], drop=(PNG_CHUNK,),
                                     source=source)
    except C.ContainerError as exc:
        raise FaceFileError(str(exc)) from None
    raise FaceFileError(f"{source}: not a JPEG or PNG image")


def meta_from_bytes(data: bytes, source: str = "<face>") -> FaceMeta:
    """Parse the metadata of an aligned face held in memory."""
    payload = read_payload(data, source)
    if payload is None:
        raise FaceFileError(
            f"{source}: this image has no face metadata (not an aligned face from DeepFaceLab or dfl-tui); "
            "extract faces with 'dfl-tui extract-faces', or restore metadata with 'dfl-tui faceset ... metadata-restore'")
    d = restricted_loads(payload, source)
    if not isinstance(d, dict):
        raise FaceFileError(f"{source}: its metadata is not a dictionary")
    return FaceMeta.from_dict(d)


def _read_bytes(path: str | os.PathLike) -> bytes:
    try:
        with open(path, "rb") as fh:
            return fh.read()
    except FileNotFoundError:
        raise FaceFileError(f"{path}: no such file") from None
    except OSError as exc:
        raise FaceFileError(f"{path}: cannot read it ({exc.strerror})") from None


def read_meta(path: str | os.PathLike) -> FaceMeta:
    """The metadata of an aligned face file; raises :class:`FaceFileError` naming the file."""
    return meta_from_bytes(_read_bytes(path), str(path))


def try_read_meta(path: str | os.PathLike) -> FaceMeta | None:
    """Like :func:`read_meta` but None for a file without metadata (unsafe ones still raise)."""
    try:
        return read_meta(path)
    except UnsafeMetadataError:
        raise
    except FaceFileError:
        return None


def decode_image(data: bytes, source: str, flags: int | None = None) -> np.ndarray:
    import cv2

    img = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR if flags is None else flags)
    if img is None:
        raise FaceFileError(f"{source}: the image data is corrupt or truncated")
    return img


def load_face(path: str | os.PathLike) -> tuple[np.ndarray, FaceMeta]:
    """Read a face: (BGR uint8 image, metadata)."""
    data = _read_bytes(path)
    meta = meta_from_bytes(data, str(path))
    return decode_image(data, str(path)), meta


def embed(data: bytes, meta: FaceMeta | None, source: str = "<face>") -> bytes:
    """Encoded image bytes with ``meta`` put in (or removed when None)."""
    return _with_payload(data, compat_dumps(meta.to_dict()) if meta is not None else None, source)


def encode_face(image: np.ndarray, meta: FaceMeta, ext: str = ".jpg", quality: int = 90) -> bytes:
    import cv2

    ext = ext.lower()
    if ext in (".jpg", ".jpeg"):
        ok, buf = cv2.imencode(".jpg", image, [int(cv2.IMWRITE_JPEG_QUALITY), int(quality)])
    elif ext == ".png":
        ok, buf = cv2.imencode(".png", image, [int(cv2.IMWRITE_PNG_COMPRESSION), 3])
    else:
        raise ValueError(f"aligned faces are .jpg or .png, not {ext}")
    if not ok:
        raise ValueError("could not encode the face image")
    return embed(buf.tobytes(), meta, ext)


def save_face(path: str | os.PathLike, image: np.ndarray, meta: FaceMeta, quality: int = 90) -> None:
    """Encode and write a face with its metadata, atomically (JPEG or PNG by the file's suffix)."""
    path = Path(path)
    atomic_write_bytes(path, encode_face(image, meta, path.suffix, quality), fsync=False)


def write_meta(path: str | os.PathLike, meta: FaceMeta | None) -> None:
    """Replace only the metadata of an existing face, leaving its pixels byte for byte."""
    data = _read_bytes(path)
    atomic_write_bytes(path, embed(data, meta, str(path)), fsync=False)
