"""The embedding cache of a face set: ``<set>/.identity/<model id>.json`` + ``.npy``.

JSON says, per face file name, its size, its modification time (ns), a content key and its row
in the NPY (float32, ``allow_pickle=False`` both ways: nothing here is ever unpickled)::

    {"version": 1, "model": "dlib-resnet-v1", "dim": 128, "npy": "dlib-resnet-v1.3.npy",
     "faces": {"00012_0.jpg": {"size": 40213, "mtime_ns": 1718..., "key": "9c1e...", "row": 7}, ...}}

A face whose size and time are unchanged is taken from the cache. Otherwise its content key is
computed: the SHA-1 of the image bytes without the metadata segment plus its landmarks, the two
things an embedding depends on. A face whose key is known (a sort renamed it, an XSeg mask was
written into its metadata, it was copied) is still taken from the cache; a face whose pixels or
landmarks changed is embedded again. Each save writes a new NPY (its name counts up) before the
JSON that names it, so a crash leaves the old pair or the new one, never a mix.
"""

from __future__ import annotations

import hashlib
import io
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..util.atomic import atomic_write_bytes, atomic_write_json, read_json

CACHE_DIR = ".identity"
VERSION = 1


@dataclass
class Entry:
    size: int
    mtime_ns: int
    key: str
    row: int


def content_key(path: Path, data: bytes | None = None, landmarks: np.ndarray | None = None) -> str:
    """SHA-1 of the image bytes without the face metadata, plus the landmarks."""
    from ..faces import dflimg

    if data is None:
        data = Path(path).read_bytes()
    try:
        pixels = dflimg.embed(data, None, str(path))
    except Exception:  # noqa: BLE001 - not a JPEG/PNG we can strip: the whole file then
        pixels = data
    if landmarks is None:
        meta = _meta_or_none(data, path)
        landmarks = None if meta is None else meta.landmarks
    h = hashlib.sha1(pixels)
    if landmarks is not None:
        h.update(np.round(np.asarray(landmarks, np.float64), 3).astype("<f8").tobytes())
    return h.hexdigest()


def _meta_or_none(data: bytes, path: Path):
    from ..faces import dflimg

    try:
        return dflimg.meta_from_bytes(data, str(path))
    except dflimg.FaceFileError:
        return None


class EmbeddingCache:
    """The cached embeddings of one folder for one model."""

    def __init__(self, folder: str | os.PathLike, model_id: str, dim: int) -> None:
        self.folder = Path(folder)
        self.model_id = model_id
        self.dim = dim
        self.dir = self.folder / CACHE_DIR
        self.json_path = self.dir / f"{model_id}.json"
        self.entries: dict[str, Entry] = {}
        self.vectors: dict[str, np.ndarray] = {}  # by content key
        self.changed = False
        self.generation = 0
        self.problem: str | None = None  # why an existing cache was ignored
        self._load()

    def _load(self) -> None:
        doc = read_json(self.json_path)
        if doc is None:
            if self.json_path.exists():
                self.problem = f"{self.json_path} is unreadable; the embeddings are computed again"
            return
        try:
            if doc.get("version") != VERSION or doc.get("model") != self.model_id:
                raise ValueError("another version or model")
            npy = self.dir / str(doc["npy"])
            if npy.parent != self.dir:
                raise ValueError("the NPY is not beside it")
            arr = np.load(npy, allow_pickle=False)
            if arr.dtype != np.float32 or arr.ndim != 2 or (self.dim and arr.shape[1] != self.dim):
                raise ValueError(f"the NPY holds {arr.dtype} {arr.shape}")
            self.generation = int(doc.get("generation", 0))
            if not self.dim:
                self.dim = arr.shape[1]
            for name, e in dict(doc["faces"]).items():
                ent = Entry(int(e["size"]), int(e["mtime_ns"]), str(e["key"]), int(e["row"]))
                if not 0 <= ent.row < len(arr):
                    raise ValueError(f"row {ent.row} of {name} is past the NPY's {len(arr)} rows")
                self.entries[str(name)] = ent
                self.vectors[ent.key] = arr[ent.row]
        except (OSError, ValueError, KeyError, TypeError, AttributeError) as exc:
            self.problem = f"{self.json_path}: ignored ({exc}); the embeddings are computed again"
            self.entries, self.vectors = {}, {}

    def lookup(self, path: Path) -> tuple[np.ndarray | None, os.stat_result | None]:
        """The cached vector of ``path`` when its size and time are unchanged (and its stat)."""
        try:
            st = path.stat()
        except OSError:
            return None, None
        e = self.entries.get(path.name)
        if e is not None and e.size == st.st_size and e.mtime_ns == st.st_mtime_ns:
            v = self.vectors.get(e.key)
            if v is not None:
                return v, st
        return None, st

    def by_key(self, key: str) -> np.ndarray | None:
        return self.vectors.get(key)

    def put(self, path: Path, st: os.stat_result, key: str, vec: np.ndarray) -> None:
        self.entries[path.name] = Entry(int(st.st_size), int(st.st_mtime_ns), key, -1)
        self.vectors[key] = np.asarray(vec, np.float32).reshape(-1)
        self.changed = True

    def touch(self, path: Path, st: os.stat_result, key: str) -> None:
        """``path`` has a known content: record its new name/size/time."""
        self.put(path, st, key, self.vectors[key])

    def save(self) -> None:
        """Write the cache (faces whose file is gone are dropped); nothing when unchanged."""
        if not self.changed:
            return
        names = sorted(n for n in self.entries if (self.folder / n).is_file())
        keys = list(dict.fromkeys(self.entries[n].key for n in names))
        rows = {k: i for i, k in enumerate(keys)}
        arr = np.stack([self.vectors[k] for k in keys]).astype(np.float32) if keys else \
            np.zeros((0, self.dim), np.float32)
        self.dir.mkdir(exist_ok=True)
        old = [p for p in self.dir.glob(f"{self.model_id}.*.npy")]
        self.generation += 1
        npy = self.dir / f"{self.model_id}.{self.generation}.npy"
        buf = io.BytesIO()
        np.save(buf, arr, allow_pickle=False)
        atomic_write_bytes(npy, buf.getvalue(), fsync=False)
        faces = {n: {"size": self.entries[n].size, "mtime_ns": self.entries[n].mtime_ns, "key": self.entries[n].key,
                     "row": rows[self.entries[n].key]} for n in names}
        atomic_write_json(self.json_path, {"version": VERSION, "model": self.model_id, "dim": int(arr.shape[1]),
                                           "generation": self.generation, "npy": npy.name, "faces": faces},
                          fsync=False, indent=None)
        for p in old:
            if p != npy:
                p.unlink(missing_ok=True)
        self.changed = False
