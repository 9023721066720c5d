"""Video steps: frames from a video, video from frames (with audio), cut, denoise, demo media.

Everything goes through PyAV (libav* inside the wheel), so no ffmpeg binary is
needed. Only :mod:`dfl_tui.video.options` is light; the other modules import
numpy, OpenCV and PyAV and are loaded inside the job process.
"""
