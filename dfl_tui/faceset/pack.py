"""``pack`` / ``unpack``: a faceset in one file, and DeepFaceLab's ``faceset.pak`` read safely.

Our format, ``faceset.dflpack`` (no pickle anywhere)::

    b"DFLTPACK" | u32 version=1 | u64 header length | header (UTF-8 JSON) | file bytes...

The header lists ``{"name", "person", "offset", "size", "crc32"}`` per file, offsets
relative to the end of the header. Files are stored byte for byte (their metadata
stays inside them), so unpacking gives back exactly what was packed.

DeepFaceLab's ``faceset.pak`` (deepfacelab.md §3.3) is
``Q version | Q len | pickle of sample configs | (N+1) Q offsets | files``. The configs
are read with the restricted unpickler; the two enums DeepFaceLab pickles in them
(``samplelib.Sample.SampleType``, ``facelib.FaceType.FaceType``) become plain ints
and anything else is refused. Quirk handled: the last offset is written as an
absolute file position, so the last file's end is clamped to the end of the file.

Packing moves the loose files to the trash (one undoable operation); unpacking
moves the pack file to the trash after writing the faces.
"""

from __future__ import annotations

import io
import json
import pickle
import struct
import time
import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO

from ..errors import InputError
from ..faces.dflimg import FaceFileError, RestrictedUnpickler, UnsafeMetadataError
from ..jobs.context import Reporter
from ..util.atomic import atomic_open, atomic_write_bytes
from ..util.paths import OutsideError, inside
from ..workspace import list_images
from .trash import Trash

PACK_NAME = "faceset.dflpack"
DFL_PAK_NAME = "faceset.pak"
MAGIC = b"DFLTPACK"
VERSION = 1


@dataclass
class PackEntry:
    name: str
    person: str | None
    offset: int  # absolute position in the pack file
    size: int
    crc32: int | None = None


LEFT_AS_IS = "the pack was not read and is left as it is"


def _safe_name(name: Any, what: str, source: str) -> str:
    if not isinstance(name, str):
        raise InputError(f"{source}: corrupt header (a {what} name is {type(name).__name__} {name!r}, not text); "
                         f"{LEFT_AS_IS}")
    n = name
    if not n or "/" in n or "\\" in n or n in (".", "..") or n.startswith(".") or "\x00" in n:
        raise InputError(f"{source}: refuses the {what} name {n!r} (it would write outside the faceset)")
    return n


# ---------------------------------------------------------------------------
# Our format
# ---------------------------------------------------------------------------


PACK_FORMATS = ("auto", "dfl", "dflpack")


def _dfl_obstacle(items: list[tuple[Path, str | None]]) -> str | None:
    """Why DeepFaceLab's faceset.pak would lose a face of ``items`` (None: it loses nothing)."""
    from ..faces.dflimg import FaceFileError, read_meta

    for p, _ in items:
        if p.suffix.lower() not in (".jpg", ".jpeg"):
            return f"{p.name} is not a JPEG (DeepFaceLab reads only JPEG faces; 'faceset ... convert --to jpg')"
        try:
            meta = read_meta(p)
        except FaceFileError as exc:
            return str(exc)
        if meta.landmarks is None or meta.face_type is None:
            return f"{p.name} has no face metadata"
    return None


def pack_folder(folder: Path, ctx: Reporter | None = None, *, persons: bool = False, overwrite: bool = False,
                fmt: str = "auto") -> dict:
    """Pack the faceset: ``fmt`` dfl = DeepFaceLab's faceset.pak, dflpack = ours (CRC-checked, any image),
    auto = DeepFaceLab's when it loses nothing (every face a JPEG with metadata), else ours."""
    ctx = ctx or Reporter()
    if fmt not in PACK_FORMATS:
        raise InputError(f"pack format {fmt!r}: one of {', '.join(PACK_FORMATS)}")
    items: list[tuple[Path, str | None]] = []
    if persons:
        for d in sorted(folder.iterdir()):
            if d.is_dir() and not d.name.startswith("."):
                try:
                    inside(folder, d, "folder")
                except OutsideError as exc:
                    ctx.warn(f"{exc}; not packed")
                    continue
                items += [(p, d.name) for p in list_images(d)]
    else:
        items = [(p, None) for p in list_images(folder)]
    kept = []
    for p, person in items:
        try:
            inside(folder, p)
            kept.append((p, person))
        except OutsideError as exc:
            ctx.warn(f"{exc}; not packed")
    items = kept
    if not items:
        raise InputError(f"{folder}: no faces to pack" + (" in sub-folders" if persons else ""))
    if fmt != "dflpack":
        why = _dfl_obstacle(items)
        if why is None:
            return _pack_dfl(folder, items, ctx, overwrite)
        if fmt == "dfl":
            raise InputError(f"{folder}: DeepFaceLab's faceset.pak would lose a face: {why}; use --format dflpack")
        ctx.log(f"packing as faceset.dflpack (dfl-tui's own format) because DeepFaceLab's would lose a face: {why}")
    out = folder / PACK_NAME
    if out.exists() and not overwrite:
        raise InputError(f"{out} already exists; unpack it first, or pass --overwrite to replace it")
    ctx.stage("packing", len(items), "faces")
    entries = []
    offset = 0
    for p, person in items:
        size = p.stat().st_size
        entries.append({"name": p.name, "person": person, "offset": offset, "size": size})
        offset += size
    # CRCs are filled while copying; the header is rewritten at the end (same length: fixed-width crc field).
    for e in entries:
        e["crc32"] = "00000000"
    created = round(time.time(), 3)
    header = json.dumps({"version": VERSION, "created": created, "files": entries}, separators=(",", ":")).encode()
    with atomic_open(out, "wb") as fh:
        fh.write(MAGIC + struct.pack("<IQ", VERSION, len(header)))
        hpos = fh.tell()
        fh.write(header)
        for i, ((p, _), e) in enumerate(zip(items, entries)):
            data = p.read_bytes()
            if len(data) != e["size"]:
                raise InputError(f"{p} changed while packing; run pack again")
            e["crc32"] = f"{zlib.crc32(data) & 0xFFFFFFFF:08x}"
            fh.write(data)
            if i % 64 == 0:
                ctx.progress(i + 1, len(items))
                ctx.check_cancel()
        header2 = json.dumps({"version": VERSION, "created": created, "files": entries}, separators=(",", ":")).encode()
        assert len(header2) == len(header)
        fh.seek(hpos)
        fh.write(header2)
        fh.seek(0, 2)
    ctx.progress(len(items), len(items))
    op = Trash(folder).delete([p for p, _ in items], "pack")
    ctx.log(f"packed {len(items)} faces into {out}; the loose files are in {folder / '.trash'}")
    return {"packed": len(items), "pack": str(out), "format": "dflpack", "bytes": out.stat().st_size,
            "undo_id": op.id}


def _pack_dfl(folder: Path, items: list[tuple[Path, str | None]], ctx: Reporter, overwrite: bool) -> dict:
    from .dflpak import write_pak

    out = folder / DFL_PAK_NAME
    if out.exists() and not overwrite:
        raise InputError(f"{out} already exists; unpack it first, or pass --overwrite to replace it")
    if (folder / PACK_NAME).exists():
        raise InputError(f"{folder / PACK_NAME} is there too; unpack it first (the trainer would read only one)")
    ctx.stage("packing for DeepFaceLab", 2 * len(items), "steps")
    with atomic_open(out, "wb") as fh:
        write_pak(fh, items, progress=ctx.progress)
    op = Trash(folder).delete([p for p, _ in items], "pack")
    ctx.log(f"packed {len(items)} faces into {out} (DeepFaceLab's layout: DeepFaceLab and dfl-tui read it); "
            f"the loose files are in {folder / '.trash'}")
    return {"packed": len(items), "pack": str(out), "format": "dfl", "bytes": out.stat().st_size, "undo_id": op.id}


def read_pack(path: Path) -> list[PackEntry]:
    """The entries of a ``faceset.dflpack`` (validated: names, offsets, sizes)."""
    size = path.stat().st_size
    with open(path, "rb") as fh:
        head = fh.read(20)
        if len(head) < 20 or head[:8] != MAGIC:
            raise InputError(f"{path}: not a dfl-tui faceset pack")
        version, hlen = struct.unpack("<IQ", head[8:20])
        if version != VERSION:
            raise InputError(f"{path}: pack version {version} is newer than this dfl-tui understands")
        if hlen > size - 20:
            raise InputError(f"{path}: corrupt pack (header runs past the end)")
        try:
            doc = json.loads(fh.read(hlen))
        except ValueError as exc:
            raise InputError(f"{path}: corrupt pack header ({exc})") from None
    base = 20 + hlen
    files = doc.get("files") if isinstance(doc, dict) else None
    if not isinstance(files, list):
        raise InputError(f"{path}: corrupt pack header (no list of files); {LEFT_AS_IS}")
    out = []
    for i, e in enumerate(files):
        if not isinstance(e, dict):
            raise InputError(f"{path}: corrupt pack header (entry {i} is a {type(e).__name__}, not an object); "
                             f"{LEFT_AS_IS}")
        name = _safe_name(e.get("name"), "file", str(path))
        person = _safe_name(e["person"], "person", str(path)) if e.get("person") else None
        off, n, crc = e.get("offset"), e.get("size"), e.get("crc32")
        if not all(isinstance(v, int) and not isinstance(v, bool) for v in (off, n)) or \
                not (crc is None or (isinstance(crc, str) and len(crc) == 8 and all(c in "0123456789abcdefABCDEF"
                                                                                     for c in crc))):
            raise InputError(f"{path}: corrupt pack header (entry {i}, {name}: offset {off!r}, size {n!r}, "
                             f"crc32 {crc!r}); {LEFT_AS_IS}")
        if off < 0 or n < 0 or base + off + n > size:
            raise InputError(f"{path}: corrupt pack ({name} runs past the end of the file)")
        out.append(PackEntry(name, person, base + off, n, int(crc, 16) if crc is not None else None))
    return out


# ---------------------------------------------------------------------------
# DeepFaceLab's faceset.pak
# ---------------------------------------------------------------------------


def _as_int(v: Any = 0, *_: Any) -> int:
    return int(v)


_PAK_ENUMS = {
    ("samplelib.Sample", "SampleType"): _as_int,
    ("facelib.FaceType", "FaceType"): _as_int,
    ("facelib", "FaceType"): _as_int,
    ("core.imagelib.SegIEPolys", "SegIEPolyType"): _as_int,
}


class _PakUnpickler(RestrictedUnpickler):
    """The restricted unpickler plus DeepFaceLab's enums (as ints)."""

    def find_class(self, module: str, name: str) -> Any:
        fn = _PAK_ENUMS.get((module, name))
        if fn is not None:
            return fn
        return super().find_class(module, name)


def pak_loads(data: bytes, source: str) -> Any:
    try:
        return _PakUnpickler(io.BytesIO(data)).load()
    except pickle.UnpicklingError as exc:
        if "refused" in str(exc) or "not allowed" in str(exc):
            raise UnsafeMetadataError(
                f"{source}: its header holds something other than plain data ({exc}); nothing in it ran and the file "
                "was not unpacked. Use a faceset.pak only from a source you trust, or delete it.") from None
        raise FaceFileError(f"{source}: corrupt faceset.pak header ({exc})") from None
    except (EOFError, ValueError, TypeError, IndexError, AttributeError, struct.error, MemoryError) as exc:
        raise FaceFileError(f"{source}: corrupt faceset.pak header ({type(exc).__name__}: {exc})") from None


def read_dfl_pak(path: Path) -> tuple[list[PackEntry], list[dict]]:
    """Entries and sample configs of DeepFaceLab's ``faceset.pak``, read without running code."""
    size = path.stat().st_size
    with open(path, "rb") as fh:
        head = fh.read(16)
        if len(head) < 16:
            raise FaceFileError(f"{path}: too short to be a faceset.pak")
        version, plen = struct.unpack("<QQ", head)
        if version != 1:
            raise FaceFileError(f"{path}: unknown faceset.pak version {version}")
        if plen > size - 16:
            raise FaceFileError(f"{path}: corrupt faceset.pak (header runs past the end)")
        configs = pak_loads(fh.read(plen), str(path))
        if not isinstance(configs, list) or not all(isinstance(c, dict) for c in configs):
            raise FaceFileError(f"{path}: the faceset.pak header is not a list of samples")
        n = len(configs)
        table = fh.read(8 * (n + 1))
        if len(table) != 8 * (n + 1):
            raise FaceFileError(f"{path}: corrupt faceset.pak (offset table cut short)")
        offsets = list(struct.unpack(f"<{n + 1}Q", table))
        data_start = fh.tell()
    data_len = size - data_start
    entries = []
    for i, c in enumerate(configs):
        start = offsets[i]
        end = offsets[i + 1] if i + 1 < n else min(offsets[n], data_len)  # the last offset is absolute (quirk)
        end = min(end, data_len)
        if start > end or start < 0:
            raise FaceFileError(f"{path}: corrupt faceset.pak (bad offsets for sample {i})")
        name = _safe_name(c.get("filename") or f"{i:05d}.jpg", "file", str(path))
        person = c.get("person_name")
        person = _safe_name(person, "person", str(path)) if person else None
        entries.append(PackEntry(Path(name).name, person, data_start + start, end - start))
    return entries, configs


def _read_entry(fh: BinaryIO, e: PackEntry, source: str) -> bytes:
    fh.seek(e.offset)
    data = fh.read(e.size)
    if len(data) != e.size:
        raise InputError(f"{source}: {e.name} is cut short")
    if e.crc32 is not None and (zlib.crc32(data) & 0xFFFFFFFF) != e.crc32:
        raise InputError(f"{source}: {e.name} is corrupt (checksum mismatch)")
    return data


def unpack_folder(folder: Path, ctx: Reporter | None = None, *, overwrite: bool = False) -> dict:
    ctx = ctx or Reporter()
    ours, dfl = folder / PACK_NAME, folder / DFL_PAK_NAME
    if ours.exists():
        path, entries = ours, read_pack(ours)
    elif dfl.exists():
        path = dfl
        entries, _ = read_dfl_pak(dfl)
        ctx.log(f"reading DeepFaceLab's {dfl.name} safely (restricted reader): {len(entries)} faces")
    else:
        raise InputError(f"no {PACK_NAME} or {DFL_PAK_NAME} in {folder}")
    for parent in sorted({e.person for e in entries if e.person}):
        inside(folder, folder / parent, "folder")  # never write through a symlinked person folder
    ctx.stage("unpacking", len(entries), "faces")
    written = skipped = clashes = 0
    with open(path, "rb") as fh:
        for i, e in enumerate(entries):
            if i % 64 == 0:
                ctx.progress(i, len(entries))
                ctx.check_cancel()
            target = folder / e.person / e.name if e.person else folder / e.name
            data = _read_entry(fh, e, str(path))
            if target.exists() and not overwrite:
                skipped += 1
                if target.stat().st_size != len(data) or target.read_bytes() != data:  # same bytes: a killed unpack's
                    clashes += 1
                    if clashes <= 5:
                        ctx.warn(f"{target} already exists and differs from the pack's; kept it (use --overwrite to "
                                 "replace)")
                continue
            atomic_write_bytes(target, data, fsync=False)
            written += 1
    ctx.progress(len(entries), len(entries))
    op = Trash(folder).delete([path], "unpack")
    if clashes > 5:
        ctx.warn(f"... {clashes} faces in all differ from the pack's and were kept")
    ctx.log(f"unpacked {written} faces into {folder}" + (f" ({skipped} already there)" if skipped else "")
            + f"; {path.name} moved to the trash")
    return {"unpacked": written, "skipped": skipped, "pack": path.name, "undo_id": op.id}
