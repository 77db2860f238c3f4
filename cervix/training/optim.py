"""The optimisation recipe of :func:`cervix.training.loop.fit`: AdamW with a warm-up + cosine schedule.

AdamW (decoupled weight decay; Loshchilov & Hutter, ICLR 2019) decays the weight matrices and
convolution kernels only, not norms and biases (:func:`param_groups`). The learning rate rises
linearly over the warm-up and then follows a cosine decay to a floor (SGDR without restarts;
Loshchilov & Hutter, ICLR 2017), stepped per iteration (:func:`warmup_cosine_lambda`).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import torch
from torch import nn

__all__ = [
    "param_groups",
    "warmup_cosine_lambda",
    "adamw_warmup_cosine",
]


def param_groups(model: nn.Module, weight_decay: float) -> list[dict[str, Any]]:
    """Trainable parameters in two AdamW groups: ``weight_decay`` for tensors of two or more
    dimensions, none for 1-d tensors (norms) and biases (the second group only if any)."""
    decay, no_decay = [], []
    for name, p in model.named_parameters():
        if not p.requires_grad:
            continue
        (no_decay if p.ndim <= 1 or name.endswith(".bias") else decay).append(p)
    groups = [{"params": decay, "weight_decay": weight_decay}]
    if no_decay:
        groups.append({"params": no_decay, "weight_decay": 0.0})
    return groups


def warmup_cosine_lambda(total_steps: int, warmup_steps: int, min_ratio: float = 0.0) -> Callable[[int], float]:
    """LR multiplier for ``LambdaLR``: linear warm-up, then cosine decay to ``min_ratio``.

    For step ``s`` (0-based, the count of scheduler steps taken so far):
    ``(s + 1) / W`` while ``s < W``; afterwards
    ``min_ratio + (1 - min_ratio) * 0.5 * (1 + cos(pi * (s - W) / max(1, T - W)))``,
    clamped at ``min_ratio`` past the end.
    """
    W, T = int(warmup_steps), int(total_steps)

    def f(step: int) -> float:
        if step < W:
            return (step + 1) / W
        progress = min(1.0, (step - W) / max(1, T - W))
        return min_ratio + (1.0 - min_ratio) * 0.5 * (1.0 + math.cos(math.pi * progress))

    return f


def adamw_warmup_cosine(
    model: nn.Module, lr: float, weight_decay: float, min_lr: float, total_steps: int, warmup_steps: int
) -> tuple[torch.optim.AdamW, torch.optim.lr_scheduler.LambdaLR]:
    """AdamW over :func:`param_groups` with peak ``lr``, and its ``LambdaLR`` scheduler of
    :func:`warmup_cosine_lambda` (decaying to ``min_lr``), to be stepped once per iteration."""
    optimizer = torch.optim.AdamW(param_groups(model, weight_decay), lr=lr)
    scheduler = torch.optim.lr_scheduler.LambdaLR(
        optimizer, warmup_cosine_lambda(total_steps, warmup_steps, min_lr / lr)
    )
    return optimizer, scheduler
