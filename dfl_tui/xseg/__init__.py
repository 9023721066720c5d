"""XSeg: hand-drawn mask labels, the segmentation network, its training and applying it.

Light package root: the option classes and polygon logic import no torch; the
network, training and apply modules are imported only inside job processes.
"""
