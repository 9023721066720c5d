"""Options of the identity step and the identity options other steps share (light: no numpy)."""

from __future__ import annotations

from dataclasses import dataclass

from ..options import opt
from ..video.options import user_path

SIDE_CHOICES = ("src", "dst")
MODEL_HELP = ("face embedding model: dlib (dlib's ResNet from face-recognition-models, 128-d), or a path to "
              "another dlib .dat recognition model or an .onnx embedding model")


def identity_model_option():
    return opt("dlib", MODEL_HELP, advanced=True)


def check_model(value: str | None) -> str:
    return user_path(value) or "dlib"


@dataclass
class IdentityOptions:
    """``dfl-tui identity src|dst``: compute (or refresh) the set's identity embeddings."""

    side: str = opt("dst", "which faceset: src (data_src/aligned) or dst (data_dst/aligned)", choices=SIDE_CHOICES,
                    positional=True)
    folder: str | None = opt(None, "work on this folder instead of data_<side>/aligned", advanced=True)
    identity_model: str = identity_model_option()

    def check(self) -> None:
        self.identity_model = check_model(self.identity_model)
        self.folder = user_path(self.folder)
