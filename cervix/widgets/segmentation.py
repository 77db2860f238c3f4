"""Notebooks 02 and 03 widgets: :class:`ThresholdSlider` (validation Dice per head at adjustable
thresholds), :class:`OverlayBrowser` (stored masks beside the model's) and
:class:`DiameterExplorer` (a crop re-segmented at the cell diameter of a slider). Headless like every
widget: each redraw is a PNG in an ``ipywidgets.Image`` (the Dice readout is HTML text).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import ipywidgets as W
import matplotlib.pyplot as plt
import numpy as np

from cervix.cells.instances import suppress_weak_nuclei
from cervix.core.config import run_min_nucleus_score
from cervix.core.labels import HEADS
from cervix.viz import explore
from cervix.viz.sizing import size_label
from cervix.viz.style import overlay

__all__ = [
    "ThresholdSlider",
    "OverlayBrowser",
    "threshold_slider",
    "overlay_browser",
    "DiameterExplorer",
    "diameter_explorer",
]


# ------------------------------------------------------------------ segmentation (notebooks 02, 03)
class ThresholdSlider(W.VBox):
    """Sliders for the (cytoplasm, nucleus) thresholds that recompute validation Dice per head as they move.

    Attributes:
        predictions: the stored predictions (``probs`` and ``target``) of
            :func:`cervix.stages.segmentation.predict_probabilities`.
        sliders: one ``ipywidgets.FloatSlider`` per head (cytoplasm, nucleus).
        readout: ``ipywidgets.HTML`` with the Dice per head.
        dice: ``{dice_cytoplasm, dice_nucleus}`` at the current thresholds.
    """

    def __init__(self, predictions: Sequence[Mapping[str, Any]], thresholds: Sequence[float] = (0.5, 0.5)) -> None:
        self.predictions = predictions
        self.sliders = [
            W.FloatSlider(value=float(t), min=0.05, max=0.95, step=0.05, description=name, continuous_update=False)
            for t, name in zip(thresholds, HEADS)
        ]
        self.readout = W.HTML()
        super().__init__([W.HBox(self.sliders), self.readout])
        for s in self.sliders:
            s.observe(self._update, "value")
        self._update()

    @property
    def thresholds(self) -> tuple[float, ...]:
        """The (cytoplasm, nucleus) thresholds of the sliders."""
        return tuple(s.value for s in self.sliders)

    def _update(self, change: dict | None = None) -> None:
        from cervix.stages.segmentation import dice_at_thresholds

        self.dice = dice_at_thresholds(self.predictions, self.thresholds)
        self.readout.value = (
            "<b>validation Dice</b> &nbsp; cytoplasm {dice_cytoplasm:.4f} &nbsp;·&nbsp; nucleus {dice_nucleus:.4f}"
        ).format(**self.dice)


class OverlayBrowser(W.VBox):
    """Browse crops: stored masks beside the model's masks at adjustable thresholds and overlay alpha.

    Probabilities are computed once per crop (tiled, as ``cervix masks`` does) and cached.

    Attributes:
        records: the crops browsed.
        index_slider: ``ipywidgets.IntSlider`` over the crops.
        alpha_slider: ``ipywidgets.FloatSlider`` overlay opacity 0..1.
        threshold_sliders: (cytoplasm, nucleus) ``ipywidgets.FloatSlider`` thresholds.
        image: ``ipywidgets.Image`` (PNG) of both overlays.
    """

    def __init__(
        self, model: Any, run_config: Mapping[str, Any], records: Sequence[Any], alpha: float = 0.45, dpi: int = 90
    ) -> None:
        if not records:
            raise ValueError("overlay_browser: no records to browse")
        self.model, self.run_config, self.records, self.dpi = model, run_config, records, int(dpi)
        self._cache: dict[int, tuple[Any, np.ndarray]] = {}
        thr = run_config.get("thresholds", (0.5, 0.5))
        self.index_slider = W.IntSlider(
            value=0, min=0, max=len(records) - 1, description="crop", continuous_update=False
        )
        self.alpha_slider = W.FloatSlider(value=alpha, min=0.0, max=1.0, step=0.05, description="alpha")
        self.threshold_sliders = [
            W.FloatSlider(
                value=float(t), min=0.05, max=0.95, step=0.05, description=f"{n} thr", continuous_update=False
            )
            for t, n in zip(thr, ("cyt", "nuc"))
        ]
        self.image = W.Image(format="png", layout=W.Layout(max_width="640px"))
        super().__init__([W.HBox([self.index_slider, self.alpha_slider]), W.HBox(self.threshold_sliders), self.image])
        for w in (self.index_slider, self.alpha_slider, *self.threshold_sliders):
            w.observe(self.draw, "value")
        self.draw()

    def _probabilities(self, i: int) -> tuple[Any, np.ndarray]:
        from cervix.stages.segmentation import predict_probabilities

        if i not in self._cache:
            sample = self.records[i].load()
            probs = predict_probabilities(self.model, self.run_config, [self.records[i]], progress=False)[0]["probs"]
            self._cache[i] = (sample, probs)
        return self._cache[i]

    def draw(self, change: dict | None = None) -> None:
        """Redraw the crop of the slider (called on every change)."""
        sample, probs = self._probabilities(self.index_slider.value)
        alpha = self.alpha_slider.value
        score = run_min_nucleus_score(self.run_config)
        probs = suppress_weak_nuclei(probs, self.threshold_sliders[1].value, score)  # as `masks` leaves them out
        pred = [(probs[c] > self.threshold_sliders[c].value).astype(np.uint8) * 255 for c in range(2)]
        fig, axes = plt.subplots(1, 2, figsize=(6.4, 3.4))
        axes[0].imshow(overlay(sample.image, sample.cytoplasm, sample.nucleus, alpha))
        axes[0].set_title(f"{sample.label or ''}: stored masks", fontsize="small")
        axes[1].imshow(overlay(sample.image, pred[0], pred[1], alpha))
        axes[1].set_title("model at thresholds", fontsize="small")
        for ax in axes:
            ax.set_axis_off()
        self.image.value = explore.figure_to_png(fig, dpi=self.dpi)  # closes the figure


def threshold_slider(
    predictions: Sequence[Mapping[str, Any]], thresholds: Sequence[float] = (0.5, 0.5)
) -> ThresholdSlider:
    """Build a :class:`ThresholdSlider` (its ``dice`` holds the Dice per head at the current thresholds).

    Args:
        predictions: stored predictions (``probs`` and ``target``) from
            :func:`cervix.stages.segmentation.predict_probabilities`.
        thresholds: starting thresholds (the run's).
    """
    return ThresholdSlider(predictions, thresholds)


def overlay_browser(
    model: Any, run_config: Mapping[str, Any], records: Sequence[Any], alpha: float = 0.45
) -> OverlayBrowser:
    """Build an :class:`OverlayBrowser` over ``records`` with the model's thresholds as the start."""
    return OverlayBrowser(model, run_config, records, alpha=alpha)


class DiameterExplorer(W.VBox):
    """Re-segment a single-cell crop at the cell diameter of a slider; the masks follow it.

    ``auto`` ticked: the crop's own estimate (:func:`cervix.inference.sizing.sized_probabilities`),
    and the slider shows the cell diameter it implies; unticked: the slider's diameter.

    Attributes:
        images: ``(name, image)`` crops.
        picker: ``ipywidgets.Dropdown`` over the crops.
        auto: ``ipywidgets.Checkbox``, the estimated size.
        diameter: ``ipywidgets.FloatLogSlider``, the cell diameter in pixels.
        image: ``ipywidgets.Image`` (PNG) of the crop and its masks.
        info: the size normalisation of the last drawing.
    """

    def __init__(self, model: Any, run_config: Mapping[str, Any], images: Sequence[tuple[str, np.ndarray]]) -> None:
        if not images:
            raise ValueError("diameter_explorer: no images")
        size = run_config.get("cell_size") or {}
        if not size.get("nucleus_diameter"):
            raise ValueError("diameter_explorer: the run stores no training cell size (retrain it)")
        self.model, self.run_config, self.images, self.info = model, run_config, list(images), {}
        self.picker = W.Dropdown(options=[(n, i) for i, (n, _) in enumerate(self.images)], description="crop")
        self.auto = W.Checkbox(value=True, description="auto")
        self.diameter = W.FloatLogSlider(
            value=float(size.get("cell_diameter") or 50.0), base=10, min=0.7, max=3.3, step=0.02,
            description="cell px", continuous_update=False,
        )  # fmt: skip
        self.image = W.Image(format="png", layout=W.Layout(max_width="560px"))
        super().__init__([W.HBox([self.picker, self.auto, self.diameter]), self.image])
        for w in (self.picker, self.auto, self.diameter):
            w.observe(self.draw, "value")
        self.draw()

    def draw(self, change: dict | None = None) -> None:
        """Segment the chosen crop at the current size and redraw (called on every change)."""
        from cervix.inference.sizing import sized_masks
        from cervix.stages.segmentation import inference_kwargs

        if change is not None and change.get("owner") is self.diameter and self.auto.value:
            self.auto.value = False  # moving the slider is choosing a diameter (redraws through auto)
            return
        name, img = self.images[self.picker.value]
        size = dict(self.run_config["cell_size"])
        diameter = "auto" if self.auto.value else float(self.diameter.value)
        thr = tuple(self.run_config.get("thresholds", (0.5, 0.5)))
        kw = inference_kwargs(self.run_config)
        cyt, nuc, self.info = sized_masks(
            self.model,
            img,
            thr,
            single_cell=True,
            diameter=diameter,
            cell_size=size,
            min_nucleus_score=run_min_nucleus_score(self.run_config),
            **kw,
        )
        fig, axes = plt.subplots(1, 2, figsize=(6.0, 3.2))
        axes[0].imshow(img)
        axes[0].set_title(name, fontsize="small")
        axes[1].imshow(overlay(img, cyt, nuc, 0.45))
        axes[1].set_title(size_label(self.info), fontsize="small")
        for ax in axes:
            ax.set_axis_off()
        self.image.value = explore.figure_to_png(fig, dpi=90)  # closes the figure


def diameter_explorer(
    model: Any, run_config: Mapping[str, Any], images: Sequence[tuple[str, np.ndarray]]
) -> DiameterExplorer:
    """Build a :class:`DiameterExplorer` over ``(name, image)`` crops (:func:`cervix.stages.masks.size_examples`)."""
    return DiameterExplorer(model, run_config, images)
