"""A form generated from a step's options dataclass (``dfl_tui.options.describe``).

Choices become a Select, booleans a Switch, numbers and text an Input checked
with the same :func:`dfl_tui.options.coerce` the CLI uses, so the TUI, the CLI
and the saved JSON can never disagree on what is valid. Options marked
``advanced`` go in a collapsed section; options fixed by the workflow entry
(``side='src'`` for step 2) are shown, not editable.
"""

from __future__ import annotations

from typing import Any

from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.containers import Horizontal, VerticalScroll
from textual.validation import ValidationResult, Validator
from textual.widget import Widget
from textual.widgets import Collapsible, Input, Label, Select, Static, Switch

from ... import options as optmod


class SpecValidator(Validator):
    """Validates an Input's text with the option's own rules."""

    def __init__(self, spec: optmod.OptionSpec) -> None:
        super().__init__()
        self.spec = spec

    def validate(self, value: str) -> ValidationResult:
        try:
            optmod.coerce(self.spec, value)
        except optmod.OptionError as exc:
            return self.failure(str(exc))
        return self.success()


def _fmt(v: Any) -> str:
    if isinstance(v, float):
        return f"{v:g}"
    if isinstance(v, (list, tuple)):
        return ",".join(map(str, v))
    return "" if v is None else str(v)


def help_line(spec: optmod.OptionSpec) -> str:
    parts = [spec.help] if spec.help else []
    extra = []
    if spec.min is not None and spec.max is not None:
        extra.append(f"{spec.min:g} to {spec.max:g}")
    elif spec.min is not None:
        extra.append(f"min {spec.min:g}")
    elif spec.max is not None:
        extra.append(f"max {spec.max:g}")
    if spec.type is not bool:
        extra.append("default " + (_fmt(spec.default) if spec.default not in (None, "") else "none"))
    if spec.fixed:
        extra.append("fixed when the model is created")
    if extra:
        parts.append("(" + "; ".join(extra) + ")")
    return " ".join(parts)


class OptionsForm(VerticalScroll):
    """Fields for every TUI option of ``options_cls``; :meth:`collect` builds the options object."""

    DEFAULT_CSS = """
    OptionsForm { height: 1fr; padding: 0 1; }
    OptionsForm .opt-row { height: auto; }
    OptionsForm .opt-label { width: 22; padding: 0 1 0 0; color: $text; }
    OptionsForm .opt-label.-fixed { color: $text-muted; }
    OptionsForm .opt-field { width: 1fr; }
    OptionsForm Switch.opt-field { width: auto; border: none; height: 1; padding: 0; }
    OptionsForm .opt-help { color: $text-muted; padding: 0 0 0 22; height: auto; }
    OptionsForm .opt-error { color: $error; padding: 0 0 0 22; height: auto; display: none; }
    OptionsForm .opt-error.-shown { display: block; }
    OptionsForm Collapsible { padding: 0; border: none; }
    """

    def __init__(self, options_cls: type, *, preset: dict[str, Any] | None = None,
                 values: dict[str, Any] | None = None, id: str | None = None) -> None:
        super().__init__(id=id)
        self.options_cls = options_cls
        self.preset = dict(preset or {})
        self.specs = [s for s in optmod.describe(options_cls) if s.tui]
        self._initial = dict(values or {})

    # -- building ------------------------------------------------------------------------
    def compose(self) -> ComposeResult:
        basic = [s for s in self.specs if not s.advanced or s.name in self.preset]
        advanced = [s for s in self.specs if s.advanced and s.name not in self.preset]
        for spec in basic:
            yield from self._row(spec)
        if advanced:
            with Collapsible(title=f"Advanced options ({len(advanced)})", collapsed=True, id="advanced"):
                for spec in advanced:
                    yield from self._row(spec)
        if not self.specs:
            yield Static("This step has no options.", classes="opt-help")

    def _row(self, spec: optmod.OptionSpec) -> ComposeResult:
        if spec.name in self.preset:
            with Horizontal(classes="opt-row"):
                yield Label(spec.label, classes="opt-label -fixed")
                yield Label(Text(f"{_fmt(self.preset[spec.name])}  (set by this step)"), classes="opt-field")
            return
        value = self._initial.get(spec.name, spec.default)
        with Horizontal(classes="opt-row"):
            yield Label(spec.label, classes="opt-label")
            yield self._field(spec, value)
        if spec.help or spec.min is not None or spec.max is not None:
            yield Static(Text(help_line(spec)), classes="opt-help")
        yield Static("", id=f"err-{spec.name}", classes="opt-error")

    def _field(self, spec: optmod.OptionSpec, value: Any) -> Widget:
        wid = f"opt-{spec.name}"
        if spec.type is bool:
            return Switch(value=bool(value), id=wid, classes="opt-field")
        if spec.choices is not None:
            opts = [(_fmt(c), c) for c in spec.choices]
            initial = value if value in spec.choices else Select.NULL
            return Select(opts, value=initial, allow_blank=spec.optional or initial is Select.NULL,
                          id=wid, classes="opt-field", compact=True)
        kind = "integer" if spec.type is int else "number" if spec.type is float else "text"
        return Input(value=_fmt(value), type=kind, validators=[SpecValidator(spec)], valid_empty=spec.optional,
                     id=wid, classes="opt-field", compact=True, placeholder="none" if spec.optional else "")

    # -- values --------------------------------------------------------------------------
    def field(self, name: str) -> Widget:
        return self.query_one(f"#opt-{name}")

    def raw_values(self) -> dict[str, Any]:
        """What the widgets hold now (text for inputs), preset values included."""
        out: dict[str, Any] = dict(self.preset)
        for spec in self.specs:
            if spec.name in self.preset:
                continue
            w = self.field(spec.name)
            if isinstance(w, Switch):
                out[spec.name] = w.value
            elif isinstance(w, Select):
                out[spec.name] = None if w.value is Select.NULL else w.value
            elif isinstance(w, Input):
                out[spec.name] = w.value
        return out

    def set_values(self, values: dict[str, Any]) -> None:
        """Fill the fields (e.g. with the options of the last run)."""
        for spec in self.specs:
            if spec.name in self.preset or spec.name not in values:
                continue
            w = self.field(spec.name)
            v = values[spec.name]
            if isinstance(w, Switch):
                w.value = bool(v)
            elif isinstance(w, Select):
                if spec.choices and v in spec.choices:
                    w.value = v
            elif isinstance(w, Input):
                w.value = _fmt(v)

    def collect(self) -> tuple[Any | None, list[str]]:
        """Validated options object, or ``None`` and the errors (also shown under the fields)."""
        errors: list[str] = []
        data: dict[str, Any] = {}
        raw = self.raw_values()
        for spec in self.specs:
            if spec.name not in raw:
                continue
            try:
                data[spec.name] = optmod.coerce(spec, raw[spec.name])
                self._show_error(spec.name, "")
            except optmod.OptionError as exc:
                errors.append(str(exc))
                self._show_error(spec.name, str(exc))
        if errors:
            return None, errors
        try:
            return optmod.from_dict(self.options_cls, data), []
        except (optmod.OptionError, TypeError, ValueError) as exc:
            return None, [str(exc)]

    def _show_error(self, name: str, text: str) -> None:
        try:
            err = self.query_one(f"#err-{name}", Static)
        except Exception:  # noqa: BLE001 - preset fields have no error line
            return
        err.update(Text(text))
        err.set_class(bool(text), "-shown")

    @on(Input.Changed)
    def _on_input_changed(self, event: Input.Changed) -> None:
        name = (event.input.id or "")[4:]
        if event.validation_result is None:
            return
        msg = "" if event.validation_result.is_valid else "; ".join(event.validation_result.failure_descriptions)
        self._show_error(name, msg)
