"""dfl-tui: the DeepFaceLab workflow in the terminal.

The package is split so the UI process never imports torch: ``cli``, ``options``,
``workspace``, ``jobs`` and ``tui`` are light; the heavy code (faces, train, merge,
xseg, models) is imported only inside job processes.
"""

__version__ = "0.1.0"
TOOL_NAME = "dfl-tui"


def _bound_image_decoding() -> None:
    """OpenCV refuses images over dfl-tui's pixel limit (read when OpenCV loads, so set here)."""
    import os

    from .util.imagesize import MAX_PIXELS

    os.environ.setdefault("OPENCV_IO_MAX_IMAGE_PIXELS", str(MAX_PIXELS))


_bound_image_decoding()
