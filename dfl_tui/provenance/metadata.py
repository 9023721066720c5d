"""Machine-readable "AI-generated" metadata: PNG text chunks, XMP, and video container tags.

PNG frames get, before their image data:

* ``tEXt Software`` = ``dfl-tui <version>``;
* ``tEXt Comment`` / ``tEXt Disclaimer`` = a human sentence that the image is AI-generated;
* ``iTXt XML:com.adobe.xmp`` = an XMP packet with the IPTC digital source type
  ``compositeWithTrainedAlgorithmicMedia`` (real footage with a face made by a trained
  model: the IPTC term for a face swap), ``dc:description`` and the creator tool, which
  photo tools and platforms that read IPTC understand;
* ``iTXt dfl-tui:provenance`` = JSON (``ai_generated``, tool, version, model name and
  type, iteration, watermark id, time), which :mod:`.verify` reads back.

The chunks are read and written by :mod:`dfl_tui.util.container` (the same code
that holds DeepFaceLab's metadata in aligned faces), so writing adds no dependency
and reading needs no image decoder. Metadata
is easy to strip (any re-encode drops it), which is why frames also carry a watermark.
"""

from __future__ import annotations

import datetime as _dt
import json
import struct
import zlib
from pathlib import Path
from typing import Any, BinaryIO

from .. import TOOL_NAME, __version__
from ..util import container as C
from . import DIGITAL_SOURCE_TYPE, MARK_TEXT

PROVENANCE_KEY = "dfl-tui:provenance"
XMP_KEY = "XML:com.adobe.xmp"
DISCLAIMER = (f"{MARK_TEXT}: this image was made by {TOOL_NAME}, a face-swap tool; the face is synthetic "
              "(created by a trained model) and does not show a real recording of this person.")
VIDEO_DISCLAIMER = (f"{MARK_TEXT} ({TOOL_NAME} {__version__}): this video contains a synthetic face made by a "
                    "trained model (face swap); it is not an authentic recording.")


# ---------------------------------------------------------------------------
# provenance record
# ---------------------------------------------------------------------------


def provenance_record(model: str | None = None, model_type: str | None = None, iteration: int | None = None,
                      mark_id: int | None = None, label: bool = False, **extra: Any) -> dict[str, Any]:
    """The JSON stored in every merged frame (and summarised in video tags)."""
    rec: dict[str, Any] = {
        "ai_generated": True,
        "statement": MARK_TEXT,
        "tool": TOOL_NAME,
        "version": __version__,
        "digital_source_type": DIGITAL_SOURCE_TYPE,
        "created": _dt.datetime.now(_dt.timezone.utc).replace(microsecond=0).isoformat(),
    }
    if model:
        rec["model"] = model
    if model_type:
        rec["model_type"] = model_type
    if iteration is not None:
        rec["iteration"] = int(iteration)
    if mark_id is not None:
        rec["watermark_id"] = f"{int(mark_id):08x}"
    rec["visible_label"] = bool(label)
    rec.update(extra)
    return rec


def xmp_packet(record: dict[str, Any]) -> str:
    """A minimal XMP packet: IPTC digital source type, description, creator tool."""

    def esc(s: Any) -> str:
        return str(s).replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;").replace('"', "&quot;")

    tool = f"{record.get('tool', TOOL_NAME)} {record.get('version', __version__)}"
    model = record.get("model")
    desc = DISCLAIMER + (f" Model: {model}." if model else "")
    return (
        '<?xpacket begin="\ufeff" id="W5M0MpCehiHzreSzNTczkc9d"?>\n'
        '<x:xmpmeta xmlns:x="adobe:ns:meta/">\n'
        ' <rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#">\n'
        '  <rdf:Description rdf:about=""\n'
        '    xmlns:Iptc4xmpExt="http://iptc.org/std/Iptc4xmpExt/2008-02-29/"\n'
        '    xmlns:xmp="http://ns.adobe.com/xap/1.0/"\n'
        '    xmlns:dc="http://purl.org/dc/elements/1.1/"\n'
        f'    Iptc4xmpExt:DigitalSourceType="{esc(record.get("digital_source_type", DIGITAL_SOURCE_TYPE))}"\n'
        f'    xmp:CreatorTool="{esc(tool)}">\n'
        f'   <dc:description><rdf:Alt><rdf:li xml:lang="x-default">{esc(desc)}</rdf:li></rdf:Alt></dc:description>\n'
        '  </rdf:Description>\n'
        ' </rdf:RDF>\n'
        '</x:xmpmeta>\n'
        '<?xpacket end="w"?>'
    )


# ---------------------------------------------------------------------------
# PNG chunks
# ---------------------------------------------------------------------------


def text_chunk(key: str, value: str) -> tuple[bytes, bytes]:
    """``tEXt`` (Latin-1) when possible, else ``iTXt`` (UTF-8): (type, data)."""
    try:
        return b"tEXt", key.encode("latin-1") + b"\x00" + value.encode("latin-1")
    except UnicodeEncodeError:
        return itxt_chunk(key, value)


def itxt_chunk(key: str, value: str, compress: bool = False) -> tuple[bytes, bytes]:
    data = value.encode("utf-8")
    if compress:
        data = zlib.compress(data)
    return b"iTXt", key.encode("latin-1") + b"\x00" + bytes([1 if compress else 0, 0]) + b"\x00\x00" + data


def add_png_text(png: bytes, items: dict[str, str], *, itxt_keys: tuple[str, ...] = ()) -> bytes:
    """Insert text chunks right after IHDR (so readers that stop at the image data still see them)."""
    return C.png_with_chunks(png, [itxt_chunk(k, v) if k in itxt_keys else text_chunk(k, v) for k, v in items.items()])


def marked_png_items(record: dict[str, Any]) -> dict[str, str]:
    """The text chunks that mark a PNG frame as AI-generated."""
    return {
        "Software": f"{TOOL_NAME} {__version__}",
        "Comment": DISCLAIMER,
        "Disclaimer": MARK_TEXT,
        XMP_KEY: xmp_packet(record),
        PROVENANCE_KEY: json.dumps(record, sort_keys=True),
    }


def mark_png(png: bytes, record: dict[str, Any], extra: dict[str, str] | None = None) -> bytes:
    items = marked_png_items(record)
    if extra:
        items.update(extra)
    return add_png_text(png, items, itxt_keys=(XMP_KEY, PROVENANCE_KEY))


def _decode_text(ctype: bytes, data: bytes) -> tuple[str, str]:
    key, _, rest = data.partition(b"\x00")
    k = key.decode("latin-1")
    if ctype == b"tEXt":
        return k, rest.decode("latin-1")
    if ctype == b"zTXt":
        return k, zlib.decompress(rest[1:]).decode("latin-1")
    comp_flag = rest[0]
    rest = rest[2:]
    _lang, _, rest = rest.partition(b"\x00")
    _tkey, _, text = rest.partition(b"\x00")
    if comp_flag:
        text = zlib.decompress(text)
    return k, text.decode("utf-8", "replace")


def read_png_text(path: str | Path | BinaryIO, *, head_only: bool = False) -> dict[str, str]:
    """All text chunks of a PNG (``head_only``: only those before the image data: fast)."""
    out: dict[str, str] = {}

    def scan(fh: BinaryIO) -> None:
        for ctype, data in C.iter_png_chunks(fh, str(getattr(fh, "name", "<png>")), want=C.TEXT_CHUNKS,
                                             stop_at_idat=head_only, strict=False):
            if data is not None:
                try:
                    k, v = _decode_text(ctype, data)
                except (zlib.error, IndexError, UnicodeDecodeError):
                    continue
                out[k] = v

    if hasattr(path, "read"):
        scan(path)  # type: ignore[arg-type]
    else:
        with open(path, "rb") as fh:
            scan(fh)
    return out


def read_provenance(path: str | Path) -> dict[str, Any] | None:
    """The provenance JSON of a PNG written by the merger, or None."""
    try:
        text = read_png_text(path, head_only=True)
    except (OSError, ValueError, struct.error):
        return None
    raw = text.get(PROVENANCE_KEY)
    if not raw:
        return None
    try:
        rec = json.loads(raw)
    except json.JSONDecodeError:
        return None
    return rec if isinstance(rec, dict) else None


# ---------------------------------------------------------------------------
# JPEG (verify only: XMP in APP1, COM)
# ---------------------------------------------------------------------------


def read_jpeg_text(path: str | Path) -> dict[str, str]:
    out: dict[str, str] = {}
    with open(path, "rb") as fh:
        if fh.read(2) != C.JPEG_SOI:
            raise ValueError("not a JPEG file")
        fh.seek(0)
        for marker, data in C.iter_jpeg_segments(fh, str(path), strict=False):
            if marker == C.APP1 and data.startswith(b"http://ns.adobe.com/xap/1.0/\x00"):
                out[XMP_KEY] = data.split(b"\x00", 1)[1].decode("utf-8", "replace")
            elif marker == C.COM:
                out["Comment"] = data.decode("latin-1")
    return out


# ---------------------------------------------------------------------------
# video container tags
# ---------------------------------------------------------------------------


def video_tags(record: dict[str, Any] | None = None) -> dict[str, str]:
    """Container tags for a video made of merged frames.

    ``comment``, ``description`` and ``synopsis`` are tags the MP4 muxer keeps
    without special flags; the comment carries the machine-readable summary.
    """
    rec = dict(record or {})
    parts = [f"{MARK_TEXT}=true", f"tool={TOOL_NAME}", f"version={__version__}",
             f"digital_source_type={DIGITAL_SOURCE_TYPE.rsplit('/', 1)[-1]}"]
    if rec.get("model"):
        parts.append(f"model={rec['model']}")
    if rec.get("model_type"):
        parts.append(f"model_type={rec['model_type']}")
    if rec.get("watermark_id"):
        parts.append(f"watermark_id={rec['watermark_id']}")
    return {
        "comment": "; ".join(parts),
        "description": VIDEO_DISCLAIMER,
        "synopsis": VIDEO_DISCLAIMER,
    }


def video_tags_for_frames(first_frame: str | Path) -> dict[str, str]:
    """Tags for a video whose first frame is ``first_frame`` (its provenance, if any, is summarised)."""
    return video_tags(read_provenance(first_frame))


def parse_video_tags(tags: dict[str, str]) -> dict[str, Any] | None:
    """What the container tags say, or None if they do not declare AI-generated content."""
    found: dict[str, Any] = {}
    low = {k.lower(): str(v) for k, v in tags.items()}
    for key in ("comment", "description", "synopsis"):
        v = low.get(key, "")
        if MARK_TEXT.lower() in v.lower():
            found[key] = v
    if not found:
        return None
    comment = low.get("comment", "")
    fields = {}
    for part in comment.split(";"):
        k, sep, v = part.strip().partition("=")
        if sep:
            fields[k.strip()] = v.strip()
    found["fields"] = fields
    return found
