"""Checkpoints that hold only tensors and plain Python types, written atomically.

A checkpoint is a dict of tensors and plain Python types (:func:`check_plain` refuses anything
else before writing), so it loads with ``torch.load(path, weights_only=True)``, and
:func:`load_checkpoint` never loads anything else: a file with pickled objects is refused, not
executed. :func:`save_checkpoint` writes through :func:`cervix.core.files.atomic_write` (temporary
file in the same folder, fsync, ``os.replace``), so an interrupted or full-disk write leaves the
previous file intact. :func:`model_from_checkpoint` rebuilds a model from the config stored in a
checkpoint and loads its weights (:func:`load_weights`), with one error naming the file for
every way the two can fail to fit. The checkpoints :func:`cervix.training.loop.fit` writes
(``best.pt`` / ``last.pt``) are described in its docstring.
"""

from __future__ import annotations

import collections
import contextlib
import errno
import importlib.metadata
import os
import pickle
import platform
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from cervix.core.files import atomic_write
from cervix.training.rundir import resolve_checkpoint

__all__ = [
    "CHECKPOINT_FORMAT",
    "CheckpointError",
    "check_plain",
    "save_checkpoint",
    "load_checkpoint",
    "model_from_checkpoint",
    "load_run_model",
    "load_weights",
    "library_versions",
]

#: The ``"format"`` entry of every checkpoint :func:`cervix.training.loop.fit` writes.
CHECKPOINT_FORMAT = "cervix-checkpoint"


class CheckpointError(ValueError):
    """Raised for a file that is not a weights-only checkpoint (names the file)."""


def library_versions() -> dict[str, str]:
    """Versions of the libraries a checkpoint depends on."""
    out = {
        "python": platform.python_version(),
        "torch": str(torch.__version__),
        "numpy": str(np.__version__),
        "cervix": "?",
    }
    with contextlib.suppress(importlib.metadata.PackageNotFoundError):
        out["cervix"] = importlib.metadata.version("cervix")
    with contextlib.suppress(Exception):
        import timm

        out["timm"] = str(timm.__version__)
    return out


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
    raise TypeError(
        f"{where}: {type(obj).__module__}.{type(obj).__name__} is not a tensor or a "
        "plain Python type; convert it before saving (checkpoints must load with "
        "weights_only=True)"
    )


def save_checkpoint(path: str | os.PathLike, state: Mapping[str, Any]) -> Path:
    """Write ``state`` atomically: a temporary file in the same folder, fsync, ``os.replace``.

    Raises:
        TypeError: ``state`` holds something other than tensors and plain Python types.
        OSError: the write failed; a full disk says "no space left on the device holding PATH"
            (torch reports it as a bare ``RuntimeError: [enforce fail ...]``). The previous file
            under ``path`` stays intact.
    """
    path = Path(path)
    check_plain(state)
    try:
        atomic_write(path, lambda fh: torch.save(dict(state), fh), fsync=True)
    except (OSError, RuntimeError) as exc:
        full = (
            getattr(exc, "errno", None) == errno.ENOSPC
            or "No space left" in str(exc)
            or (isinstance(exc, RuntimeError) and "enforce fail" in str(exc))
        )
        if full:
            raise OSError(
                errno.ENOSPC, f"no space left on the device holding {path}; the previous {path.name} (if any) is intact"
            ) from exc
        raise
    return path


def load_checkpoint(path: str | os.PathLike, map_location: str | torch.device = "cpu") -> dict[str, Any]:
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
    except (
        pickle.UnpicklingError,
        RuntimeError,
        EOFError,
        ValueError,
        OSError,
        AttributeError,
        TypeError,
        KeyError,
        IndexError,
    ) as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise CheckpointError(
            f"{path} is not a weights-only checkpoint and is refused: only files holding tensors "
            f"and plain Python types are loaded (torch.load(weights_only=True)). "
            f"Cause: {type(exc).__name__}: {first[:300]}"
        ) from exc
    if not isinstance(obj, dict):
        raise CheckpointError(f"{path} holds a {type(obj).__name__}, not a checkpoint dict")
    return obj


def model_from_checkpoint(
    ck: Mapping[str, Any], path: str | os.PathLike, task: str, build: Callable[[Mapping[str, Any]], nn.Module]
) -> nn.Module:
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
        raise CheckpointError(
            f"{path}: its config lacks {exc.args[0]!r}; not a complete cervix {task} checkpoint"
        ) from exc
    except (TypeError, ValueError) as exc:
        raise CheckpointError(f"{path}: its config does not describe a valid model ({exc})") from exc
    return load_weights(model, ck.get("model"), path)


def load_run_model(
    path: str | os.PathLike,
    task: str,
    build: Callable[[Mapping[str, Any]], nn.Module],
    device: str | torch.device | None = None,
) -> tuple[nn.Module, dict[str, Any]]:
    """Model (eval mode, on ``device``) and run config of a checkpoint or run folder, for both stages.

    Args:
        path: a checkpoint file, or a run folder (its ``best.pt``).
        task: ``"segmentation"`` or ``"classification"``; another task's checkpoint is an error.
        build: run config -> the untrained model it describes.
        device: None = CUDA when available, else the CPU.

    Returns:
        ``(model, config)``; the config gets ``checkpoint`` (the file) and ``epoch`` added.
    """
    ck_path = resolve_checkpoint(path)
    ck = load_checkpoint(ck_path)
    model = model_from_checkpoint(ck, ck_path, task, build)
    if device is None:
        device = "cuda" if torch.cuda.is_available() else "cpu"
    model.to(device).eval()
    return model, dict(ck.get("config", {}), checkpoint=str(ck_path), epoch=ck.get("epoch"))


def load_weights(model: nn.Module, state: Mapping[str, Any], path: str | os.PathLike) -> nn.Module:
    """``model.load_state_dict(state)`` that fails with one line naming the checkpoint.

    Raises:
        CheckpointError: the weights do not fit the model the checkpoint's config describes (the
            message names ``path``, the first mismatching tensor and how many differ).
    """
    own = model.state_dict()
    if not isinstance(state, Mapping):
        raise CheckpointError(f"{path}: 'model' holds a {type(state).__name__}, not a state dict")
    shape = [
        k for k in own if k in state and hasattr(state[k], "shape") and tuple(state[k].shape) != tuple(own[k].shape)
    ]
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
            "config edited, or the file written by another version?"
        )
    model.load_state_dict(state)
    return model
