"""The file system as an adversary (issue 12, items 2, 9 and 10): symlinks never lead dfl-tui
outside the folder it works on, a sort killed while renaming is finished before anything reads
the set again, and temporary files of a killed run are cleaned by the next run and reported by
``status``."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

import faceset_fixtures as ff
from dfl_tui import jobs
from dfl_tui.faceset.options import FacesetOptions, SortOptions
from dfl_tui.faceset.trash import Trash
from dfl_tui.util.paths import OutsideError
from dfl_tui.workspace import Workspace, list_images

ROOT = Path(__file__).resolve().parents[1]
SIZE = 64


@pytest.fixture(scope="module")
def base():
    frame, lm = ff.frames()["hopper"]
    return ff.make_face(frame, lm, SIZE)


def faces(folder: Path, base, names) -> list[Path]:
    face, meta = base
    return [ff.save(folder, n, ff.brighten(face, 7 * i), meta) for i, n in enumerate(names)]


def events(ws, st) -> str:
    return "\n".join(str(e.get("message", "")) for e in jobs.find(ws, st["id"]).read_events()[0])


def dead_pid() -> int:
    p = subprocess.Popen([sys.executable, "-c", "pass"])
    p.wait()
    return p.pid


def status_text(ws, capsys) -> str:
    from dfl_tui import cli

    assert cli.main(["-w", str(ws.root), "status"]) == 0
    return capsys.readouterr().out


# -- item 2: one rule for symlinks ----------------------------------------------------------------


def test_unpack_does_not_write_through_a_symlinked_folder(tmp_path, base):
    from dfl_tui.faceset.pack import PACK_NAME, pack_folder, unpack_folder

    aligned = tmp_path / "aligned"
    faces(aligned / "bob", base, ["a_0.jpg", "b_0.jpg"])
    pack_folder(aligned, persons=True, fmt="dflpack")
    outside = tmp_path / "outside"
    outside.mkdir()
    (aligned / "bob").rmdir()  # packed: the person folder is empty
    os.symlink(outside, aligned / "bob")  # and now leads elsewhere
    with pytest.raises(OutsideError) as err:
        unpack_folder(aligned)
    assert str(aligned / "bob") in str(err.value) and f"work on {outside} itself" in str(err.value)
    assert not list(outside.iterdir()) and (aligned / PACK_NAME).exists()


def test_pack_does_not_read_a_symlinked_file_from_outside_the_set(tmp_path, base):
    from dfl_tui.faceset.pack import PACK_NAME, pack_folder
    from test_merge_batch import Recorder

    aligned = tmp_path / "aligned"
    faces(aligned, base, ["a_0.jpg", "b_0.jpg"])
    secret = faces(tmp_path / "elsewhere", base, ["x.jpg", "y.jpg", "secret.jpg"])[2]  # unlike a_0, b_0
    os.symlink(secret, aligned / "c_0.jpg")
    rec = Recorder(None)
    res = pack_folder(aligned, rec, fmt="dflpack")
    assert res["packed"] == 2
    assert any(str(aligned / "c_0.jpg") in w and "outside" in w for w in rec.warnings)
    assert secret.read_bytes() not in (aligned / PACK_NAME).read_bytes()
    assert secret.exists() and (aligned / "c_0.jpg").is_symlink()


def test_pack_persons_does_not_move_files_of_a_folder_outside(tmp_path, base):
    from dfl_tui.faceset.pack import pack_folder
    from test_merge_batch import Recorder

    aligned = tmp_path / "aligned"
    faces(aligned / "ann", base, ["a_0.jpg"])
    theirs = faces(tmp_path / "someone_elses", base, ["x_0.jpg", "y_0.jpg"])
    os.symlink(tmp_path / "someone_elses", aligned / "zed")
    rec = Recorder(None)
    res = pack_folder(aligned, rec, persons=True, fmt="dflpack")
    assert res["packed"] == 1 and all(p.exists() for p in theirs)
    assert any(str(aligned / "zed") in w for w in rec.warnings)


def test_trash_moves_never_leave_the_set(tmp_path, base):
    aligned = tmp_path / "aligned"
    faces(aligned, base, ["a_0.jpg"])
    theirs = faces(tmp_path / "else", base, ["x_0.jpg"])[0]
    os.symlink(tmp_path / "else", aligned / "sub")
    with pytest.raises(OutsideError):
        Trash(aligned).delete([aligned / "sub" / "x_0.jpg"])
    with pytest.raises(OutsideError):
        Trash(aligned).move_to([aligned / "a_0.jpg"], "sub")
    assert theirs.exists() and (aligned / "a_0.jpg").exists()


def test_a_symlinked_trash_is_refused(tmp_path, base):
    aligned = tmp_path / "aligned"
    paths = faces(aligned, base, ["a_0.jpg", "b_0.jpg"])
    (tmp_path / "elsewhere").mkdir()
    os.symlink(tmp_path / "elsewhere", aligned / ".trash")
    with pytest.raises(OutsideError) as err:
        Trash(aligned).delete(paths[:1])
    assert str(aligned / ".trash") in str(err.value) and "symlink" in str(err.value)
    assert all(p.exists() for p in paths) and not list((tmp_path / "elsewhere").iterdir())


def test_a_symlinked_set_folder_itself_is_fine(tmp_path, base):
    real = tmp_path / "disk2" / "aligned"
    paths = faces(real, base, ["a_0.jpg", "b_0.jpg"])
    os.symlink(real, tmp_path / "aligned")
    op = Trash(tmp_path / "aligned").delete([tmp_path / "aligned" / "a_0.jpg"])
    assert op.trashed == 1 and (real / ".trash" / "a_0.jpg").exists() and paths[1].exists()


def test_unpack_after_a_killed_unpack_goes_on_quietly_and_warns_only_of_real_clashes(tmp_path, base):
    from dfl_tui.faceset.pack import pack_folder, unpack_folder
    from test_merge_batch import Recorder

    aligned = tmp_path / "aligned"
    paths = faces(aligned, base, [f"{c}_0.jpg" for c in "abcd"])
    content = {p.name: p.read_bytes() for p in paths}
    pack_folder(aligned, fmt="dflpack")
    (aligned / "a_0.jpg").write_bytes(content["a_0.jpg"])  # what a killed unpack had written
    (aligned / "b_0.jpg").write_bytes(content["c_0.jpg"])  # a different face under that name
    rec = Recorder(None)
    res = unpack_folder(aligned, rec)
    assert res["unpacked"] == 2 and res["skipped"] == 2
    assert len(rec.warnings) == 1 and str(aligned / "b_0.jpg") in rec.warnings[0], rec.warnings
    assert (aligned / "b_0.jpg").read_bytes() == content["c_0.jpg"]  # kept, never overwritten
    assert all((aligned / n).read_bytes() == content[n] for n in ("a_0.jpg", "c_0.jpg", "d_0.jpg"))


# -- item 9: a sort killed while renaming ---------------------------------------------------------

KILL = textwrap.dedent("""
    import os, sys
    from pathlib import Path
    from dfl_tui.faceset import trash as T
    folder, phase, after = Path(sys.argv[1]), sys.argv[2], int(sys.argv[3])
    real = T.move_face
    n = [0]
    def move(src, dst):
        if (phase == "1") != Path(src).name.startswith(T.TMP_PREFIX):
            n[0] += 1
            if n[0] > after:
                os._exit(9)  # as SIGKILL: nothing after this runs
        real(src, dst)
    T.move_face = move
    names = sorted(p.name for p in folder.iterdir() if p.suffix == ".jpg")
    T.Trash(folder).apply([(a, f"{i:05d}.jpg") for i, a in enumerate(reversed(names))], "sort blur")
""")


@pytest.mark.parametrize("phase", ["1", "2"])
def test_a_sort_killed_while_renaming_is_finished_by_the_next_command(tmp_path, base, phase, capsys):
    ws = Workspace.open(tmp_path / "ws").ensure()
    folder = ws.aligned("src")
    names = [f"{c}_0.jpg" for c in "abcdefgh"]
    paths = faces(folder, base, names)
    content = {p.name: p.read_bytes() for p in paths}
    r = subprocess.run([sys.executable, "-c", KILL, str(folder), phase, "3"], cwd=ROOT,
                       env={**os.environ, "PYTHONPATH": str(ROOT)})
    assert r.returncode == 9
    assert len(list_images(folder)) < 8  # faces hidden under .txn- names

    out = status_text(ws, capsys)
    assert "interrupted" in out and str(folder) in out

    st = jobs.run_inline(ws, "sort", SortOptions(side="src", by="origname"))
    assert st["state"] == "done", st.get("error")
    assert "finished an interrupted" in events(ws, st)
    got = list_images(folder)
    assert len(got) == 8 and not any("~" in p.name for p in got)
    assert not [p for p in folder.rglob(".txn-*")]
    assert sorted(p.read_bytes() for p in got) == sorted(content.values())  # every face, intact
    assert "interrupted" not in status_text(ws, capsys)


# -- item 10: temporary files of a killed run -----------------------------------------------------


def test_stale_temp_files_are_reported_by_status_and_removed_by_a_rerun(tmp_path, base, capsys):
    ws = Workspace.open(tmp_path / "ws").ensure()
    folder = ws.aligned("src")
    faces(folder, base, ["a_0.jpg", "b_0.jpg"])
    pid = dead_pid()
    stale = [folder / f".faceset.dflpack.{pid}.k3j2h1g0.tmp",  # a killed pack
             folder / f".c_0.jpg.{pid}.x7y6z5w4.tmp",  # a killed unpack
             ws.root / f".result.mp4.{pid}.part"]  # a killed make-video
    for i, p in enumerate(stale):
        p.write_bytes(b"\0" * (1 << 20) * (i + 1))
    live = folder / f".d_0.jpg.{os.getpid()}.aaaa1111.tmp"  # a writer that is still running: kept
    live.write_bytes(b"x")
    old = folder / ".e_0.jpg.q1w2e3r4.tmp"  # an older version's name (no process id), hours old: stale
    old.write_bytes(b"y")
    os.utime(old, (0, 0))

    out = status_text(ws, capsys)
    assert "stale temporary files: 4 (6.0 MB)" in out
    assert f"{folder} (3, 3.0 MB, e.g. .c_0.jpg.{pid}.x7y6z5w4.tmp)" in out  # where they are, the biggest by name
    assert f"{ws.root} (1, 3.0 MB, .result.mp4.{pid}.part)" in out

    st = jobs.run_inline(ws, "faceset", FacesetOptions(side="src", action="pack"))
    assert st["state"] == "done", st.get("error")
    assert not any(p.exists() for p in [*stale, old]) and live.exists()
    assert "left in" in events(ws, st)
    assert "stale temporary" not in status_text(ws, capsys)


def test_atomic_writes_name_their_writer(tmp_path):
    from dfl_tui.util.atomic import atomic_open
    from dfl_tui.util.tempfiles import is_stale, writer_pid

    with atomic_open(tmp_path / "x.bin") as fh:
        fh.write(b"1")
        tmp = next(p for p in tmp_path.iterdir() if p.name.endswith(".tmp"))
        assert writer_pid(tmp.name) == os.getpid() and not is_stale(tmp)
    assert (tmp_path / "x.bin").read_bytes() == b"1"
