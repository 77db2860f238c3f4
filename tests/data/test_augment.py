"""Augmentation: stain jitter, mask perturbation, greyscale, the augmentation file, scale views."""

from __future__ import annotations

import dataclasses
import json

import numpy as np
import pytest

from cervix.data import augment as AU
from cervix.data.augment import AugmentConfig


def test_stain_jitter_identity_and_range():
    img = np.random.default_rng(0).integers(0, 256, (16, 16, 3), dtype=np.uint8)
    same = AU.StainJitter(sigma=0, bias=0, p=1)(image=img)["image"]
    assert np.abs(same.astype(int) - img).max() <= 1
    out = AU.StainJitter(sigma=0.3, bias=0.1, p=1)(image=img)["image"]
    assert out.dtype == np.uint8 and out.shape == img.shape and not np.array_equal(out, img)


def test_mask_jitter_erodes_dilates_and_shifts():
    t = AU.MaskPerturb(dropout=0.0, jitter=1.0, max_px=3)
    m = np.zeros((20, 20, 2), np.uint8)
    m[5:15, 5:15, 0] = 255
    m[8:12, 8:12, 1] = 255
    grown = t.apply_to_mask(m, perturb=True, radii=[1, -1], shift=[0, 0])
    assert (grown[..., 0] > 0).sum() > (m[..., 0] > 0).sum()  # dilated
    assert (grown[..., 1] > 0).sum() < (m[..., 1] > 0).sum()  # eroded
    moved = t.apply_to_mask(m, perturb=True, radii=[0, 0], shift=[2, -1])
    assert np.array_equal(moved[7:17, 4:14, 0], m[5:15, 5:15, 0])
    assert np.array_equal(t.apply_to_mask(m, perturb=False), m)
    assert t.apply_to_mask(m, blank=True).sum() == 0
    img = np.full((20, 20, 3), 7, np.uint8)
    assert np.array_equal(t.apply(img), img)


def test_grey_augmentation_in_segmentation_only():
    rng = np.random.default_rng(0)
    img = rng.integers(0, 255, (32, 32, 3), dtype=np.uint8)
    mask = np.zeros((32, 32, 2), np.uint8)
    grey = AU.AugmentConfig(rotate=0, scale=0, flip=False, stain=0, blur=0, grey=1.0)
    out = AU.seg_transforms(grey, train=True, patch_size=32, seed=0)(image=img, mask=mask)["image"]
    assert np.array_equal(out[..., 0], out[..., 1]) and np.array_equal(out[..., 1], out[..., 2])
    same = AU.cls_transforms(grey, train=True, image_size=32, seed=0)(image=img, mask=mask)["image"]
    assert np.array_equal(same, img)  # the stain colour of a crop is diagnostic: never greyed


def test_fade_scales_optical_density_against_the_background():
    img = np.full((20, 20, 3), 235, np.uint8)  # background; its 99th percentile I0 = 235 + 1
    img[5:15, 5:15] = (150, 120, 200)  # a cell
    fade = AU.Fade(strength=0.7, p=1.0)
    assert np.array_equal(fade.apply(img, k=1.0), img)
    half = fade.apply(img, k=0.5)
    assert np.array_equal(half[0, 0], img[0, 0])  # the background stays
    od = -np.log((img[10, 10].astype(float) + 1) / 236)
    od_half = -np.log((half[10, 10].astype(float) + 1) / 236)
    np.testing.assert_allclose(od_half, od / 2, atol=0.01)  # Beer-Lambert: half the thickness
    assert half[10, 10].tolist() == [188, 168, 217]  # 236 * (151/236) ** 0.5 - 1 = 187.8, ...
    mask = np.zeros((20, 20, 2), np.uint8)
    mask[5:15, 5:15, 0] = 255
    mask[8:12, 8:12, 1] = 255  # a nucleus: fades by sqrt(k)
    img[8:12, 8:12] = 60
    out = fade.apply(img, k=0.25, **fade.get_params_dependent_on_data({}, {"mask": mask}))
    od_nuc = -np.log((out[10, 10].astype(float) + 1) / 236)
    np.testing.assert_allclose(od_nuc, -np.log(61 / 236) / 2, atol=0.01)
    od_cyt = -np.log((out[6, 6].astype(float) + 1) / 236)
    np.testing.assert_allclose(od_cyt, od / 4, atol=0.01)
    assert np.array_equal(fade(image=img, mask=mask)["mask"], mask)  # masks untouched
    ks = [fade.get_params()["k"] for _ in range(200)]
    assert 0.3 <= min(ks) < 0.4 and 0.9 < max(ks) <= 1.0


def test_fade_in_segmentation_only():
    img = np.full((32, 32, 3), 230, np.uint8)
    img[8:24, 8:24] = 140
    mask = np.zeros((32, 32, 2), np.uint8)
    cfg = AU.AugmentConfig(rotate=0, scale=0, flip=False, stain=0, blur=0, grey=0, fade=0.9)
    outs = [AU.seg_transforms(cfg, train=True, patch_size=32, seed=s)(image=img, mask=mask)["image"] for s in range(8)]
    faded = [o for o in outs if not np.array_equal(o, img)]
    assert 0 < len(faded) < 8  # half the patches
    assert all(o[16, 16, 0] > 140 and o[0, 0, 0] == 230 for o in faded)  # the cell lighter, background kept
    assert np.array_equal(AU.cls_transforms(cfg, train=True, image_size=32, seed=0)(image=img, mask=mask)["image"], img)
    off = AU.AugmentConfig(fade=0.0)
    assert "Fade" not in repr(AU.seg_transforms(off, train=True, patch_size=32))
    with pytest.raises(ValueError, match="fade must be a number in"):
        AU.check_augment_config(AU.AugmentConfig(fade=1.0), "here")


def test_run_augment_config_turns_fields_a_run_lacks_off():
    old = {"rotate": 90.0, "scale": 0.15, "flip": True, "stain": 0.3, "blur": 0.3}  # before grey and fade
    assert AU.run_augment_config(old) == AugmentConfig(rotate=90.0, grey=0.0, fade=0.0)
    now = dataclasses.asdict(AugmentConfig(fade=0.4))
    assert AU.run_augment_config(now) == AugmentConfig(fade=0.4)


def test_augment_config_round_trip(tmp_path, monkeypatch):
    monkeypatch.setenv("CERVIX_ROOT", str(tmp_path))
    cfg = AugmentConfig(rotate=45.0, scale=0.2, flip=False, stain=0.55, blur=0.1)
    path = AU.save_augment_config(cfg, profile="smoke")
    assert path == tmp_path / "runs" / "smoke" / "augment.json"
    assert json.loads(path.read_text()) == {
        "rotate": 45.0,
        "scale": 0.2,
        "flip": False,
        "stain": 0.55,
        "blur": 0.1,
        "grey": 0.25,
        "fade": 0.5,
    }
    assert AU.load_augment_config(profile="smoke") == cfg
    assert AU.load_augment_config(path) == cfg
    monkeypatch.setenv("CERVIX_PROFILE", "smoke")
    assert AU.augment_config_path() == path
    # missing file: defaults, or an error when asked
    assert AU.load_augment_config(profile="paper") == AugmentConfig()
    with pytest.raises(FileNotFoundError, match="augment.json"):
        AU.load_augment_config(profile="paper", missing_ok=False)


def test_augment_config_bad_files_and_values(tmp_path):
    p = tmp_path / "a.json"
    p.write_text("{not json")
    with pytest.raises(ValueError, match="a.json.*not valid JSON"):
        AU.load_augment_config(p)
    p.write_text(json.dumps({"rotate": 10, "shear": 3}))
    with pytest.raises(ValueError, match="unknown augmentation field.*shear"):
        AU.load_augment_config(p)
    p.write_text(json.dumps({"stain": 2.0}))
    with pytest.raises(ValueError, match="stain must be"):
        AU.load_augment_config(p)
    with pytest.raises(ValueError, match="rotate must be"):
        AU.save_augment_config(AugmentConfig(rotate=-5), tmp_path / "b.json")
    assert not (tmp_path / "b.json").exists()


# ------------------------------------------------------------------------------------ scale views
def _one_cell_field(size: int = 96, r: int = 12) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """A field with one disk cell (its nucleus a smaller disk); image grey levels mirror the masks."""
    import cv2

    cyt = np.zeros((size, size), np.uint8)
    nuc = np.zeros((size, size), np.uint8)
    cv2.circle(cyt, (size // 2, size // 2), r, 255, -1)
    cv2.circle(nuc, (size // 2, size // 2), r // 3, 255, -1)
    img = np.dstack([cyt // 2 + nuc // 2] * 3).astype(np.uint8) + 20
    return img, np.dstack([cyt, nuc]), AU.cell_boxes(None, cyt)


def test_scale_window_magnifies_without_mirrored_copies():
    img, mask, boxes = _one_cell_field()
    rng = np.random.default_rng(0)
    # 2x: a 32 px window of the field resized to the 64 px patch, the masks with it
    out_img, out_mask = AU.scale_view(img, mask, boxes, 64, AU.ScaleViews((2.0, 2.0)), rng)
    assert out_img.shape == (64, 64, 3) and out_mask.shape == (64, 64, 2)
    assert set(np.unique(out_mask)) <= {0, 255}
    # 0.25x: the 96 px field shrinks to 24 px; the rest of the patch is flat padding, background
    small_img, small_mask = AU.scale_view(img, mask, boxes, 64, AU.ScaleViews((0.25, 0.25)), rng)
    fg = np.argwhere(small_mask[..., 0] > 0)
    assert len(fg) and np.ptp(fg[:, 0]) <= 8  # one cell of ~6 px, not a tiling of mirrored cells
    assert (small_mask[..., 0] > 0).sum() == pytest.approx(np.pi * 3**2, rel=0.6)


def test_cell_views_fill_30_to_90_percent_and_pad_with_background():
    img, mask, boxes = _one_cell_field(r=10)
    views = AU.ScaleViews(cell_views=1.0)
    rng = np.random.default_rng(0)
    fills, letterboxed = [], 0
    for _ in range(30):
        out_img, out_mask = AU.scale_view(img, mask, boxes, 64, views, rng)
        ys, xs = np.nonzero(out_mask[..., 0])
        fills.append(max(np.ptp(ys), np.ptp(xs)) / 64)
        flat_rows = (np.ptp(out_img.reshape(64, -1), axis=1) == 0) & (out_mask[..., 0].max(1) == 0)
        letterboxed += bool(flat_rows[0] or flat_rows[-1] or flat_rows.sum() > 2)
        assert (out_mask[..., 1] <= out_mask[..., 0]).all()  # the nucleus stays inside its cell
    assert 0.27 <= min(fills) and max(fills) <= 0.93 and np.ptp(fills) > 0.2
    assert letterboxed >= 5


def test_cell_boxes_from_cells_or_cytoplasm_parts():
    cells = np.zeros((2, 20, 30), bool)
    cells[0, 2:5, 3:9] = True
    cells[1, 10:18, 20:25] = True
    assert AU.cell_boxes(cells, np.zeros((20, 30), np.uint8)).tolist() == [[2, 3, 5, 9], [10, 20, 18, 25]]
    cyt = (cells.any(0) * 255).astype(np.uint8)
    assert sorted(AU.cell_boxes(None, cyt).tolist()) == [[2, 3, 5, 9], [10, 20, 18, 25]]
    assert AU.cell_boxes(None, np.zeros((5, 5), np.uint8)).shape == (0, 4)


def test_views_are_inactive_by_default_and_old_augment_files_still_load(tmp_path):
    assert not AU.ScaleViews().active and AU.ScaleViews((0.25, 4.0)).active and AU.ScaleViews(cell_views=0.1).active
    p = tmp_path / "augment.json"  # a file notebook 01 wrote before the scale views existed
    p.write_text(json.dumps({"rotate": 90.0, "scale": 0.15, "flip": True, "stain": 0.3, "blur": 0.3, "grey": 0.25}))
    assert AU.load_augment_config(p) == AugmentConfig(rotate=90.0)
