"""Backbone weights offline: local state dicts into both models, the stem adapted to 5 channels, clear errors."""

from __future__ import annotations

import pytest
import timm
import torch

from cervix.models.backbone import adapt_first_conv, load_weights_file
from cervix.models.networks import (
    ConvNeXtAttentionClassifier,
    DualHeadAttConvNeXtUNet,
)

torch.manual_seed(0)


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
