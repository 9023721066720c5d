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

import functools
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


class NoMetadataError(FaceFileError):
    """An image with no face metadata at all (a plain picture, not an aligned face)."""


class UnsafeMetadataError(FaceFileError):
    """Metadata that would run code or build unknown objects if unpickled."""


class BadMetadataError(FaceFileError):
    """Metadata that unpickles but holds the wrong types or shapes, NaN/inf or absurd values."""


# ---------------------------------------------------------------------------
# Restricted reading
# ---------------------------------------------------------------------------


# What a face's metadata may ask for. A real one is a few kB (DeepFaceLab's JPEG segment holds
# 64 kB); these bounds only stop hostile files from taking the machine's memory or time.
MAX_METADATA_BYTES = 16 << 20  # the pickle itself
MAX_ALLOC = 16 << 20  # any one array or bytearray built from it
MAX_DEPTH = 64  # nesting of lists/dicts
NUMERIC_KINDS = "biufc"  # bool, ints, floats, complex: the only array dtypes metadata holds


def _latin1_encode(obj: str, encoding: str = "latin1") -> bytes:
    if encoding not in ("latin1", "latin-1", "iso-8859-1"):
        raise pickle.UnpicklingError(f"codec {encoding!r} is not allowed")
    return obj.encode("latin1")


def _bytearray(max_alloc: int, *args: Any) -> bytearray:
    if args and isinstance(args[0], int) and args[0] > max_alloc:
        raise pickle.UnpicklingError(f"refused a {args[0]}-byte bytearray (over the {max_alloc >> 20} MB limit)")
    return bytearray(*args)


class _Dtype:
    """A numpy dtype as the pickle describes it; made real only once checked (numpy's own
    ``__setstate__`` would accept object dtypes, whose arrays crash the reader)."""

    def __init__(self, spec: Any = "f8", *_: Any) -> None:
        self.spec, self.state = spec, None

    def __setstate__(self, state: Any) -> None:
        self.state = state

    def real(self) -> np.dtype:
        if not isinstance(self.spec, str):
            raise pickle.UnpicklingError(f"refused the dtype {self.spec!r}")
        try:
            d = np.dtype(self.spec)
        except TypeError as exc:
            raise pickle.UnpicklingError(f"refused the dtype {self.spec!r} ({exc})") from None
        if d.kind not in NUMERIC_KINDS or d.fields is not None or d.subdtype is not None:
            raise pickle.UnpicklingError(f"refused the dtype {d} (metadata holds numbers only)")
        st = self.state
        if st is not None:
            if not isinstance(st, tuple) or len(st) < 2 or any(x is not None for x in st[2:5]):
                raise pickle.UnpicklingError(f"refused a changed dtype {self.spec!r}")
            if st[1] in ("<", ">"):
                d = d.newbyteorder(st[1])
        return d


class _Array:
    """``numpy._core.multiarray._reconstruct`` + ``__setstate__``, checked: shape, dtype and data
    length agree and stay under the reader's allocation limit before anything is allocated."""

    def __init__(self, max_alloc: int, subtype: Any = None, shape: Any = (0,), typecode: Any = b"b") -> None:
        if subtype is not _ndarray:
            raise pickle.UnpicklingError("refused an array of another type than numpy.ndarray")
        self.state: Any = None
        self.max_alloc = max_alloc

    def __setstate__(self, state: Any) -> None:
        self.state = state

    def real(self) -> np.ndarray:
        st = self.state
        if st is None:
            return np.zeros((0,), np.int8)
        if not isinstance(st, tuple) or len(st) not in (4, 5):
            raise pickle.UnpicklingError("refused an array with a malformed state")
        shape, dtype, fortran, raw = st[-4:]
        if not isinstance(shape, tuple) or not all(isinstance(n, int) and 0 <= n <= self.max_alloc for n in shape):
            raise pickle.UnpicklingError(f"refused an array of shape {shape!r}")
        if not isinstance(dtype, _Dtype) or not isinstance(raw, (bytes, bytearray)):
            raise pickle.UnpicklingError("refused an array without plain data")
        d = dtype.real()
        count = 1
        for n in shape:
            count *= n
        if count * d.itemsize > self.max_alloc:
            raise pickle.UnpicklingError(f"refused an array of {count * d.itemsize} bytes "
                                         f"(over the {self.max_alloc >> 20} MB limit)")
        if len(raw) != count * d.itemsize:
            raise pickle.UnpicklingError(f"an array's data is {len(raw)} bytes, its shape {shape} needs "
                                         f"{count * d.itemsize}")
        return np.frombuffer(bytes(raw), d, count).reshape(shape, order="F" if fortran else "C").copy()


def _ndarray(*_: Any, **__: Any) -> Any:
    """``numpy.ndarray`` itself: only a marker for :class:`_Array` (calling it would allocate)."""
    raise pickle.UnpicklingError("refused to build an array other than from its pickled data")


def _scalar(dtype: Any, data: Any = b"") -> Any:
    if not isinstance(dtype, _Dtype) or not isinstance(data, (bytes, bytearray)):
        raise pickle.UnpicklingError("refused a numpy scalar without plain data")
    d = dtype.real()
    if len(data) != d.itemsize:
        raise pickle.UnpicklingError(f"a numpy scalar of {d} has {len(data)} bytes")
    return np.frombuffer(bytes(data), d, 1)[0]


_ALLOWED: dict[tuple[str, str], Any] = {
    ("numpy", "ndarray"): _ndarray,
    ("numpy", "dtype"): _Dtype,
    ("builtins", "set"): set,
    ("builtins", "frozenset"): frozenset,
    ("builtins", "complex"): complex,
    ("__builtin__", "set"): set,
    ("collections", "OrderedDict"): dict,
    ("_codecs", "encode"): _latin1_encode,
    **{(mod, "scalar"): _scalar for mod in ("numpy.core.multiarray", "numpy._core.multiarray")},
}


def _realise(obj: Any, memo: dict[int, Any], depth: int = 0) -> Any:
    """The unpickled value with checked numpy arrays and dtypes in place of their descriptions."""
    if depth > MAX_DEPTH:
        raise pickle.UnpicklingError(f"refused data nested more than {MAX_DEPTH} levels deep")
    if obj is None or isinstance(obj, (bool, int, float, complex, str, bytes, np.generic)):
        return obj
    key = id(obj)
    if key in memo:
        return memo[key]
    if isinstance(obj, (_Array, _Dtype)):
        out: Any = obj.real()
    elif isinstance(obj, dict):
        out = {_realise(k, memo, depth + 1): _realise(v, memo, depth + 1) for k, v in obj.items()}
    elif isinstance(obj, list):
        out = [_realise(v, memo, depth + 1) for v in obj]
    elif isinstance(obj, tuple):
        out = tuple(_realise(v, memo, depth + 1) for v in obj)
    elif isinstance(obj, (set, frozenset)):
        out = type(obj)(_realise(v, memo, depth + 1) for v in obj)
    elif isinstance(obj, bytearray):
        out = obj
    else:
        raise pickle.UnpicklingError(f"refused a {type(obj).__name__}")
    memo[key] = out
    return out


class RestrictedUnpickler(pickle.Unpickler):
    """Unpickles plain types and numeric numpy arrays only; no array or bytearray over ``max_alloc`` bytes."""

    def __init__(self, file: Any, *, max_alloc: int = MAX_ALLOC) -> None:
        super().__init__(file)
        self._sized = {("builtins", "bytearray"): functools.partial(_bytearray, max_alloc),
                       **{(mod, "_reconstruct"): functools.partial(_Array, max_alloc)
                          for mod in ("numpy.core.multiarray", "numpy._core.multiarray")}}

    def find_class(self, module: str, name: str) -> Any:
        got = self._sized.get((module, name)) or _ALLOWED.get((module, name))
        if got is None:
            raise pickle.UnpicklingError(f"refused to load {module}.{name}")
        return got

    def persistent_load(self, pid: Any) -> Any:
        raise pickle.UnpicklingError("persistent ids are not allowed")

    def load(self) -> Any:
        return _realise(super().load(), {})


def restricted_loads(data: bytes, source: str = "<data>", max_bytes: int = MAX_METADATA_BYTES,
                     max_alloc: int = MAX_ALLOC) -> Any:
    """Unpickle ``data`` allowing only plain values and numeric numpy arrays, within size limits
    (face metadata's by default; a model file passes its own)."""
    if len(data) > max_bytes:
        raise UnsafeMetadataError(f"{source}: its metadata is {len(data)} bytes, over the {max_bytes >> 20} MB "
                                  "limit; it was not read. Re-extract this face, or delete the file.")
    try:
        obj = RestrictedUnpickler(io.BytesIO(data), max_alloc=max_alloc).load()
    except pickle.UnpicklingError as exc:
        if "refused" in str(exc) or "not allowed" in str(exc):
            raise UnsafeMetadataError(
                f"{source}: its metadata holds something other than plain data ({exc}); it was not loaded and nothing "
                "in it ran. If you trust where this faceset came from, re-extract the faces; otherwise delete the file."
            ) from None
        raise FaceFileError(f"{source}: its metadata is corrupt ({exc})") from None
    except (EOFError, ValueError, TypeError, IndexError, AttributeError, KeyError, struct.error, MemoryError,
            RecursionError, OverflowError) as exc:
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


# Bounds of sane values: coordinates in pixels (frames are at most a few thousand pixels wide), and
# XSeg labels: DeepFaceLab's editor draws a few dozen points per polygon, while filling a polygon
# costs OpenCV time quadratic in its points when its edges cross (10,000 points: seconds, 100,000:
# over ten minutes), so labels are kept to a few thousand points per face.
MAX_COORD = 1e6
MAX_POLYS = 256
MAX_POLY_POINTS = 1024
MAX_LABEL_POINTS = 4096  # all polygons of a face together


def _bad(source: str, key: str, why: str) -> BadMetadataError:
    return BadMetadataError(f"{source}: its metadata field '{key}' {why}; the face is skipped. Re-extract it (or "
                            "restore its metadata), or delete the file")


def _numbers(v: Any, source: str, key: str, shape: tuple[int, ...], dtype: Any) -> np.ndarray | None:
    """``v`` as a finite array of ``shape`` (flat input of the right size is accepted), or a named error."""
    if v is None:
        return None
    try:
        a = np.asarray(v)
        if a.dtype.kind not in NUMERIC_KINDS:
            raise TypeError(a.dtype)
        a = a.astype(np.float64)
    except (TypeError, ValueError):
        raise _bad(source, key, f"is not a list of numbers ({type(v).__name__})") from None
    want = int(np.prod(shape))
    if a.size != want:
        raise _bad(source, key, f"has {a.size} values (shape {tuple(a.shape)}), expected {'x'.join(map(str, shape))}")
    if not np.isfinite(a).all():
        raise _bad(source, key, "holds NaN or infinite values")
    if np.abs(a).max(initial=0.0) > MAX_COORD:
        raise _bad(source, key, f"holds values beyond ±{MAX_COORD:g}")
    return a.reshape(shape).astype(dtype)


def _face_type(v: Any, source: str) -> str:
    from .facetype import FaceType

    if v is None:
        return "full_face"
    if isinstance(v, (str, int, np.integer)) and not isinstance(v, bool):
        try:
            return FaceType.from_string(int(v) if isinstance(v, np.integer) else v).to_string()
        except ValueError:
            pass
    raise _bad(source, "face_type", f"is {v!r}, not a face type")


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
    # What reading had to repair (XSeg labels simplified or set aside), for the job to say; never saved.
    notes: list[str] = field(default_factory=list, compare=False, repr=False)

    # -- conversion to and from DeepFaceLab's dict --------------------------------------
    @classmethod
    def from_dict(cls, d: dict[str, Any], source: str = "<face>") -> "FaceMeta":
        """Check every known field once, here (types, shapes, finite and sane values), so every reader
        gets a clean face or a :class:`BadMetadataError` naming ``source`` and the field."""
        if not isinstance(d, dict):
            raise BadMetadataError(f"{source}: its metadata is a {type(d).__name__}, not a dictionary")
        name = d.get("source_filename")
        if name is not None and not isinstance(name, str):
            raise _bad(source, "source_filename", f"is a {type(name).__name__}, not text")
        mod = d.get("eyebrows_expand_mod")
        if mod is not None:
            if isinstance(mod, bool) or not isinstance(mod, (int, float, np.integer, np.floating)) \
                    or not np.isfinite(mod) or not 0 <= float(mod) <= 100:
                raise _bad(source, "eyebrows_expand_mod", f"is {mod!r}, not a number from 0 to 100")
            mod = float(mod)
        mask = d.get("xseg_mask")
        if mask is not None:
            if isinstance(mask, (bytes, bytearray)):
                mask = bytes(mask)
            elif isinstance(mask, np.ndarray) and mask.dtype == np.uint8 and mask.ndim == 1:
                mask = mask.tobytes()
            else:
                raise _bad(source, "xseg_mask", f"is a {type(mask).__name__}, not an encoded image")
        notes: list[str] = []
        extra = {k: v for k, v in d.items() if k not in _KNOWN}
        polys = _normalise_polys(d.get("seg_ie_polys"), source, notes)
        if notes and polys is None and d.get("seg_ie_polys") is not None:
            extra["seg_ie_polys"] = d["seg_ie_polys"]  # set aside: kept in the file as it was
        return cls(
            face_type=_face_type(d.get("face_type"), source),
            landmarks=_numbers(d.get("landmarks"), source, "landmarks", (68, 2), np.float32),
            source_filename=name,
            source_rect=_numbers(d.get("source_rect"), source, "source_rect", (4,), np.float64),
            source_landmarks=_numbers(d.get("source_landmarks"), source, "source_landmarks", (68, 2), np.float32),
            image_to_face_mat=_numbers(d.get("image_to_face_mat"), source, "image_to_face_mat", (2, 3), np.float64),
            seg_ie_polys=polys,
            xseg_mask_buf=mask,
            eyebrows_expand_mod=mod,
            extra=extra,
            notes=notes,
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
    def from_json(cls, d: dict[str, Any], source: str = "<face>") -> "FaceMeta":
        """Inverse of :meth:`to_json` except the xseg mask (carried separately when needed)."""
        polys = d.get("seg_ie_polys")
        return cls.from_dict({k: v for k, v in {
            "face_type": d.get("face_type"), "landmarks": d.get("landmarks"), "source_filename": d.get("source_filename"),
            "source_rect": d.get("source_rect"), "source_landmarks": d.get("source_landmarks"),
            "image_to_face_mat": d.get("image_to_face_mat"), "seg_ie_polys": {"polys": polys} if polys else None,
            "eyebrows_expand_mod": d.get("eyebrows_expand_mod")}.items() if v is not None}, source)

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


def _normalise_polys(polys: Any, source: str = "<face>", notes: list[str] | None = None) -> list[dict[str, Any]] | None:
    """Both DeepFaceLab layouts, {'polys': [{'type', 'pts'}]} and the older [(type, pts)], checked.

    Labels that cannot be right (not numbers, NaN/inf, beyond :data:`MAX_COORD`, more than
    :data:`MAX_POLYS` polygons) are set aside whole (None, with a note); a polygon of more than
    its share of :data:`MAX_LABEL_POINTS` is thinned to it (with a note), so no later step spends
    minutes on one face.
    """
    notes = notes if notes is not None else []
    if polys is None or (isinstance(polys, (list, tuple, dict)) and not polys):
        return None

    def aside(why: str) -> None:
        notes.append(f"{source}: its XSeg labels are not used: {why}; redraw them in the XSeg editor")

    items = polys.get("polys", []) if isinstance(polys, dict) else polys
    if not isinstance(items, (list, tuple)):
        aside(f"they are a {type(items).__name__}, not a list of polygons")
        return None
    if len(items) > MAX_POLYS:
        aside(f"{len(items)} polygons (more than {MAX_POLYS})")
        return None
    out = []
    for i, p in enumerate(items):
        if isinstance(p, dict):
            t, pts = p.get("type", 1), p.get("pts", [])
        elif isinstance(p, (list, tuple)) and len(p) == 2:
            t, pts = p[0], p[1]
        else:
            aside(f"polygon {i} is a {type(p).__name__}, not (type, points)")
            return None
        if isinstance(t, bool) or not isinstance(t, (int, np.integer)) or int(t) not in (0, 1):
            aside(f"polygon {i} has type {t!r} (1 = include, 0 = exclude)")
            return None
        try:
            a = np.asarray(pts)
            if a.dtype.kind not in NUMERIC_KINDS or (a.size and a.size % 2):
                raise ValueError
            a = a.astype(np.float64).reshape(-1, 2)
        except (TypeError, ValueError):
            aside(f"the points of polygon {i} are not pairs of numbers")
            return None
        if not np.isfinite(a).all():
            aside(f"polygon {i} has NaN or infinite points")
            return None
        if np.abs(a).max(initial=0.0) > MAX_COORD:
            aside(f"polygon {i} has points beyond ±{MAX_COORD:g} pixels")
            return None
        out.append({"type": int(t), "pts": a.astype(np.float32)})
    total = sum(len(p["pts"]) for p in out)
    if total > MAX_LABEL_POINTS or any(len(p["pts"]) > MAX_POLY_POINTS for p in out):
        share = max(16, min(MAX_POLY_POINTS, MAX_LABEL_POINTS // max(1, len(out))))
        for i, p in enumerate(out):
            n = len(p["pts"])
            if n > share:
                step = -(-n // share)
                p["pts"] = np.ascontiguousarray(p["pts"][::step])
                notes.append(f"{source}: XSeg polygon {i} has {n} points; thinned to {len(p['pts'])} for this run "
                             "(saving the labels in the XSeg editor keeps the thinned polygon)")
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
        raise NoMetadataError(
            f"{source}: this image has no face metadata (not an aligned face from DeepFaceLab or dfl-tui); "
            "extract faces with 'dfl-tui extract-faces', or restore metadata saved earlier with "
            "'dfl-tui faceset src|dst metadata-restore'")
    return FaceMeta.from_dict(restricted_loads(payload, source), source)


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
    """Like :func:`read_meta` but None for an image without metadata; metadata that is there but
    unsafe, corrupt or wrong-typed still raises, naming the file (it is not "no metadata")."""
    try:
        return read_meta(path)
    except NoMetadataError:
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
