"""A form generated from a step's options dataclass (``dfl_tui.options.describe``).

Choices become a Select, booleans a Switch, numbers and text an Input checked
with the same :func:`dfl_tui.options.coerce` the CLI uses, so the TUI, the CLI
and the saved JSON can never disagree on what is valid. Options marked
``advanced`` go in a collapsed section; options fixed by the workflow entry
(``side='src'`` for step 2) are shown, not editable.

An options class may say which options apply to the values the form holds now with a
``form_specs(values) -> list[OptionSpec]`` (the train step: only the chosen model's options,
with that model's help and default); the others are hidden and left out of :meth:`collect`.
The focused option's row is highlighted, and each switch says ``on`` or ``off`` beside it.
"""

from __future__ import annotations

from typing import Any

from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.css.query import NoMatches
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


_fmt = optmod.format_value


def _same(widget_value: Any, default: Any) -> bool:
    """Whether a widget's value (text for an input) is ``default``."""
    if isinstance(widget_value, str) and not isinstance(default, str):
        return widget_value.strip() == _fmt(default)
    return widget_value == default


def help_line(spec: optmod.OptionSpec) -> str:
    """The option's help, range and default as one line (the default says the same as ``--help``)."""
    parts = [spec.help] if spec.help else []
    extra = []
    if spec.min is not None and spec.max is not None:
        extra.append(f"{spec.min:g} to {spec.max:g}")
    elif spec.min is not None:
        extra.append(f"min {spec.min:g}")
    elif spec.max is not None:
        extra.append(f"max {spec.max:g}")
    default = optmod.default_text(spec)
    if default is not None:
        extra.append(f"default: {default}")
    if spec.fixed:
        extra.append("fixed when the model is created")
    if extra:
        parts.append("(" + "; ".join(extra) + ")")
    return " ".join(parts)


class OptionsForm(VerticalScroll):
    """Fields for every TUI option of ``options_cls``; :meth:`collect` builds the options object."""

    DEFAULT_CSS = """
    OptionsForm { height: 1fr; padding: 0 1; }
    OptionsForm .opt-item { height: auto; }
    OptionsForm .opt-item:focus-within { background: $accent 20%; }
    OptionsForm .opt-item:focus-within .opt-label { color: $accent; text-style: bold; }
    OptionsForm .opt-row { height: auto; }
    OptionsForm .opt-label { width: 22; padding: 0 1 0 0; color: $text; }
    OptionsForm .opt-label.-fixed { color: $text-muted; }
    OptionsForm .opt-field { width: 1fr; }
    OptionsForm Switch.opt-field { width: auto; border: none; height: 1; padding: 0; }
    OptionsForm Switch.opt-field:focus { background: $accent 40%; }
    OptionsForm .opt-switch-state { width: auto; padding: 0 0 0 1; text-style: bold; }
    OptionsForm .opt-switch-state.-off { color: $text-muted; text-style: none; }
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
        self._form_specs = getattr(options_cls, "form_specs", None)
        self._choices: dict[str, tuple[Any, ...]] = {}
        self.shown: dict[str, optmod.OptionSpec] = {s.name: s for s in self._applicable(self._start_values())}
        self._last_shown = dict(self.shown)  # each option as it was last shown (hidden ones included)

    # -- which options apply -------------------------------------------------------------
    def _start_values(self) -> dict[str, Any]:
        values = {s.name: s.default for s in self.specs}
        values.update(self._initial)
        values.update(self.preset)
        return values

    def _applicable(self, values: dict[str, Any]) -> list[optmod.OptionSpec]:
        if self._form_specs is None:
            return self.specs
        names = {s.name for s in self.specs}
        return [s for s in self._form_specs(values) if s.name in names]

    def refresh_applicable(self) -> None:
        """Show the options that apply to the values now (e.g. the chosen model's), with their own help."""
        if self._form_specs is None:
            return
        try:
            values = self._widget_values()
        except NoMatches:  # still composing
            return
        before = self._last_shown
        self.shown = {s.name: s for s in self._applicable(values)}
        self._last_shown = {**before, **self.shown}
        for spec in self.specs:
            try:
                item = self.query_one(f"#item-{spec.name}")
            except Exception:  # noqa: BLE001 - not composed yet
                continue
            item.display = spec.name in self.shown
            shown = self.shown.get(spec.name)
            if shown is None or spec.name in self.preset:
                continue
            for help_w in item.query(".opt-help"):
                help_w.update(Text(help_line(shown)))  # type: ignore[attr-defined]
            w = self.field(spec.name)
            old = before.get(spec.name)
            if old is not None and old.default != shown.default and _same(values.get(spec.name), old.default):
                self._set_widget(w, shown, shown.default)  # untouched: follow the new choice's default
            if isinstance(w, Select) and shown.choices is not None and tuple(shown.choices) != self._choices.get(spec.name):
                value = w.value
                self._choices[spec.name] = tuple(shown.choices)
                w.set_options([(_fmt(c), c) for c in shown.choices])
                if value in shown.choices:
                    w.value = value
        try:
            adv = self.query_one("#advanced", Collapsible)
        except Exception:  # noqa: BLE001 - no advanced section
            return
        n = sum(1 for s in self.specs if s.advanced and s.name not in self.preset and s.name in self.shown)
        adv.title = f"Advanced options ({n})"
        adv.display = n > 0

    # -- building ------------------------------------------------------------------------
    def compose(self) -> ComposeResult:
        basic = [s for s in self.specs if not s.advanced or s.name in self.preset]
        advanced = [s for s in self.specs if s.advanced and s.name not in self.preset]
        for spec in basic:
            yield from self._item(spec)
        if advanced:
            n = sum(1 for s in advanced if s.name in self.shown)
            with Collapsible(title=f"Advanced options ({n})", collapsed=True, id="advanced") as adv:
                adv.display = n > 0
                for spec in advanced:
                    yield from self._item(spec)
        if not self.specs:
            yield Static("This step has no options.", classes="opt-help")

    def _item(self, spec: optmod.OptionSpec) -> ComposeResult:
        with Vertical(classes="opt-item", id=f"item-{spec.name}") as item:
            item.display = spec.name in self.shown
            yield from self._row(self.shown.get(spec.name, spec))

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
            if spec.type is bool:
                yield Label(_fmt(bool(value)), id=f"state-{spec.name}",
                            classes="opt-switch-state" + ("" if value else " -off"))
        if spec.help or spec.min is not None or spec.max is not None or optmod.default_text(spec) is not None:
            yield Static(Text(help_line(spec)), classes="opt-help")
        yield Static("", id=f"err-{spec.name}", classes="opt-error")

    def _field(self, spec: optmod.OptionSpec, value: Any) -> Widget:
        wid = f"opt-{spec.name}"
        if spec.type is bool:
            return Switch(value=bool(value), id=wid, classes="opt-field")
        if spec.choices is not None:
            self._choices[spec.name] = tuple(spec.choices)
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

    def _widget_values(self) -> dict[str, Any]:
        """What every widget holds now, shown or not (text for inputs), preset values included."""
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

    def raw_values(self) -> dict[str, Any]:
        """What the shown widgets hold now (text for inputs), preset values included."""
        return {k: v for k, v in self._widget_values().items() if k in self.preset or k in self.shown}

    def set_values(self, values: dict[str, Any]) -> None:
        """Fill the fields (e.g. with the options of the last run)."""
        for spec in self.specs:
            if spec.name in self.preset or spec.name not in values:
                continue
            self._set_widget(self.field(spec.name), spec, values[spec.name])
        self.refresh_applicable()

    @staticmethod
    def _set_widget(w: Widget, spec: optmod.OptionSpec, v: Any) -> None:
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
            spec = self.shown.get(spec.name, spec)
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

    @on(Switch.Changed)
    def _on_switch_changed(self, event: Switch.Changed) -> None:
        name = (event.switch.id or "")[4:]
        try:
            state = self.query_one(f"#state-{name}", Label)
        except Exception:  # noqa: BLE001 - not one of the form's switches
            return
        state.update(_fmt(event.value))
        state.set_class(not event.value, "-off")
        self.refresh_applicable()

    @on(Select.Changed)
    def _on_select_changed(self, event: Select.Changed) -> None:
        self.refresh_applicable()
