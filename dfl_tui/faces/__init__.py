"""Faces: detection, DeepFaceLab alignment, the aligned-face file format, masks, pose."""
