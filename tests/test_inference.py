"""Tests for cervix.inference.tiling: exact tiling/blending, memory bound, flip TTA, mask writing and QC."""
from __future__ import annotations

import json

import cv2
from pathlib import Path

import numpy as np
import pytest
import torch
from torch import nn

from cervix.data.datasets import IMAGENET_MEAN, IMAGENET_STD
from cervix.cells.instances import InstanceConfig, centre_instance, separate
from cervix.core.masks import binarise
from cervix.inference.tiling import blend_window, predict_tiled, tile_starts
from cervix.inference.writing import list_images, write_masks


def conv_net(seed: int = 0, symmetric: bool = False) -> nn.Module:
    """Three 3x3 convs with zero padding: receptive-field radius 3 pixels."""
    torch.manual_seed(seed)
    net = nn.Sequential(nn.Conv2d(3, 6, 3, padding=1), nn.ReLU(), nn.Conv2d(6, 6, 3, padding=1),
                        nn.ReLU(), nn.Conv2d(6, 2, 3, padding=1))
    if symmetric:  # kernels invariant under h and v flips -> the net is flip-equivariant
        with torch.no_grad():
            for m in net:
                if isinstance(m, nn.Conv2d):
                    w = m.weight
                    m.weight.copy_((w + w.flip(-1) + w.flip(-2) + w.flip(-1, -2)) / 4)
    return net.eval()


def rng_image(h: int, w: int, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, (h, w, 3), dtype=np.uint8)


def whole_image_reference(model: nn.Module, image: np.ndarray, pad: int) -> np.ndarray:
    """The model on the whole image, reflect-padded by ``pad`` (as the tiler pads), cropped back."""
    p = np.pad(image, ((pad, pad), (pad, pad), (0, 0)), mode="reflect").astype(np.float32) / 255
    x = (torch.from_numpy(p).permute(2, 0, 1)[None] - torch.tensor(IMAGENET_MEAN).view(1, 3, 1, 1)) \
        / torch.tensor(IMAGENET_STD).view(1, 3, 1, 1)
    with torch.no_grad():
        prob = torch.sigmoid(model(x))[0].numpy()
    return prob[:, pad:-pad, pad:-pad]


def test_tiling_reproduces_whole_image_exactly():
    """Tiled + blended output == one pass over the whole image (atol 1e-5), for a conv-only net.

    Why this can be exact: the toy net has receptive-field radius r = 3 (three 3x3 convs). A tile's
    output differs from the whole-image output only within r pixels of the tile edge (there the
    net sees its own zero padding instead of the neighbouring pixels). predict_tiled gives zero
    blending weight to a ``margin`` of 8 >= r pixels at each tile edge, and the overlap (32 px)
    is >= 2 * margin, so every pixel is a weighted mean of tile outputs that are all exact there.
    At the image border the tiler reflect-pads the image, so the reference is the net run on the
    reflect-padded whole image (any pad >= r gives the same values inside), not on the raw image
    with the net's zero padding. The negative control (margin 0) shows the test would notice
    edge effects.
    """
    model = conv_net()
    image = rng_image(150, 203)
    ref = whole_image_reference(model, image, pad=8)
    tiled = predict_tiled(model, image, tile=64, overlap=0.5, margin=8, batch_size=3)
    assert tiled.shape == (2, 150, 203) and tiled.dtype == np.float32
    np.testing.assert_allclose(tiled, ref, atol=1e-5, rtol=0)
    no_margin = predict_tiled(model, image, tile=64, overlap=0.5, margin=0)
    assert np.abs(no_margin - ref).max() > 1e-3  # tile-edge effects are real without the margin


def test_image_smaller_than_tile_and_default_margin():
    model = conv_net()
    image = rng_image(40, 50, seed=1)
    tiled = predict_tiled(model, image, tile=64, overlap=0.25)  # margin 64*0.25 // 4 = 4 >= 3
    np.testing.assert_allclose(tiled, whole_image_reference(model, image, pad=4), atol=1e-5, rtol=0)


def test_forward_never_sees_more_than_a_batch_of_tiles():
    """A 2048x1536 field goes through in tiles: no forward input exceeds batch * 3 * tile^2."""
    model = nn.Conv2d(3, 2, 1)
    sizes: list[tuple[int, ...]] = []
    model.register_forward_pre_hook(lambda mod, args: sizes.append(tuple(args[0].shape)))
    image = rng_image(1536, 2048, seed=2)
    probs = predict_tiled(model, image, tile=256, overlap=0.25, batch_size=4)
    assert probs.shape == (2, 1536, 2048)
    assert max(int(np.prod(s)) for s in sizes) <= 4 * 3 * 256 * 256
    assert all(s[1:] == (3, 256, 256) for s in sizes)
    starts_y, _, _ = tile_starts(1536, 256, 192, 16)
    starts_x, _, _ = tile_starts(2048, 256, 192, 16)
    assert sum(s[0] for s in sizes) == len(starts_y) * len(starts_x)


def test_flip_tta_on_flip_equivariant_net_equals_no_tta():
    model = conv_net(symmetric=True)
    image = rng_image(96, 130, seed=3)
    plain = predict_tiled(model, image, tile=64, overlap=0.25)
    tta = predict_tiled(model, image, tile=64, overlap=0.25, tta=True)
    np.testing.assert_allclose(tta, plain, atol=1e-5, rtol=0)
    skewed = conv_net(seed=1)  # generic kernels: TTA changes the result
    assert np.abs(predict_tiled(skewed, image, tile=64, tta=True) - predict_tiled(skewed, image, tile=64)).max() > 1e-4


def test_scale_bf16_and_bad_input():
    model = conv_net()
    image = rng_image(100, 140, seed=4)
    half = predict_tiled(model, image, tile=64, scale=0.5)
    assert half.shape == (2, 100, 140) and 0 <= half.min() and half.max() <= 1
    fp32 = predict_tiled(model, image, tile=64)
    bf16 = predict_tiled(model, image, tile=64, amp="bf16")
    assert bf16.dtype == np.float32 and np.abs(bf16 - fp32).max() < 0.03
    with pytest.raises(ValueError, match="multiple of 32"):
        predict_tiled(model, image, tile=100)
    with pytest.raises(ValueError, match="uint8"):
        predict_tiled(model, image.astype(np.float32))
    with pytest.raises(ValueError, match="RGB"):
        predict_tiled(model, image[..., 0])
    with pytest.raises(ValueError, match="overlap"):
        predict_tiled(model, image, overlap=1.0)
    assert model.training is False


def test_blend_window_is_a_partition_of_unity():
    tile, ov, margin = 64, 32, 8
    w = blend_window(tile, ov, margin)
    assert (w[:margin] == 0).all() and (w[-margin:] == 0).all() and (w[margin:-margin] > 0).all()
    assert w[tile // 2] == 1.0
    stride = tile - ov
    total = np.zeros(stride * 4 + tile)
    for k in range(5):
        total[k * stride:k * stride + tile] += w
    np.testing.assert_allclose(total[stride + margin:4 * stride + tile - stride - margin], 1.0, atol=1e-12)


def test_binarise_by_hand():
    probs = np.array([[[0.2, 0.5], [0.51, 0.9]], [[0.7, 0.1], [0.3, 0.95]]], np.float32)
    cyt, nuc = binarise(probs, (0.5, 0.8))
    assert cyt.tolist() == [[0, 0], [255, 255]] and nuc.tolist() == [[0, 0], [0, 255]]
    assert cyt.dtype == np.uint8
    with pytest.raises(ValueError):
        binarise(probs, (0.5,))


class BrightnessNet(nn.Module):
    """Logits from mean brightness (inputs in [0, 1], normalise=False): cell > 0.25, nucleus > 0.75."""

    def __init__(self) -> None:
        super().__init__()
        self.dummy = nn.Parameter(torch.zeros(()))

    def forward(self, x):
        m = x.mean(1, keepdim=True)  # (B, 1, H, W)
        return torch.cat([40 * (m - 0.25), 40 * (m - 0.75)], 1) + self.dummy


def test_write_masks_layout_values_and_qc(tmp_path):
    src = tmp_path / "crops"
    (src / "koilocytotic").mkdir(parents=True)
    (src / "parabasal").mkdir(parents=True)
    cell = np.zeros((70, 90, 3), np.uint8)
    cv2.circle(cell, (45, 35), 25, (150, 150, 150), -1)
    cv2.circle(cell, (45, 35), 8, (250, 250, 250), -1)
    cv2.imwrite(str(src / "koilocytotic" / "c1.png"), cell)
    cv2.imwrite(str(src / "koilocytotic" / "c1-d.png"), cell)  # Herlev mask image: skipped
    cv2.imwrite(str(src / "parabasal" / "empty.jpg"), np.zeros((50, 60, 3), np.uint8))
    (src / "parabasal" / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\n not really")
    (src / "parabasal" / "notes.txt").write_text("x")  # not an image: listed, not used
    (src / ".ipynb_checkpoints").mkdir()
    cv2.imwrite(str(src / ".ipynb_checkpoints" / "c1.png"), cell)  # inside a hidden folder
    passed_over: list = []
    assert [r for _, r in list_images(src, passed_over)] == ["koilocytotic/c1.png", "parabasal/broken.png",
                                                             "parabasal/empty.jpg"]
    assert {Path(p).name: why for p, why in passed_over} == {
        "c1-d.png": "Herlev mask image (*-d)", "notes.txt": "not an image", "c1.png": "hidden file"}
    out = tmp_path / "masks"
    with pytest.warns(UserWarning, match="1 of 3 images failed.*broken.png"):
        qc = write_masks(BrightnessNet(), src, out, (0.5, 0.5), tile=64, normalise=False, progress=False)
    for head in ("cytoplasm", "nucleus"):
        m1 = cv2.imread(str(out / head / "koilocytotic" / "c1.png"), cv2.IMREAD_UNCHANGED)
        m2 = cv2.imread(str(out / head / "parabasal" / "empty.png"), cv2.IMREAD_UNCHANGED)
        assert m1.shape == (70, 90) and m2.shape == (50, 60) and m1.dtype == np.uint8
        assert set(np.unique(m1)) == {0, 255} and set(np.unique(m2)) == {0}
    assert not (out / "cytoplasm" / "koilocytotic" / "c1-d.png").exists()
    c1 = next(r for r in qc["images"] if r["rel"] == "koilocytotic/c1.png")
    assert abs(c1["cytoplasm_area"] - np.pi * 25**2) < 0.06 * np.pi * 25**2
    assert abs(c1["nucleus_area"] - np.pi * 8**2) < 0.15 * np.pi * 8**2 and c1["flags"] == []
    assert qc["flagged"]["empty_cytoplasm"] == ["parabasal/empty.jpg"]
    assert qc["flagged"]["empty_nucleus"] == ["parabasal/empty.jpg"]
    assert (qc["n_images"], qc["n_written"], qc["n_errors"]) == (3, 2, 1)
    assert qc["errors"][0]["rel"] == "parabasal/broken.png" and "broken.png" in qc["errors"][0]["error"]
    on_disk = json.loads((out / "qc.json").read_text())
    assert on_disk["n_errors"] == 1 and (out / "qc.csv").is_file()
    # every file not written is listed once, with the one-line summary
    assert qc["report"] == f"2 file(s) used, 4 skipped: see {out / 'skipped.csv'}"
    listed = (out / "skipped.csv").read_text()
    assert all(n in listed for n in ("c1-d.png", "notes.txt", ".ipynb_checkpoints", "broken.png"))


def test_write_masks_all_failing_raises(tmp_path):
    bad = tmp_path / "bad.png"
    bad.write_bytes(b"nope")
    with pytest.raises(RuntimeError, match="all 1 images failed.*bad.png"):
        write_masks(BrightnessNet(), [(bad, "bad.png")], tmp_path / "out", progress=False)


def _discs(shape, discs):
    """uint8 {0, 255} mask of filled discs ``(x, y, r)``."""
    m = np.zeros(shape, np.uint8)
    for x, y, r in discs:
        cv2.circle(m, (x, y), r, 255, -1)
    return m


def test_centre_instance_keeps_the_centre_cell_and_its_nucleus():
    from cervix.cells.instances import InstanceConfig, centre_instance, separate

    cyt = _discs((64, 64), [(32, 32, 12), (6, 6, 5)])  # centre cell, neighbour in the corner
    nuc = _discs((64, 64), [(30, 32, 3), (6, 6, 2)])
    cfg = InstanceConfig(min_cell_area=1, min_nucleus_area=1)
    c, n = centre_instance(separate(np.stack([cyt, nuc]) / 255.0, cfg))
    assert c[32, 32] == 255 and c[6, 6] == 0 and (c > 0).sum() == (cyt[16:48, 16:48] > 0).sum()
    assert n[32, 30] == 255 and n[6, 6] == 0 and set(np.unique(n)) == {0, 255}
    # centre on background: the cell nearest to the centre is kept
    ring = _discs((64, 64), [(40, 32, 4), (4, 60, 3)])
    c, n = centre_instance(separate(np.stack([ring, np.zeros_like(ring)]) / 255.0, cfg))
    assert c[32, 40] == 255 and c[60, 4] == 0 and n.max() == 0
    # no cell at all: both empty
    c, n = centre_instance(separate(np.zeros((2, 64, 64)), cfg))
    assert c.max() == 0 and n.max() == 0


def test_single_cell_masks_cut_a_touching_neighbour_off_at_the_watershed_line(monkeypatch, tmp_path):
    # two overlapping cells, each with its nucleus: one connected component, two instances
    from cervix.inference import tiling as I

    cyt = _discs((80, 80), [(40, 40, 16), (66, 40, 14)])
    nuc = _discs((80, 80), [(40, 40, 5), (68, 40, 5)])
    probs = np.stack([cyt, nuc]).astype(np.float32) / 255.0
    monkeypatch.setattr(I, "predict_tiled", lambda model, image, **kw: probs)
    c, n = I.single_cell_masks(None, np.zeros((80, 80, 3), np.uint8), (0.5, 0.5), scales=(1.0,))
    assert c[40, 40] == 255 and c[40, 70] == 0 and n[40, 68] == 0  # the neighbour and its nucleus are out
    assert 0 < (c > 0).sum() < (cyt > 0).sum() and n[40, 40] == 255
    # `masks --single-cell` (write_masks) writes the centre instance too
    img = tmp_path / "crop.png"
    cv2.imwrite(str(img), np.full((80, 80, 3), 128, np.uint8))
    write_masks(None, [(img, "crop.png")], tmp_path / "out", single_cell=True, progress=False)
    assert np.array_equal(cv2.imread(str(tmp_path / "out" / "cytoplasm" / "crop.png"), cv2.IMREAD_GRAYSCALE), c)
    assert np.array_equal(cv2.imread(str(tmp_path / "out" / "nucleus" / "crop.png"), cv2.IMREAD_GRAYSCALE), n)


def _fake_probs(by_scale):
    """A stand-in for predict_tiled whose output depends only on the scale asked for."""
    def fake(model, image, scale=1.0, **kw):
        return by_scale[round(scale, 2)](image.shape[:2])
    return fake


def _probs(shape, nucleus: bool, sharp: float):
    h, w = shape
    p = np.full((2, h, w), 0.5 - sharp / 2, np.float32)
    p[0, h // 4: 3 * h // 4, w // 4: 3 * w // 4] = 0.5 + sharp / 2  # a cell in the middle
    if nucleus:
        p[1, 3 * h // 8: 5 * h // 8, 3 * w // 8: 5 * w // 8] = 0.5 + sharp / 2
    return p


def test_single_cell_masks_average_the_scales(monkeypatch):
    from cervix.inference import tiling as I

    img = np.zeros((200, 160, 3), np.uint8)
    # the nucleus is found at two of the four scales: its mean probability there is 0.5
    monkeypatch.setattr(I, "predict_tiled", _fake_probs({
        1.0: lambda s: _probs(s, nucleus=False, sharp=0.9),
        0.67: lambda s: _probs(s, nucleus=False, sharp=0.9),
        0.5: lambda s: _probs(s, nucleus=True, sharp=0.9),
        0.33: lambda s: _probs(s, nucleus=True, sharp=0.9),
    }))
    cyt, nuc = I.single_cell_masks(None, img, (0.5, 0.6))
    assert cyt.shape == nuc.shape == (200, 160)
    assert nuc[100, 80] == 0 and cyt[100, 80] == 255 and cyt[0, 0] == 0
    cyt, nuc = I.single_cell_masks(None, img, (0.5, 0.4))
    assert nuc[100, 80] == 255 and nuc[0, 0] == 0
    # only the run's scale: no averaging
    cyt, nuc = I.single_cell_masks(None, img, (0.5, 0.4), scales=(1.0,))
    assert not nuc.any()
    # scales that shrink a crop below min_side are not used (100 * 0.33 < 48)
    seen = []
    monkeypatch.setattr(I, "predict_tiled", lambda m, im, scale=1.0, **kw: seen.append(scale) or _probs(im.shape[:2], True, 0.5))
    I.single_cell_masks(None, np.zeros((120, 100, 3), np.uint8), (0.5, 0.5), scale=1.0)
    assert seen == [1.0, 0.67, 0.5]
    seen.clear()
    I.single_cell_masks(None, np.zeros((30, 30, 3), np.uint8), (0.5, 0.5))
    assert seen == [1.0]  # the first scale is always used


def test_single_cell_masks_at_one_scale_equals_the_plain_path():
    import torch

    from cervix.inference import tiling as I
    from cervix.models.networks import DualHeadAttConvNeXtUNet

    torch.manual_seed(0)
    model = DualHeadAttConvNeXtUNet("convnext_atto", decoder_channels=(32, 16, 8)).eval()
    img = np.random.default_rng(0).integers(0, 255, (70, 90, 3), dtype=np.uint8)
    probs = I.predict_tiled(model, img, tile=64)
    want = centre_instance(separate(probs, InstanceConfig()))
    cyt, nuc = I.single_cell_masks(model, img, (0.5, 0.5), scales=(1.0,), tile=64)
    assert np.array_equal(cyt, want[0]) and np.array_equal(nuc, want[1])


def test_masks_refuses_a_name_clash_before_writing_anything(tmp_path):
    src = tmp_path / "crops" / "parabasal"
    src.mkdir(parents=True)
    img = np.full((40, 40, 3), 200, np.uint8)
    cv2.imwrite(str(src / "x.png"), img)
    cv2.imwrite(str(src / "x.jpg"), img)
    cv2.imwrite(str(src / "y.png"), img)
    out = tmp_path / "masks"
    with pytest.raises(ValueError, match=r"x.jpg and .*x.png would both write the mask parabasal/x.png"):
        write_masks(nn.Conv2d(3, 2, 1), tmp_path / "crops", out, tile=64, progress=False)
    assert not out.exists() or not any(out.rglob("*.png"))
