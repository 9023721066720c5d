"""Plain-language verdicts beside the scorecard's numbers (light module: the CLI prints them).

Each figure gets one line: the number, what it means here, and what to do when it is poor.
The thresholds are rules of thumb, measured on the demo (see the README), not promises.
"""

from __future__ import annotations

from typing import Any

#: (good, fair) limits; direction: "high" = higher is better, "low" = lower is better
LIMITS: dict[str, tuple[str, float, float]] = {
    "pose_error_deg": ("low", 5.0, 10.0),
    "landmark_error": ("low", 0.02, 0.04),
    "outside_ssim": ("high", 0.97, 0.90),
    "flicker": ("low", 1.25, 2.0),
    "marked_share": ("high", 1.0, 0.999),
}
#: id_sim_src must beat id_sim_dst by this much to count as "the src identity"
ID_MARGIN = 0.02


def grade(key: str, value: float | None) -> str:
    """'good', 'fair', 'poor' or 'n/a' for a figure of the card."""
    if value is None:
        return "n/a"
    way, good, fair = LIMITS[key]
    if way == "high":
        return "good" if value >= good else "fair" if value >= fair else "poor"
    return "good" if value <= good else "fair" if value <= fair else "poor"


def _fmt(v: float | None, digits: int = 3) -> str:
    return "n/a" if v is None else f"{v:.{digits}f}"


#: the figures graded by LIMITS: key, label, digits, unit, verdict per grade
_GRADED: tuple[tuple[str, str, int, str, dict[str, str]], ...] = (
    ("pose_error_deg", "pose", 1, " deg  ", {
        "good": "good: the swapped face looks where the dst head looks",
        "fair": "fair: the head pose drifts a little from the dst's",
        "poor": "poor: the swapped face turns away from the dst head (more training, or src faces at these angles)",
        "n/a": "not measured (no landmarks found on the merged faces)"}),
    ("landmark_error", "landmarks", 4, "", {
        "good": "good: eyes, brows and mouth follow the dst face",
        "fair": "fair: the expression follows the dst roughly",
        "poor": "poor: the expression or mouth differs from the dst face",
        "n/a": "not measured"}),
    ("outside_ssim", "outside SSIM", 4, "", {
        "good": "good: nothing outside the face changed",
        "fair": "fair: the frame changed a little outside the face (denoise/degrade settings, a wide mask blur?)",
        "poor": "poor: the frame changed outside the face mask: check the merge settings",
        "n/a": "not measured"}),
    ("flicker", "flicker", 2, "", {
        "good": "good: the face changes from frame to frame about as much as the original",
        "fair": "fair: some shimmer (try merge --smooth 75, more training)",
        "poor": "poor: the face flickers (merge --smooth 100, more training, a steadier mask)",
        "n/a": "not measured ({pairs} frame pairs with a face)"}),
)


def verdict_lines(card: dict[str, Any]) -> list[str]:
    """One line per figure: name, value, verdict."""
    c = card.get("counts") or {}
    lines: list[str] = []
    src, dst = card.get("id_sim_src"), card.get("id_sim_dst")
    if src is None and dst is None:
        lines.append("identity        n/a     not measured (no identity model, or no swapped face was scored)")
    else:
        if src is not None and dst is not None and src >= dst + ID_MARGIN:
            v = "good: the swapped face is closer to the src set than to the dst face it replaced"
        elif src is not None and dst is not None and src > dst - ID_MARGIN:
            v = "fair: the swapped face is about as close to the src set as to the dst face (train longer)"
        elif src is None:
            v = "only the dst side measured (no src faces)"
        else:
            v = "poor: the swapped face still looks like the dst person (train longer, check the src set)"
        lines.append(f"identity        src {_fmt(src)} / dst {_fmt(dst)}   {v}")
    for key, label, digits, unit, words in _GRADED:
        value = card.get(key)
        text = words[grade(key, value)]
        if key == "flicker":
            text = text.format(pairs=c.get("flicker_pairs", 0))
        lines.append(f"{label:<16}{_fmt(value, digits):>6}{unit:<6}" + text)
    ms = card.get("marked_share")
    if ms is None:
        lines.append("marked          n/a")
    elif ms >= 1.0:
        lines.append(f"marked          {ms:>6.0%}      every merged frame carries the synthetic-media mark")
    else:
        lines.append(f"marked          {ms:>6.0%}      NOT every frame is marked ({c.get('marked', '?')} of "
                     f"{c.get('frames', '?')}): merge again; 'dfl-tui verify FILE' checks a frame")
    lines.append(f"({c.get('scored', 0)} of {c.get('frames', 0)} frames scored, {c.get('faces_swapped', 0)} swapped "
                 f"faces, {c.get('landmarks_compared', 0)} with landmarks on both; model {card.get('model', '?')})")
    if c.get("landmarks_lost"):
        lines.append(f"note: on {c['landmarks_lost']} swapped face(s) the landmark pipeline found no face: "
                     "those faces may not read as faces at all")
    return lines
