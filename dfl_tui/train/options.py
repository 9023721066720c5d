"""Options of the ``train`` step: the trainer's own settings plus every model option, in ONE class.

:class:`TrainOptions` is built from two sources so nothing is declared twice:

* the trainer fields below (:class:`TrainerFields`): which model, its name, target iteration,
  device, autosave/autobackup, preview history...;
* the option dataclasses of the models (:mod:`dfl_tui.models.options`), merged field by field
  (the union over SAEHD, AMP and Quick96; ranges widened, choices united, ``fixed`` kept).

Every option that is saved with a model defaults to ``None``, meaning "keep what the model
was created with, or the model's default for a new model". So the same class gives the CLI
flags (``dfl-tui train --model SAEHD --batch-size 4``), the TUI form (empty = keep) and the
JSON of ``--options FILE.json``; :func:`resolve` turns it and the saved ``options.json`` into the
model's own options object, keeping the fixed ones (chosen when the model was created).

Light module: no torch/numpy (``dfl-tui --help`` and the TUI import it).
"""

from __future__ import annotations

import dataclasses
import json
import typing
from dataclasses import dataclass, make_dataclass
from pathlib import Path
from typing import Any

from .. import options as optmod
from ..models.options import OPTIONS_CLASSES
from ..device import device_option
from ..options import OptionError, opt

MODEL_NAMES = tuple(OPTIONS_CLASSES)  # ("SAEHD", "AMP", "Quick96")


@dataclass
class TrainerFields:
    """The trainer's own settings (DeepFaceLab's ModelBase prompts and the run's knobs)."""

    model: str | None = opt(None, "which model to train", choices=MODEL_NAMES, fixed=True,
                            unset="the saved model's kind")
    name: str = opt("", "model name: its folder under model/ (empty: the model's kind, e.g. SAEHD)")
    options_file: str = opt("", "JSON file with options (keys as in options.json or these flags)",
                            flag="--options", tui=False)
    # new=: saved with the model (None = keep the saved value), the value of a new model: TRAINER_PERSISTED
    target_iter: int | None = opt(None, "stop at this iteration; 0 = train until stopped", min=0, new=0)
    device: str = device_option("where training runs")
    autosave_minutes: float | None = opt(None, "save every N minutes", min=1, max=1440, new=25.0)
    autobackup_hours: int | None = opt(None, "back up the model every N hours into rotating slots; 0 = off",
                                       min=0, max=24, new=0)
    backup_slots: int | None = opt(None, "how many autobackups to keep", min=1, max=99, advanced=True, new=24)
    write_preview_history: bool | None = opt(None, "keep a preview image every history period in history/",
                                             new=False)
    preview_every: int | None = opt(None, "iterations between preview images; 0 = DeepFaceLab's 10*max(1, res/64)",
                                    min=0, max=100000, advanced=True, new=0)
    pretraining_data_dir: str = opt("", "pretrain mode: aligned faces used for both src and dst", advanced=True)
    seed: int | None = opt(None, "random seed", advanced=True, unset="random")
    cache_mb: int = opt(1024, "RAM for decoded faces (per side); 0 = decode every time", min=0, max=1 << 20,
                        advanced=True)
    loader_threads: int = opt(0, "face decoding threads per side; 0 = auto", min=0, max=64, advanced=True)
    loader_processes: int = opt(-1, "face decoding processes shared by both sides; -1 = auto (on a GPU all cores "
                                "but one, on the CPU none); 0 = threads only", min=-1, max=256, advanced=True)
    reset_optimizer: bool = opt(False, "continue a model whose optimizer state is damaged with a fresh optimizer "
                                "(its network weights must be intact)", advanced=True)


# Saved with the model (None in TrainOptions = keep the saved value); value for a new model. Generated from
# the fields' ``new=`` so the value a new model gets and what the help says cannot differ.
TRAINER_PERSISTED: dict[str, Any] = {s.name: s.new for s in optmod.describe(TrainerFields)
                                     if s.new is not optmod.NO_VALUE}

_TRAINER_NAMES = tuple(f.name for f in dataclasses.fields(TrainerFields))


def _model_field_table() -> dict[str, dict[str, Any]]:
    """name -> {type, specs by model}: the union of the models' option fields, in first-seen order."""
    table: dict[str, dict[str, Any]] = {}
    for model, cls in OPTIONS_CLASSES.items():
        hints = typing.get_type_hints(cls)
        for spec in optmod.describe(cls):
            if spec.name in _TRAINER_NAMES:
                raise TypeError(f"model option {spec.name!r} of {model} clashes with a trainer option")
            entry = table.setdefault(spec.name, {"type": hints[spec.name], "specs": {}})
            entry["specs"][model] = spec
    return table


MODEL_FIELDS = _model_field_table()


def _union_field(name: str, entry: dict[str, Any]) -> tuple[str, Any, Any]:
    specs: dict[str, optmod.OptionSpec] = entry["specs"]
    first = next(iter(specs.values()))
    mins = [s.min for s in specs.values()]
    maxs = [s.max for s in specs.values()]
    choices = None
    if all(s.choices is not None for s in specs.values()):
        seen: list[Any] = []
        for s in specs.values():
            seen += [c for c in s.choices if c not in seen]
        choices = tuple(seen)
    shown = {m: optmod.default_text(s) or "unset" for m, s in specs.items()}
    if len(set(shown.values())) == 1:
        defaults = next(iter(shown.values()))
    else:
        defaults = ", ".join(f"{m} {v}" for m, v in shown.items())
    only = "" if len(specs) == len(OPTIONS_CLASSES) else f" ({'/'.join(specs)} only)"
    helps = {m: s.help for m, s in specs.items()}
    if len(set(helps.values())) == 1:
        help_ = f"{first.help}{only}"
    else:  # the models say different things (resolution, face type): each model's own words
        help_ = "; ".join(f"{m}: {h}" for m, h in helps.items()) + only
    base = entry["type"]
    tri_state = type(None) in typing.get_args(base) and bool in typing.get_args(base)
    tp = base if type(None) in typing.get_args(base) else typing.Optional[base]
    # A form switch cannot say "unset" (auto), so such options stay on the command line and in JSON.
    f = opt(None, help_, min=None if None in mins else min(mins), max=None if None in maxs else max(maxs),
            choices=choices, fixed=any(s.fixed for s in specs.values()), advanced=all(s.advanced for s in specs.values()),
            label=first.label, tui=not tri_state, unset=f"the saved value; new model: {defaults}")
    return name, tp, f


def _check(self: Any) -> None:
    """Model options are checked against the chosen model's own ranges; options the model does not
    have are dropped (a form shows every model's options; the CLI refuses them: :func:`not_applicable`)."""
    model = self.model
    if model is None:
        if not self.name.strip():
            raise OptionError("model: choose one of " + ", ".join(MODEL_NAMES) + " (or name an existing model)")
        return  # the saved model decides; resolve() checks the options against it
    specs = {s.name: s for s in optmod.describe(OPTIONS_CLASSES[model])}
    for name in MODEL_FIELDS:
        v = getattr(self, name)
        if v is None:
            continue
        if name not in specs:
            optmod.setattr_frozen(self, name, None)
        else:
            optmod.setattr_frozen(self, name, optmod.coerce(specs[name], v))


def form_specs(values: dict[str, Any]) -> list[optmod.OptionSpec]:
    """The options a form shows for the values it holds now: the trainer's, then the chosen model's own
    (its help, range and new-model default, not the union's). With no model chosen (an existing model keeps
    its kind), only the model options every model has."""
    model = values.get("model")
    union = {s.name: s for s in optmod.describe(TrainOptions)}
    out = [union[n] for n in _TRAINER_NAMES]
    if model in OPTIONS_CLASSES:
        for s in optmod.describe(OPTIONS_CLASSES[model]):
            u = union[s.name]
            out.append(dataclasses.replace(u, help=s.help, min=s.min, max=s.max, choices=s.choices, fixed=s.fixed,
                                           default=s.default,
                                           unset=f"the saved value; new model: {optmod.default_text(s) or 'unset'}"))
    else:
        out += [union[n] for n, e in MODEL_FIELDS.items() if len(e["specs"]) == len(OPTIONS_CLASSES)]
    return out


def not_applicable(model: str, names: Any) -> list[str]:
    """The model options among ``names`` that ``model`` does not have."""
    specs = {s.name for s in optmod.describe(OPTIONS_CLASSES[model])}
    return [n for n in names if n in MODEL_FIELDS and n not in specs]


def form_values(saved: dict[str, Any] | None, name: str = "", model: str = "SAEHD") -> dict[str, Any]:
    """Every option's current value for a form: the saved ones of a model, else a new model's defaults."""
    if saved:
        model = saved.get("model") or model
        values = {**TRAINER_PERSISTED, **(saved.get("trainer") or {}), **(saved.get("options") or {})}
    else:
        values = {**TRAINER_PERSISTED, **optmod.to_dict(OPTIONS_CLASSES[model]())}
    values.update(model=model, name=name)
    return {k: v for k, v in values.items() if v is not None}


def _model_options(self: Any) -> dict[str, Any]:
    """The model options given (not None), for the chosen model."""
    return {k: getattr(self, k) for k in MODEL_FIELDS if getattr(self, k) is not None}


def _trainer_options(self: Any) -> dict[str, Any]:
    return {k: getattr(self, k) for k in TRAINER_PERSISTED if getattr(self, k) is not None}


def _model_name(self: Any) -> str:
    return self.name.strip() or self.model or ""


TrainOptions = make_dataclass(
    "TrainOptions",
    [(f.name, f.type if not isinstance(f.type, str) else typing.get_type_hints(TrainerFields)[f.name], f)
     for f in dataclasses.fields(TrainerFields)]
    + [_union_field(n, e) for n, e in MODEL_FIELDS.items()],
    namespace={"check": _check, "model_options": _model_options, "trainer_options": _trainer_options,
               "form_specs": staticmethod(form_specs),
               "model_dir_name": property(_model_name),
               "__doc__": "Options of ``dfl-tui train``: the trainer's settings and the union of the model options."},
)
TrainOptions.__module__ = __name__


def load_options_file(path: str | Path) -> dict[str, Any]:
    """A JSON options file: a flat dict, or an ``options.json`` of a model (its ``options``/``trainer``)."""
    p = Path(path).expanduser()
    try:
        data = json.loads(p.read_text())
    except FileNotFoundError:
        raise OptionError(f"options file {p} does not exist") from None
    except (OSError, ValueError) as exc:
        raise OptionError(f"options file {p}: not valid JSON ({exc})") from None
    if not isinstance(data, dict):
        raise OptionError(f"options file {p}: expected a JSON object")
    flat: dict[str, Any] = {}
    if "options" in data and isinstance(data["options"], dict):  # a saved options.json
        flat.update(data.get("trainer") or {})
        flat.update(data["options"])
        if data.get("model"):
            flat["model"] = data["model"]
    else:
        flat.update(data)
    return flat


def with_options_file(opts: Any) -> Any:
    """Apply ``options_file`` under the values given directly (flags win over the file)."""
    if not opts.options_file:
        return opts
    base = load_options_file(opts.options_file)
    data = optmod.to_dict(opts)
    for k, v in base.items():
        if (k in MODEL_FIELDS or k in TRAINER_PERSISTED or k == "model") and data.get(k) is None:
            data[k] = v
    data["options_file"] = ""
    return optmod.from_dict(TrainOptions, data)


# ---------------------------------------------------------------------------
# Saved options (model/<name>/options.json) and what changes on restart
# ---------------------------------------------------------------------------


@dataclass
class Resolved:
    """What the trainer runs with, and what changed compared with the saved options."""

    model: str
    model_options: dict[str, Any]  # complete, validated, for the model's options class
    trainer: dict[str, Any]  # the persisted trainer settings, complete
    new: bool
    changed: list[tuple[str, Any, Any]]  # (name, old, new) overridable options changed now
    kept: list[tuple[str, Any, Any]]  # (name, saved, asked) fixed options that were asked to change

    def saved_json(self, created: float | None = None) -> dict[str, Any]:
        fixed = [s.name for s in optmod.describe(OPTIONS_CLASSES[self.model]) if s.fixed]
        out = {"format": "dfl-tui-model/1", "model": self.model, "options": self.model_options,
               "trainer": self.trainer, "fixed": fixed}
        if created is not None:
            out["created"] = created
        return out


def resolve(opts: Any, saved: dict[str, Any] | None, source: str = "options.json") -> Resolved:
    """Combine the requested options with a model's saved ``options.json`` (None: a new model).

    Fixed options keep their saved value (reported in ``kept``); the others take the requested
    value when one is given. Raises :class:`OptionError` for a model of another kind, or naming
    ``source`` for a saved value of the wrong type or out of range.
    """
    opts = with_options_file(opts)
    saved_model = (saved or {}).get("model")
    if opts.model is None:
        if not saved_model:
            raise OptionError("model: choose one of " + ", ".join(MODEL_NAMES) + f" for the new model "
                              f"'{opts.name}'")
        opts = optmod.replace(opts, model=saved_model)
    cls = OPTIONS_CLASSES[opts.model]
    asked_model = opts.model_options()
    asked_trainer = opts.trainer_options()
    if not saved:
        model_opts = optmod.to_dict(optmod.from_dict(cls, asked_model))
        trainer = {**TRAINER_PERSISTED, **asked_trainer}
        return Resolved(opts.model, model_opts, trainer, True, [], [])
    if saved_model and saved_model != opts.model:
        raise OptionError(f"model '{opts.model_dir_name}' is a {saved_model} model, not {opts.model}: "
                          f"use --model {saved_model} or another --name")
    try:
        base = optmod.from_dict(cls, saved.get("options") or {})
        specs = {s.name: s for s in optmod.describe(TrainOptions)}
        saved_trainer = {**TRAINER_PERSISTED, **{k: optmod.coerce(specs[k], v) for k, v in
                                                 (saved.get("trainer") or {}).items() if k in TRAINER_PERSISTED}}
    except OptionError as exc:
        raise OptionError(f"{source}: saved {exc}; nothing was changed. Fix that value in the file, or restore the "
                          f"file from an autobackup") from None
    merged, kept_names = optmod.merge(base, asked_model)
    old = optmod.to_dict(base)
    new = optmod.to_dict(merged)
    changed = [(k, old[k], new[k]) for k in new if old.get(k) != new[k]]
    kept = [(k, old[k], asked_model[k]) for k in kept_names]
    trainer = {**saved_trainer, **asked_trainer}
    changed += [(k, saved_trainer[k], trainer[k]) for k in trainer if saved_trainer.get(k) != trainer[k]]
    return Resolved(opts.model, new, trainer, False, changed, kept)


def describe_changes(r: Resolved) -> list[str]:
    """Lines for the log / the terminal about what a restart changes."""
    lines = [f"{k.replace('_', ' ')}: {a} -> {b}" for k, a, b in r.changed]
    lines += [f"{k.replace('_', ' ')}: stays {a} (fixed when the model was created; asked {b})" for k, a, b in r.kept]
    return lines


__all__ = ["MODEL_FIELDS", "MODEL_NAMES", "Resolved", "TRAINER_PERSISTED", "TrainOptions", "TrainerFields",
           "describe_changes", "form_values", "load_options_file", "not_applicable", "resolve", "with_options_file"]
