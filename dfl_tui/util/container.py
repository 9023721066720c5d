"""The parts of an image file around its pixels: JPEG segments and PNG chunks.

One small reader and writer for both formats, used by the aligned-face file
(:mod:`dfl_tui.faces.dflimg`: DeepFaceLab's metadata in JPEG APP15 / PNG ``fcWp``),
the synthetic-output marks (:mod:`dfl_tui.provenance.metadata`: PNG text chunks,
JPEG XMP/COM) and the faceset tools (image size without decoding). Nothing here
decodes pixels, so it is fast and needs no image library.

* A JPEG is ``FFD8``, header segments (marker, 16-bit length, payload) up to the
  start of scan (``FFDA``), then the entropy-coded image, kept verbatim.
* A PNG is an 8-byte signature, then chunks: 32-bit length, 4-byte type, data, CRC.

Bytes that do not follow these rules raise :class:`ContainerError`, whose message
names the file (``source``); the streaming readers used for verification can be
lenient instead (``strict=False``: they stop where the file stops making sense).
"""

from __future__ import annotations

import io
import struct
import zlib
from typing import BinaryIO, Iterable, Iterator

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
JPEG_SOI = b"\xff\xd8"
SOS, EOI = 0xDA, 0xD9
APP1, APP15, COM = 0xE1, 0xEF, 0xFE
MAX_SEGMENT = 65533  # a JPEG segment's payload limit (16-bit length, which counts itself)
TEXT_CHUNKS = frozenset({b"tEXt", b"iTXt", b"zTXt"})
_SOF = frozenset({0xC0, 0xC1, 0xC2, 0xC3, 0xC5, 0xC6, 0xC7, 0xC9, 0xCA, 0xCB, 0xCD, 0xCE, 0xCF})


class ContainerError(ValueError):
    """A JPEG or PNG whose structure is broken (the message names the file)."""


def kind(data: bytes) -> str:
    """``"jpg"``, ``"png"`` or ``"?"`` from the first bytes."""
    if data[:2] == JPEG_SOI:
        return "jpg"
    if data.startswith(PNG_SIGNATURE):
        return "png"
    return "?"


def _standalone(marker: int) -> bool:
    """Markers without a length: SOI, TEM, RST0-7."""
    return marker in (0xD8, 0x01) or 0xD0 <= marker <= 0xD7


# ---------------------------------------------------------------------------
# JPEG
# ---------------------------------------------------------------------------


def iter_jpeg_segments(fh: BinaryIO, source: str = "<jpeg>", *, strict: bool = True) -> Iterator[tuple[int, bytes]]:
    """``(marker, payload)`` of the header segments, in order, ending with ``(SOS, b"")`` where the
    image data starts (``fh`` is then just past the SOS marker). Standalone markers have no payload."""
    if fh.read(2) != JPEG_SOI:
        if strict:
            raise ContainerError(f"{source}: not a JPEG file")
        return
    while True:
        b = fh.read(1)
        if not b:
            break
        if b[0] != 0xFF:
            if strict:
                raise ContainerError(f"{source}: corrupt JPEG (bad marker at byte {fh.tell() - 1})")
            return
        while b and b[0] == 0xFF:  # fill bytes
            b = fh.read(1)
        if not b:
            break
        marker = b[0]
        if marker == SOS:
            yield marker, b""
            return
        if _standalone(marker):
            yield marker, b""
            continue
        if marker == EOI:
            break
        head = fh.read(2)
        if len(head) < 2:
            break
        length = struct.unpack(">H", head)[0]
        payload = fh.read(max(0, length - 2))
        if length < 2 or len(payload) < length - 2:
            if strict:
                raise ContainerError(f"{source}: corrupt JPEG (segment runs past the end of the file)")
            return
        yield marker, payload
    if strict:
        raise ContainerError(f"{source}: corrupt or truncated JPEG (no image data)")


def split_jpeg(data: bytes, source: str = "<jpeg>") -> tuple[list[tuple[int, bytes]], bytes]:
    """Header segments (marker, payload) up to SOS, and the rest (SOS onwards) untouched."""
    fh = io.BytesIO(data)
    segs = list(iter_jpeg_segments(fh, source))
    segs.pop()  # the SOS itself
    return segs, b"\xff\xda" + data[fh.tell():]


def join_jpeg(segs: Iterable[tuple[int, bytes]], rest: bytes) -> bytes:
    out = bytearray(JPEG_SOI)
    for marker, payload in segs:
        if _standalone(marker):
            out += bytes([0xFF, marker])
            continue
        if len(payload) > MAX_SEGMENT:
            raise ContainerError(f"a JPEG segment holds at most {MAX_SEGMENT} bytes, not {len(payload)}")
        out += bytes([0xFF, marker]) + struct.pack(">H", len(payload) + 2) + payload
    out += rest
    return bytes(out)


def jpeg_segment(data: bytes, marker: int, source: str = "<jpeg>") -> bytes | None:
    """The payload of the first ``marker`` segment, or None."""
    for m, payload in iter_jpeg_segments(io.BytesIO(data), source):
        if m == marker:
            return payload
    return None


def jpeg_with_segment(data: bytes, marker: int, payload: bytes | None, source: str = "<jpeg>") -> bytes:
    """``data`` with its ``marker`` segments replaced by one holding ``payload`` (None: removed),
    placed after the last APPn segment (where DeepFaceLab puts APP15)."""
    segs, rest = split_jpeg(data, source)
    segs = [s for s in segs if s[0] != marker]
    if payload is not None:
        last_app = max((i for i, (m, _) in enumerate(segs) if 0xE0 <= m <= 0xEF), default=-1)
        segs.insert(last_app + 1, (marker, payload))
    return join_jpeg(segs, rest)


# ---------------------------------------------------------------------------
# PNG
# ---------------------------------------------------------------------------


def iter_png_chunks(fh: BinaryIO, source: str = "<png>", *, want: Iterable[bytes] | None = None,
                    stop_at_idat: bool = False, strict: bool = True) -> Iterator[tuple[bytes, bytes | None]]:
    """``(type, data)`` of each chunk up to IEND; ``data`` is read only for the types in ``want``
    (all when None; the others give None and are skipped with a seek). ``stop_at_idat``: stop at
    the image data (the header chunks are what a marker reader needs: fast)."""
    wanted = None if want is None else frozenset(want)
    if fh.read(8) != PNG_SIGNATURE:
        raise ContainerError(f"{source}: not a PNG file")
    while True:
        head = fh.read(8)
        if len(head) < 8:
            return
        length, ctype = struct.unpack(">I4s", head)
        if ctype == b"IDAT" and stop_at_idat:
            return
        if wanted is None or ctype in wanted:
            data = fh.read(length)
            crc = fh.read(4)
            if strict and (len(data) < length or len(crc) < 4):
                raise ContainerError(f"{source}: corrupt or truncated PNG")
            yield ctype, data
        else:
            fh.seek(length + 4, 1)
            yield ctype, None
        if ctype == b"IEND":
            return


def png_chunks(data: bytes, source: str = "<png>") -> list[tuple[bytes, bytes]]:
    """Every chunk of a PNG held in memory, as (type, data)."""
    return [(t, d or b"") for t, d in iter_png_chunks(io.BytesIO(data), source)]


def encode_chunk(ctype: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + ctype + data + struct.pack(">I", zlib.crc32(ctype + data) & 0xFFFFFFFF)


def join_png(chunks: Iterable[tuple[bytes, bytes]]) -> bytes:
    return PNG_SIGNATURE + b"".join(encode_chunk(t, d) for t, d in chunks)


def png_chunk(data: bytes, ctype: bytes, source: str = "<png>") -> bytes | None:
    """The data of the first ``ctype`` chunk, or None."""
    for t, d in iter_png_chunks(io.BytesIO(data), source, want=(ctype,), stop_at_idat=False):
        if t == ctype:
            return d
    return None


def png_with_chunks(data: bytes, chunks: Iterable[tuple[bytes, bytes]], *, drop: Iterable[bytes] = (),
                    source: str = "<png>") -> bytes:
    """``data`` without its ``drop`` chunks, with ``chunks`` inserted right after IHDR (so readers
    that stop at the image data still see them). The image data is copied, not re-encoded."""
    if not data.startswith(PNG_SIGNATURE) or len(data) < 16:
        raise ContainerError(f"{source}: not a PNG file")
    drop = frozenset(drop)
    new = b"".join(encode_chunk(t, d) for t, d in chunks)
    if not drop:  # the common case: splice after IHDR without walking the file
        ihdr_end = 8 + 12 + struct.unpack(">I", data[8:12])[0]
        return data[:ihdr_end] + new + data[ihdr_end:]
    kept = [(t, d) for t, d in png_chunks(data, source) if t not in drop]
    return PNG_SIGNATURE + encode_chunk(*kept[0]) + new + b"".join(encode_chunk(t, d) for t, d in kept[1:])


# ---------------------------------------------------------------------------
# Both
# ---------------------------------------------------------------------------


def image_size(data: bytes) -> tuple[int, int] | None:
    """(width, height) from a JPEG or PNG header, without decoding the image; None if not found."""
    if data.startswith(PNG_SIGNATURE) and len(data) >= 24 and data[12:16] == b"IHDR":
        w, h = struct.unpack(">II", data[16:24])
        return int(w), int(h)
    if data[:2] != JPEG_SOI:
        return None
    for marker, payload in iter_jpeg_segments(io.BytesIO(data), strict=False):
        if marker in _SOF:
            if len(payload) >= 5:
                h, w = struct.unpack(">HH", payload[1:5])
                return int(w), int(h)
            return None
    return None
