"""Video steps on short synthetic clips: extract-frames, make-video, cut-video, denoise-frames, bad input."""

from __future__ import annotations

import shutil
from pathlib import Path

import av
import cv2
import numpy as np
import pytest

from dfl_tui import jobs
from dfl_tui.errors import InputError
from dfl_tui.options import OptionError, from_dict
from dfl_tui.faceset.trash import Trash
from dfl_tui.video.cut import cut_video
from dfl_tui.video.denoise import Hqdn3d, denoise_folder, undo_denoise
from dfl_tui.video.encode import SYNTHETIC_TAGS, encode_video
from dfl_tui.video.frames import extract_frames, extraction_info
from dfl_tui.video.options import (CutVideoOptions, DenoiseOptions, ExtractFramesOptions, MakeVideoOptions,
                                   format_time, parse_time)
from dfl_tui.video.probe import probe
from dfl_tui.workspace import Workspace, list_images
from video_fixtures import clip_frame, make_clip, video_stats

SIZE = (96, 64)


@pytest.fixture(scope="module")
def clip(tmp_path_factory) -> Path:
    """2 s, 25 fps, with audio: the 'dst video' of most tests (copy it, do not change it)."""
    return make_clip(tmp_path_factory.mktemp("clips") / "clip.mp4", seconds=2.0, fps=25, size=SIZE)


@pytest.fixture
def ws(tmp_path, clip) -> Workspace:
    w = Workspace.open(tmp_path / "ws").ensure()
    shutil.copy(clip, w.root / "data_dst.mp4")
    return w


def leftovers(folder: Path) -> list[str]:
    """Hidden temporary files that a crash or bad input could leave behind."""
    return sorted(p.name for p in folder.rglob("*") if p.name.endswith((".tmp", ".part")))


# -- extract-frames ---------------------------------------------------------------------


def test_extract_frames_count_fps_and_order(ws):
    st = jobs.run_inline(ws, "extract-frames", ExtractFramesOptions(side="dst"))
    assert st["state"] == "done", st.get("error")
    frames = list_images(ws.frames("dst"))
    assert [p.name for p in frames[:2]] == ["00001.png", "00002.png"]
    assert len(frames) == probe(ws.root / "data_dst.mp4").frames == 50
    assert st["result"]["fps"] == 25.0 and st["result"]["frames"] == 50
    # Frame k is the k-th picture of the video (H.264 at crf 18 is close, not exact).
    for k in (1, 17, 50):
        img = cv2.imread(str(frames[k - 1]))
        assert img.shape == (SIZE[1], SIZE[0], 3)
        assert np.abs(img.astype(int) - clip_frame(k - 1, *SIZE)).mean() < 6
    info = extraction_info(ws.frames("dst"))
    assert info["complete"] and info["frames"] == 50
    assert leftovers(ws.root) == []


def test_extract_frames_fps_resampling_and_jpg(ws):
    folder = ws.frames("dst")
    extract_frames(ws.root / "data_dst.mp4", folder)
    first = sorted(p.name for p in list_images(folder))
    res = extract_frames(ws.root / "data_dst.mp4", folder, fps=10, fmt="jpg", jpeg_quality=80)
    frames = list_images(folder)
    assert res["frames"] == len(frames) == 20 and res["fps"] == 10
    assert {p.suffix for p in frames} == {".jpg"}
    # 10 fps out of 25: output frame k shows the input frame nearest to k/10 s.
    img = cv2.imread(str(frames[3]))  # t = 0.3 s -> input frame 7 or 8 (0.28 / 0.32)
    errs = [np.abs(img.astype(int) - clip_frame(i, *SIZE)).mean() for i in range(12)]
    assert int(np.argmin(errs)) in (7, 8)
    # The PNGs of the first run were moved to the trash, not deleted.
    op = Trash(folder).last("extract-frames")
    assert sorted(b for _a, b in op.moves) == [".trash/.frames.json"] + [f".trash/{n}" for n in first]
    # Undo brings them back, and the frames of this run go to the trash in their place.
    Trash(folder).undo()
    assert sorted(p.name for p in list_images(folder)) == first
    assert len(list_images(folder / ".trash")) == 20
    assert extraction_info(folder)["frames"] == 50  # the record of the earlier extraction came back too
    # Upsampling repeats frames (like ffmpeg -r).
    res = extract_frames(ws.root / "data_dst.mp4", folder, fps=50)
    assert res["frames"] == 100


def test_jpeg_quality_changes_size(ws, tmp_path):
    a, b = tmp_path / "q20", tmp_path / "q100"
    extract_frames(ws.root / "data_dst.mp4", a, fmt="jpg", jpeg_quality=20)
    extract_frames(ws.root / "data_dst.mp4", b, fmt="jpg", jpeg_quality=100)
    size = lambda d: sum(p.stat().st_size for p in list_images(d))  # noqa: E731
    assert size(a) < size(b) / 2


def test_photos_without_video_are_the_source(tmp_path):
    w = Workspace.open(tmp_path / "ws").ensure()
    w.frames("src").mkdir()
    for i in range(3):
        cv2.imwrite(str(w.frames("src") / f"photo{i}.jpg"), clip_frame(i, *SIZE))
    before = sorted(p.name for p in list_images(w.frames("src")))
    st = jobs.run_inline(w, "extract-frames", ExtractFramesOptions(side="src"))
    assert st["state"] == "done"
    assert st["result"]["source"] == "images" and st["result"]["frames"] == 3
    assert sorted(p.name for p in list_images(w.frames("src"))) == before
    # Neither a video nor photos: a clear error saying what to do.
    st = jobs.run_inline(w, "extract-frames", ExtractFramesOptions(side="dst"))
    assert st["state"] == "failed"
    assert "data_dst.mp4" in st["error"] and "photos" in st["error"]


@pytest.mark.parametrize("kind", ["truncated", "text", "empty", "missing", "audio-only"])
def test_bad_video_is_named_and_leaves_nothing(tmp_path, clip, kind):
    w = Workspace.open(tmp_path / "ws").ensure()
    bad = w.root / "data_src.mp4"
    if kind == "truncated":
        data = clip.read_bytes()
        bad.write_bytes(data[: len(data) // 2])  # moov atom at the end: lost
    elif kind == "text":
        bad.write_text("this is not a video\n" * 50)
    elif kind == "empty":
        bad.write_bytes(b"")
    elif kind == "audio-only":
        with av.open(str(bad), "w", format="mp4") as out:
            a = out.add_stream("aac", rate=48000)
            fr = av.AudioFrame.from_ndarray(np.zeros((2, 1024), np.float32), format="fltp", layout="stereo")
            fr.sample_rate = 48000
            for p in list(a.encode(fr)) + list(a.encode(None)):
                out.mux(p)
    opts = ExtractFramesOptions(side="src", video=None if kind != "missing" else str(w.root / "nope.mp4"))
    st = jobs.run_inline(w, "extract-frames", opts)
    assert st["state"] == "failed"
    name = "nope.mp4" if kind == "missing" else "data_src.mp4"
    assert name in st["error"], st["error"]
    assert "Traceback" not in st["error"]
    assert list_images(w.frames("src")) == []
    assert leftovers(w.root) == []
    with pytest.raises(InputError, match=name):
        probe(w.root / name)


def test_truncated_video_keeps_frames_before_the_damage(tmp_path):
    """A video cut short mid-stream (moov first) gives the frames before the cut and a warning."""
    src = tmp_path / "fast.mp4"
    with av.open(str(src), "w", format="mp4", options={"movflags": "faststart"}) as out:
        vs = out.add_stream("libx264", rate=25)
        vs.width, vs.height, vs.pix_fmt = 96, 64, "yuv420p"
        vs.options = {"preset": "ultrafast", "g": "5"}
        for i in range(50):
            f = av.VideoFrame.from_ndarray(clip_frame(i, 96, 64), format="bgr24")
            f.pts = i
            for p in vs.encode(f):
                out.mux(p)
        for p in vs.encode(None):
            out.mux(p)
    data = src.read_bytes()
    cut = tmp_path / "cut.mp4"
    cut.write_bytes(data[: int(len(data) * 0.6)])
    res = extract_frames(cut, tmp_path / "frames")
    assert 0 < res["frames"] < 50 and "truncated" in res["warning"]
    info = extraction_info(tmp_path / "frames")
    assert info["complete"] is False


# -- make-video -----------------------------------------------------------------------


def test_make_video_has_dst_frames_fps_and_audio(ws):
    extract_frames(ws.root / "data_dst.mp4", ws.frames("dst"))
    out = ws.root / "result.mp4"
    st = jobs.run_inline(ws, "make-video", MakeVideoOptions(from_dir=str(ws.frames("dst")), out=str(out)))
    assert st["state"] == "done", st.get("error")
    s = video_stats(out)
    assert s["frames"] == 50 and s["fps"] == 25.0 and s["audio"]
    assert abs(s["audio_seconds"] - 2.0) < 0.05
    assert st["result"]["audio"] == "copied"
    assert "comment" not in s["metadata"]  # real frames: not marked synthetic
    assert leftovers(ws.root) == []


def test_make_video_reencodes_audio_and_trims_to_video(ws, tmp_path):
    extract_frames(ws.root / "data_dst.mp4", ws.frames("dst"))
    frames = list_images(ws.frames("dst"))[:30]
    out = tmp_path / "short.mp4"
    res = encode_video(frames, out, 25, ws.root / "data_dst.mp4", copy_audio=False, crf=30)
    s = video_stats(out)
    assert res["audio"] == "aac" and s["frames"] == 30
    assert abs(s["audio_seconds"] - 1.2) < 0.06
    with av.open(str(out)) as c:
        a = c.streams.audio[0].codec_context
        assert a.name == "aac" and a.sample_rate == 48000


def test_make_video_lossless_is_exact_in_yuv(ws, tmp_path):
    extract_frames(ws.root / "data_dst.mp4", ws.frames("dst"))
    frames = list_images(ws.frames("dst"))[:6]
    out = tmp_path / "lossless.mp4"
    encode_video(frames, out, 25, None, lossless=True)
    with av.open(str(out)) as c:
        decoded = [f.to_ndarray(format="yuv420p") for f in c.decode(video=0)]
    expected = [av.VideoFrame.from_ndarray(cv2.imread(str(p)), format="bgr24").reformat(format="yuv420p").to_ndarray()
                for p in frames]
    assert len(decoded) == 6
    assert all(np.array_equal(a, b) for a, b in zip(decoded, expected))
    lossy = tmp_path / "lossy.mp4"
    encode_video(frames, lossy, 25, None, crf=35)
    assert lossy.stat().st_size < out.stat().st_size


def test_make_video_from_merged_marks_and_makes_mask(ws):
    extract_frames(ws.root / "data_dst.mp4", ws.frames("dst"))
    ws.merged.mkdir()
    ws.merged_mask.mkdir()
    for p in list_images(ws.frames("dst")):
        shutil.copy(p, ws.merged / p.name)
        img = cv2.imread(str(p), cv2.IMREAD_GRAYSCALE)
        cv2.imwrite(str(ws.merged_mask / p.name), (img > 128).astype(np.uint8) * 255)
    ws.result.write_bytes(b"an older result")
    st = jobs.run_inline(ws, "make-video", MakeVideoOptions(bitrate=2.0))
    assert st["state"] == "done", st.get("error")
    s, m = video_stats(ws.result), video_stats(ws.result_mask)
    assert s["frames"] == m["frames"] == 50 and s["audio"] and not m["audio"]
    assert s["metadata"]["comment"] == SYNTHETIC_TAGS["comment"]
    # The older result went to the trash, not away.
    assert Trash(ws.root).last().action == "replaced-video"
    assert (ws.root / ".trash" / "result.mp4").read_bytes() == b"an older result"


def test_make_video_odd_size_unreadable_frame_and_no_frames(tmp_path):
    folder = tmp_path / "frames"
    folder.mkdir()
    for i in range(4):
        cv2.imwrite(str(folder / f"{i:05d}.png"), clip_frame(i, 33, 21))
    (folder / "00004.png").write_bytes(b"broken")
    res = encode_video(list_images(folder), tmp_path / "odd.mp4", 10, None)
    s = video_stats(tmp_path / "odd.mp4")
    assert (s["width"], s["height"]) == (34, 22) and s["frames"] == 5 and res["unreadable_frames"] == 1
    empty = Workspace.open(tmp_path / "w2").ensure()
    st = jobs.run_inline(empty, "make-video", MakeVideoOptions())
    assert st["state"] == "failed" and "merged" in st["error"]


# -- cut-video ------------------------------------------------------------------------


def test_cut_video_is_frame_accurate_with_audio(tmp_path):
    src = make_clip(tmp_path / "long.mp4", seconds=3.0, fps=25, size=SIZE)
    w = Workspace.open(tmp_path).ensure()
    st = jobs.run_inline(w, "cut-video", CutVideoOptions(file=str(src), from_time="00:00:00.520",
                                                         to_time="00:00:01.720", bitrate=2))
    assert st["state"] == "done", st.get("error")
    out = tmp_path / "long_cut.mp4"
    s = video_stats(out)
    assert s["frames"] == 30 and s["fps"] == 25.0 and s["audio"]
    assert abs(s["audio_seconds"] - 1.2) < 0.06
    with av.open(str(out)) as c:
        first = next(c.decode(video=0)).to_ndarray(format="bgr24")
        assert c.streams.video[0].codec_context.pix_fmt == "yuv420p"
    errs = [np.abs(first.astype(int) - clip_frame(i, *SIZE)).mean() for i in range(10, 17)]
    assert int(np.argmin(errs)) + 10 == 13  # 0.52 s * 25 fps
    # Until the end, no audio; past the end: a clear error.
    res = cut_video(src, tmp_path / "tail.mp4", start=2.0, audio_track=-1)
    assert res["frames"] == 25 and not video_stats(tmp_path / "tail.mp4")["audio"]
    with pytest.raises(InputError, match="past the end"):
        cut_video(src, tmp_path / "x.mp4", start=9.0)
    with pytest.raises(InputError, match="audio track 3"):
        cut_video(src, tmp_path / "x.mp4", audio_track=3)
    assert leftovers(tmp_path) == []


def test_time_parsing_and_option_checks():
    assert parse_time("00:01:02.500") == 62.5
    assert parse_time("1:02.5") == 62.5 and parse_time("7.25") == 7.25 and parse_time("") is None
    assert format_time(3723.004) == "01:02:03.004"
    with pytest.raises(OptionError):
        parse_time("ab:cd")
    with pytest.raises(OptionError, match="after"):
        from_dict(CutVideoOptions, {"file": "a.mp4", "from_time": "00:00:05", "to_time": "00:00:01"})
    with pytest.raises(OptionError):
        from_dict(MakeVideoOptions, {"lossless": True, "bitrate": 5})
    with pytest.raises(OptionError):
        from_dict(DenoiseOptions, {"factor": 21})


# -- denoise-frames -------------------------------------------------------------------


def _noisy_sequence(folder: Path, n: int = 10, sigma: float = 6.0) -> tuple[np.ndarray, np.ndarray]:
    import skimage.data

    clean = cv2.resize(np.ascontiguousarray(skimage.data.astronaut()[:, :, ::-1]), (96, 96), interpolation=cv2.INTER_AREA)
    rng = np.random.default_rng(1)
    folder.mkdir(parents=True, exist_ok=True)
    frames = []
    for i in range(n):
        noisy = np.clip(clean + rng.normal(0, sigma, clean.shape), 0, 255).astype(np.uint8)
        cv2.imwrite(str(folder / f"{i + 1:05d}.png"), noisy)
        frames.append(noisy)
    return clean.astype(np.float32), np.stack(frames).astype(np.float32)


def test_denoise_reduces_temporal_noise_and_can_be_undone(tmp_path):
    w = Workspace.open(tmp_path / "ws").ensure()
    clean, before = _noisy_sequence(w.frames("dst"))
    st = jobs.run_inline(w, "denoise-frames", DenoiseOptions(side="dst", factor=7))
    assert st["state"] == "done", st.get("error")
    after = np.stack([cv2.imread(str(p)) for p in list_images(w.frames("dst"))]).astype(np.float32)
    assert after.shape == before.shape
    # Less frame-to-frame flicker, and closer to the clean picture.
    assert after.std(axis=0).mean() < 0.75 * before.std(axis=0).mean()
    assert np.abs(after - clean).mean() < np.abs(before - clean).mean()
    # The originals are in the trash...
    op = Trash(w.frames("dst")).last("denoise")
    kept = np.stack([cv2.imread(str(w.frames("dst") / b)) for _a, b in op.moves
                     if b.startswith(".trash/")]).astype(np.float32)
    assert np.array_equal(kept, before)
    # ...and --undo puts them back exactly.
    st = jobs.run_inline(w, "denoise-frames", DenoiseOptions(side="dst", undo=True))
    assert st["state"] == "done" and st["result"]["restored"] == 10
    back = np.stack([cv2.imread(str(p)) for p in list_images(w.frames("dst"))]).astype(np.float32)
    assert np.array_equal(back, before)
    assert Trash(w.frames("dst")).last("denoise") is None
    with pytest.raises(InputError, match="no denoise to undo"):
        undo_denoise(w.frames("dst"))


def test_denoise_strength_and_edges(tmp_path):
    """A stronger factor smooths more; a hard edge survives (the weights are edge-aware)."""
    img = np.full((32, 32, 3), 60, np.uint8)
    img[:, 16:] = 200
    rng = np.random.default_rng(0)
    noisy = np.clip(img + rng.normal(0, 4, img.shape), 0, 255).astype(np.uint8)
    weak, strong = Hqdn3d(2)(noisy).astype(float), Hqdn3d(15)(noisy).astype(float)
    assert strong[:, 2:14].std() < weak[:, 2:14].std() < noisy[:, 2:14].astype(float).std()
    assert strong[:, 18:].mean() - strong[:, :14].mean() > 130
    with pytest.raises(InputError, match="no frames"):
        denoise_folder(tmp_path / "empty")


# -- stopping ---------------------------------------------------------------------------


def _stopper(n: int):
    from dfl_tui.jobs.context import Reporter

    class Stop(Reporter):
        def progress(self, done, total=None, **kw):
            if done >= n:
                self.request_stop("test stop")

    return Stop()


def test_stopping_extract_and_make_video_leaves_only_complete_files(ws, tmp_path):
    from dfl_tui.errors import JobCancelled

    folder = ws.frames("dst")
    with pytest.raises(JobCancelled):
        extract_frames(ws.root / "data_dst.mp4", folder, reporter=_stopper(5))
    frames = list_images(folder)
    assert 5 <= len(frames) < 50
    assert all(cv2.imread(str(p)) is not None for p in frames)  # every frame there is whole
    assert extraction_info(folder)["complete"] is False
    out = tmp_path / "stopped.mp4"
    with pytest.raises(JobCancelled):
        encode_video(frames, out, 25, ws.root / "data_dst.mp4", reporter=_stopper(3))
    assert not out.exists() and leftovers(tmp_path) == [] and leftovers(ws.root) == []


def test_rotated_phone_video_is_extracted_and_cut_upright(tmp_path):
    """A video stored sideways with a display rotation (as phones write them) comes out upright."""
    src = tmp_path / "phone.mp4"
    with av.open(str(src), "w") as out:
        vs = out.add_stream("libx264", rate=25)
        vs.width, vs.height, vs.pix_fmt = 64, 32, "yuv420p"
        vs.options = {"preset": "ultrafast"}
        vs.set_display_rotation(90)  # counter-clockwise, as FFmpeg reads it back
        for i in range(10):
            f = av.VideoFrame.from_ndarray(clip_frame(i, 64, 32), format="bgr24")
            f.pts = i
            for p in vs.encode(f):
                out.mux(p)
        for p in vs.encode(None):
            out.mux(p)
    extract_frames(src, tmp_path / "frames")
    img = cv2.imread(str(list_images(tmp_path / "frames")[0]))
    assert img.shape == (64, 32, 3)
    assert np.abs(img.astype(int) - np.rot90(clip_frame(0, 64, 32)).astype(int)).mean() < 6
    cut_video(src, tmp_path / "cut.mp4", start=0.2, audio_track=-1)
    s = video_stats(tmp_path / "cut.mp4")
    assert (s["width"], s["height"]) == (32, 64) and s["frames"] == 5


def test_frame_rates_are_exact():
    from fractions import Fraction

    from dfl_tui.video.encode import as_rate

    assert as_rate(29.97) == Fraction(30000, 1001) and as_rate(23.976) == Fraction(24000, 1001)
    assert as_rate(25) == 25 and as_rate(12.5) == Fraction(25, 2) and as_rate(0) == 25
