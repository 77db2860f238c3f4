"""The one figure-style module: every paper figure goes through :func:`save_figure`.

Figures are written to ``figures/`` (see :mod:`cervix.core.paths`) as PDF and 300-dpi PNG.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import matplotlib
import matplotlib.pyplot as plt
import numpy as np
import seaborn as sns

from cervix.core.paths import figures_dir

__all__ = [
    "set_style",
    "save_figure",
    "overlay",
    "CLASS_PALETTE",
    "class_rgb",
    "HEAD_COLOURS",
    "log_ticks",
]

#: Overlay colours (RGB 0-1) for the two heads.
HEAD_COLOURS = {"cytoplasm": (0.10, 0.75, 0.30), "nucleus": (0.90, 0.15, 0.60)}

#: Colour-blind-safe palette used for classes across figures.
CLASS_PALETTE = sns.color_palette("colorblind", 8)


def class_rgb(class_names: Sequence[str]) -> dict[str, tuple[int, int, int]]:
    """Class -> RGB 0-255 in classifier order: the class colours of the field overlays and of the
    exported cells (QuPath ``classification.color``)."""
    return {c: tuple(int(255 * v) for v in CLASS_PALETTE[i % len(CLASS_PALETTE)]) for i, c in enumerate(class_names)}


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
        color = np.asarray(HEAD_COLOURS[name], dtype=np.float32)
        out = np.where(m, (1 - alpha) * out + alpha * color, out)
    return np.clip(out, 0.0, 1.0)
