"""Evaluation metrics: segmentation overlap, classification, calibration, bootstrap CIs.

* Segmentation: Dice (Sorensen-Dice), IoU (Jaccard), pixel accuracy, per image and per head.
  Convention: when prediction and target are both empty the image scores 1.0 on Dice and IoU.
* Classification: accuracy, per-class and macro P/R/F1 (scikit-learn's conventions), one-vs-rest
  ROC-AUC (Mann-Whitney U with average ranks for ties) and the confusion matrix, all from one
  confusion matrix and one ranking (:func:`scalar_metrics`), fast enough for bootstrap replicates.
* Calibration: expected calibration error and reliability curve (Naeini et al., AAAI 2015;
  Guo et al., "On Calibration of Modern Neural Networks", ICML 2017), negative log-likelihood and
  temperature scaling (Guo et al. 2017).
* Uncertainty: percentile bootstrap confidence intervals (Efron & Tibshirani 1993), of one metric
  (:func:`bootstrap_ci`) or of several from the same resamples (:func:`bootstrap_cis`).

Arrays may be numpy arrays or torch tensors; results are numpy arrays or Python floats.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

import numpy as np
from scipy.optimize import minimize_scalar
from scipy.special import log_softmax
from scipy.stats import rankdata

from cervix.core.labels import HEADS
from cervix.core.masks import as_bool

__all__ = [
    "dice_score",
    "iou_score",
    "pixel_accuracy",
    "seg_metrics_per_image",
    "seg_metrics",
    "SCALAR_KEYS",
    "scalar_metrics",
    "classification_metrics",
    "expected_calibration_error",
    "reliability_curve",
    "negative_log_likelihood",
    "nll",
    "bootstrap_replicates",
    "percentile_interval",
    "bootstrap_ci",
    "bootstrap_cis",
    "fit_temperature",
    "softmax",
]

#: Scalar classification metrics that get a bootstrap CI (and a mean/std over folds).
SCALAR_KEYS: tuple[str, ...] = (
    "accuracy",
    "f1_macro",
    "precision_macro",
    "recall_macro",
    "roc_auc_macro",
    "ece",
    "nll",
    "ece_calibrated",
    "nll_calibrated",
)


def _np(x) -> np.ndarray:
    """numpy view of an array-like or torch tensor (detached, on CPU, bf16 -> float32)."""
    if hasattr(x, "detach"):
        x = x.detach().cpu()
        if x.is_floating_point():
            x = x.float()
        x = x.numpy()
    return np.asarray(x)


def _counts(pred, target) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Per-image (tp, fp, fn, n_pixels) over the last two axes."""
    p, t = as_bool(pred), as_bool(target)
    if p.shape != t.shape:
        raise ValueError(f"prediction {p.shape} and target {t.shape} must have the same shape")
    tp = (p & t).sum((-2, -1))
    fp = (p & ~t).sum((-2, -1))
    fn = (~p & t).sum((-2, -1))
    return tp, fp, fn, np.full(tp.shape, p.shape[-1] * p.shape[-2])


def _ratio(num: np.ndarray, den: np.ndarray):
    out = np.where(den == 0, 1.0, num / np.maximum(den, 1))  # both empty -> 1.0
    return float(out) if out.ndim == 0 else out.astype(np.float64)


def dice_score(pred, target):
    """Dice ``2|P∩T| / (|P| + |T|)`` per image over the last two axes.

    Args:
        pred, target: Binary masks ``(..., H, W)`` (bool, integers > 0, or floats > 0.5).

    Returns:
        A float for one ``(H, W)`` mask, otherwise an array of shape ``(...)``. Both empty -> 1.0.
    """
    tp, fp, fn, _ = _counts(pred, target)
    return _ratio(2 * tp, 2 * tp + fp + fn)


def iou_score(pred, target):
    """IoU (Jaccard) ``|P∩T| / |P∪T|`` per image; both empty -> 1.0. See :func:`dice_score`."""
    tp, fp, fn, _ = _counts(pred, target)
    return _ratio(tp, tp + fp + fn)


def pixel_accuracy(pred, target):
    """Fraction of pixels where prediction equals target, per image. See :func:`dice_score`."""
    tp, fp, fn, n = _counts(pred, target)
    return _ratio(n - fp - fn, n)


def seg_metrics_per_image(pred_bin, target_bin) -> dict[str, np.ndarray]:
    """Per-image Dice, IoU and pixel accuracy for each head.

    Args:
        pred_bin, target_bin: Binary masks ``(B, 2, H, W)`` or ``(2, H, W)``; channel 0
            cytoplasm, 1 nucleus.

    Returns:
        ``{"dice_cytoplasm": (B,), "dice_nucleus": (B,), "iou_*": ..., "pixel_accuracy_*": ...}``.
    """
    p, t = as_bool(pred_bin), as_bool(target_bin)
    if p.ndim == 3:
        p, t = p[None], t[None]
    if p.ndim != 4 or p.shape[1] != len(HEADS):
        raise ValueError(f"expected masks of shape (B, 2, H, W); got {p.shape}")
    out: dict[str, np.ndarray] = {}
    for fn in (dice_score, iou_score, pixel_accuracy):
        name = fn.__name__.replace("_score", "")
        for c, head in enumerate(HEADS):
            out[f"{name}_{head}"] = np.atleast_1d(fn(p[:, c], t[:, c]))
    return out


def seg_metrics(pred_probs_or_bin, target, threshold: Sequence[float] | float = (0.5, 0.5)) -> dict:
    """Segmentation metrics per head: means over images plus the per-image arrays.

    Args:
        pred_probs_or_bin: ``(B, 2, H, W)`` (or ``(2, H, W)``) probabilities, thresholded per head
            with ``p > threshold[c]``, or already binary (bool/integer) masks.
        target: Binary target masks of the same shape (bool, {0,1} or {0,255}).
        threshold: One threshold per head (cytoplasm, nucleus), or one for both.

    Returns:
        ``{"dice_cytoplasm": mean, ..., "pixel_accuracy_nucleus": mean, "n_images": B,
        "per_image": {same keys: (B,) arrays}}``. Both-empty images score 1.0 on Dice and IoU.
    """
    p = _np(pred_probs_or_bin)
    if p.ndim == 3:
        p = p[None]
    if np.issubdtype(p.dtype, np.floating):
        thr = np.broadcast_to(np.asarray(threshold, dtype=np.float64), (len(HEADS),))
        p = p > thr[None, :, None, None]
    per = seg_metrics_per_image(p, target)
    out: dict = {k: float(np.mean(v)) for k, v in per.items()}
    out["n_images"] = int(len(next(iter(per.values()))))
    out["per_image"] = per
    return out


# ---------------------------------------------------------------------------------------------
# Classification
# ---------------------------------------------------------------------------------------------
def softmax(logits, axis: int = -1) -> np.ndarray:
    """Numerically stable softmax of logits."""
    return np.exp(log_softmax(_np(logits).astype(np.float64), axis=axis))


def _check_probs(y_true, probs) -> tuple[np.ndarray, np.ndarray]:
    y = _np(y_true).astype(np.int64).ravel()
    p = _np(probs).astype(np.float64)
    if p.ndim != 2 or len(p) != len(y):
        raise ValueError(f"probs must be (N, K) with N = len(y_true) = {len(y)}; got {p.shape}")
    if len(y) and (y.min() < 0 or y.max() >= p.shape[1]):
        raise ValueError(f"labels must lie in [0, {p.shape[1]}); got {y.min()}..{y.max()}")
    return y, p


def negative_log_likelihood(probs, y_true, eps: float = 1e-12) -> float:
    """Mean ``-log p[y]`` of class probabilities ``(N, K)`` (clipped at ``eps``)."""
    y, p = _check_probs(y_true, probs)
    return float(-np.mean(np.log(np.clip(p[np.arange(len(y)), y], eps, 1.0))))


nll = negative_log_likelihood


def reliability_curve(probs, y_true, n_bins: int = 15) -> dict[str, np.ndarray]:
    """Top-label reliability diagram data in ``n_bins`` equal-width confidence bins.

    Bin ``i`` holds the samples whose confidence (max probability) lies in
    ``(i / n_bins, (i + 1) / n_bins]`` (the first bin also takes 0).

    Returns:
        ``{"bin_edges": (n_bins+1,), "confidence": mean confidence per bin, "accuracy": accuracy
        per bin (NaN where empty), "counts": samples per bin}``.
    """
    y, p = _check_probs(y_true, probs)
    conf = p.max(1)
    correct = (p.argmax(1) == y).astype(np.float64)
    edges = np.linspace(0.0, 1.0, n_bins + 1)
    idx = np.clip(np.ceil(conf * n_bins).astype(np.int64) - 1, 0, n_bins - 1)
    counts = np.bincount(idx, minlength=n_bins)
    with np.errstate(invalid="ignore", divide="ignore"):
        mean_conf = np.bincount(idx, weights=conf, minlength=n_bins) / counts
        acc = np.bincount(idx, weights=correct, minlength=n_bins) / counts
    return {"bin_edges": edges, "confidence": mean_conf, "accuracy": acc, "counts": counts}


def expected_calibration_error(probs, y_true, n_bins: int = 15) -> float:
    """ECE ``sum_b |B_b|/N * |acc(B_b) - conf(B_b)|`` over equal-width bins (Guo et al. 2017)."""
    curve = reliability_curve(probs, y_true, n_bins)
    n = curve["counts"].sum()
    if n == 0:
        return float("nan")
    keep = curve["counts"] > 0
    gap = np.abs(curve["accuracy"][keep] - curve["confidence"][keep])
    return float(np.sum(curve["counts"][keep] * gap) / n)


def _confusion(y: np.ndarray, pred: np.ndarray, k: int) -> np.ndarray:
    """``(K, K)`` counts, rows = true class, columns = predicted class."""
    return np.bincount(y * k + pred, minlength=k * k).reshape(k, k)


def _class_scores(cm: np.ndarray) -> dict[str, np.ndarray]:
    """Per-class precision, recall, F1 (zero where undefined, scikit-learn's ``zero_division=0``),
    support and ``present`` (the class is in the truth or predicted) of a confusion matrix."""
    tp, support, predicted = np.diag(cm).astype(float), cm.sum(1), cm.sum(0)
    with np.errstate(invalid="ignore", divide="ignore"):
        prec = np.where(predicted > 0, tp / np.maximum(predicted, 1), 0.0)
        rec = np.where(support > 0, tp / np.maximum(support, 1), 0.0)
        f1 = np.where(support + predicted > 0, 2 * tp / np.maximum(support + predicted, 1), 0.0)
    return {
        "precision": prec,
        "recall": rec,
        "f1": f1,
        "support": support,
        "tp": tp,
        "present": (support > 0) | (predicted > 0),
    }


def _ovr_aucs(y: np.ndarray, probs: np.ndarray, support: np.ndarray) -> list[float]:
    """One-vs-rest ROC-AUC of each class with positives and negatives in ``y`` (Mann-Whitney U,
    average ranks for ties)."""
    n = len(y)
    ok = (support > 0) & (support < n)
    aucs = []
    if ok.any():
        ranks = rankdata(probs[:, ok], axis=0)  # (N, K_ok), ties get average ranks
        for j, c in enumerate(np.flatnonzero(ok)):
            pos = y == c
            aucs.append((ranks[pos, j].sum() - support[c] * (support[c] + 1) / 2) / (support[c] * (n - support[c])))
    return aucs


def scalar_metrics(
    y: np.ndarray, probs: np.ndarray, probs_cal: np.ndarray | None = None, n_bins: int = 15
) -> dict[str, float]:
    """The :data:`SCALAR_KEYS` of integer labels and probabilities (before/after calibration).

    Computed from one confusion matrix and one ranking, fast enough for 1000 bootstrap
    replicates. Macro P/R/F1 average over the classes present in ``y`` or predicted (zero where
    undefined); macro ROC-AUC over the classes with both positives and negatives in ``y``
    (Mann-Whitney U with average ranks for ties; NaN when none). ``ece_calibrated`` and
    ``nll_calibrated`` only with ``probs_cal``.
    """
    n, k = probs.shape
    scores = _class_scores(_confusion(y, probs.argmax(1), k))
    present = scores["present"]
    aucs = _ovr_aucs(y, probs, scores["support"])
    out = {
        "accuracy": float(scores["tp"].sum() / n),
        "f1_macro": float(scores["f1"][present].mean()),
        "precision_macro": float(scores["precision"][present].mean()),
        "recall_macro": float(scores["recall"][present].mean()),
        "roc_auc_macro": float(np.mean(aucs)) if aucs else float("nan"),
        "ece": expected_calibration_error(probs, y, n_bins),
        "nll": negative_log_likelihood(probs, y),
    }
    if probs_cal is not None:
        out["ece_calibrated"] = expected_calibration_error(probs_cal, y, n_bins)
        out["nll_calibrated"] = negative_log_likelihood(probs_cal, y)
    return out


def classification_metrics(y_true, probs, class_names: Sequence[str], n_bins: int = 15) -> dict:
    """Accuracy, macro P/R/F1, one-vs-rest ROC-AUC, per-class scores, confusion matrix, ECE, NLL.

    Predictions are ``argmax(probs)``; the scalars are :func:`scalar_metrics`. Conventions when
    a class is missing from ``y_true`` (small test sets): macro precision/recall/F1 average over
    the classes present in ``y_true`` or predicted (scikit-learn's default label set,
    zero_division=0); macro ROC-AUC averages the one-vs-rest AUCs of the classes that are present
    in ``y_true`` and not the only class present (``NaN`` when there is none). ``per_class`` and
    ``confusion_matrix`` always list all ``class_names`` (an absent class has support 0).

    Args:
        y_true: ``(N,)`` integer labels indexing ``class_names``.
        probs: ``(N, K)`` class probabilities.
        class_names: ``K`` names, in label order.
        n_bins: ECE bins.

    Returns:
        Dict with ``accuracy, f1_macro, precision_macro, recall_macro, roc_auc_macro, ece, nll,
        per_class {name: {precision, recall, f1, support}}, confusion_matrix`` (list of lists,
        rows = true class), ``class_names, n_samples``.

    Raises:
        ValueError: no samples, a class-name count that does not match ``probs``, or NaN /
            infinite probabilities of a class that gets a ROC-AUC.
    """
    y, p = _check_probs(y_true, probs)
    k = p.shape[1]
    if len(class_names) != k:
        raise ValueError(f"{len(class_names)} class names for {k} probability columns")
    if len(y) == 0:
        raise ValueError(
            "Found empty input array (e.g., `y_true` or `y_pred`) while a minimum of 1 sample is required."
        )
    cm = _confusion(y, p.argmax(1), k)
    scores = _class_scores(cm)
    ranked = p[:, (scores["support"] > 0) & (scores["support"] < len(y))]
    if np.isnan(ranked).any():
        raise ValueError("Input contains NaN.")
    if np.isinf(ranked).any():
        raise ValueError("Input contains infinity or a value too large for dtype('float64').")
    out: dict = scalar_metrics(y, p, n_bins=n_bins)
    out["per_class"] = {
        name: {
            "precision": float(scores["precision"][i]),
            "recall": float(scores["recall"][i]),
            "f1": float(scores["f1"][i]),
            "support": int(scores["support"][i]),
        }
        for i, name in enumerate(class_names)
    }
    out["confusion_matrix"] = cm.tolist()
    out["class_names"] = list(class_names)
    out["n_samples"] = int(len(y))
    return out


# ---------------------------------------------------------------------------------------------
# Bootstrap and temperature scaling
# ---------------------------------------------------------------------------------------------
def bootstrap_replicates(metric_fn: Callable[..., Any], *arrays, n_boot: int = 1000, seed: int = 0) -> list:
    """``metric_fn`` of ``n_boot`` resamples of the rows (first axis), drawn jointly across ``arrays``.

    The resample indices are ``numpy.random.default_rng(seed).integers(0, N, (n_boot, N))``, one
    row per replicate, so the same seed gives the same resamples to every caller.

    Args:
        metric_fn: Function of the resampled arrays (any return value).
        *arrays: Arrays with the same first dimension (e.g. ``y_true, probs``).
        n_boot: Number of bootstrap replicates.
        seed: Seed of the resampling generator.

    Returns:
        The ``n_boot`` values of ``metric_fn``, in draw order.
    """
    arrays = tuple(_np(a) for a in arrays)
    n = len(arrays[0])
    if any(len(a) != n for a in arrays):
        raise ValueError("all arrays must have the same length")
    rng = np.random.default_rng(seed)
    return [metric_fn(*(a[idx] for a in arrays)) for idx in rng.integers(0, n, (n_boot, n))]


def percentile_interval(values, alpha: float = 0.05) -> tuple[float, float]:
    """The ``alpha / 2`` and ``1 - alpha / 2`` percentiles of the finite ``values``;
    ``(nan, nan)`` when none is finite."""
    vals = np.asarray(values, dtype=np.float64)
    vals = vals[np.isfinite(vals)]
    if len(vals) == 0:
        return float("nan"), float("nan")
    low, high = np.percentile(vals, [100 * alpha / 2, 100 * (1 - alpha / 2)])
    return float(low), float(high)


def bootstrap_ci(
    metric_fn: Callable[..., float], *arrays, n_boot: int = 1000, seed: int = 0, alpha: float = 0.05
) -> tuple[float, float]:
    """Percentile bootstrap confidence interval of ``metric_fn(*arrays)``.

    Rows (first axis) are resampled jointly across all ``arrays`` (:func:`bootstrap_replicates`);
    replicates where the metric is NaN (e.g. a resample with one class for ROC-AUC) are dropped.

    Args:
        metric_fn: Function of the arrays returning a float.
        *arrays: Arrays with the same first dimension (e.g. ``y_true, probs``).
        n_boot: Number of bootstrap replicates.
        seed: Seed of the resampling generator.
        alpha: ``1 - alpha`` is the coverage (0.05 -> 95% CI).

    Returns:
        ``(low, high)``; ``(nan, nan)`` when no replicate is finite.
    """
    reps = bootstrap_replicates(lambda *a: float(metric_fn(*a)), *arrays, n_boot=n_boot, seed=seed)
    return percentile_interval(reps, alpha)


def bootstrap_cis(
    metrics_fn: Callable[..., Mapping[str, float]],
    *arrays,
    keys: Sequence[str],
    n_boot: int = 1000,
    seed: int = 0,
    alpha: float = 0.05,
) -> dict[str, tuple[float, float]]:
    """Percentile bootstrap confidence intervals of several metrics from the same resamples.

    Like :func:`bootstrap_ci` (same resamples for the same ``seed``) for a ``metrics_fn``
    returning a dict (e.g. :func:`scalar_metrics`); non-finite replicates of each key are dropped.

    Returns:
        ``{key: (low, high)}`` for every key of ``keys``.
    """
    reps = bootstrap_replicates(metrics_fn, *arrays, n_boot=n_boot, seed=seed)
    return {key: percentile_interval([r[key] for r in reps], alpha) for key in keys}


def fit_temperature(logits, y_true, bounds: tuple[float, float] = (0.05, 20.0)) -> float:
    """Temperature ``T > 0`` minimising the NLL of ``softmax(logits / T)`` (Guo et al. 2017).

    A bounded scalar search over ``log T`` on held-out (validation) logits. A positive scalar
    temperature never changes the argmax, so accuracy is unchanged.

    Args:
        logits: ``(N, K)`` uncalibrated logits.
        y_true: ``(N,)`` labels.
        bounds: Search range of ``T``.

    Returns:
        The fitted temperature.
    """
    z = _np(logits).astype(np.float64)
    y, _ = _check_probs(y_true, z)
    rows = np.arange(len(y))

    def loss(log_t: float) -> float:
        return float(-np.mean(log_softmax(z / np.exp(log_t), axis=1)[rows, y]))

    res = minimize_scalar(loss, bounds=tuple(np.log(bounds)), method="bounded", options={"xatol": 1e-5})
    return float(np.exp(res.x))
