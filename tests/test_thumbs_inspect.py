from __future__ import annotations

import json
import subprocess
import sys


from dfl_tui.faces import dflimg, thumbs
from dfl_tui.faces.dflimg import FaceMeta
from faces_data import astronaut_bgr, template_landmarks


def test_thumbnails_follow_moves_and_rebuild(tmp_path):
    face = astronaut_bgr()[100:228, 180:308]
    p = tmp_path / "00001_0.jpg"
    dflimg.save_face(p, face, FaceMeta(face_type="whole_face", landmarks=template_landmarks((64, 64), 60)))
    tp = thumbs.write_thumbnail(p, face)
    assert tp == tmp_path / ".thumbs" / "00001_0.jpg" and tp.exists()
    q = thumbs.move_face(p, tmp_path / "sub" / "00009_0.jpg")
    assert not p.exists() and q.exists() and thumbs.thumbnail_path(q).exists() and not tp.exists()
    thumbs.remove_thumbnail(q)
    t = thumbs.load_thumbnail(q)
    assert t.shape == (64, 64, 3) and thumbs.thumbnail_path(q).exists()


def test_inspect_command_prints_metadata_and_refuses_plain_images(tmp_path):
    face = astronaut_bgr()[100:228, 180:308]
    p = tmp_path / "00001_0.jpg"
    dflimg.save_face(p, face, FaceMeta(face_type="whole_face", landmarks=template_landmarks((64, 64), 60),
                                       source_filename="00001.png"))
    out = subprocess.run([sys.executable, "-m", "dfl_tui", "inspect", str(p), "--json"], capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    d = json.loads(out.stdout)
    assert d["face_type"] == "whole_face" and d["source_filename"] == "00001.png" and len(d["landmarks"]) == 68
    plain = tmp_path / "plain.jpg"
    import cv2

    cv2.imwrite(str(plain), face)
    out = subprocess.run([sys.executable, "-m", "dfl_tui", "inspect", str(plain)], capture_output=True, text=True)
    assert out.returncode == 1 and "plain.jpg" in out.stderr and "no face metadata" in out.stderr
