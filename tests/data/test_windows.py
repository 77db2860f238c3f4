import numpy as np
import pytest
import torch

from cervix.cells.whole import from_stack
from cervix.data.datasets import to_image
from cervix.data.windows import CellWindowDataset, WholeCellField, cell_window, window_origin


def _field(size: int = 96):
    """Two overlapping square cells with one nucleus each, a flat cytoplasm probability."""
    rng = np.random.default_rng(0)
    image = rng.integers(0, 255, (size, size, 3), dtype=np.uint8)
    cells = np.zeros((2, size, size), bool)
    cells[0, 10:60, 10:60] = True
    cells[1, 40:90, 40:90] = True  # overlaps cell 0 on [40, 60)^2
    nuclei = np.zeros_like(cells)
    nuclei[0, 30:36, 30:36] = True
    nuclei[1, 70:76, 70:76] = True
    cyt = np.where(cells.any(0), 0.8, 0.1).astype(np.float32)
    return WholeCellField(image, cyt, from_stack(cells, nuclei)), cells, nuclei


def test_window_origin_centres_the_window():
    assert window_origin((50.0, 20.0), 32) == (4, 34)


def test_cell_window_reflects_the_image_and_zero_pads_masks():
    f, cells, nuclei = _field()
    img, masks = cell_window(f.image, f.cytoplasm, nuclei[0], (-8, -8), 32)
    assert img.shape == (32, 32, 3) and masks.shape == (32, 32, 2) and masks.dtype == np.uint8
    np.testing.assert_array_equal(img[8:, 8:], f.image[:24, :24])
    np.testing.assert_array_equal(img[7, 8:], f.image[1, :24])  # reflect-101 above the field
    assert (masks[:8] == 0).all() and (masks[:, :8] == 0).all()  # nothing outside the field
    assert masks[8 + 12, 8 + 12, 1] == round(0.8 * 255) and masks[8, 8, 1] == round(0.1 * 255)


def test_items_inputs_and_whole_targets():
    f, cells, nuclei = _field()
    ds = CellWindowDataset([f], window=64, size=32, train=False)
    assert len(ds) == 2
    x, y = ds[1]
    assert x.shape == (5, 32, 32) and y.shape == (2, 32, 32) and x.dtype == torch.float32
    # window of cell 1 centred on its nucleus (72.5, 72.5) -> origin (40, 40) (round half to even); 2x down
    assert window_origin((72.5, 72.5), 64) == (40, 40)
    target = cells[1][40:104, 40:104]
    target = np.pad(target, ((0, 64 - target.shape[0]), (0, 64 - target.shape[1])))
    assert y[0].numpy().sum() == pytest.approx(target[::2, ::2].sum(), rel=0.1)
    # the whole cell, not its visible part: the target covers the overlap with cell 0 ([40, 60)^2)
    assert y[0, 0:8, 0:8].all()
    # the given nucleus channel is exactly the cell's own nucleus, the targets' second channel too
    np.testing.assert_array_equal(x[3].numpy() > 0.5, y[1].numpy() > 0.5)
    win = f.image[40:104, 40:104]
    np.testing.assert_allclose(to_image(x)[0, 0], win[:2, :2].reshape(-1, 3).mean(0), atol=1.5)  # area-averaged
    x2, y2 = ds[1]
    assert torch.equal(x, x2) and torch.equal(y, y2)  # eval is deterministic


def test_training_perturbs_only_the_given_nucleus():
    f, _, _ = _field()
    ds = CellWindowDataset([f], window=64, size=32, train=True, augment=None, perturb_px=3, centre_jitter=0.0)
    ds.set_epoch(0, seed=1)
    changed = 0
    for _ in range(6):
        x, y = ds[0]
        assert set(np.unique(y.numpy())) <= {0.0, 1.0}
        changed += int(not torch.equal(x[3] > 0.5, y[1] > 0.5))
    assert changed >= 3  # eroded, dilated or shifted most of the time (radius and shift 0 is rare)


def test_no_cell_with_a_nucleus_is_an_error():
    f, cells, _ = _field()
    empty = WholeCellField(f.image, f.cytoplasm, from_stack(cells))  # cells without nuclei
    with pytest.raises(ValueError, match="no cell with a nucleus"):
        CellWindowDataset([empty], window=64, size=32, train=False)
