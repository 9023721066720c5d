"""Options of the ``sort`` and ``faceset`` steps (light: no numpy, no cv2).

One dataclass per step gives the CLI flags, the TUI form and the saved JSON
(see :mod:`dfl_tui.options`).
"""

from __future__ import annotations

import os
from dataclasses import dataclass

from ..faces.facetype import CLI_CHOICES as FACE_TYPE_CHOICES
from ..identity.options import check_model, identity_model_option
from ..options import OptionError, opt
from .journal import TAG_NAMES

SIDE_CHOICES = ("src", "dst")

#: Every sort method of DeepFaceLab's sorter, with what it does (for help and the reviewer's menu).
SORT_METHODS: dict[str, str] = {
    "blur": "sharpest first (CPBD no-reference sharpness of the face hull); unreadable/flat faces to trash",
    "motion-blur": "least motion blur first (variance of the Laplacian of the face hull)",
    "face-yaw": "by head yaw (turn left/right), from the landmarks",
    "face-pitch": "by head pitch (up/down), from the landmarks",
    "face-source-rect-size": "largest face in its frame first",
    "hist": "similar faces next to each other (colour histogram chain): false faces gather together",
    "hist-dissim": "most unusual faces first (sum of histogram distances to all others)",
    "brightness": "brightest first",
    "hue": "by mean hue",
    "black": "fewest black pixels first (faces cut by the frame edge go last)",
    "origname": "by original frame file name",
    "oneface": "keep faces of frames with one face; frames with several faces go to the trash",
    "absdiff": "similar faces next to each other by pixel difference (--dissimilar: most different first)",
    "final": "best faces: keep --target faces spread over yaw and pitch, sharpest first (slow: computes sharpness)",
    "final-fast": "best faces, faster: face size in the frame stands in for sharpness",
    "identity": "by person: the set's main person first (most typical first), other people last, each gathered "
                "(dlib face embeddings, cached in .identity/)",
}
SORT_CHOICES = tuple(SORT_METHODS)

#: Faceset actions (``dfl-tui faceset src ACTION``).
FACESET_ACTIONS: dict[str, str] = {
    "recover-names": "rename faces back to <source frame>_<n> (undoes a sort's renaming)",
    "metadata-save": "save every face's metadata to metadata.json, so the images can be edited or upscaled elsewhere",
    "metadata-restore": "put the saved metadata back into the (edited) images, resizing them back if needed",
    "add-landmarks-debug": "write <name>_debug.jpg beside each face with its landmarks drawn",
    "resize": "resize the faces to --size (and optionally change --face-type)",
    "pack": "pack the faceset into one file (DeepFaceLab's faceset.pak when that loses nothing, else "
            "faceset.dflpack; --format); the loose files go to the trash",
    "convert": "convert PNG faces to JPEG faces, metadata kept (--to jpg): DeepFaceLab reads only JPEG faces",
    "unpack": "unpack faceset.dflpack, or DeepFaceLab's faceset.pak (read safely), into loose files",
    "enhance": "upscale faces (all, --tag COLOUR or --faces A,B): the best upscaler available offline",
    "export-masks": "write <name>_mask.png for each face from its XSeg mask or its polygons",
    "group": "group faces by person (--by identity) into sub-folders person_1 (the largest group), person_2...",
    "dedupe": "find near-duplicate faces (perceptual hash): report them, sort them together or trash the extras",
    "undo": "undo the last sort, delete, move, resize... of this faceset (files come back from the trash)",
}
FACESET_ACTION_CHOICES = tuple(FACESET_ACTIONS)

TAG_CHOICES = TAG_NAMES  # the seven review tags, declared once in faceset.journal


def _folder_help() -> str:
    return "work on this folder instead of data_<side>/aligned (e.g. data_dst/aligned_debug or a sub-folder)"


def _check_folder(folder: str | None) -> None:
    if folder and not os.path.isdir(os.path.expanduser(folder)) and os.path.isabs(os.path.expanduser(folder)):
        raise OptionError(f"folder: {folder} does not exist")


@dataclass
class SortOptions:
    """``dfl-tui sort src|dst --by METHOD``."""

    side: str = opt("src", "which faceset: src (data_src/aligned) or dst (data_dst/aligned)", choices=SIDE_CHOICES,
                    positional=True)
    by: str = opt("hist", "sort method", choices=SORT_CHOICES, short="-b")
    target: int = opt(2000, "final / final-fast: how many faces to keep", min=1, max=1_000_000)
    dissimilar: bool = opt(False, "absdiff: most dissimilar faces first instead of most similar")
    folder: str | None = opt(None, _folder_help(), advanced=True)
    workers: int = opt(0, "reader threads (0 = one per CPU core)", min=0, max=64, advanced=True)
    identity_model: str = identity_model_option()

    def check(self) -> None:
        _check_folder(self.folder)
        self.identity_model = check_model(self.identity_model)


@dataclass
class FacesetOptions:
    """``dfl-tui faceset src|dst ACTION``."""

    side: str = opt("src", "which faceset: src or dst", choices=SIDE_CHOICES, positional=True)
    action: str = opt("recover-names", "what to do", choices=FACESET_ACTION_CHOICES, positional=True)
    size: int = opt(512, "resize: new face size in pixels", min=64, max=4096)
    face_type: str = opt("same", "resize: new face type (same = keep)", choices=("same",) + tuple(FACE_TYPE_CHOICES))
    scale: int = opt(4, "enhance: upscale factor", choices=(2, 4))
    keep_size: bool = opt(False, "enhance: resize the result back to the original size (sharper, same size)")
    tag: str | None = opt(None, "enhance / export-masks: only faces tagged with this colour in the reviewer",
                          choices=TAG_CHOICES)
    faces: list = opt(help="enhance / export-masks: only these face files (names, comma separated)",
                      default_factory=list)
    threshold: int = opt(6, "dedupe: max differing bits of the 64-bit perceptual hash for 'near duplicate'",
                         min=0, max=32)
    dedupe: str = opt("report", "dedupe: report (write dupes.json), sort (rename so duplicates sit together) "
                      "or trash (keep the sharpest of each group)", choices=("report", "sort", "trash"))
    by: str = opt("identity", "group: what to group faces by (identity: one sub-folder per person)",
                  choices=("identity",))
    identity_threshold: float = opt(0.0, "group: the largest identity distance within one person (0 = the model's "
                                    "own: 0.6 for dlib)", min=0.0, max=4.0, advanced=True)
    identity_model: str = identity_model_option()
    persons: bool = opt(False, "pack: pack sub-folders as persons (DeepFaceLab's person faceset)")
    format: str = opt("auto", "pack: dfl = DeepFaceLab's faceset.pak (JPEG faces), dflpack = dfl-tui's own (any "
                      "image, CRC-checked), auto = DeepFaceLab's when it loses nothing", choices=("auto", "dfl", "dflpack"))
    to: str = opt("jpg", "convert: the image format to write (DeepFaceLab reads only JPEG faces)", choices=("jpg",))
    overwrite: bool = opt(False, "unpack / metadata-save / add-landmarks-debug / export-masks: replace existing files")
    quality: int = opt(95, "JPEG quality of rewritten faces", min=1, max=100, advanced=True)
    folder: str | None = opt(None, _folder_help(), advanced=True)
    workers: int = opt(0, "threads (0 = one per CPU core)", min=0, max=64, advanced=True)

    def check(self) -> None:
        _check_folder(self.folder)
        self.identity_model = check_model(self.identity_model)
