"""Segmentation losses for the dual-head model: soft Dice + binary cross-entropy per head.

Soft Dice: Milletari, Navab, Ahmadi, "V-Net", 3DV 2016 (with additive smoothing as in
segmentation_models_pytorch). Both losses take logits (the sigmoid is applied inside) and compute in
float32, so they are safe under bf16/fp16 autocast.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from cervix.core.labels import HEADS

__all__ = [
    "dice_loss",
    "DualHeadLoss",
]


def dice_loss(logits: torch.Tensor, target: torch.Tensor, smooth: float = 1.0, per_image: bool = False) -> torch.Tensor:
    """Soft Dice loss from logits, averaged over channels.

    ``1 - (2 * sum(p * t) + smooth) / (sum(p) + sum(t) + smooth)`` with ``p = sigmoid(logits)``.
    The smoothing term makes an empty prediction of an empty target cost ~0 (no 0/0).

    Args:
        logits: ``(B, C, H, W)`` raw scores.
        target: ``(B, C, H, W)`` in {0, 1} (soft targets allowed).
        smooth: Additive smoothing in numerator and denominator (> 0 keeps empty masks finite).
        per_image: Dice per image and channel, then averaged; otherwise sums run over the whole
            batch per channel (more stable when many patches are empty).

    Returns:
        Scalar loss tensor.
    """
    if logits.shape != target.shape:
        raise ValueError(f"logits {tuple(logits.shape)} and target {tuple(target.shape)} must have the same shape")
    p = torch.sigmoid(logits.float())
    t = target.float()
    dims = (2, 3) if per_image else (0, 2, 3)
    inter = (p * t).sum(dims)
    denom = p.sum(dims) + t.sum(dims)
    dice = (2 * inter + smooth) / (denom + smooth)  # (B, C) or (C,)
    return 1 - dice.mean()


class DualHeadLoss(nn.Module):
    """Dice + BCE on each head, weighted per head.

    ``total = sum_h head_weight[h] * (dice_weight * Dice_h + bce_weight * BCE_h)`` over the heads
    cytoplasm (channel 0) and nucleus (channel 1).

    Args:
        dice_weight: Weight of the soft Dice term.
        bce_weight: Weight of the BCE-with-logits term.
        head_weights: Weights of the (cytoplasm, nucleus) heads.
        smooth: Dice smoothing.
        per_image: Dice per image (see :func:`dice_loss`).

    Returns (from ``forward(logits, target)``, both ``(B, 2, H, W)``):
        ``(total, parts)`` where ``total`` is the scalar loss to backpropagate and ``parts`` holds
        detached scalars ``cytoplasm`` and ``nucleus`` (each head's weighted Dice + BCE) and
        ``dice`` and ``bce`` (means over heads), for logging.
    """

    def __init__(
        self,
        dice_weight: float = 1.0,
        bce_weight: float = 1.0,
        head_weights: tuple[float, float] = (1.0, 1.0),
        smooth: float = 1.0,
        per_image: bool = False,
    ) -> None:
        super().__init__()
        if len(head_weights) != len(HEADS):
            raise ValueError(f"head_weights needs {len(HEADS)} values, got {head_weights}")
        self.dice_weight = dice_weight
        self.bce_weight = bce_weight
        self.head_weights = tuple(float(w) for w in head_weights)
        self.smooth = smooth
        self.per_image = per_image

    def forward(self, logits: torch.Tensor, target: torch.Tensor) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        if logits.ndim != 4 or logits.shape[1] != len(HEADS) or logits.shape != target.shape:
            raise ValueError(
                f"expected logits and target of shape (B, 2, H, W); got {tuple(logits.shape)} and {tuple(target.shape)}"
            )
        logits, target = logits.float(), target.float()
        total = logits.new_zeros(())
        parts: dict[str, torch.Tensor] = {}
        dices, bces = [], []
        for c, (name, w) in enumerate(zip(HEADS, self.head_weights)):
            lg, tg = logits[:, c : c + 1], target[:, c : c + 1]
            d = dice_loss(lg, tg, self.smooth, self.per_image)
            b = F.binary_cross_entropy_with_logits(lg, tg)
            head = self.dice_weight * d + self.bce_weight * b
            total = total + w * head
            parts[name] = head.detach()
            dices.append(d.detach())
            bces.append(b.detach())
        parts["dice"] = torch.stack(dices).mean()
        parts["bce"] = torch.stack(bces).mean()
        return total, parts
