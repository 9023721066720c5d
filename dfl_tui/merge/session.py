"""The interactive merger's session: per-frame settings, saved as JSON in the model folder.

DeepFaceLab pickles every frame's config to ``<model>_merger_session.dat``. We keep
*keyframes* instead: a frame's settings are those of the nearest keyframe at or
before it (or the session's base settings), which is exactly DeepFaceLab's "a new
frame inherits the previous frame's config", stores a few lines instead of one
config per frame, and makes "apply to the following frames" / "apply to all frames"
simple edits. The file is ``model/<name>/merger_session.json``, written atomically
after every change, so quitting at any moment loses nothing; the batch merge reads
it back (``dfl-tui merge`` with ``--session``, the default).

Light module (no numpy): the TUI imports it.
"""

from __future__ import annotations

import bisect
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..util.atomic import atomic_write_json, read_json
from .options import FrameSettings, settings_dict, settings_from_dict

SESSION_FILE = "merger_session.json"
FORMAT = "dfl-tui-merger-session/1"


@dataclass
class MergeSession:
    path: Path
    model: str
    base: dict[str, Any] = field(default_factory=lambda: settings_dict(FrameSettings()))
    keyframes: dict[str, dict[str, Any]] = field(default_factory=dict)  # frame stem -> settings
    current: str | None = None  # the frame the user was on
    model_iteration: int | None = None
    updated: float = 0.0

    # -- files ---------------------------------------------------------------------
    @staticmethod
    def path_for(model_dir: Path) -> Path:
        return Path(model_dir) / SESSION_FILE

    @classmethod
    def load(cls, model_dir: Path) -> "MergeSession | None":
        """The saved session of a model, or None (missing or unreadable: a fresh one is started)."""
        path = cls.path_for(model_dir)
        data = read_json(path, None)
        if not isinstance(data, dict) or data.get("format") != FORMAT:
            return None
        try:
            base = settings_dict(settings_from_dict(data.get("base") or {}))
            kfs = {str(k): settings_dict(settings_from_dict(v)) for k, v in (data.get("keyframes") or {}).items()}
        except ValueError:
            return None
        return cls(path, str(data.get("model") or Path(model_dir).name), base, kfs, data.get("current"),
                   data.get("model_iteration"), float(data.get("updated") or 0.0))

    @classmethod
    def open(cls, model_dir: Path, base: FrameSettings | None = None) -> "MergeSession":
        """The saved session, or a new one starting from ``base``."""
        got = cls.load(model_dir)
        if got is not None:
            return got
        return cls(cls.path_for(model_dir), Path(model_dir).name,
                   settings_dict(base) if base is not None else settings_dict(FrameSettings()))

    def save(self) -> None:
        self.updated = time.time()
        atomic_write_json(self.path, {
            "format": FORMAT,
            "model": self.model,
            "model_iteration": self.model_iteration,
            "current": self.current,
            "base": self.base,
            "keyframes": dict(sorted(self.keyframes.items())),
            "updated": self.updated,
        })

    # -- settings per frame ------------------------------------------------------------
    def _keys(self) -> list[str]:
        return sorted(self.keyframes)

    def settings_for(self, stem: str) -> FrameSettings:
        """The settings of frame ``stem``: its keyframe, else the nearest one before it, else the base."""
        keys = self._keys()
        i = bisect.bisect_right(keys, stem)
        if i:
            return settings_from_dict(self.keyframes[keys[i - 1]])
        return settings_from_dict(self.base)

    def set_frame(self, stem: str, s: FrameSettings) -> None:
        """Change frame ``stem`` (and, by inheritance, the frames after it up to the next keyframe)."""
        d = settings_dict(s)
        keys = self._keys()
        i = bisect.bisect_left(keys, stem)
        prev = self.keyframes[keys[i - 1]] if i else self.base
        if stem in self.keyframes or d != prev:
            self.keyframes[stem] = d
        # a keyframe equal to what it would inherit is noise
        if self.keyframes.get(stem) == prev:
            del self.keyframes[stem]

    def apply_following(self, stem: str, s: FrameSettings) -> int:
        """These settings for ``stem`` and every frame after it; returns how many keyframes were dropped."""
        later = [k for k in self.keyframes if k > stem]
        for k in later:
            del self.keyframes[k]
        self.set_frame(stem, s)
        return len(later)

    def apply_all(self, s: FrameSettings) -> None:
        """These settings for every frame (the base; all keyframes dropped)."""
        self.base = settings_dict(s)
        self.keyframes.clear()

    def clear_frame(self, stem: str) -> None:
        """Frame ``stem`` goes back to inheriting from the frames before it."""
        self.keyframes.pop(stem, None)

    def summary(self) -> str:
        n = len(self.keyframes)
        return f"{n} keyframe{'s' if n != 1 else ''}" + (f", at {self.current}" if self.current else "")
