"""One training loop shared by the segmentation and classification stages.

:func:`fit` trains any ``nn.Module`` with AdamW (Loshchilov & Hutter, ICLR 2019) under a linear
warm-up + cosine learning-rate schedule (Loshchilov & Hutter, SGDR, ICLR 2017) stepped per
iteration, with gradient clipping, mixed precision (CUDA fp16 with a GradScaler, CUDA or CPU
bf16 autocast), early stopping on a monitored validation metric, ``tqdm`` progress bars,
``history.csv`` + TensorBoard logging, and checkpoints ``best.pt`` / ``last.pt``.

Checkpoints hold only tensors and plain Python types, so they load with
``torch.load(path, weights_only=True)`` (:func:`load_checkpoint` never loads anything else), and
are written atomically (temporary file in the same folder, then ``os.replace``). ``last.pt``
carries everything needed to continue exactly (``resume=True``): weights, optimiser, scheduler
and scaler state, epoch, global step, best metric, early-stopping counter, history, and the
torch / numpy / python RNG states. The training order is reseeded per epoch
(:class:`EpochSampler`, seed + epoch), so on CPU a run interrupted after epoch *k* and resumed
ends with the same weights as the uninterrupted run.

Under ``torchrun`` (``RANK``/``WORLD_SIZE``/``LOCAL_RANK`` set) :func:`fit` initialises the
process group (NCCL on CUDA, gloo on CPU) and wraps the model in ``DistributedDataParallel``;
:func:`make_loader` shards the sampler across ranks. Only rank 0 evaluates (on the full
validation set), logs, prints and saves; its metrics and stop decision are broadcast.

A non-finite loss raises :class:`NonFiniteLossError`; the last good ``last.pt`` stays as it was.
"""
from __future__ import annotations

import collections
import contextlib
import csv
import dataclasses
import io
import json
import math
import os
import pickle
import platform
import random
import time
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterator, Mapping, Sequence

import numpy as np
import torch
import torch.distributed as dist
from torch import nn
from torch.utils.data import DataLoader, Dataset, Sampler
from tqdm.auto import tqdm

from cervix.config import to_dict

__all__ = [
    "TrainConfig",
    "History",
    "NonFiniteLossError",
    "CheckpointError",
    "fit",
    "make_loader",
    "EpochSampler",
    "warmup_cosine_lambda",
    "stopping_signal",
    "seed_everything",
    "device_and_amp",
    "autocast_context",
    "unwrap",
    "save_checkpoint",
    "load_checkpoint",
    "load_weights",
    "model_from_checkpoint",
    "check_plain",
    "rng_state",
    "set_rng_state",
    "library_versions",
    "setup_distributed",
    "cleanup_distributed",
    "is_main_process",
    "live_plot_callback",
]

AMP_CHOICES = ("none", "bf16", "fp16")
CHECKPOINT_FORMAT = "cervix-checkpoint"


class NonFiniteLossError(RuntimeError):
    """Raised when the training loss becomes NaN or infinite."""


class CheckpointError(ValueError):
    """Raised for a file that is not a weights-only checkpoint (names the file)."""


@dataclass
class TrainConfig:
    """Knobs of the generic loop; same names as the stage configs in :mod:`cervix.config`."""

    epochs: int = 10  # passes over the training loader
    lr: float = 1e-3  # AdamW peak learning rate after warm-up
    weight_decay: float = 0.05  # AdamW decoupled weight decay (norms and biases excluded)
    warmup_epochs: float = 1.0  # linear warm-up length in epochs (fractions allowed; 0 = none)
    min_lr: float = 1e-6  # floor the cosine schedule decays to
    grad_clip: float | None = 1.0  # max global gradient norm; None disables clipping
    amp: str = "none"  # "none" | "bf16" | "fp16" (fp16 falls back to bf16 on CPU)
    monitor: str = "val_loss"  # key of the evaluate_fn dict (or "train_loss") that selects best.pt
    mode: str = "min"  # "min" or "max": direction in which the monitor improves
    early_stopping_patience: int | None = None  # epochs without improvement before stopping
    early_stopping_window: int = 1  # stop on the median of the monitor over this many epochs
    early_stopping_min_delta: float = 0.0  # an improvement smaller than this does not count
    seed: int = 0  # seed of python/numpy/torch RNGs and of the per-epoch sampler order
    max_train_minutes: float | None = None  # stop before an epoch that would exceed this budget
    progress: bool = True  # tqdm progress bars (rank 0 only)
    tensorboard: bool = True  # write TensorBoard events to out_dir
    log_every: int = 10  # TensorBoard train-loss logging interval in steps

    @classmethod
    def from_config(cls, cfg: Any = None, **overrides: Any) -> "TrainConfig":
        """Pick the fields of this class from a stage config (dataclass or dict), then overrides."""
        src = to_dict(cfg) if cfg is not None else {}
        names = {f.name for f in dataclasses.fields(cls)}
        kw = {k: v for k, v in src.items() if k in names}
        unknown = sorted(set(overrides) - names)
        if unknown:
            raise TypeError(f"unknown TrainConfig field(s) {unknown}")
        kw.update(overrides)
        return cls(**kw)

    def __post_init__(self) -> None:
        if self.amp not in AMP_CHOICES:
            raise ValueError(f"amp must be one of {AMP_CHOICES}, got {self.amp!r}")
        if self.mode not in ("min", "max"):
            raise ValueError(f"mode must be 'min' or 'max', got {self.mode!r}")
        if self.epochs < 1:
            raise ValueError(f"epochs must be >= 1, got {self.epochs}")
        if self.early_stopping_window < 1:
            raise ValueError(f"early_stopping_window must be >= 1, got {self.early_stopping_window}")
        if self.early_stopping_min_delta < 0:
            raise ValueError(f"early_stopping_min_delta must be >= 0, got {self.early_stopping_min_delta}")


@dataclass
class History:
    """What :func:`fit` returns: one row per epoch plus the outcome."""

    rows: list[dict[str, Any]] = field(default_factory=list)  # per-epoch rows, as in history.csv:
    # epoch, step (global), lr (for the next step), train_loss, train_<part>, the evaluate_fn
    # metrics, time_s
    monitor: str = "val_loss"  # monitored metric
    mode: str = "min"  # its direction
    best_metric: float | None = None  # best monitored value
    best_epoch: int | None = None  # epoch (1-based) of best.pt
    stop_reason: str = ""  # "completed", "early stopping", "time budget", "callback"
    out_dir: str = ""  # run folder

    def __len__(self) -> int:
        return len(self.rows)

    def __getitem__(self, key: str) -> list[Any]:
        """Column ``key`` over epochs (None where an epoch lacks it)."""
        return [r.get(key) for r in self.rows]

    @property
    def keys(self) -> list[str]:
        """All column names in first-seen order."""
        out: dict[str, None] = {}
        for r in self.rows:
            out.update(dict.fromkeys(r))
        return list(out)

    def to_dataframe(self):  # -> pandas.DataFrame
        """The history as a pandas DataFrame."""
        import pandas as pd

        return pd.DataFrame(self.rows)


# ----------------------------------------------------------------------------- utilities
def seed_everything(seed: int, deterministic: bool = True) -> None:
    """Seed python, numpy and torch (CPU and CUDA); with ``deterministic``, pin cuDNN choices."""
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)
    if torch.cuda.is_available():
        torch.cuda.manual_seed_all(seed)
    os.environ.setdefault("PYTHONHASHSEED", str(seed))
    if deterministic:
        torch.backends.cudnn.deterministic = True
        torch.backends.cudnn.benchmark = False


def rng_state() -> dict[str, Any]:
    """All RNG states as tensors and plain lists (weights-only loadable)."""
    np_state = np.random.get_state()
    py_state = random.getstate()
    state: dict[str, Any] = {
        "torch": torch.get_rng_state(),
        "numpy": [str(np_state[0]), np_state[1].tolist(), int(np_state[2]), int(np_state[3]),
                  float(np_state[4])],
        "python": [py_state[0], list(py_state[1]), py_state[2]],
        "cuda": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else [],
    }
    return state


def set_rng_state(state: Mapping[str, Any]) -> None:
    """Restore the states saved by :func:`rng_state`."""
    torch.set_rng_state(state["torch"].cpu())
    n = state["numpy"]
    np.random.set_state((n[0], np.asarray(n[1], dtype=np.uint32), n[2], n[3], n[4]))
    p = state["python"]
    random.setstate((p[0], tuple(p[1]), p[2]))
    cuda = state.get("cuda") or []
    if cuda and torch.cuda.is_available() and len(cuda) == torch.cuda.device_count():
        torch.cuda.set_rng_state_all([c.cpu() for c in cuda])


def library_versions() -> dict[str, str]:
    """Versions of the libraries a checkpoint depends on."""
    import cervix

    out = {"python": platform.python_version(), "torch": str(torch.__version__),
           "numpy": str(np.__version__), "cervix": str(getattr(cervix, "__version__", "?"))}
    with contextlib.suppress(Exception):
        import timm

        out["timm"] = str(timm.__version__)
    return out


def unwrap(model: nn.Module) -> nn.Module:
    """The bare module under DistributedDataParallel / DataParallel / torch.compile wrappers."""
    while True:
        if isinstance(model, (nn.parallel.DistributedDataParallel, nn.DataParallel)):
            model = model.module
        elif hasattr(model, "_orig_mod"):
            model = model._orig_mod  # torch.compile
        else:
            return model


def device_and_amp(amp: str = "none", device: str | torch.device | None = None
                   ) -> tuple[torch.device, torch.dtype | None, bool]:
    """Resolve the device and the autocast settings.

    Args:
        amp: ``"none"``, ``"bf16"`` or ``"fp16"``. fp16 autocast needs CUDA; on CPU it falls back
            to bf16 with a warning.
        device: explicit device; default CUDA (``cuda:$LOCAL_RANK`` under torchrun) when
            available, else CPU.

    Returns:
        ``(device, autocast dtype or None, use_grad_scaler)``.
    """
    if amp not in AMP_CHOICES:
        raise ValueError(f"amp must be one of {AMP_CHOICES}, got {amp!r}")
    if device is None:
        if torch.cuda.is_available():
            device = torch.device("cuda", int(os.environ.get("LOCAL_RANK", 0)))
        else:
            device = torch.device("cpu")
    device = torch.device(device)
    if amp == "none":
        return device, None, False
    if amp == "bf16":
        return device, torch.bfloat16, False
    if device.type == "cuda":
        return device, torch.float16, True
    warnings.warn("fp16 autocast needs CUDA; using bf16 autocast on CPU instead", stacklevel=2)
    return device, torch.bfloat16, False


def autocast_context(device: torch.device, dtype: torch.dtype | None):
    """``torch.autocast`` for ``dtype`` on ``device``, or a no-op context when ``dtype`` is None."""
    if dtype is None:
        return contextlib.nullcontext()
    return torch.autocast(device_type=device.type, dtype=dtype)


def warmup_cosine_lambda(total_steps: int, warmup_steps: int, min_ratio: float = 0.0
                         ) -> Callable[[int], float]:
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


# ----------------------------------------------------------------------------- checkpoints
_PLAIN = (int, float, bool, str, type(None))


def check_plain(obj: Any, where: str = "state") -> None:
    """Raise TypeError unless ``obj`` is built only of tensors and plain Python types."""
    if isinstance(obj, torch.Tensor) or type(obj) in _PLAIN:  # exact types: str subclasses pickle as globals
        return
    if isinstance(obj, (torch.dtype, torch.device, torch.Size)):
        return
    if isinstance(obj, Mapping):
        if type(obj) not in (dict, collections.OrderedDict):
            raise TypeError(f"{where}: mapping type {type(obj).__name__} is not plain; use dict")
        for k, v in obj.items():
            if type(k) not in (str, int):
                raise TypeError(f"{where}: key {k!r} of type {type(k).__name__} is not plain")
            check_plain(v, f"{where}[{k!r}]")
        return
    if type(obj) in (list, tuple):
        for i, v in enumerate(obj):
            check_plain(v, f"{where}[{i}]")
        return
    raise TypeError(f"{where}: {type(obj).__module__}.{type(obj).__name__} is not a tensor or a "
                    "plain Python type; convert it before saving (checkpoints must load with "
                    "weights_only=True)")


def save_checkpoint(path: str | os.PathLike, state: Mapping[str, Any]) -> Path:
    """Write ``state`` atomically: a temporary file in the same folder, fsync, ``os.replace``.

    Raises:
        TypeError: ``state`` holds something other than tensors and plain Python types.
        OSError: the write failed; a full disk says "no space left on the device holding PATH"
            (torch reports it as a bare ``RuntimeError: [enforce fail ...]``). The previous file
            under ``path`` stays intact.
    """
    import errno

    path = Path(path)
    check_plain(state)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        with open(tmp, "wb") as fh:
            torch.save(dict(state), fh)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except (OSError, RuntimeError) as exc:
        full = getattr(exc, "errno", None) == errno.ENOSPC or "No space left" in str(exc) or (
            isinstance(exc, RuntimeError) and "enforce fail" in str(exc))
        if full:
            raise OSError(errno.ENOSPC, f"no space left on the device holding {path}; the previous "
                                        f"{path.name} (if any) is intact") from exc
        raise
    finally:
        if tmp.exists():
            tmp.unlink()
    return path


def load_checkpoint(path: str | os.PathLike, map_location: str | torch.device = "cpu"
                    ) -> dict[str, Any]:
    """Load a checkpoint with ``torch.load(..., weights_only=True)`` (never arbitrary pickles).

    Raises:
        FileNotFoundError: no such file.
        CheckpointError: the file is not a weights-only checkpoint (pickled objects, truncated or
            corrupt data, or not a dict); the message names the file.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"checkpoint not found: {path}")
    try:
        obj = torch.load(path, map_location=map_location, weights_only=True)
    except (pickle.UnpicklingError, RuntimeError, EOFError, ValueError, OSError,
            AttributeError, TypeError, KeyError, IndexError) as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise CheckpointError(
            f"{path} is not a weights-only checkpoint and is refused: only files holding tensors "
            f"and plain Python types are loaded (torch.load(weights_only=True)). "
            f"Cause: {type(exc).__name__}: {first[:300]}") from exc
    if not isinstance(obj, dict):
        raise CheckpointError(f"{path} holds a {type(obj).__name__}, not a checkpoint dict")
    return obj


def model_from_checkpoint(ck: Mapping[str, Any], path: str | os.PathLike, task: str,
                          build: Callable[[Mapping[str, Any]], nn.Module]) -> nn.Module:
    """The model a loaded checkpoint describes, with its weights: ``build(config)`` then
    :func:`load_weights`; every way the checkpoint can fail to fit is one error naming ``path``.

    Raises:
        ValueError: the checkpoint belongs to another task.
        CheckpointError: its config lacks a key or describes no valid model, or its weights do
            not fit that model.
    """
    cfg = ck.get("config") or {}
    if cfg.get("task") != task:
        raise ValueError(f"{path}: not a {task} checkpoint (task={cfg.get('task')!r})")
    try:
        model = build(cfg)
    except KeyError as exc:
        raise CheckpointError(f"{path}: its config lacks {exc.args[0]!r}; not a complete cervix {task} "
                              "checkpoint") from exc
    except (TypeError, ValueError) as exc:
        raise CheckpointError(f"{path}: its config does not describe a valid model ({exc})") from exc
    return load_weights(model, ck.get("model"), path)


def load_weights(model: nn.Module, state: Mapping[str, Any], path: str | os.PathLike) -> nn.Module:
    """``model.load_state_dict(state)`` that fails with one line naming the checkpoint.

    Raises:
        CheckpointError: the weights do not fit the model the checkpoint's config describes (the
            message names ``path``, the first mismatching tensor and how many differ).
    """
    own = model.state_dict()
    if not isinstance(state, Mapping):
        raise CheckpointError(f"{path}: 'model' holds a {type(state).__name__}, not a state dict")
    shape = [k for k in own if k in state and hasattr(state[k], "shape") and tuple(state[k].shape) != tuple(own[k].shape)]
    missing = [k for k in own if k not in state]
    extra = [k for k in state if k not in own]
    if shape or missing or extra:
        if shape:
            k = shape[0]
            first = f"{k}: checkpoint {tuple(state[k].shape)} vs model {tuple(own[k].shape)}"
        else:
            first = f"missing {missing[0]}" if missing else f"unexpected {extra[0]}"
        raise CheckpointError(
            f"{path}: its weights do not fit the model its config describes ({len(shape)} shape "
            f"mismatch(es), {len(missing)} missing, {len(extra)} unexpected; first: {first}). Was the "
            "config edited, or the file written by another version?")
    model.load_state_dict(state)
    return model


# ----------------------------------------------------------------------------- distributed
def setup_distributed() -> tuple[int, int, int]:
    """Initialise the process group when started by torchrun; return (rank, world_size, local_rank).

    NCCL on CUDA, gloo on CPU. Outside torchrun returns ``(0, 1, 0)`` and does nothing.
    """
    if dist.is_available() and dist.is_initialized():
        return dist.get_rank(), dist.get_world_size(), int(os.environ.get("LOCAL_RANK", 0))
    world = int(os.environ.get("WORLD_SIZE", 1))
    if world <= 1 or "RANK" not in os.environ:
        return 0, 1, 0
    local_rank = int(os.environ.get("LOCAL_RANK", 0))
    if torch.cuda.is_available():
        torch.cuda.set_device(local_rank)
        backend = "nccl"
    else:
        backend = "gloo"
    dist.init_process_group(backend=backend)
    return dist.get_rank(), dist.get_world_size(), local_rank


def cleanup_distributed() -> None:
    """Destroy the process group if one is initialised."""
    if dist.is_available() and dist.is_initialized():
        dist.destroy_process_group()


def _ddp() -> bool:
    return dist.is_available() and dist.is_initialized() and dist.get_world_size() > 1


def is_main_process() -> bool:
    """True outside DDP and on rank 0."""
    return not _ddp() or dist.get_rank() == 0


def _broadcast(obj: Any) -> Any:
    if not _ddp():
        return obj
    box = [obj]
    dist.broadcast_object_list(box, src=0)
    return box[0]


# ----------------------------------------------------------------------------- data
class EpochSampler(Sampler[int]):
    """Shuffled, optionally weighted and DDP-sharded sampler reseeded per epoch.

    The order of epoch ``e`` depends only on ``seed + e`` (``torch.Generator().manual_seed``),
    never on the global RNG, so a resumed run sees the same order as an uninterrupted one.
    :func:`fit` calls :meth:`set_epoch` before each epoch.

    Args:
        n: dataset length.
        shuffle: random order (else ``0..n-1``).
        seed: base seed.
        weights: per-sample weights; draws ``n`` indices with replacement (balanced sampling).
        num_replicas / rank: DDP sharding (default: from the process group, else 1 / 0). The
            index list is padded by wrapping so every rank gets ``ceil(n / num_replicas)``.
    """

    def __init__(self, n: int, shuffle: bool = True, seed: int = 0,
                 weights: Sequence[float] | torch.Tensor | None = None,
                 num_replicas: int | None = None, rank: int | None = None) -> None:
        if n <= 0:
            raise ValueError("EpochSampler needs a non-empty dataset")
        self.n, self.shuffle, self.seed, self.epoch = int(n), bool(shuffle), int(seed), 0
        self.weights = None if weights is None else torch.as_tensor(weights, dtype=torch.double)
        if self.weights is not None and len(self.weights) != n:
            raise ValueError(f"{len(self.weights)} sampler weights for {n} samples")
        self.num_replicas = num_replicas if num_replicas is not None else (
            dist.get_world_size() if _ddp() else 1)
        self.rank = rank if rank is not None else (dist.get_rank() if _ddp() else 0)
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
        return iter(idx[self.rank:total:self.num_replicas])

    def __len__(self) -> int:
        return self.num_samples


def make_loader(dataset: Dataset, batch_size: int, shuffle: bool = True, seed: int = 0,
                sampler_weights: Sequence[float] | None = None, num_workers: int = 0,
                drop_last: bool | None = None, distributed: bool | None = None,
                **kwargs: Any) -> DataLoader:
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
        distributed = _ddp() and (shuffle or sampler_weights is not None)
    replicas, rank = (None, None) if distributed else (1, 0)
    sampler = EpochSampler(n, shuffle=shuffle, seed=seed, weights=sampler_weights,
                           num_replicas=replicas, rank=rank)
    if drop_last is None:
        drop_last = shuffle and len(sampler) > batch_size
    gen = torch.Generator().manual_seed(seed)
    return DataLoader(dataset, batch_size=batch_size, sampler=sampler, num_workers=num_workers,
                      drop_last=drop_last, generator=gen, persistent_workers=False, **kwargs)


def _set_loader_epoch(loader: Any, epoch: int, seed: int) -> None:
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


def _to_device(obj: Any, device: torch.device) -> Any:
    if isinstance(obj, torch.Tensor):
        return obj.to(device, non_blocking=True)
    if isinstance(obj, Mapping):
        return {k: _to_device(v, device) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return type(obj)(_to_device(v, device) for v in obj)
    return obj


def _float(x: Any) -> float:
    return float(x.detach().float().item()) if isinstance(x, torch.Tensor) else float(x)


# ----------------------------------------------------------------------------- logging
def _write_history_csv(path: Path, rows: list[dict[str, Any]]) -> None:
    keys: dict[str, None] = {}
    for r in rows:
        keys.update(dict.fromkeys(r))
    buf = io.StringIO()
    w = csv.DictWriter(buf, fieldnames=list(keys))
    w.writeheader()
    w.writerows(rows)
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(buf.getvalue())
    os.replace(tmp, path)


def _write_json(path: Path, obj: Any) -> None:
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(json.dumps(obj, indent=2, sort_keys=False, default=str))
    os.replace(tmp, path)


def _param_groups(model: nn.Module, weight_decay: float) -> list[dict[str, Any]]:
    decay, no_decay = [], []
    for name, p in model.named_parameters():
        if not p.requires_grad:
            continue
        (no_decay if p.ndim <= 1 or name.endswith(".bias") else decay).append(p)
    groups = [{"params": decay, "weight_decay": weight_decay}]
    if no_decay:
        groups.append({"params": no_decay, "weight_decay": 0.0})
    return groups


def _improved(value: float, best: float | None, mode: str, min_delta: float = 0.0) -> bool:
    if not math.isfinite(value):
        return False
    if best is None:
        return True
    return value > best + min_delta if mode == "max" else value < best - min_delta


def stopping_signal(values: Sequence[float], window: int) -> float:
    """The value early stopping judges after the last epoch: the median of the monitor over the
    last ``window`` epochs (fewer at the start), so one noisy epoch neither resets nor counts
    against the patience. Non-finite values are ignored (NaN if none is left)."""
    tail = [float(v) for v in list(values)[-max(1, int(window)):] if v is not None and math.isfinite(float(v))]
    return float(np.median(tail)) if tail else float("nan")


#: Settings that may differ when a run is resumed (they do not change what is computed).
RESUME_MAY_CHANGE = frozenset({"progress", "tensorboard", "log_every", "max_train_minutes", "num_workers",
                               "data", "masks", "split_path", "pretrained"})


def _check_same_settings(path: Path, saved: Mapping[str, Any], now: Mapping[str, Any]) -> None:
    """Refuse to resume a run under other settings: its results would mix two configurations
    while ``config.json`` claimed the new one for the whole run."""
    diff = [f"{k}: {saved[k]!r} -> {now[k]!r}" for k in sorted(set(saved) & set(now))
            if k not in RESUME_MAY_CHANGE and to_dict(saved[k]) != to_dict(now[k])]
    if diff:
        raise ValueError(f"{path}: cannot resume with other settings than the run's ({'; '.join(diff)}); "
                         "resume with the run's own settings, or start a new run (--overwrite or another --out)")


# ----------------------------------------------------------------------------- the loop
def fit(
    model: nn.Module,
    train_loader: Any,
    val_loader: Any,
    loss_fn: Callable[[Any, Any], Any],
    evaluate_fn: Callable[[nn.Module, Any], Mapping[str, float]] | None,
    cfg: TrainConfig,
    out_dir: str | os.PathLike,
    *,
    config: Any = None,
    resume: bool = False,
    device: str | torch.device | None = None,
    on_epoch_end: Callable[[History], Any] | None = None,
    extra_state: Mapping[str, Any] | None = None,
) -> History:
    """Train ``model`` and keep ``best.pt`` / ``last.pt`` in ``out_dir``.

    Args:
        model: the network; moved to the device (and wrapped in DDP under torchrun).
        train_loader: iterable of ``(inputs, targets)`` batches (tensors or nested lists/dicts of
            tensors); use :func:`make_loader` for reproducible per-epoch order and DDP sharding.
            ``len(train_loader)`` gives the steps per epoch of the LR schedule.
        val_loader: passed to ``evaluate_fn`` (may be None).
        loss_fn: ``loss_fn(model_output, targets) -> loss`` or ``(loss, {name: part})``; called
            outside autocast on float32 outputs.
        evaluate_fn: ``evaluate_fn(model, val_loader) -> {metric: float}`` on the unwrapped model
            (``fit`` puts it in eval mode and no-grad, then back to train). None = no validation;
            then monitor ``train_loss``.
        cfg: :class:`TrainConfig` (see :meth:`TrainConfig.from_config`).
        out_dir: run folder; gets ``config.json``, ``history.csv``, TensorBoard events,
            ``best.pt`` and ``last.pt``.
        config: the run's description (dataclass or dict: task, class names, in_chans,
            normalisation, image size, scale, thresholds, ...), stored in ``config.json`` and as a
            plain dict under ``"config"`` in every checkpoint.
        resume: continue from ``out_dir/last.pt`` if it exists (weights, optimiser, scheduler,
            epoch, RNG, early-stopping state, history). A run that stopped early stays stopped.
        device: default CUDA when available, else CPU.
        on_epoch_end: ``callback(history)`` after each epoch's checkpoints are written (rank 0);
            returning True stops training (``stop_reason="callback"``).
        extra_state: plain data stored under ``"extra"`` in checkpoints.

    Seeds python/numpy/torch with ``cfg.seed`` when it starts (seed before building the model too,
    so the initial weights are reproducible).

    Returns:
        :class:`History`.

    Raises:
        NonFiniteLossError: NaN/inf loss; ``last.pt`` from the last finished epoch is kept.
        KeyError: ``cfg.monitor`` is not among the epoch's metrics.
    """
    out = Path(out_dir)
    rank, world, _ = setup_distributed()
    main = rank == 0
    dev, amp_dtype, use_scaler = device_and_amp(cfg.amp, device)
    if main:
        out.mkdir(parents=True, exist_ok=True)
    plain_config = to_dict(config) if config is not None else {}
    if not isinstance(plain_config, dict):
        raise TypeError("config must be a dataclass or a dict")
    check_plain(plain_config, "config")
    train_dict = to_dict(cfg)

    if evaluate_fn is None and not cfg.monitor.startswith("train_"):
        raise ValueError(f"monitor {cfg.monitor!r} needs an evaluate_fn; without one monitor "
                         "'train_loss'")
    steps_per_epoch = len(train_loader)
    if steps_per_epoch == 0:
        raise ValueError("the training loader is empty (dataset smaller than one batch with "
                         "drop_last?)")
    total_steps = cfg.epochs * steps_per_epoch
    warmup_steps = int(round(cfg.warmup_epochs * steps_per_epoch))

    seed_everything(cfg.seed)
    model.to(dev)
    bare = model
    optimizer = torch.optim.AdamW(_param_groups(bare, cfg.weight_decay), lr=cfg.lr)
    scheduler = torch.optim.lr_scheduler.LambdaLR(
        optimizer, warmup_cosine_lambda(total_steps, warmup_steps, cfg.min_lr / cfg.lr))
    scaler = torch.amp.GradScaler(dev.type, enabled=use_scaler) if use_scaler else None

    history = History(monitor=cfg.monitor, mode=cfg.mode, out_dir=str(out))
    start_epoch, global_step, bad_epochs, elapsed = 0, 0, 0, 0.0
    stop_best: float | None = None  # best stopping signal so far (see stopping_signal)
    restored_rng = None
    last_path = out / "last.pt"
    if resume and last_path.is_file():
        ck = load_checkpoint(last_path, map_location="cpu")
        _check_same_settings(last_path, {**dict(ck.get("config") or {}), **dict(ck.get("train_config") or {})},
                             {**plain_config, **train_dict})
        load_weights(bare, ck["model"], last_path)
        optimizer.load_state_dict(ck["optimizer"])
        scheduler.load_state_dict(ck["scheduler"])
        if scaler is not None and ck.get("scaler"):
            scaler.load_state_dict(ck["scaler"])
        start_epoch, global_step = int(ck["epoch"]), int(ck["global_step"])
        history.rows = [dict(r) for r in ck.get("history", [])]
        history.best_metric, history.best_epoch = ck.get("best_metric"), ck.get("best_epoch")
        bad_epochs, elapsed = int(ck.get("bad_epochs", 0)), float(ck.get("elapsed_s", 0.0))
        stop_best = ck.get("stop_best")
        restored_rng = ck.get("rng")
        if ck.get("stop_reason") == "early stopping":
            history.stop_reason = "early stopping"
            if main:
                tqdm.write(f"{last_path}: the run already stopped early at epoch {start_epoch}; "
                           "nothing to resume")
            return history
        if main:
            tqdm.write(f"resuming from {last_path} after epoch {start_epoch}")
    elif resume and main:
        tqdm.write(f"no {last_path} to resume from; starting a new run")

    if _ddp():
        ddp_kw = {"device_ids": [dev.index]} if dev.type == "cuda" else {}
        model = nn.parallel.DistributedDataParallel(bare, **ddp_kw)

    writer = None
    if main:
        _write_json(out / "config.json", {**plain_config, "train_config": train_dict,
                                           "world_size": world, "versions": library_versions()})
        if cfg.tensorboard:
            from torch.utils.tensorboard import SummaryWriter

            writer = SummaryWriter(log_dir=str(out), purge_step=global_step or None)

    def checkpoint(epoch: int, stop_reason: str) -> dict[str, Any]:
        return {
            "format": CHECKPOINT_FORMAT, "format_version": 1,
            "model": bare.state_dict(), "optimizer": optimizer.state_dict(),
            "scheduler": scheduler.state_dict(),
            "scaler": scaler.state_dict() if scaler is not None else None,
            "epoch": epoch, "global_step": global_step, "monitor": cfg.monitor, "mode": cfg.mode,
            "best_metric": history.best_metric, "best_epoch": history.best_epoch,
            "bad_epochs": bad_epochs, "stop_best": stop_best, "stop_reason": stop_reason,
            "elapsed_s": elapsed,
            "history": [dict(r) for r in history.rows], "rng": rng_state(),
            "config": plain_config, "train_config": train_dict, "versions": library_versions(),
            "world_size": world, "extra": to_dict(dict(extra_state or {})),
        }

    if restored_rng is not None:
        set_rng_state(restored_rng)  # last thing before the loop: nothing may draw in between

    show = cfg.progress and main
    epoch_bar = tqdm(range(start_epoch, cfg.epochs), desc="epochs", disable=not show,
                     initial=start_epoch, total=cfg.epochs, dynamic_ncols=True)
    stop_reason = "completed"
    try:
        for epoch in epoch_bar:
            t0 = time.perf_counter()
            _set_loader_epoch(train_loader, epoch, cfg.seed)
            model.train()
            loss_sum = torch.zeros(2, dtype=torch.float64)  # (sum, count)
            parts_sum: dict[str, float] = {}
            bar = tqdm(train_loader, desc=f"epoch {epoch + 1}/{cfg.epochs}", leave=False,
                       disable=not show, dynamic_ncols=True)
            for batch in bar:
                inputs, targets = _to_device(batch[0], dev), _to_device(batch[1], dev)
                with autocast_context(dev, amp_dtype):
                    output = model(inputs)
                if isinstance(output, torch.Tensor):
                    output = output.float()
                res = loss_fn(output, targets)
                loss, parts = (res if isinstance(res, tuple) else (res, {}))
                finite = torch.isfinite(loss.detach()).to(torch.float32)
                if _ddp():
                    dist.all_reduce(finite, op=dist.ReduceOp.MIN)
                if finite.item() < 1:
                    msg = (f"non-finite loss ({_float(loss)}) at epoch {epoch + 1}, step "
                           f"{global_step + 1}; training stopped. ")
                    msg += (f"The last good checkpoint is {last_path} (epoch {epoch})."
                            if last_path.is_file() else "No checkpoint was written yet.")
                    msg += " Try a lower lr, grad_clip, or amp='none'."
                    raise NonFiniteLossError(msg)
                optimizer.zero_grad(set_to_none=True)
                if scaler is not None:
                    scaler.scale(loss).backward()
                    if cfg.grad_clip:
                        scaler.unscale_(optimizer)
                        nn.utils.clip_grad_norm_(bare.parameters(), cfg.grad_clip)
                    scaler.step(optimizer)
                    scaler.update()
                else:
                    loss.backward()
                    if cfg.grad_clip:
                        nn.utils.clip_grad_norm_(bare.parameters(), cfg.grad_clip)
                    optimizer.step()
                with warnings.catch_warnings():  # GradScaler skipping an fp16 step is normal
                    warnings.filterwarnings("ignore", ".*lr_scheduler.step.*optimizer.step.*")
                    scheduler.step()
                global_step += 1
                lv = _float(loss)
                loss_sum += torch.tensor([lv, 1.0], dtype=torch.float64)
                for k, v in dict(parts).items():
                    parts_sum[k] = parts_sum.get(k, 0.0) + _float(v)
                if show:
                    bar.set_postfix(loss=f"{lv:.4f}", lr=f"{optimizer.param_groups[0]['lr']:.2e}")
                if writer is not None and cfg.log_every and global_step % cfg.log_every == 0:
                    writer.add_scalar("step/train_loss", lv, global_step)
                    writer.add_scalar("step/lr", optimizer.param_groups[0]["lr"], global_step)
            bar.close()
            if _ddp():
                dist.all_reduce(loss_sum)
            n_steps = max(1.0, float(loss_sum[1]))
            row: dict[str, Any] = {"epoch": epoch + 1, "step": global_step,
                                   "lr": optimizer.param_groups[0]["lr"],
                                   "train_loss": float(loss_sum[0]) / n_steps}
            local_steps = max(1, steps_per_epoch)
            row.update({f"train_{k}": v / local_steps for k, v in parts_sum.items()})

            metrics: dict[str, float] | None = None
            if main and evaluate_fn is not None:
                bare.eval()
                with torch.no_grad():
                    metrics = {k: _float(v) for k, v in dict(evaluate_fn(bare, val_loader)).items()}
                bare.train()
            metrics = _broadcast(metrics)
            row.update(metrics or {})
            elapsed += time.perf_counter() - t0
            row["time_s"] = round(time.perf_counter() - t0, 3)
            if cfg.monitor not in row:
                raise KeyError(f"monitor {cfg.monitor!r} not among the epoch's metrics "
                               f"{sorted(row)}")
            value = float(row[cfg.monitor])
            is_best = _improved(value, history.best_metric, cfg.mode)
            if is_best:
                history.best_metric, history.best_epoch = value, epoch + 1
            history.rows.append(row)
            # early stopping judges a smoothed monitor against a min_delta; best.pt stays on the raw one
            signal = stopping_signal(history[cfg.monitor], cfg.early_stopping_window)
            if _improved(signal, stop_best, cfg.mode, cfg.early_stopping_min_delta):
                stop_best, bad_epochs = signal, 0
            else:
                bad_epochs += 1

            stop_reason = ""
            if cfg.early_stopping_patience is not None and bad_epochs >= cfg.early_stopping_patience:
                stop_reason = "early stopping"
            elif cfg.max_train_minutes is not None and epoch + 1 < cfg.epochs:
                per_epoch = elapsed / (epoch + 1)  # mean epoch time, resumed runs included
                if elapsed + per_epoch > cfg.max_train_minutes * 60:
                    stop_reason = "time budget"

            if main:
                if is_best:
                    save_checkpoint(out / "best.pt", checkpoint(epoch + 1, ""))
                save_checkpoint(last_path, checkpoint(epoch + 1, stop_reason))
                _write_history_csv(out / "history.csv", history.rows)
                if writer is not None:
                    for k, v in row.items():
                        if k not in ("epoch", "step") and isinstance(v, (int, float)):
                            writer.add_scalar(f"epoch/{k}", v, epoch + 1)
                    writer.flush()
                epoch_bar.set_postfix({cfg.monitor: f"{value:.4f}",
                                       "best": f"{history.best_metric:.4f}"
                                       if history.best_metric is not None else "-"})
                if on_epoch_end is not None and on_epoch_end(history) is True and not stop_reason:
                    stop_reason = "callback"
                if stop_reason == "time budget":  # after the callback, whose live plot clears the cell
                    warnings.warn(f"{out}: max_train_minutes={cfg.max_train_minutes} stopped training after "
                                  f"epoch {epoch + 1} of {cfg.epochs}: this model is weaker than the "
                                  "configured one and depends on the machine's speed; raise "
                                  "max_train_minutes (None = no cap) to train all epochs", stacklevel=2)
            stop_reason = _broadcast(stop_reason)
            if stop_reason:
                if main:
                    tqdm.write(f"stopping after epoch {epoch + 1}: {stop_reason}")
                break
        else:
            stop_reason = "completed"
    finally:
        epoch_bar.close()
        if writer is not None:
            writer.close()
    history.stop_reason = stop_reason or "completed"
    if _ddp():
        dist.barrier()
    return history


# ----------------------------------------------------------------------------- notebooks
def _notebook_display() -> tuple[Callable, Callable] | None:
    """(clear_output, display) inside an IPython kernel, else None."""
    try:
        from IPython import get_ipython
        from IPython.display import clear_output, display
    except ImportError:
        return None
    if get_ipython() is None:
        return None
    return clear_output, display


def live_plot_callback(metrics: Sequence[str] | None = None, every: int = 1) -> Callable[[History], None]:
    """A ``fit(on_epoch_end=...)`` callback that redraws the training curves in a notebook.

    Args:
        metrics: score columns for the right panel (default every ``val_*`` column that is not
            a loss); the losses always have the left panel to themselves.
        every: redraw every ``every`` epochs.

    Outside IPython it prints one line per epoch instead. Drawn by
    :func:`cervix.plotting.plot_history`, like the saved curves.
    """

    def callback(history: History) -> None:
        if len(history) % every:
            return
        nb = _notebook_display()
        if nb is None:
            last = history.rows[-1]
            print(", ".join(f"{k}={v:.4g}" if isinstance(v, float) else f"{k}={v}"
                            for k, v in last.items()))
            return
        clear_output, display = nb
        import matplotlib.pyplot as plt

        from .plotting import plot_history

        losses = tuple(k for k in history.keys if k.endswith("loss"))
        chosen = metrics if metrics is not None else [k for k in history.keys if k.startswith("val_")]
        scores = tuple(k for k in chosen if not k.endswith("loss"))
        fig = plot_history(history, tuple(p for p in (losses, scores) if p))
        clear_output(wait=True)
        display(fig)
        plt.close(fig)  # shown once by display, not again at the end of the cell

    return callback
