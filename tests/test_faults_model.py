"""Fault injection on a model's files (issue 12, items 1 and 6): a model whose files exist but do not
load is never trained over; what can be recovered is recovered only when the user says so; every
message names the damaged file and the way back (the autobackups)."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest

from dfl_tui import jobs
from dfl_tui.train import checkpoint as ckpt
from dfl_tui.train.modeldir import CKPT, CKPT_PREV, ModelDir
from faults_fixtures import opts, trained, ws  # noqa: F401 - fixtures

pytestmark = pytest.mark.xdist_group("faults_model")


def snapshot(mdir: ModelDir) -> dict[str, str]:
    """Hashes of everything a training could overwrite: checkpoints, backups, options."""
    out = {}
    for p in sorted(mdir.root.rglob("*")):
        rel = p.relative_to(mdir.root).as_posix()
        if p.is_file() and (rel.startswith(("checkpoint", "autobackups")) or rel == "options.json"):
            out[rel] = hashlib.sha256(p.read_bytes()).hexdigest()
    return out


def truncate(path: Path) -> None:
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])


@pytest.fixture
def model(ws):
    return ws, ModelDir.of(ws, "tiny")


def add_backup(mdir: ModelDir) -> None:
    """Autobackup 01 = a copy of the current checkpoint and options (what the trainer writes)."""
    import shutil

    slot = mdir.backups_dir / "01"
    slot.mkdir(parents=True)
    shutil.copytree(mdir.checkpoint(), slot / "checkpoint")
    shutil.copy2(mdir.options_path, slot / "options.json")


def test_damaged_optimizer_in_both_copies_stops_names_files_and_changes_nothing(model):
    ws, mdir = model
    add_backup(mdir)
    for which in (CKPT, CKPT_PREV):
        truncate(mdir.checkpoint(which) / "src_dst_opt.safetensors")
    before = snapshot(mdir)
    st = jobs.run_inline(ws, "train", opts(target_iter=6))
    assert st["state"] == "failed"
    err = st["error"]
    assert str(mdir.checkpoint(CKPT) / "src_dst_opt.safetensors") in err
    assert str(mdir.checkpoint(CKPT_PREV) / "src_dst_opt.safetensors") in err
    assert "nothing was changed" in err and "--reset-optimizer" in err
    assert "weights in checkpoint/ (iteration 3) are intact" in err
    assert "--restore-backup 01" in err and "01 (iteration 3" in err
    assert snapshot(mdir) == before

    # The explicit choice: weights of iteration 3, a fresh optimizer, training goes on.
    st = jobs.run_inline(ws, "train", opts(target_iter=5, reset_optimizer=True))
    assert st["state"] == "done", st
    text = "\n".join(str(e.get("message", "")) for e in jobs.find(ws, st["id"]).read_events()[0])
    assert "fresh src_dst_opt as asked" in text and "resumed from checkpoint at iteration 3" in text
    assert ckpt.verify(mdir.checkpoint())["iteration"] == 5


def test_every_copy_damaged_beyond_the_optimizer_refuses_and_restore_backup_is_the_way_back(model, capsys):
    from dfl_tui import cli

    ws, mdir = model
    add_backup(mdir)
    for which in (CKPT, CKPT_PREV):
        truncate(mdir.checkpoint(which) / "encoder.safetensors")
    before = snapshot(mdir)
    st = jobs.run_inline(ws, "train", opts(target_iter=6, reset_optimizer=True))
    assert st["state"] == "failed" and str(mdir.checkpoint() / "encoder.safetensors") in st["error"]
    assert "intact" not in st["error"] and snapshot(mdir) == before

    assert cli.main(["-w", str(ws.root), "train", "--name", "tiny", "--restore-backup", "01"]) == 0
    out = capsys.readouterr().out
    assert "restored autobackup 01 (iteration 3)" in out and "checkpoint -> checkpoint.replaced-" in out
    assert ckpt.verify(mdir.checkpoint())["iteration"] == 3
    assert list(mdir.root.glob("checkpoint.replaced-*")) and list(mdir.root.glob("checkpoint.prev.replaced-*"))
    st = jobs.run_inline(ws, "train", opts(target_iter=4))
    assert st["state"] == "done", st


def test_all_checkpoints_gone_but_saved_before_is_not_a_new_model(model):
    import shutil

    ws, mdir = model
    for which in (CKPT, CKPT_PREV):
        shutil.rmtree(mdir.checkpoint(which))
    st = jobs.run_inline(ws, "train", opts(target_iter=6))
    assert st["state"] == "failed" and "saved at iteration 3" in st["error"]
    assert not mdir.checkpoint().exists()


def test_rng_damaged_is_rebuilt_without_asking(model):
    ws, mdir = model
    truncate(mdir.checkpoint(CKPT) / "rng.safetensors")
    truncate(mdir.checkpoint(CKPT_PREV) / "rng.safetensors")
    st = jobs.run_inline(ws, "train", opts(target_iter=4))
    assert st["state"] == "done", st
    text = "\n".join(str(e.get("message", "")) for e in jobs.find(ws, st["id"]).read_events()[0])
    assert "resumed from checkpoint at iteration 3" in text and "rng.safetensors" in text
    assert ckpt.verify(mdir.checkpoint())["iteration"] == 4


@pytest.mark.parametrize("field,value", [("iteration", "three"), ("files", ["encoder.safetensors"]),
                                         ("trainer", [1, 2]), ("iteration", True)])
def test_manifest_with_a_wrong_typed_field_falls_back_to_the_previous_checkpoint(model, field, value):
    ws, mdir = model
    path = mdir.checkpoint() / "manifest.json"
    data = json.loads(path.read_text())
    data[field] = value
    path.write_text(json.dumps(data))
    warnings = []
    parts, manifest, folder = ckpt.load_checkpoint(mdir, warn=warnings.append)
    assert folder.name == CKPT_PREV and manifest["iteration"] == 1
    assert any(str(mdir.checkpoint()) in w and field in w for w in warnings), warnings
    st = jobs.run_inline(ws, "train", opts(target_iter=2))
    assert st["state"] == "done", st
    # the damaged copy is set aside, never deleted
    assert list(mdir.root.glob("checkpoint.damaged-*"))


@pytest.mark.parametrize("damage", ["truncated", "list", "options-wrong-type", "value-wrong-type", "missing"])
def test_damaged_options_json_names_the_file_and_is_never_a_new_model(model, damage, capsys):
    from dfl_tui import cli

    ws, mdir = model
    add_backup(mdir)
    path = mdir.options_path
    text = path.read_text()
    if damage == "truncated":
        path.write_text(text[: len(text) // 2])
    elif damage == "list":
        path.write_text("[1, 2]")
    elif damage == "options-wrong-type":
        path.write_text(json.dumps({**json.loads(text), "options": "big"}))
    elif damage == "value-wrong-type":
        data = json.loads(text)
        data["options"]["ae_dims"] = "many"
        path.write_text(json.dumps(data))
    else:
        path.unlink()
    before = snapshot(mdir)
    st = jobs.run_inline(ws, "train", opts(target_iter=6))
    assert st["state"] == "failed" and str(path) in st["error"], st
    text = "\n".join(str(e.get("message", "")) for e in jobs.find(ws, st["id"]).read_events()[0])
    assert "new SAEHD model" not in text and "from scratch" not in text
    assert snapshot(mdir) == before
    assert cli.main(["-w", str(ws.root), "train", "--name", "tiny", "--target-iter", "6"]) == 2
    err = capsys.readouterr().err
    assert str(path) in err and "new SAEHD model" not in err
    if damage != "value-wrong-type":
        assert "--restore-backup 01" in err


def test_merge_loads_a_model_whose_optimizer_is_damaged(model):
    ws, mdir = model
    for which in (CKPT, CKPT_PREV):
        truncate(mdir.checkpoint(which) / "src_dst_opt.safetensors")
    m = ckpt.load_model(ws, "tiny")
    assert m.iteration == 3


def test_missing_options_json_without_a_backup_says_where_the_options_are_listed(model):
    from dfl_tui.train.modeldir import ModelFileError, check_options

    ws, mdir = model
    assert not list(mdir.backups())
    mdir.options_path.unlink()
    mdir.summary_path.write_text("== Model Summary ==\n== ae_dims: 32 ==\n")
    with pytest.raises(ModelFileError) as e:
        check_options(mdir)
    msg = str(e.value)
    assert str(mdir.options_path) in msg and "no autobackup holds a copy" in msg and "summary.txt" in msg
    assert "fix it by hand" not in msg
    mdir.summary_path.unlink()
    with pytest.raises(ModelFileError) as e:
        check_options(mdir)
    assert "summary.txt" not in str(e.value) and "your own backup" in str(e.value)


def test_a_skipped_face_is_said_once():
    from dfl_tui.xseg.apply import _skipped

    assert _skipped("a.jpg: its metadata field 'landmarks' has 7 values; the face is skipped") == \
        "a.jpg: its metadata field 'landmarks' has 7 values; the face is skipped"
    assert _skipped("a.jpg: cannot be read") == "skipped: a.jpg: cannot be read"
