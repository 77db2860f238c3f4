"""Data exploration helpers for notebook 01: tables and figures of a cytology data set.

Every helper takes the records of :func:`cervix.data.formats.read_dataset` (or the per-cell table built
from them) and returns a ``pandas.DataFrame`` or a matplotlib ``Figure``; saving is left to
:func:`cervix.viz.style.save_figure`. One pass over the pixels (:func:`cell_table`) gives the
image sizes, mask checks, morphometrics and colour statistics that the other helpers summarise.

Morphometrics follow :mod:`cervix.cells.morphometrics` (N/C ratio = nucleus area / cytoplasm area
excluding the nucleus, the cytopathology convention; the Herlev feature nucleus / cell area is
``nucleus_fraction``, Jantzen et al., 2005). Class order is the SIPaKMeD order (Plissiti et al.,
ICIP 2018: superficial-intermediate, parabasal, metaplastic, koilocytotic, dyskeratotic, i.e.
normal -> benign -> abnormal) when the labels are SIPaKMeD classes, else the grouping order or
the sorted labels.

The augmentation strengths chosen with the notebook-01 sliders are saved for training with
:func:`save_augment_config` (default ``runs/<profile>/augment.json``) and read back by
notebooks 02/04 and the CLI with :func:`load_augment_config`.
"""

from __future__ import annotations

import io
import math
import warnings
from collections.abc import Sequence
from typing import Any

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import seaborn as sns
from tqdm.auto import tqdm

from cervix.cells.morphometrics import cell_morphometrics, colour_stats
from cervix.core.labels import SIPAKMED_CLASSES
from cervix.core.labels import class_order as labels_class_order
from cervix.data.augment import AugmentConfig
from cervix.data.datasets import preview_augmentations
from cervix.data.records import Record, Sample
from cervix.viz.style import CLASS_PALETTE, HEAD_COLOURS, log_ticks, overlay

__all__ = [
    "UNLABELLED",
    "label_name",
    "class_order",
    "class_colours",
    "class_counts",
    "plot_class_counts",
    "pick_sample",
    "plot_sample",
    "plot_sample_grid",
    "cell_table",
    "size_table",
    "colour_summary",
    "plot_colour_stats",
    "morphometrics_summary",
    "plot_morphometrics",
    "plot_augmentations",
    "figure_to_png",
]

#: Label shown for records without a class (e.g. segmentation fields).
UNLABELLED = "(unlabelled)"

#: Morphometric columns plotted per class, with axis labels.
MORPH_COLUMNS: dict[str, str] = {
    "cell_area": "cell area (px²)",
    "nucleus_area": "nucleus area (px²)",
    "nc_ratio": "N/C ratio",
}


# --------------------------------------------------------------------------------------------
# Classes
# --------------------------------------------------------------------------------------------
def label_name(label: str | None) -> str:
    """The displayed name of a record's label: the label as text, :data:`UNLABELLED` for None."""
    return UNLABELLED if label is None else str(label)


def class_order(labels: Sequence[Any] | Sequence[str | None]) -> list[str]:
    """Display order of the classes present.

    Args:
        labels: records (anything with ``.label``) or label strings (None = unlabelled).

    Returns:
        :func:`cervix.core.labels.class_order` of the labels; :data:`UNLABELLED` last.
    """
    names = {label_name(getattr(x, "label", x)) for x in labels}
    has_none = UNLABELLED in names
    names.discard(UNLABELLED)
    order = labels_class_order(names)
    return order + ([UNLABELLED] if has_none else [])


def class_colours(classes: Sequence[str]) -> dict[str, tuple[float, float, float]]:
    """Class -> RGB colour: SIPaKMeD classes keep a fixed colour in every figure."""
    out = {}
    for i, c in enumerate(classes):
        k = SIPAKMED_CLASSES.index(c) if c in SIPAKMED_CLASSES else i
        out[c] = tuple(CLASS_PALETTE[k % len(CLASS_PALETTE)]) if c != UNLABELLED else (0.5, 0.5, 0.5)
    return out


def class_counts(records: Sequence[Record]) -> pd.DataFrame:
    """Images, groups (source images / patients) and share per class.

    Returns:
        DataFrame indexed by class (display order) with ``images``, ``groups`` (distinct group
        ids), ``with_masks`` (records that have both masks) and ``share`` (images / total).

    Raises:
        ValueError: no records.
    """
    if len(records) == 0:
        raise ValueError("class_counts: no records")
    df = pd.DataFrame(
        {
            "label": [label_name(r.label) for r in records],
            "group": [r.group for r in records],
            "with_masks": [bool(r.has_masks) for r in records],
        }
    )
    out = df.groupby("label").agg(
        images=("group", "size"), groups=("group", "nunique"), with_masks=("with_masks", "sum")
    )
    out = out.reindex(class_order(df["label"]))
    out["share"] = out["images"] / out["images"].sum()
    out.index.name = "class"
    return out.astype({"images": int, "groups": int, "with_masks": int})


def plot_class_counts(counts: pd.DataFrame) -> plt.Figure:
    """Horizontal bar chart of :func:`class_counts` (images per class, count and share annotated)."""
    classes = list(counts.index)
    colours = class_colours(classes)
    fig, ax = plt.subplots(figsize=(6.0, 0.45 * len(classes) + 1.0), layout="constrained")
    sns.barplot(x=counts["images"].to_numpy(), y=classes, hue=classes, palette=colours, legend=False, ax=ax)
    top = float(counts["images"].max())
    for i, (n, s) in enumerate(zip(counts["images"], counts["share"])):
        ax.text(n + 0.01 * top, i, f"{n}  ({100 * s:.0f}%)", va="center", fontsize="small")
    ax.set_xlim(0, top * 1.22)
    ax.set_xlabel("images")
    ax.set_ylabel("")
    ax.set_title(f"Class counts ({int(counts['images'].sum())} images, {int(counts['groups'].sum())} groups)")
    return fig


# --------------------------------------------------------------------------------------------
# Samples
# --------------------------------------------------------------------------------------------
def pick_sample(records: Sequence[Record], label: str | None = None, index: int = 0) -> Sample:
    """Load the ``index``-th record of class ``label`` (None = any class).

    Raises:
        ValueError: no record of that class; IndexError: index out of range.
    """
    pool = [r for r in records if label is None or r.label == label]
    if not pool:
        raise ValueError(f"no record of class {label!r}; classes: {class_order(records)}")
    if not -len(pool) <= index < len(pool):
        raise IndexError(f"index {index} out of range for {len(pool)} record(s) of class {label!r}")
    return pool[index].load()


def _draw_contours(ax: plt.Axes, sample: Sample, linewidth: float = 1.0) -> None:
    """Outline the cytoplasm and nucleus masks on ``ax`` in the head colours."""
    for mask, head in ((sample.cytoplasm, "cytoplasm"), (sample.nucleus, "nucleus")):
        if mask is not None and (np.asarray(mask) > 127).any():
            ax.contour(np.asarray(mask) > 127, levels=[0.5], colors=[HEAD_COLOURS[head]], linewidths=linewidth)


def _blank(ax: plt.Axes) -> None:
    ax.set_xticks([])
    ax.set_yticks([])
    for s in ax.spines.values():
        s.set_visible(False)


def plot_sample(sample: Sample, alpha: float = 0.4, title: str | None = None) -> plt.Figure:
    """One sample: the image and the image with its masks overlaid (cytoplasm green, nucleus magenta)."""
    h, w = sample.image.shape[:2]
    fig, axes = plt.subplots(1, 2, figsize=(6.4, 3.2 * h / w + 0.5), layout="constrained")
    axes[0].imshow(sample.image)
    axes[1].imshow(overlay(sample.image, sample.cytoplasm, sample.nucleus, alpha=alpha))
    axes[0].set_title("image")
    axes[1].set_title("masks" if sample.has_masks else "masks (none)")
    for ax in axes:
        _blank(ax)
    if title:
        fig.suptitle(title, fontsize="medium")
    return fig


def plot_sample_grid(
    records: Sequence[Record],
    per_class: int = 3,
    alpha: float = 0.4,
    seed: int = 0,
    tile: float = 1.3,
    title: str | None = None,
) -> plt.Figure:
    """Grid of random samples per class: one row per class, image and mask overlay side by side.

    Args:
        records: the data set (records are loaded only for the drawn samples).
        per_class: samples per class (fewer when a class has fewer records).
        alpha: overlay opacity.
        seed: which samples are drawn.
        tile: inches per image tile.
        title: figure title (default names the classes and overlay colours).
    """
    if per_class < 1:
        raise ValueError(f"per_class must be >= 1, got {per_class}")
    classes = class_order(records)
    rng = np.random.default_rng(seed)
    by_class = {c: [r for r in records if label_name(r.label) == c] for c in classes}
    picks = {
        c: [rs[i] for i in sorted(rng.choice(len(rs), min(per_class, len(rs)), replace=False))]
        for c, rs in by_class.items()
    }
    ncol = 2 * per_class
    fig, axes = plt.subplots(
        len(classes), ncol, figsize=(tile * ncol + 1.6, tile * len(classes) + 0.5), squeeze=False, layout="constrained"
    )
    for row, c in enumerate(classes):
        for j in range(per_class):
            a_img, a_ov = axes[row, 2 * j], axes[row, 2 * j + 1]
            _blank(a_img)
            _blank(a_ov)
            if j >= len(picks[c]):
                continue
            s = picks[c][j].load()
            a_img.imshow(s.image)
            a_ov.imshow(overlay(s.image, s.cytoplasm, s.nucleus, alpha=alpha))
            if row == 0:
                a_img.set_title("image", fontsize="medium")
                a_ov.set_title("masks", fontsize="medium")
        if classes != [UNLABELLED]:
            axes[row, 0].set_ylabel(
                c.replace("-", "-\n", 1) if len(c) > 14 else c, rotation=0, ha="right", va="center", fontsize="medium"
            )
    default = "Samples per class" if classes != [UNLABELLED] else "Samples"
    fig.suptitle(title or f"{default} (cytoplasm green, nucleus magenta)", fontsize="medium")
    return fig


# --------------------------------------------------------------------------------------------
# Per-cell table: sizes, mask checks, morphometrics, colour
# --------------------------------------------------------------------------------------------
def cell_table(records: Sequence[Record], progress: bool = False) -> pd.DataFrame:
    """Load every record once and tabulate it (one row per image/crop).

    Columns: ``label`` (:data:`UNLABELLED` for None), ``group``, ``path``, ``height``,
    ``width``, ``img_R/G/B`` (mean image colour), ``has_masks``, ``masks_binary`` (both masks
    only hold 0 and 255), ``nucleus_outside`` (nucleus pixels outside the cytoplasm mask, 0 when
    the nucleus lies inside the cell), then :func:`cervix.cells.morphometrics.cell_morphometrics` and
    :func:`cervix.cells.morphometrics.colour_stats` columns (nan without masks).

    For a crop data set (one cell per image) the morphometrics are those of that cell; for
    fields they describe all cells of the image together.
    """
    if len(records) == 0:
        raise ValueError("cell_table: no records")
    rows = []
    for r in tqdm(records, desc="cells", disable=not progress):
        s = r.load()
        img = s.image
        row: dict[str, Any] = {
            "label": label_name(s.label),
            "group": s.group,
            "path": s.path,
            "height": img.shape[0],
            "width": img.shape[1],
            "img_R": float(img[..., 0].mean()),
            "img_G": float(img[..., 1].mean()),
            "img_B": float(img[..., 2].mean()),
            "has_masks": s.has_masks,
        }
        if s.has_masks:
            cyt, nuc = np.asarray(s.cytoplasm), np.asarray(s.nucleus)
            row["masks_binary"] = bool(np.isin(cyt, (0, 255)).all() and np.isin(nuc, (0, 255)).all())
            row["nucleus_outside"] = int(((nuc > 127) & ~(cyt > 127)).sum())
            row.update(cell_morphometrics(cyt, nuc))
            row.update(colour_stats(img, cyt, nuc))
        else:
            row["masks_binary"] = False
            row["nucleus_outside"] = -1
        rows.append(row)
    df = pd.DataFrame(rows)
    df["label"] = pd.Categorical(df["label"], categories=class_order(df["label"]), ordered=True)
    return df


def size_table(table: pd.DataFrame) -> pd.DataFrame:
    """Image size per class: count, min/median/max height and width (pixels) from :func:`cell_table`."""
    g = table.groupby("label", observed=True)
    out = pd.DataFrame(
        {
            "images": g.size(),
            "height_min": g["height"].min(),
            "height_median": g["height"].median(),
            "height_max": g["height"].max(),
            "width_min": g["width"].min(),
            "width_median": g["width"].median(),
            "width_max": g["width"].max(),
        }
    )
    out.index.name = "class"
    return out


def _circmean_deg(x: pd.Series) -> float:
    a = np.deg2rad(x.dropna().to_numpy())
    if a.size == 0:
        return math.nan
    deg = float(np.rad2deg(np.arctan2(np.sin(a).mean(), np.cos(a).mean())))
    return round(deg, 9) % 360.0  # round first: -1e-15 % 360 would give 360


def colour_summary(table: pd.DataFrame) -> pd.DataFrame:
    """Per class: median cytoplasm/nucleus RGB (0-255) and S, V (0-1), circular-mean hue (degrees)."""
    cols = [f"{p}_{k}" for p in ("cyto", "nuc") for k in ("R", "G", "B", "S", "V")]
    cols = [c for c in cols if c in table]
    if not cols:
        raise ValueError("colour_summary: the table has no colour columns (no masks?)")
    g = table.groupby("label", observed=True)
    out = g[cols].median()
    for p in ("cyto", "nuc"):
        out.insert(out.columns.get_loc(f"{p}_S"), f"{p}_H", g[f"{p}_H"].agg(_circmean_deg))
    out.index.name = "class"
    return out


def plot_colour_stats(table: pd.DataFrame) -> plt.Figure:
    """Colour per class: median colour swatches, cytoplasm hue vs saturation, nucleus brightness.

    Panels: (a) median cytoplasm (left) and nucleus (right) colour of each class; (b) cytoplasm
    hue against saturation per cell (eosinophilic orange/pink vs cyanophilic blue-green); (c)
    nucleus brightness V per class (lower = darker, hyperchromatic).
    """
    summ = colour_summary(table)
    classes = list(summ.index)
    colours = class_colours(classes)
    fig, axes = plt.subplots(
        1,
        3,
        figsize=(12.5, 0.5 * len(classes) + 2.2),
        layout="constrained",
        gridspec_kw={"width_ratios": [0.7, 1.2, 1.0]},
    )
    sw = np.ones((len(classes), 2, 3))
    for i, c in enumerate(classes):
        sw[i, 0] = summ.loc[c, ["cyto_R", "cyto_G", "cyto_B"]].to_numpy(float) / 255.0
        sw[i, 1] = summ.loc[c, ["nuc_R", "nuc_G", "nuc_B"]].to_numpy(float) / 255.0
    ax = axes[0]
    ax.imshow(np.nan_to_num(sw, nan=1.0), aspect="auto")
    ax.set_xticks([0, 1], ["cytoplasm", "nucleus"])
    ax.set_yticks(range(len(classes)), classes)
    ax.tick_params(length=0)
    for s in ax.spines.values():
        s.set_visible(False)
    ax.set_title("(a) median colour")
    data = table[table["has_masks"]]
    ax = axes[1]
    sns.scatterplot(
        data=data,
        x="cyto_H",
        y="cyto_S",
        hue="label",
        hue_order=classes,
        palette=colours,
        s=14,
        alpha=0.7,
        linewidth=0,
        ax=ax,
    )
    ax.legend(title=None, fontsize="small", markerscale=1.6, frameon=True, framealpha=0.85, loc="upper right")
    ax.set_xlim(0, 360)
    ax.set_xticks(range(0, 361, 60))
    ax.set_xlabel("cytoplasm hue (degrees)")
    ax.set_ylabel("cytoplasm saturation")
    ax.set_title("(b) cytoplasm colour per cell")
    ax = axes[2]
    with warnings.catch_warnings():  # seaborn 0.13 passes matplotlib 3.11's deprecated ``vert``
        warnings.filterwarnings("ignore", message=".*vert: bool was deprecated.*")
        sns.boxplot(
            data=data,
            x="nuc_V",
            y="label",
            order=classes,
            hue="label",
            hue_order=classes,
            palette=colours,
            legend=False,
            fliersize=2,
            ax=ax,
        )
    ax.set_yticks(range(len(classes)), [""] * len(classes))
    ax.set_ylabel("")
    ax.set_xlabel("nucleus brightness V (0-1)")
    ax.set_title("(c) nucleus brightness")
    return fig


def morphometrics_summary(table: pd.DataFrame, stat: str = "median") -> pd.DataFrame:
    """Per class ``stat`` (e.g. "median", "mean") of cell/nucleus/cytoplasm area, N/C ratio,
    nucleus fraction, number of nuclei and nucleus circularity, plus ``cells``."""
    cols = [
        "cell_area",
        "nucleus_area",
        "cytoplasm_area",
        "nc_ratio",
        "nucleus_fraction",
        "n_nuclei",
        "nucleus_circularity",
    ]
    missing = [c for c in cols if c not in table]
    if missing:
        raise ValueError(f"morphometrics_summary: the table lacks {missing} (no masks?)")
    g = table[table["has_masks"]].groupby("label", observed=True)
    out = g[cols].agg(stat)
    out.insert(0, "cells", g.size())
    out.index.name = "class"
    return out


def plot_morphometrics(table: pd.DataFrame, columns: dict[str, str] | None = None) -> plt.Figure:
    """Violin plots per class of cell area, nucleus area and N/C ratio (log axis), one panel each.

    Areas are in the images' pixels: for crops cut at their fields' pixel scale (SIPaKMeD's
    CROPPED images, the synthetic crops by default) they compare cell sizes across classes; for
    crops resized to a fixed size they describe how much of the crop the cell fills. The N/C
    ratio does not depend on the scale.
    """
    columns = columns or MORPH_COLUMNS
    data = table[table["has_masks"]]
    if data.empty:
        raise ValueError("plot_morphometrics: no record has masks")
    classes = class_order(data["label"].astype(str))
    colours = class_colours(classes)
    fig, axes = plt.subplots(
        1,
        len(columns),
        figsize=(4.0 * len(columns) + 1.5, 0.55 * len(classes) + 1.5),
        sharey=True,
        layout="constrained",
    )
    axes = np.atleast_1d(axes)
    for ax, (col, name) in zip(axes, columns.items()):
        vals = data[[col, "label"]].replace([np.inf, -np.inf], np.nan).dropna()
        log = col == "nc_ratio"
        if log:
            vals = vals[vals[col] > 0]
        sns.violinplot(
            data=vals,
            x=col,
            y=vals["label"].astype(str),
            order=classes,
            hue=vals["label"].astype(str),
            hue_order=classes,
            palette=colours,
            legend=False,
            cut=0,
            inner="quart",
            density_norm="width",
            linewidth=0.8,
            log_scale=log,
            ax=ax,
        )
        ax.set_xlabel(name + (" (log)" if log else ""))
        ax.set_ylabel("")
        if log:
            log_ticks(ax.xaxis)
    fig.suptitle("Morphometrics per class", fontsize="medium")
    return fig


# --------------------------------------------------------------------------------------------
# Augmentations
# --------------------------------------------------------------------------------------------
def plot_augmentations(
    sample: Sample, cfg: AugmentConfig, n: int = 7, seed: int = 0, ncols: int = 4, tile: float = 2.0
) -> plt.Figure:
    """The original sample and ``n`` augmented views with ``cfg``, masks outlined.

    Uses the training pipeline itself (:func:`cervix.data.datasets.preview_augmentations`), so the
    views show exactly what the models will see; mask outlines show that the masks follow the
    geometric transforms and ignore the colour ones.
    """
    if n < 1:
        raise ValueError(f"n must be >= 1, got {n}")
    views = preview_augmentations(sample, cfg, n=n, seed=seed)
    items = [(sample.image, sample.cytoplasm, sample.nucleus, "original")]
    items += [(im, c, nu, f"view {i + 1}") for i, (im, c, nu) in enumerate(views)]
    nrows = math.ceil(len(items) / ncols)
    fig, axes = plt.subplots(
        nrows, ncols, figsize=(tile * ncols, tile * nrows + 0.6), squeeze=False, layout="constrained"
    )
    for ax in axes.flat:
        _blank(ax)
    for ax, (im, c, nu, title) in zip(axes.flat, items):
        ax.imshow(im)
        _draw_contours(ax, Sample(im, c, nu, None, "", ""), linewidth=0.8)
        ax.set_title(title, fontsize="small")
    fig.suptitle(
        f"Augmentations: rotate ±{cfg.rotate:g}°, scale ±{cfg.scale:g}, flip {'on' if cfg.flip else 'off'}, "
        f"stain {cfg.stain:g}, blur p={cfg.blur:g}, grey p={cfg.grey:g}, fade {cfg.fade:g}",
        fontsize="medium",
    )
    return fig


def figure_to_png(fig: plt.Figure, dpi: int = 100, close: bool = True) -> bytes:
    """Render ``fig`` to PNG bytes (for an ``ipywidgets.Image``); closes it by default."""
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=dpi)
    if close:
        plt.close(fig)
    return buf.getvalue()
