"""The options form (issue 10 item 6): the chosen model's options only, one default text for the CLI and
the form, the focused option visible, switches that say on/off."""

from __future__ import annotations

import argparse
import re

import pytest
from textual.widgets import Input, Label, Select, Switch

from dfl_tui import options as optmod
from dfl_tui import steps as stepsmod
from dfl_tui import workflow
from dfl_tui.faces.options import ExtractFacesOptions
from dfl_tui.models.options import OPTIONS_CLASSES
from dfl_tui.train.options import TRAINER_PERSISTED, TrainerFields, TrainOptions, form_values
from dfl_tui.tui.screens.step import StepScreen
from dfl_tui.tui.widgets.options_form import OptionsForm, help_line
from dfl_tui.workspace import Workspace

from tui_fixtures import make_app


def _all_option_classes() -> list[type]:
    out = []
    for step in stepsmod.STEPS.values():
        try:
            out.append(step.options_cls())
        except (ImportError, AttributeError):
            continue
    return out + list(OPTIONS_CLASSES.values())


# -- one declaration per default ---------------------------------------------------------------


@pytest.mark.parametrize("cls", _all_option_classes(), ids=lambda c: c.__name__)
def test_help_strings_state_no_defaults(cls):
    """Defaults come from the declaration (default_text), never from the help string, so the CLI and the
    form cannot say 'default 512' and 'default none' about the same option."""
    for spec in optmod.describe(cls):
        assert not re.search(r"\(default|\[default|default:|\[saved|unset[ :=]", spec.help, re.I), \
            f"{cls.__name__}.{spec.name}: say the default with opt(unset=...) or new=..., not in the help: {spec.help!r}"


@pytest.mark.parametrize("cls", _all_option_classes(), ids=lambda c: c.__name__)
def test_cli_help_and_form_say_the_same_default(cls):
    p = argparse.ArgumentParser()
    optmod.add_arguments(p, cls)
    helps = {a.dest: a.help or "" for a in p._actions}
    for spec in optmod.describe(cls):
        text = optmod.default_text(spec)
        line = help_line(spec)
        if text is None:
            assert "default" not in line.replace(spec.help, "")
            continue
        assert f"default: {text}" in line
        if spec.cli and spec.name in helps:
            assert f"[default: {text}]" in helps[spec.name].replace("%%", "%")


def test_unset_meaning_replaces_default_none():
    size = {s.name: s for s in optmod.describe(ExtractFacesOptions)}["size"]
    assert "default: 512; 768 for head" in help_line(size)
    assert "none" not in help_line(size)


def test_trainer_persisted_comes_from_the_declarations():
    specs = {s.name: s for s in optmod.describe(TrainerFields)}
    assert TRAINER_PERSISTED == {"target_iter": 0, "autosave_minutes": 25.0, "autobackup_hours": 0, "backup_slots": 24,
                                 "write_preview_history": False, "preview_every": 0}
    for name, value in TRAINER_PERSISTED.items():
        assert optmod.default_text(specs[name]) == f"the saved value; new model: {optmod.format_value(value)}"


def test_saehd_and_amp_share_one_declaration():
    saehd = {s.name: s for s in optmod.describe(OPTIONS_CLASSES["SAEHD"])}
    amp = {s.name: s for s in optmod.describe(OPTIONS_CLASSES["AMP"])}
    shared = set(saehd) & set(amp) - {"resolution", "face_type"}  # those differ on purpose (DFL's defaults)
    assert len(shared) >= 17
    for name in shared:
        assert saehd[name] == amp[name], name


# -- the form ----------------------------------------------------------------------------------


async def _train_form(tmp_path, pilot, app, model="SAEHD"):
    screen = StepScreen(workflow.resolve("train"), values=form_values(None, "m", model))
    app.push_screen(screen)
    await pilot.pause()
    await pilot.pause()
    return screen, screen.query_one("#form", OptionsForm)


def _shown(form: OptionsForm, name: str) -> bool:
    return bool(form.query_one(f"#item-{name}").display)


async def test_train_form_shows_only_the_chosen_models_options(tmp_path):
    app = make_app(Workspace.open(tmp_path / "ws"), tmp_path)
    async with app.run_test(size=(80, 24)) as pilot:
        _, form = await _train_form(tmp_path, pilot, app)
        assert _shown(form, "archi") and _shown(form, "batch_size") and not _shown(form, "inter_dims")
        assert form.query_one("#opt-resolution", Input).value == "128"

        form.query_one("#opt-model", Select).value = "Quick96"
        await pilot.pause()
        for name in ("archi", "batch_size", "resolution", "inter_dims", "gan_power", "random_warp"):
            assert not _shown(form, name), name
        assert _shown(form, "target_iter") and _shown(form, "device")
        opts, errors = form.collect()
        assert errors == [] and opts.model == "Quick96"
        assert opts.batch_size is None and opts.archi is None  # hidden options are not sent

        form.query_one("#opt-model", Select).value = "AMP"
        await pilot.pause()
        assert _shown(form, "inter_dims") and _shown(form, "morph_factor") and not _shown(form, "archi")
        # AMP's own help and default, not SAEHD's (the untouched resolution follows the model's default)
        res_help = str(form.query_one("#item-resolution .opt-help").render())
        assert "multiple of 32" in res_help and "16" not in res_help and "224" in res_help
        assert form.query_one("#opt-resolution", Input).value == "224"
        assert form.query_one("#opt-face_type", Select).value == "wf"
        face_choices = [v for _, v in form.query_one("#opt-face_type", Select)._options if v is not Select.NULL]
        assert face_choices == ["f", "wf", "head"]


async def test_focused_field_is_highlighted(tmp_path):
    app = make_app(Workspace.open(tmp_path / "ws"), tmp_path)
    async with app.run_test(size=(80, 24)) as pilot:
        _, form = await _train_form(tmp_path, pilot, app)
        form.query_one("#opt-target_iter", Input).focus()
        await pilot.pause()
        focused = form.query_one("#item-target_iter")
        other = form.query_one("#item-autosave_minutes")
        assert focused.styles.background != other.styles.background
        label = focused.query_one(".opt-label", Label)
        assert label.styles.text_style.bold
        form.query_one("#opt-autosave_minutes", Input).focus()
        await pilot.pause()
        assert focused.styles.background == form.query_one("#item-autobackup_hours").styles.background


async def test_switches_say_on_or_off(tmp_path):
    app = make_app(Workspace.open(tmp_path / "ws"), tmp_path)
    async with app.run_test(size=(80, 24)) as pilot:
        _, form = await _train_form(tmp_path, pilot, app)
        switch = form.query_one("#opt-random_warp", Switch)
        state = form.query_one("#state-random_warp", Label)
        assert switch.value is True and str(state.render()) == "on"
        switch.focus()
        await pilot.press("enter")
        await pilot.pause()
        assert switch.value is False and str(state.render()) == "off" and state.has_class("-off")
