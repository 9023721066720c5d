"""One device module: the same --device rules for every step that runs a network."""

from __future__ import annotations

import subprocess
import sys

import pytest
import torch

from dfl_tui import device as D
from dfl_tui import options as om
from dfl_tui.errors import InputError
from dfl_tui.faces.options import ExtractFacesOptions
from dfl_tui.merge.options import MergeOptions
from dfl_tui.train.options import TrainOptions
from dfl_tui.xseg.options import XSegOptions, XSegTrainOptions

STEPS = [ExtractFacesOptions, TrainOptions, XSegOptions, XSegTrainOptions, MergeOptions]


def test_spelling_rules():
    assert D.normalize(" CUDA:1 ") == "cuda:1" and D.normalize(None) == "auto" and D.normalize("mps") == "mps"
    assert D.normalize("cuda:0,1,1", multi=True) == "cuda:0,1"
    for bad in ("gpu", "cuda:x", "cuda:", "cuda:0,1", "cpu,cuda"):
        with pytest.raises(ValueError):
            D.normalize(bad)
    assert D.parse_devices("cuda:2,0") == ["cuda:2", "cuda:0"] and D.parse_devices("auto") == ["auto"]


@pytest.mark.parametrize("cls", STEPS)
def test_every_step_declares_device_the_same_way(cls):
    spec = {s.name: s for s in om.describe(cls)}["device"]
    assert spec.default == "auto" and D.DEVICE_HELP in spec.help
    assert om.coerce(spec, " Cuda:1 ") == "cuda:1"
    with pytest.raises(om.OptionError, match="device: 'gpu' is not a device"):
        om.coerce(spec, "gpu")


def test_only_extraction_shares_work_between_gpus():
    assert om.coerce({s.name: s for s in om.describe(ExtractFacesOptions)}["device"], "cuda:0,1") == "cuda:0,1"
    with pytest.raises(om.OptionError):
        om.coerce({s.name: s for s in om.describe(TrainOptions)}["device"], "cuda:0,1")


def test_picking_a_device_here():
    # tests run with no GPU visible (conftest): auto is the CPU; an explicit GPU is an error that says what to use
    assert D.pick_device("cpu") == torch.device("cpu")
    if not torch.cuda.is_available() and not D._mps_available():
        assert D.pick_device("auto") == torch.device("cpu") and D.pick_devices("auto") == [torch.device("cpu")]
        with pytest.raises(InputError, match="no CUDA GPU.*--device cpu"):
            D.pick_device("cuda:1")
        with pytest.raises(InputError, match="no CUDA GPU"):
            D.pick_devices("cuda:0,1")
    with pytest.raises(InputError, match="is not a device"):
        D.pick_device("gpu")


def test_the_module_does_not_import_torch():
    code = "import sys, dfl_tui.device, dfl_tui.faces.options, dfl_tui.train.options; print('torch' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "False"
