"""Shared by the fault-injection tests (tests/test_faults_*.py): a tiny SAEHD trained to iteration 3."""

from __future__ import annotations

import shutil

import pytest

from dfl_tui import jobs
from dfl_tui import options as optmod
from dfl_tui.train import checkpoint as ckpt
from dfl_tui.train.modeldir import CKPT, CKPT_PREV, ModelDir
from dfl_tui.train.options import TrainOptions
from train_fixtures import make_workspace

TINY = dict(model="SAEHD", name="tiny", resolution=64, ae_dims=32, e_dims=16, d_dims=16, d_mask_dims=16,
            batch_size=4, archi="df-ud", device="cpu")


def opts(**kw):
    return optmod.from_dict(TrainOptions, {**TINY, **kw})


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """A workspace whose model 'tiny' is saved at iterations 1 (checkpoint.prev/) and 3 (checkpoint/)."""
    root = tmp_path_factory.mktemp("trained")
    ws = make_workspace(root / "ws", n=4, size=64)
    st = jobs.run_inline(ws, "train", opts(target_iter=3, seed=1))
    assert st["state"] == "done", st
    mdir = ModelDir.of(ws, "tiny")
    assert ckpt.verify(mdir.checkpoint(CKPT))["iteration"] == 3
    assert ckpt.verify(mdir.checkpoint(CKPT_PREV))["iteration"] == 1
    return root / "ws"


@pytest.fixture
def ws(trained, tmp_path):
    """A private copy of the trained workspace."""
    from dfl_tui.workspace import Workspace

    shutil.copytree(trained, tmp_path / "ws", symlinks=True)
    return Workspace.open(tmp_path / "ws")
