"""Models and blocks: shapes, size errors, gradient flow per head, local weight loading."""
from __future__ import annotations

import pytest
import timm
import torch
import torch.nn.functional as F

from cervix.models.blocks import CBAM, AttentionGate, MultiHeadSelfAttention, SEBlock
from cervix.models.networks import ConvNeXtAttentionClassifier, DualHeadAttConvNeXtUNet, SegModelConfig, UpBlock, adapt_first_conv, count_parameters, describe, load_weights_file, upsample2x_conv3x3

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


# --------------------------------------------------------------------------- blocks
def _changes(block, *inputs):
    out1 = block(*inputs)
    out2 = block(*(t + torch.randn_like(t) for t in inputs))
    return out1, not torch.allclose(out1, out2)


def test_cbam_shape_and_response():
    block = CBAM(32).eval()
    x = torch.randn(2, 32, 8, 8)
    out, changed = _changes(block, x)
    assert out.shape == x.shape and changed
    assert block.channel.mlp[0].out_channels == 8  # 32 // 16 = 2, floored at 8
    assert CBAM(256).channel.mlp[0].out_channels == 16


def test_attention_gate_shape_and_gating():
    gate = AttentionGate(gate_channels=16, skip_channels=8).eval()
    g, x = torch.randn(2, 16, 4, 4), torch.randn(2, 8, 8, 8)
    out = gate(g, x)
    assert out.shape == x.shape
    alpha = gate.attention(g, x)
    assert alpha.shape == (2, 1, 8, 8) and (alpha > 0).all() and (alpha < 1).all()
    torch.testing.assert_close(out, x * alpha)
    out2 = gate(g + torch.randn_like(g), x)  # a different gating signal changes the output
    assert not torch.allclose(out, out2)


def test_se_block_shape_and_response():
    block = SEBlock(64).eval()
    x = torch.randn(2, 64, 4, 4)
    out, changed = _changes(block, x)
    assert out.shape == x.shape and changed


def test_self_attention_matches_torch_multihead_attention():
    ours = MultiHeadSelfAttention(32, heads=4).eval()
    ref = torch.nn.MultiheadAttention(32, 4, batch_first=True).eval()
    with torch.no_grad():
        ref.in_proj_weight.copy_(ours.in_proj.weight)
        ref.in_proj_bias.copy_(ours.in_proj.bias)
        ref.out_proj.weight.copy_(ours.out_proj.weight)
        ref.out_proj.bias.copy_(ours.out_proj.bias)
        t = torch.randn(2, 6, 32)
        torch.testing.assert_close(ours(t), ref(t, t, t, need_weights=False)[0], rtol=1e-5, atol=1e-5)
    with pytest.raises(ValueError, match="divisible"):
        MultiHeadSelfAttention(30, heads=4)


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


@pytest.mark.parametrize("encoder", ["convnext_atto", "resnet18"])
def test_classifier_stem_adapted_from_local_3ch_weights(tmp_path, encoder):
    src = timm.create_model(encoder, pretrained=False)
    path = tmp_path / "w.pth"
    torch.save(src.state_dict(), path)
    model = ConvNeXtAttentionClassifier(encoder, num_classes=5, in_chans=5, pretrained=str(path))
    key = src.pretrained_cfg["first_conv"] + ".weight"
    w_src, w = src.state_dict()[key], model.backbone.state_dict()[key]
    assert w.shape[1] == 5
    assert torch.equal(w[:, :3], w_src)  # RGB filters kept exactly
    mean = w_src.mean(1)
    assert torch.equal(w[:, 3], mean) and torch.equal(w[:, 4], mean)
    # every other backbone tensor is loaded unchanged
    own = model.backbone.state_dict()
    for k, v in src.state_dict().items():
        if k != key and k in own:
            assert torch.equal(own[k], v), k
    assert key in model.load_report.adapted
    assert any("fc" in k for k in model.load_report.skipped + model.load_report.unexpected)


@pytest.mark.parametrize("encoder", ["convnext_atto", "resnet18"])
def test_seg_encoder_loads_local_weights(tmp_path, encoder):
    src = timm.create_model(encoder, pretrained=False)
    path = tmp_path / "w.pth"
    torch.save({"state_dict": {"module." + k: v for k, v in src.state_dict().items()}}, path)  # wrapped + DDP prefix
    model = DualHeadAttConvNeXtUNet(encoder, pretrained=path, decoder_channels=(8, 8, 8))
    own = model.encoder.model.state_dict()
    loaded = [k for k in own if k in src.state_dict()]
    assert len(loaded) == len(own) > 10
    for k in loaded:
        assert torch.equal(own[k], src.state_dict()[k]), k


def test_rgb_only_classifier_loads_weights_unchanged(tmp_path):
    src = timm.create_model("convnext_atto", pretrained=False)
    torch.save(src.state_dict(), tmp_path / "w.pth")
    model = ConvNeXtAttentionClassifier("convnext_atto", in_chans=3, pretrained=tmp_path / "w.pth")
    assert torch.equal(model.backbone.stem[0].weight, src.stem[0].weight)
    assert model.load_report.adapted == []


def test_weight_loading_errors(tmp_path):
    with pytest.raises(FileNotFoundError):
        load_weights_file(tmp_path / "missing.pth")
    (tmp_path / "junk.pth").write_bytes(b"not a checkpoint")
    with pytest.raises(ValueError, match="weights_only"):
        load_weights_file(tmp_path / "junk.pth")
    torch.save(timm.create_model("resnet18").state_dict(), tmp_path / "r18.pth")
    with pytest.raises(RuntimeError, match="backbone"):
        ConvNeXtAttentionClassifier("convnext_atto", pretrained=tmp_path / "r18.pth")
    with pytest.raises(ValueError):
        adapt_first_conv(torch.randn(4, 3, 3, 3), 1)


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
