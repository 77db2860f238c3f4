"""Tests of the synthetic Pap smear generator (cervix.synthetic.fields)."""

from __future__ import annotations

import hashlib

import cv2
import numpy as np
import pytest

from cervix.cells.instances import covered_fractions
from cervix.core.labels import SIPAKMED_CLASSES
from cervix.synthetic.dataset import generate
from cervix.synthetic.fields import (
    CLASS_SPECS,
    SynthConfig,
    cut_crop,
    item_rng,
    make_field,
    sample_cell_params,
    truth_cells,
    whole_cell_window,
    whole_cells,
)


@pytest.fixture(scope="module")
def field() -> dict:
    return make_field(item_rng(0, 0), 384, 0.5, classes=list(SIPAKMED_CLASSES))


def test_field_outputs_and_instances(field):
    img, cyt, nuc, inst = field["image"], field["cytoplasm"], field["nucleus"], field["instances"]
    assert img.shape == (384, 384, 3) and img.dtype == np.uint8
    assert inst.dtype == np.int32 and inst.shape == (384, 384)
    assert set(np.unique(cyt)) == {0, 255} and set(np.unique(nuc)) == {0, 255}
    # instance map covers exactly the cytoplasm union; every id is a known cell
    np.testing.assert_array_equal(inst > 0, cyt > 0)
    assert inst.max() <= len(field["cell_classes"])
    assert [field["cell_classes"][i] for i in field["targets"]] == list(SIPAKMED_CLASSES)
    # nucleus pixels carry the id of the cell owning that nucleus
    for i, c in enumerate(field["cells"]):
        ys, xs = np.nonzero(c.nucleus)
        ys, xs = ys + c.y0, xs + c.x0
        ok = (ys >= 0) & (ys < 384) & (xs >= 0) & (xs < 384)
        assert (inst[ys[ok], xs[ok]] == i + 1).all()
    # every nucleus strictly inside its own cell (>= 1 px from the border)
    for c in field["cells"]:
        inner = cv2.erode(c.cell.astype(np.uint8), np.ones((3, 3), np.uint8)) > 0
        assert c.nucleus.any() and not (c.nucleus & ~inner).any()
    # target cells lie fully inside the field
    for i in field["targets"]:
        c = field["cells"][i]
        ys, xs = np.nonzero(c.cell)
        assert ys.min() + c.y0 >= 0 and xs.min() + c.x0 >= 0
        assert ys.max() + c.y0 < 384 and xs.max() + c.x0 < 384


def test_crop_masks_are_of_the_centre_cell(field):
    for j, i in enumerate(field["targets"]):
        crop = cut_crop(field, i, item_rng(0, 0, j + 1), size=96)
        assert crop["label"] == SIPAKMED_CLASSES[j]
        assert crop["image"].shape == (96, 96, 3)
        n, _ = cv2.connectedComponents((crop["cytoplasm"] > 0).astype(np.uint8))
        assert n == 2  # one cell only (neighbours are not in the masks)
        frac = (crop["cytoplasm"] > 0).mean()
        assert 0.3 < frac < 0.95  # the cell fills most of the crop


def test_native_scale_crops_share_the_field_pixel_scale(field):
    for j, i in enumerate(field["targets"]):
        crop = cut_crop(field, i, item_rng(0, 0, j + 1), size=None)
        x0, y0, w, h = crop["box"]
        assert crop["image"].shape == (h, w, 3) and crop["cytoplasm"].shape == (h, w)
        # the crop shows the cell with as many pixels as it has in the field: same pixel scale
        assert int((crop["cytoplasm"] > 0).sum()) == int(field["cells"][i].cell.sum())
        H, W = field["image"].shape[:2]
        if x0 >= 0 and y0 >= 0 and x0 + w <= W and y0 + h <= H:  # box inside the field: the same pixels
            assert np.array_equal(crop["image"], field["image"][y0 : y0 + h, x0 : x0 + w])


def test_crop_of_a_one_class_field_and_bad_input():
    rng = item_rng(1, 0)
    f = make_field(rng, 320, 0.5, classes=["dyskeratotic"])
    crop = cut_crop(f, f["targets"][0], rng, 48)
    assert crop["label"] == "dyskeratotic" and crop["nucleus"].any()
    with pytest.raises(ValueError, match="unknown class"):
        make_field(item_rng(1, 0), classes=["squamous"])
    with pytest.raises(ValueError, match="difficulty"):
        generate("/nonexistent/never", difficulty=1.5, progress=False)
    with pytest.raises(ValueError, match=">= 256"):
        make_field(item_rng(0, 0), size=128)


def _centroid_accuracy(difficulty: float, n: int = 150) -> float:
    """Nearest-centroid accuracy on standardised cell parameters (a separability measure)."""
    rng = np.random.default_rng(0)
    X, y = [], []
    for k, cls in enumerate(CLASS_SPECS):
        for _ in range(n):
            p = sample_cell_params(rng, cls, difficulty)
            X.append([p.nuc_ratio, p.density, p.hema, p.halo, float(p.processes), *p.stain])
            y.append(k)
    X, y = np.asarray(X), np.asarray(y)
    X = (X - X.mean(0)) / (X.std(0) + 1e-9)
    cent = np.stack([X[y == k].mean(0) for k in range(len(CLASS_SPECS))])
    pred = np.argmin(((X[:, None, :] - cent[None]) ** 2).sum(-1), 1)
    return float((pred == y).mean())


def test_difficulty_overlaps_class_parameters():
    easy, mid, hard = _centroid_accuracy(0.0), _centroid_accuracy(0.5), _centroid_accuracy(1.0)
    assert easy > mid > hard
    assert easy > 0.95 and hard < 0.9
    # nucleus/cell radius ranges of superficial and koilocytotic cells are disjoint at 0, overlap at 1
    rng = np.random.default_rng(0)
    for d, overlap in ((0.0, False), (1.0, True)):
        pb = [sample_cell_params(rng, "superficial-intermediate", d).nuc_ratio for _ in range(300)]
        ko = [sample_cell_params(rng, "koilocytotic", d).nuc_ratio for _ in range(300)]
        assert (max(pb) > min(ko)) == overlap


def _digest(f: dict) -> str:
    h = hashlib.sha256()
    for k in ("image", "cytoplasm", "nucleus", "instances"):
        h.update(f[k].tobytes())
    return h.hexdigest()[:16]


@pytest.mark.parametrize(
    "seed, size, d, targets, want",
    [  # digests of fields made before clumping existed
        (0, 256, 0.5, False, "02521ef7212f809f"),
        (3, 512, 0.5, True, "3a2992d6cb107bb3"),
        (7, 300, 0.9, False, "61697c2a2ab50356"),
    ],
)
def test_no_clumping_draws_the_fields_of_before(seed, size, d, targets, want):
    classes = list(SIPAKMED_CLASSES) if targets else None
    assert _digest(make_field(item_rng(seed, 0), size, d, classes=classes, cfg=SynthConfig(clumping=0.0))) == want


def test_clumping_lays_neighbours_over_placed_cells():
    def covered(k: float) -> float:
        fr = []
        for j in range(4):
            f = make_field(item_rng(5, j), 384, 0.5, classes=list(SIPAKMED_CLASSES), cfg=SynthConfig(clumping=k))
            fr += covered_fractions(whole_cells(f))[truth_cells(f)].tolist()
        return float(np.median(fr))

    assert covered(1.0) > covered(0.0) + 0.15
    f = make_field(item_rng(5, 0), 384, 0.5, classes=list(SIPAKMED_CLASSES), cfg=SynthConfig(clumping=1.0))
    assert len(f["targets"]) == 5 and f["instances"].max() <= len(f["cells"])


def test_truth_cells_are_those_whose_nucleus_centre_is_in_the_field(field):
    keep = truth_cells(field)
    assert set(field["targets"]) <= set(keep)  # targets lie fully inside
    for i, c in enumerate(field["cells"]):
        ys, xs = np.nonzero(c.nucleus)
        inside = 0 <= c.y0 + ys.mean() + 0.5 < 384 and 0 <= c.x0 + xs.mean() + 0.5 < 384
        assert (i in keep) == inside
    # a cell whose nucleus is just outside is left out; moved in by one pixel, kept
    c = field["cells"][0]
    ys, _ = np.nonzero(c.nucleus)
    y0 = c.y0
    try:
        c.y0 = int(np.ceil(-ys.mean() - 0.5)) - 1  # centroid in [-1, 0) px: above the field
        assert 0 not in truth_cells(field)
        c.y0 += 1  # centroid in [0, 1) px: in the first row
        assert 0 in truth_cells(field)
    finally:
        c.y0 = y0


def test_whole_cells_are_the_cells_clipped_to_the_field(field):
    stack = whole_cells(field)
    assert stack.shape == (len(field["cells"]), 384, 384)
    for i, c in enumerate(field["cells"]):
        assert stack[i].sum() <= c.cell.sum()
        win = whole_cell_window(c, 384, 384)
        if win is None:
            assert not stack[i].any()
            continue
        m, (x, y) = win
        assert m.any(axis=0)[[0, -1]].all() and m.any(axis=1)[[0, -1]].all()  # cut to its box
        assert np.array_equal(stack[i, y : y + m.shape[0], x : x + m.shape[1]], m) and stack[i].sum() == m.sum()
        if i in field["targets"]:  # fully inside: the whole canvas mask
            assert m.sum() == c.cell.sum()
    # visible parts (the instance map) lie inside the whole cells
    inst = field["instances"]
    for i in range(len(field["cells"])):
        assert not ((inst == i + 1) & ~stack[i]).any()
    assert np.array_equal(whole_cells(field, [2, 0]), stack[[2, 0]])
