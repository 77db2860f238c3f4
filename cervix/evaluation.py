"""Evaluation of both stages, figures, Grad-CAM examples and widgets.

:func:`evaluate_checkpoint` dispatches on the checkpoint's ``task``: segmentation checkpoints go
to :func:`cervix.segmentation.evaluate_segmentation`; classification checkpoints get accuracy,
per-class and macro precision/recall/F1, one-vs-rest macro ROC-AUC, the confusion matrix,
expected calibration error and negative log-likelihood, each scalar with a percentile bootstrap
95% confidence interval (Efron & Tibshirani 1993; crops resampled with replacement), before and
after temperature scaling fitted on the run's validation split (Guo et al., "On Calibration of
Modern Neural Networks", ICML 2017). A positive temperature never changes the argmax, so
accuracy, F1 and the confusion matrix are the same before and after.

K-fold runs: give the run folder (or the absent ``<run>/best.pt``); each fold's model is
evaluated on its own test part (``folds``), the pooled out-of-fold predictions give the top-level
metrics, and ``mean_std`` holds the mean and sample standard deviation over folds. A fold's
``fold_<k>/best.pt`` is evaluated alone, like a single run.

Figures go through :mod:`cervix.plotting` (``save_figure``: PDF + 300-dpi PNG): normalised
confusion matrix, one-vs-rest ROC curves, reliability diagram (before/after temperature),
training curves, ablation bars with CI error bars and Grad-CAM grids (Selvaraju et al., ICCV
2017). Two ipywidgets: :func:`confusion_widget` and :func:`gradcam_widget`.
"""
from __future__ import annotations

import json
import math
import os
import warnings
from pathlib import Path
from typing import Any, Mapping, Sequence

import numpy as np

from .classification import (fold_dirs, load_classifier, predict_logits, predictions_frame, read_cls_records,
                             resolve_checkpoint)
from .datasets import IMAGENET_MEAN, IMAGENET_STD, ClassificationDataset, to_image
from .labels import HEADS
from .engine import load_checkpoint, make_loader
from .files import atomic_write_text, ensure_writable, json_ready
from .rundir import run_split_path
from .splits import load_split
from .metrics import (classification_metrics, expected_calibration_error, fit_temperature,
                      negative_log_likelihood, reliability_curve, softmax)

__all__ = [
    "SCALAR_KEYS",
    "evaluate_checkpoint",
    "report_from_probabilities",
    "scalar_metrics",
    "class_names_of_predictions",
    "classification_report_table",
    "metrics_table",
    "segmentation_table",
    "plot_confusion_matrix",
    "plot_roc_curves",
    "plot_reliability",
    "plot_training_curves",
    "plot_ablation",
    "evaluate_runs",
    "plot_segmentation_metrics",
    "plot_model_inputs",
    "pick_gradcam_examples",
    "gradcam_examples",
    "plot_gradcam_grid",
    "predicted_morphometrics",
    "confusion_widget",
    "gradcam_widget",
]

#: Scalar classification metrics that get a bootstrap CI (and a mean/std over folds).
SCALAR_KEYS: tuple[str, ...] = ("accuracy", "f1_macro", "precision_macro", "recall_macro", "roc_auc_macro",
                                "ece", "nll", "ece_calibrated", "nll_calibrated")


# --------------------------------------------------------------------------------------------
# Metrics
# --------------------------------------------------------------------------------------------
def scalar_metrics(y: np.ndarray, probs: np.ndarray, probs_cal: np.ndarray | None = None,
                   n_bins: int = 15) -> dict[str, float]:
    """The :data:`SCALAR_KEYS` with the conventions of :func:`cervix.metrics.classification_metrics`,
    computed from one confusion matrix and one ranking (fast enough for 1000 bootstrap replicates).

    Macro P/R/F1 average over the classes present in ``y`` or predicted (zero where undefined);
    macro ROC-AUC over the classes with both positives and negatives in ``y`` (Mann-Whitney U
    with average ranks for ties; NaN when none).
    """
    from scipy.stats import rankdata

    n, k = probs.shape
    pred = probs.argmax(1)
    cm = np.bincount(y * k + pred, minlength=k * k).reshape(k, k)  # rows = true
    tp, support, predicted = np.diag(cm).astype(float), cm.sum(1), cm.sum(0)
    present = (support > 0) | (predicted > 0)
    with np.errstate(invalid="ignore", divide="ignore"):
        prec = np.where(predicted > 0, tp / np.maximum(predicted, 1), 0.0)
        rec = np.where(support > 0, tp / np.maximum(support, 1), 0.0)
        f1 = np.where(support + predicted > 0, 2 * tp / np.maximum(support + predicted, 1), 0.0)
    npos = support
    ok = (npos > 0) & (npos < n)
    aucs = []
    if ok.any():
        ranks = rankdata(probs[:, ok], axis=0)  # (N, K_ok), ties get average ranks
        for j, c in enumerate(np.flatnonzero(ok)):
            pos = y == c
            aucs.append((ranks[pos, j].sum() - npos[c] * (npos[c] + 1) / 2) / (npos[c] * (n - npos[c])))
    out = {
        "accuracy": float(tp.sum() / n),
        "f1_macro": float(f1[present].mean()),
        "precision_macro": float(prec[present].mean()),
        "recall_macro": float(rec[present].mean()),
        "roc_auc_macro": float(np.mean(aucs)) if aucs else float("nan"),
        "ece": expected_calibration_error(probs, y, n_bins),
        "nll": negative_log_likelihood(probs, y),
    }
    if probs_cal is not None:
        out["ece_calibrated"] = expected_calibration_error(probs_cal, y, n_bins)
        out["nll_calibrated"] = negative_log_likelihood(probs_cal, y)
    return out


def report_from_probabilities(y: Sequence[int], probs: np.ndarray, probs_cal: np.ndarray, temperature: float,
                              class_names: Sequence[str], n_boot: int = 1000, seed: int = 0,
                              alpha: float = 0.05) -> dict[str, Any]:
    """All classification metrics.json keys from labels and probabilities before/after calibration.

    Returns :func:`cervix.metrics.classification_metrics` plus ``temperature``,
    ``ece_calibrated``, ``nll_calibrated`` and ``ci95`` ``{metric: [low, high]}`` for every
    :data:`SCALAR_KEYS` entry: percentile bootstrap over samples (``n_boot`` replicates drawn
    like :func:`cervix.metrics.bootstrap_ci` with ``seed``; non-finite replicates dropped).
    """
    y = np.asarray(y, np.int64)
    probs, probs_cal = np.asarray(probs, np.float64), np.asarray(probs_cal, np.float64)
    m = classification_metrics(y, probs, list(class_names))
    m["temperature"] = float(temperature)
    m["ece_calibrated"] = expected_calibration_error(probs_cal, y)
    m["nll_calibrated"] = negative_log_likelihood(probs_cal, y)
    n = len(y)
    ci: dict[str, list[float | None]] = {}
    if n_boot > 0 and n > 0:
        rng = np.random.default_rng(seed)
        reps = [scalar_metrics(y[idx], probs[idx], probs_cal[idx]) for idx in rng.integers(0, n, (n_boot, n))]
        for key in SCALAR_KEYS:
            vals = np.array([r[key] for r in reps], dtype=np.float64)
            vals = vals[np.isfinite(vals)]
            ci[key] = ([float(v) for v in np.percentile(vals, [100 * alpha / 2, 100 * (1 - alpha / 2)])]
                       if len(vals) else [float("nan"), float("nan")])
    m["ci95"] = ci
    return m


# --------------------------------------------------------------------------------------------
# Evaluation of one classifier
# --------------------------------------------------------------------------------------------
def _grouping(cfg: Mapping[str, Any]) -> str | None:
    g = cfg.get("grouping")
    return None if g in (None, "5", 5) else str(g)


def _predict(model, cfg: Mapping[str, Any], records: Sequence, batch_size: int, tta: bool,
             progress: bool) -> tuple[np.ndarray, np.ndarray]:
    ds = ClassificationDataset(records, cfg["class_names"], cfg["image_size"], cfg["in_chans"], None,
                               train=False, cache=False)
    # float32 on purpose: bf16 logits (~3 significant digits) tie scores in ROC and calibration
    return predict_logits(model, make_loader(ds, batch_size, shuffle=False), amp="none", tta=tta,
                          progress=progress)


def _run_val_records(cfg: Mapping[str, Any]) -> list:
    """The run's own validation crops (for the temperature), read from the run's data."""
    records = read_cls_records(cfg.get("data"), cfg.get("format", "classes"), cfg.get("masks"), _grouping(cfg))
    return [records[i] for i in load_split(run_split_path(cfg["checkpoint"], cfg), records).get("val", [])]


def _evaluate_model(checkpoint: Path, data: Any, masks: Any, fmt: str | None, split: str, batch_size: int | None,
                    tta: bool, progress: bool) -> dict[str, Any]:
    """Logits of the chosen records and the temperature fitted on the run's validation part."""
    model, cfg = load_classifier(checkpoint)
    norm = cfg.get("normalisation", {})
    if (tuple(norm.get("mean", IMAGENET_MEAN)) != tuple(IMAGENET_MEAN)
            or tuple(norm.get("std", IMAGENET_STD)) != tuple(IMAGENET_STD)):
        raise ValueError(f"{checkpoint}: normalisation {norm} is not the ImageNet mean/std the datasets use")
    own_data = data is None
    use_data = cfg.get("data") if own_data else data
    use_fmt = fmt or cfg.get("format", "classes")
    use_masks = masks if masks is not None else (cfg.get("masks") if own_data else None)
    records = read_cls_records(use_data, use_fmt, use_masks, _grouping(cfg))
    bs = int(batch_size or cfg.get("batch_size", 32))
    val_recs: list = []
    if split == "all":
        chosen = list(records)
        try:
            val_recs = _run_val_records(cfg)
        except (OSError, ValueError, KeyError) as e:
            warnings.warn(f"{checkpoint}: the run's validation data is not readable ({e}); temperature 1",
                          stacklevel=3)
    else:
        parts = load_split(run_split_path(cfg["checkpoint"], cfg), records)
        if split not in parts:
            raise ValueError(f"split must be 'all' or one of {sorted(parts)}, got {split!r}")
        chosen = [records[i] for i in parts[split]]
        val_recs = [records[i] for i in parts.get("val", [])]
    if not chosen:
        raise ValueError(f"{checkpoint}: no crops in split {split!r} of {use_data}")
    logits, y = _predict(model, cfg, chosen, bs, tta, progress)
    temperature, source = 1.0, "none (no validation crops)"
    if val_recs:
        val_logits, val_y = _predict(model, cfg, val_recs, bs, tta, False)
        temperature, source = fit_temperature(val_logits, val_y), f"validation split ({len(val_recs)} crops)"
    return {"records": chosen, "logits": logits, "y": y, "temperature": float(temperature),
            "temperature_source": source, "config": cfg, "data": use_data, "masks": use_masks, "format": use_fmt,
            "skipped": list(getattr(records, "skipped", []))}


def _info(ev: Mapping[str, Any], split: str) -> dict[str, Any]:
    return {"task": "classification", "split": split, "checkpoint": ev["config"]["checkpoint"],
            "data": None if ev["data"] is None else str(ev["data"]),
            "masks": None if ev["masks"] is None else str(ev["masks"]), "format": ev["format"],
            "in_chans": ev["config"]["in_chans"], "temperature_source": ev["temperature_source"],
            **skipped_info(ev["skipped"])}


def skipped_info(skipped: Sequence[tuple[str, str]]) -> dict[str, Any]:
    """``n_skipped`` and ``skipped`` ``[{path, reason}]``: the files the reader passed over, for
    ``metrics.json`` (an evaluation writes into the run folder, whose ``skipped.csv`` is the
    training's)."""
    return {"n_skipped": len(skipped), "skipped": [{"path": p, "reason": r} for p, r in skipped]}


def _write_outputs(out: Path, metrics: dict[str, Any], frame, figures: bool) -> dict[str, Any]:
    import matplotlib.pyplot as plt

    from .plotting import save_figure

    atomic_write_text(out / "predictions.csv", frame.to_csv(index=False))
    metrics = json_ready(metrics)
    metrics["predictions"] = str(out / "predictions.csv")
    atomic_write_text(out / "metrics.json", json.dumps(metrics, indent=2))
    if figures:
        for name, fig in (("confusion_matrix", plot_confusion_matrix(metrics)),
                          ("roc_curves", plot_roc_curves(frame, metrics["class_names"])),
                          ("reliability", plot_reliability(frame))):
            save_figure(fig, name, out / "figures")
            plt.close(fig)
    return metrics


def evaluate_checkpoint(
    checkpoint: str | os.PathLike,
    data: str | os.PathLike | None = None,
    masks: str | os.PathLike | None = None,
    fmt: str | None = None,
    split: str = "test",
    out: str | os.PathLike | None = None,
    n_boot: int = 1000,
    batch_size: int | None = None,
    tta: bool = False,
    figures: bool = True,
    seed: int = 0,
    progress: bool = True,
) -> dict[str, Any]:
    """Evaluate a segmentation or classification checkpoint -> ``metrics.json``.

    Task, class names, channels, normalisation and image size come from the checkpoint.

    Classification writes ``out/metrics.json`` (``accuracy, f1_macro, precision_macro,
    recall_macro, roc_auc_macro, ece, nll, temperature, ece_calibrated, nll_calibrated,
    per_class {name: {precision, recall, f1, support}}, confusion_matrix`` (rows = true class, in
    ``class_names`` order), ``class_names, n_samples, ci95 {metric: [low, high]}``, plus
    ``split``, ``checkpoint``, ``data``, ``masks``, ``format``, ``temperature_source``), the
    per-sample ``out/predictions.csv`` (``path, group, [fold,] true, pred, confidence, correct,
    prob_<class>..., prob_cal_<class>..., logit_<class>...``) and, with ``figures``, the confusion
    matrix, ROC curves and reliability diagram under ``out/figures/``. Non-finite values are
    written as ``null``.

    Args:
        checkpoint: ``best.pt`` or a run folder. A k-fold run folder (or its absent
            ``best.pt``) evaluates every fold; ``fold_<k>/best.pt`` one fold.
        data: dataset root; default the run's own data (then ``masks`` defaults to the run's).
        masks: masks root for a 5-channel classifier (not used for segmentation).
        fmt: reader format; default the run's.
        split: ``"test"`` (the run's ``split.json`` test part, matched by path), ``"val"``,
            ``"train"``, or ``"all"`` (every labelled crop of ``data``; k-fold runs then report
            the ensemble mean of the fold models' probabilities).
        out: output folder; default the run folder.
        n_boot: bootstrap replicates for the 95% CIs (0 = none).
        batch_size: inference batch size (default the run's).
        tta: flip test-time augmentation (averaged logits).
        figures: write the figures.
        seed: bootstrap seed.
        progress: tqdm bars.

    Returns:
        The metrics dict as written; k-fold runs add ``k``, ``folds`` (one metrics dict per
        fold), ``mean_std`` ``{metric: [mean, std]}`` (sample std over folds) and
        ``temperatures``.

    Raises:
        ValueError: unknown task or split, or a checkpoint the data does not fit.
    """
    path = Path(checkpoint)
    folds = fold_dirs(path)
    if out is not None:
        ensure_writable(out)  # before any inference
    if folds:
        return _evaluate_kfold(path if path.is_dir() else path.parent, folds, data, masks, fmt, split, out, n_boot,
                               batch_size, tta, figures, seed, progress)
    ck_path = resolve_checkpoint(path)
    if out is None:
        ensure_writable(ck_path.parent)
    task = load_checkpoint(ck_path).get("config", {}).get("task")
    if task == "segmentation":
        from .segmentation import evaluate_segmentation

        return evaluate_segmentation(ck_path, data=data, fmt=fmt, split=split, out=out, n_boot=n_boot)
    if task != "classification":
        raise ValueError(f"{ck_path}: unknown task {task!r} (expected segmentation or classification)")
    ev = _evaluate_model(ck_path, data, masks, fmt, split, batch_size, tta, progress)
    names = ev["config"]["class_names"]
    probs, probs_cal = softmax(ev["logits"], 1), softmax(ev["logits"] / ev["temperature"], 1)
    metrics = {**report_from_probabilities(ev["y"], probs, probs_cal, ev["temperature"], names, n_boot, seed),
               **_info(ev, split)}
    frame = predictions_frame(ev["records"], ev["logits"], names, ev["temperature"])
    return _write_outputs(Path(out) if out is not None else ck_path.parent, metrics, frame, figures)


def _evaluate_kfold(run: Path, folds: list[Path], data, masks, fmt, split, out, n_boot, batch_size, tta, figures,
                    seed, progress) -> dict[str, Any]:
    import pandas as pd

    evs = [_evaluate_model(f / "best.pt", data, masks, fmt, split, batch_size, tta, progress) for f in folds]
    names = evs[0]["config"]["class_names"]
    fold_metrics = []
    for k, ev in enumerate(evs):
        p, pc = softmax(ev["logits"], 1), softmax(ev["logits"] / ev["temperature"], 1)
        m = report_from_probabilities(ev["y"], p, pc, ev["temperature"], names, n_boot, seed)
        fold_metrics.append({"fold": k, **m, **_info(ev, split)})
    temps = [ev["temperature"] for ev in evs]
    if split == "all":  # the same crops for every fold: ensemble mean of the fold models
        y = evs[0]["y"]
        probs = np.mean([softmax(ev["logits"], 1) for ev in evs], axis=0)
        probs_cal = np.mean([softmax(ev["logits"] / ev["temperature"], 1) for ev in evs], axis=0)
        frame = predictions_frame(evs[0]["records"], np.log(np.clip(probs, 1e-12, None)), names)
        for j, c in enumerate(names):
            frame.insert(frame.columns.get_loc(f"logit_{names[0]}"), f"prob_cal_{c}", probs_cal[:, j])
    else:  # pooled out-of-fold predictions: every crop once, by the model that held it out
        y = np.concatenate([ev["y"] for ev in evs])
        probs = np.concatenate([softmax(ev["logits"], 1) for ev in evs])
        probs_cal = np.concatenate([softmax(ev["logits"] / ev["temperature"], 1) for ev in evs])
        frame = pd.concat([predictions_frame(ev["records"], ev["logits"], names, ev["temperature"],
                                             extra={"fold": [k] * len(ev["y"])}) for k, ev in enumerate(evs)],
                          ignore_index=True)
    metrics = report_from_probabilities(y, probs, probs_cal, float(np.mean(temps)), names, n_boot, seed)
    metrics.update(_info(evs[0], split), checkpoint=str(run), k=len(evs), temperatures=temps, folds=fold_metrics)
    metrics["pooled"] = "ensemble mean over folds" if split == "all" else "out-of-fold predictions"
    metrics["mean_std"] = {
        key: [float(np.nanmean(v)), float(np.nanstd(v, ddof=1)) if np.isfinite(v).sum() > 1 else float("nan")]
        for key in (*SCALAR_KEYS, "temperature")
        for v in [np.array([fm[key] for fm in fold_metrics], dtype=np.float64)]
    }
    return _write_outputs(Path(out) if out is not None else run, metrics, frame, figures)


# --------------------------------------------------------------------------------------------
# Tables
# --------------------------------------------------------------------------------------------
def class_names_of_predictions(predictions) -> list[str]:
    """Class names from the ``prob_<class>`` columns of a predictions DataFrame, in order."""
    return [c[5:] for c in predictions.columns if c.startswith("prob_") and not c.startswith("prob_cal_")]


def classification_report_table(metrics: Mapping[str, Any], digits: int = 3):
    """Per-class precision, recall, F1 and support, then macro average and accuracy rows (DataFrame).

    The accuracy row is the micro average: with one label per crop, micro-averaged precision,
    recall and F1 all equal the accuracy, so the row has no empty cells.
    """
    import pandas as pd

    rows = {name: dict(pc) for name, pc in metrics["per_class"].items()}
    rows["macro avg"] = {"precision": metrics["precision_macro"], "recall": metrics["recall_macro"],
                         "f1": metrics["f1_macro"], "support": metrics["n_samples"]}
    rows["accuracy"] = {"precision": metrics["accuracy"], "recall": metrics["accuracy"], "f1": metrics["accuracy"],
                        "support": metrics["n_samples"]}
    df = pd.DataFrame.from_dict(rows, orient="index")[["precision", "recall", "f1", "support"]]
    df["support"] = df["support"].astype(int)
    return df.round(digits)


def _fmt_ci(value: Any, ci: Sequence[Any] | None, digits: int) -> str:
    if value is None or (isinstance(value, float) and not math.isfinite(value)):
        return "n/a"
    s = f"{value:.{digits}f}"
    if ci and ci[0] is not None and ci[1] is not None and all(math.isfinite(c) for c in ci):
        s += f" [{ci[0]:.{digits}f}, {ci[1]:.{digits}f}]"
    return s


def evaluate_runs(runs: Mapping[str, str | os.PathLike], out: str | os.PathLike, n_boot: int = 1000,
                  figures: bool = False, seed: int = 0) -> dict[str, dict[str, Any]]:
    """Evaluate several classifier runs on their own test split, each into ``out/eval_<name>``.

    Args:
        runs: ``{name: run folder or checkpoint}`` (e.g. the arms of
            :func:`cervix.classification.train_ablation` plus the main run).
        out: parent folder of the outputs (``eval_rgb_only``, ``eval_rgb_predicted_masks``, ...).
        n_boot, figures, seed: as in :func:`evaluate_checkpoint`.

    Returns:
        ``{name: metrics}`` in the order of ``runs`` (for :func:`metrics_table`, :func:`plot_ablation`).

    Raises:
        ValueError: the runs were tested on different numbers of crops (not one split).
    """
    results = {}
    for name, run in runs.items():
        slug = "_".join("".join(ch if ch.isalnum() else " " for ch in name.lower()).split())
        results[name] = evaluate_checkpoint(run, out=Path(out) / f"eval_{slug}", n_boot=n_boot, figures=figures,
                                            seed=seed)
    sizes = {name: m["n_samples"] for name, m in results.items()}
    if len(set(sizes.values())) > 1:
        raise ValueError(f"the runs were tested on different crops (not one split): {sizes}")
    return results


def metrics_table(results: Mapping[str, Mapping[str, Any]] | Mapping[str, Any],
                  keys: Sequence[str] = ("accuracy", "f1_macro"), digits: int = 3, long: bool = False):
    """One row per run: each metric as ``value [low, high]`` (95% CI), plus ``n_samples``.

    Args:
        results: ``{run name: metrics dict}`` or a single metrics dict.
        keys: metrics to show.
        long: one row per (run, metric) the run has (``value [95% CI]``, ``n``), for runs of
            different kinds (a classifier and a segmentation model) in one table without
            empty cells.
    """
    import pandas as pd

    if "class_names" in results or "dice_cytoplasm" in results:
        results = {"model": results}
    rows = {}
    for name, m in results.items():
        ci = m.get("ci95", {})
        n = m.get("n_samples", m.get("n_images"))
        if long:
            for k in keys:
                if k in m:
                    rows[(name, k)] = {"value [95% CI]": _fmt_ci(m.get(k), ci.get(k), digits), "n": n}
            continue
        row = {k: _fmt_ci(m.get(k), ci.get(k), digits) for k in keys}
        row["n"] = n
        rows[name] = row
    if long:
        index = pd.MultiIndex.from_tuples(list(rows), names=["model", "metric"]) if rows else pd.MultiIndex(
            levels=[[], []], codes=[[], []], names=["model", "metric"])
        return pd.DataFrame(list(rows.values()), index=index, columns=["value [95% CI]", "n"])
    return pd.DataFrame.from_dict(rows, orient="index")


def segmentation_table(metrics: Mapping[str, Any], digits: int = 3):
    """Dice, IoU and pixel accuracy per head (rows) as ``value [low, high]`` strings (DataFrame)."""
    import pandas as pd

    ci = metrics.get("ci95", {})
    rows = {}
    for head in HEADS:
        rows[head] = {k: _fmt_ci(metrics.get(f"{k}_{head}"), ci.get(f"{k}_{head}"), digits)
                      for k in ("dice", "iou", "pixel_accuracy")}
    return pd.DataFrame.from_dict(rows, orient="index")


# --------------------------------------------------------------------------------------------
# Figures
# --------------------------------------------------------------------------------------------
_NORMALIZE = {True: "true", False: None, None: None, "none": None, "true": "true", "pred": "pred", "all": "all"}


def _ax(ax, figsize):
    import matplotlib.pyplot as plt

    if ax is None:
        fig, ax = plt.subplots(figsize=figsize)
        return fig, ax
    return ax.figure, ax


def plot_confusion_matrix(source: Mapping[str, Any] | Any, class_names: Sequence[str] | None = None,
                          normalize: str | bool | None = "true", ax=None, cmap: str = "Blues",
                          title: str | None = None):
    """Confusion matrix heatmap (seaborn), rows = true class.

    Args:
        source: a metrics dict (``confusion_matrix``, ``class_names``), a predictions DataFrame
            (``true``/``pred`` columns) or a (K, K) count array.
        class_names: axis labels (default from ``source``).
        normalize: ``"true"``/True (rows sum to 1: recall on the diagonal), ``"pred"`` (columns:
            precision), ``"all"``, or None/False for counts.
        ax: draw into this axes.
        cmap: colour map.
        title: axes title (default says the normalisation).

    Returns:
        The matplotlib Figure.
    """
    import matplotlib.pyplot as plt
    import seaborn as sns

    if isinstance(source, Mapping):
        cm = np.asarray(source["confusion_matrix"], dtype=np.float64)
        class_names = list(class_names or source["class_names"])
    elif hasattr(source, "columns"):
        class_names = list(class_names or class_names_of_predictions(source))
        idx = {c: i for i, c in enumerate(class_names)}
        cm = np.zeros((len(class_names),) * 2)
        for t, p in zip(source["true"], source["pred"]):
            cm[idx[t], idx[p]] += 1
    else:
        cm = np.asarray(source, dtype=np.float64)
        class_names = list(class_names or range(len(cm)))
    mode = _NORMALIZE[normalize if not isinstance(normalize, str) else normalize.lower()]
    with np.errstate(invalid="ignore", divide="ignore"):
        if mode == "true":
            shown = cm / cm.sum(1, keepdims=True)
        elif mode == "pred":
            shown = cm / cm.sum(0, keepdims=True)
        elif mode == "all":
            shown = cm / cm.sum()
        else:
            shown = cm
    shown = np.nan_to_num(shown)
    k = len(class_names)
    fig, ax = _ax(ax, (1.1 * k + 2.2, 1.0 * k + 1.6))
    sns.heatmap(shown, annot=True, fmt=".2f" if mode else ".0f", cmap=cmap, square=True, cbar=True,
                vmin=0, vmax=1 if mode else None, xticklabels=class_names, yticklabels=class_names, ax=ax,
                annot_kws={"size": 8})
    ax.set_xlabel("predicted class")
    ax.set_ylabel("true class")
    ax.set_title(title or {"true": "confusion matrix (rows normalised: recall)",
                           "pred": "confusion matrix (columns normalised: precision)",
                           "all": "confusion matrix (fraction of all)", None: "confusion matrix (counts)"}[mode])
    plt.setp(ax.get_xticklabels(), rotation=40, ha="right", rotation_mode="anchor")
    ax.tick_params(axis="y", rotation=0)
    fig.tight_layout()
    return fig


def plot_roc_curves(predictions, class_names: Sequence[str] | None = None, ax=None, calibrated: bool = False):
    """One-vs-rest ROC curve per class (AUC in the legend) from a predictions DataFrame."""
    from sklearn.metrics import roc_auc_score, roc_curve

    from .plotting import CLASS_PALETTE

    names = list(class_names or class_names_of_predictions(predictions))
    prefix = "prob_cal_" if calibrated else "prob_"
    fig, ax = _ax(ax, (4.6, 4.2))
    y = predictions["true"].to_numpy()
    for i, c in enumerate(names):
        pos = y == c
        if not 0 < pos.sum() < len(y):
            continue  # a class absent from (or alone in) this set has no ROC curve
        score = predictions[f"{prefix}{c}"].to_numpy()
        fpr, tpr, _ = roc_curve(pos, score)
        ax.plot(fpr, tpr, color=CLASS_PALETTE[i % len(CLASS_PALETTE)], lw=1.5,
                label=f"{c} (AUC {roc_auc_score(pos, score):.2f})")
    ax.plot([0, 1], [0, 1], ls="--", color="grey", lw=1)
    ax.set_xlabel("false positive rate")
    ax.set_ylabel("true positive rate")
    ax.set_title("ROC curves (one vs rest)")
    ax.legend(fontsize="small", frameon=False, loc="lower right")
    ax.set_xlim(0, 1), ax.set_ylim(0, 1.01)
    fig.tight_layout()
    return fig


def plot_reliability(predictions, n_bins: int = 10, ax=None):
    """Reliability diagram (accuracy vs confidence per bin) before and, when the DataFrame has
    ``prob_cal_*`` columns, after temperature scaling; ECE in the legend."""
    names = class_names_of_predictions(predictions)
    idx = {c: i for i, c in enumerate(names)}
    y = np.array([idx[t] for t in predictions["true"]])
    fig, ax = _ax(ax, (4.4, 4.2))
    ax.plot([0, 1], [0, 1], ls="--", color="grey", lw=1, label="perfect calibration")
    sets = [("uncalibrated", "prob_", "o")]
    if f"prob_cal_{names[0]}" in predictions:
        sets.append(("temperature scaled", "prob_cal_", "s"))
    for label, prefix, marker in sets:
        p = predictions[[f"{prefix}{c}" for c in names]].to_numpy(np.float64)
        curve = reliability_curve(p, y, n_bins)
        keep = curve["counts"] > 0
        ece = expected_calibration_error(p, y, n_bins)
        ax.plot(curve["confidence"][keep], curve["accuracy"][keep], marker=marker, lw=1.5,
                label=f"{label} (ECE {ece:.3f})")
    ax.set_xlabel("confidence (max probability)")
    ax.set_ylabel("accuracy")
    ax.set_xlim(0, 1), ax.set_ylim(0, 1.02)
    ax.set_title(f"reliability diagram ({n_bins} bins)")
    ax.legend(fontsize="small", frameon=False, loc="upper left")
    fig.tight_layout()
    return fig


def plot_training_curves(run: str | os.PathLike | Any, title: str | None = None):
    """Loss and validation accuracy / macro F1 per epoch of a run folder (``history.csv``), a
    :class:`cervix.engine.History` or a DataFrame (via :func:`cervix.plotting.plot_history`)."""
    import pandas as pd

    from .plotting import plot_history

    if isinstance(run, (str, os.PathLike)):
        p = Path(run)
        df = pd.read_csv(p / "history.csv" if p.is_dir() else p)
    else:
        df = run.to_dataframe() if hasattr(run, "to_dataframe") else run
    panels = tuple(t for t in (tuple(c for c in ("train_loss", "val_loss") if c in df),
                               tuple(c for c in ("val_accuracy", "val_f1_macro") if c in df)) if t)
    return plot_history(df, panels, title=title)


def plot_ablation(results: Mapping[str, Mapping[str, Any]], keys: Sequence[str] = ("accuracy", "f1_macro"),
                  ax=None, title: str = "ablation (test split, 95% CI)"):
    """Grouped bars: one group per metric, one bar per run, error bars = bootstrap 95% CI."""
    from .plotting import CLASS_PALETTE

    names = list(results)
    fig, ax = _ax(ax, (1.6 + 1.3 * len(keys) * max(1, len(names)) * 0.5, 3.6))
    width = 0.8 / max(1, len(names))
    x = np.arange(len(keys))
    for i, name in enumerate(names):
        m = results[name]
        vals = np.array([m.get(k) if m.get(k) is not None else np.nan for k in keys], dtype=np.float64)
        lo = np.array([(m.get("ci95", {}).get(k) or [np.nan, np.nan])[0] for k in keys], dtype=np.float64)
        hi = np.array([(m.get("ci95", {}).get(k) or [np.nan, np.nan])[1] for k in keys], dtype=np.float64)
        err = np.nan_to_num(np.vstack([np.clip(vals - lo, 0, None), np.clip(hi - vals, 0, None)]))
        ax.bar(x + (i - (len(names) - 1) / 2) * width, vals, width, yerr=err, capsize=3, label=name,
               color=CLASS_PALETTE[i % len(CLASS_PALETTE)])
    ax.set_xticks(x)
    ax.set_xticklabels(keys)
    ax.set_ylim(0, 1.05)
    ax.set_ylabel("score")
    ax.set_title(title)
    ax.legend(fontsize="small", frameon=False, loc="upper center", bbox_to_anchor=(0.5, -0.12),
              ncol=min(3, len(names)))
    fig.tight_layout()
    return fig


def plot_segmentation_metrics(metrics: Mapping[str, Any], keys: Sequence[str] = ("dice", "iou", "pixel_accuracy"),
                              ax=None):
    """Dice / IoU / pixel accuracy per head (bars) with their bootstrap 95% CIs (error bars)."""
    ci = metrics.get("ci95", {})
    per_head = {head: {k: metrics.get(f"{k}_{head}") for k in keys} for head in HEADS}
    for head, vals in per_head.items():
        vals["ci95"] = {k: ci.get(f"{k}_{head}") for k in keys}
    n = metrics.get("n_images")
    return plot_ablation(per_head, keys, ax=ax, title=f"segmentation (test, {n} images, 95% CI)")


def plot_model_inputs(records: Sequence, class_names: Sequence[str], image_size: int, n: int = 5):
    """The classifier's 5-channel input for ``n`` crops (one per class where possible): RGB,
    cytoplasm-mask channel, nucleus-mask channel, exactly as the model receives them (resized)."""
    import matplotlib.pyplot as plt

    chosen, seen = [], set()
    for r in records:  # first crop of each class, then fill up in order
        if r.label not in seen:
            chosen.append(r)
            seen.add(r.label)
    chosen = (chosen + [r for r in records if r not in chosen])[:n]
    ds = ClassificationDataset(chosen, class_names, image_size, 5, None, train=False, cache=False)
    fig, axes = plt.subplots(len(chosen), 3, figsize=(5.4, 1.8 * len(chosen)), squeeze=False)
    for i, rec in enumerate(chosen):
        x = ds[i][0]  # (5, S, S)
        axes[i, 0].imshow(to_image(x))
        axes[i, 1].imshow(x[3].numpy(), cmap="Greens", vmin=0, vmax=1)
        axes[i, 2].imshow(x[4].numpy(), cmap="RdPu", vmin=0, vmax=1)
        axes[i, 0].set_ylabel(rec.label, fontsize=7)
        for j, title in enumerate(("RGB (ch 0-2)", "cytoplasm (ch 3)", "nucleus (ch 4)")):
            axes[i, j].set_xticks([]), axes[i, j].set_yticks([])
            if i == 0:
                axes[i, j].set_title(title, fontsize=8)
    fig.tight_layout()
    return fig


# --------------------------------------------------------------------------------------------
# Grad-CAM and morphometrics of predictions
# --------------------------------------------------------------------------------------------
def pick_gradcam_examples(predictions, class_names: Sequence[str] | None = None,
                          n_per_class: int = 2) -> dict[str, dict[str, list[int]]]:
    """Row indices of example crops per true class: ``{"correct": [...], "wrong": [...]}``.

    ``correct`` = true and predicted class agree, ``wrong`` = they differ; both most confident
    first (the clearest hits and the most confident mistakes), at most ``n_per_class`` each.
    """
    names = list(class_names or class_names_of_predictions(predictions))
    out: dict[str, dict[str, list[int]]] = {}
    for c in names:
        rows = predictions[predictions["true"] == c].sort_values("confidence", ascending=False, kind="stable")
        ok = rows["pred"] == c
        out[c] = {"correct": [int(i) for i in rows.index[ok][:n_per_class]],
                  "wrong": [int(i) for i in rows.index[~ok][:n_per_class]]}
    return out


def _records_of(predictions, rows: Sequence[int], cfg: Mapping[str, Any], data, masks, fmt) -> list:
    """The records behind prediction rows, read like the evaluation read them (matched by path)."""
    own = data is None
    records = read_cls_records(cfg.get("data") if own else data, fmt or cfg.get("format", "classes"),
                               masks if masks is not None else (cfg.get("masks") if own else None), _grouping(cfg))
    by_path = {r.path: r for r in records}
    out = []
    for i in rows:
        p = predictions.loc[i, "path"]
        if p not in by_path:
            raise ValueError(f"{p}: not in the dataset {cfg.get('data') if own else data}; pass data=/masks=")
        out.append(by_path[p])
    return out


def gradcam_examples(checkpoint: str | os.PathLike, predictions, rows: Sequence[int] | Mapping[str, Any],
                     data: str | os.PathLike | None = None, masks: str | os.PathLike | None = None,
                     fmt: str | None = None, target: str = "pred") -> list[dict[str, Any]]:
    """Grad-CAM heat maps (over the classifier's SE feature map) for prediction rows.

    Args:
        checkpoint: the classifier (``best.pt`` or run folder).
        predictions: the predictions DataFrame of :func:`evaluate_checkpoint`.
        rows: row indices, or the dict of :func:`pick_gradcam_examples` (then each item gets
            ``kind`` "correct"/"wrong").
        data, masks, fmt: where the crops are (default the run's).
        target: explain the ``"pred"``icted or the ``"true"`` class.

    Returns:
        One dict per row: ``image`` (S, S, 3) uint8 (the model's input), ``cam`` (S, S) in
        [0, 1], ``cytoplasm``/``nucleus`` (S, S) masks of a 5-channel input (else None),
        ``path``, ``true``, ``pred``, ``confidence``, ``kind``, ``row``.
    """
    import torch

    from .gradcam import grad_cam

    kinds: list[str] = []
    if isinstance(rows, Mapping):
        flat = [(i, kind) for per in rows.values() for kind in ("correct", "wrong") for i in per.get(kind, [])]
        rows, kinds = [i for i, _ in flat], [k for _, k in flat]
    rows = list(rows)
    if not rows:
        return []
    model, cfg = load_classifier(checkpoint)
    names = cfg["class_names"]
    recs = _records_of(predictions, rows, cfg, data, masks, fmt)
    ds = ClassificationDataset(recs, names, cfg["image_size"], cfg["in_chans"], None, train=False, cache=False)
    x = torch.stack([ds[i][0] for i in range(len(ds))])  # (B, C, S, S)
    col = "pred" if target == "pred" else "true"
    cls = [names.index(predictions.loc[i, col]) for i in rows]
    cams = grad_cam(model, x.to(next(model.parameters()).device), target_class=cls)  # (B, S, S)
    items = []
    for j, i in enumerate(rows):
        xi = x[j]
        five = xi.shape[0] == 5
        items.append({
            "image": to_image(xi), "cam": cams[j],
            "cytoplasm": (xi[3].numpy() * 255).astype(np.uint8) if five else None,
            "nucleus": (xi[4].numpy() * 255).astype(np.uint8) if five else None,
            "path": predictions.loc[i, "path"], "true": predictions.loc[i, "true"],
            "pred": predictions.loc[i, "pred"], "confidence": float(predictions.loc[i, "confidence"]),
            "kind": kinds[j] if kinds else ("correct" if predictions.loc[i, "true"] == predictions.loc[i, "pred"]
                                            else "wrong"),
            "row": int(i),
        })
    return items


def plot_gradcam_grid(items: Sequence[Mapping[str, Any]], alpha: float = 0.45, ncols: int | None = None,
                      cmap: str = "jet"):
    """Crops with their Grad-CAM heat maps overlaid; titles give true / predicted class and confidence.

    Two panels per item (the crop, then crop + heat map). Default layout: one row per true class
    (as :func:`gradcam_examples` returns them from :func:`pick_gradcam_examples`); with
    ``ncols``, ``ncols`` items per row in order.
    """
    import matplotlib.pyplot as plt

    if not items:
        fig, ax = plt.subplots(figsize=(3, 1))
        ax.text(0.5, 0.5, "no examples", ha="center", va="center")
        ax.axis("off")
        return fig
    if ncols is None:
        by_class: dict[str, list[Mapping[str, Any]]] = {}
        for it in items:
            by_class.setdefault(it["true"], []).append(it)
        layout = list(by_class.values())
    else:
        layout = [list(items[i:i + ncols]) for i in range(0, len(items), ncols)]
    width = max(len(row) for row in layout)
    fig, axes = plt.subplots(len(layout), 2 * width, figsize=(4.0 * width, 2.25 * len(layout)), squeeze=False)
    for ax in axes.ravel():
        ax.axis("off")
    for r, row in enumerate(layout):
        for c, it in enumerate(row):
            a0, a1 = axes[r, 2 * c], axes[r, 2 * c + 1]
            a0.imshow(it["image"])
            a1.imshow(it["image"])
            a1.imshow(it["cam"], cmap=cmap, alpha=alpha, vmin=0, vmax=1)
            mark = "correct" if it["true"] == it["pred"] else "wrong"
            a0.set_title(f"true {it['true']}", fontsize=7)
            a1.set_title(f"{mark}: {it['pred']} ({it['confidence']:.2f})", fontsize=7)
    fig.suptitle("Grad-CAM of the predicted class", fontsize=9)
    fig.tight_layout()
    return fig


def predicted_morphometrics(checkpoint: str | os.PathLike, predictions, data: str | os.PathLike | None = None,
                            masks: str | os.PathLike | None = None, fmt: str | None = None):
    """Morphometrics (cell/nucleus area, N/C ratio, ...) of every predicted crop, from its masks.

    Returns a DataFrame with ``path, true, pred`` and the :func:`cervix.morphometrics.cell_morphometrics`
    keys; ``df.groupby("pred").agg(["mean", "std"])`` gives the table per predicted class.
    """
    import pandas as pd

    from .morphometrics import cell_morphometrics

    cfg = load_checkpoint(resolve_checkpoint(checkpoint)).get("config", {})
    cfg = {**cfg, "checkpoint": str(resolve_checkpoint(checkpoint))}
    recs = _records_of(predictions, list(predictions.index), cfg, data, masks, fmt)
    rows = []
    for i, rec in zip(predictions.index, recs):
        s = rec.load()
        if not s.has_masks:
            raise ValueError(f"{rec.path}: no masks; pass masks= (a masks root) to measure it")
        rows.append({"path": rec.path, "true": predictions.loc[i, "true"], "pred": predictions.loc[i, "pred"],
                     **cell_morphometrics(s.cytoplasm, s.nucleus)})
    df = pd.DataFrame(rows)
    order = list(cfg["class_names"])  # the model's class order (groupby("pred") follows it)
    for col in ("true", "pred"):
        df[col] = pd.Categorical(df[col], categories=order + sorted(set(df[col]) - set(order)), ordered=True)
    return df


# --------------------------------------------------------------------------------------------
# Widgets
# --------------------------------------------------------------------------------------------
def confusion_widget(metrics: Mapping[str, Any]):
    """Confusion matrix with a normalisation toggle (rows / columns / all / counts)."""
    import ipywidgets as W
    import matplotlib.pyplot as plt
    from IPython.display import display

    toggle = W.ToggleButtons(options=[("rows (recall)", "true"), ("columns (precision)", "pred"),
                                      ("all", "all"), ("counts", "none")], value="true",
                             description="normalise")
    out = W.Output()

    def draw(*_: Any) -> None:
        with out:
            out.clear_output(wait=True)
            fig = plot_confusion_matrix(metrics, normalize=toggle.value)
            display(fig)
            plt.close(fig)

    toggle.observe(draw, names="value")
    draw()
    return W.VBox([toggle, out])


def gradcam_widget(checkpoint: str | os.PathLike, predictions, data: str | os.PathLike | None = None,
                   masks: str | os.PathLike | None = None, fmt: str | None = None, alpha: float = 0.45):
    """Pick a true class, correct or wrong predictions, and a sample; shows crop, masks and Grad-CAM."""
    import ipywidgets as W
    import matplotlib.pyplot as plt
    from IPython.display import display

    from .plotting import overlay

    names = class_names_of_predictions(predictions)
    cls = W.Dropdown(options=names, description="true class")
    kind = W.ToggleButtons(options=["correct", "wrong"], description="prediction")
    idx = W.IntSlider(min=0, max=0, description="sample")
    opacity = W.FloatSlider(value=alpha, min=0.0, max=1.0, step=0.05, description="heat alpha")
    out = W.Output()
    cache: dict[int, dict[str, Any]] = {}

    def candidates() -> list[int]:
        rows = predictions[predictions["true"] == cls.value].sort_values("confidence", ascending=False, kind="stable")
        ok = rows["pred"] == cls.value
        return [int(i) for i in rows.index[ok if kind.value == "correct" else ~ok]]

    def draw(*_: Any) -> None:
        rows = candidates()
        idx.max = max(0, len(rows) - 1)
        with out:
            out.clear_output(wait=True)
            if not rows:
                print(f"no {kind.value} predictions for {cls.value}")
                return
            row = rows[min(idx.value, len(rows) - 1)]
            if row not in cache:
                cache[row] = gradcam_examples(checkpoint, predictions, [row], data, masks, fmt)[0]
            it = cache[row]
            fig, axes = plt.subplots(1, 3, figsize=(7.5, 2.8))
            axes[0].imshow(it["image"])
            axes[0].set_title(f"true {it['true']}", fontsize=8)
            if it["cytoplasm"] is not None:
                axes[1].imshow(overlay(it["image"], it["cytoplasm"], it["nucleus"]))
                axes[1].set_title("mask channels", fontsize=8)
            axes[2].imshow(it["image"])
            axes[2].imshow(it["cam"], cmap="jet", alpha=opacity.value, vmin=0, vmax=1)
            axes[2].set_title(f"pred {it['pred']} ({it['confidence']:.2f})", fontsize=8)
            for ax in axes:
                ax.axis("off")
            fig.tight_layout()
            display(fig)
            plt.close(fig)

    for w in (cls, kind, idx, opacity):
        w.observe(draw, names="value")
    draw()
    return W.VBox([W.HBox([cls, kind]), W.HBox([idx, opacity]), out])
