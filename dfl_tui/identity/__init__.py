"""Identity: who a face is, as a vector (a face embedding), and what follows from it.

* :mod:`.models` - the embedding models: dlib's ResNet (128-d, from ``face-recognition-models``)
  by default, any dlib ``.dat`` of the same kind, or an ONNX model (``--identity-model PATH``);
  a registry (:func:`.models.register_model`) for more.
* :mod:`.embed` - :func:`.embed.embed_faces` turns aligned face files into an ``(N, D)``
  float32 array, with the per-set cache of :mod:`.cache` (JSON + NPY beside the set, never
  pickle, invalidated when a face's pixels or landmarks change).
* :mod:`.distance` - euclidean and cosine distances, nearest-reference distances.
* :mod:`.reference` - reference faces (aligned faces or plain photos) and the keep/reject filter of
  ``extract-faces --reference``.
* :mod:`.grouping` - the set's main identity (``sort --by identity``) and identity groups
  (``faceset SIDE group``).

Only :mod:`.distance` and :mod:`.options` are light; the rest import dlib/onnxruntime and run in
job processes (never in the UI process).
"""

from __future__ import annotations

DEFAULT_MODEL = "dlib"
#: dlib's usual decision threshold: two faces closer than this (euclidean, 128-d) are one person.
DLIB_THRESHOLD = 0.6
