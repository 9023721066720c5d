"""Marking synthetic output (shared/DESIGN.md "Responsible use", EU AI Act Art. 50).

* :mod:`.watermark`: an invisible mark in the pixels of every merged frame that
  survives PNG -> H.264 (own DWT-DCT spread-transform dither modulation, numpy + PyWavelets).
* :mod:`.metadata`: "AI-generated" PNG text chunks (plus IPTC digital source type in
  XMP) and the container tags of result videos.
* :mod:`.label`: the optional visible corner label.
* :mod:`.verify`: reads all of them back (``dfl-tui verify``).

Nothing here imports torch: ``dfl-tui verify`` stays fast and light.
"""

MARK_TEXT = "AI-generated"
#: IPTC NewsCodes digital source type for media composited from real footage and a trained model.
DIGITAL_SOURCE_TYPE = "http://cv.iptc.org/newscodes/digitalsourcetype/compositeWithTrainedAlgorithmicMedia"
