"""Figures of the cell-size normalisation: single-cell crops segmented at the run's scale and at
their estimated cell size, side by side (notebook 03; :mod:`cervix.inference.sizing`)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import matplotlib.pyplot as plt

from cervix.viz.style import overlay

__all__ = ["size_label", "size_comparison", "cell_size_table"]


def size_label(info: Mapping[str, Any]) -> str:
    """A short title for the size normalisation of one image, e.g. ``auto: nucleus 84 px, x0.31``."""
    src, scale, d = info.get("size_source"), info.get("scale"), info.get("nucleus_diameter_px")
    parts = [str(src)]
    if d:
        parts.append(f"nucleus {d:.0f} px")
    if scale is not None:
        parts.append(f"x{scale:.2f}")
    return ", ".join(parts[:1]) + (": " + ", ".join(parts[1:]) if len(parts) > 1 else "")


def size_comparison(rows: Sequence[Mapping[str, Any]], alpha: float = 0.45) -> plt.Figure:
    """One row per crop: the crop, its masks at the run's scale, its masks at its estimated size.

    Args:
        rows: :func:`cervix.stages.masks.compare_sizes` output (``name``, ``image``, ``before``
            and ``after`` as ``(cytoplasm, nucleus, info)``).
        alpha: overlay opacity.
    """
    fig, axes = plt.subplots(len(rows), 3, figsize=(6.8, 2.3 * len(rows)), squeeze=False)
    for ax_row, r in zip(axes, rows):
        ax_row[0].imshow(r["image"])
        ax_row[0].set_title(r["name"], fontsize="small")
        for ax, (cyt, nuc, info) in zip(ax_row[1:], (r["before"], r["after"])):
            ax.imshow(overlay(r["image"], cyt, nuc, alpha))
            ax.set_title(size_label(info), fontsize="small")
        for ax in ax_row:
            ax.set_axis_off()
    axes[0, 1].text(0.5, 1.25, "run's scale", transform=axes[0, 1].transAxes, ha="center", weight="bold")
    axes[0, 2].text(0.5, 1.25, "cell size normalised", transform=axes[0, 2].transAxes, ha="center", weight="bold")
    fig.tight_layout()
    return fig


def cell_size_table(rows: Sequence[Mapping[str, Any]]):
    """One row per crop of :func:`cervix.stages.masks.compare_sizes`: the estimate, the scale
    used, and the nucleus area (px of the crop) at the run's scale and normalised."""
    import pandas as pd

    out = []
    for r in rows:
        info = r["after"][2]
        out.append(
            {
                "crop": r["name"],
                "nucleus_diameter_px": info.get("nucleus_diameter_px"),
                "scale": info.get("scale"),
                "source": info.get("size_source"),
                "nucleus_area_run_scale": int((r["before"][1] > 127).sum()),
                "nucleus_area_normalised": int((r["after"][1] > 127).sum()),
            }
        )
    return pd.DataFrame(out).set_index("crop")
