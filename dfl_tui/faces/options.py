"""Options of the extract-faces step (light: no numpy, cv2 or torch here)."""

from __future__ import annotations

import os
from dataclasses import dataclass

from ..device import device_option
from ..identity.options import check_model, identity_model_option
from ..options import opt
from .facetype import CLI_CHOICES, FaceType

SIDE_CHOICES = ("src", "dst")
DETECTOR_CHOICES = ("auto", "s3fd", "mediapipe", "manual")
BORDER_CHOICES = ("black", "replicate")


@dataclass
class ExtractFacesOptions:
    side: str = opt("src", "which frames: src (data_src/) or dst (data_dst/)", choices=SIDE_CHOICES, positional=True)
    detector: str = opt("auto", "face detector: s3fd (DeepFaceLab's S3FD + FAN, needs its weights), mediapipe "
                        "(offline, CPU), auto (s3fd when its weights are present, else mediapipe), manual "
                        "(place each face by hand in the terminal; landmarks from auto)",
                        choices=DETECTOR_CHOICES)
    face_type: str = opt("whole", "how much of the head the aligned crop covers", choices=CLI_CHOICES)
    size: int | None = opt(None, "aligned face size in pixels", min=64, max=4096, unset="512; 768 for head")
    format: str = opt("jpg", "aligned face file format (the metadata goes inside either); DeepFaceLab reads only "
                      "jpg faces: convert png ones with 'dfl-tui faceset src convert --to jpg'", choices=("jpg", "png"))
    jpeg_quality: int = opt(90, "JPEG quality of the aligned faces", min=1, max=100)
    border: str = opt("black", "how a crop running past the frame edge is filled: black (as DeepFaceLab does) or "
                      "replicate (the frame's edge pixels repeated outwards)", choices=BORDER_CHOICES,
                      advanced=True)
    max_faces: int = opt(0, "keep at most this many faces per frame, largest first (0 = all)", min=0, max=1000)
    debug: bool = opt(True, "write aligned_debug/<frame>.jpg showing landmarks, detector box and crop outline")
    accurate: bool = opt(True, "second landmark pass for steadier landmarks (DeepFaceLab's 'landmarks accurate')")
    device: str = device_option("where s3fd runs (mediapipe always runs on the CPU)", multi=True)
    batch_size: int = opt(0, "frames per detector batch (0 = a default for the detector and device)", min=0, max=512,
                          advanced=True)
    weights_dir: str | None = opt(None, "folder holding the s3fd/FAN weight files", unset="the torch hub cache",
                                  advanced=True)
    flip_input: bool = opt(False, "s3fd: also run FAN on the mirrored crop and average (2x slower)", advanced=True)
    fix_deleted_debug: bool = opt(False, "with --detector manual: only the frames whose aligned_debug image was "
                                  "deleted (in review) or that had no face; their earlier faces go to the trash",
                                  advanced=True)
    reference: str | None = opt(None, "keep only this person: an aligned face, a photo, or a folder of them "
                                "(faces of anyone else go to the trash with their reason; 'faceset SIDE undo' "
                                "brings them back)")
    identity_threshold: float = opt(0.0, "with --reference: the largest identity distance still counted as the "
                                    "reference person (0 = the model's own: 0.6 for dlib; lower = stricter)",
                                    min=0.0, max=4.0, advanced=True)
    identity_model: str = identity_model_option()
    overwrite: bool = opt(False, "start again: existing faces and debug images go to the trash first "
                          "('faceset SIDE undo' brings them back; without --overwrite, a re-run continues "
                          "after the last extracted frame)")

    def check(self) -> None:
        from ..video.options import user_path

        self.reference = user_path(self.reference)
        self.identity_model = check_model(self.identity_model)
        if self.weights_dir:
            self.weights_dir = os.path.abspath(os.path.expanduser(self.weights_dir))

    # -- derived values -------------------------------------------------------------------
    @property
    def face_type_enum(self) -> FaceType:
        return FaceType.from_string(self.face_type)

    @property
    def image_size(self) -> int:
        if self.size:
            return int(self.size)
        return 768 if self.face_type_enum in (FaceType.HEAD, FaceType.HEAD_NO_ALIGN) else 512

    @property
    def three_d(self) -> bool:
        """DeepFaceLab uses 3DFAN for face types from HEAD up."""
        return self.face_type_enum in (FaceType.HEAD, FaceType.HEAD_NO_ALIGN)
