"""Tests for cervix.training.optim: AdamW parameter groups and the warm-up + cosine schedule, by hand.

All on CPU with toy models.
"""

from __future__ import annotations

import math

import pytest
import torch
from torch import nn

from cervix.training.optim import adamw_warmup_cosine, param_groups, warmup_cosine_lambda


def test_warmup_cosine_by_hand():
    f = warmup_cosine_lambda(total_steps=10, warmup_steps=2, min_ratio=0.1)
    assert [f(0), f(1)] == [0.5, 1.0]
    assert f(2) == pytest.approx(1.0)
    assert f(6) == pytest.approx(0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * 4 / 8)))  # 0.55
    assert f(6) == pytest.approx(0.55)
    assert f(10) == pytest.approx(0.1) and f(50) == pytest.approx(0.1)
    g = warmup_cosine_lambda(total_steps=4, warmup_steps=0)
    assert [g(s) for s in range(5)] == pytest.approx(
        [1.0, 0.5 + 0.5 * math.cos(math.pi / 4), 0.5, 0.5 - 0.5 * math.cos(math.pi / 4), 0.0]
    )


class _Net(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(3, 4, 3)
        self.norm = nn.BatchNorm2d(4)
        self.ln = nn.LayerNorm(4)
        self.head = nn.Linear(4, 2)
        self.scale = nn.Parameter(torch.ones(()))  # 0-d: not decayed


def _ids(params) -> set[int]:
    return {id(p) for p in params}


def test_param_groups_decay_only_matrices_and_kernels():
    net = _Net()
    groups = param_groups(net, 0.05)
    assert len(groups) == 2
    assert groups[0]["weight_decay"] == 0.05 and groups[1]["weight_decay"] == 0.0
    assert _ids(groups[0]["params"]) == _ids([net.conv.weight, net.head.weight])
    no_decay = [net.conv.bias, net.norm.weight, net.norm.bias, net.ln.weight, net.ln.bias, net.head.bias, net.scale]
    assert _ids(groups[1]["params"]) == _ids(no_decay)
    assert len(groups[0]["params"]) + len(groups[1]["params"]) == len(list(net.parameters()))


def test_param_groups_skip_frozen_and_bias_named_matrices():
    net = _Net()
    net.conv.requires_grad_(False)
    net.ln.bias.requires_grad_(False)
    net.head.bias = nn.Parameter(torch.zeros(2, 2))  # a 2-d "bias" is still a bias: no decay
    groups = param_groups(net, 0.1)
    assert _ids(groups[0]["params"]) == _ids([net.head.weight])
    assert _ids(groups[1]["params"]) == _ids([net.norm.weight, net.norm.bias, net.ln.weight, net.head.bias, net.scale])


def test_param_groups_second_group_only_if_any():
    groups = param_groups(nn.Sequential(nn.Linear(3, 2, bias=False), nn.Linear(2, 1, bias=False)), 0.01)
    assert len(groups) == 1 and groups[0]["weight_decay"] == 0.01 and len(groups[0]["params"]) == 2
    only_norm = param_groups(nn.LayerNorm(3), 0.01)
    assert [len(g["params"]) for g in only_norm] == [0, 2] and only_norm[1]["weight_decay"] == 0.0


def _lrs(optimizer, scheduler, steps: int) -> list[float]:
    """The learning rate before each of ``steps`` optimiser steps (the scheduler stepped after each)."""
    out = []
    for _ in range(steps):
        out.append(optimizer.param_groups[0]["lr"])
        assert {g["lr"] for g in optimizer.param_groups} == {out[-1]}  # both groups follow one schedule
        optimizer.step()
        scheduler.step()
    return out


def test_adamw_warmup_cosine_returns_optimizer_and_scheduler():
    net = _Net()
    opt, sched = adamw_warmup_cosine(net, lr=1e-3, weight_decay=0.05, min_lr=1e-4, total_steps=10, warmup_steps=2)
    assert isinstance(opt, torch.optim.AdamW) and isinstance(sched, torch.optim.lr_scheduler.LambdaLR)
    assert sched.optimizer is opt
    assert [g["weight_decay"] for g in opt.param_groups] == [0.05, 0.0]
    assert [g["initial_lr"] for g in opt.param_groups] == [1e-3, 1e-3]


def test_adamw_warmup_cosine_schedule_by_hand():
    net = _Net()
    opt, sched = adamw_warmup_cosine(net, lr=1e-3, weight_decay=0.05, min_lr=1e-4, total_steps=10, warmup_steps=2)
    lrs = _lrs(opt, sched, 13)
    # warm-up: 1/2, 2/2 of the peak; then 0.1 + 0.9 * 0.5 * (1 + cos(pi * (s - 2) / 8)) of it; min_lr from s = 10 on
    expected = [5e-4, 1e-3, 1e-3]
    expected += [1e-3 * (0.1 + 0.45 * (1 + math.cos(math.pi * k / 8))) for k in range(1, 8)]
    expected += [1e-4, 1e-4, 1e-4]
    assert lrs == pytest.approx(expected, rel=1e-9, abs=1e-15)
    assert lrs[4] == pytest.approx(8.681980515e-4) and lrs[6] == pytest.approx(5.5e-4)


def test_adamw_warmup_cosine_linear_rise_then_cosine_to_zero():
    net = nn.Linear(2, 2)
    opt, sched = adamw_warmup_cosine(net, lr=0.4, weight_decay=0.0, min_lr=0.0, total_steps=12, warmup_steps=4)
    lrs = _lrs(opt, sched, 13)
    assert lrs[:4] == pytest.approx([0.1, 0.2, 0.3, 0.4])  # linear warm-up
    assert lrs[4] == pytest.approx(0.4) and lrs[8] == pytest.approx(0.2) and lrs[12] == pytest.approx(0.0, abs=1e-12)
    assert lrs[6] == pytest.approx(0.2 * (1 + math.cos(math.pi / 4)))
    assert all(a >= b for a, b in zip(lrs[4:], lrs[5:]))  # monotone decay after the warm-up


def test_adamw_warmup_cosine_decays_weights_not_biases():
    net = nn.Linear(2, 1)
    with torch.no_grad():
        net.weight.copy_(torch.tensor([[1.0, -2.0]]))
        net.bias.fill_(3.0)
    opt, _ = adamw_warmup_cosine(net, lr=0.1, weight_decay=0.5, min_lr=0.0, total_steps=10, warmup_steps=0)
    assert opt.param_groups[0]["lr"] == pytest.approx(0.1)  # no warm-up: the peak at once
    for p in net.parameters():
        p.grad = torch.zeros_like(p)  # no gradient step, only the decoupled decay p *= 1 - lr * wd
    opt.step()
    assert torch.allclose(net.weight, torch.tensor([[0.95, -1.9]]))
    assert torch.equal(net.bias, torch.tensor([3.0]))
