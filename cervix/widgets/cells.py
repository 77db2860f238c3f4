"""Notebook 06 widget: :class:`CellPicker` (a cell of an analysed field, its crop, class
probabilities and morphometrics). Headless like every widget: each redraw is a PNG in an
``ipywidgets.Image``.
"""

from __future__ import annotations

import html
from collections.abc import Mapping, Sequence
from typing import Any

import ipywidgets as W
import matplotlib.pyplot as plt
import numpy as np

from cervix.viz import explore
from cervix.viz.style import overlay

__all__ = [
    "CellPicker",
    "cell_picker",
]


class CellPicker(W.VBox):
    """Pick a cell of an analysed field (notebook 06): the field with that cell highlighted, its
    crop with its own masks, its class probabilities and morphometrics.

    Attributes:
        rows: the field's ``cells.csv`` rows (:func:`cervix.stages.pipeline.load_field_analysis`).
        cell_slider: ``ipywidgets.IntSlider`` over the rows (cells in id order).
        image: ``ipywidgets.Image`` (PNG) of field, crop and probabilities.
        readout: ``ipywidgets.HTML`` with the cell's morphometrics and flags.
    """

    def __init__(
        self, image: np.ndarray, inst: Any, rows: Sequence[Mapping[str, Any]], class_names: Sequence[str], dpi: int = 90
    ) -> None:
        self.field, self.inst, self.rows, self.class_names, self.dpi = image, inst, list(rows), list(class_names), dpi
        self.cell_slider = W.IntSlider(
            value=0, min=0, max=max(len(self.rows) - 1, 0), description="cell", continuous_update=False
        )
        self.image = W.Image(format="png")
        self.readout = W.HTML()
        super().__init__([self.cell_slider, self.image, self.readout])
        self.cell_slider.observe(self.draw, "value")
        self.draw()

    @property
    def row(self) -> Mapping[str, Any]:
        """The chosen cell's row."""
        return self.rows[self.cell_slider.value]

    def draw(self, change: dict | None = None) -> None:
        from cervix.cells.instances import cut_cell

        if not self.rows:
            self.readout.value = "no cells in this field"
            return
        r = self.row
        crop = cut_cell(self.field, self.inst, int(r["cell_id"]))
        probs = [float(r.get(f"prob_{c}", float("nan"))) for c in self.class_names]
        fig, (a, b, c) = plt.subplots(1, 3, figsize=(9.0, 3.0), gridspec_kw={"width_ratios": [1.4, 1, 1.2]})
        a.imshow(self.field)
        a.add_patch(plt.Rectangle((r["x0"], r["y0"]), r["width"], r["height"], fill=False, color="yellow", lw=1.0))
        cell = self.inst.cell_masks.get(int(r["cell_id"]))  # its whole extent, under neighbours too
        if cell is not None and min(cell.mask.shape) > 1:
            y0, x0, y1, x1 = cell.box
            a.contour(np.arange(x0, x1), np.arange(y0, y1), cell.mask.astype(float), levels=[0.5], colors="cyan")
        a.set_title(f"cell {r['cell_id']} of {len(self.rows)}", fontsize="small")
        b.imshow(overlay(crop["image"], crop["cytoplasm"], crop["nucleus"], alpha=0.4))
        b.set_title("its own masks", fontsize="small")
        for ax in (a, b):
            ax.set_axis_off()
        c.barh(range(len(probs)), probs, color="0.5")
        c.set_yticks(range(len(probs)), self.class_names, fontsize="x-small")
        c.invert_yaxis()
        c.set_xlim(0, 1)
        c.set_title(f"{r.get('predicted_class', '?')} {float(r.get('confidence', float('nan'))):.2f}", fontsize="small")
        fig.tight_layout()
        self.image.value = explore.figure_to_png(fig, dpi=self.dpi)
        self.readout.value = html.escape(
            f"area {r['cell_area']} px (visible {r.get('visible_area', r['cell_area'])}) · "
            f"nucleus {r['nucleus_area']} px · N/C {float(r['nc_ratio']):.3f} · "
            f"{r['n_nuclei']} nucle{'us' if r['n_nuclei'] == 1 else 'i'} · flags: {r['flags'] or 'none'}"
        )


def cell_picker(
    image: np.ndarray, inst: Any, rows: Sequence[Mapping[str, Any]], class_names: Sequence[str]
) -> CellPicker:
    """Build a :class:`CellPicker` (display it as the last expression of a cell)."""
    return CellPicker(image, inst, rows, class_names)
