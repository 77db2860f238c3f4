"""The one figure-style module: every paper figure goes through :func:`save_figure`.

Figures are written to ``figures/`` (see :mod:`cervix.paths`) as PDF and 300-dpi PNG.
"""
from __future__ import annotations

from pathlib import Path

import matplotlib

import matplotlib.pyplot as plt
import numpy as np
import seaborn as sns

from .labels import HEADS, class_order
from .paths import figures_dir

__all__ = ["set_style", "save_figure", "overlay", "CLASS_PALETTE", "HEAD_COLORS", "plot_history", "log_ticks",
           "prediction_grid", "mask_grid", "area_distributions", "worst_cases"]

#: Overlay colours (RGB 0-1) for the two heads.
HEAD_COLORS = {"cytoplasm": (0.10, 0.75, 0.30), "nucleus": (0.90, 0.15, 0.60)}
#: Colour-blind-safe palette used for classes across figures.
CLASS_PALETTE = sns.color_palette("colorblind", 8)


def set_style(context: str = "paper") -> None:
    """Apply the project's figure style (seaborn ticks, readable fonts, tight layout)."""
    sns.set_theme(context=context, style="ticks", palette=CLASS_PALETTE)
    matplotlib.rcParams.update(
        {
            "figure.dpi": 110,
            "savefig.dpi": 300,
            "savefig.bbox": "tight",
            "pdf.fonttype": 42,  # editable text in PDF
            "axes.spines.top": False,
            "axes.spines.right": False,
            "axes.titlesize": "medium",
            "image.interpolation": "nearest",
        }
    )


def save_figure(fig: plt.Figure, name: str, out_dir: str | Path | None = None) -> list[Path]:
    """Save ``fig`` as ``<out_dir>/<name>.pdf`` and ``.png`` (300 dpi); return both paths."""
    out = Path(out_dir) if out_dir is not None else figures_dir()
    out.mkdir(parents=True, exist_ok=True)
    paths = [out / f"{name}.pdf", out / f"{name}.png"]
    fig.savefig(paths[0])
    fig.savefig(paths[1], dpi=300)
    return paths


def log_ticks(axis) -> None:
    """Readable ticks on a log axis: labels at 1, 2, 5 x 10^k as plain numbers (0.02, 0.05, 0.1),
    minor ticks unlabelled (matplotlib labels every minor tick of a short log range, and the
    labels overlap)."""
    from matplotlib import ticker

    axis.set_major_locator(ticker.LogLocator(base=10, subs=(1.0, 2.0, 5.0)))
    axis.set_major_formatter(ticker.FuncFormatter(lambda v, _: f"{v:g}"))
    axis.set_minor_locator(ticker.LogLocator(base=10, subs=np.arange(1, 10)))
    axis.set_minor_formatter(ticker.NullFormatter())


def overlay(
    image: np.ndarray,
    cytoplasm: np.ndarray | None = None,
    nucleus: np.ndarray | None = None,
    alpha: float = 0.4,
) -> np.ndarray:
    """Blend mask colours onto an RGB uint8 image; returns float RGB in [0, 1] of shape (H, W, 3)."""
    out = image.astype(np.float32) / 255.0
    for mask, name in ((cytoplasm, "cytoplasm"), (nucleus, "nucleus")):
        if mask is None:
            continue
        m = (np.asarray(mask) > 127)[..., None]
        color = np.asarray(HEAD_COLORS[name], dtype=np.float32)
        out = np.where(m, (1 - alpha) * out + alpha * color, out)
    return np.clip(out, 0.0, 1.0)


def plot_history(history, metrics: tuple[tuple[str, ...], ...] | None = None, title: str | None = None,
                 best_epoch: int | None = None) -> plt.Figure:
    """Training curves: one panel per group of columns of a :class:`cervix.engine.History` or DataFrame.

    The one training-curve plotter: notebooks' live curves
    (:func:`cervix.widgets.live_plot_callback`) and saved figures
    (:func:`cervix.figures.plot_training_curves`) draw through it. Losses and scores never
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


def mask_grid(images: list[np.ndarray], masks: list[list[np.ndarray | None]], titles: list[str],
              row_labels: list[str] | None = None, alpha: float = 0.45) -> plt.Figure:
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
        samples: :class:`cervix.data.Sample` objects (image and true masks), or records to load.
        predictions: matching dicts with ``probs`` (2, H, W) (see ``segmentation.predict_probabilities``).
        thresholds: (cytoplasm, nucleus) thresholds applied to the probabilities.
    """
    samples = [s.load() if hasattr(s, "load") else s for s in list(samples)[:n]]
    predictions = list(predictions)[:n]
    images = [s.image for s in samples]
    masks = [[(s.cytoplasm, s.nucleus),
              ((p["probs"][0] > thresholds[0]) * 255, (p["probs"][1] > thresholds[1]) * 255)]
             for s, p in zip(samples, predictions)]
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
        agreement: DataFrame from ``segmentation.compare_mask_folders`` (worst first).
        images_root: classes folder of the crops; ``pred_root``/``true_root``: masks roots.
    """
    from pathlib import Path as _P

    from .data import load_image, load_mask

    rows = agreement.head(n)
    images, masks, labels = [], [], []
    for rel, dc, dn in zip(rows["rel"], rows["dice_cytoplasm"], rows["dice_nucleus"]):
        stem = _P(rel).with_suffix("")
        img_path = next(_P(images_root).glob(f"{stem}.*"))
        image = load_image(img_path)
        images.append(image)
        masks.append([tuple(load_mask(_P(true_root) / h / rel) for h in HEADS),
                      tuple(load_mask(_P(pred_root) / h / rel) for h in HEADS)])
        labels.append(f"{_P(rel).parts[0]}\nDice {dc:.2f}/{dn:.2f}")
    return mask_grid(images, masks, ["image", "truth", "prediction"], row_labels=labels)
