import numpy as np
import pytest
from helpers import DiskHead

from cervix.cells.instances import Instances
from cervix.cells.whole import to_stack
from cervix.inference.wholecells import predict_whole_cells

CFG = {"window": 64, "image_size": 32, "threshold": 0.5, "amp": "none", "scale": 1.0}


def _field():
    """A 100 x 120 field: two cells that touch in the partition, one cell without a nucleus."""
    cells = np.zeros((100, 120), np.uint16)
    cells[20:60, 10:50] = 1
    cells[20:60, 50:90] = 2  # the partition cut at x = 50
    cells[80:95, 100:115] = 3  # no nucleus
    nuclei = np.zeros_like(cells)
    nuclei[36:44, 26:34] = 1  # centre (39.5, 29.5)
    nuclei[36:44, 66:74] = 2  # centre (39.5, 69.5)
    return Instances(cells, nuclei, no_nucleus={3})


def test_whole_cells_overlap_where_the_partition_cut():
    inst = _field()
    image = np.full((100, 120, 3), 200, np.uint8)
    whole = predict_whole_cells(DiskHead(radius=12).eval(), CFG, image, np.zeros((100, 120), np.float32), inst)
    assert len(whole) == 3
    stack = to_stack(whole, (100, 120))
    # discs of 12 input px = 24 field px (the 64 px window is read at 32 px) around each nucleus
    for k, (cy, cx) in ((0, (39.5, 29.5)), (1, (39.5, 69.5))):
        yy, xx = np.nonzero(stack[k])
        r = np.hypot(yy - cy, xx - cx).max()
        assert 22 <= r <= 26, r
        assert stack[k][inst.nuclei == k + 1].all()  # the given nucleus is part of its cell
    assert (stack[0] & stack[1]).sum() > 100  # the two whole cells overlap across the cut
    # the cell without a nucleus keeps its partition mask
    np.testing.assert_array_equal(stack[2], inst.cells == 3)
    np.testing.assert_array_equal(to_stack(whole, (100, 120), nucleus=True)[1], inst.nuclei == 2)


def test_nothing_outside_the_field():
    cells = np.zeros((40, 40), np.uint16)
    cells[:20, :20] = 1
    nuclei = np.zeros_like(cells)
    nuclei[2:6, 2:6] = 1  # near the corner: the window leaves the field
    inst = Instances(cells, nuclei)
    (c,) = predict_whole_cells(DiskHead(radius=12).eval(), CFG, np.zeros((40, 40, 3), np.uint8), cells * 0.0, inst)
    y0, x0, y1, x1 = c.box
    assert y0 >= 0 and x0 >= 0 and y1 <= 40 and x1 <= 40 and c.mask.shape == (y1 - y0, x1 - x0)
    assert c.mask[0, 0]  # reaches the field's corner, clipped there


def test_scale_and_batches_do_not_change_the_answer():
    inst = _field()
    image = np.full((100, 120, 3), 200, np.uint8)
    cyt = np.zeros((100, 120), np.float32)
    a = predict_whole_cells(DiskHead(12).eval(), CFG, image, cyt, inst, batch_size=1)
    b = predict_whole_cells(DiskHead(12).eval(), CFG, image, cyt, inst, batch_size=16)
    assert all(x.box == y.box and np.array_equal(x.mask, y.mask) for x, y in zip(a, b))
    # a run trained at scale 0.5 reads a window of 128 field px: the disc doubles
    big = predict_whole_cells(DiskHead(12).eval(), {**CFG, "scale": 0.5}, image, cyt, inst)
    assert big[0].area > 3 * a[0].area


def test_only_the_whole_cell_decoder_runs():
    head = DiskHead(12).eval()
    predict_whole_cells(head, CFG, np.full((100, 120, 3), 200, np.uint8), np.zeros((100, 120), np.float32), _field())
    assert head.heads_asked == [("cytoplasm",)]


def test_flip_tta_averages_the_flipped_answers():
    inst = _field()
    image, cyt = np.full((100, 120, 3), 200, np.uint8), np.zeros((100, 120), np.float32)
    centred = [predict_whole_cells(DiskHead(12).eval(), {**CFG, "tta": t}, image, cyt, inst) for t in (False, True)]
    assert all(np.array_equal(a.mask, b.mask) for a, b in zip(*centred))  # a symmetric answer: unchanged
    # a disc shifted 5 input px (10 field px) down and right: the flips put it up-right and down-left,
    # so with TTA only pixels inside two of the three discs stay, about halfway back to the nucleus
    plain, tta = (
        predict_whole_cells(DiskHead(12, offset=5).eval(), {**CFG, "tta": t}, image, cyt, inst)[0]
        for t in (False, True)
    )
    centre = np.array([39.5, 29.5])

    def off(c):
        yy, xx = np.nonzero(c.mask)
        return np.hypot(*(np.array([yy.mean() + c.box[0], xx.mean() + c.box[1]]) - centre))

    assert off(plain) > 10 and off(tta) < 0.6 * off(plain) and tta.area < plain.area


def test_ids_give_only_those_cells_in_the_order_asked():
    inst = _field()
    image = np.full((100, 120, 3), 200, np.uint8)
    cyt = np.zeros((100, 120), np.float32)
    head = DiskHead(radius=12).eval()
    every = predict_whole_cells(head, CFG, image, cyt, inst)
    some = predict_whole_cells(head, CFG, image, cyt, inst, ids=[2, 3])
    assert [c.box for c in some] == [every[1].box, every[2].box]
    np.testing.assert_array_equal(some[0].mask, every[1].mask)
    with pytest.raises(ValueError, match=r"1\.\.3"):
        predict_whole_cells(head, CFG, image, cyt, inst, ids=[4])
