"""The generic whole-face mask (FaceMesh + forehead + skin) against hand-labelled faces.

Measured on tests/fixtures/xseg (6 faces: astronaut, Grace Hopper and the near-profile
cameraman, whole-face and head crops), ``GenericMasker()`` defaults:

    astronaut 0.884 / 0.881   grace_hopper 0.902 / 0.905   camera 0.825 / 0.828   mean 0.871

For comparison, the landmark hull mask (DeepFaceLab's default without XSeg) gives a mean of
0.841 (camera 0.76), and the bare mesh with no forehead/skin step 0.846. The thresholds
below leave about 0.04 of margin for OpenCV/numpy version differences.
"""

from __future__ import annotations

import numpy as np
import pytest

from xseg_fixtures import fixture_faces

from dfl_tui.faces import dflimg
from dfl_tui.xseg.polys import polys_from_meta, rasterize

MIN_IOU = 0.78
MIN_MEAN_IOU = 0.83


@pytest.fixture(scope="module")
def masker():
    from dfl_tui.xseg.generic import GenericMasker

    return GenericMasker()


def truth(path):
    img, meta = dflimg.load_face(path)
    return img, meta, rasterize(polys_from_meta(meta.seg_ie_polys), (256, 256), 256 / img.shape[0])


def test_generic_mask_matches_hand_labels(masker):
    from dfl_tui.xseg.generic import iou

    scores = {}
    for p in fixture_faces():
        img, meta, gt = truth(p)
        m = masker(img, meta.landmarks)
        assert m.shape == (256, 256) and set(np.unique(m)) <= {0.0, 1.0}
        scores[p.stem] = iou(m, gt)
    assert len(scores) == 6
    assert min(scores.values()) >= MIN_IOU, scores
    assert float(np.mean(list(scores.values()))) >= MIN_MEAN_IOU, scores


def test_the_skin_step_beats_the_bare_mesh_and_the_landmark_hull(masker):
    from dfl_tui.faces.landmarks import get_image_hull_mask
    from dfl_tui.xseg.generic import GenericMasker, iou

    bare = GenericMasker(forehead=0.0, skin_refine=False)
    ours, mesh_only, hull = [], [], []
    for p in fixture_faces("wf"):
        img, meta, gt = truth(p)
        ours.append(iou(masker(img, meta.landmarks), gt))
        mesh_only.append(iou(bare(img, meta.landmarks), gt))
        hull.append(iou(get_image_hull_mask(img.shape, meta.landmarks)[..., 0], gt))
    assert np.mean(ours) > np.mean(mesh_only) + 0.01
    assert np.mean(ours) > np.mean(hull) + 0.01


def test_forehead_is_extrapolated_up_the_face_axis():
    """Without the skin step the mask climbs above the mesh top by ``forehead`` x (brows to mesh top)."""
    from dfl_tui.xseg.generic import BETWEEN_BROWS, TOP, GenericMasker, mesh_mask

    p = fixture_faces("wf")[0]
    img, meta = dflimg.load_face(p)
    g = GenericMasker(forehead=1.0, skin_refine=False)
    mesh, score = g.mesh(img, meta.landmarks)
    assert score > 0.9
    base, _ = mesh_mask(mesh, img.shape, forehead=0.0)
    tall, band = mesh_mask(mesh, img.shape, forehead=1.0)
    top_of = lambda m: int(np.nonzero(m.any(1))[0].min())  # noqa: E731
    climb = float(mesh[TOP, 1] - mesh[BETWEEN_BROWS, 1])  # negative: the top is above the brows
    assert top_of(base) - top_of(tall) == pytest.approx(-climb, abs=3)
    assert band.sum() > 0 and (band * base).sum() == 0  # the band only adds above the mesh
