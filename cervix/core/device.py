"""Where a model runs and in which precision, shared by training and prediction.

:func:`device_and_amp` resolves the device (CUDA, ``cuda:$LOCAL_RANK`` under torchrun, else CPU)
and the mixed-precision settings (CUDA fp16 with a GradScaler, CUDA or CPU bf16 autocast);
:func:`autocast_context` applies them; :func:`to_device` moves a batch (tensors in nested
lists/dicts) and :func:`unwrap` returns the bare module under DDP / DataParallel /
``torch.compile`` wrappers. Prediction (:mod:`cervix.inference.tiling`) needs only this module, not the
training loop of :mod:`cervix.training.loop`.
"""

from __future__ import annotations

import contextlib
import os
import warnings
from collections.abc import Mapping
from typing import Any

import torch
from torch import nn

__all__ = [
    "AMP_CHOICES",
    "device_and_amp",
    "autocast_context",
    "unwrap",
    "to_device",
]

#: Mixed-precision choices: no autocast, bf16 autocast, fp16 autocast with a GradScaler.
AMP_CHOICES = ("none", "bf16", "fp16")


def device_and_amp(
    amp: str = "none", device: str | torch.device | None = None
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


def unwrap(model: nn.Module) -> nn.Module:
    """The bare module under DistributedDataParallel / DataParallel / torch.compile wrappers."""
    while True:
        if isinstance(model, (nn.parallel.DistributedDataParallel, nn.DataParallel)):
            model = model.module
        elif hasattr(model, "_orig_mod"):
            model = model._orig_mod  # torch.compile
        else:
            return model


def to_device(obj: Any, device: torch.device) -> Any:
    """``obj`` with every tensor moved to ``device`` (non-blocking), through nested lists,
    tuples and mappings (mappings become dicts); anything else as it is."""
    if isinstance(obj, torch.Tensor):
        return obj.to(device, non_blocking=True)
    if isinstance(obj, Mapping):
        return {k: to_device(v, device) for k, v in obj.items()}
    if isinstance(obj, tuple) and hasattr(obj, "_fields"):  # a namedtuple takes its fields one by one
        return type(obj)(*(to_device(v, device) for v in obj))
    if isinstance(obj, (list, tuple)):
        return type(obj)(to_device(v, device) for v in obj)
    return obj
