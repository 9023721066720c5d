"""The interactive merger's keys: ONE table, from which the bindings, the settings panel and the
help are generated, so that a keymap remap (``~/.config/dfl-tui/keymap.toml``) changes all three.

Each row is a :class:`MergerKey`: its binding id (stable: keymaps refer to it), DeepFaceLab's
key, the action, a description, the *group* it is listed under in the help, and -- for keys that
change a setting -- the setting it belongs to in the panel (``panel=True`` keys are the ones
the panel names beside the value; Shift's x5 variants only appear in the help).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Iterable

from textual.binding import Binding


@dataclass(frozen=True)
class MergerKey:
    id: str  # binding id, "merger.<...>"
    key: str  # Textual key name(s), DeepFaceLab's where it has one
    action: str
    description: str
    group: str  # the help line it belongs to
    setting: str | None = None  # the setting it changes (the panel's row)
    panel: bool = False  # named in the panel beside the value
    show: bool = False  # in the footer


def _steps(setting: str, group: str, ident: str, up: str, down: str, up5: str, down5: str,
           unit: float = 1) -> list[MergerKey]:
    """+ / - by one (the panel's keys) and by five (Shift), as DeepFaceLab's merger."""
    return [
        MergerKey(f"merger.{ident}-up", up, f"step('{setting}', {unit})", f"{group} +", group, setting, True),
        MergerKey(f"merger.{ident}-down", down, f"step('{setting}', {-unit})", f"{group} -", group, setting, True),
        MergerKey(f"merger.{ident}-up5", up5, f"step('{setting}', {5 * unit})", f"{group} +5", group, setting),
        MergerKey(f"merger.{ident}-down5", down5, f"step('{setting}', {-5 * unit})", f"{group} -5", group, setting),
    ]


MODE_NAMES = ("original", "overlay", "hist-match", "seamless", "seamless-hist-match", "raw-rgb", "raw-predict")

KEYS: tuple[MergerKey, ...] = (
    *[MergerKey(f"merger.mode-{name}", key, f"mode({i})", name, "mode", "mode", True)
      for i, (name, key) in enumerate(zip(MODE_NAMES, ("grave_accent", "1", "2", "3", "4", "5", "6"))) ],
    MergerKey("merger.mask-next", "x", "cycle('mask_mode', 1)", "mask mode", "mask mode", "mask_mode", True),
    MergerKey("merger.mask-prev", "X", "cycle('mask_mode', -1)", "mask mode (back)", "mask mode", "mask_mode", True),
    *_steps("erode_mask", "erode", "erode", "w", "s", "W", "S"),
    *_steps("blur_mask", "blur", "blur", "e", "d", "E", "D"),
    *_steps("motion_blur", "motion blur", "motion", "r", "f", "R", "F"),
    *_steps("face_scale", "face scale", "scale", "u", "j", "U", "J"),
    MergerKey("merger.ct-next", "c", "cycle('color_transfer', 1)", "colour transfer", "colour transfer",
              "color_transfer", True),
    MergerKey("merger.ct-prev", "C", "cycle('color_transfer', -1)", "colour transfer (back)", "colour transfer",
              "color_transfer", True),
    *_steps("hist_match_threshold", "hist-match threshold", "hist", "q", "a", "Q", "A"),
    MergerKey("merger.masked-hist", "z", "toggle_masked_hist", "masked hist-match on/off", "masked hist-match",
              "masked_hist_match", True),
    MergerKey("merger.sharpen-mode", "n", "cycle('sharpen_mode', 1)", "sharpen mode", "sharpen mode",
              "sharpen_mode", True),
    MergerKey("merger.sharpen-mode-prev", "N", "cycle('sharpen_mode', -1)", "sharpen mode (back)", "sharpen mode",
              "sharpen_mode", True),
    *_steps("sharpen_amount", "sharpen / blur", "sharpen", "y", "h", "Y", "H"),
    *_steps("super_resolution", "super-resolution", "sr", "t", "g", "T", "G"),
    *_steps("image_denoise", "image denoise", "denoise", "i", "k", "I", "K"),
    *_steps("bicubic_degrade", "bicubic degrade", "degrade", "o", "l", "O", "L"),
    *_steps("color_degrade", "colour degrade", "cdegrade", "p", "semicolon", "P", "colon"),
    MergerKey("merger.morph-down", "left_square_bracket", "step('morph_factor', -0.05)", "morph -",
              "AMP morph factor", "morph_factor", True),
    MergerKey("merger.morph-up", "right_square_bracket", "step('morph_factor', 0.05)", "morph +",
              "AMP morph factor", "morph_factor", True),
    MergerKey("merger.label", "number_sign", "toggle_label", "AI-generated label", "visible AI-generated label"),
    MergerKey("merger.smooth", "exclamation_mark", "cycle_smooth", "face smoothing",
              "face smoothing 0/25/50/75/100 (steadier faces across frames, the whole clip)"),
    MergerKey("merger.next", "full_stop", "frame(1)", "Next", "next / previous frame", show=True),
    MergerKey("merger.prev", "comma", "frame(-1)", "Prev", "next / previous frame", show=True),
    MergerKey("merger.first", "less_than_sign", "first", "first frame", "first frame"),
    MergerKey("merger.override-next", "slash", "override_next", "next, overriding it",
              "next frame with these settings"),
    MergerKey("merger.override-prev", "m", "override_prev", "previous, overriding it",
              "previous frame with these settings"),
    MergerKey("merger.apply-following", "question_mark", "apply_following", "Apply to following",
              "these settings for the following", show=True),
    MergerKey("merger.apply-all", "M", "apply_all", "Apply to all",
              "these settings for all frames", show=True),
    MergerKey("merger.clear-frame", "backspace", "clear_frame", "inherit again",
              "this frame inherits again"),
    MergerKey("merger.zoom-out", "minus", "zoom(-1)", "zoom out", "zoom out / in on the face"),
    MergerKey("merger.zoom-in", "equals_sign", "zoom(1)", "Zoom", "zoom out / in on the face", show=True),
    MergerKey("merger.zoom-in2", "plus", "zoom(1)", "zoom in", "zoom out / in on the face"),
    MergerKey("merger.view", "v", "cycle_view", "View", "view: result, original, mask, side by side", show=True),
    MergerKey("merger.before-after", "b", "before_after", "before/after", "before / after"),
    MergerKey("merger.side", "B", "side_by_side", "Side by side", "original | result side by side"),
    MergerKey("merger.full", "space", "full_screen", "Full screen", "the frame on the whole screen", show=True),
    MergerKey("merger.merge", "enter", "merge_all", "Merge all",
              "merge all frames (a job) now", show=True),
    MergerKey("merger.merge2", "greater_than_sign", "merge_all", "merge all",
              "merge all frames (a job) now"),
    MergerKey("merger.help", "tab", "toggle_help", "Keys", "this help", show=True),
    MergerKey("merger.back", "escape", "back", "Back", "leave (the session is saved)", show=True),
)

# The settings panel: (setting, label) in DeepFaceLab's order; the keys come from KEYS.
PANEL: tuple[tuple[str, str], ...] = (
    ("mode", "mode"),
    ("mask_mode", "mask"),
    ("erode_mask", "erode"),
    ("blur_mask", "blur"),
    ("motion_blur", "motion blur"),
    ("face_scale", "face scale %"),
    ("color_transfer", "colour transfer"),
    ("hist_match_threshold", "hist threshold"),
    ("masked_hist_match", "masked hist"),
    ("sharpen_mode", "sharpen mode"),
    ("sharpen_amount", "sharpen/blur"),
    ("super_resolution", "super-res"),
    ("image_denoise", "denoise"),
    ("bicubic_degrade", "bicubic degrade"),
    ("color_degrade", "colour degrade"),
    ("morph_factor", "morph (AMP)"),
)

KeyFor = Callable[[str, str], str]  # (binding id, default key) -> the key now, as shown


def bindings() -> list[Binding]:
    """The screen's BINDINGS, from the table (Back first, so that the footer always shows how to leave)."""
    ordered = sorted(KEYS, key=lambda k: k.id != "merger.back")
    return [Binding(k.key, k.action, k.description, id=k.id, show=k.show) for k in ordered]


def default_key_for(binding_id: str, default: str) -> str:
    from ..keymap import key_display

    return key_display(default)


def _compact(keys: list[str]) -> str:
    """``1 2 3 4 5 6`` -> ``1-6`` (runs of digits), else the keys joined by spaces."""
    out: list[str] = []
    run: list[str] = []

    def flush() -> None:
        if len(run) > 2:
            out.append(f"{run[0]}-{run[-1]}")
        else:
            out.extend(run)
        run.clear()

    for k in keys:
        if len(k) == 1 and k.isdigit() and run and int(k) == int(run[-1]) + 1:
            run.append(k)
            continue
        flush()
        if len(k) == 1 and k.isdigit():
            run.append(k)
        else:
            out.append(k)
    flush()
    return " ".join(out)


def panel_keys(setting: str, key_for: KeyFor = default_key_for) -> str:
    """The keys the panel names beside a setting, after the user's keymap."""
    return _compact([key_for(k.id, k.key) for k in KEYS if k.setting == setting and k.panel])


def _groups() -> Iterable[tuple[str, list[MergerKey]]]:
    seen: dict[str, list[MergerKey]] = {}
    for k in KEYS:
        seen.setdefault(k.group, []).append(k)
    return seen.items()


def help_lines(key_for: KeyFor = default_key_for) -> list[tuple[str, str]]:
    """(keys, what) for the help: one line per group; Shift's x5 keys in brackets."""
    rows = []
    for group, keys in _groups():
        main = [key_for(k.id, k.key) for k in keys if not k.id.endswith("5")]
        five = [key_for(k.id, k.key) for k in keys if k.id.endswith("5")]
        text = _compact(main) if keys[0].setting == "mode" else " / ".join(main)
        if five:
            text += f" (x5: {' / '.join(five)})"
        what = group
        if keys[0].setting == "mode":
            what = "mode: " + " ".join(MODE_NAMES)
        elif keys[0].setting and len(main) == 2 and keys[0].action.startswith("step"):
            what = f"{group} + / -"
        rows.append((text, what))
    return rows


def help_text(key_for: KeyFor = default_key_for, width: int = 100) -> str:
    """The help panel in ``width`` columns: two columns (lines cut with an ellipsis) from 70 on."""
    rows = help_lines(key_for)
    lines = ["Merger keys (DeepFaceLab's; remap them by id: dfl-tui tui --keys)"]

    def column(part: list[tuple[str, str]], w: int) -> list[str]:
        kw = max(len(k) for k, _ in part)
        cells = [f"{k:<{kw}}  {what}" for k, what in part]
        return [c if len(c) <= w else c[:w - 1] + "…" for c in cells]

    if width >= 70:
        half = (len(rows) + 1) // 2
        left_w = max(len(k) for k, _ in rows[:half]) + 2 + 22
        left = column(rows[:half], left_w)
        right = column(rows[half:], width - left_w - 2)
        for a, b in zip(left, right + [""]):
            lines.append(f"{a:<{left_w}}  {b}".rstrip())
    else:
        lines += column(rows, width)
    return "\n".join(lines)
