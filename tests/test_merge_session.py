"""The interactive merger's session: keyframes, inheritance, apply-to-following/all, saved and resumed."""

from __future__ import annotations

import json

from dfl_tui.merge.options import FrameSettings
from dfl_tui.merge.session import SESSION_FILE, MergeSession
from dfl_tui.options import replace


def test_frames_inherit_the_previous_keyframe(tmp_path):
    s = MergeSession.open(tmp_path, FrameSettings(mode="overlay"))
    assert s.settings_for("00001").mode == "overlay"
    s.set_frame("00003", replace(FrameSettings(), mode="seamless", erode_mask=10))
    assert s.settings_for("00002").mode == "overlay"
    assert s.settings_for("00003").mode == "seamless" and s.settings_for("00009").erode_mask == 10
    s.set_frame("00006", replace(FrameSettings(), mode="hist-match"))
    assert [s.settings_for(f"{i:05d}").mode for i in range(1, 8)] == \
        ["overlay", "overlay", "seamless", "seamless", "seamless", "hist-match", "hist-match"]
    # a keyframe equal to what it inherits is not kept
    s.set_frame("00004", replace(FrameSettings(), mode="seamless", erode_mask=10))
    assert "00004" not in s.keyframes


def test_apply_to_following_and_all(tmp_path):
    s = MergeSession.open(tmp_path)
    s.set_frame("00002", replace(FrameSettings(), blur_mask=5))
    s.set_frame("00005", replace(FrameSettings(), blur_mask=9))
    dropped = s.apply_following("00003", replace(FrameSettings(), blur_mask=20))
    assert dropped == 1
    assert [s.settings_for(f"{i:05d}").blur_mask for i in range(1, 7)] == [0, 5, 20, 20, 20, 20]
    s.apply_all(replace(FrameSettings(), mode="raw-rgb"))
    assert not s.keyframes and s.settings_for("00001").mode == "raw-rgb" and s.settings_for("99999").mode == "raw-rgb"
    s.set_frame("00002", replace(FrameSettings(), mode="overlay"))
    s.clear_frame("00002")
    assert s.settings_for("00002").mode == "raw-rgb"


def test_session_is_saved_as_json_and_resumed(tmp_path):
    s = MergeSession.open(tmp_path)
    s.set_frame("00004", replace(FrameSettings(), color_transfer="idt-m", face_scale=-5))
    s.current = "00004"
    s.model_iteration = 1200
    s.save()
    data = json.loads((tmp_path / SESSION_FILE).read_text())
    assert data["keyframes"]["00004"]["color_transfer"] == "idt-m" and data["current"] == "00004"
    again = MergeSession.load(tmp_path)
    assert again is not None and again.current == "00004" and again.model_iteration == 1200
    assert again.settings_for("00010").face_scale == -5 and again.settings_for("00003").face_scale == 0
    # a damaged session file is not fatal: a fresh session starts
    (tmp_path / SESSION_FILE).write_text("{not json")
    assert MergeSession.load(tmp_path) is None
    assert MergeSession.open(tmp_path).keyframes == {}
