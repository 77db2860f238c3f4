import numpy as np
import pytest

from cervix.cells.whole import CellMask, cell_nuclei, from_stack, overlap_table, pair_nuclei, to_stack


def _two_overlapping():
    a = np.zeros((10, 12), bool)
    a[1:6, 1:7] = True  # 30 px
    b = np.zeros((10, 12), bool)
    b[3:9, 4:11] = True  # 42 px; shared rows 3-5, cols 4-6: 9 px
    return np.stack([a, b])


def test_stack_round_trip_keeps_overlaps():
    cells = _two_overlapping()
    nuc = np.zeros_like(cells)
    nuc[0, 2:4, 2:4] = True
    masks = from_stack(cells, nuc)
    assert [m.box for m in masks] == [(1, 1, 6, 7), (3, 4, 9, 11)]
    assert [m.area for m in masks] == [30, 42]
    np.testing.assert_array_equal(to_stack(masks, (10, 12)), cells)
    np.testing.assert_array_equal(to_stack(masks, (10, 12), nucleus=True), nuc)
    np.testing.assert_array_equal(masks[1].full((10, 12)), cells[1])


def test_from_stack_drops_empty_cells():
    cells = np.zeros((3, 5, 5), bool)
    cells[1, 2, 2] = True
    assert len(from_stack(cells)) == 1


def test_overlap_table_by_hand():
    rows = overlap_table(from_stack(_two_overlapping()), ids=[7, 3])
    assert rows == [{"cell_a": 3, "cell_b": 7, "shared_px": 9, "fraction_a": 9 / 42, "fraction_b": 9 / 30}]
    apart = np.zeros((2, 10, 12), bool)
    apart[0, :2, :2] = apart[1, 5:, 5:] = True
    assert overlap_table(from_stack(apart)) == []


def test_pair_nuclei_is_one_to_one():
    # nucleus 5 (8 px) lies inside both cells; nucleus 9 (4 px) only in cell 0. Each cell's
    # largest overlap is nucleus 5, which would leave cell 1 without a nucleus; the one-to-one
    # pairing with the most shared pixels gives cell 0 nucleus 9 and cell 1 nucleus 5 (4 + 8 > 8).
    cells = np.zeros((2, 8, 8), bool)
    cells[0, :, :6] = True
    cells[1, :, 2:] = True
    nuc = np.zeros((8, 8), int)
    nuc[0:2, 2:6] = 5
    nuc[4:6, 0:2] = 9
    paired = pair_nuclei(cells, nuc)
    assert paired.tolist() == [9, 5]


def test_pair_nuclei_leaves_cells_without_nucleus():
    cells = np.zeros((2, 4, 4), bool)
    cells[0, :2] = True
    cells[1, 2:] = True
    nuc = np.zeros((4, 4), int)
    nuc[0, 0] = 3
    assert pair_nuclei(cells, nuc).tolist() == [3, 0]
    with pytest.raises(ValueError, match="share H, W"):
        pair_nuclei(cells, nuc[:3])


def test_cell_nuclei_separates_touching_nuclei_by_instances():
    cells = np.zeros((2, 6, 6), bool)
    cells[0, :, :4] = True
    cells[1, :, 2:] = True
    nucleus = np.zeros((6, 6), np.uint8)
    nucleus[2:4, 1:5] = 255  # one blob, two nuclei touching at col 2|3
    inst = np.zeros((6, 6), int)
    inst[:, :3] = 1
    inst[:, 3:] = 2
    own = cell_nuclei(cells, nucleus, inst)
    assert own[0].sum() == 4 and own[1].sum() == 4 and not (own[0] & own[1]).any()
    merged = cell_nuclei(cells, nucleus)  # without instances the blob is one nucleus: one cell gets it
    assert sorted(merged.reshape(2, -1).sum(1).tolist()) == [0, 8]


def test_cellmask_full_matches_box():
    c = CellMask((1, 2, 3, 5), np.ones((2, 3), bool), np.zeros((2, 3), bool))
    full = c.full((4, 6))
    assert full.sum() == 6 and full[1:3, 2:5].all()
