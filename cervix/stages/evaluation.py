"""Evaluation of both stages: metrics.json, predictions.csv, tables and Grad-CAM examples.

:func:`evaluate_checkpoint` dispatches on the checkpoint's ``task``: segmentation checkpoints go
to :func:`cervix.stages.segmentation.evaluate_segmentation`; classification checkpoints get accuracy,
per-class and macro precision/recall/F1, one-vs-rest macro ROC-AUC, the confusion matrix,
expected calibration error and negative log-likelihood, each scalar with a percentile bootstrap
95% confidence interval (Efron & Tibshirani 1993; crops resampled with replacement, see
:func:`cervix.metrics.scores.bootstrap_cis`), before and after temperature scaling fitted on the run's
validation split (Guo et al., "On Calibration of Modern Neural Networks", ICML 2017). A positive
temperature never changes the argmax, so accuracy, F1 and the confusion matrix are the same
before and after.

K-fold runs: give the run folder (or the absent ``<run>/best.pt``); each fold's model is
evaluated on its own test part (``folds``), the pooled out-of-fold predictions give the top-level
metrics, and ``mean_std`` holds the mean and sample standard deviation over folds. A fold's
``fold_<k>/best.pt`` is evaluated alone, like a single run.

Tables of metrics dicts (:func:`metrics_table`, :func:`classification_report_table`,
:func:`segmentation_table`) show each value with its 95% CI. From a predictions DataFrame:
:func:`pick_gradcam_examples` and :func:`gradcam_examples` (Grad-CAM heat maps, Selvaraju et al.,
ICCV 2017) and :func:`predicted_morphometrics`. The figures are in :mod:`cervix.viz.figures`, the
widgets in :mod:`cervix.widgets.data`.
"""

from __future__ import annotations

import os
import warnings
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from cervix.core.files import atomic_write_text, ensure_writable, json_ready
from cervix.core.labels import class_names_of_predictions
from cervix.data.datasets import IMAGENET_MEAN, IMAGENET_STD, ClassificationDataset, to_image
from cervix.data.preflight import skipped_info
from cervix.data.splits import load_split
from cervix.inference.classify import predict_logits, predictions_frame
from cervix.metrics.scores import (
    SCALAR_KEYS,
    bootstrap_cis,
    classification_metrics,
    expected_calibration_error,
    fit_temperature,
    negative_log_likelihood,
    scalar_metrics,
    softmax,
)
from cervix.stages.classification import load_classifier, read_cls_records
from cervix.training.checkpoints import load_checkpoint
from cervix.training.rundir import fold_dirs, resolve_checkpoint, run_split_path, write_metrics
from cervix.training.sampling import make_loader

__all__ = [
    "evaluate_checkpoint",
    "report_from_probabilities",
    "evaluate_runs",
    "pick_gradcam_examples",
    "prediction_rows",
    "gradcam_examples",
    "predicted_morphometrics",
]


# --------------------------------------------------------------------------------------------
# Metrics
# --------------------------------------------------------------------------------------------
def report_from_probabilities(
    y: Sequence[int],
    probs: np.ndarray,
    probs_cal: np.ndarray,
    temperature: float,
    class_names: Sequence[str],
    n_boot: int = 1000,
    seed: int = 0,
    alpha: float = 0.05,
) -> dict[str, Any]:
    """All classification metrics.json keys from labels and probabilities before/after calibration.

    Returns :func:`cervix.metrics.scores.classification_metrics` plus ``temperature``,
    ``ece_calibrated``, ``nll_calibrated`` and ``ci95`` ``{metric: [low, high]}`` for every
    :data:`cervix.metrics.scores.SCALAR_KEYS` entry: percentile bootstrap over samples
    (:func:`cervix.metrics.scores.bootstrap_cis` of :func:`cervix.metrics.scores.scalar_metrics`, ``n_boot``
    replicates with ``seed``; non-finite replicates dropped). No ``ci95`` entries without
    replicates or samples.
    """
    y = np.asarray(y, np.int64)
    probs, probs_cal = np.asarray(probs, np.float64), np.asarray(probs_cal, np.float64)
    m = classification_metrics(y, probs, list(class_names))
    m["temperature"] = float(temperature)
    m["ece_calibrated"] = expected_calibration_error(probs_cal, y)
    m["nll_calibrated"] = negative_log_likelihood(probs_cal, y)
    ci: dict[str, list[float]] = {}
    if n_boot > 0 and len(y) > 0:
        cis = bootstrap_cis(
            scalar_metrics, y, probs, probs_cal, keys=SCALAR_KEYS, n_boot=n_boot, seed=seed, alpha=alpha
        )
        ci = {key: list(bounds) for key, bounds in cis.items()}
    m["ci95"] = ci
    return m


# --------------------------------------------------------------------------------------------
# Evaluation of one classifier
# --------------------------------------------------------------------------------------------
def _grouping(cfg: Mapping[str, Any]) -> str | None:
    g = cfg.get("grouping")
    return None if g in (None, "5", 5) else str(g)


def _read_records(cfg: Mapping[str, Any], data: Any, masks: Any, fmt: str | None) -> tuple[list, dict[str, Any]]:
    """The crops of ``data`` (default the run's own data, then also its masks) and ``{data, masks,
    format}`` as read, with the run's label grouping."""
    own = data is None
    source = {
        "data": cfg.get("data") if own else data,
        "format": fmt or cfg.get("format", "classes"),
        "masks": masks if masks is not None else (cfg.get("masks") if own else None),
    }
    return read_cls_records(source["data"], source["format"], source["masks"], _grouping(cfg)), source


def _predict(
    model, cfg: Mapping[str, Any], records: Sequence, batch_size: int, tta: bool, progress: bool
) -> tuple[np.ndarray, np.ndarray]:
    ds = ClassificationDataset(
        records, cfg["class_names"], cfg["image_size"], cfg["in_chans"], None, train=False, cache=False
    )
    # float32 on purpose: bf16 logits (~3 significant digits) tie scores in ROC and calibration
    return predict_logits(model, make_loader(ds, batch_size, shuffle=False), amp="none", tta=tta, progress=progress)


def _run_val_records(cfg: Mapping[str, Any]) -> list:
    """The run's own validation crops (for the temperature), read from the run's data."""
    records, _ = _read_records(cfg, None, None, None)
    return [records[i] for i in load_split(run_split_path(cfg["checkpoint"], cfg), records).get("val", [])]


def _with_tta(cell_head: tuple[Any, dict[str, Any]], tta: bool) -> tuple[Any, dict[str, Any]]:
    """The cell head with flip TTA when ``evaluate --tta`` (or the segmentation run's config) asks for
    it, as the first model gets it (the cell head's own config has none)."""
    model, cfg = cell_head
    return model, {**cfg, "tta": bool(tta)}


def _evaluate_model(
    checkpoint: Path,
    data: Any,
    masks: Any,
    fmt: str | None,
    split: str,
    batch_size: int | None,
    tta: bool,
    progress: bool,
) -> dict[str, Any]:
    """Logits of the chosen records and the temperature fitted on the run's validation part."""
    model, cfg = load_classifier(checkpoint)
    norm = cfg.get("normalisation", {})
    if tuple(norm.get("mean", IMAGENET_MEAN)) != tuple(IMAGENET_MEAN) or tuple(norm.get("std", IMAGENET_STD)) != tuple(
        IMAGENET_STD
    ):
        raise ValueError(f"{checkpoint}: normalisation {norm} is not the ImageNet mean/std the datasets use")
    records, read = _read_records(cfg, data, masks, fmt)
    use_data, use_masks, use_fmt = read["data"], read["masks"], read["format"]
    bs = int(batch_size or cfg.get("batch_size", 32))
    val_recs: list = []
    if split == "all":
        chosen = list(records)
        try:
            val_recs = _run_val_records(cfg)
        except (OSError, ValueError, KeyError) as e:
            warnings.warn(f"{checkpoint}: the run's validation data is not readable ({e}); temperature 1", stacklevel=3)
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
    return {
        "records": chosen,
        "logits": logits,
        "y": y,
        "temperature": float(temperature),
        "temperature_source": source,
        "config": cfg,
        "data": use_data,
        "masks": use_masks,
        "format": use_fmt,
        "skipped": list(getattr(records, "skipped", [])),
    }


def _info(ev: Mapping[str, Any], split: str) -> dict[str, Any]:
    return {
        "task": "classification",
        "split": split,
        "checkpoint": ev["config"]["checkpoint"],
        "data": None if ev["data"] is None else str(ev["data"]),
        "masks": None if ev["masks"] is None else str(ev["masks"]),
        "format": ev["format"],
        "in_chans": ev["config"]["in_chans"],
        "temperature_source": ev["temperature_source"],
        **skipped_info(ev["skipped"]),
    }


def _write_outputs(out: Path, metrics: dict[str, Any], frame, figures: bool) -> dict[str, Any]:
    import matplotlib.pyplot as plt

    from cervix.viz.figures import plot_confusion_matrix, plot_reliability, plot_roc_curves  # they import this module
    from cervix.viz.style import save_figure

    atomic_write_text(out / "predictions.csv", frame.to_csv(index=False))
    metrics = json_ready(metrics)
    metrics["predictions"] = str(out / "predictions.csv")
    write_metrics(out, metrics)
    if figures:
        for name, fig in (
            ("confusion_matrix", plot_confusion_matrix(metrics)),
            ("roc_curves", plot_roc_curves(frame, metrics["class_names"])),
            ("reliability", plot_reliability(frame)),
        ):
            save_figure(fig, name, out / "figures")
            plt.close(fig)
    return metrics


def _evaluate_classifier(
    ck_path: Path, data, masks, fmt, split, out, n_boot, batch_size, tta, figures, seed, progress
) -> dict[str, Any]:
    """One classifier checkpoint: metrics with CIs before and after temperature scaling, predictions, figures."""
    ev = _evaluate_model(ck_path, data, masks, fmt, split, batch_size, tta, progress)
    names = ev["config"]["class_names"]
    probs, probs_cal = softmax(ev["logits"], 1), softmax(ev["logits"] / ev["temperature"], 1)
    metrics = {
        **report_from_probabilities(ev["y"], probs, probs_cal, ev["temperature"], names, n_boot, seed),
        **_info(ev, split),
    }
    frame = predictions_frame(ev["records"], ev["logits"], names, ev["temperature"])
    return _write_outputs(Path(out) if out is not None else ck_path.parent, metrics, frame, figures)


def _evaluate_one(
    ck_path: Path, data, masks, fmt, split, out, n_boot, batch_size, tta, figures, seed, progress, instances
) -> dict[str, Any]:
    """One checkpoint, by its task: segmentation (:func:`cervix.stages.segmentation.evaluate_segmentation`)
    or classification (:func:`_evaluate_classifier`)."""
    run_cfg = load_checkpoint(ck_path).get("config", {})
    task = run_cfg.get("task")
    if task == "segmentation":
        from cervix.stages.cellhead import find_cell_head, load_cell_head
        from cervix.stages.segmentation import evaluate_segmentation

        head = find_cell_head(ck_path) if instances else None  # whole cells where the run has a cell head
        # tta=False keeps the segmentation run's own setting (its config's ``tta``)
        return evaluate_segmentation(
            ck_path,
            data=data,
            fmt=fmt,
            split=split,
            out=out,
            n_boot=n_boot,
            tta=tta or None,
            seed=seed,
            progress=progress,
            instances=instances,
            cell_head=_with_tta(load_cell_head(head), tta or run_cfg.get("tta", False)) if head is not None else None,
        )
    if task != "classification" or instances:
        raise ValueError(
            f"{ck_path}: instance metrics are for a segmentation checkpoint, not a classifier"
            if instances
            else f"{ck_path}: unknown task {task!r} (expected segmentation or classification)"
        )
    return _evaluate_classifier(ck_path, data, masks, fmt, split, out, n_boot, batch_size, tta, figures, seed, progress)


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
    instances: bool = False,
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
        instances: segmentation only: add cell and nucleus instance metrics (needs per-cell truth).

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
        run = path if path.is_dir() else path.parent
        return _evaluate_kfold(
            run, folds, data, masks, fmt, split, out, n_boot, batch_size, tta, figures, seed, progress
        )
    ck_path = resolve_checkpoint(path)
    if out is None:
        ensure_writable(ck_path.parent)
    return _evaluate_one(
        ck_path, data, masks, fmt, split, out, n_boot, batch_size, tta, figures, seed, progress, instances
    )


def _evaluate_kfold(
    run: Path, folds: list[Path], data, masks, fmt, split, out, n_boot, batch_size, tta, figures, seed, progress
) -> dict[str, Any]:
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
        frame = pd.concat(
            [
                predictions_frame(
                    ev["records"], ev["logits"], names, ev["temperature"], extra={"fold": [k] * len(ev["y"])}
                )
                for k, ev in enumerate(evs)
            ],
            ignore_index=True,
        )
    metrics = report_from_probabilities(y, probs, probs_cal, float(np.mean(temps)), names, n_boot, seed)
    metrics.update(_info(evs[0], split), checkpoint=str(run), k=len(evs), temperatures=temps, folds=fold_metrics)
    metrics["pooled"] = "ensemble mean over folds" if split == "all" else "out-of-fold predictions"
    metrics["mean_std"] = {
        key: [float(np.nanmean(v)), float(np.nanstd(v, ddof=1)) if np.isfinite(v).sum() > 1 else float("nan")]
        for key in (*SCALAR_KEYS, "temperature")
        for v in [np.array([fm[key] for fm in fold_metrics], dtype=np.float64)]
    }
    return _write_outputs(Path(out) if out is not None else run, metrics, frame, figures)


def evaluate_runs(
    runs: Mapping[str, str | os.PathLike],
    out: str | os.PathLike,
    n_boot: int = 1000,
    figures: bool = False,
    seed: int = 0,
) -> dict[str, dict[str, Any]]:
    """Evaluate several classifier runs on their own test split, each into ``out/eval_<name>``.

    Args:
        runs: ``{name: run folder or checkpoint}`` (e.g. the arms of
            :func:`cervix.stages.ablation.train_ablation` plus the main run).
        out: parent folder of the outputs (``eval_rgb_only``, ``eval_rgb_predicted_masks``, ...).
        n_boot, figures, seed: as in :func:`evaluate_checkpoint`.

    Returns:
        ``{name: metrics}`` in the order of ``runs`` (for :func:`metrics_table` and
        :func:`cervix.viz.figures.plot_ablation`).

    Raises:
        ValueError: the runs were tested on different numbers of crops (not one split).
    """
    results = {}
    for name, run in runs.items():
        slug = "_".join("".join(ch if ch.isalnum() else " " for ch in name.lower()).split())
        results[name] = evaluate_checkpoint(
            run, out=Path(out) / f"eval_{slug}", n_boot=n_boot, figures=figures, seed=seed
        )
    sizes = {name: m["n_samples"] for name, m in results.items()}
    if len(set(sizes.values())) > 1:
        raise ValueError(f"the runs were tested on different crops (not one split): {sizes}")
    return results


# --------------------------------------------------------------------------------------------
# Grad-CAM and morphometrics of predictions
# --------------------------------------------------------------------------------------------
def pick_gradcam_examples(
    predictions, class_names: Sequence[str] | None = None, n_per_class: int = 2
) -> dict[str, dict[str, list[int]]]:
    """Row indices of example crops per true class: ``{"correct": [...], "wrong": [...]}``.

    ``correct`` = true and predicted class agree, ``wrong`` = they differ; both most confident
    first (the clearest hits and the most confident mistakes), at most ``n_per_class`` each.
    """
    names = list(class_names or class_names_of_predictions(predictions))
    return {
        c: {
            "correct": prediction_rows(predictions, c, correct=True)[:n_per_class],
            "wrong": prediction_rows(predictions, c, correct=False)[:n_per_class],
        }
        for c in names
    }


def prediction_rows(predictions, true_class: str, correct: bool) -> list[int]:
    """Row indices of the crops of one true class predicted correctly (``correct``) or wrongly,
    most confident first (stable order among ties)."""
    rows = predictions[predictions["true"] == true_class].sort_values("confidence", ascending=False, kind="stable")
    ok = rows["pred"] == true_class
    return [int(i) for i in rows.index[ok if correct else ~ok]]


def _records_of(predictions, rows: Sequence[int], cfg: Mapping[str, Any], data, masks, fmt) -> list:
    """The records behind prediction rows, read like the evaluation read them (matched by path)."""
    records, source = _read_records(cfg, data, masks, fmt)
    by_path = {r.path: r for r in records}
    out = []
    for i in rows:
        p = predictions.loc[i, "path"]
        if p not in by_path:
            raise ValueError(f"{p}: not in the dataset {source['data']}; pass data=/masks=")
        out.append(by_path[p])
    return out


def gradcam_examples(
    checkpoint: str | os.PathLike,
    predictions,
    rows: Sequence[int] | Mapping[str, Any],
    data: str | os.PathLike | None = None,
    masks: str | os.PathLike | None = None,
    fmt: str | None = None,
    target: str = "pred",
) -> list[dict[str, Any]]:
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

    from cervix.models.gradcam import grad_cam

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
        items.append(
            {
                "image": to_image(xi),
                "cam": cams[j],
                "cytoplasm": (xi[3].numpy() * 255).astype(np.uint8) if five else None,
                "nucleus": (xi[4].numpy() * 255).astype(np.uint8) if five else None,
                "path": predictions.loc[i, "path"],
                "true": predictions.loc[i, "true"],
                "pred": predictions.loc[i, "pred"],
                "confidence": float(predictions.loc[i, "confidence"]),
                "kind": kinds[j]
                if kinds
                else ("correct" if predictions.loc[i, "true"] == predictions.loc[i, "pred"] else "wrong"),
                "row": int(i),
            }
        )
    return items


def predicted_morphometrics(
    checkpoint: str | os.PathLike,
    predictions,
    data: str | os.PathLike | None = None,
    masks: str | os.PathLike | None = None,
    fmt: str | None = None,
):
    """Morphometrics (cell/nucleus area, N/C ratio, ...) of every predicted crop, from its masks.

    Returns a DataFrame with ``path, true, pred`` and the :func:`cervix.cells.morphometrics.cell_morphometrics`
    keys; ``df.groupby("pred").agg(["mean", "std"])`` gives the table per predicted class.
    """
    import pandas as pd

    from cervix.cells.morphometrics import cell_morphometrics

    cfg = load_checkpoint(resolve_checkpoint(checkpoint)).get("config", {})
    cfg = {**cfg, "checkpoint": str(resolve_checkpoint(checkpoint))}
    recs = _records_of(predictions, list(predictions.index), cfg, data, masks, fmt)
    rows = []
    for i, rec in zip(predictions.index, recs):
        s = rec.load()
        if not s.has_masks:
            raise ValueError(f"{rec.path}: no masks; pass masks= (a masks root) to measure it")
        rows.append(
            {
                "path": rec.path,
                "true": predictions.loc[i, "true"],
                "pred": predictions.loc[i, "pred"],
                **cell_morphometrics(s.cytoplasm, s.nucleus),
            }
        )
    df = pd.DataFrame(rows)
    order = list(cfg["class_names"])  # the model's class order (groupby("pred") follows it)
    for col in ("true", "pred"):
        df[col] = pd.Categorical(df[col], categories=order + sorted(set(df[col]) - set(order)), ordered=True)
    return df
