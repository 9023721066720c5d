"""The faceset trash: undoable deletes, moves and renames; crash recovery; tags follow faces."""

from __future__ import annotations

import json
import os

import pytest

from dfl_tui.errors import InputError
from dfl_tui.faces.thumbs import thumbnail_path
from dfl_tui.faceset.journal import TagJournal, read_tags
from dfl_tui.faceset.trash import TMP_PREFIX, Trash, set_aside
from dfl_tui.workspace import list_images


def _files(folder, names):
    for n in names:
        (folder / n).write_bytes(n.encode())
        thumbnail_path(folder / n).parent.mkdir(exist_ok=True)
        thumbnail_path(folder / n).write_bytes(b"thumb-" + n.encode())


def test_delete_and_undo_restores_bytes_and_thumbnails(tmp_path):
    _files(tmp_path, ["a_0.jpg", "b_0.jpg", "c_0.jpg"])
    t = Trash(tmp_path)
    op = t.delete([tmp_path / "a_0.jpg", tmp_path / "c_0.jpg"])
    assert [p.name for p in list_images(tmp_path)] == ["b_0.jpg"]
    assert t.count() == 2 and op.trashed == 2
    assert thumbnail_path(tmp_path / ".trash" / "a_0.jpg").exists()
    undo = t.undo()
    assert undo is not None and len(undo.moves) == 2
    assert [p.name for p in list_images(tmp_path)] == ["a_0.jpg", "b_0.jpg", "c_0.jpg"]
    assert (tmp_path / "a_0.jpg").read_bytes() == b"a_0.jpg"
    assert thumbnail_path(tmp_path / "a_0.jpg").read_bytes() == b"thumb-a_0.jpg"
    assert t.count() == 0 and t.undo() is None


def test_same_name_trashed_twice_keeps_both(tmp_path):
    t = Trash(tmp_path)
    (tmp_path / "x.jpg").write_bytes(b"first")
    t.delete([tmp_path / "x.jpg"])
    (tmp_path / "x.jpg").write_bytes(b"second")
    t.delete([tmp_path / "x.jpg"])
    assert sorted(p.name for p in t.items()) == ["x.jpg", "x~1.jpg"]
    t.undo()
    assert (tmp_path / "x.jpg").read_bytes() == b"second"
    t.undo()  # the older delete: its name is taken now, so it comes back beside it
    assert (tmp_path / "x~1.jpg").read_bytes() == b"first"


def test_rename_cycle_and_undo(tmp_path):
    _files(tmp_path, ["a.jpg", "b.jpg"])
    t = Trash(tmp_path)
    t.rename([("a.jpg", "b.jpg"), ("b.jpg", "a.jpg")])
    assert (tmp_path / "a.jpg").read_bytes() == b"b.jpg"
    t.undo()
    assert (tmp_path / "a.jpg").read_bytes() == b"a.jpg"
    with pytest.raises(FileExistsError):
        t.rename([("a.jpg", "b.jpg")])


def test_move_to_subfolder_and_bad_names(tmp_path):
    _files(tmp_path, ["a.jpg"])
    t = Trash(tmp_path)
    t.move_to([tmp_path / "a.jpg"], "closeups")
    assert (tmp_path / "closeups" / "a.jpg").exists() and not (tmp_path / "a.jpg").exists()
    for bad in ["../out", ".hidden", "/abs", ""]:
        with pytest.raises(InputError):
            t.move_to([tmp_path / "closeups" / "a.jpg"], bad)
    t.undo()
    assert (tmp_path / "a.jpg").exists()


def test_replace_keeps_the_old_version(tmp_path):
    _files(tmp_path, ["a.jpg"])
    t = Trash(tmp_path)
    (t.staging() / "a.jpg").write_bytes(b"new")
    t.replace(["a.jpg"], "resize")
    assert (tmp_path / "a.jpg").read_bytes() == b"new"
    assert (tmp_path / ".trash" / "a.jpg").read_bytes() == b"a.jpg"
    t.undo()
    assert (tmp_path / "a.jpg").read_bytes() == b"a.jpg"


def test_crash_half_way_is_finished_from_the_journal(tmp_path):
    _files(tmp_path, ["a.jpg", "b.jpg"])
    t = Trash(tmp_path)
    t.root.mkdir()
    # What a crash after phase 1 leaves: the journal record and the temporary names.
    plan = [["a.jpg", "00000.jpg"], ["b.jpg", "00001.jpg"]]
    with open(t.journal, "a") as fh:
        fh.write(json.dumps({"op": "deadbeef0001", "t": 0, "action": "sort", "moves": plan}) + "\n")
    os.replace(tmp_path / "a.jpg", tmp_path / f"{TMP_PREFIX}deadbeef0001-0.jpg")
    os.replace(tmp_path / "b.jpg", tmp_path / f"{TMP_PREFIX}deadbeef0001-1.jpg")
    assert t.recover() == 2
    assert sorted(p.name for p in list_images(tmp_path)) == ["00000.jpg", "00001.jpg"]
    t.undo()
    assert (tmp_path / "a.jpg").read_bytes() == b"a.jpg"


def test_tags_follow_faces_into_the_trash_and_back(tmp_path):
    _files(tmp_path, ["a.jpg", "b.jpg"])
    j = TagJournal(tmp_path)
    j.set(["a.jpg", "b.jpg"], "red")
    j.set(["b.jpg"], None)
    t = Trash(tmp_path)
    t.delete([tmp_path / "a.jpg"])
    assert read_tags(tmp_path) == {".trash/a.jpg": "red"}
    t.undo()
    assert read_tags(tmp_path) == {"a.jpg": "red"}
    j.close()
    j2 = TagJournal(tmp_path)  # compaction on open: one snapshot line
    assert j2.tags == {"a.jpg": "red"}
    assert len(j2.path.read_text().splitlines()) == 1
    j2.close()


def test_empty_deletes_only_the_trash(tmp_path):
    _files(tmp_path, ["a.jpg", "b.jpg"])
    t = Trash(tmp_path)
    t.delete([tmp_path / "a.jpg"])
    assert t.empty() == 1
    assert t.count() == 0 and (tmp_path / "b.jpg").exists()


def test_set_aside_skips_missing_files_and_says_how_to_undo(tmp_path):
    class Log:
        lines: list[str] = []

        def log(self, msg):
            self.lines.append(msg)

    _files(tmp_path, ["a.jpg", "b.jpg"])
    assert set_aside(tmp_path, [tmp_path / "gone.jpg"], "x") is None  # nothing to move: no operation
    op = set_aside(tmp_path, [tmp_path / "a.jpg", tmp_path / "gone.jpg"], "x", Log(), undo="do this", why="test")
    assert op.moves == [("a.jpg", ".trash/a.jpg")] and op.info == {"why": "test"}
    assert "do this" in Log.lines[-1] and Trash(tmp_path).last("x").id == op.id
    assert Trash(tmp_path).last("no such action") is None


@pytest.mark.parametrize("how", ["", "names", "images"])
def test_undo_of_a_displacing_operation(tmp_path, how):
    """A set cleared for a new run: undo brings the old set back whole (with ``displace``)."""
    _files(tmp_path, ["0_0.jpg", "1_0.jpg", ".state.json"])
    set_aside(tmp_path, [tmp_path / "0_0.jpg", tmp_path / "1_0.jpg", tmp_path / ".state.json"], "clear",
              displace=how)
    (tmp_path / "0_0.jpg").write_bytes(b"new 0")  # the new run writes the same names, and others
    (tmp_path / "2_0.jpg").write_bytes(b"new 2")
    (tmp_path / ".state.json").write_bytes(b"new state")
    Trash(tmp_path).undo()
    names = sorted(p.name for p in tmp_path.iterdir() if p.is_file())
    if not how:  # the old faces come back beside the new ones, renamed where taken
        assert (tmp_path / "0_0~1.jpg").read_bytes() == b"0_0.jpg"
        assert (tmp_path / "0_0.jpg").read_bytes() == b"new 0"
        return
    assert (tmp_path / "0_0.jpg").read_bytes() == b"0_0.jpg" and (tmp_path / ".state.json").read_bytes() == b".state.json"
    trashed = {p.name: p.read_bytes() for p in (tmp_path / ".trash").iterdir() if p.is_file() and p.suffix != ".jsonl"}
    assert trashed["0_0.jpg"] == b"new 0" and trashed[".state.json"] == b"new state"
    if how == "names":
        assert "2_0.jpg" in names
    else:
        assert "2_0.jpg" not in names and trashed["2_0.jpg"] == b"new 2"


def test_undo_removes_the_sub_folders_it_emptied_but_nothing_of_the_users(tmp_path):
    """Undoing a grouping leaves no empty person_N folders; derived caches in them go too, and a
    folder that holds anything else stays."""
    _files(tmp_path, ["a.jpg", "b.jpg", "c.jpg"])
    t = Trash(tmp_path)
    t.apply([("a.jpg", "person_1/a.jpg"), ("b.jpg", "person_2/b.jpg"), ("c.jpg", "person_3/c.jpg")], "group")
    (tmp_path / "person_1" / ".identity").mkdir()
    (tmp_path / "person_1" / ".identity" / "dlib.npy").write_bytes(b"cache")
    (tmp_path / "person_1" / ".thumbs").mkdir(exist_ok=True)
    (tmp_path / "person_3" / "notes.txt").write_text("mine")
    t.undo()
    assert sorted(p.name for p in list_images(tmp_path)) == ["a.jpg", "b.jpg", "c.jpg"]
    assert not (tmp_path / "person_1").exists() and not (tmp_path / "person_2").exists()
    assert (tmp_path / "person_3" / "notes.txt").read_text() == "mine"
    assert (tmp_path / ".trash").is_dir()  # the set's own hidden folders are never pruned
