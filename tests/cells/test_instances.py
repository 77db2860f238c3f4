"""Instance separation: probabilities -> cells and nuclei, crops with only their own cell's masks."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from cervix.cells.instances import (
    InstanceConfig,
    Instances,
    cell_table,
    centre_id,
    centre_instance,
    covered_fractions,
    cut_cell,
    separate,
    suppress_weak_nuclei,
)
from cervix.synthetic.fields import item_rng, make_field


def _discs(shape, discs):
    m = np.zeros(shape, np.uint8)
    for x, y, r in discs:
        cv2.circle(m, (x, y), r, 255, -1)
    return m > 0


def test_touching_cells_are_split_between_their_nuclei_and_a_nucleus_free_blob_is_flagged():
    cyt = _discs((100, 140), [(40, 50, 22), (75, 50, 20), (132, 20, 10)])  # two touching cells + a blob at the edge
    nuc = _discs((100, 140), [(38, 50, 6), (80, 50, 6)])
    inst = separate(np.stack([cyt, nuc]).astype(np.float32), InstanceConfig(min_cell_area=50))
    assert inst.n == 3 and inst.cells.dtype == np.uint16 and inst.nuclei.dtype == np.uint16
    a, b, blob = inst.cells[50, 38], inst.cells[50, 80], inst.cells[20, 132]
    assert len({a, b, blob}) == 3 and 0 not in (a, b, blob)
    assert inst.nuclei[50, 38] == a and inst.nuclei[50, 80] == b and inst.nuclei[20, 132] == 0
    assert inst.no_nucleus == {int(blob)}
    # the boundary lies between the nuclei (the geodesic midpoint ~ x = 59)
    assert inst.cells[50, 55] == a and inst.cells[50, 63] == b
    rows = {r["cell_id"]: r for r in cell_table(inst)}
    assert "no_nucleus" in rows[int(blob)]["flags"] and "touches_border" in rows[int(blob)]["flags"]
    assert rows[int(a)]["nucleus_area"] == int(nuc[inst.cells == a].sum()) and rows[int(a)]["n_nuclei"] == 1
    # a small fragment is dropped and counted
    inst = separate(np.stack([cyt, nuc]).astype(np.float32), InstanceConfig(min_cell_area=500))
    assert inst.n == 2 and inst.n_dropped == 1


def test_touching_nuclei_are_split_at_their_distance_peaks():
    nuc = _discs((60, 80), [(28, 30, 9), (45, 30, 9)])  # two overlapping discs: one component
    cyt = _discs((60, 80), [(36, 30, 26)])
    split = separate(np.stack([cyt, nuc]).astype(np.float32), InstanceConfig(min_cell_area=10, split_nuclei=True))
    merged = separate(np.stack([cyt, nuc]).astype(np.float32), InstanceConfig(min_cell_area=10, split_nuclei=False))
    assert split.n == 2 and merged.n == 1


def _two_nuclei(weak: float = 0.6):
    """Two cells side by side: the left nucleus confident (0.95), the right one pale (``weak``)."""
    cyt = _discs((60, 120), [(30, 30, 24), (72, 30, 24)]).astype(np.float32)
    nuc = 0.95 * _discs((60, 120), [(30, 30, 7)]) + weak * _discs((60, 120), [(72, 30, 7)])
    return np.stack([cyt, nuc.astype(np.float32)])


def test_a_nucleus_whose_mean_probability_is_below_the_score_is_suppressed():
    probs = _two_nuclei(0.6)
    kept = probs.copy()
    out = suppress_weak_nuclei(probs, 0.5, 0.8)
    assert out[1, 30, 30] == np.float32(0.95) and out[1, 30, 72] == 0  # pale one gone, confident one kept
    np.testing.assert_array_equal(out[0], probs[0])  # cytoplasm untouched
    np.testing.assert_array_equal(probs, kept)  # the input is not changed
    # the score is the component's mean: a confident core keeps its pale rim (a 0.95 core of r 4
    # in a 0.6 disc of r 7: mean about 0.72, above 0.7)
    rim = _two_nuclei(0.6)
    core = _discs((60, 120), [(72, 30, 4)])
    rim[1][core] = 0.95
    mean = rim[1][_discs((60, 120), [(72, 30, 7)])].mean()
    assert 0.7 < mean < 0.8
    np.testing.assert_array_equal(suppress_weak_nuclei(rim, 0.5, 0.7), rim)
    assert not suppress_weak_nuclei(rim, 0.5, 0.8)[1, 30, 67:78].any()
    # 0 keeps everything and returns the input itself
    assert suppress_weak_nuclei(probs, 0.5, 0.0) is probs


def test_separate_drops_a_weak_nucleus_and_its_cell_joins_the_foreground():
    probs = _two_nuclei(0.6)
    both = separate(probs, InstanceConfig(min_cell_area=50, min_nucleus_score=0.0))
    one = separate(probs, InstanceConfig(min_cell_area=50, min_nucleus_score=0.8))
    assert both.n == 2 and not both.no_nucleus
    assert one.nuclei[30, 72] == 0 and one.nuclei[30, 30] > 0
    # the right disc touches the left one: without its nucleus the left cell grows over it
    assert one.n == 1 and one.cells[30, 72] == one.cells[30, 30]


def test_bad_scores_are_refused():
    with pytest.raises(ValueError, match="min_score"):
        suppress_weak_nuclei(_two_nuclei(), 0.5, 1.5)
    with pytest.raises(ValueError, match=r"\(C >= 2, H, W\)"):
        suppress_weak_nuclei(np.zeros((8, 8)), 0.5, 0.5)


def test_bad_probabilities_are_refused():
    with pytest.raises(ValueError, match=r"\(2, H, W\)"):
        separate(np.zeros((3, 8, 8)))


def test_a_cell_crop_never_carries_a_neighbours_mask():
    field = make_field(item_rng(0, 3), 512, 0.7)
    cells = field["instances"].astype(np.uint16)
    inst = Instances(cells, np.where(field["nucleus"] > 0, cells, 0).astype(np.uint16))
    ids = [i for i in np.unique(cells) if i]
    assert len(ids) >= 5
    for k in ids:
        crop = cut_cell(field["image"], inst, int(k))
        x0, y0, w, h = crop["box"]
        # the crop's masks are exactly the cell's own pixels inside the box, nothing of another cell
        own = np.zeros((h, w), bool)
        ys, xs = np.nonzero(cells == k)
        own[ys - y0, xs - x0] = True
        assert np.array_equal(crop["cytoplasm"] > 0, own)
        assert not (crop["nucleus"] > 0)[~own].any()
        assert crop["image"].shape[:2] == (h, w)
    with pytest.raises(ValueError, match="no cell 999"):
        cut_cell(field["image"], inst, 999)


def _disc_masks(shape, discs):
    """uint8 {0, 255} mask of filled discs ``(x, y, r)``."""
    m = np.zeros(shape, np.uint8)
    for x, y, r in discs:
        cv2.circle(m, (x, y), r, 255, -1)
    return m


def test_centre_instance_keeps_the_centre_cell_and_its_nucleus():
    from cervix.cells.instances import InstanceConfig, centre_instance, separate

    cyt = _disc_masks((64, 64), [(32, 32, 12), (6, 6, 5)])  # centre cell, neighbour in the corner
    nuc = _disc_masks((64, 64), [(30, 32, 3), (6, 6, 2)])
    cfg = InstanceConfig(min_cell_area=1, min_nucleus_area=1)
    c, n = centre_instance(separate(np.stack([cyt, nuc]) / 255.0, cfg))
    assert c[32, 32] == 255 and c[6, 6] == 0 and (c > 0).sum() == (cyt[16:48, 16:48] > 0).sum()
    assert n[32, 30] == 255 and n[6, 6] == 0 and set(np.unique(n)) == {0, 255}
    # centre on background: the cell nearest to the centre is kept
    ring = _disc_masks((64, 64), [(40, 32, 4), (4, 60, 3)])
    c, n = centre_instance(separate(np.stack([ring, np.zeros_like(ring)]) / 255.0, cfg))
    assert c[32, 40] == 255 and c[60, 4] == 0 and n.max() == 0
    # no cell at all: both empty
    c, n = centre_instance(separate(np.zeros((2, 64, 64)), cfg))
    assert c.max() == 0 and n.max() == 0


def test_centre_instance_takes_the_nucleus_nearest_the_centre_not_the_cell_under_it():
    # cell 1's large nucleus reaches nearer the centre and its part of the partition covers the
    # centre pixel, but cell 2's nucleus centroid is nearer: the crop is cut around cell 2
    yy, xx = np.mgrid[:64, :64]
    cells = np.where(xx < 34, 1, 2).astype(np.uint16)
    nuclei = np.zeros_like(cells)
    nuclei[(yy - 32) ** 2 + (xx - 20) ** 2 <= 10**2] = 1  # centroid 12 px from the centre, edge 2 px
    nuclei[(yy - 32) ** 2 + (xx - 42) ** 2 <= 2**2] = 2  # centroid 10 px from the centre
    c, n = centre_instance(Instances(cells, nuclei))
    assert centre_id(Instances(cells, nuclei)) == 2 and centre_id(Instances(np.zeros_like(cells), nuclei)) == 0
    assert c[32, 50] == 255 and c[32, 32] == 0 and (c > 0).sum() == (cells == 2).sum()
    assert n[32, 42] == 255 and n[32, 20] == 0 and (n > 0).sum() == (nuclei == 2).sum()


def test_covered_fractions_of_a_hand_computed_stack():
    cells = np.zeros((4, 6, 8), bool)
    cells[0, 0:4, 0:4] = True  # 16 px; cell 1 covers its 2x2 corner, cell 2 one more pixel
    cells[1, 2:6, 2:6] = True  # 16 px; cell 0 covers 4, cell 2 covers column 5 rows 2-5 (4, none shared)
    cells[2, 0:6, 5:8] = True  # 18 px; cell 1 covers column 5 rows 2-5
    cells[2, 0, 3] = True  # one more pixel, inside cell 0 -> 19 px, 5 covered
    # cell 3 empty
    got = covered_fractions(cells)
    assert got.shape == (4,) and got.dtype == np.float64
    np.testing.assert_allclose(got[:3], [5 / 16, 8 / 16, 5 / 19])
    assert np.isnan(got[3])
    assert covered_fractions(cells[:1]).tolist() == [0.0]  # a lone cell is uncovered
    with pytest.raises(ValueError, match="N, H, W"):
        covered_fractions(cells[0])


def test_cell_masks_follow_whole_cells_when_they_are_set():
    from cervix.cells.whole import from_stack

    cells = np.zeros((10, 10), np.uint16)
    cells[:, :5], cells[:, 5:] = 1, 2
    inst = Instances(cells, np.zeros_like(cells))
    assert inst.cell_masks[1].area == 50  # the partition
    whole = np.zeros((2, 10, 10), bool)
    whole[0, :, :7] = whole[1, :, 3:] = True
    inst.whole = from_stack(whole)
    assert inst.cell_masks[1].area == 70 and inst.cell_masks[2].area == 70  # recomputed, overlapping
    rows = cell_table(inst)
    assert [(r["cell_area"], r["visible_area"]) for r in rows] == [(70, 50), (70, 50)]
