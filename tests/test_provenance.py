"""Marking synthetic output: the invisible watermark, PNG/XMP metadata, video tags, the visible label."""

from __future__ import annotations

import io

import cv2
import numpy as np

from dfl_tui.provenance import DIGITAL_SOURCE_TYPE
from dfl_tui.provenance import metadata as md
from dfl_tui.provenance import watermark as wm
from dfl_tui.provenance.label import draw_label
from faces_data import astronaut_bgr, camera_gray, grace_hopper_bgr


def real_images() -> dict[str, np.ndarray]:
    from skimage import data

    return {
        "astronaut": astronaut_bgr(),
        "hopper": grace_hopper_bgr(),
        "camera": cv2.cvtColor(camera_gray(), cv2.COLOR_GRAY2BGR),
        "coffee": np.ascontiguousarray(data.coffee()[..., ::-1]),
        "flat": np.full((300, 400, 3), 128, np.uint8),
    }


def test_watermark_is_invisible_and_found_in_every_real_image():
    for name, img in real_images().items():
        marked = wm.embed(img, 0xC0FFEE)
        assert marked.shape == img.shape and marked.dtype == np.uint8
        assert wm.psnr(img, marked) > 42, name  # about 44-45 dB: invisible
        d = wm.detect(marked)
        assert d.found and d.bit_accuracy == 1.0 and d.mark_id == 0xC0FFEE, (name, d)
        assert d.z > 2 * wm.Z_THRESHOLD


def test_unmarked_images_are_not_flagged():
    for name, img in real_images().items():
        d = wm.detect(img)
        assert not d.found and abs(d.z) < 4, (name, d.z)
        assert d.mark_id is None


def test_watermark_survives_resizing_and_jpeg():
    img = astronaut_bgr()
    marked = wm.embed(img, 7)
    half = cv2.resize(marked, (384, 384), interpolation=cv2.INTER_AREA)
    assert wm.detect(half).found
    ok, jpg = cv2.imencode(".jpg", marked, [cv2.IMWRITE_JPEG_QUALITY, 75])
    assert wm.detect(cv2.imdecode(jpg, cv2.IMREAD_COLOR)).found


def test_watermark_survives_h264_at_typical_crf(tmp_path):
    """The trip every merged frame takes: PNG -> H.264 (make-video's encoder) -> decode."""
    from dfl_tui.video.encode import encode_video

    frames = []
    for i in range(10):  # a moving shot: motion compensation is what removes fine marks
        m = cv2.getRotationMatrix2D((256, 256), 0.6 * i, 1.0 + 0.004 * i)
        m[0, 2] += 1.5 * i
        f = cv2.warpAffine(astronaut_bgr(), m, (512, 512), borderMode=cv2.BORDER_REFLECT101)
        p = tmp_path / f"{i:05d}.png"
        cv2.imwrite(str(p), wm.embed(f, 0xABCDEF01))
        frames.append(p)
    for crf in (18, 23):
        out = tmp_path / f"crf{crf}.mp4"
        encode_video(frames, out, 25, None, crf=crf)
        import av

        with av.open(str(out)) as c:
            dets = [wm.detect(fr.to_ndarray(format="bgr24")) for fr in c.decode(video=0)]
        assert len(dets) == 10
        rate = sum(d.found for d in dets) / len(dets)
        assert rate >= 0.9, (crf, [round(d.z, 1) for d in dets])
        assert wm.pool(dets).mark_id == 0xABCDEF01


def test_pooling_a_still_unmarked_video_does_not_create_a_mark():
    img = grace_hopper_bgr()
    dets = [wm.detect(img)] * 50  # identical frames: their noise does not average out
    assert not wm.pool(dets).found


def test_png_metadata_round_trip_and_image_intact():
    img = astronaut_bgr()
    ok, buf = cv2.imencode(".png", img)
    rec = md.provenance_record(model="demo", model_type="SAEHD", iteration=1500, mark_id=0x1234, label=False)
    png = md.mark_png(buf.tobytes(), rec, {"extra-key": "ünïcode ok"})
    # still a valid PNG for OpenCV and Pillow, pixels unchanged
    assert np.array_equal(cv2.imdecode(np.frombuffer(png, np.uint8), cv2.IMREAD_COLOR), img)
    from PIL import Image

    im = Image.open(io.BytesIO(png))
    im.load()
    assert "ai-generated" in im.info.get("Comment", "").lower()
    text = md.read_png_text(io.BytesIO(png))
    assert text["Software"].startswith("dfl-tui ") and text["Disclaimer"] == "AI-generated"
    assert text["extra-key"] == "ünïcode ok"
    xmp = text[md.XMP_KEY]
    assert DIGITAL_SOURCE_TYPE in xmp and "Iptc4xmpExt:DigitalSourceType" in xmp
    import json

    back = json.loads(text[md.PROVENANCE_KEY])
    assert back["ai_generated"] is True and back["model"] == "demo" and back["watermark_id"] == "00001234"
    # the chunks sit before the image data: a header-only read finds them
    assert md.PROVENANCE_KEY in md.read_png_text(io.BytesIO(png), head_only=True)


def test_video_tags_are_parsed_back():
    tags = md.video_tags({"model": "m1", "model_type": "AMP", "watermark_id": "00ff00ff"})
    got = md.parse_video_tags(tags)
    assert got and got["fields"]["AI-generated"] == "true" and got["fields"]["model"] == "m1"
    assert md.parse_video_tags({"comment": "holiday 2024", "title": "x"}) is None


def test_visible_label_sits_in_a_corner():
    img = np.full((360, 640, 3), 200, np.uint8)
    out = draw_label(img)
    changed = np.abs(out.astype(int) - img).max(axis=2) > 0
    ys, xs = np.nonzero(changed)
    assert ys.min() > 360 * 0.8 and xs.min() > 640 * 0.6  # bottom-right only
    assert (out[changed] > 240).all(axis=1).sum() > 30  # white text pixels
