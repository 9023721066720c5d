"""The one picture widget and terminal graphics: detection, the kitty / Sixel / half-block bytes,
and "transmit once, then only place" -- all without a real terminal (the widget's own code paths,
the compositor's output and the app's graphics sink)."""

from __future__ import annotations

import numpy as np
import pytest
from textual.app import App, ComposeResult
from textual.widget import Widget

from dfl_tui.tui.widgets import termgfx
from dfl_tui.tui.widgets.picture import Picture, fit
from dfl_tui.tui.widgets.termgfx import Graphics, TmuxInfo, detect
from tui_fixtures import wait_for


# -- detection -------------------------------------------------------------------------------------
@pytest.mark.parametrize("env, mode", [
    ({"TERM": "xterm-kitty", "KITTY_WINDOW_ID": "1"}, "kitty"),
    ({"TERM": "xterm-ghostty", "TERM_PROGRAM": "ghostty"}, "kitty"),
    ({"TERM": "foot"}, "sixel"),
    ({"TERM": "xterm-256color", "TERM_PROGRAM": "WezTerm"}, "sixel"),
    ({"TERM": "xterm-256color", "WT_SESSION": "x"}, "sixel"),
    ({"TERM": "xterm-256color"}, "halfblock"),
    ({"TERM": "linux", "KITTY_WINDOW_ID": "1"}, "halfblock"),
])
def test_detect_known_terminals(env, mode):
    assert detect(env, "auto").mode == mode


def test_detect_inside_tmux():
    env = {"TERM": "tmux-256color", "TMUX": "/tmp/tmux-1/default,1,0"}
    kitty_on = TmuxInfo("3.4", "xterm-kitty", "RGB,title", "on")
    kitty_off = TmuxInfo("3.4", "xterm-kitty", "RGB,title", "off")
    sixel = TmuxInfo("3.4", "foot", "RGB,sixel", "off")
    plain = TmuxInfo("3.3a", "xterm-256color", "RGB", "off")
    assert detect(env, tmux=kitty_on).mode == "kitty" and detect(env, tmux=kitty_on).tmux
    g = detect(env, tmux=kitty_off)
    assert g.mode == "halfblock" and "allow-passthrough" in g.reason
    assert detect(env, tmux=sixel).mode == "sixel"
    assert detect(env, tmux=plain).mode == "halfblock"
    assert detect(env, tmux=None).mode == "halfblock"
    # the user's word wins, with a hint when tmux will not pass it
    g = detect(env, "kitty", tmux=kitty_off)
    assert g.mode == "kitty" and "allow-passthrough" in g.reason
    assert detect({"TERM": "xterm"}, "sixel").mode == "sixel"
    assert detect({"TERM": "xterm-kitty"}, "auto", isatty=False).mode == "halfblock"
    with pytest.raises(ValueError):
        detect({}, "png")


def test_cell_pixels_from_env():
    assert termgfx.cell_pixels(env={"DFL_TUI_CELL_PX": "9x18"}) == (9, 18)


# -- the bytes ---------------------------------------------------------------------------------------
def test_sixel_encoding():
    rgb = np.zeros((13, 5, 3), np.uint8)
    rgb[:6] = (255, 0, 0)
    rgb[6:] = (0, 0, 255)
    s = termgfx.encode_sixel(rgb)
    assert s.startswith("\x1bP") and "q" in s[:10] and s.endswith("\x1b\\")
    assert '"1;1;5;13' in s
    assert s.count("-") == 3  # ceil(13 / 6) bands
    assert "#0;2;" in s and "#1;2;" in s
    # a run of equal sixels is run-length encoded
    assert "!" in termgfx.encode_sixel(np.full((6, 40, 3), 200, np.uint8))


def test_kitty_commands_and_tmux_passthrough():
    png = termgfx.encode_png(np.full((8, 8, 3), 90, np.uint8))
    assert png[:4] == b"\x89PNG"
    t = termgfx.kitty_transmit(4242, png, 3, 2)
    assert t.startswith("\x1b_Ga=t,f=100,t=d,i=4242,q=2,m=0;") and "a=p,U=1,i=4242,c=3,r=2" in t
    w = termgfx.kitty_transmit(4242, png, 3, 2, tmux=True)
    assert w.startswith("\x1bPtmux;\x1b\x1b_G") and w.endswith("\x1b\\")
    big = termgfx.kitty_transmit(7, b"x" * 10000, 1, 1)
    assert big.count("\x1b_G") == 5 and "m=1" in big  # 4 chunks of base64 + the placement
    rows = termgfx.kitty_rows(0x123456, 4, 2)
    assert len(rows) == 2 and rows[0].count(termgfx.PLACEHOLDER) == 4
    assert termgfx.kitty_style(0x123456).color.triplet == (0x12, 0x34, 0x56)
    assert "a=d,d=I,i=7" in termgfx.kitty_delete(7)


def test_fit():
    assert fit(200, 100, 40, 40) == (40, 20)
    assert fit(10, 10, 40, 20) == (20, 20)


# -- the widget in an app -----------------------------------------------------------------------------
class Label1(Widget):
    """A one-line text that repaints itself only (no layout pass)."""

    DEFAULT_CSS = "Label1 { height: 1; }"
    text = "top"

    def render(self) -> str:
        return self.text

    def update(self, text: str) -> None:
        self.text = text
        self.refresh()


class PicApp(App):
    def __init__(self, mode: str) -> None:
        super().__init__()
        self.graphics = Graphics(mode, mode, "test", cell_w=8, cell_h=16)
        self.graphics_sink: list[str] = []

    def compose(self) -> ComposeResult:
        yield Label1(id="top")
        yield Picture("no picture", id="pic")


def frame(app: App) -> str:
    """What Textual would write for a full repaint now (headless apps write nothing)."""
    return app.screen._compositor.render_full_update().render_segments(app.console)


def face(color=(200, 120, 60)) -> np.ndarray:
    return np.full((64, 64, 3), color, np.uint8)


@pytest.mark.parametrize("mode", ["kitty", "sixel", "halfblock"])
async def test_picture_modes_emit_their_bytes_once(mode):
    app = PicApp(mode)
    async with app.run_test(size=(60, 20)) as pilot:
        pic = app.query_one(Picture)
        assert "no picture" in frame(app)
        pic.set_image(face(), key="a")
        await wait_for(pilot, lambda: pic.drawn is not None, what="the picture")
        await pilot.pause()
        sent = "".join(app.graphics_sink)
        out = frame(app)
        if mode == "kitty":
            assert sent.count("\x1b_Ga=t,") == 1 and "a=p,U=1" in sent
            assert termgfx.PLACEHOLDER in out
            assert "\x1bP" not in sent
        elif mode == "sixel":
            assert sent.count("\x1bP0;1;0q") == 1 and "\x1b_G" not in sent
            assert pic.sixel_sends == 1
        else:
            assert sent == "" and "▀" in out
            assert "\x1bP" not in out and "\x1b_G" not in out
        await pilot.pause()  # (frame() above drew everything again: a Sixel is painted again after it)
        n = len(app.graphics_sink)
        # nothing changed: the same key, an idle pause, a change elsewhere -> nothing re-sent
        pic.set_image(face(), key="a")
        app.query_one("#top", Label1).update("changed")
        await pilot.pause(0.2)
        assert len(app.graphics_sink) == n
        # a new picture: sent once more; the old one back again (kitty keeps it: no re-send)
        pic.set_image(face((10, 200, 10)), key="b")
        await wait_for(pilot, lambda: pic.drawn is not None and pic.drawn.key[0] == "b", what="picture b")
        await pilot.pause()
        if mode == "halfblock":
            assert app.graphics_sink == []
        else:
            assert len(app.graphics_sink) == n + 1
        if mode == "kitty":
            pic.set_image(face(), key="a")
            await wait_for(pilot, lambda: pic.drawn.key[0] == "a", what="picture a again")
            assert len(app.graphics_sink) == n + 1
        # a message clears the picture
        pic.set_message("gone")
        await pilot.pause()
        assert "gone" in frame(app) and not pic.has_picture


async def test_sixel_repainted_when_its_cells_are_redrawn():
    app = PicApp("sixel")
    async with app.run_test(size=(60, 20)) as pilot:
        pic = app.query_one(Picture)
        pic.set_image(face(), key="a")
        await wait_for(pilot, lambda: pic.sixel_sends == 1, what="the sixel")
        pic.refresh()  # Textual redraws the blank cells under the picture: the picture is painted again
        await wait_for(pilot, lambda: pic.sixel_sends == 2, what="the sixel again")
        sent = app.graphics_sink[-1]
        assert sent.startswith("\x1b7\x1b[") and sent.endswith("\x1b8")  # absolute position, cursor kept


async def test_picture_fits_pixels_of_the_mode():
    app = PicApp("kitty")
    async with app.run_test(size=(60, 20)) as pilot:
        pic = app.query_one(Picture)
        w, h = pic.pixel_box()
        assert (w, h) == (pic.size.width * 8, pic.size.height * 16)
        app.graphics = Graphics("halfblock", "halfblock")
        assert pic.pixel_box() == (pic.size.width, pic.size.height * 2)


class CanvasApp(PicApp):
    def compose(self) -> ComposeResult:
        from dfl_tui.tui.widgets.image_canvas import ImageCanvas

        yield ImageCanvas(id="canvas")


@pytest.mark.parametrize("mode", ["kitty", "sixel", "halfblock"])
async def test_xseg_canvas_is_the_picture_widget(mode):
    """The XSeg editor's / manual extraction's canvas draws with the session's graphics and maps the
    mouse through the terminal's pixels (half-blocks: 1 x 2 per cell, kitty/Sixel: cell_w x cell_h)."""
    app = CanvasApp(mode)
    async with app.run_test(size=(40, 12)) as pilot:
        from dfl_tui.tui.widgets.image_canvas import ImageCanvas

        cv = app.query_one(ImageCanvas)
        assert isinstance(cv, Picture)
        cv.set_image(face())
        await pilot.pause()
        if mode == "halfblock":
            assert cv.display_px == (40, 24) and app.graphics_sink == [] and "▀" in frame(app)
            return
        assert cv.display_px == (40 * 8, 12 * 16)
        await wait_for(pilot, lambda: cv.drawn is not None, what="the canvas picture")
        await pilot.pause()
        marker = "\x1b_Ga=t," if mode == "kitty" else "\x1bP0;1;0q"
        assert sum(s.count(marker) for s in app.graphics_sink) == 1
        # 64x64 fitted into 320x192 display pixels (scale 3, centred): cell (19.5, 5.5) is display
        # pixel (19.5*8-0.5, 5.5*16-0.5) = (155.5, 87.5), i.e. image ((155.5-159.5)/3+31.5, (87.5-95.5)/3+31.5)
        x, y = cv.cell_to_image(19.5, 5.5)
        assert abs(x - (31.5 - 4 / 3)) < 1e-6 and abs(y - (31.5 - 8 / 3)) < 1e-6
        cv.invalidate()  # an overlay changed: drawn and sent again
        await wait_for(pilot, lambda: sum(s.count(marker) for s in app.graphics_sink) == 2, what="redraw")


def movable_dot(canvas, radius: int) -> dict:
    """An overlay for ``canvas``: a magenta dot at ``dot["at"]`` (display pixels), none while it is None."""
    import cv2

    dot: dict = {"at": None}

    def draw(disp, m):
        if dot["at"] is not None:
            cv2.circle(disp, dot["at"], radius, (255, 0, 255), -1)

    canvas.draw = draw
    return dot


async def test_canvas_half_blocks_repaint_only_the_cells_an_overlay_changed():
    """An XSeg point or the cursor moving repaints the few cells it touched, not the picture
    (over SSH: bytes instead of a whole half-block view); what is shown equals a full rebuild."""
    from dfl_tui.tui.widgets import halfblock
    from dfl_tui.tui.widgets.image_canvas import ImageCanvas

    app = CanvasApp("halfblock")
    async with app.run_test(size=(40, 12)) as pilot:
        cv = app.query_one(ImageCanvas)
        dot = movable_dot(cv, radius=0)
        cv.set_image(face())
        await pilot.pause()
        assert "▀" in frame(app) and cv._cv_packed is not None
        seen: list[tuple] = []
        real = cv.refresh

        def spy(*regions, **kw):
            seen.append(regions)
            return real(*regions, **kw)

        cv.refresh = spy
        for at in ((10, 7), (30, 20), None):
            seen.clear()
            dot["at"] = at
            cv.invalidate()
            cv.invalidate()  # twice in one event: rebuilt once
            await pilot.pause()
            assert len(seen) == 1
            regions = seen[0]
            assert regions and all(r.height == 1 for r in regions)
            assert sum(r.area for r in regions) <= 2  # the old and/or the new dot's cell
            assert cv._cv_strips == halfblock.render(cv._view(), quantize=2)  # the same as a full rebuild
        # nothing changed: nothing repainted
        seen.clear()
        cv.invalidate()
        await pilot.pause()
        assert seen == []
        # a zoom changes (nearly) every cell: every line repainted, still equal to a full rebuild
        cv.zoom(2.0)
        await pilot.pause()
        assert len(seen) == 1 and {r.y for r in seen[0]} == set(range(12))
        assert cv._cv_strips == halfblock.render(cv._view(), quantize=2)
        # a new size: built again from scratch
        seen.clear()
        await pilot.resize_terminal(30, 10)
        await pilot.pause()
        assert cv._cv_strips == halfblock.render(cv._view(), quantize=2) and "▀" in frame(app)


def _decode_sixel(s: str) -> np.ndarray:
    """A small Sixel decoder written from the DEC format (not from our encoder): palette ``#n;2;r;g;b``
    in percent, sixel characters ``?``..``~`` (6 pixels, low bit on top), ``!n`` repeat, ``$`` back to
    the band's start, ``-`` next band, raster attributes ``"pan;pad;w;h``."""
    import re

    body = s[s.index("q") + 1:s.rindex("\x1b\\")]
    m = re.match(r'"(\d+);(\d+);(\d+);(\d+)', body)
    w, h = int(m.group(3)), int(m.group(4))
    body = body[m.end():]
    out = np.zeros((h + 6, w, 3), np.uint8)
    pal: dict[int, tuple[int, int, int]] = {}
    colour, x, band, i = 0, 0, 0, 0
    while i < len(body):
        c = body[i]
        if c == "#":
            m = re.match(r"#(\d+)(?:;2;(\d+);(\d+);(\d+))?", body[i:])
            n = int(m.group(1))
            if m.group(2) is not None:
                pal[n] = tuple(round(int(m.group(k)) * 255 / 100) for k in (2, 3, 4))
            colour = n
            i += m.end()
            continue
        rep = 1
        if c == "!":
            m = re.match(r"!(\d+)", body[i:])
            rep = int(m.group(1))
            i += m.end()
            c = body[i]
        if c == "$":
            x = 0
        elif c == "-":
            x, band = 0, band + 1
        elif "?" <= c <= "~":
            bits = ord(c) - 63
            for k in range(6):
                if bits >> k & 1:
                    out[band * 6 + k, x:x + rep] = pal[colour]
            x += rep
        i += 1
    return out[:h]


@pytest.mark.parametrize("h", [200, 197, 64])
def test_sixel_pictures_decode_to_the_image(h):
    """What a Sixel terminal shows: our Sixel decoded by an independent decoder (and by libsixel's
    sixel2png where installed) is the picture, up to the 255-colour palette."""
    import shutil
    import subprocess

    from skimage import data

    rgb = np.ascontiguousarray(data.astronaut()[30:30 + h, 150:310])
    s = termgfx.encode_sixel(rgb)
    decoders = [_decode_sixel(s)]
    if shutil.which("sixel2png"):
        import tempfile

        import cv2

        with tempfile.TemporaryDirectory() as d:
            open(f"{d}/p.six", "w").write(s)
            subprocess.run(["sixel2png", "-i", f"{d}/p.six", "-o", f"{d}/p.png"], check=True, timeout=30)
            decoders.append(cv2.imread(f"{d}/p.png", cv2.IMREAD_COLOR)[..., ::-1])
    for out in decoders:
        assert out.shape == rgb.shape
        mse = ((out.astype(np.float64) - rgb) ** 2).mean()
        assert 10 * np.log10(255 ** 2 / mse) > 30  # 36 dB measured: the palette's rounding, nothing misplaced


def _kitty_commands(out: str) -> list[tuple[dict, bytes]]:
    """The kitty graphics commands in ``out``, chunked payloads joined: [(keys, payload bytes)]."""
    import base64
    import re

    cmds: list[tuple[dict, bytes]] = []
    for m in re.finditer(r"\x1b_G([^;\x1b]*)(?:;([^\x1b]*))?\x1b\\", out):
        keys = dict(kv.split("=", 1) for kv in m.group(1).split(","))
        data = base64.standard_b64decode(m.group(2) or "")
        if set(keys) - {"m", "q"} and cmds and cmds[-1][0].get("_open"):
            raise AssertionError("a new command before the last one's chunks ended")
        if set(keys) <= {"m", "q"}:
            head, payload = cmds[-1]
            cmds[-1] = (head, payload + data)
            head["_open"] = keys["m"] == "1"
        else:
            keys["_open"] = keys.get("m") == "1"
            cmds.append((keys, data))
    return cmds


async def test_canvas_in_kitty_itself_edits_only_the_changed_pixels():
    """kitty (not Ghostty): an XSeg point or the cursor moving overwrites the few changed pixels of the
    picture already in the terminal (``a=f,r=1``) instead of sending the view again; the terminal's copy,
    rebuilt from what was sent, is the view exactly. A change of most of the picture sends it whole."""
    import dataclasses
    import zlib

    import cv2

    from dfl_tui.tui.widgets.image_canvas import ImageCanvas

    app = CanvasApp("kitty")
    app.graphics = dataclasses.replace(app.graphics, edits=True)
    async with app.run_test(size=(40, 12)) as pilot:
        cv = app.query_one(ImageCanvas)
        dot = movable_dot(cv, radius=3)
        yy, xx = np.mgrid[0:64, 0:64]
        cv.set_image(np.stack([xx * 4, yy * 4, (xx + yy) * 2], -1).astype(np.uint8))
        await wait_for(pilot, lambda: cv.drawn is not None, what="the canvas picture")
        await pilot.pause()
        [(keys, png)] = [c for c in _kitty_commands("".join(app.graphics_sink)) if c[0].get("a") == "t"]
        terminal = cv2.imdecode(np.frombuffer(png, np.uint8), cv2.IMREAD_COLOR)[..., ::-1].copy()
        image_id = keys["i"]
        def shown() -> bool:
            return cv.drawn is not None and cv.drawn.key == cv._key()

        for at in ((40, 30), (200, 120), None):
            app.graphics_sink.clear()
            dot["at"] = at
            cv.invalidate()
            await wait_for(pilot, shown, what="the edited picture")
            await pilot.pause()
            out = "".join(app.graphics_sink)
            cmds = _kitty_commands(out)
            assert cmds and all(k["a"] == "f" and k["r"] == "1" and k["X"] == "1" and k["i"] == image_id for k, _ in cmds)
            for k, data in cmds:
                x, y, w, h = (int(k[n]) for n in ("x", "y", "s", "v"))
                terminal[y:y + h, x:x + w] = np.frombuffer(zlib.decompress(data), np.uint8).reshape(h, w, 3)
            assert np.array_equal(terminal, cv._view())
            assert len(out) < 3000  # a dot moved: a couple of KB, not the 320x192 view
        assert cv.kitty_sends == 1 and cv.kitty_edits >= 3
        # nothing changed: nothing sent
        app.graphics_sink.clear()
        cv.invalidate()
        await wait_for(pilot, shown, what="the same picture")
        await pilot.pause()
        assert app.graphics_sink == []
        # a zoom changes most pixels: the whole picture, under a new id
        cv.zoom(2.0)
        await wait_for(pilot, lambda: cv.kitty_sends == 2, what="the zoomed picture")


def test_kitty_itself_is_told_apart_from_other_kitty_protocol_terminals():
    kitty = {"TERM": "xterm-kitty", "KITTY_WINDOW_ID": "1"}
    assert detect(kitty, "auto").edits and detect(kitty, "kitty").edits
    assert not detect({"TERM": "xterm-ghostty", "TERM_PROGRAM": "ghostty"}, "auto").edits
    assert not detect({"TERM": "xterm-256color"}, "kitty").edits  # forced on an unknown terminal: whole pictures
    tmux_env = {"TERM": "tmux-256color", "TMUX": "/tmp/tmux-1/default,1,0"}
    assert detect(tmux_env, tmux=TmuxInfo("3.4", "xterm-kitty", "RGB", "on")).edits
    assert not detect(tmux_env, tmux=TmuxInfo("3.4", "xterm-ghostty", "RGB", "on")).edits
    edit = termgfx.kitty_edit(9, np.zeros((2, 3, 3), np.uint8), 4, 5, tmux=True)
    assert edit.startswith("\x1bPtmux;\x1b\x1b_Ga=f,r=1,i=9,x=4,y=5,s=3,v=2,X=1,f=24,o=z,q=2,m=0;")
    assert termgfx.changed_rects(np.zeros((8, 8, 3)), np.zeros((8, 9, 3)), 4) is None
    a, b = np.zeros((8, 8, 3), np.uint8), np.zeros((8, 8, 3), np.uint8)
    b[1, 2] = b[6, 5] = b[7, 7] = 1
    assert termgfx.changed_rects(a, b, 4) == [(2, 1, 1, 1), (5, 6, 3, 2)]


def test_kitty_placeholder_diacritics_follow_kittys_rule():
    """kitty's rowcolumn-diacritics.txt: combining marks of class 230 (Mn, above) without a decomposition,
    in code point order, less a few that normalisation could fuse (checked by hand against the file:
    our 245 are its first 245)."""
    import unicodedata

    codes = [ord(c) for c in termgfx._DIACRITICS]
    assert codes == sorted(set(codes)) and len(codes) == termgfx.KITTY_MAX_CELLS == 245
    assert codes[:3] == [0x0305, 0x030D, 0x030E] and codes[-1] == 0x2DFF
    excluded = {0x0300, 0x0301, 0x0302, 0x0303, 0x0304, 0x0306, 0x0307, 0x0308, 0x0309, 0x030A, 0x030B, 0x030C,
                0x030F, 0x0311, 0x0313, 0x0314, 0x0342, 0x0653, 0x0654}
    for c in codes:
        ch = chr(c)
        assert unicodedata.category(ch) == "Mn" and unicodedata.combining(ch) == 230, hex(c)
        assert unicodedata.decomposition(ch) == "" and c not in excluded, hex(c)


def _frame_with_face(face_value: int) -> np.ndarray:
    """A 'merger frame': a fixed gradient background with a square 'face' whose colour changes."""
    yy, xx = np.mgrid[0:96, 0:160]
    rgb = np.stack([xx, yy * 2, (xx + yy) % 256], -1).astype(np.uint8)
    rgb[30:60, 60:100] = (face_value, 90, 200 - face_value // 2)
    return rgb


async def test_a_picture_that_changes_in_part_repaints_only_that_part_in_half_blocks():
    """A merger setting changes the face, not the frame: only the face's cells go out again, and what is
    shown is what a full repaint would show."""
    from dfl_tui.tui.widgets import halfblock

    app = PicApp("halfblock")
    async with app.run_test(size=(60, 20)) as pilot:
        pic = app.query_one(Picture)
        pic.set_image(_frame_with_face(100), key="f1")
        await wait_for(pilot, lambda: pic.drawn is not None, what="the picture")
        await pilot.pause()
        seen: list[tuple] = []
        real = pic.refresh
        pic.refresh = lambda *r, **kw: (seen.append(r), real(*r, **kw))[1]
        pic.set_image(_frame_with_face(180), key="f2")
        await wait_for(pilot, lambda: pic.drawn.key[0] == "f2", what="the new picture")
        await pilot.pause()
        [regions] = seen
        cells = sum(r.area for r in regions)
        assert regions and cells < 0.3 * pic.drawn.cols * pic.drawn.rows  # the face, not the frame
        w, h = pic.pixel_box()
        from dfl_tui.tui.widgets.picture import fit, resize_rgb

        pw, ph = fit(160, 96, w, h)
        assert pic.strips == halfblock.render(resize_rgb(_frame_with_face(180), pw, ph), quantize=2)
        # another size of picture: all of it
        seen.clear()
        pic.set_image(np.zeros((30, 30, 3), np.uint8), key="small")
        await wait_for(pilot, lambda: pic.drawn.key[0] == "small", what="the small picture")
        assert seen and seen[-1] == ()


async def test_kitty_itself_edits_a_picture_in_place_and_never_reuses_a_stale_copy():
    """kitty itself: a picture that changes in part is edited in place under its id (``a=f``); the terminal's
    copy rebuilt from the bytes is the new picture. A picture that changes entirely is sent whole under a
    new id, and the one edited away is never shown again from the cache."""
    import dataclasses
    import zlib

    import cv2

    app = PicApp("kitty")
    app.graphics = dataclasses.replace(app.graphics, edits=True)
    async with app.run_test(size=(60, 20)) as pilot:
        pic = app.query_one(Picture)
        terminal: dict[str, np.ndarray] = {}

        def apply(out: str) -> None:
            for k, data in _kitty_commands(out):
                if k.get("a") == "t":
                    terminal[k["i"]] = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR)[..., ::-1].copy()
                elif k.get("a") == "f":
                    x, y, w, h = (int(k[n]) for n in ("x", "y", "s", "v"))
                    terminal[k["i"]][y:y + h, x:x + w] = np.frombuffer(zlib.decompress(data), np.uint8).reshape(h, w, 3)

        async def show(rgb, key):
            app.graphics_sink.clear()
            pic.set_image(rgb, key=key)
            await wait_for(pilot, lambda: pic.drawn is not None and pic.drawn.key[0] == key, what=key)
            await pilot.pause()
            out = "".join(app.graphics_sink)
            apply(out)
            return out

        await show(_frame_with_face(100), "f1")
        first = str(pic.drawn.image_id)
        out = await show(_frame_with_face(180), "f2")
        assert "a=t" not in out and "a=f" in out and str(pic.drawn.image_id) == first
        assert np.array_equal(terminal[first], pic.drawn.pixels) and pic.kitty_sends == 1
        other = np.full((96, 160, 3), 30, np.uint8)
        out = await show(other, "dark")
        assert "a=t" in out and str(pic.drawn.image_id) != first and pic.kitty_sends == 2
        # back to f1: its id now holds f2's pixels, so it is not reused as f1; the result is f1 either way
        await show(_frame_with_face(100), "f1")
        shown = terminal[str(pic.drawn.image_id)]
        from dfl_tui.tui.widgets.picture import resize_rgb

        assert np.array_equal(shown, resize_rgb(_frame_with_face(100), shown.shape[1], shown.shape[0]))


async def test_partial_repaints_land_on_the_picture_under_its_captions():
    """With column captions (the training monitor) the changed cells' regions are where render_line draws them."""
    from dfl_tui.tui.widgets import halfblock

    app = PicApp("halfblock")
    async with app.run_test(size=(60, 20)) as pilot:
        pic = app.query_one(Picture)
        cols = ["src", "dst"]
        pic.set_image(_frame_with_face(100), key="a", columns=cols)
        await wait_for(pilot, lambda: pic.drawn is not None, what="the picture")
        await pilot.pause()
        old = pic.drawn.packed
        seen: list[tuple] = []
        real = pic.refresh
        pic.refresh = lambda *r, **kw: (seen.append(r), real(*r, **kw))[1]
        pic.set_image(_frame_with_face(180), key="b", columns=cols)
        await wait_for(pilot, lambda: pic.drawn.key[0] == "b", what="the new picture")
        d = pic.drawn
        x0 = (pic.size.width - d.cols) // 2
        top = next(y for y in range(pic.size.height) if pic.render_line(y).crop(x0, x0 + d.cols) == d.strips[0])
        assert "src" in pic.render_line(top - 1).text  # the captions are above it
        expected = {(top + y, x0 + x1, x2 - x1) for y, x1, x2 in halfblock.changed_cells(old, d.packed)}
        [regions] = seen
        assert {(r.y, r.x, r.width) for r in regions} == expected
