"""The reviewer's small dialogs: yes/no, a list to pick from, one line of text, and the tag choices."""

from __future__ import annotations

from typing import Any

from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import Input, OptionList, Static
from textual.widgets.option_list import Option

from ...faceset.journal import TAG_NAMES, TAGS

TAG_KEYS = {tag: str(i + 1) for i, tag in enumerate(TAG_NAMES)}


class ConfirmDialog(ModalScreen[bool]):
    """Yes / no; y or enter confirms, n or escape cancels."""

    DEFAULT_CSS = """
    ConfirmDialog { align: center middle; }
    ConfirmDialog > Vertical { width: 64; height: auto; padding: 1 2; background: $surface; border: thick $warning; }
    """
    BINDINGS = [
        Binding("y,enter", "answer(True)", "Yes", id="review.confirm-yes"),
        Binding("n,escape", "answer(False)", "No", id="review.confirm-no"),
    ]

    def __init__(self, question: str) -> None:
        super().__init__()
        self.question = question

    def compose(self) -> ComposeResult:
        with Vertical():
            yield Static(self.question)
            yield Static(Text("y / enter: yes     n / esc: no", style="dim"))

    def action_answer(self, yes: bool) -> None:
        self.dismiss(yes)


class ChoiceDialog(ModalScreen[str | None]):
    """A list to pick from (arrows + enter), with single keys for the first choices."""

    DEFAULT_CSS = """
    ChoiceDialog { align: center middle; }
    ChoiceDialog > Vertical { width: 72; height: auto; max-height: 80%; padding: 0 1; background: $surface;
                              border: thick $primary; }
    ChoiceDialog OptionList { height: auto; max-height: 24; }
    """
    BINDINGS = [Binding("escape", "cancel", "Cancel", id="review.choice-cancel")]

    def __init__(self, title: str, choices: list[tuple[str, str]], keys: dict[str, str] | None = None) -> None:
        super().__init__()
        self.title_text = title
        self.choices = choices  # (value, label)
        self.keys = keys or {}  # key -> value

    def compose(self) -> ComposeResult:
        with Vertical():
            yield Static(Text(self.title_text, style="bold"))
            yield OptionList(*[Option(label, id=value) for value, label in self.choices])

    def on_key(self, event: Any) -> None:
        value = self.keys.get(event.character or "")
        if value is not None:
            event.stop()
            self.dismiss(value)

    @on(OptionList.OptionSelected)
    def _picked(self, event: OptionList.OptionSelected) -> None:
        self.dismiss(event.option.id)

    def action_cancel(self) -> None:
        self.dismiss(None)


class AskDialog(ModalScreen[str | None]):
    """One line of text (enter accepts, escape cancels)."""

    DEFAULT_CSS = """
    AskDialog { align: center middle; }
    AskDialog > Vertical { width: 64; height: auto; padding: 1 2; background: $surface; border: thick $primary; }
    """
    BINDINGS = [Binding("escape", "cancel", "Cancel", id="review.ask-cancel")]

    def __init__(self, question: str, value: str = "") -> None:
        super().__init__()
        self.question = question
        self.value = value

    def compose(self) -> ComposeResult:
        with Vertical():
            yield Static(self.question)
            yield Input(value=self.value, id="ask-input")

    def on_mount(self) -> None:
        self.query_one(Input).focus()

    @on(Input.Submitted)
    def _done(self, event: Input.Submitted) -> None:
        self.dismiss(event.value.strip() or None)

    def action_cancel(self) -> None:
        self.dismiss(None)


def tag_choices(with_untagged: bool = False) -> tuple[list[tuple[str, str]], dict[str, str]]:
    choices = [(tag, f"{TAG_KEYS[tag]}  {tag:<7} {meaning}") for tag, meaning in TAGS]
    keys = {TAG_KEYS[t]: t for t in TAG_NAMES}
    if with_untagged:
        choices.append(("untagged", "0  untagged"))
        choices.append(("all", "a  all faces (no filter)"))
        keys["0"] = "untagged"
        keys["a"] = "all"
    return choices, keys
