"""Notebook 05 widgets: :class:`ConfusionWidget` (confusion matrix with a normalisation toggle) and
:class:`GradCamWidget` (Grad-CAM heat maps, Selvaraju et al., ICCV 2017, of correct and wrong
predictions). Headless like every widget: each redraw is a PNG in an ``ipywidgets.Image``.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any

import ipywidgets as W
import matplotlib.pyplot as plt

from cervix.viz import explore

__all__ = [
    "ConfusionWidget",
    "GradCamWidget",
    "confusion_widget",
    "gradcam_widget",
]


# ------------------------------------------------------------------ evaluation (notebook 05)
def _message_png(text: str, dpi: int) -> bytes:
    """A one-line picture saying ``text`` (a widget with nothing to show)."""
    fig, ax = plt.subplots(figsize=(4.0, 0.5))
    ax.text(0.5, 0.5, text, ha="center", va="center")
    ax.axis("off")
    return explore.figure_to_png(fig, dpi=dpi)


class ConfusionWidget(W.VBox):
    """Confusion matrix with a normalisation toggle (rows / columns / all / counts).

    Attributes:
        metrics: the metrics dict (``confusion_matrix``, ``class_names``).
        toggle: ``ipywidgets.ToggleButtons``: ``"true"`` (rows, recall), ``"pred"`` (columns,
            precision), ``"all"`` or ``"none"`` (counts).
        image: ``ipywidgets.Image`` (PNG) of :func:`cervix.viz.figures.plot_confusion_matrix`.
    """

    def __init__(self, metrics: Mapping[str, Any], dpi: int = 90) -> None:
        self.metrics = metrics
        self.dpi = int(dpi)
        self.toggle = W.ToggleButtons(
            options=[("rows (recall)", "true"), ("columns (precision)", "pred"), ("all", "all"), ("counts", "none")],
            value="true",
            description="normalise",
        )
        self.image = W.Image(format="png", layout=W.Layout(max_width="640px"))
        super().__init__([self.toggle, self.image])
        self.toggle.observe(self._redraw, names="value")
        self._redraw()

    def _redraw(self, change: dict | None = None) -> None:
        from cervix.viz.figures import plot_confusion_matrix

        fig = plot_confusion_matrix(self.metrics, normalise=self.toggle.value)
        self.image.value = explore.figure_to_png(fig, dpi=self.dpi)


class GradCamWidget(W.VBox):
    """Pick a true class, correct or wrong predictions, and a sample; shows crop, masks and Grad-CAM.

    Heat maps come from :func:`cervix.stages.evaluation.gradcam_examples` (computed once per row and
    cached) and are drawn by :func:`cervix.viz.figures.plot_gradcam_example`.

    Attributes:
        checkpoint: the classifier (``best.pt`` or run folder).
        predictions: the predictions DataFrame of :func:`cervix.stages.evaluation.evaluate_checkpoint`.
        class_dropdown: ``ipywidgets.Dropdown`` of the true classes.
        kind_toggle: ``ipywidgets.ToggleButtons`` ``"correct"`` / ``"wrong"`` predictions.
        index_slider: ``ipywidgets.IntSlider`` over those rows, most confident first.
        alpha_slider: ``ipywidgets.FloatSlider`` heat-map opacity 0..1.
        image: ``ipywidgets.Image`` (PNG) of the chosen example.
    """

    def __init__(
        self,
        checkpoint: str | os.PathLike,
        predictions,
        data: str | os.PathLike | None = None,
        masks: str | os.PathLike | None = None,
        fmt: str | None = None,
        alpha: float = 0.45,
        dpi: int = 90,
    ) -> None:
        from cervix.core.labels import class_names_of_predictions

        self.checkpoint, self.predictions = checkpoint, predictions
        self._source = {"data": data, "masks": masks, "fmt": fmt}
        self.dpi = int(dpi)
        self._cache: dict[int, dict[str, Any]] = {}
        self.class_dropdown = W.Dropdown(options=class_names_of_predictions(predictions), description="true class")
        self.kind_toggle = W.ToggleButtons(options=["correct", "wrong"], description="prediction")
        self.index_slider = W.IntSlider(min=0, max=0, description="sample")
        self.alpha_slider = W.FloatSlider(value=alpha, min=0.0, max=1.0, step=0.05, description="heat alpha")
        self.image = W.Image(format="png", layout=W.Layout(max_width="760px"))
        super().__init__(
            [
                W.HBox([self.class_dropdown, self.kind_toggle]),
                W.HBox([self.index_slider, self.alpha_slider]),
                self.image,
            ]
        )
        for w in (self.class_dropdown, self.kind_toggle, self.index_slider, self.alpha_slider):
            w.observe(self._redraw, names="value")
        self._redraw()

    @property
    def rows(self) -> list[int]:
        """Prediction rows of the chosen true class and kind, most confident first."""
        from cervix.stages.evaluation import prediction_rows

        return prediction_rows(self.predictions, self.class_dropdown.value, self.kind_toggle.value == "correct")

    def example(self, row: int) -> dict[str, Any]:
        """The :func:`cervix.stages.evaluation.gradcam_examples` item of one prediction row (cached)."""
        from cervix.stages.evaluation import gradcam_examples

        if row not in self._cache:
            self._cache[row] = gradcam_examples(self.checkpoint, self.predictions, [row], **self._source)[0]
        return self._cache[row]

    def _redraw(self, change: dict | None = None) -> None:
        from cervix.viz.figures import plot_gradcam_example

        rows = self.rows
        self.index_slider.max = max(0, len(rows) - 1)
        if not rows:
            self.image.value = _message_png(
                f"no {self.kind_toggle.value} predictions for {self.class_dropdown.value}", self.dpi
            )
            return
        item = self.example(rows[min(self.index_slider.value, len(rows) - 1)])
        self.image.value = explore.figure_to_png(
            plot_gradcam_example(item, alpha=self.alpha_slider.value), dpi=self.dpi
        )


def confusion_widget(metrics: Mapping[str, Any]) -> ConfusionWidget:
    """Build a :class:`ConfusionWidget` of a metrics dict (display it in the notebook)."""
    return ConfusionWidget(metrics)


def gradcam_widget(
    checkpoint: str | os.PathLike,
    predictions,
    data: str | os.PathLike | None = None,
    masks: str | os.PathLike | None = None,
    fmt: str | None = None,
    alpha: float = 0.45,
) -> GradCamWidget:
    """Build a :class:`GradCamWidget` of a classifier and its predictions DataFrame.

    Args:
        checkpoint: the classifier (``best.pt`` or run folder).
        predictions: the predictions DataFrame of :func:`cervix.stages.evaluation.evaluate_checkpoint`.
        data, masks, fmt: where the crops are (default the run's).
        alpha: starting heat-map opacity.
    """
    return GradCamWidget(checkpoint, predictions, data, masks, fmt, alpha=alpha)
