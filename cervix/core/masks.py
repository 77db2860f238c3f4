"""What a mask is in cervix, and the one home of every conversion to one.

On disk and between functions a mask is an ``(H, W)`` uint8 array with values {0, 255}
(foreground > 127, what every reader returns and every writer stores); in metrics it is a bool
array. Three conversions lead there:

* :func:`binarise` — the model's ``(C, H, W)`` probabilities, thresholded per channel, to masks.
* :func:`mask_from_values` — a mask file's values at any bit depth ({0, 1}, {0, 255},
  {0, 65535}, floats) to {0, 255}.
* :func:`foreground` — a {0, 255} mask (uint8 or bool) to bool by the readers' rule, > 127.
* :func:`as_bool` — a prediction or target of the metrics (bool, integer labels, float
  probabilities; numpy or torch) to bool: integers > 0, floats > a threshold.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

__all__ = [
    "binarise",
    "mask_from_values",
    "foreground",
    "as_bool",
]


def binarise(probs: np.ndarray, thresholds: Sequence[float] = (0.5, 0.5)) -> tuple[np.ndarray, ...]:
    """Threshold ``(C, H, W)`` probabilities per channel: ``prob > t`` -> 255, else 0.

    Returns:
        One ``(H, W)`` uint8 {0, 255} mask per channel (``(cytoplasm, nucleus)`` for C = 2).
    """
    if probs.ndim != 3 or len(thresholds) != probs.shape[0]:
        raise ValueError(f"{len(thresholds)} thresholds for probabilities of shape {probs.shape}")
    return tuple(np.where(p > t, 255, 0).astype(np.uint8) for p, t in zip(probs, thresholds))


def mask_from_values(m: np.ndarray) -> np.ndarray:
    """A mask at its own bit depth -> uint8 {0, 255}.

    Exactly two values ``{0, v}`` (``v > 0``), at any depth, are a binary mask ({0, 1},
    {0, 100}, {0, 255}, {0, 65535}); anything else is foreground above half the range of its
    type (uint8 > 127, uint16 > 32767, float > 0.5).
    """
    values = np.unique(m)
    if len(values) == 2 and values[0] == 0:
        return (m > 0).astype(np.uint8) * 255
    if np.issubdtype(m.dtype, np.floating):
        half = 0.5 if values.max(initial=0) <= 1 else 127.5
    elif m.dtype == np.bool_:
        half = 0
    else:
        half = np.iinfo(m.dtype).max // 2
    return (m > half).astype(np.uint8) * 255


def foreground(mask: np.ndarray) -> np.ndarray:
    """Bool foreground of a mask: bools as is, anything else ``> 127`` (uint8 {0, 255})."""
    m = np.asarray(mask)
    return m if m.dtype == bool else m > 127


def as_bool(x, threshold: float = 0.5) -> np.ndarray:
    """Bool mask of an array-like or torch tensor: bools as is, integers ``> 0`` (so {0, 1} and
    {0, 255} masks alike), floats ``> threshold`` (probabilities)."""
    if hasattr(x, "detach"):  # torch tensor: detached, on the CPU, bf16 -> float32
        x = x.detach().cpu()
        x = (x.float() if x.is_floating_point() else x).numpy()
    x = np.asarray(x)
    if x.dtype == bool:
        return x
    if np.issubdtype(x.dtype, np.integer):
        return x > 0
    return x > threshold
