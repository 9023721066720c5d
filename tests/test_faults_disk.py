"""A full disk (issue 12, item 7), simulated by writes that raise ENOSPC: the job's report still
reaches the user, training and merge end with "disk full: <path>, N MB free, <what is kept>", a
partial checkpoint.new is removed, and starting a job on a full disk is a message, not a traceback."""

from __future__ import annotations

import errno
import json
import shutil

import pytest

from dfl_tui import jobs
from dfl_tui.jobs import rundir as rundir_mod
from dfl_tui.train import checkpoint as ckpt
from dfl_tui.train.modeldir import CKPT, CKPT_NEW, ModelDir
from faults_fixtures import opts, trained, ws  # noqa: F401 - fixtures

pytestmark = pytest.mark.xdist_group("faults_disk")


def enospc(path="") -> OSError:
    return OSError(errno.ENOSPC, "No space left on device", path or None)


def test_disk_full_during_a_save_keeps_the_last_checkpoint_and_removes_the_partial_one(ws, monkeypatch):
    mdir = ModelDir.of(ws, "tiny")
    real = ckpt._write_file
    written = []

    def write(path, data):
        if written:
            raise enospc(str(path))  # the second file of the checkpoint does not fit
        written.append(path)
        real(path, data)

    monkeypatch.setattr(ckpt, "_write_file", write)
    st = jobs.run_inline(ws, "train", opts(target_iter=6))
    assert st["state"] == "failed"
    err = st["error"]
    assert err.startswith(f"disk full: {mdir.checkpoint(CKPT_NEW)}/") and " MB free, " in err
    assert f"the last good checkpoint is iteration 3 ({mdir.checkpoint(CKPT)})" in err
    assert not mdir.checkpoint(CKPT_NEW).exists()
    assert ckpt.verify(mdir.checkpoint(CKPT))["iteration"] == 3


def _full_run_folder(monkeypatch, *, reserve_frees: bool):
    """status.json and events.jsonl cannot be written while the reserve exists (the disk is full);
    freeing the reserve makes room (``reserve_frees``) or does not (another process took it)."""
    real_json, real_append = rundir_mod.atomic_write_json, rundir_mod.append_jsonl
    full = {"on": False}

    def room(path) -> bool:
        reserve = __import__("pathlib").Path(path).parent / "reserve"
        return not full["on"] or (reserve_frees and not reserve.exists())

    def write_json(path, obj, **kw):
        if not room(path):
            raise enospc(str(path))
        real_json(path, obj, **kw)

    def append(path, obj):
        if not room(path):
            raise enospc(str(path))
        real_append(path, obj)

    monkeypatch.setattr(rundir_mod, "atomic_write_json", write_json)
    monkeypatch.setattr(rundir_mod, "append_jsonl", append)
    return full


@pytest.mark.parametrize("reserve_frees", [True, False])
def test_the_jobs_failure_report_reaches_the_user_on_a_full_disk(ws, monkeypatch, reserve_frees):
    full = _full_run_folder(monkeypatch, reserve_frees=reserve_frees)
    real = ckpt._write_file

    def write(path, data):
        full["on"] = True  # from the first save of this run on, the disk is full everywhere
        raise enospc()

    monkeypatch.setattr(ckpt, "_write_file", write)
    st = jobs.run_inline(ws, "train", opts(target_iter=6))
    monkeypatch.setattr(ckpt, "_write_file", real)
    assert st["state"] == "failed", st  # not "running", which watchers would show as "lost"
    assert st["error"].startswith("disk full: ") and "the last good checkpoint is iteration 3" in st["error"]
    run = jobs.find(ws, st["id"])
    assert not run.reserve_path.exists()
    if reserve_frees:
        events = run.read_events()[0]
        assert any(e.get("type") == "state" and e.get("state") == "failed" for e in events)
    else:  # the short status written in place: no traceback, the message kept
        assert "traceback" not in json.loads(run.status_path.read_text())


def test_starting_a_job_on_a_full_disk_is_a_message_not_a_traceback(ws, monkeypatch, capsys):
    from dfl_tui import cli

    def no_room(path, obj, **kw):
        raise enospc(str(path))

    monkeypatch.setattr(jobs, "atomic_write_json", no_room)
    before = set(ws.jobs_dir.iterdir()) if ws.jobs_dir.exists() else set()
    assert cli.main(["-w", str(ws.root), "sort", "src", "--by", "blur"]) == 1
    err = capsys.readouterr().err
    assert err.startswith(f"dfl-tui sort: disk full: {ws.jobs_dir}, ") and "MB free, sort was not started" in err
    assert "Traceback" not in err
    assert set(ws.jobs_dir.iterdir()) == before  # no half-made run folder left behind
    assert cli.main(["-w", str(ws.root), "train", "--name", "tiny", "--target-iter", "9"]) == 1
    assert "disk full: " in capsys.readouterr().err


def test_merge_stops_on_a_full_disk_saying_what_is_kept(tmp_path, monkeypatch):
    from dfl_tui.merge import batch
    from dfl_tui.merge.options import MergeOptions
    from dfl_tui.options import validate
    from dfl_tui.util.atomic import DiskFullError
    from merge_fixtures import ShiftPredictor, make_dst
    from test_merge_batch import Recorder

    info = make_dst(tmp_path, 6)
    real = batch.write_file
    written = []

    def write(path, data):
        if len(written) >= 4:  # two frames (and their masks) fit, then the disk is full
            raise enospc(str(path))
        written.append(path)
        real(path, data)

    monkeypatch.setattr(batch, "write_file", write)
    with pytest.raises(DiskFullError) as err:
        batch.run_merge(Recorder(info["ws"]), validate(MergeOptions(workers=1)), predictor=ShiftPredictor())
    msg = str(err.value)
    assert msg.startswith("disk full: ") and "2 merged frame(s) are kept" in msg and "goes on from there" in msg
    monkeypatch.setattr(batch, "write_file", real)
    res = batch.run_merge(Recorder(info["ws"]), validate(MergeOptions(workers=1)), predictor=ShiftPredictor())
    assert res["resumed"] == 2


def test_backup_on_a_full_disk_leaves_no_partial_copy(ws, monkeypatch):
    from dfl_tui.train import backups
    from dfl_tui.util.atomic import is_disk_full

    mdir = ModelDir.of(ws, "tiny")

    def copy(src, dst, **kw):
        raise shutil.Error([(str(src), str(dst), "[Errno 28] No space left on device")])

    monkeypatch.setattr(backups.shutil, "copytree", copy)
    with pytest.raises(shutil.Error) as err:
        backups.rotate_backup(mdir, 4)
    assert is_disk_full(err.value)
    assert not (mdir.backups_dir / ".incoming").exists()
