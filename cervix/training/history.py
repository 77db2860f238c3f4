"""What a run records epoch by epoch (:class:`History`, returned by :func:`cervix.training.loop.fit`
and written to ``history.csv``), and the signal early stopping judges (:func:`stopping_signal`).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

__all__ = [
    "History",
    "stopping_signal",
]


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
    tail = [float(v) for v in list(values)[-max(1, int(window)) :] if v is not None and math.isfinite(float(v))]
    return float(np.median(tail)) if tail else float("nan")
