"""Segmentation losses: soft Dice + binary cross-entropy per head."""

from cervix.losses.dice import DualHeadLoss, dice_loss

__all__ = [
    "dice_loss",
    "DualHeadLoss",
]
