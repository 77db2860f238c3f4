"""Datasets and augmentation pipelines: shapes, dtypes, value ranges, mask alignment."""

from __future__ import annotations

import matplotlib
import pytest
import torch
from torch.utils.data import DataLoader

from cervix import data as D
from cervix.core.labels import SIPAKMED_CLASSES
from cervix.data import augment as AU
from cervix.data import datasets as DS

matplotlib.use("Agg")

import matplotlib.pyplot as plt
import numpy as np

NO_AUG = AU.AugmentConfig(rotate=0, scale=0, flip=False, stain=0, blur=0, grey=0)


@pytest.fixture
def seg_records(tmp_path, make_masks_folder):
    return D.read_dataset(make_masks_folder(tmp_path / "fields", n=3, size=48), "masks")


@pytest.fixture
def cls_records(tmp_path, make_classes_folder):
    root = make_classes_folder(tmp_path, per_class=2, size=40)
    return D.read_dataset(root / "crops", "classes", masks_root=root / "crops_masks")


def test_to_model_input_roundtrip():
    img = np.random.default_rng(0).integers(0, 256, (5, 7, 3), dtype=np.uint8)
    x = DS.to_model_input(img)
    assert x.shape == (3, 5, 7) and x.dtype == torch.float32
    assert torch.allclose(
        x[:, 0, 0].double(),
        (torch.tensor(img[0, 0] / 255.0) - torch.tensor(DS.IMAGENET_MEAN)) / torch.tensor(DS.IMAGENET_STD),
        atol=1e-5,
    )
    assert np.array_equal(DS.to_image(x), img)


def test_segmentation_dataset_train_shapes(seg_records):
    ds = DS.SegmentationDataset(seg_records, patch_size=32, augment=AU.AugmentConfig(), patches_per_image=4)
    assert len(ds) == 12
    x, m = ds[5]
    assert x.shape == (3, 32, 32) and m.shape == (2, 32, 32)
    assert x.dtype == m.dtype == torch.float32
    assert set(m.unique().tolist()) <= {0.0, 1.0}
    assert -2.2 < x.min() and x.max() < 2.7  # normalised range of [0, 1] RGB
    assert torch.all(m[1] <= m[0])  # nucleus inside the whole-cell mask after augmentation
    big = DS.SegmentationDataset(seg_records, patch_size=80)  # larger than the 48x56 image: padded
    assert big[0][0].shape == (3, 80, 80)
    xb, mb = next(iter(DataLoader(ds, batch_size=4, num_workers=0)))
    assert xb.shape == (4, 3, 32, 32) and mb.shape == (4, 2, 32, 32)


def test_segmentation_dataset_eval_and_scale(seg_records):
    ev = DS.SegmentationDataset(seg_records, patch_size=32, scale=0.5, train=False, patches_per_image=5)
    assert len(ev) == 3
    x, m = ev[0]
    assert ev.original_size(0) == (24, 28) and x.shape == (3, 32, 32)  # padded to a multiple of 32
    assert m[:, 24:, :].sum() == 0 and m[:, :, 28:].sum() == 0  # padding at bottom/right, zeros
    s = seg_records[0].load()
    full = DS.SegmentationDataset(seg_records, patch_size=32, train=False)
    x, m = full[0]
    assert x.shape == (3, 64, 64)
    assert np.array_equal(m[0, :48, :56].numpy() * 255, s.cytoplasm)  # eval view is the image itself
    assert np.array_equal(DS.to_image(x[:, :48, :56]), s.image)
    centre = DS.SegmentationDataset(seg_records, patch_size=32, train=False, eval_crop=True)
    assert centre[0][0].shape == (3, 32, 32)


def test_segmentation_needs_masks(tmp_path, make_masks_folder):
    root = make_masks_folder(tmp_path / "f", n=1)
    recs = D.read_dataset(root, "masks")
    recs[0].nucleus = None
    with pytest.raises(ValueError, match="f000.png.*masks"):
        DS.SegmentationDataset(recs, 32)


def test_classification_dataset_5_and_3_channels(cls_records):
    names = list(SIPAKMED_CLASSES)
    ds = DS.ClassificationDataset(cls_records, names, image_size=24, augment=AU.AugmentConfig())
    x, y = ds[3]
    assert x.shape == (5, 24, 24) and x.dtype == torch.float32 and y.dtype == torch.int64
    assert y.item() == names.index(cls_records[3].label)
    assert set(x[3:].unique().tolist()) <= {0.0, 1.0} and x[3].sum() > 0
    x3, _ = DS.ClassificationDataset(cls_records, names, 24, in_chans=3)[0]
    assert x3.shape == (3, 24, 24)
    xb, yb = next(iter(DataLoader(ds, batch_size=5, shuffle=True, num_workers=0)))
    assert xb.shape == (5, 5, 24, 24) and yb.shape == (5,)


def test_classification_errors(tmp_path, make_classes_folder, cls_records):
    root = make_classes_folder(tmp_path / "x", per_class=1)
    rgb_only = D.read_dataset(root / "crops", "classes")
    with pytest.raises(ValueError, match=r"c00\.png.*in_chans=3"):
        DS.ClassificationDataset(rgb_only, list(SIPAKMED_CLASSES), 16, in_chans=5)
    assert DS.ClassificationDataset(rgb_only, list(SIPAKMED_CLASSES), 16, in_chans=3)[0][0].shape == (3, 16, 16)
    with pytest.raises(ValueError, match="not one of the classes"):
        DS.ClassificationDataset(cls_records, ["parabasal"], 16)
    with pytest.raises(ValueError, match="in_chans"):
        DS.ClassificationDataset(cls_records, list(SIPAKMED_CLASSES), 16, in_chans=4)


def _aligned_sample() -> D.Sample:
    """An image whose content equals its cytoplasm mask (nucleus = a smaller disc)."""
    yy, xx = np.mgrid[:64, :64]
    cyt = (((yy - 20) ** 2 / 12**2 + (xx - 38) ** 2 / 18**2) <= 1).astype(np.uint8) * 255
    cyt[40:58, 6:20] = 255  # a second, asymmetric blob
    nuc = (((yy - 20) ** 2 + (xx - 38) ** 2) <= 25).astype(np.uint8) * 255
    return D.Sample(np.dstack([cyt] * 3), cyt, nuc, None, "g", "mem")


def test_geometric_transforms_keep_masks_aligned():
    s = _aligned_sample()
    cfg = AU.AugmentConfig(rotate=180, scale=0.2, flip=True, stain=0, blur=0, fade=0)
    views = DS.preview_augmentations(s, cfg, n=12, seed=0)
    moved = 0
    for img, cyt, nuc in views:
        assert set(np.unique(cyt)) <= {0, 255} and set(np.unique(nuc)) <= {0, 255}
        agree = ((img[..., 0] > 127) == (cyt > 127)).mean()
        assert agree > 0.97  # only edge pixels may differ (linear vs nearest interpolation)
        assert np.all(nuc <= cyt) or ((nuc > cyt).mean() < 0.002)
        moved += not np.array_equal(cyt, s.cytoplasm)
    assert moved >= 10  # the transforms actually moved things
    # flips / 90-degree rotations alone are exact
    flips = DS.preview_augmentations(s, AU.AugmentConfig(rotate=0, scale=0, flip=True, stain=0, blur=0, fade=0), n=8)
    for img, cyt, _ in flips:
        assert np.array_equal(img[..., 0], cyt)


def test_colour_jitter_and_blur_do_not_touch_masks():
    s = _aligned_sample()
    rng = np.random.default_rng(0)
    s.image = np.clip(s.image.astype(int) // 2 + rng.integers(0, 100, s.image.shape), 0, 255).astype(np.uint8)
    cfg = AU.AugmentConfig(rotate=0, scale=0, flip=False, stain=1.0, blur=1.0)
    views = DS.preview_augmentations(s, cfg, n=6, seed=1)
    assert any(not np.array_equal(img, s.image) for img, _, _ in views)
    for _, cyt, nuc in views:
        assert np.array_equal(cyt, s.cytoplasm) and np.array_equal(nuc, s.nucleus)
    # and inside the dataset pipeline
    t = AU.seg_transforms(cfg, train=True, seed=0)
    mask = np.dstack([s.cytoplasm, s.nucleus])
    assert np.array_equal(t(image=s.image, mask=mask)["mask"], mask)


def test_preview_is_seeded_and_no_aug_is_identity():
    s = _aligned_sample()
    a = DS.preview_augmentations(s, AU.AugmentConfig(), n=3, seed=7)
    b = DS.preview_augmentations(s, AU.AugmentConfig(), n=3, seed=7)
    assert len(a) == 3 and all(np.array_equal(x[0], y[0]) for x, y in zip(a, b))
    img, cyt, nuc = DS.preview_augmentations(s, NO_AUG, n=1)[0]
    assert np.array_equal(img, s.image) and np.array_equal(cyt, s.cytoplasm)


def test_dataset_reproducible_under_torch_seed(seg_records):
    def draw():
        torch.manual_seed(123)
        ds = DS.SegmentationDataset(seg_records, 24, augment=AU.AugmentConfig(), cache=False)
        return [ds[i][0] for i in range(3)]

    assert all(torch.equal(a, b) for a, b in zip(draw(), draw()))


def _items(ds):
    return [ds[i][0] for i in range(len(ds))]


def test_mask_dropout_and_jitter_leave_inference_unchanged(cls_records):
    names = list(SIPAKMED_CLASSES)
    plain = _items(DS.ClassificationDataset(cls_records, names, 24, train=False))
    perturbed = _items(DS.ClassificationDataset(cls_records, names, 24, train=False, mask_dropout=1.0, mask_jitter=1.0))
    assert all(torch.equal(a, b) for a, b in zip(plain, perturbed))


def test_mask_dropout_blanks_only_the_mask_channels(cls_records):
    names = list(SIPAKMED_CLASSES)
    torch.manual_seed(0)
    ref = _items(DS.ClassificationDataset(cls_records, names, 24, augment=NO_AUG))
    torch.manual_seed(0)
    drop = _items(DS.ClassificationDataset(cls_records, names, 24, augment=NO_AUG, mask_dropout=1.0))
    assert all(torch.equal(a[:3], b[:3]) for a, b in zip(ref, drop))  # RGB untouched
    assert all(b[3:].sum() == 0 for b in drop) and all(a[3].sum() > 0 for a in ref)
    # RGB-only inputs have no mask channels to perturb
    x3 = DS.ClassificationDataset(cls_records, names, 24, in_chans=3, augment=NO_AUG, mask_dropout=1.0)[0][0]
    assert x3.shape == (3, 24, 24)


@pytest.fixture(autouse=True)
def _close_figures():
    yield
    plt.close("all")


def test_segmentation_dataset_with_scale_views_is_seeded_per_epoch(seg_records):
    views = AU.ScaleViews((0.25, 4.0), cell_views=0.5)
    ds = DS.SegmentationDataset(seg_records, 32, augment=NO_AUG, patches_per_image=2, views=views)
    ds.set_epoch(3, seed=1)
    first = [ds[i] for i in range(len(ds))]
    assert all(x.shape == (3, 32, 32) and m.shape == (2, 32, 32) for x, m in first)
    assert all(set(m.unique().tolist()) <= {0.0, 1.0} for _, m in first)
    ds.set_epoch(3, seed=1)
    again = [ds[i] for i in range(len(ds))]
    assert all(torch.equal(a[0], b[0]) and torch.equal(a[1], b[1]) for a, b in zip(first, again))
    ds.set_epoch(4, seed=1)
    assert any(not torch.equal(a[0], ds[i][0]) for i, a in enumerate(first))
    # eval views ignore the scale views: the whole image, padded to a multiple of 32
    ev = DS.SegmentationDataset(seg_records, 32, train=False, views=views)
    assert ev.views is None and ev[0][0].shape[-2:] == (64, 64)
