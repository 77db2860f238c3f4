"""Reproducible randomness: seeds, RNG snapshots, and the per-epoch order of the training data.

:func:`seed_everything` seeds python, numpy and torch; :func:`rng_state` / :func:`set_rng_state`
save and restore all their states as tensors and plain lists (so they fit a weights-only
checkpoint). :class:`EpochSampler` draws the order of epoch ``e`` from ``seed + e`` alone, never
from the global RNG, and shards it across DDP ranks; :func:`make_loader` builds a ``DataLoader``
on it, and :func:`set_loader_epoch` selects an epoch's order, worker seeds and augmentation state.
Together they let :func:`cervix.training.loop.fit` resume an interrupted run exactly (on CPU the resumed
run ends with the same weights as the uninterrupted one).
"""

from __future__ import annotations

import math
import os
import random
from collections.abc import Iterator, Mapping, Sequence
from typing import Any

import numpy as np
import torch
import torch.distributed as dist
from torch.utils.data import DataLoader, Dataset, Sampler

from cervix.training.distributed import ddp_active

__all__ = [
    "seed_everything",
    "rng_state",
    "set_rng_state",
    "EpochSampler",
    "make_loader",
    "set_loader_epoch",
]


def seed_everything(seed: int, deterministic: bool = True) -> None:
    """Seed python, numpy and torch (CPU and CUDA); with ``deterministic``, pin cuDNN choices."""
    random.seed(seed)
    np.random.seed(seed % 2**32)  # noqa: NPY002 (the global RNG is what is seeded)
    torch.manual_seed(seed)
    if torch.cuda.is_available():
        torch.cuda.manual_seed_all(seed)
    os.environ.setdefault("PYTHONHASHSEED", str(seed))
    if deterministic:
        torch.backends.cudnn.deterministic = True
        torch.backends.cudnn.benchmark = False


def rng_state() -> dict[str, Any]:
    """All RNG states as tensors and plain lists (weights-only loadable)."""
    np_state = np.random.get_state()  # noqa: NPY002
    py_state = random.getstate()
    state: dict[str, Any] = {
        "torch": torch.get_rng_state(),
        "numpy": [str(np_state[0]), np_state[1].tolist(), int(np_state[2]), int(np_state[3]), float(np_state[4])],
        "python": [py_state[0], list(py_state[1]), py_state[2]],
        "cuda": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else [],
    }
    return state


def set_rng_state(state: Mapping[str, Any]) -> None:
    """Restore the states saved by :func:`rng_state`."""
    torch.set_rng_state(state["torch"].cpu())
    n = state["numpy"]
    np.random.set_state((n[0], np.asarray(n[1], dtype=np.uint32), n[2], n[3], n[4]))  # noqa: NPY002
    p = state["python"]
    random.setstate((p[0], tuple(p[1]), p[2]))
    cuda = state.get("cuda") or []
    if cuda and torch.cuda.is_available() and len(cuda) == torch.cuda.device_count():
        torch.cuda.set_rng_state_all([c.cpu() for c in cuda])


class EpochSampler(Sampler[int]):
    """Shuffled, optionally weighted and DDP-sharded sampler reseeded per epoch.

    The order of epoch ``e`` depends only on ``seed + e`` (``torch.Generator().manual_seed``),
    never on the global RNG, so a resumed run sees the same order as an uninterrupted one.
    :func:`cervix.training.loop.fit` calls :meth:`set_epoch` before each epoch.

    Args:
        n: dataset length.
        shuffle: random order (else ``0..n-1``).
        seed: base seed.
        weights: per-sample weights; draws ``n`` indices with replacement (balanced sampling).
        num_replicas / rank: DDP sharding (default: from the process group, else 1 / 0). The
            index list is padded by wrapping so every rank gets ``ceil(n / num_replicas)``.
    """

    def __init__(
        self,
        n: int,
        shuffle: bool = True,
        seed: int = 0,
        weights: Sequence[float] | torch.Tensor | None = None,
        num_replicas: int | None = None,
        rank: int | None = None,
    ) -> None:
        if n <= 0:
            raise ValueError("EpochSampler needs a non-empty dataset")
        self.n, self.shuffle, self.seed, self.epoch = int(n), bool(shuffle), int(seed), 0
        self.weights = None if weights is None else torch.as_tensor(weights, dtype=torch.double)
        if self.weights is not None and len(self.weights) != n:
            raise ValueError(f"{len(self.weights)} sampler weights for {n} samples")
        self.num_replicas = num_replicas if num_replicas is not None else (dist.get_world_size() if ddp_active() else 1)
        self.rank = rank if rank is not None else (dist.get_rank() if ddp_active() else 0)
        self.num_samples = math.ceil(self.n / self.num_replicas)

    def set_epoch(self, epoch: int) -> None:
        """Select the order of epoch ``epoch``."""
        self.epoch = int(epoch)

    def _indices(self) -> list[int]:
        g = torch.Generator().manual_seed(self.seed + self.epoch)
        if self.weights is not None:
            return torch.multinomial(self.weights, self.n, replacement=True, generator=g).tolist()
        if self.shuffle:
            return torch.randperm(self.n, generator=g).tolist()
        return list(range(self.n))

    def __iter__(self) -> Iterator[int]:
        idx = self._indices()
        total = self.num_samples * self.num_replicas
        idx = (idx * math.ceil(total / len(idx)))[:total]
        return iter(idx[self.rank : total : self.num_replicas])

    def __len__(self) -> int:
        return self.num_samples


def make_loader(
    dataset: Dataset,
    batch_size: int,
    shuffle: bool = True,
    seed: int = 0,
    sampler_weights: Sequence[float] | None = None,
    num_workers: int = 0,
    drop_last: bool | None = None,
    distributed: bool | None = None,
    **kwargs: Any,
) -> DataLoader:
    """A DataLoader whose order is reproducible per epoch and which shards under DDP.

    Args:
        dataset: any map-style dataset.
        batch_size: samples per batch (per process under DDP).
        shuffle: shuffle per epoch (training); False for evaluation.
        seed: base seed of the per-epoch order (epoch ``e`` uses ``seed + e``) and worker seeds.
        sampler_weights: per-sample weights for balanced sampling (with replacement).
        num_workers: worker processes (not persistent, so worker seeds follow the epoch).
        drop_last: drop a last incomplete batch; default ``shuffle`` and more than one batch.
        distributed: shard across DDP ranks; default True for training loaders under DDP.
            Evaluation loaders (``shuffle=False``) stay whole, since rank 0 evaluates everything.
        **kwargs: passed to ``DataLoader`` (e.g. ``collate_fn``, ``pin_memory``).
    """
    n = len(dataset)  # type: ignore[arg-type]
    if distributed is None:
        distributed = ddp_active() and (shuffle or sampler_weights is not None)
    replicas, rank = (None, None) if distributed else (1, 0)
    sampler = EpochSampler(n, shuffle=shuffle, seed=seed, weights=sampler_weights, num_replicas=replicas, rank=rank)
    if drop_last is None:
        drop_last = shuffle and len(sampler) > batch_size
    gen = torch.Generator().manual_seed(seed)
    return DataLoader(
        dataset,
        batch_size=batch_size,
        sampler=sampler,
        num_workers=num_workers,
        drop_last=drop_last,
        generator=gen,
        persistent_workers=False,
        **kwargs,
    )


def set_loader_epoch(loader: Any, epoch: int, seed: int) -> None:
    """Select epoch ``epoch`` of a loader: its sampler's order (:meth:`EpochSampler.set_epoch`), the
    worker base seeds (``seed * 1000 + epoch``) and, where the dataset has ``set_epoch``, its
    augmentation random state."""
    sampler = getattr(loader, "sampler", None)
    if hasattr(sampler, "set_epoch"):
        sampler.set_epoch(epoch)
    bs = getattr(loader, "batch_sampler", None)
    if bs is not None and hasattr(getattr(bs, "sampler", None), "set_epoch") and bs.sampler is not sampler:
        bs.sampler.set_epoch(epoch)
    gen = getattr(loader, "generator", None)
    if isinstance(gen, torch.Generator):
        gen.manual_seed(seed * 1000 + epoch)  # worker base seeds of this epoch
    ds = getattr(loader, "dataset", None)
    if hasattr(ds, "set_epoch"):  # augmentation random state per (seed, epoch, worker): exact resume
        ds.set_epoch(epoch, seed)
