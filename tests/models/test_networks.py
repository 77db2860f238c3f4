"""Models and blocks: shapes, size errors, gradient flow per head, local weight loading."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from cervix.models.networks import (
    ConvNeXtAttentionClassifier,
    DualHeadAttConvNeXtUNet,
    SegModelConfig,
    UpBlock,
    count_parameters,
    describe,
    upsample2x_conv3x3,
)

torch.manual_seed(0)


SEG_ENCODERS = ["convnext_atto", "resnet18"]


@pytest.fixture(scope="module", params=SEG_ENCODERS)
def seg_model(request):
    return DualHeadAttConvNeXtUNet(request.param, decoder_channels=(32, 16, 8)).eval()


@pytest.mark.parametrize("size", [64, 96, 256])
def test_seg_output_shape(seg_model, size):
    with torch.no_grad():
        out = seg_model(torch.randn(1, 3, size, size))
    assert out.shape == (1, 2, size, size)
    assert torch.isfinite(out).all()


def test_seg_non_square_and_third_backbone():
    model = DualHeadAttConvNeXtUNet("efficientnet_b0", decoder_channels=(16, 16, 8)).eval()
    with torch.no_grad():
        assert model(torch.randn(2, 3, 64, 96)).shape == (2, 2, 64, 96)
    # efficientnet has 5 feature stages; the decoder uses the deepest four
    assert model.encoder_reductions == [4, 8, 16, 32]


def test_seg_default_channels_follow_feature_info():
    model = DualHeadAttConvNeXtUNet("convnext_atto")
    assert model.encoder_channels == [40, 80, 160, 320]
    assert [b.conv2[0].out_channels for b in model.decoders["nucleus"].blocks] == [256, 128, 64]


@pytest.mark.parametrize("heads", [("cytoplasm",), ("nucleus",), ("nucleus", "cytoplasm")])
def test_seg_heads_subset_equals_channels_of_full_forward(seg_model, heads):
    x = torch.randn(2, 3, 64, 64)
    with torch.no_grad():
        full, part = seg_model(x), seg_model(x, heads=heads)
    idx = [("cytoplasm", "nucleus").index(h) for h in heads]
    assert part.shape == (2, len(heads), 64, 64)
    torch.testing.assert_close(part, full[:, idx])


def test_seg_heads_subset_skips_the_other_decoder():
    model = DualHeadAttConvNeXtUNet("convnext_atto", decoder_channels=(16, 16, 8)).eval()
    calls = []
    model.decoders["nucleus"].register_forward_hook(lambda *a: calls.append(1))
    model(torch.randn(1, 3, 64, 64), heads=("cytoplasm",))
    assert calls == []


@pytest.mark.parametrize("heads", [(), ("cell",), ("cytoplasm", "cytoplasm"), "nucleus"])
def test_seg_rejects_unknown_repeated_or_no_heads(seg_model, heads):
    with pytest.raises(ValueError, match="heads must be"):
        seg_model(torch.randn(1, 3, 64, 64), heads=heads)


@pytest.mark.parametrize("shape", [(100, 100), (64, 100), (96, 48)])
def test_seg_rejects_sizes_not_multiple_of_32(seg_model, shape):
    with pytest.raises(ValueError, match="multiples of 32"):
        seg_model(torch.randn(1, 3, *shape))


@pytest.mark.parametrize("head", [0, 1])
def test_gradients_reach_encoder_from_each_head(head):
    model = DualHeadAttConvNeXtUNet("convnext_atto", decoder_channels=(16, 16, 8)).train()
    out = model(torch.randn(2, 3, 64, 64))
    out[:, head].sum().backward()
    enc_grad = sum(p.grad.abs().sum() for p in model.encoder.parameters() if p.grad is not None)
    assert enc_grad > 0
    names = ["cytoplasm", "nucleus"]
    used, unused = model.decoders[names[head]], model.decoders[names[1 - head]]
    assert all(p.grad is not None for p in used.parameters())
    assert all(p.grad is None or p.grad.abs().sum() == 0 for p in unused.parameters())


def test_seg_config_roundtrip():
    model = DualHeadAttConvNeXtUNet.from_config(SegModelConfig(encoder="resnet18", decoder_channels=(16, 8, 8)))
    assert model.config.encoder == "resnet18" and model.config.decoder_channels == (16, 8, 8)


def test_upsample2x_conv3x3_equals_interpolate_then_conv():
    x = torch.randn(2, 5, 4, 6, dtype=torch.float64)
    w = torch.randn(3, 5, 3, 3, dtype=torch.float64)
    ref = F.conv2d(F.interpolate(x, scale_factor=2, mode="nearest"), w, padding=1)
    torch.testing.assert_close(upsample2x_conv3x3(x, w), ref)


@pytest.mark.parametrize("mode", ["train", "eval"])
def test_up_block_fast_path_equals_literal_block(mode):
    block = getattr(UpBlock(8, 6, 4).double(), mode)()
    x = torch.randn(2, 8, 12, 12, dtype=torch.float64, requires_grad=True)  # 288 coarse positions: fast path
    skip = torch.randn(2, 6, 24, 24, dtype=torch.float64)
    fast, ref = block(x, skip), block.forward_reference(x, skip)
    torch.testing.assert_close(fast, ref)
    (g_fast,) = torch.autograd.grad(fast.square().sum(), x)
    (g_ref,) = torch.autograd.grad(ref.square().sum(), x)
    torch.testing.assert_close(g_fast, g_ref)


# --------------------------------------------------------------------------- classifier
@pytest.mark.parametrize("encoder", ["convnext_atto", "resnet18"])
def test_classifier_shapes_and_features(encoder):
    model = ConvNeXtAttentionClassifier(encoder, num_classes=7, in_chans=5).eval()
    x = torch.randn(2, 5, 64, 64)
    with torch.no_grad():
        assert model(x).shape == (2, 7)
        f = model.features(x)
    assert f.shape == (2, model.backbone.num_features, 2, 2)
    assert model.target_layer is model.se
    assert model.embed(x).shape == (2, 256)


def test_count_parameters_and_describe():
    model = ConvNeXtAttentionClassifier("convnext_atto", num_classes=5)
    n = count_parameters(model)
    assert n == sum(p.numel() for p in model.parameters())
    for p in model.backbone.parameters():
        p.requires_grad_(False)
    assert count_parameters(model, trainable_only=True) == n - count_parameters(model.backbone)
    text = describe(model)
    assert "backbone" in text and f"{n:,}" in text and "trainable" in text
    seg = DualHeadAttConvNeXtUNet("convnext_atto", decoder_channels=(16, 8, 8))
    text = describe(seg)
    assert "decoder cytoplasm" in text and "decoder nucleus" in text and "320" in text
    assert f"{count_parameters(seg):,}" in text
