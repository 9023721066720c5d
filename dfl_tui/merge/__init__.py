"""Merging: put the trained model's face onto every dst frame (DeepFaceLab's merger, §7).

Light package init: the heavy modules (``masked``, ``batch``, ``color_transfer``...)
are imported only where they are used, inside the job process.
"""
