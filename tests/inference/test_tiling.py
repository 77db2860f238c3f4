"""Tests for cervix.inference.tiling: exact tiling/blending, memory bound, flip TTA, mask writing and QC."""

from __future__ import annotations

import cv2
import numpy as np
import pytest
import torch
from torch import nn

from cervix.cells.instances import InstanceConfig, centre_instance, separate
from cervix.data.datasets import IMAGENET_MEAN, IMAGENET_STD
from cervix.inference.tiling import blend_window, predict_tiled, tile_starts
from cervix.inference.writing import write_masks


def conv_net(seed: int = 0, symmetric: bool = False) -> nn.Module:
    """Three 3x3 convs with zero padding: receptive-field radius 3 pixels."""
    torch.manual_seed(seed)
    net = nn.Sequential(
        nn.Conv2d(3, 6, 3, padding=1),
        nn.ReLU(),
        nn.Conv2d(6, 6, 3, padding=1),
        nn.ReLU(),
        nn.Conv2d(6, 2, 3, padding=1),
    )
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
    x = (torch.from_numpy(p).permute(2, 0, 1)[None] - torch.tensor(IMAGENET_MEAN).view(1, 3, 1, 1)) / torch.tensor(
        IMAGENET_STD
    ).view(1, 3, 1, 1)
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
        total[k * stride : k * stride + tile] += w
    np.testing.assert_allclose(total[stride + margin : 4 * stride + tile - stride - margin], 1.0, atol=1e-12)


def _discs(shape, discs):
    """uint8 {0, 255} mask of filled discs ``(x, y, r)``."""
    m = np.zeros(shape, np.uint8)
    for x, y, r in discs:
        cv2.circle(m, (x, y), r, 255, -1)
    return m


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
    p[0, h // 4 : 3 * h // 4, w // 4 : 3 * w // 4] = 0.5 + sharp / 2  # a cell in the middle
    if nucleus:
        p[1, 3 * h // 8 : 5 * h // 8, 3 * w // 8 : 5 * w // 8] = 0.5 + sharp / 2
    return p


def test_single_cell_masks_average_the_scales(monkeypatch):
    from cervix.inference import tiling as I

    img = np.zeros((200, 160, 3), np.uint8)
    # the nucleus is found at two of the four scales: its mean probability there is 0.5
    monkeypatch.setattr(
        I,
        "predict_tiled",
        _fake_probs(
            {
                1.0: lambda s: _probs(s, nucleus=False, sharp=0.9),
                0.67: lambda s: _probs(s, nucleus=False, sharp=0.9),
                0.5: lambda s: _probs(s, nucleus=True, sharp=0.9),
                0.33: lambda s: _probs(s, nucleus=True, sharp=0.9),
            }
        ),
    )
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
    monkeypatch.setattr(
        I, "predict_tiled", lambda m, im, scale=1.0, **kw: seen.append(scale) or _probs(im.shape[:2], True, 0.5)
    )
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
    want = centre_instance(separate(probs, InstanceConfig(min_nucleus_score=0.0)))  # no score on this path
    cyt, nuc = I.single_cell_masks(model, img, (0.5, 0.5), scales=(1.0,), tile=64)
    assert np.array_equal(cyt, want[0]) and np.array_equal(nuc, want[1])


def test_flip_averaged_probabilities_by_hand():
    from cervix.inference.tiling import flip_averaged_probabilities, tta_flips

    assert tta_flips(False) == [()] and tta_flips(True) == [(), (-1,), (-2,)]
    ramp = torch.arange(6.0).view(1, 1, 2, 3) - 2.5  # logits that ignore the input
    x = torch.zeros(1, 3, 2, 3)
    plain = flip_averaged_probabilities(lambda xi: ramp, x, False, torch.device("cpu"), None)
    assert torch.allclose(plain, torch.sigmoid(ramp))
    # each flipped answer is flipped back: identity, then the ramp flipped along W and along H
    want = (torch.sigmoid(ramp) + torch.sigmoid(ramp.flip(-1)) + torch.sigmoid(ramp.flip(-2))) / 3
    assert torch.allclose(flip_averaged_probabilities(lambda xi: ramp, x, True, torch.device("cpu"), None), want)
    # a model that follows its input (logits = input) is unchanged by the flips
    y = torch.randn(2, 1, 4, 6)
    assert torch.allclose(
        flip_averaged_probabilities(lambda xi: xi, y, True, torch.device("cpu"), None), torch.sigmoid(y)
    )
