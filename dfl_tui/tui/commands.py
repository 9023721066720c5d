"""Command palette (ctrl+p): every workflow step, every other step, and every screen."""

from __future__ import annotations

from functools import partial
from typing import Any, Callable, Iterator

from textual.command import DiscoveryHit, Hit, Hits, Provider

from .. import steps as stepsmod
from .. import workflow

# Steps that are not for users (the job engine's own self-test).
HIDDEN_STEPS = {"selftest", "reference-candidates"}


def palette_entries(app: Any) -> Iterator[tuple[str, str, Callable[[], Any]]]:
    """(text, help, callback) for everything the palette offers."""
    for entry in workflow.WORKFLOW:
        kind = "Tool" if entry.tool else "Step"
        text = f"{kind} {entry.number}: {entry.title}" if entry.number else f"{kind}: {entry.title}"
        yield text, entry.guidance.split(". ")[0], partial(app.open_entry, entry)
    in_workflow = {w.step for w in workflow.WORKFLOW if w.step}
    for step in stepsmod.STEPS.values():
        if step.name in in_workflow or step.name in HIDDEN_STEPS:
            continue
        yield f"Step: {step.title}", step.summary, partial(app.open_step, step.name)
    yield "Screen: Home", "The numbered workflow", app.action_home
    yield "Screen: Jobs", "All jobs: progress, logs, errors, stop", app.action_jobs
    yield "Screen: Help", "Every key and its id for keymap.toml", app.action_help
    yield ("Verify: synthetic-media mark", "Is a merged frame or result.mp4 marked as AI-generated? (dfl-tui verify)",
           app.action_verify)
    yield "Refresh workspace", "Read the workspace's state again", app.action_refresh_workspace
    for mode, what in (("auto", "what this terminal (and tmux) can show"), ("kitty", "kitty graphics protocol"),
                       ("sixel", "Sixel images"), ("halfblock", "half-block cells: works everywhere")):
        yield f"Graphics: {mode}", f"Draw pictures with {what} (remembered)", partial(app.set_graphics, mode)
    yield "Reload keymap", "Read ~/.config/dfl-tui/keymap.toml again", app.action_reload_keymap


class DflCommands(Provider):
    """Steps and screens of dfl-tui."""

    async def discover(self) -> Hits:
        for text, help_, cb in palette_entries(self.app):
            yield DiscoveryHit(text, cb, help=help_)

    async def search(self, query: str) -> Hits:
        matcher = self.matcher(query)
        for text, help_, cb in palette_entries(self.app):
            score = matcher.match(text)
            if score > 0:
                yield Hit(score, matcher.highlight(text), cb, help=help_)
