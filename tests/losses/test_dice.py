"""Dice/BCE losses: perfect vs worse predictions, empty masks, per-head weighting."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from cervix.losses.dice import DualHeadLoss, dice_loss


def _target():
    t = torch.zeros(2, 2, 16, 16)
    t[:, 0, 2:14, 2:14] = 1  # cytoplasm
    t[:, 1, 6:10, 6:10] = 1  # nucleus
    return t


def _perfect_logits(t):
    return (t * 2 - 1) * 30.0  # sigmoid -> {~0, ~1}


def test_dice_loss_perfect_is_zero_and_worse_is_larger():
    t = _target()
    perfect = dice_loss(_perfect_logits(t), t)
    assert perfect.item() == pytest.approx(0.0, abs=1e-6)
    half = dice_loss(torch.zeros_like(t), t)  # p = 0.5 everywhere
    inverted = dice_loss(-_perfect_logits(t), t)
    assert 0 < half.item() < inverted.item() <= 1


def test_dice_loss_hand_computed():
    t = torch.tensor([[[[1.0, 1.0], [0.0, 0.0]]]])
    logits = torch.zeros_like(t)  # p = 0.5: inter = 1, sum p = 2, sum t = 2
    expected = 1 - (2 * 1 + 1) / (2 + 2 + 1)
    assert dice_loss(logits, t, smooth=1.0).item() == pytest.approx(expected)


@pytest.mark.parametrize("per_image", [False, True])
def test_dice_loss_empty_masks_safe(per_image):
    t = torch.zeros(2, 1, 8, 8)
    loss = dice_loss(torch.full_like(t, -30.0), t, per_image=per_image)
    assert torch.isfinite(loss) and loss.item() == pytest.approx(0.0, abs=1e-6)
    loss = dice_loss(torch.full_like(t, 30.0), t, per_image=per_image)  # predicts cells where none are
    assert torch.isfinite(loss) and loss.item() > 0.9


def test_dice_loss_per_image_differs_when_images_differ():
    t = torch.zeros(2, 1, 8, 8)
    t[0, 0, :4] = 1
    logits = torch.zeros_like(t)
    assert dice_loss(logits, t, per_image=True) != dice_loss(logits, t, per_image=False)


def test_dice_loss_gradient_and_shape_check():
    t = _target()
    logits = torch.zeros_like(t, requires_grad=True)
    dice_loss(logits, t).backward()
    assert torch.isfinite(logits.grad).all() and logits.grad.abs().sum() > 0
    with pytest.raises(ValueError):
        dice_loss(torch.zeros(1, 2, 4, 4), torch.zeros(1, 1, 4, 4))


def test_dual_head_loss_parts_and_weights():
    t = _target()
    logits = torch.randn_like(t)
    total, parts = DualHeadLoss()(logits, t)
    assert set(parts) == {"cytoplasm", "nucleus", "dice", "bce"}
    expected = 0.0
    for c, name in enumerate(["cytoplasm", "nucleus"]):
        head = dice_loss(logits[:, c : c + 1], t[:, c : c + 1]) + F.binary_cross_entropy_with_logits(
            logits[:, c : c + 1], t[:, c : c + 1]
        )
        assert parts[name].item() == pytest.approx(head.item(), rel=1e-5)
        expected += head.item()
    assert total.item() == pytest.approx(expected, rel=1e-5)
    # head weights and term weights
    total_w, parts_w = DualHeadLoss(dice_weight=0.0, bce_weight=2.0, head_weights=(0.0, 1.0))(logits, t)
    bce_nuc = F.binary_cross_entropy_with_logits(logits[:, 1], t[:, 1])
    assert total_w.item() == pytest.approx(2 * bce_nuc.item(), rel=1e-5)
    perfect_total, _ = DualHeadLoss()(_perfect_logits(t), t)
    assert perfect_total.item() < 1e-5
    assert total.requires_grad is False or total.grad_fn is not None


def test_dual_head_loss_bf16_logits_and_bad_shape():
    t = _target()
    total, _ = DualHeadLoss()(torch.randn_like(t).bfloat16(), t)
    assert total.dtype == torch.float32 and torch.isfinite(total)
    with pytest.raises(ValueError, match=r"\(B, 2, H, W\)"):
        DualHeadLoss()(torch.zeros(1, 3, 4, 4), torch.zeros(1, 3, 4, 4))
    with pytest.raises(ValueError):
        DualHeadLoss(head_weights=(1.0,))
