"""Training samples: DeepFaceLab's ``SampleGeneratorFace`` minus the augmentation (reference §6.2).

What happens here, on the CPU, once per face (then cached):

* the faceset is indexed from metadata only (:func:`load_faceset`): landmarks, face type,
  size, whether an XSeg mask is embedded, and the yaw for uniform-yaw sampling. Loose
  ``aligned/*.jpg|png`` files and a packed ``faceset.pak`` both work;
* a face is decoded and brought to the model's face type and resolution
  (:func:`prepare_face`): when the face types differ the crop is re-cut from the aligned
  landmarks (``get_transform_mat`` on the face-space landmarks, cubic, replicated border;
  masks with a zero border), otherwise it is resized;
* its masks are built at the same time: the **full-face mask** is the embedded XSeg mask when
  there is one, else the landmark hull; the **eyes+mouth mask** is the eyes and mouth hulls
  times the binarised full mask.

The random part (one affine shared by warped and target image, the warp grid, flips, HSV,
colour transfer) runs batched on the training device in :mod:`dfl_tui.train.augment`, so a
GPU is not starved by Python image code. :class:`FaceSource` keeps a few batches of
``uint8`` arrays ready in background threads and a bounded in-RAM cache of prepared faces
(:class:`FaceCache`), so after the first epoch nothing is decoded again. Faces that are not
cached (a faceset bigger than the cache) are decoded in threads, or with ``processes`` in worker
processes (decoding holds Python's lock part of the time: threads stop scaling at 2-3 cores, a
pool of processes scales with the cores a GPU box has).
"""

from __future__ import annotations

import io
import multiprocessing
import os
import random
import threading
from collections import OrderedDict
from concurrent.futures import ProcessPoolExecutor, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Iterator, Sequence

import cv2
import numpy as np

from ..errors import InputError
from ..faces import dflimg, landmarks as lmk
from ..faces.facetype import FaceType
from ..util.prefetch import Prefetcher
from ..workspace import list_images

PAK_NAMES = ("faceset.dflpack", "faceset.pak")  # ours first, then DeepFaceLab's
YAW_BINS = 128  # uniform_yaw: bins over [-1.2, 1.2] rad (2DFAN landmarks never go further)
YAW_RANGE = 1.2


# ---------------------------------------------------------------------------
# The index (metadata only)
# ---------------------------------------------------------------------------


@dataclass
class FaceSample:
    """One aligned face, known from its metadata only (no pixels kept)."""

    name: str  # file name (for messages)
    path: str  # the file, or the faceset.pak holding it
    face_type: FaceType
    size: int  # the aligned image is size x size
    landmarks: np.ndarray  # 68x2 float32 in aligned-image pixels
    eyebrows_expand_mod: float = 1.0
    has_xseg: bool = False
    yaw: float = 0.0  # radians, DeepFaceLab's sign (positive = looking to the image's left)
    offset: int = -1  # byte range inside a faceset.pak; -1 for a loose file
    length: int = 0

    def read_bytes(self) -> bytes:
        if self.offset < 0:
            with open(self.path, "rb") as fh:
                return fh.read()
        with open(self.path, "rb") as fh:
            fh.seek(self.offset)
            return fh.read(self.length)


def _image_size(data: bytes) -> tuple[int, int]:
    """(width, height) from the file header without decoding the pixels."""
    from PIL import Image

    with Image.open(io.BytesIO(data)) as im:
        return im.size


def face_source(name: str, path: str, offset: int = -1) -> str:
    """How messages name a face: its path, or the pack and the face's name in it."""
    return path if offset < 0 else f"{path} (face {name})"


def sample_from_bytes(data: bytes, name: str, path: str, offset: int = -1) -> FaceSample:
    """Index one face file's bytes; raises :class:`~dfl_tui.faces.dflimg.FaceFileError` naming it."""
    source = face_source(name, path, offset)
    meta = dflimg.meta_from_bytes(data, source)
    if meta.landmarks is None or len(meta.landmarks) != 68:
        raise dflimg.FaceFileError(f"{source}: no 68-point landmarks in its metadata (not an aligned face?)")
    ft = FaceType.from_string(meta.face_type)
    if ft == FaceType.MARK_ONLY:
        raise dflimg.FaceFileError(f"{source}: a mark-only face has no crop to train on")
    try:
        w, h = _image_size(data)
    except Exception as exc:  # noqa: BLE001 - any decoder error means a broken file
        raise dflimg.FaceFileError(f"{source}: not a readable image ({exc})") from None
    _pitch, yaw, _roll = lmk.estimate_pitch_yaw_roll(meta.landmarks, size=w)
    return FaceSample(
        name=name, path=path, face_type=ft, size=int(w), landmarks=np.asarray(meta.landmarks, np.float32),
        eyebrows_expand_mod=float(meta.eyebrows_expand_mod or 1.0), has_xseg=meta.xseg_mask_buf is not None,
        yaw=float(yaw), offset=offset, length=len(data) if offset >= 0 else 0,
    )


def read_pak_entries(pak: Path) -> list[tuple[str, int, int]]:
    """``(name, offset, length)`` of every face in a packed set: ours (``faceset.dflpack``) or
    DeepFaceLab's ``faceset.pak``, read by the faceset tools' validating, pickle-safe readers."""
    from ..faceset import pack

    entries = pack.read_pack(pak) if pak.name == pack.PACK_NAME else pack.read_dfl_pak(pak)[0]
    return [(e.name, e.offset, e.size) for e in entries]


def load_faceset(folder: Path, *, warn: Callable[[str], None] | None = None, workers: int = 8) -> list[FaceSample]:
    """Index an aligned faceset (loose files, or a packed ``faceset.dflpack`` / ``faceset.pak`` when present).

    Broken files are reported through ``warn`` and skipped; an empty result raises
    :class:`InputError` naming the folder.
    """
    folder = Path(folder)
    pak = next((p for p in (folder / name for name in PAK_NAMES) if p.is_file()), None)
    jobs: list[tuple[str, str, int, int]] = []
    if pak is not None:
        for name, off, length in read_pak_entries(pak):
            jobs.append((name, str(pak), off, length))
    else:
        for p in list_images(folder):
            jobs.append((p.name, str(p), -1, 0))
    if not jobs:
        raise InputError(f"no aligned faces in {folder}: extract faces first (step 4/5)")

    def index(job: tuple[str, str, int, int]) -> FaceSample | str:
        name, path, off, length = job
        try:
            if off < 0:
                data = Path(path).read_bytes()
            else:
                with open(path, "rb") as fh:
                    fh.seek(off)
                    data = fh.read(length)
            return sample_from_bytes(data, name, path, off)
        except (dflimg.FaceFileError, OSError, ValueError) as exc:
            source = face_source(name, path, off)
            why = str(exc) if str(exc).startswith(source) else f"{source}: {exc}"
            return why if "skipped" in why else f"{why.rstrip('.')}; skipped"

    with ThreadPoolExecutor(max_workers=max(1, min(workers, len(jobs)))) as pool:
        results = list(pool.map(index, jobs))
    samples = [r for r in results if isinstance(r, FaceSample)]
    problems = [r for r in results if isinstance(r, str)]
    if warn is not None:
        for msg in problems[:10]:
            warn(msg)
        if len(problems) > 10:
            warn(f"... and {len(problems) - 10} more unreadable faces in {folder}")
    if not samples:
        raise InputError(f"none of the {len(jobs)} files in {folder} is a usable aligned face")
    return samples


# ---------------------------------------------------------------------------
# One face at the model's face type and resolution
# ---------------------------------------------------------------------------


@dataclass
class PreparedFace:
    """A face ready for augmentation: uint8 BGR image and two uint8 masks, all ``res x res``."""

    image: np.ndarray  # res x res x 3
    mask: np.ndarray  # res x res, full-face mask 0..255
    em_mask: np.ndarray  # res x res, eyes+mouth mask 0..255

    @property
    def nbytes(self) -> int:
        return self.image.nbytes + self.mask.nbytes + self.em_mask.nbytes


def full_face_mask(image_shape: Sequence[int], meta: dflimg.FaceMeta) -> np.ndarray:
    """HxW float32: the embedded XSeg mask (resized to the image) if any, else the landmark hull."""
    h, w = int(image_shape[0]), int(image_shape[1])
    xseg = meta.get_xseg_mask()
    if xseg is not None:
        if xseg.shape[:2] != (h, w):
            xseg = cv2.resize(xseg, (w, h), interpolation=cv2.INTER_CUBIC)
        return np.clip(xseg, 0.0, 1.0).astype(np.float32)
    hull = lmk.get_image_hull_mask((h, w), meta.landmarks, float(meta.eyebrows_expand_mod or 1.0))
    return hull[..., 0]


def eyes_mouth_mask(image_shape: Sequence[int], landmarks: np.ndarray, full_mask: np.ndarray) -> np.ndarray:
    """HxW float32: eyes and mouth hulls times the binarised full mask (DFL's EYES_MOUTH mask)."""
    em = lmk.get_image_eyes_mouth_mask(image_shape, landmarks)[..., 0]
    return em * (full_mask > 0.0).astype(np.float32)


def prepare_face(image: np.ndarray, meta: dflimg.FaceMeta, res: int, face_type: FaceType) -> PreparedFace:
    """Convert one decoded aligned face to the model's face type and resolution, with its masks."""
    if image.ndim == 2:
        image = cv2.cvtColor(image, cv2.COLOR_GRAY2BGR)
    elif image.shape[2] == 4:
        image = image[..., :3]
    mask = full_face_mask(image.shape, meta)
    em = eyes_mouth_mask(image.shape, meta.landmarks, mask)
    src_ft = FaceType.from_string(meta.face_type)
    if src_ft != face_type:
        mat = lmk.get_transform_mat(meta.landmarks, res, face_type)
        out = cv2.warpAffine(image, mat, (res, res), flags=cv2.INTER_CUBIC, borderMode=cv2.BORDER_REPLICATE)
        mask = cv2.warpAffine(mask, mat, (res, res), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT)
        em = cv2.warpAffine(em, mat, (res, res), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT)
    elif image.shape[0] != res or image.shape[1] != res:
        out = cv2.resize(image, (res, res), interpolation=cv2.INTER_CUBIC)
        mask = cv2.resize(mask, (res, res), interpolation=cv2.INTER_LINEAR)
        em = cv2.resize(em, (res, res), interpolation=cv2.INTER_LINEAR)
    else:
        out = image
    to_u8 = lambda m: np.clip(m * 255.0 + 0.5, 0, 255).astype(np.uint8)  # noqa: E731
    return PreparedFace(np.ascontiguousarray(out, dtype=np.uint8), to_u8(mask), to_u8(em))


def load_prepared(sample: FaceSample, res: int, face_type: FaceType) -> PreparedFace:
    """Decode a sample from disk and prepare it (raises FaceFileError naming the file)."""
    data = sample.read_bytes()
    meta = dflimg.meta_from_bytes(data, sample.name)
    image = dflimg.decode_image(data, sample.name)
    return prepare_face(image, meta, res, face_type)


def _worker_init() -> None:
    """A loader process: one OpenCV thread (the pool provides the parallelism)."""
    cv2.setNumThreads(1)


def loader_pool(processes: int) -> ProcessPoolExecutor:
    """Worker processes that run :func:`load_prepared` (spawned: safe beside torch and threads)."""
    return ProcessPoolExecutor(max_workers=processes, mp_context=multiprocessing.get_context("spawn"),
                               initializer=_worker_init)


class FaceCache:
    """A bounded LRU of prepared faces, by bytes (``max_bytes`` 0 disables it). Thread-safe."""

    def __init__(self, max_bytes: int) -> None:
        self.max_bytes = int(max_bytes)
        self._items: OrderedDict[int, PreparedFace] = OrderedDict()
        self._bytes = 0
        self._lock = threading.Lock()
        self.hits = 0
        self.misses = 0

    def get(self, key: int) -> PreparedFace | None:
        with self._lock:
            item = self._items.get(key)
            if item is None:
                self.misses += 1
                return None
            self._items.move_to_end(key)
            self.hits += 1
            return item

    def put(self, key: int, face: PreparedFace) -> None:
        if face.nbytes > self.max_bytes:
            return
        with self._lock:
            old = self._items.pop(key, None)
            if old is not None:
                self._bytes -= old.nbytes
            self._items[key] = face
            self._bytes += face.nbytes
            while self._bytes > self.max_bytes and self._items:
                _k, ev = self._items.popitem(last=False)
                self._bytes -= ev.nbytes

    @property
    def nbytes(self) -> int:
        return self._bytes

    def __len__(self) -> int:
        return len(self._items)


# ---------------------------------------------------------------------------
# Which face comes next
# ---------------------------------------------------------------------------


class IndexHost:
    """Shuffle without replacement, refilled every epoch (DeepFaceLab's ``IndexHost``)."""

    def __init__(self, n: int, rng: random.Random) -> None:
        self.n = n
        self.rng = rng
        self._pool: list[int] = []
        self.epoch = 0

    def next(self) -> int:
        if not self._pool:
            self._pool = list(range(self.n))
            self.rng.shuffle(self._pool)
            self.epoch += 1
        return self._pool.pop()


class YawIndexHost:
    """Uniform yaw: 128 bins over [-1.2, 1.2] rad; a bin is picked uniformly among the
    non-empty ones (without replacement per round), then a face in it (without replacement)."""

    def __init__(self, yaws: Sequence[float], rng: random.Random, bins: int = YAW_BINS) -> None:
        self.rng = rng
        edges = np.linspace(-YAW_RANGE, YAW_RANGE, bins)
        # DFL compares -yaw against the bins; the side does not matter for a uniform pick.
        idx = np.clip(np.searchsorted(edges, -np.asarray(yaws, np.float64), side="right") - 1, 0, bins - 1)
        groups: dict[int, list[int]] = {}
        for i, b in enumerate(idx.tolist()):
            groups.setdefault(int(b), []).append(i)
        self.bins = [groups[b] for b in sorted(groups)]
        self._outer: list[int] = []
        self._inner: list[list[int]] = [[] for _ in self.bins]

    def next(self) -> int:
        if not self._outer:
            self._outer = list(range(len(self.bins)))
            self.rng.shuffle(self._outer)
        b = self._outer.pop()
        if not self._inner[b]:
            self._inner[b] = list(self.bins[b])
            self.rng.shuffle(self._inner[b])
        return self._inner[b].pop()


# ---------------------------------------------------------------------------
# Batches of uint8 tensors, prepared in the background
# ---------------------------------------------------------------------------


@dataclass
class RawBatch:
    """One side's faces for a step, before augmentation (numpy, NHWC/NHW uint8)."""

    images: np.ndarray  # N x res x res x 3 (BGR)
    masks: np.ndarray  # N x res x res
    em_masks: np.ndarray  # N x res x res
    indexes: list[int]


class FaceSource:
    """Serves batches of prepared faces of one faceset, forever.

    ``threads`` background workers decode into a queue of ``prefetch`` batches; with ``processes``
    (or a shared ``pool`` from :func:`loader_pool`) the decoding runs in worker processes and the
    threads only wait for them. Faces that fail to decode (a file deleted or damaged while
    training) are reported once and replaced.
    """

    def __init__(self, samples: list[FaceSample], res: int, face_type: FaceType, batch_size: int, *,
                 uniform_yaw: bool = False, seed: int | None = None, cache_bytes: int = 512 << 20,
                 threads: int = 2, prefetch: int = 3, warn: Callable[[str], None] | None = None,
                 label: str = "", processes: int = 0, pool: ProcessPoolExecutor | None = None) -> None:
        if not samples:
            raise InputError(f"{label or 'faceset'}: no faces to train on")
        self.samples = samples
        self.res = int(res)
        self.face_type = FaceType.from_string(face_type)
        self.batch_size = int(batch_size)
        self.label = label
        self.warn = warn
        self.rng = random.Random(seed)
        self.index = YawIndexHost([s.yaw for s in samples], self.rng) if uniform_yaw else IndexHost(len(samples), self.rng)
        self.cache = FaceCache(cache_bytes)
        self._bad: set[int] = set()
        self._index_lock = threading.Lock()
        self._procs = pool if pool is not None else (loader_pool(processes) if processes > 0 else None)
        self._own_procs = pool is None and self._procs is not None
        workers = max(1, threads, processes)  # a thread waits on each busy process
        self._pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix=f"faces-{label}")
        self._prefetch = Prefetcher(self.make_batch, depth=prefetch, name=f"batches-{label}")
        self._lower_type_warned = False

    # -- single faces -----------------------------------------------------------------
    def face(self, i: int) -> PreparedFace:
        """Prepared face ``i`` (from the cache when possible)."""
        got = self.cache.get(i)
        if got is not None:
            return got
        s = self.samples[i]
        if s.face_type < self.face_type and not self._lower_type_warned and self.warn is not None:
            self._lower_type_warned = True
            self.warn(f"{self.label}: {s.name} is a {s.face_type.to_string()} face but the model trains "
                      f"{self.face_type.to_string()}: the crop is widened with repeated edge pixels. "
                      "Extract faces with the model's face type for best results.")
        if self._procs is not None:
            face = self._procs.submit(load_prepared, s, self.res, self.face_type).result()
        else:
            face = load_prepared(s, self.res, self.face_type)
        self.cache.put(i, face)
        return face

    def _next_index(self) -> int:
        with self._index_lock:
            for _ in range(len(self.samples) * 2 + 1):
                i = self.index.next()
                if i not in self._bad:
                    return i
        raise InputError(f"{self.label}: no readable faces left in the faceset")

    def _load_one(self, i: int) -> tuple[int, PreparedFace]:
        while True:
            try:
                return i, self.face(i)
            except (dflimg.FaceFileError, OSError, ValueError, cv2.error) as exc:
                self._bad.add(i)
                if self.warn is not None:
                    self.warn(f"{self.label}: {self.samples[i].name} cannot be read, leaving it out ({exc})")
                i = self._next_index()

    def make_batch(self, indexes: Sequence[int] | None = None) -> RawBatch:
        """A batch now, in this thread (used for the fixed preview batch and in tests)."""
        idx = list(indexes) if indexes is not None else [self._next_index() for _ in range(self.batch_size)]
        loaded = list(self._pool.map(self._load_one, idx))
        faces = [f for _i, f in loaded]
        return RawBatch(
            images=np.stack([f.image for f in faces]),
            masks=np.stack([f.mask for f in faces]),
            em_masks=np.stack([f.em_mask for f in faces]),
            indexes=[i for i, _f in loaded],
        )

    # -- background -------------------------------------------------------------------
    def start(self) -> "FaceSource":
        self._prefetch.start()
        return self

    def next(self, timeout: float | None = None) -> RawBatch:
        """The next prefetched batch (starts the background thread on first use)."""
        return self._prefetch.get(timeout=timeout)

    def __iter__(self) -> Iterator[RawBatch]:
        while True:
            yield self.next()

    def close(self) -> None:
        self._prefetch.close()
        self._pool.shutdown(wait=False, cancel_futures=True)
        if self._own_procs:
            self._procs.shutdown(wait=False, cancel_futures=True)

    # -- state for checkpoints ----------------------------------------------------------
    def get_state(self) -> dict[str, Any]:
        return {"rng": _rng_state_to_json(self.rng.getstate())}

    def set_state(self, state: dict[str, Any]) -> None:
        if state and "rng" in state:
            try:
                self.rng.setstate(_rng_state_from_json(state["rng"]))
            except (TypeError, ValueError):
                pass


def _rng_state_to_json(st: Any) -> list:
    version, internal, gauss = st
    return [version, list(internal), gauss]


def _rng_state_from_json(st: Sequence) -> Any:
    version, internal, gauss = st
    return (int(version), tuple(int(x) for x in internal), gauss)


def aligned_dirs(workspace: Any, pretraining_dir: str | None = None) -> tuple[Path, Path]:
    """The src and dst aligned folders (both the pretraining folder in pretrain mode)."""
    if pretraining_dir:
        p = Path(pretraining_dir).expanduser()
        return p, p
    return workspace.aligned("src"), workspace.aligned("dst")


def default_threads() -> int:
    return max(1, min(4, (os.cpu_count() or 2) // 2))


def default_processes(device_type: str, ranks: int = 1) -> int:
    """Loader processes for a training device: on a GPU the cores but one decode (shared by both
    sides, split between the torchrun ranks); on the CPU none (the cores train, and threads decode
    the first epoch into the cache)."""
    return max(1, ((os.cpu_count() or 2) - 1) // max(1, ranks)) if device_type == "cuda" else 0


__all__ = [
    "FaceCache", "FaceSample", "FaceSource", "IndexHost", "PreparedFace", "RawBatch", "YawIndexHost",
    "aligned_dirs", "default_processes", "default_threads", "eyes_mouth_mask", "full_face_mask", "load_faceset",
    "load_prepared", "loader_pool", "prepare_face",
    "read_pak_entries", "sample_from_bytes",
]
