"""Terminal graphics: which protocol this terminal understands, and the bytes of each.

Three ways to draw a picture, best first:

* ``kitty``: the kitty graphics protocol with Unicode placeholders. The picture is
  transmitted once (a PNG with an id, ``ESC _G a=t ...``), a virtual placement is made
  (``a=p,U=1``), and from then on the picture is *text*: cells of U+10EEEE whose
  foreground colour is the image id and whose diacritics are the row and column. So
  Textual can move, clip, cover and repaint it like any text, and tmux keeps it in its
  grid (tmux only has to pass the transmission through: ``set -g allow-passthrough on``).
  Needs truecolor (the colour *is* the id). kitty and Ghostty.
* ``sixel``: a DEC Sixel bitmap (``ESC P ... q ... ESC \\``) painted over blank cells at
  an absolute position after Textual has drawn the frame, and again only when Textual
  repaints those cells. foot, WezTerm, Konsole, mlterm, iTerm2, Windows Terminal >= 1.22,
  xterm -ti vt340, contour; inside tmux >= 3.4 built with sixel.
* ``halfblock``: two pixels per cell with ``▀`` and truecolor (``halfblock.py``). Works
  everywhere; the fallback.

``detect`` decides from the environment (and, inside tmux, from tmux itself) without
talking to the terminal; the user can always say ``--graphics kitty|sixel|halfblock``.

Why not ``textual-image`` (PyPI; 0.12.0 is what the package index here offers): its kitty
renderer writes the transmission straight to ``sys.__stdout__`` from the render path,
past Textual's writer thread (interleaving with frames, invisible to tests and to
``bench redraw``), 0.12 has no tmux passthrough, its import queries the terminal
(0.3-0.4 s, and answers can be stolen by Textual's input thread), and it is one widget per
image, which a virtualised grid of 50,000 faces cannot use. The protocol code needed
here is small; it lives in this module and goes through Textual's driver.
"""

from __future__ import annotations

import base64
import os
import re
import subprocess
from dataclasses import dataclass, replace
from itertools import count
from random import randint
from typing import Any, Mapping

MODES = ("auto", "kitty", "sixel", "halfblock")
DRAW_MODES = ("kitty", "sixel", "halfblock")

DEFAULT_CELL = (10, 20)  # pixels per cell when the terminal does not say


@dataclass(frozen=True)
class Graphics:
    """The resolved way to draw pictures in this session."""

    mode: str = "halfblock"  # kitty | sixel | halfblock
    requested: str = "auto"
    reason: str = ""
    tmux: bool = False  # wrap kitty commands in tmux's passthrough
    # kitty itself (not another kitty-protocol terminal): a transmitted picture can be edited in place
    # (the animation protocol's frame edit, ``a=f,r=1``), so a small change sends only its pixels
    edits: bool = False
    cell_w: int = DEFAULT_CELL[0]
    cell_h: int = DEFAULT_CELL[1]

    @property
    def pixels(self) -> bool:
        return self.mode in ("kitty", "sixel")

    def describe(self) -> str:
        how = {"kitty": "kitty graphics", "sixel": "Sixel", "halfblock": "half-block cells"}[self.mode]
        return f"{how} ({self.reason})" if self.reason else how

    def with_mode(self, mode: str, reason: str = "") -> "Graphics":
        return replace(self, mode=mode, requested=mode, reason=reason or "chosen")


HALFBLOCK = Graphics("halfblock", "halfblock", "")


# ---------------------------------------------------------------------------
# Detection
# ---------------------------------------------------------------------------

# Terminals known (from their documentation) to draw Sixel / kitty graphics with Unicode placeholders.
_KITTY_TERMS = ("xterm-kitty", "xterm-ghostty")
_KITTY_PROGRAMS = ("ghostty",)
_SIXEL_PROGRAMS = ("wezterm", "iterm.app", "mlterm", "contour", "konsole", "foot")
_SIXEL_TERMS = ("foot", "foot-extra", "mlterm", "contour", "yaft-256color")


def _outer_kind(term: str, program: str, env: Mapping[str, str]) -> tuple[str | None, str]:
    """('kitty'|'sixel'|None, terminal name) for the terminal itself (outside any tmux)."""
    term, program = term.lower(), program.lower()
    if env.get("KITTY_WINDOW_ID") or term == "xterm-kitty":
        return "kitty", "kitty"
    if term in _KITTY_TERMS or program in _KITTY_PROGRAMS or env.get("GHOSTTY_RESOURCES_DIR"):
        return "kitty", "Ghostty"
    if program in _SIXEL_PROGRAMS:
        return "sixel", program
    if term in _SIXEL_TERMS or term.startswith("foot"):
        return "sixel", term
    if env.get("MLTERM"):
        return "sixel", "mlterm"
    if env.get("KONSOLE_VERSION"):
        return "sixel", "Konsole"
    if env.get("WT_SESSION"):
        return "sixel", "Windows Terminal (>= 1.22 draws Sixel)"
    return None, term or "unknown terminal"


@dataclass
class TmuxInfo:
    version: str = ""
    client_term: str = ""
    features: str = ""
    passthrough: str = ""

    @property
    def sixel(self) -> bool:
        return "sixel" in self.features.split(",")

    @property
    def passthrough_on(self) -> bool:
        return self.passthrough in ("on", "all")


def tmux_probe(timeout: float = 1.0) -> TmuxInfo | None:
    """Ask the tmux we run in about its version, the client terminal and allow-passthrough."""
    try:
        out = subprocess.run(["tmux", "display-message", "-p",
                              "#{version}|#{client_termname}|#{client_termfeatures}"],
                             capture_output=True, text=True, timeout=timeout)
        if out.returncode != 0:
            return None
        version, term, features = (out.stdout.strip().split("|") + ["", "", ""])[:3]
        pt = subprocess.run(["tmux", "show-options", "-Apv", "allow-passthrough"],
                            capture_output=True, text=True, timeout=timeout)
        passthrough = pt.stdout.strip().splitlines()[-1].split()[-1] if pt.returncode == 0 and pt.stdout.strip() else ""
        if not passthrough:
            pt = subprocess.run(["tmux", "show-options", "-gwv", "allow-passthrough"],
                                capture_output=True, text=True, timeout=timeout)
            passthrough = pt.stdout.strip() if pt.returncode == 0 else ""
        return TmuxInfo(version, term, features, passthrough)
    except (OSError, subprocess.SubprocessError):
        return None


def cell_pixels(fd: int | None = None, env: Mapping[str, str] | None = None) -> tuple[int, int]:
    """Pixels per cell: ``$DFL_TUI_CELL_PX`` (``10x20``), else the terminal's window size in pixels
    (``TIOCGWINSZ``, filled by kitty, foot, WezTerm, xterm, tmux >= 3.3...), else 10x20."""
    env = os.environ if env is None else env
    spec = env.get("DFL_TUI_CELL_PX", "")
    m = re.fullmatch(r"\s*(\d+)\s*[x,]\s*(\d+)\s*", spec)
    if m and int(m.group(1)) > 0 and int(m.group(2)) > 0:
        return int(m.group(1)), int(m.group(2))
    try:
        import fcntl
        import struct
        import termios

        if fd is None:
            import sys

            fd = sys.__stdout__.fileno() if sys.__stdout__ is not None else 1
        rows, cols, xpx, ypx = struct.unpack("HHHH", fcntl.ioctl(fd, termios.TIOCGWINSZ, b"\0" * 8))
        if rows and cols and xpx and ypx:
            cw, ch = xpx // cols, ypx // rows
            if 3 <= cw <= 100 and 6 <= ch <= 200:
                return cw, ch
    except (OSError, ValueError, AttributeError, ImportError):
        pass
    return DEFAULT_CELL


def detect(env: Mapping[str, str], requested: str = "auto", *, isatty: bool = True,
           tmux: TmuxInfo | None = None, cell: tuple[int, int] = DEFAULT_CELL) -> Graphics:
    """Resolve ``requested`` (auto|kitty|sixel|halfblock) for the terminal described by ``env``.

    ``tmux``: what :func:`tmux_probe` found (pass it when ``$TMUX`` is set). Pure: tests feed it.
    """
    requested = (requested or "auto").lower()
    if requested not in MODES:
        raise ValueError(f"--graphics must be one of {', '.join(MODES)} (got {requested!r})")
    in_tmux = bool(env.get("TMUX"))
    # kitty itself (Ghostty and others speak the protocol without its animation frames)
    outer = _outer_kind(tmux.client_term, "", env) if in_tmux and tmux is not None else \
        _outer_kind(env.get("TERM", ""), env.get("TERM_PROGRAM", ""), env)
    base = Graphics(requested=requested, tmux=in_tmux, cell_w=cell[0], cell_h=cell[1], edits=outer == ("kitty", "kitty"))
    if requested in ("kitty", "sixel", "halfblock"):
        why = "chosen"
        if in_tmux and tmux is not None:
            if requested == "kitty" and not tmux.passthrough_on:
                why = "chosen; tmux needs 'set -g allow-passthrough on'"
            if requested == "sixel" and not tmux.sixel:
                why = "chosen; this tmux does not report Sixel (needs tmux >= 3.4 built with sixel)"
        return replace(base, mode=requested, reason=why)
    if not isatty:
        return replace(base, mode="halfblock", reason="output is not a terminal")
    if env.get("TERM", "") in ("dumb", "linux"):
        return replace(base, mode="halfblock", reason=f"TERM={env.get('TERM')}")
    if in_tmux:
        if tmux is None:
            return replace(base, mode="halfblock", reason="inside tmux (could not ask it)")
        kind, name = _outer_kind(tmux.client_term, "", env)
        if kind == "kitty" or (kind is None and env.get("KITTY_WINDOW_ID")):
            if tmux.passthrough_on:
                return replace(base, mode="kitty", reason=f"{name} through tmux")
            why = f"{name} in tmux without 'set -g allow-passthrough on'"
            if tmux.sixel:
                return replace(base, mode="sixel", reason=why + "; Sixel through tmux")
            return replace(base, mode="halfblock", reason=why)
        if tmux.sixel:
            return replace(base, mode="sixel", reason=f"tmux {tmux.version} with Sixel")
        return replace(base, mode="halfblock",
                       reason=f"tmux {tmux.version} on {tmux.client_term or '?'}: no Sixel (tmux >= 3.4 built "
                       "with sixel) and no kitty terminal")
    kind, name = _outer_kind(env.get("TERM", ""), env.get("TERM_PROGRAM", ""), env)
    if kind is not None:
        return replace(base, mode=kind, reason=name)
    return replace(base, mode="halfblock", reason=f"{name}: no known graphics support")


def resolve(requested: str = "auto", env: Mapping[str, str] | None = None) -> Graphics:
    """:func:`detect` for this process (asks tmux when inside it, reads the cell size)."""
    import sys

    env = os.environ if env is None else env
    try:
        isatty = sys.__stdout__ is not None and sys.__stdout__.isatty()
    except (ValueError, OSError):
        isatty = False
    probe = tmux_probe() if env.get("TMUX") and (requested or "auto") in ("auto", "kitty", "sixel") else None
    return detect(env, requested, isatty=isatty, tmux=probe, cell=cell_pixels(env=env) if isatty else DEFAULT_CELL)


# ---------------------------------------------------------------------------
# Writing to the terminal (through Textual's driver, in order with its frames)
# ---------------------------------------------------------------------------


def write(app: Any, data: str) -> None:
    """Send graphics bytes to the terminal. ``app.graphics_sink`` (a list), when set, gets a copy (tests)."""
    app.graphics_bytes = getattr(app, "graphics_bytes", 0) + len(data)
    sink = getattr(app, "graphics_sink", None)
    if sink is not None:
        sink.append(data)
    driver = getattr(app, "_driver", None)
    if driver is not None and not app.is_headless:
        driver.write(data)


# ---------------------------------------------------------------------------
# kitty
# ---------------------------------------------------------------------------

APC_START, ST = "\x1b_G", "\x1b\\"
PLACEHOLDER = chr(0x10EEEE)
# kitty's rowcolumn-diacritics.txt: the diacritic for row/column number n is _DIACRITICS[n].
_DIACRITICS = [chr(c) for c in (
    0x0305, 0x030D, 0x030E, 0x0310, 0x0312, 0x033D, 0x033E, 0x033F, 0x0346, 0x034A, 0x034B, 0x034C, 0x0350, 0x0351,
    0x0352, 0x0357, 0x035B, 0x0363, 0x0364, 0x0365, 0x0366, 0x0367, 0x0368, 0x0369, 0x036A, 0x036B, 0x036C, 0x036D,
    0x036E, 0x036F, 0x0483, 0x0484, 0x0485, 0x0486, 0x0487, 0x0592, 0x0593, 0x0594, 0x0595, 0x0597, 0x0598, 0x0599,
    0x059C, 0x059D, 0x059E, 0x059F, 0x05A0, 0x05A1, 0x05A8, 0x05A9, 0x05AB, 0x05AC, 0x05AF, 0x05C4, 0x0610, 0x0611,
    0x0612, 0x0613, 0x0614, 0x0615, 0x0616, 0x0617, 0x0657, 0x0658, 0x0659, 0x065A, 0x065B, 0x065D, 0x065E, 0x06D6,
    0x06D7, 0x06D8, 0x06D9, 0x06DA, 0x06DB, 0x06DC, 0x06DF, 0x06E0, 0x06E1, 0x06E2, 0x06E4, 0x06E7, 0x06E8, 0x06EB,
    0x06EC, 0x0730, 0x0732, 0x0733, 0x0735, 0x0736, 0x073A, 0x073D, 0x073F, 0x0740, 0x0741, 0x0743, 0x0745, 0x0747,
    0x0749, 0x074A, 0x07EB, 0x07EC, 0x07ED, 0x07EE, 0x07EF, 0x07F0, 0x07F1, 0x07F3, 0x0816, 0x0817, 0x0818, 0x0819,
    0x081B, 0x081C, 0x081D, 0x081E, 0x081F, 0x0820, 0x0821, 0x0822, 0x0823, 0x0825, 0x0826, 0x0827, 0x0829, 0x082A,
    0x082B, 0x082C, 0x082D, 0x0951, 0x0953, 0x0954, 0x0F82, 0x0F83, 0x0F86, 0x0F87, 0x135D, 0x135E, 0x135F, 0x17DD,
    0x193A, 0x1A17, 0x1A75, 0x1A76, 0x1A77, 0x1A78, 0x1A79, 0x1A7A, 0x1A7B, 0x1A7C, 0x1B6B, 0x1B6D, 0x1B6E, 0x1B6F,
    0x1B70, 0x1B71, 0x1B72, 0x1B73, 0x1CD0, 0x1CD1, 0x1CD2, 0x1CDA, 0x1CDB, 0x1CE0, 0x1DC0, 0x1DC1, 0x1DC3, 0x1DC4,
    0x1DC5, 0x1DC6, 0x1DC7, 0x1DC8, 0x1DC9, 0x1DCB, 0x1DCC, 0x1DD1, 0x1DD2, 0x1DD3, 0x1DD4, 0x1DD5, 0x1DD6, 0x1DD7,
    0x1DD8, 0x1DD9, 0x1DDA, 0x1DDB, 0x1DDC, 0x1DDD, 0x1DDE, 0x1DDF, 0x1DE0, 0x1DE1, 0x1DE2, 0x1DE3, 0x1DE4, 0x1DE5,
    0x1DE6, 0x1DFE, 0x20D0, 0x20D1, 0x20D4, 0x20D5, 0x20D6, 0x20D7, 0x20DB, 0x20DC, 0x20E1, 0x20E7, 0x20E9, 0x20F0,
    0x2CEF, 0x2CF0, 0x2CF1, 0x2DE0, 0x2DE1, 0x2DE2, 0x2DE3, 0x2DE4, 0x2DE5, 0x2DE6, 0x2DE7, 0x2DE8, 0x2DE9, 0x2DEA,
    0x2DEB, 0x2DEC, 0x2DED, 0x2DEE, 0x2DEF, 0x2DF0, 0x2DF1, 0x2DF2, 0x2DF3, 0x2DF4, 0x2DF5, 0x2DF6, 0x2DF7, 0x2DF8,
    0x2DF9, 0x2DFA, 0x2DFB, 0x2DFC, 0x2DFD, 0x2DFE, 0x2DFF)]
KITTY_MAX_CELLS = len(_DIACRITICS)  # rows and columns one placement can address

_ids = count(randint(1, 1 << 20))


def new_image_id() -> int:
    """A fresh id in 1..2**24-1 whose colour is not black (the id is the placeholder's 24-bit colour)."""
    while True:
        i = next(_ids) % (1 << 24)
        if i > 255:
            return i


def _apc(keys: str, payload: str = "", tmux: bool = False) -> str:
    seq = f"{APC_START}{keys}{';' + payload if payload else ''}{ST}"
    if tmux:
        return "\x1bPtmux;" + seq.replace("\x1b", "\x1b\x1b") + ST
    return seq


def kitty_transmit(image_id: int, png: bytes, cols: int, rows: int, *, tmux: bool = False) -> str:
    """Transmit a PNG under ``image_id`` (chunks of 4096) and make its virtual placement of cols x rows cells."""
    data = base64.standard_b64encode(png).decode("ascii")
    out = []
    first = True
    while True:
        chunk, data = data[:4096], data[4096:]
        more = 1 if data else 0
        keys = f"a=t,f=100,t=d,i={image_id},q=2,m={more}" if first else f"m={more}"
        out.append(_apc(keys, chunk, tmux))
        first = False
        if not data:
            break
    out.append(_apc(f"a=p,U=1,i={image_id},c={cols},r={rows},q=2", "", tmux))
    return "".join(out)


def kitty_edit(image_id: int, rgb: Any, x: int, y: int, *, tmux: bool = False) -> str:
    """Overwrite the ``rgb`` rectangle (H x W x 3 uint8) at pixel (x, y) of transmitted image ``image_id``
    in place: kitty's frame edit of the root frame (``a=f,r=1``, ``X=1`` replaces instead of blending),
    raw RGB (``f=24``) compressed with zlib (``o=z``). Every placement of the image shows the change."""
    import zlib

    import numpy as np

    a = np.ascontiguousarray(np.asarray(rgb, np.uint8)[..., :3])
    h, w = a.shape[:2]
    data = base64.standard_b64encode(zlib.compress(a.tobytes(), 6)).decode("ascii")
    out = []
    first = True
    while True:
        chunk, data = data[:4096], data[4096:]
        more = 1 if data else 0
        keys = (f"a=f,r=1,i={image_id},x={x},y={y},s={w},v={h},X=1,f=24,o=z,q=2,m={more}" if first
                else f"m={more}")
        out.append(_apc(keys, chunk, tmux))
        first = False
        if not data:
            break
    return "".join(out)


def changed_rects(old: Any, new: Any, band: int) -> list[tuple[int, int, int, int]] | None:
    """The rectangles (x, y, w, h) where two pictures (H x W x 3, or H x W packed colours) differ: per
    band of ``band`` pixel rows, the changed columns' span and the changed rows within it. None when
    the sizes differ."""
    import numpy as np

    if old is None or new is None or old.shape != new.shape:
        return None
    diff = old != new
    if diff.ndim == 3:
        diff = diff.any(axis=2)
    rects = []
    for y0 in range(0, diff.shape[0], max(1, band)):
        part = diff[y0:y0 + band]
        cols = np.flatnonzero(part.any(axis=0))
        if not cols.size:
            continue
        rows = np.flatnonzero(part.any(axis=1))
        rects.append((int(cols[0]), y0 + int(rows[0]), int(cols[-1] - cols[0] + 1), int(rows[-1] - rows[0] + 1)))
    return rects


def kitty_delete(image_id: int, *, tmux: bool = False) -> str:
    """Free the image (and its placements) in the terminal."""
    return _apc(f"a=d,d=I,i={image_id},q=2", "", tmux)


def kitty_rows(image_id: int, cols: int, rows: int) -> list[str]:
    """The text of each placeholder row (style it with :func:`kitty_style`)."""
    cols, rows = min(cols, KITTY_MAX_CELLS), min(rows, KITTY_MAX_CELLS)
    return ["".join(PLACEHOLDER + _DIACRITICS[r] + _DIACRITICS[c] for c in range(cols)) for r in range(rows)]


def kitty_style(image_id: int) -> Any:
    from rich.color import Color
    from rich.style import Style

    return Style(color=Color.from_rgb((image_id >> 16) & 255, (image_id >> 8) & 255, image_id & 255))


def encode_png(rgb: Any) -> bytes:
    """RGB uint8 -> PNG bytes (fast compression: the link, not the CPU, is the limit)."""
    import cv2
    import numpy as np

    a = np.ascontiguousarray(np.asarray(rgb, np.uint8)[..., ::-1])
    ok, buf = cv2.imencode(".png", a, [cv2.IMWRITE_PNG_COMPRESSION, 3])
    if not ok:
        raise ValueError("PNG encoding failed")
    return buf.tobytes()


# ---------------------------------------------------------------------------
# Sixel
# ---------------------------------------------------------------------------

DCS_SIXEL = "\x1bP0;1;0q"  # aspect 1:1, pixels not set stay as they are
_RUN = re.compile(r"([?-~])\1{3,}")


def _rle(s: str) -> str:
    return _RUN.sub(lambda m: f"!{len(m.group(0))}{m.group(1)}", s)


def encode_sixel(rgb: Any, colors: int = 255) -> str:
    """RGB uint8 (H x W x 3) -> a Sixel image (DCS ... ST) with at most ``colors`` palette entries."""
    import numpy as np
    from PIL import Image

    a = np.ascontiguousarray(np.asarray(rgb, np.uint8)[..., :3])
    h, w = a.shape[:2]
    im = Image.fromarray(a, "RGB").quantize(colors=colors, method=Image.Quantize.FASTOCTREE,
                                             dither=Image.Dither.NONE)
    idx = np.asarray(im, np.uint8)
    pal = im.getpalette() or []
    n = int(idx.max()) + 1 if idx.size else 0
    out = [DCS_SIXEL, f'"1;1;{w};{h}']
    for i in range(n):
        r, g, b = pal[3 * i:3 * i + 3] if 3 * i + 2 < len(pal) else (0, 0, 0)
        out.append(f"#{i};2;{r * 100 // 255};{g * 100 // 255};{b * 100 // 255}")
    # One band of six rows at a time: the sixel bits of every colour at once (one scatter per row),
    # then a string per colour present (numpy does the work; Python only joins and run-length codes).
    xs = np.arange(w)
    bits = np.zeros((max(n, 1), w), np.uint8)
    for top in range(0, h, 6):
        band = idx[top:top + 6]
        bits.fill(0)
        for r in range(band.shape[0]):
            bits[band[r], xs] |= np.uint8(1 << r)
        present = np.flatnonzero(bits.any(axis=1))
        raw = (bits[present] + 63).tobytes()
        parts = []
        for j, c in enumerate(present.tolist()):
            row = raw[j * w:(j + 1) * w].decode("ascii").rstrip("?")
            if row:
                parts.append(f"#{c}{_rle(row)}")
        out.append("$".join(parts))
        out.append("-")
    out.append(ST)
    return "".join(out)


def sixel_at(data: str, x: int, y: int) -> str:
    """Draw Sixel ``data`` with its top-left at screen cell (x, y) (0-based), keeping the cursor where it was."""
    return f"\x1b7\x1b[{y + 1};{x + 1}H{data}\x1b8"
