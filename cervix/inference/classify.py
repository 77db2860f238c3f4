"""Classifier prediction: logits of a loader (flip TTA, autocast) and a per-sample predictions table.

The two halves of the classifier's inference, used by its training (validation), evaluation and
the pipeline; the segmentation's half is :mod:`cervix.inference.tiling`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import torch
from tqdm.auto import tqdm

from cervix.core.device import autocast_context, device_and_amp
from cervix.data.records import Record
from cervix.inference.tiling import tta_flips

__all__ = [
    "predict_logits",
    "predictions_frame",
]


@torch.no_grad()
def predict_logits(
    model: torch.nn.Module, loader: Any, amp: str = "none", tta: bool = False, progress: bool = False
) -> tuple[np.ndarray, np.ndarray]:
    """Logits of every batch of ``loader`` in eval mode (mode restored afterwards).

    Args:
        model: the classifier, on its device.
        loader: yields ``(x (B, C, S, S), y (B,))``.
        amp: autocast (``none``/``bf16``/``fp16``); logits are returned as float32.
        tta: average the logits of identity, horizontal and vertical flips.
        progress: tqdm bar over batches.

    Returns:
        ``(logits (N, K) float32, targets (N,) int64)``.
    """
    dev = next(model.parameters()).device
    _, dtype, _ = device_and_amp(amp, dev)
    flips = tta_flips(tta)
    was_training = model.training
    model.eval()
    logits, targets = [], []
    try:
        for x, y in tqdm(loader, desc="predict", disable=not progress, leave=False):
            x = x.to(dev)
            acc = None
            for dims in flips:
                with autocast_context(dev, dtype):
                    z = model(x.flip(dims) if dims else x).float()  # (B, K)
                acc = z if acc is None else acc + z
            logits.append((acc / len(flips)).cpu().numpy())
            targets.append(y.numpy())
    finally:
        model.train(was_training)
    k = getattr(getattr(model, "classifier", None), "out_features", 0)
    if not logits:
        return np.zeros((0, k), np.float32), np.zeros(0, np.int64)
    return np.concatenate(logits).astype(np.float32), np.concatenate(targets).astype(np.int64)


def predictions_frame(
    records: Sequence[Record],
    logits: np.ndarray,
    class_names: Sequence[str],
    temperature: float | None = None,
    extra: Mapping[str, Sequence[Any]] | None = None,
):
    """Per-sample predictions as a DataFrame.

    Columns: ``path, group, true, pred, confidence, correct``, then ``prob_<class>`` (softmax of
    the logits), ``prob_cal_<class>`` (softmax of ``logits / temperature``, when given) and
    ``logit_<class>``; ``extra`` columns are inserted after ``group``.
    """
    import pandas as pd

    from cervix.metrics.scores import softmax

    logits = np.asarray(logits, np.float64)
    probs = softmax(logits, axis=1)
    pred = probs.argmax(1)
    cols: dict[str, Any] = {"path": [r.path for r in records], "group": [r.group for r in records]}
    cols.update({k: list(v) for k, v in (extra or {}).items()})
    cols["true"] = [r.label for r in records]
    cols["pred"] = [class_names[i] for i in pred]
    cols["confidence"] = probs.max(1)
    cols["correct"] = [t == p for t, p in zip(cols["true"], cols["pred"])]
    for k, c in enumerate(class_names):
        cols[f"prob_{c}"] = probs[:, k]
    if temperature is not None:
        cal = softmax(logits / float(temperature), axis=1)
        for k, c in enumerate(class_names):
            cols[f"prob_cal_{c}"] = cal[:, k]
    for k, c in enumerate(class_names):
        cols[f"logit_{c}"] = logits[:, k]
    return pd.DataFrame(cols)
