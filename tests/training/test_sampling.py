"""Tests for cervix.training.sampling: seeds, RNG snapshots, the per-epoch sampler and loader order.

All on CPU with TensorDatasets.
"""

from __future__ import annotations

import io
import os
import random

import numpy as np
import pytest
import torch
from torch import nn
from torch.utils.data import Dataset, TensorDataset

from cervix.core.device import unwrap
from cervix.training.sampling import (
    EpochSampler,
    make_loader,
    rng_state,
    seed_everything,
    set_loader_epoch,
    set_rng_state,
)


def test_epoch_sampler_order_and_sharding():
    s = EpochSampler(10, shuffle=True, seed=3)
    s.set_epoch(1)
    a = list(s)
    s.set_epoch(2)
    b = list(s)
    s.set_epoch(1)
    assert list(s) == a and a != b and sorted(a) == list(range(10))
    shards = [list(EpochSampler(10, seed=3, num_replicas=2, rank=r)) for r in (0, 1)]
    assert len(shards[0]) == len(shards[1]) == 5 and sorted(shards[0] + shards[1]) == list(range(10))
    w = EpochSampler(100, weights=[0.0] * 50 + [1.0] * 50, seed=0)
    assert min(w) >= 50 and len(list(w)) == 100
    assert unwrap(nn.DataParallel(nn.Linear(1, 1))).__class__ is nn.Linear


def _draws() -> tuple[list[float], list[float], list[float]]:
    numpy_draws = np.random.rand(3).tolist()  # noqa: NPY002 (the global RNG is what is seeded)
    return torch.rand(3).tolist(), numpy_draws, [random.random() for _ in range(3)]


@pytest.fixture
def keep_global_state(monkeypatch):
    """Undo what seed_everything changes besides the RNGs: PYTHONHASHSEED and the cuDNN flags."""
    monkeypatch.setenv("PYTHONHASHSEED", "unset")
    monkeypatch.delenv("PYTHONHASHSEED")
    monkeypatch.setattr(torch.backends.cudnn, "deterministic", torch.backends.cudnn.deterministic)
    monkeypatch.setattr(torch.backends.cudnn, "benchmark", torch.backends.cudnn.benchmark)
    state = rng_state()
    yield
    set_rng_state(state)


def test_seed_everything_repeats_draws(keep_global_state):
    seed_everything(123)
    first = _draws()
    seed_everything(123)
    assert _draws() == first
    seed_everything(124)
    assert all(a != b for a, b in zip(_draws(), first))
    # each library is seeded with the given number itself
    torch.manual_seed(123)
    np.random.seed(123)  # noqa: NPY002
    random.seed(123)
    assert _draws() == first


def test_seed_everything_wraps_big_seeds_for_numpy(keep_global_state):
    seed_everything(2**32 + 5)
    a = np.random.rand(2)  # noqa: NPY002
    np.random.seed(5)  # noqa: NPY002
    assert np.array_equal(a, np.random.rand(2))  # noqa: NPY002


def test_seed_everything_flags_and_hash_seed(keep_global_state):
    torch.backends.cudnn.deterministic, torch.backends.cudnn.benchmark = False, True
    seed_everything(7, deterministic=False)
    assert torch.backends.cudnn.deterministic is False and torch.backends.cudnn.benchmark is True
    assert os.environ["PYTHONHASHSEED"] == "7"
    seed_everything(8)
    assert torch.backends.cudnn.deterministic is True and torch.backends.cudnn.benchmark is False
    assert os.environ["PYTHONHASHSEED"] == "7"  # set only when absent


def test_rng_state_round_trip_restores_next_draws(keep_global_state):
    seed_everything(5)
    random.gauss(0, 1)  # leave a cached gauss value in python's state
    state = rng_state()
    expected = _draws()
    _draws()  # move on
    set_rng_state(state)
    assert _draws() == expected


def test_rng_state_is_weights_only_loadable(keep_global_state):
    seed_everything(9)
    state = rng_state()
    assert isinstance(state["torch"], torch.Tensor) and isinstance(state["numpy"], list)
    assert isinstance(state["python"], list) and isinstance(state["cuda"], list)
    buf = io.BytesIO()
    torch.save(state, buf)
    buf.seek(0)
    loaded = torch.load(buf, weights_only=True)
    expected = _draws()
    set_rng_state(loaded)
    assert _draws() == expected


def _order(loader) -> list[int]:
    return [int(v) for (batch,) in loader for v in batch]


def test_make_loader_same_seed_same_order_and_epochs_differ():
    ds = TensorDataset(torch.arange(10))
    a, b = make_loader(ds, batch_size=10, seed=4), make_loader(ds, batch_size=10, seed=4)
    first = _order(a)
    torch.rand(5)  # the global RNG has no say in the order
    assert _order(b) == first and _order(a) == first
    # epoch 0 of seed 4 is torch.randperm under a generator seeded with 4 + 0
    assert first == torch.randperm(10, generator=torch.Generator().manual_seed(4)).tolist()
    assert sorted(first) == list(range(10))
    set_loader_epoch(a, 1, seed=4)
    second = _order(a)
    assert second != first and sorted(second) == list(range(10))
    assert second == torch.randperm(10, generator=torch.Generator().manual_seed(5)).tolist()
    set_loader_epoch(a, 0, seed=4)
    assert _order(a) == first
    assert _order(make_loader(ds, batch_size=10, seed=5)) == second  # epoch e of seed s: seed s + e


def test_make_loader_drop_last_default_and_evaluation_order():
    ds = TensorDataset(torch.arange(10))
    train = make_loader(ds, batch_size=4, seed=0)
    assert train.drop_last is True and len(train) == 2 and len(_order(train)) == 8
    assert make_loader(ds, batch_size=10, seed=0).drop_last is False  # one batch only: kept
    ev = make_loader(ds, batch_size=4, shuffle=False)
    assert ev.drop_last is False and len(ev) == 3 and _order(ev) == list(range(10))
    assert make_loader(ds, batch_size=4, seed=0, drop_last=False).drop_last is False


class _EpochDataset(Dataset):
    def __init__(self) -> None:
        self.calls: list[tuple[int, int]] = []

    def __len__(self) -> int:
        return 4

    def __getitem__(self, i: int) -> int:
        return i

    def set_epoch(self, epoch: int, seed: int) -> None:
        self.calls.append((epoch, seed))


def test_set_loader_epoch_sets_sampler_generator_and_dataset():
    ds = _EpochDataset()
    loader = make_loader(ds, batch_size=2, seed=3)
    set_loader_epoch(loader, 2, seed=3)
    assert loader.sampler.epoch == 2 and ds.calls == [(2, 3)]
    assert torch.equal(loader.generator.get_state(), torch.Generator().manual_seed(3002).get_state())
    set_loader_epoch(object(), 1, seed=0)  # anything without the parts is left alone
