"""Segmentation losses: soft Dice + binary cross-entropy per head."""

from cervix.losses.dice import dice_loss, DualHeadLoss

__all__ = [
    "dice_loss",
    "DualHeadLoss",
]
