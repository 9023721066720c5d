"""The numbered DeepFaceLab workflow as data: what the home screen lists.

Users coming from DeepFaceLab know the steps by their batch-file numbers
("4.2 sort", "9 train"), so the numbers stay visible. Each entry says which job
step (``dfl_tui.steps``) it runs, with which preset option values (``side='src'``),
and how to read its state from :meth:`Workspace.status` -- a plain dict, so the
state functions are cheap and testable without a UI.

Light module: imported by the TUI and by anyone who wants the workflow table.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable, Iterable, Literal, Mapping

from .faceset.journal import TAGS
from .workspace import human_bytes

_TAG_GUIDANCE = "Tag faces by colour: " + ", ".join(f"{tag} {meaning}" for tag, meaning in TAGS) + "."

Level = Literal["todo", "ready", "done", "busy", "warn", "na"]


@dataclass(frozen=True)
class StepState:
    """What the home screen shows for one step: a short text and a level (for colour)."""

    text: str
    level: Level = "todo"


@dataclass(frozen=True)
class WorkflowStep:
    """One line of the workflow.

    ``step``: the job step it runs (``None``: a screen-only step such as the reviewer).
    ``preset``: option values this entry fixes (``(("side", "src"),)``).
    ``screen``: the key of a dedicated screen in :mod:`dfl_tui.tui.registry`; when none
    is registered, the generic step screen shows ``step``'s options.
    ``tool``: not a numbered step (demo, cut video...): listed after the steps.
    """

    key: str
    number: str
    title: str
    step: str | None = None
    preset: tuple[tuple[str, Any], ...] = ()
    screen: str | None = None
    guidance: str = ""
    state: Callable[[dict[str, Any]], StepState] | None = None
    tool: bool = False

    @property
    def options(self) -> dict[str, Any]:
        """The preset option values as a dict."""
        return dict(self.preset)

    @property
    def side(self) -> str | None:
        return self.options.get("side")

    @property
    def label(self) -> str:
        return f"{self.number} {self.title}" if self.number else self.title

    def state_of(self, status: Mapping[str, Any]) -> StepState:
        if self.state is None:
            return StepState("")
        try:
            return self.state(dict(status))
        except (KeyError, TypeError, ValueError):
            return StepState("?", "warn")

    def matches_job(self, job: Mapping[str, Any]) -> bool:
        """Is ``job`` (a status dict from ``jobs.list_jobs``) a run of this entry?"""
        if not self.step or job.get("step") != self.step:
            return False
        opts = job.get("options") or {}
        return all(opts.get(k, v) == v for k, v in self.preset)


# ---------------------------------------------------------------------------
# State functions: Workspace.status() dict -> StepState
# ---------------------------------------------------------------------------


def _plural(n: int, word: str) -> str:
    return f"{n} {word}" if n == 1 else f"{n} {word}s"


def has_data(st: Mapping[str, Any]) -> bool:
    """True when the workspace holds anything the workflow made or needs."""
    return bool(
        st.get("src_video") or st.get("dst_video") or st.get("src_frames") or st.get("dst_frames")
        or st.get("src_faces") or st.get("dst_faces") or st.get("models") or st.get("merged_frames")
        or st.get("result")
    )


def _clear_state(st: dict[str, Any]) -> StepState:
    if not st.get("exists"):
        return StepState("no workspace folder yet", "todo")
    return StepState("has data" if has_data(st) else "empty", "ready" if has_data(st) else "todo")


def _frames_state(side: str) -> Callable[[dict[str, Any]], StepState]:
    def fn(st: dict[str, Any]) -> StepState:
        video = st.get(f"{side}_video")
        frames = st.get(f"{side}_frames", 0)
        vid = f"{video.rsplit('/', 1)[-1]} {human_bytes(st.get(f'{side}_video_bytes', 0))}" if video else f"no data_{side}.mp4"
        if frames:
            return StepState(f"{_plural(frames, 'frame')} · {vid}", "done")
        if video:
            return StepState(f"{vid} · no frames yet", "ready")
        return StepState(vid, "todo")

    return fn


def _faces_state(side: str) -> Callable[[dict[str, Any]], StepState]:
    def fn(st: dict[str, Any]) -> StepState:
        faces, frames = st.get(f"{side}_faces", 0), st.get(f"{side}_frames", 0)
        extra = ""
        if side == "dst" and st.get("dst_debug"):
            extra = f" · {st['dst_debug']} debug"
        if st.get(f"{side}_packed"):
            extra += " · packed"
        if faces or st.get(f"{side}_packed"):
            return StepState(f"{_plural(faces, 'face')}{extra}", "done")
        if frames:
            return StepState(f"{_plural(frames, 'frame')}, no faces yet", "ready")
        return StepState("no frames yet", "todo")

    return fn


def _faceset_state(side: str) -> Callable[[dict[str, Any]], StepState]:
    def fn(st: dict[str, Any]) -> StepState:
        faces, trash = st.get(f"{side}_faces", 0), st.get(f"{side}_trash", 0)
        if not faces:
            return StepState("no faces yet", "todo")
        return StepState(_plural(faces, "face") + (f" · {trash} in trash" if trash else ""), "ready")

    return fn


def _xseg_state(st: dict[str, Any]) -> StepState:
    xseg = [m for m in st.get("models") or [] if str(m.get("model") or m.get("name", "")).lower().startswith("xseg")]
    faces = f"src {st.get('src_faces', 0)} / dst {st.get('dst_faces', 0)} faces"
    if xseg:
        return StepState(f"XSeg model iter {xseg[0].get('iteration', 0)} · {faces}", "done")
    if st.get("src_faces") or st.get("dst_faces"):
        return StepState(faces, "ready")
    return StepState("no faces yet", "todo")


def _train_state(st: dict[str, Any]) -> StepState:
    models = [m for m in st.get("models") or [] if not str(m.get("model") or "").lower().startswith("xseg")]
    if models:
        m = models[0]
        more = f" (+{len(models) - 1})" if len(models) > 1 else ""
        return StepState(f"{m.get('model') or '?'} '{m['name']}' iter {m.get('iteration', 0)}{more}", "done")
    if st.get("src_faces") and st.get("dst_faces"):
        return StepState("no model yet", "ready")
    return StepState("needs src and dst faces", "todo")


def _merge_state(st: dict[str, Any]) -> StepState:
    merged, frames = st.get("merged_frames", 0), st.get("dst_frames", 0)
    if merged:
        return StepState(f"{merged}/{frames} frames merged", "done" if merged >= frames else "ready")
    if any(not str(m.get("model") or "").lower().startswith("xseg") for m in st.get("models") or []):
        return StepState("not merged yet", "ready")
    return StepState("needs a trained model", "todo")


def _evaluate_state(st: dict[str, Any]) -> StepState:
    ev = st.get("evaluation")
    if ev:
        parts = []
        if ev.get("id_sim_src") is not None and ev.get("id_sim_dst") is not None:
            parts.append(f"id src {ev['id_sim_src']:.2f}/dst {ev['id_sim_dst']:.2f}")
        if ev.get("flicker") is not None:
            parts.append(f"flicker {ev['flicker']:.2f}")
        if ev.get("marked_share") is not None:
            parts.append(f"marked {ev['marked_share']:.0%}")
        text = " · ".join(parts) or "evaluated"
        if ev.get("stale"):
            return StepState(text + " · merged again since", "ready")
        return StepState(text, "done")
    if st.get("merged_frames"):
        return StepState("not evaluated yet", "ready")
    return StepState("no merged frames yet", "todo")


def _video_state(st: dict[str, Any]) -> StepState:
    if st.get("result"):
        return StepState(f"result.mp4 {human_bytes(st.get('result_bytes', 0))}"
                         + (" + mask" if st.get("result_mask") else ""), "done")
    if st.get("merged_frames"):
        return StepState(f"{st['merged_frames']} merged frames ready", "ready")
    return StepState("no merged frames yet", "todo")


def _demo_state(st: dict[str, Any]) -> StepState:
    if st.get("src_video") and st.get("dst_video"):
        return StepState("videos present", "done")
    return StepState("makes data_src.mp4 and data_dst.mp4", "ready")


def _videos_state(st: dict[str, Any]) -> StepState:
    n = sum(1 for s in ("src", "dst") if st.get(f"{s}_video"))
    return StepState(_plural(n, "video"), "ready" if n else "todo")


def _frames_any(st: dict[str, Any]) -> StepState:
    return StepState(f"src {st.get('src_frames', 0)} / dst {st.get('dst_frames', 0)} frames",
                     "ready" if st.get("src_frames") or st.get("dst_frames") else "todo")


def _faces_any(st: dict[str, Any]) -> StepState:
    return StepState(f"src {st.get('src_faces', 0)} / dst {st.get('dst_faces', 0)} faces",
                     "ready" if st.get("src_faces") or st.get("dst_faces") else "todo")


def _src(side: str) -> tuple[tuple[str, Any], ...]:
    return (("side", side),)


GUIDE_SRC_FRAMES = (
    "The source should cover most angles and expressions, with consistent light and good quality. "
    "3,000-8,000 faces is the sweet spot; over 15,000 gives blurry results; 20 photos is not enough. "
    "Photos placed directly in data_src/ work without a video."
)

WORKFLOW: tuple[WorkflowStep, ...] = (
    WorkflowStep("clear", "1", "Clear workspace", screen="clear", state=_clear_state,
                 guidance="Delete what is in the workspace (asks first; running jobs must be stopped)."),
    WorkflowStep("extract-frames-src", "2", "Extract source frames", "extract-frames", _src("src"),
                 guidance="Frames from data_src.mp4 into data_src/ (FPS 0 = every frame; JPG or PNG). "
                 + GUIDE_SRC_FRAMES, state=_frames_state("src")),
    WorkflowStep("extract-frames-dst", "3", "Extract destination frames", "extract-frames", _src("dst"),
                 guidance="Every frame of data_dst.mp4 into data_dst/ (PNG by default).", state=_frames_state("dst")),
    WorkflowStep("extract-faces-src", "4", "Extract source faces", "extract-faces", _src("src"),
                 guidance="Detect, align and save the faces of data_src/ into data_src/aligned/. "
                 "Whole face (WF) is the recommended face type.", state=_faces_state("src")),
    WorkflowStep("view-src", "4.1", "View source faces", None, _src("src"), screen="view",
                 guidance="Look through data_src/aligned/.", state=_faceset_state("src")),
    WorkflowStep("sort-src", "4.2", "Sort source faces", "sort", _src("src"),
                 guidance="Start with histogram similarity to sweep out false faces, then yaw/pitch, "
                 "then hue/brightness, then blur. Recover original filename undoes a sort.",
                 state=_faceset_state("src")),
    WorkflowStep("review-src", "5", "Review source faces", None, _src("src"), screen="review",
                 guidance=_TAG_GUIDANCE, state=_faceset_state("src")),
    WorkflowStep("extract-faces-dst", "6", "Extract destination faces", "extract-faces", _src("dst"),
                 guidance="Faces of data_dst/ into data_dst/aligned/, with debug frames in aligned_debug/. "
                 "Frames whose face is missing are re-done by hand (manual re-extract).",
                 state=_faces_state("dst")),
    WorkflowStep("sort-dst", "7", "Sort destination faces", "sort", _src("dst"),
                 guidance="Sort and clean the destination faces the same way as the source.",
                 state=_faceset_state("dst")),
    WorkflowStep("review-dst", "7.1", "Review destination faces", None, _src("dst"), screen="review",
                 guidance="Every dst frame that shows a face must keep one aligned face: fix, do not just delete.",
                 state=_faceset_state("dst")),
    WorkflowStep("xseg", "8", "XSeg masks", "xseg", screen="xseg",
                 guidance="Apply the generic whole-face mask, or label faces by hand, train XSeg and apply it.",
                 state=_xseg_state),
    WorkflowStep("train", "9", "Train", "train", screen="train",
                 guidance="SAEHD (6 GB+, high quality), AMP (6 GB+, morphs identities) or Quick96 (2-4 GB). "
                 "Training runs in the background and survives the terminal.", state=_train_state),
    WorkflowStep("merge", "10", "Merge", "merge", screen="merge",
                 guidance="Merge the trained model onto the dst frames, interactively or in batch.",
                 state=_merge_state),
    WorkflowStep("evaluate", "10.1", "Evaluate the merge", "evaluate", state=_evaluate_state,
                 guidance="A scorecard of the merged frames: identity (closer to src than to dst?), pose and "
                 "expression against the dst face, nothing changed outside the mask, flicker against the "
                 "original, every frame marked. Verdicts in plain words; 'dfl-tui evaluate --json' for scripts."),
    WorkflowStep("make-video", "11", "Make the video", "make-video",
                 guidance="Merged frames to result.mp4 with the audio of data_dst.mp4 (and result_mask.mp4).",
                 state=_video_state),
    # -- tools (not numbered) -------------------------------------------------------
    WorkflowStep("demo", "", "Create demo media", "demo", tool=True, state=_demo_state,
                 guidance="data_src.mp4 (Grace Hopper) and data_dst.mp4 (the astronaut) with synthetic head "
                 "motion and audio: try the whole workflow offline."),
    WorkflowStep("cut-video", "", "Cut video", "cut-video", tool=True, state=_videos_state,
                 guidance="Cut a part of a video into <name>_cut.mp4."),
    WorkflowStep("denoise-frames", "", "Denoise frames", "denoise-frames", tool=True, state=_frames_any,
                 guidance="Temporal denoise of a frame sequence (DeepFaceLab's 'denoise image sequence')."),
    WorkflowStep("faceset", "", "Faceset tools", "faceset", tool=True, state=_faces_any,
                 guidance="Recover names, metadata save/restore, resize, pack/unpack, enhance, debug images."),
    WorkflowStep("manual-extract", "", "Manual face extraction", None, screen="manual-extract", tool=True,
                 state=_frames_any, guidance="Place faces by hand on frames the detector missed."),
    WorkflowStep("xseg-train", "", "Train XSeg", "xseg-train", tool=True, state=_faces_any,
                 guidance="Train the XSeg mask model on labelled faces."),
)

BY_KEY: dict[str, WorkflowStep] = {w.key: w for w in WORKFLOW}


def get(key: str) -> WorkflowStep:
    try:
        return BY_KEY[key]
    except KeyError:
        raise KeyError(f"unknown workflow step {key!r}; known: {', '.join(BY_KEY)}") from None


def for_step(step_name: str, options: Mapping[str, Any] | None = None) -> WorkflowStep:
    """The workflow entry that runs ``step_name`` with these options, or an ad-hoc one.

    Steps outside the numbered workflow (``selftest``, say) get an entry of their own,
    so every step can be opened in the generic step screen.
    """
    options = options or {}
    for w in WORKFLOW:
        if w.step == step_name and all(options.get(k, v) == v for k, v in w.preset):
            return w
    from . import steps as stepsmod

    step = stepsmod.get(step_name)
    return WorkflowStep(step.name, "", step.title, step.name, tool=True, guidance=step.summary)


def resolve(name: str) -> WorkflowStep:
    """A workflow key (``extract-frames-src``), a number (``4.2``) or a step name (``selftest``)."""
    if name in BY_KEY:
        return BY_KEY[name]
    for w in WORKFLOW:
        if w.number and w.number == name:
            return w
    return for_step(name)


def numbered() -> Iterable[WorkflowStep]:
    return (w for w in WORKFLOW if not w.tool)
