"""Every step dfl-tui can run as a job, by its DeepFaceLab-style name.

A step is data: where its options dataclass lives (a light module) and where its
run function lives (imported only inside the job process, so torch stays out of
the UI). The CLI turns each step into a command, the TUI into a screen.

``run(ctx, options) -> dict | None`` receives a :class:`~dfl_tui.jobs.context.Reporter`
(with ``ctx.workspace`` set) and the validated options object.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass
from typing import Any, Callable


@dataclass(frozen=True)
class Step:
    name: str  # CLI command, e.g. "extract-frames"
    title: str  # what the UI shows
    options: str  # "module:Class" of the options dataclass (light module)
    run: str  # "module:function" doing the work (may import torch)
    summary: str = ""
    available: bool = True  # False: delivered by a later issue; the UI says so
    detach_default: bool = False  # long jobs (training) run detached unless told otherwise
    cli: bool = True  # False: the CLI builds its own parser for this step

    def options_cls(self) -> type:
        return _load(self.options)

    def run_fn(self) -> Callable[..., Any]:
        return _load(self.run)


def _load(path: str) -> Any:
    mod, _, attr = path.partition(":")
    return getattr(importlib.import_module(mod), attr)


STEPS: dict[str, Step] = {}


def register(step: Step) -> Step:
    STEPS[step.name] = step
    return step


def get(name: str) -> Step:
    try:
        return STEPS[name]
    except KeyError:
        raise KeyError(f"unknown step {name!r}; known: {', '.join(sorted(STEPS))}") from None


# -- the steps ---------------------------------------------------------------------
# Keep this list in workflow order. Options live in ``*/options.py`` modules that
# import nothing heavy.

register(Step("demo", "Create demo media", "dfl_tui.video.options:DemoOptions", "dfl_tui.video.demo:run_demo",
              "Write data_src.mp4 (Grace Hopper) and data_dst.mp4 (the astronaut) with synthetic head motion and audio."))
register(Step("extract-frames", "Extract frames", "dfl_tui.video.options:ExtractFramesOptions",
              "dfl_tui.video.frames:run_extract_frames", "Frames from data_src.mp4 / data_dst.mp4 into data_src/ / data_dst/."))
register(Step("cut-video", "Cut video", "dfl_tui.video.options:CutVideoOptions", "dfl_tui.video.cut:run_cut_video",
              "Cut a part of a video into <name>_cut.mp4."))
register(Step("denoise-frames", "Denoise frames", "dfl_tui.video.options:DenoiseOptions",
              "dfl_tui.video.denoise:run_denoise", "Temporal denoise of a frame sequence, in place."))
register(Step("extract-faces", "Extract faces", "dfl_tui.faces.options:ExtractFacesOptions",
              "dfl_tui.faces.extract:run_extract_faces", "Detect, align and save faces with their metadata."))
register(Step("identity", "Identity embeddings", "dfl_tui.identity.options:IdentityOptions",
              "dfl_tui.identity.step:run_identity",
              "Embed every face of a set with the identity model (cached beside the set in .identity/)."))
register(Step("reference-candidates", "Reference candidates", "dfl_tui.identity.candidates:CandidatesOptions",
              "dfl_tui.identity.candidates:run_candidates",
              "Faces of the first frames, for the reference picker of extract-faces.", cli=False))
register(Step("sort", "Sort faceset", "dfl_tui.faceset.options:SortOptions", "dfl_tui.faceset.sort:run_sort",
              "Sort a faceset by blur, yaw, histogram... (renames; rejects go to the trash)."))
register(Step("faceset", "Faceset tools", "dfl_tui.faceset.options:FacesetOptions", "dfl_tui.faceset.tools:run_faceset",
              "Recover names, metadata save/restore, resize, pack/unpack, enhance, debug images, export masks, dedupe."))
register(Step("xseg", "XSeg masks", "dfl_tui.xseg.options:XSegOptions", "dfl_tui.xseg.apply:run_xseg",
              "Apply, remove, fetch and export XSeg masks; generic whole-face mask.", cli=False))
register(Step("xseg-train", "Train XSeg", "dfl_tui.xseg.options:XSegTrainOptions", "dfl_tui.xseg.train:run_xseg_train",
              "Train the XSeg mask model on labelled faces.", detach_default=True, cli=False))
register(Step("train", "Train", "dfl_tui.train.options:TrainOptions", "dfl_tui.train.trainer:run_train",
              "Train SAEHD, AMP or Quick96.", detach_default=True, cli=False))
register(Step("merge", "Merge", "dfl_tui.merge.options:MergeOptions", "dfl_tui.merge.batch:run_merge",
              "Merge the trained model onto the dst frames (marked as AI-generated)."))
register(Step("evaluate", "Evaluate the merge", "dfl_tui.evaluate.options:EvaluateOptions",
              "dfl_tui.evaluate.run:run_evaluate",
              "Scorecard of the merged frames: identity, pose, landmarks, outside SSIM, flicker, marks.", cli=False))
register(Step("make-video", "Make video", "dfl_tui.video.options:MakeVideoOptions", "dfl_tui.video.encode:run_make_video",
              "Frames to result.mp4 with the audio of data_dst.mp4."))

# A hidden step that exercises the job machinery (tests, diagnostics).
register(Step("selftest", "Job self-test", "dfl_tui.jobs.selftest:SelfTestOptions", "dfl_tui.jobs.selftest:run_selftest",
              "Count through items slowly (tests the job engine).", cli=False))
