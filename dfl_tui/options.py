"""Typed step options: ONE definition per step.

Each step declares its options as a dataclass whose fields are made with
:func:`opt`. That single definition gives

* the CLI flags (:func:`add_arguments` / :func:`from_namespace`),
* the TUI form (:func:`describe` gives the type, default, range, choices, help),
* the JSON saved beside a model (:func:`to_dict` / :func:`from_dict`), where
  ``fixed=True`` marks options that are chosen once when a model is created.

What an option is when not given is said in ONE place, :func:`default_text`, from the declared
default (or ``unset=`` / ``new=`` for options whose unset value means something), and both the
``--help`` of the CLI and the TUI form show that text: help strings never state defaults.

This module must stay light: it is imported by ``dfl-tui --help`` and the TUI.
"""

from __future__ import annotations

import argparse
import dataclasses
import typing
from dataclasses import MISSING, dataclass, field, fields
from typing import Any, Callable, Iterable, Sequence


class OptionError(ValueError):
    """A value outside its range or choices; the message names the option."""


class _NoValue:
    def __repr__(self) -> str:
        return "NO_VALUE"


#: ``OptionSpec.new`` of an option that is not a setting saved with a model.
NO_VALUE: Any = _NoValue()


def opt(
    default: Any = MISSING,
    help: str = "",
    *,
    min: float | None = None,
    max: float | None = None,
    choices: Sequence[Any] | None = None,
    fixed: bool = False,
    positional: bool = False,
    flag: str | None = None,
    short: str | None = None,
    label: str | None = None,
    advanced: bool = False,
    cli: bool = True,
    tui: bool = True,
    parse: Callable[[Any], Any] | None = None,
    default_factory: Any = MISSING,
    unset: str | None = None,
    new: Any = NO_VALUE,
) -> Any:
    """Declare an option field.

    ``fixed``: chosen at model creation and never changed afterwards.
    ``positional``: a positional CLI argument (``extract-frames src``).
    ``cli`` / ``tui``: hide the option from one front end (e.g. internal values).
    ``parse``: checks and normalises a value after type conversion (a ValueError's message
    becomes the option's error), e.g. :func:`dfl_tui.device.normalize`.
    ``unset``: what an unset value (``None``) means, e.g. ``"the torch hub cache"``: shown as the default.
    ``new``: for a setting saved with a model (``None`` = keep the saved value), what a new model gets.
    """
    meta = {
        "help": help,
        "min": min,
        "max": max,
        "choices": tuple(choices) if choices is not None else None,
        "fixed": fixed,
        "positional": positional,
        "flag": flag,
        "short": short,
        "label": label,
        "advanced": advanced,
        "cli": cli,
        "tui": tui,
        "parse": parse,
        "unset": unset,
        "new": new,
    }
    if default_factory is not MISSING:
        return field(default_factory=default_factory, metadata=meta)
    return field(default=default, metadata=meta)


@dataclass(frozen=True)
class OptionSpec:
    """What a front end needs to show one option."""

    name: str
    type: type
    default: Any
    help: str
    min: float | None
    max: float | None
    choices: tuple[Any, ...] | None
    fixed: bool
    positional: bool
    flag: str
    short: str | None
    label: str
    advanced: bool
    cli: bool
    tui: bool
    optional: bool  # the value may be None (e.g. "auto")
    parse: Callable[[Any], Any] | None = None
    unset: str | None = None  # what None means (shown as the default)
    new: Any = NO_VALUE  # saved with a model: the value of a new model (None = keep the saved value)


def _resolve_type(tp: Any) -> tuple[type, bool]:
    """Return (base type, may be None) for an annotation like ``int | None``."""
    origin = typing.get_origin(tp)
    if origin in (typing.Union, getattr(__import__("types"), "UnionType", None)):
        args = [a for a in typing.get_args(tp) if a is not type(None)]
        return _resolve_type(args[0])[0], True
    if origin is typing.Literal:
        return type(typing.get_args(tp)[0]), False
    if origin in (list, tuple):
        return list, False
    if isinstance(tp, type):
        return tp, False
    return str, False


def describe(cls: type) -> list[OptionSpec]:
    """The option specs of an options dataclass, in declaration order."""
    hints = typing.get_type_hints(cls)
    specs = []
    for f in fields(cls):
        if not f.metadata and f.name.startswith("_"):
            continue
        meta = dict(f.metadata) if f.metadata else {}
        base, optional = _resolve_type(hints.get(f.name, str))
        if f.default is not MISSING:
            default = f.default
        elif f.default_factory is not MISSING:  # type: ignore[misc]
            default = f.default_factory()  # type: ignore[misc]
        else:
            default = None
        choices = meta.get("choices")
        if choices is None and typing.get_origin(hints.get(f.name)) is typing.Literal:
            choices = typing.get_args(hints[f.name])
        specs.append(
            OptionSpec(
                name=f.name,
                type=base,
                default=default,
                help=meta.get("help", ""),
                min=meta.get("min"),
                max=meta.get("max"),
                choices=choices,
                fixed=meta.get("fixed", False),
                positional=meta.get("positional", False),
                flag=meta.get("flag") or "--" + f.name.replace("_", "-"),
                short=meta.get("short"),
                label=meta.get("label") or f.name.replace("_", " "),
                advanced=meta.get("advanced", False),
                cli=meta.get("cli", True),
                tui=meta.get("tui", True),
                optional=optional or default is None,
                parse=meta.get("parse"),
                unset=meta.get("unset"),
                new=meta.get("new", NO_VALUE),
            )
        )
    return specs


def format_value(v: Any) -> str:
    """A value as a form field or a help line shows it: ``0.5``, ``a,b``, ``on``; empty for None."""
    if isinstance(v, bool):
        return "on" if v else "off"
    if isinstance(v, float):
        return f"{v:g}"
    if isinstance(v, (list, tuple)):
        return ",".join(map(str, v))
    return "" if v is None else str(v)


def default_text(spec: OptionSpec) -> str | None:
    """What the option is when not given, for ``--help`` and the form alike; None: nothing to say
    (a positional argument, or an empty default with no ``unset`` meaning)."""
    if spec.unset:
        return spec.unset
    if spec.new is not NO_VALUE:
        return f"the saved value; new model: {format_value(spec.new)}"
    if spec.positional or spec.default is None or spec.default == "" or spec.default == []:
        return None
    return format_value(spec.default)


def coerce(spec: OptionSpec, value: Any) -> Any:
    """Convert ``value`` (from text, JSON or a widget) to the option's type and check it."""
    if value is None or (isinstance(value, str) and value.strip() == "" and spec.optional):
        if spec.optional:
            return None
        raise OptionError(f"{spec.label}: a value is required")
    try:
        if spec.type is bool:
            if isinstance(value, str):
                v = value.strip().lower()
                if v in ("1", "true", "yes", "y", "on"):
                    value = True
                elif v in ("0", "false", "no", "n", "off"):
                    value = False
                else:
                    raise ValueError(value)
            else:
                value = bool(value)
        elif spec.type is int:
            if isinstance(value, float) and not value.is_integer():
                raise ValueError(value)
            value = int(str(value).strip()) if isinstance(value, str) else int(value)
        elif spec.type is float:
            value = float(value)
        elif spec.type is list:
            if isinstance(value, str):
                value = [v.strip() for v in value.split(",") if v.strip()]
            else:
                value = list(value)
        elif spec.type is str:
            value = str(value)
    except (TypeError, ValueError):
        raise OptionError(f"{spec.label}: {value!r} is not a valid {spec.type.__name__}") from None
    if spec.choices is not None and value not in spec.choices:
        raise OptionError(f"{spec.label}: {value!r} is not one of {', '.join(map(str, spec.choices))}")
    if spec.min is not None and isinstance(value, (int, float)) and not isinstance(value, bool) and value < spec.min:
        raise OptionError(f"{spec.label}: {value} is below the minimum {spec.min:g}")
    if spec.max is not None and isinstance(value, (int, float)) and not isinstance(value, bool) and value > spec.max:
        raise OptionError(f"{spec.label}: {value} is above the maximum {spec.max:g}")
    if spec.parse is not None:
        try:
            value = spec.parse(value)
        except ValueError as exc:
            raise OptionError(f"{spec.label}: {exc}") from None
    return value


def validate(obj: Any) -> Any:
    """Check every field of an options object; return it. Raises :class:`OptionError`."""
    for spec in describe(type(obj)):
        setattr_frozen(obj, spec.name, coerce(spec, getattr(obj, spec.name)))
    check = getattr(obj, "check", None)
    if callable(check):
        check()
    return obj


def setattr_frozen(obj: Any, name: str, value: Any) -> None:
    object.__setattr__(obj, name, value)


def to_dict(obj: Any) -> dict[str, Any]:
    return {spec.name: getattr(obj, spec.name) for spec in describe(type(obj))}


def from_dict(cls: type, data: dict[str, Any] | None, *, strict: bool = False) -> Any:
    """Build options from a dict (JSON); unknown keys are ignored unless ``strict``."""
    data = dict(data or {})
    specs = {s.name: s for s in describe(cls)}
    unknown = set(data) - set(specs)
    if unknown and strict:
        raise OptionError(f"unknown option(s): {', '.join(sorted(unknown))}")
    kwargs = {k: coerce(specs[k], v) for k, v in data.items() if k in specs}
    return validate(cls(**kwargs))


def merge(obj: Any, changes: dict[str, Any], *, allow_fixed: bool = False) -> tuple[Any, list[str]]:
    """Apply ``changes`` to ``obj``; fixed options are kept (their names returned)."""
    specs = {s.name: s for s in describe(type(obj))}
    kept: list[str] = []
    values = to_dict(obj)
    for k, v in changes.items():
        if k not in specs:
            continue
        if specs[k].fixed and not allow_fixed and v != values[k]:
            kept.append(k)
            continue
        values[k] = coerce(specs[k], v)
    return validate(type(obj)(**values)), kept


# ---------------------------------------------------------------------------
# argparse
# ---------------------------------------------------------------------------


def _help_text(spec: OptionSpec) -> str:
    parts = [spec.help] if spec.help else []
    rng = []
    if spec.min is not None:
        rng.append(f"min {spec.min:g}")
    if spec.max is not None:
        rng.append(f"max {spec.max:g}")
    if rng:
        parts.append("(" + ", ".join(rng) + ")")
    text = default_text(spec)
    if text is not None:
        parts.append(f"[default: {text}]")
    if spec.fixed:
        parts.append("[fixed at model creation]")
    return " ".join(parts).replace("%", "%%")


def add_arguments(parser: argparse.ArgumentParser, cls: type, *, exclude: Iterable[str] = ()) -> None:
    """Add one flag per option. Defaults stay ``None`` so we can tell what the user set."""
    exclude = set(exclude)
    for spec in describe(cls):
        if not spec.cli or spec.name in exclude:
            continue
        kw: dict[str, Any] = {"help": _help_text(spec)}
        if spec.choices is not None and spec.type is not bool:
            kw["choices"] = list(spec.choices)
        if spec.positional:
            kw["metavar"] = "|".join(map(str, spec.choices)) if spec.choices else spec.name.upper()
            if spec.default is not None:
                kw["nargs"] = "?"
            parser.add_argument(spec.name, default=None, **kw)
            continue
        names = [spec.flag] + ([spec.short] if spec.short else [])
        if spec.type is bool:
            parser.add_argument(*names, dest=spec.name, action=argparse.BooleanOptionalAction, default=None, **kw)
        elif spec.type is list:
            parser.add_argument(*names, dest=spec.name, default=None, metavar="A,B", **kw)
        else:
            metavar = None if "choices" in kw else spec.name.upper().replace("_", "-")
            parser.add_argument(*names, dest=spec.name, default=None, metavar=metavar, **kw)


def given(ns: argparse.Namespace, cls: type) -> dict[str, Any]:
    """The options the user actually set on the command line."""
    out = {}
    for spec in describe(cls):
        v = getattr(ns, spec.name, None)
        if v is not None:
            out[spec.name] = v
    return out


def from_namespace(cls: type, ns: argparse.Namespace, base: dict[str, Any] | None = None) -> Any:
    """Options from parsed arguments on top of ``base`` (e.g. a JSON options file)."""
    data = dict(base or {})
    data.update(given(ns, cls))
    return from_dict(cls, data)


def replace(obj: Any, **changes: Any) -> Any:
    return validate(dataclasses.replace(obj, **changes))
