"""Figures of an evaluation: confusion matrix, ROC curves, reliability diagram, training curves,
ablation and segmentation bars, the classifier's inputs and Grad-CAM examples.

Every function returns a matplotlib ``Figure`` (or draws into ``ax``); saving is left to
:func:`cervix.viz.style.save_figure` (PDF + 300-dpi PNG), the one figure-style module, whose
palette the figures use. What they draw:

* :func:`plot_confusion_matrix`: counts or row / column / total normalised (seaborn heatmap).
* :func:`plot_roc_curves`: one-vs-rest ROC curve per class, AUC in the legend.
* :func:`plot_reliability`: accuracy against confidence per bin before and after temperature
  scaling, with the expected calibration error (Guo et al., "On Calibration of Modern Neural
  Networks", ICML 2017).
* :func:`plot_history`, :func:`plot_training_curves`: loss and validation scores per epoch (a
  :class:`cervix.training.history.History`, or a run's ``history.csv``); the live curves of a notebook draw
  through the same function.
* :func:`mask_grid`, :func:`prediction_grid`, :func:`worst_cases`, :func:`area_distributions`:
  masks beside images (true and predicted), and mask areas per class.
* :func:`plot_ablation`, :func:`plot_segmentation_metrics`: bars with percentile bootstrap 95%
  confidence intervals as error bars (Efron & Tibshirani 1993).
* :func:`plot_model_inputs`: the classifier's 5-channel input (RGB and both mask channels).
* :func:`plot_gradcam_grid`, :func:`plot_gradcam_example`: crops with their Grad-CAM heat maps
  (Selvaraju et al., "Grad-CAM: Visual Explanations from Deep Networks via Gradient-based
  Localization", ICCV 2017), from :func:`cervix.stages.evaluation.gradcam_examples`.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import cv2
import matplotlib.pyplot as plt
import numpy as np
import seaborn as sns

from cervix.cells.instances import Instances, suppress_weak_nuclei
from cervix.core.labels import HEADS, class_names_of_predictions, class_order
from cervix.core.masks import binarise
from cervix.data.datasets import ClassificationDataset, to_image
from cervix.data.decode import load_image, load_mask
from cervix.metrics.scores import expected_calibration_error, reliability_curve
from cervix.viz.style import CLASS_PALETTE, class_rgb, overlay

__all__ = [
    "plot_field_analysis",
    "plot_history",
    "mask_grid",
    "prediction_grid",
    "area_distributions",
    "worst_cases",
    "plot_confusion_matrix",
    "plot_roc_curves",
    "plot_reliability",
    "plot_training_curves",
    "plot_ablation",
    "plot_segmentation_metrics",
    "plot_model_inputs",
    "plot_gradcam_grid",
    "plot_gradcam_example",
    "overlay_instances",
]


_NORMALISE = {True: "true", False: None, None: None, "none": None, "true": "true", "pred": "pred", "all": "all"}


def _ax(ax, figsize):

    if ax is None:
        fig, ax = plt.subplots(figsize=figsize)
        return fig, ax
    return ax.figure, ax


def plot_confusion_matrix(
    source: Mapping[str, Any] | Any,
    class_names: Sequence[str] | None = None,
    normalise: str | bool | None = "true",
    ax=None,
    cmap: str = "Blues",
    title: str | None = None,
):
    """Confusion matrix heatmap (seaborn), rows = true class.

    Args:
        source: a metrics dict (``confusion_matrix``, ``class_names``), a predictions DataFrame
            (``true``/``pred`` columns) or a (K, K) count array.
        class_names: axis labels (default from ``source``).
        normalise: ``"true"``/True (rows sum to 1: recall on the diagonal), ``"pred"`` (columns:
            precision), ``"all"``, or None/False for counts.
        ax: draw into this axes.
        cmap: colour map.
        title: axes title (default says the normalisation).

    Returns:
        The matplotlib Figure.
    """

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
    mode = _NORMALISE[normalise if not isinstance(normalise, str) else normalise.lower()]
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
    sns.heatmap(
        shown,
        annot=True,
        fmt=".2f" if mode else ".0f",
        cmap=cmap,
        square=True,
        cbar=True,
        vmin=0,
        vmax=1 if mode else None,
        xticklabels=class_names,
        yticklabels=class_names,
        ax=ax,
        annot_kws={"size": 8},
    )
    ax.set_xlabel("predicted class")
    ax.set_ylabel("true class")
    ax.set_title(
        title
        or {
            "true": "confusion matrix (rows normalised: recall)",
            "pred": "confusion matrix (columns normalised: precision)",
            "all": "confusion matrix (fraction of all)",
            None: "confusion matrix (counts)",
        }[mode]
    )
    plt.setp(ax.get_xticklabels(), rotation=40, ha="right", rotation_mode="anchor")
    ax.tick_params(axis="y", rotation=0)
    fig.tight_layout()
    return fig


def plot_roc_curves(predictions, class_names: Sequence[str] | None = None, ax=None, calibrated: bool = False):
    """One-vs-rest ROC curve per class (AUC in the legend) from a predictions DataFrame."""
    from sklearn.metrics import roc_auc_score, roc_curve

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
        ax.plot(
            fpr,
            tpr,
            color=CLASS_PALETTE[i % len(CLASS_PALETTE)],
            lw=1.5,
            label=f"{c} (AUC {roc_auc_score(pos, score):.2f})",
        )
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
        ax.plot(
            curve["confidence"][keep], curve["accuracy"][keep], marker=marker, lw=1.5, label=f"{label} (ECE {ece:.3f})"
        )
    ax.set_xlabel("confidence (max probability)")
    ax.set_ylabel("accuracy")
    ax.set_xlim(0, 1), ax.set_ylim(0, 1.02)
    ax.set_title(f"reliability diagram ({n_bins} bins)")
    ax.legend(fontsize="small", frameon=False, loc="upper left")
    fig.tight_layout()
    return fig


def plot_training_curves(run: str | os.PathLike | Any, title: str | None = None):
    """Loss and validation accuracy / macro F1 per epoch of a run folder (``history.csv``), a
    :class:`cervix.training.history.History` or a DataFrame (via :func:`plot_history`)."""
    import pandas as pd

    if isinstance(run, (str, os.PathLike)):
        p = Path(run)
        df = pd.read_csv(p / "history.csv" if p.is_dir() else p)
    else:
        df = run.to_dataframe() if hasattr(run, "to_dataframe") else run
    panels = tuple(
        t
        for t in (
            tuple(c for c in ("train_loss", "val_loss") if c in df),
            tuple(c for c in ("val_accuracy", "val_f1_macro") if c in df),
        )
        if t
    )
    return plot_history(df, panels, title=title)


def plot_ablation(
    results: Mapping[str, Mapping[str, Any]],
    keys: Sequence[str] = ("accuracy", "f1_macro"),
    ax=None,
    title: str = "ablation (test split, 95% CI)",
):
    """Grouped bars: one group per metric, one bar per run, error bars = bootstrap 95% CI."""

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
        ax.bar(
            x + (i - (len(names) - 1) / 2) * width,
            vals,
            width,
            yerr=err,
            capsize=3,
            label=name,
            color=CLASS_PALETTE[i % len(CLASS_PALETTE)],
        )
    ax.set_xticks(x)
    ax.set_xticklabels(keys)
    ax.set_ylim(0, 1.05)
    ax.set_ylabel("score")
    ax.set_title(title)
    ax.legend(fontsize="small", frameon=False, loc="upper center", bbox_to_anchor=(0.5, -0.12), ncol=min(3, len(names)))
    fig.tight_layout()
    return fig


def plot_segmentation_metrics(
    metrics: Mapping[str, Any], keys: Sequence[str] = ("dice", "iou", "pixel_accuracy"), ax=None
):
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


def plot_gradcam_grid(
    items: Sequence[Mapping[str, Any]], alpha: float = 0.45, ncols: int | None = None, cmap: str = "jet"
):
    """Crops with their Grad-CAM heat maps overlaid; titles give true / predicted class and confidence.

    Two panels per item (the crop, then crop + heat map). Default layout: one row per true class
    (as :func:`gradcam_examples` returns them from :func:`pick_gradcam_examples`); with
    ``ncols``, ``ncols`` items per row in order.
    """

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
        layout = [list(items[i : i + ncols]) for i in range(0, len(items), ncols)]
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


def plot_gradcam_example(item: Mapping[str, Any], alpha: float = 0.45, cmap: str = "jet"):
    """One Grad-CAM example in three panels: the crop (true class), its mask channels over the
    crop (5-channel inputs only, else empty) and the heat map over the crop (predicted class and
    confidence).

    Args:
        item: one dict of :func:`cervix.stages.evaluation.gradcam_examples`.
        alpha: opacity of the heat map.
        cmap: colour map of the heat map.
    """

    fig, axes = plt.subplots(1, 3, figsize=(7.5, 2.8))
    axes[0].imshow(item["image"])
    axes[0].set_title(f"true {item['true']}", fontsize=8)
    if item["cytoplasm"] is not None:
        axes[1].imshow(overlay(item["image"], item["cytoplasm"], item["nucleus"]))
        axes[1].set_title("mask channels", fontsize=8)
    axes[2].imshow(item["image"])
    axes[2].imshow(item["cam"], cmap=cmap, alpha=alpha, vmin=0, vmax=1)
    axes[2].set_title(f"pred {item['pred']} ({item['confidence']:.2f})", fontsize=8)
    for ax in axes:
        ax.axis("off")
    fig.tight_layout()
    return fig


def plot_history(
    history, metrics: tuple[tuple[str, ...], ...] | None = None, title: str | None = None, best_epoch: int | None = None
) -> plt.Figure:
    """Training curves: one panel per group of columns of a :class:`cervix.training.history.History` or DataFrame.

    The one training-curve plotter: notebooks' live curves
    (:func:`cervix.widgets.training.live_plot_callback`) and saved figures
    (:func:`cervix.viz.figures.plot_training_curves`) draw through it. Losses and scores never
    share an axis; epochs are integers, and a run of one epoch shows one point on a readable axis.

    Args:
        history: ``History`` (``.to_dataframe()``) or a ``pandas.DataFrame`` with an ``epoch`` column.
        metrics: panels, each a tuple of column names; default losses | Dice per head | the rest of ``val_*``.
        title: figure title.
        best_epoch: draw a dashed line at this epoch (default the History's ``best_epoch``).
    """
    from matplotlib import ticker

    df = history.to_dataframe() if hasattr(history, "to_dataframe") else history
    if best_epoch is None:
        best_epoch = getattr(history, "best_epoch", None)
    if metrics is None:
        losses = tuple(c for c in ("train_loss", "val_loss") if c in df)
        dices = tuple(c for c in df.columns if c.startswith("val_dice"))
        rest = tuple(c for c in df.columns if c.startswith("val_") and c not in losses + dices)
        metrics = tuple(m for m in (losses, dices, rest) if m)
    last = max(1, int(df["epoch"].max())) if len(df) else 1
    fig, axes = plt.subplots(1, len(metrics), figsize=(4.2 * len(metrics), 3.2), squeeze=False)
    for ax, cols in zip(axes[0], metrics):
        for c in cols:
            if c in df and df[c].notna().any():
                ax.plot(df["epoch"], df[c], marker="o", ms=4, label=c)
        if best_epoch is not None and not all(c.endswith("loss") for c in cols):
            ax.axvline(best_epoch, color="0.5", ls="--", lw=1, label=f"best (epoch {best_epoch})")
        ax.set_xlim(0.5, last + 0.5)
        if last <= 10:  # MaxNLocator falls back to fractions when fewer than 2 integers fit
            ax.set_xticks(range(1, last + 1))
        else:
            ax.xaxis.set_major_locator(ticker.MaxNLocator(integer=True, nbins=8))
        ax.set_xlabel("epoch")
        ax.set_title("loss" if all(c.endswith("loss") for c in cols) else "validation")
        ax.legend(frameon=True, framealpha=0.85, edgecolor="none", fontsize="small", loc="best")
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    return fig


def mask_grid(
    images: list[np.ndarray],
    masks: list[list[np.ndarray | None]],
    titles: list[str],
    row_labels: list[str] | None = None,
    alpha: float = 0.45,
) -> plt.Figure:
    """A grid: one row per image; column 0 the image, then one overlay per mask set.

    Args:
        images: RGB uint8 images.
        masks: per image, a list of ``(cytoplasm, nucleus)`` pairs, one per overlay column.
        titles: column titles (``"image"`` + one per overlay).
        row_labels: optional label per row (e.g. the class).
    """
    n, k = len(images), len(titles)
    fig, axes = plt.subplots(n, k, figsize=(2.2 * k, 2.2 * n), squeeze=False)
    for i, image in enumerate(images):
        axes[i, 0].imshow(image)
        for j, pair in enumerate(masks[i], start=1):
            axes[i, j].imshow(overlay(image, pair[0], pair[1], alpha))
        for j in range(k):
            axes[i, j].set_xticks([]), axes[i, j].set_yticks([])
            for side in axes[i, j].spines.values():
                side.set_visible(False)
            if i == 0:
                axes[i, j].set_title(titles[j])
        if row_labels:
            axes[i, 0].set_ylabel(row_labels[i], fontsize="small")
    fig.tight_layout()
    return fig


def prediction_grid(samples, predictions, thresholds=(0.5, 0.5), n: int = 4, alpha: float = 0.45) -> plt.Figure:
    """Image | truth | prediction for the first ``n`` samples (green cytoplasm, magenta nucleus).

    Args:
        samples: :class:`cervix.data.records.Sample` objects (image and true masks), or records to load.
        predictions: matching dicts with ``probs`` (2, H, W) (see ``segmentation.predict_probabilities``).
        thresholds: (cytoplasm, nucleus) thresholds applied to the probabilities.
    """
    samples = [s.load() if hasattr(s, "load") else s for s in list(samples)[:n]]
    predictions = list(predictions)[:n]
    images = [s.image for s in samples]
    masks = [  # the prediction as `masks` writes it: weak nuclei left out
        [(s.cytoplasm, s.nucleus), binarise(suppress_weak_nuclei(p["probs"][:2], thresholds[1]), thresholds)]
        for s, p in zip(samples, predictions)
    ]
    return mask_grid(images, masks, ["image", "truth", "prediction"])


def area_distributions(table, columns: tuple[str, ...] = ("cell_area", "nucleus_area")) -> plt.Figure:
    """Box + strip plots of mask areas (pixels) per class, one panel per column of ``table``."""
    fig, axes = plt.subplots(1, len(columns), figsize=(4.5 * len(columns), 3.4), squeeze=False)
    order = class_order(table["class"].unique())
    for ax, col in zip(axes[0], columns):
        sns.boxplot(data=table, x="class", y=col, order=order, ax=ax, color="0.85", fliersize=0)
        sns.stripplot(data=table, x="class", y=col, order=order, ax=ax, size=2.5, alpha=0.6)
        ax.set_xlabel("")
        ax.set_ylabel(col.replace("_", " ") + " (px)")
        ax.tick_params(axis="x", rotation=30)
        for lab in ax.get_xticklabels():
            lab.set_horizontalalignment("right")
    fig.tight_layout()
    return fig


def worst_cases(agreement, images_root, pred_root, true_root, n: int = 4) -> plt.Figure:
    """The ``n`` crops whose predicted masks agree least with the true ones: image | truth | prediction.

    Args:
        agreement: DataFrame from ``stages.masks.compare_mask_folders`` (worst first).
        images_root: classes folder of the crops; ``pred_root``/``true_root``: masks roots.
    """

    rows = agreement.head(n)
    images, masks, labels = [], [], []
    for rel, dc, dn in zip(rows["rel"], rows["dice_cytoplasm"], rows["dice_nucleus"]):
        stem = Path(rel).with_suffix("")
        img_path = next(Path(images_root).glob(f"{stem}.*"))
        image = load_image(img_path)
        images.append(image)
        masks.append(
            [
                tuple(load_mask(Path(true_root) / h / rel) for h in HEADS),
                tuple(load_mask(Path(pred_root) / h / rel) for h in HEADS),
            ]
        )
        labels.append(f"{Path(rel).parts[0]}\nDice {dc:.2f}/{dn:.2f}")
    return mask_grid(images, masks, ["image", "truth", "prediction"], row_labels=labels)


def plot_field_analysis(
    image: np.ndarray,
    inst: Any,
    rows: Sequence[Mapping[str, Any]],
    class_names: Sequence[str],
    title: str | None = None,
) -> plt.Figure:
    """A field after :func:`cervix.stages.pipeline.analyze`: (a) every cell's contour in its predicted
    class colour (nuclei in white), (b) cells per class."""
    from matplotlib.patches import Patch

    names = list(class_names)
    counts = [sum(r.get("predicted_class") == c for r in rows) for c in names]
    colours = [CLASS_PALETTE[i % len(CLASS_PALETTE)] for i in range(len(names))]
    fig, (a, b) = plt.subplots(1, 2, figsize=(7.2, 3.4), gridspec_kw={"width_ratios": [1.6, 1]})
    a.imshow(overlay_instances(image, inst, list(rows), names, legend=False))
    a.set_axis_off()
    a.set_title("(a) " + (title or f"{len(rows)} cells"), fontsize="medium")
    a.legend(
        handles=[Patch(color=c, label=n) for c, n in zip(colours, names)],
        loc="upper left",
        bbox_to_anchor=(0, -0.02),
        ncol=2,
        fontsize="x-small",
        frameon=False,
    )
    b.barh(range(len(names)), counts, color=colours)
    b.set_yticks(range(len(names)), names, fontsize="small")
    b.invert_yaxis()
    b.set_xlabel("cells")
    b.set_title("(b) cells per class", fontsize="medium")
    fig.tight_layout()
    return fig


def overlay_instances(
    image: np.ndarray,
    inst: Instances,
    rows: list[dict[str, Any]],
    class_names: list[str],
    thickness: int | None = None,
    legend: bool = True,
) -> np.ndarray:
    """(H', W, 3) uint8 RGB: each cell's contour in its class colour, nuclei outlined in white, and
    (``legend``) a band with each class's colour, name and count above the field."""
    colours = class_rgb(class_names)
    out = np.ascontiguousarray(image.copy())
    t = thickness or max(1, round(min(image.shape[:2]) / 400))
    masks = inst.cell_masks  # whole cells where the field has them: their contours cross where cells overlap
    for r in rows:
        c = masks.get(int(r["cell_id"]))
        if c is None:
            continue
        for m, col, tk in (
            (c.mask, colours.get(r.get("predicted_class"), (0, 0, 0)), t),
            (c.nucleus, (255, 255, 255), max(1, t - 1)),
        ):
            contours, _ = cv2.findContours(
                m.astype(np.uint8), cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_SIMPLE, offset=(c.box[1], c.box[0])
            )
            cv2.drawContours(out, contours, -1, col, tk)
    if not legend:
        return out
    scale = max(0.45, image.shape[1] / 1600)
    line = int(28 * scale)
    band = np.full((line * len(class_names) + line // 2, image.shape[1], 3), 255, np.uint8)
    for i, c in enumerate(class_names):
        y = line * (i + 1)
        cv2.rectangle(band, (8, y - int(18 * scale)), (8 + int(22 * scale), y), colours[c], -1)
        n = sum(r.get("predicted_class") == c for r in rows)
        cv2.putText(
            band,
            f"{c} ({n})",
            (16 + int(26 * scale), y - 2),
            cv2.FONT_HERSHEY_SIMPLEX,
            0.6 * scale,
            (0, 0, 0),
            1,
            cv2.LINE_AA,
        )
    return np.vstack([band, out])
