"""Grad-CAM: highlights the region a toy model looks at; works on the classifier."""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

from cervix.models.gradcam import grad_cam
from cervix.models.networks import ConvNeXtAttentionClassifier


class PatternNet(nn.Module):
    """Two detector channels (identity 1x1 conv + ReLU); logit 1 counts only pattern 0, logit 0 is constant."""

    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(2, 2, 1)
        with torch.no_grad():
            self.conv.weight.copy_(torch.eye(2)[:, :, None, None])
            self.conv.bias.zero_()
        self.act = nn.ReLU()
        self.target_layer = self.act

    def forward(self, x):
        a = self.act(self.conv(x))  # (B, 2, H, W)
        score = a[:, 0].mean((1, 2))
        return torch.stack([torch.zeros_like(score), score], 1)


def _two_pattern_input():
    """Pattern 0 (the informative one) in the top-left quadrant, pattern 1 bottom-right."""
    torch.manual_seed(0)
    x = torch.rand(2, 2, 32, 32) * 0.05
    x[:, 0, :16, :16] += 1.0
    x[:, 1, 16:, 16:] += 1.0
    return x


def test_grad_cam_highlights_informative_region():
    x = _two_pattern_input()
    cam = grad_cam(PatternNet(), x, target_class=1)
    assert cam.shape == (2, 32, 32) and cam.dtype == np.float32
    assert cam.min() >= 0 and cam.max() <= 1
    assert cam[:, 2:14, 2:14].mean() > 0.8  # informative quadrant
    assert cam[:, 18:, 18:].mean() < 0.1  # distractor pattern
    assert cam[:, 2:14, 18:].mean() < 0.1  # background


def test_grad_cam_default_class_and_no_evidence():
    x = _two_pattern_input()
    model = PatternNet()
    np.testing.assert_array_equal(grad_cam(model, x), grad_cam(model, x, target_class=1))  # argmax = 1
    assert np.all(grad_cam(model, x, target_class=0) == 0)  # constant logit: no evidence anywhere


def test_grad_cam_on_classifier_restores_mode_and_uses_target_layer():
    model = ConvNeXtAttentionClassifier("convnext_atto", num_classes=3, in_chans=5).train()
    for p in model.parameters():
        p.requires_grad_(False)  # frozen weights still give a map
    x = torch.randn(2, 5, 64, 64)
    cam = grad_cam(model, x)
    assert cam.shape == (2, 64, 64)
    assert np.isfinite(cam).all() and cam.min() >= 0 and cam.max() <= 1
    assert model.training
    cam_list = grad_cam(model, x, target_class=[0, 2], layer=model.backbone.stages[-1])
    assert cam_list.shape == (2, 64, 64)
