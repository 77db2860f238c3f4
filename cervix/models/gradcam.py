"""Grad-CAM class-activation maps (Selvaraju et al., "Grad-CAM: Visual Explanations from Deep
Networks via Gradient-based Localization", ICCV 2017).

``cam = ReLU(sum_k w_k A_k)`` with ``w_k`` the spatial mean of ``d logit_c / d A_k`` over the
feature map ``A`` of a chosen layer, upsampled to the input size and scaled to [0, 1] per image.
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

__all__ = [
    "grad_cam",
]


def grad_cam(
    model: nn.Module,
    x: torch.Tensor,
    target_class: int | list[int] | torch.Tensor | None = None,
    layer: nn.Module | None = None,
) -> np.ndarray:
    """Grad-CAM heatmaps for a classifier.

    The model is run in eval mode (its mode is restored afterwards); gradients are taken with
    respect to the output of ``layer`` (default ``model.target_layer``, e.g. the SE block of
    :class:`cervix.models.networks.ConvNeXtAttentionClassifier`). Parameters need not require grad.

    Args:
        model: Classifier returning logits ``(B, K)``.
        x: Input ``(B, C, H, W)``.
        target_class: Class to explain, one per batch or per image; ``None`` = predicted class.
        layer: Module whose output is the ``(B, C', h, w)`` feature map to explain.

    Returns:
        ``(B, H, W)`` float32 heatmaps in [0, 1] (all zeros where no positive evidence exists).
    """
    layer = layer if layer is not None else getattr(model, "target_layer", None)
    if layer is None:
        raise ValueError("pass layer= or give the model a target_layer attribute")
    store: dict[str, torch.Tensor] = {}

    def hook(_module, _inputs, output):
        store["act"] = output

    handle = layer.register_forward_hook(hook)
    was_training = model.training
    model.eval()
    try:
        with torch.enable_grad():
            xin = x.detach().clone().requires_grad_(True)  # keeps a graph even for frozen weights
            logits = model(xin)  # (B, K)
            act = store["act"]  # (B, C', h, w)
            if target_class is None:
                cls = logits.argmax(1)
            else:
                cls = torch.as_tensor(target_class, device=logits.device).long().expand(logits.shape[0])
            score = logits.gather(1, cls[:, None]).sum()
            (grads,) = torch.autograd.grad(score, act)
    finally:
        handle.remove()
        model.train(was_training)
    act, grads = act.detach().float(), grads.float()
    weights = grads.mean((2, 3), keepdim=True)  # (B, C', 1, 1)
    cam = F.relu((weights * act).sum(1, keepdim=True))  # (B, 1, h, w)
    cam = F.interpolate(cam, size=x.shape[-2:], mode="bilinear", align_corners=False)[:, 0]  # (B, H, W)
    peak = cam.flatten(1).amax(1).clamp_min(1e-12)[:, None, None]
    return (cam / peak).clamp(0, 1).cpu().numpy().astype(np.float32)
