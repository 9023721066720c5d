"""One container module (util/container.py): JPEG segments and PNG chunks, for faces and for marks."""

from __future__ import annotations

import io
import struct
import zlib

import cv2
import numpy as np
import pytest

from dfl_tui.util import container as C


def _jpeg(w=24, h=16) -> bytes:
    return cv2.imencode(".jpg", np.full((h, w, 3), 90, np.uint8))[1].tobytes()


def _png(w=24, h=16) -> bytes:
    return cv2.imencode(".png", np.full((h, w, 3), 90, np.uint8))[1].tobytes()


def test_jpeg_segment_round_trip_keeps_the_image_bytes():
    data = _jpeg()
    out = C.jpeg_with_segment(data, C.APP15, b"hello")
    assert C.jpeg_segment(out, C.APP15) == b"hello"
    segs, rest = C.split_jpeg(out)
    assert [m for m, _ in segs].index(C.APP15) == 1  # right after JFIF's APP0
    assert rest == C.split_jpeg(data)[1]  # the image data is untouched
    assert C.jpeg_with_segment(out, C.APP15, None) == data
    assert np.array_equal(cv2.imdecode(np.frombuffer(out, np.uint8), cv2.IMREAD_COLOR),
                          cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR))


def test_png_chunks_round_trip_and_crc():
    data = _png()
    out = C.png_with_chunks(data, [(b"fcWp", b"payload"), (b"tEXt", b"k\x00v")])
    chunks = C.png_chunks(out)
    assert [t for t, _ in chunks][:3] == [b"IHDR", b"fcWp", b"tEXt"] and C.png_chunk(out, b"fcWp") == b"payload"
    pos = 8 + 12 + 13  # the first chunk after IHDR carries a correct CRC
    length, = struct.unpack(">I", out[pos:pos + 4])
    assert struct.unpack(">I", out[pos + 8 + length:pos + 12 + length])[0] == zlib.crc32(out[pos + 4:pos + 8 + length])
    replaced = C.png_with_chunks(out, [(b"fcWp", b"new")], drop=(b"fcWp",))
    assert C.png_chunk(replaced, b"fcWp") == b"new" and C.png_chunk(C.png_with_chunks(out, [], drop=(b"fcWp",)), b"fcWp") is None
    assert C.join_png(C.png_chunks(data)) == data


def test_streaming_readers_stop_early_and_can_be_lenient():
    data = C.png_with_chunks(_png(), [(b"tEXt", b"a\x00b")])
    got = list(C.iter_png_chunks(io.BytesIO(data), want=C.TEXT_CHUNKS, stop_at_idat=True))
    assert got == [(b"IHDR", None), (b"tEXt", b"a\x00b")]
    assert list(C.iter_jpeg_segments(io.BytesIO(b"\xff\xd8\x00junk"), strict=False)) == []


def test_broken_files_name_the_file():
    with pytest.raises(C.ContainerError, match="x.jpg: not a JPEG"):
        C.split_jpeg(b"nope", "x.jpg")
    with pytest.raises(C.ContainerError, match="x.jpg: corrupt"):
        C.split_jpeg(_jpeg()[:100], "x.jpg")
    with pytest.raises(C.ContainerError, match="y.png: corrupt or truncated PNG"):
        C.png_chunks(_png()[:60], "y.png")
    with pytest.raises(C.ContainerError):
        C.join_jpeg([(C.APP15, b"x" * (C.MAX_SEGMENT + 1))], b"\xff\xda")


def test_image_size_without_decoding():
    assert C.image_size(_jpeg(33, 21)) == (33, 21) and C.image_size(_png(17, 5)) == (17, 5)
    assert C.image_size(b"GIF89a") is None and C.image_size(_jpeg()[:4]) is None
