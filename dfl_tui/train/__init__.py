"""Training (step 9): samples, GPU augmentation, the trainer loop, checkpoints, previews, the monitor's data.

Light package: importing it imports nothing heavy. ``options``, ``modeldir`` and ``monitor``
are UI-safe (no torch); ``samples``, ``augment``, ``checkpoint``, ``preview`` and ``trainer``
run in the training job.
"""
