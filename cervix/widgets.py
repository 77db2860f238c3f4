"""Interactive ipywidgets of the notebooks: one style for all of them.

* Notebook 01: :class:`SampleBrowser` (a data set with its mask overlays and morphometrics) and
  :class:`AugmentationTuner` (training augmentation strengths with a live preview).
* Notebooks 02 and 03: :class:`ThresholdSlider` (validation Dice per head at adjustable
  thresholds) and :class:`OverlayBrowser` (stored masks beside the model's).
* Notebook 06: :class:`CellPicker` (a cell of an analysed field, its crop, probabilities and
  morphometrics).
* Notebook 05: :class:`ConfusionWidget` (confusion matrix with a normalisation toggle) and
  :class:`GradCamWidget` (Grad-CAM heat maps, Selvaraju et al., ICCV 2017, of correct and wrong
  predictions).

Every widget is a small ``ipywidgets.VBox`` subclass whose controls and outputs are public
attributes; a lowercase builder (``sample_browser``, ``confusion_widget``, ...) makes each one.
Builders only *build* widgets and return them; showing them is the notebook's job (a widget as
the last expression of a cell, or ``display``). They work headless: every redraw renders a
matplotlib figure to PNG bytes (:func:`cervix.explore.figure_to_png`) into an
``ipywidgets.Image`` (the Dice readout is HTML text), so tests can move a slider and check the
picture and the state without a browser.

The tuner keeps the chosen strengths in ``tuner.config`` (a :class:`cervix.datasets.AugmentConfig`)
so the next cell can read it and save it for training with
:func:`cervix.explore.save_augment_config` (or ``tuner.save()``).

:func:`live_plot_callback` redraws the training curves in the notebook after each epoch of
:func:`cervix.engine.fit` (notebooks 02 and 04).
"""
from __future__ import annotations

import dataclasses
import html
import os
from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any
from pathlib import Path

import ipywidgets as W
import matplotlib.pyplot as plt
import numpy as np

from . import explore
from .data import Record, Sample
from .datasets import AugmentConfig
from .labels import HEADS
from .morphometrics import cell_morphometrics
from .figures import plot_history
from .plotting import overlay

if TYPE_CHECKING:
    from .engine import History

__all__ = ["SampleBrowser", "AugmentationTuner", "ThresholdSlider", "OverlayBrowser", "ConfusionWidget",
           "GradCamWidget", "sample_browser", "augmentation_tuner", "threshold_slider", "overlay_browser",
           "confusion_widget", "gradcam_widget", "CellPicker", "cell_picker", "ALL_CLASSES", "live_plot_callback"]

#: Dropdown entry that browses every record.
ALL_CLASSES = "(all classes)"


class SampleBrowser(W.VBox):
    """Browse a data set: class dropdown, sample slider, overlay-opacity slider, picture and facts.

    Attributes:
        records: the records browsed.
        class_dropdown: ``ipywidgets.Dropdown`` of :data:`ALL_CLASSES` and the classes.
        index_slider: ``ipywidgets.IntSlider`` over the samples of the chosen class.
        alpha_slider: ``ipywidgets.FloatSlider`` overlay opacity 0..1.
        image: ``ipywidgets.Image`` (PNG) of the image and its mask overlay.
        info: ``ipywidgets.HTML`` with class, file, group, size and morphometrics.
    """

    def __init__(self, records: Sequence[Record], alpha: float = 0.4, dpi: int = 90) -> None:
        if len(records) == 0:
            raise ValueError("sample_browser: no records")
        self.records = list(records)
        self.dpi = int(dpi)
        self._classes = explore.class_order(self.records)
        self.class_dropdown = W.Dropdown(options=[ALL_CLASSES, *self._classes], value=ALL_CLASSES,
                                         description="class")
        self.index_slider = W.IntSlider(value=0, min=0, max=len(self.records) - 1, description="sample",
                                        continuous_update=False)
        self.alpha_slider = W.FloatSlider(value=float(alpha), min=0.0, max=1.0, step=0.05, description="overlay",
                                          continuous_update=False, readout_format=".2f")
        self.image = W.Image(format="png", layout=W.Layout(max_width="640px"))
        self.info = W.HTML()
        self._cache: tuple[str, Sample] | None = None
        self.class_dropdown.observe(self._on_class, names="value")
        self.index_slider.observe(self._redraw, names="value")
        self.alpha_slider.observe(self._redraw, names="value")
        controls = W.HBox([self.class_dropdown, self.index_slider, self.alpha_slider])
        super().__init__([controls, self.image, self.info])
        self._redraw()

    @property
    def pool(self) -> list[Record]:
        """Records of the chosen class (all records for :data:`ALL_CLASSES`)."""
        c = self.class_dropdown.value
        if c == ALL_CLASSES:
            return self.records
        return [r for r in self.records if explore.label_name(r.label) == c]

    @property
    def record(self) -> Record:
        """The record shown now."""
        return self.pool[self.index_slider.value]

    @property
    def sample(self) -> Sample:
        """The decoded sample shown now (cached while only the opacity changes)."""
        r = self.record
        if self._cache is None or self._cache[0] != r.path:
            self._cache = (r.path, r.load())
        return self._cache[1]

    def _on_class(self, change: dict | None = None) -> None:
        n = len(self.pool)
        with self.index_slider.hold_trait_notifications():
            self.index_slider.value = 0
            self.index_slider.max = max(n - 1, 0)
        self._redraw()

    def _redraw(self, change: dict | None = None) -> None:
        s = self.sample
        title = f"{explore.label_name(s.label)}: {Path(s.path).name}"
        fig = explore.plot_sample(s, alpha=float(self.alpha_slider.value), title=title)
        self.image.value = explore.figure_to_png(fig, dpi=self.dpi)
        facts = [f"<b>{html.escape(explore.label_name(s.label))}</b>", html.escape(s.path),
                 f"group {html.escape(str(s.group))}", f"{s.image.shape[1]}x{s.image.shape[0]} px"]
        if s.has_masks:
            m = cell_morphometrics(s.cytoplasm, s.nucleus)
            facts += [f"cell {m['cell_area']:.0f} px²", f"nucleus {m['nucleus_area']:.0f} px²",
                      f"N/C {m['nc_ratio']:.3f}", f"{m['n_nuclei']:.0f} nucle{'us' if m['n_nuclei'] == 1 else 'i'}"]
        self.info.value = " · ".join(facts)


class AugmentationTuner(W.VBox):
    """Sliders for the training augmentation strengths with a live preview of augmented views.

    Moving a control updates :attr:`config` and redraws ``n`` views produced by the training
    pipeline (:func:`cervix.explore.plot_augmentations`).

    Attributes:
        sample: the sample being augmented.
        config: the :class:`AugmentConfig` of the current control values.
        rotate, scale, stain, blur, grey: ``ipywidgets.FloatSlider`` for those fields (grey:
            segmentation training only).
        flip: ``ipywidgets.Checkbox``.
        seed: ``ipywidgets.IntSlider`` drawing other random views with the same strengths.
        image: ``ipywidgets.Image`` (PNG) of the preview.
    """

    def __init__(self, sample: Sample, cfg: AugmentConfig | None = None, n: int = 7, seed: int = 0,
                 dpi: int = 72) -> None:
        cfg = cfg if cfg is not None else AugmentConfig()
        explore.check_augment_config(cfg, "augmentation_tuner")
        self.sample = sample
        self.n = int(n)
        self.dpi = int(dpi)
        self.config = dataclasses.replace(cfg)
        opts = dict(continuous_update=False, style={"description_width": "90px"})
        self.rotate = W.FloatSlider(value=cfg.rotate, min=0, max=180, step=5, description="rotate (°)",
                                    readout_format=".0f", **opts)
        self.scale = W.FloatSlider(value=cfg.scale, min=0, max=0.5, step=0.01, description="scale ±",
                                   readout_format=".2f", **opts)
        self.stain = W.FloatSlider(value=cfg.stain, min=0, max=1, step=0.05, description="stain jitter",
                                   readout_format=".2f", **opts)
        self.blur = W.FloatSlider(value=cfg.blur, min=0, max=1, step=0.05, description="blur prob.",
                                  readout_format=".2f", **opts)
        self.grey = W.FloatSlider(value=cfg.grey, min=0, max=1, step=0.05, description="grey prob.",
                                  readout_format=".2f", **opts)
        self.flip = W.Checkbox(value=bool(cfg.flip), description="flips / 90° turns", indent=False)
        self.seed = W.IntSlider(value=int(seed), min=0, max=99, description="draw", **opts)
        self.image = W.Image(format="png", layout=W.Layout(max_width="760px"))
        for w in (self.rotate, self.scale, self.stain, self.blur, self.grey, self.flip, self.seed):
            w.observe(self._on_change, names="value")
        left = W.VBox([self.rotate, self.scale, self.flip, self.grey])
        right = W.VBox([self.stain, self.blur, self.seed])
        super().__init__([W.HBox([left, right]), self.image])
        self._redraw()

    def _read(self) -> AugmentConfig:
        return AugmentConfig(rotate=round(float(self.rotate.value), 3), scale=round(float(self.scale.value), 3),
                             flip=bool(self.flip.value), stain=round(float(self.stain.value), 3),
                             blur=round(float(self.blur.value), 3), grey=round(float(self.grey.value), 3))

    def _on_change(self, change: dict | None = None) -> None:
        self.config = self._read()
        self._redraw()

    def _redraw(self) -> None:
        fig = explore.plot_augmentations(self.sample, self.config, n=self.n, seed=int(self.seed.value))
        self.image.value = explore.figure_to_png(fig, dpi=self.dpi)

    def save(self, path: str | Path | None = None, profile: str | None = None) -> Path:
        """Save :attr:`config` with :func:`cervix.explore.save_augment_config`; return the path."""
        return explore.save_augment_config(self.config, path=path, profile=profile)


def sample_browser(records: Sequence[Record], alpha: float = 0.4) -> SampleBrowser:
    """Build a :class:`SampleBrowser` over ``records`` (display it in the notebook)."""
    return SampleBrowser(records, alpha=alpha)


def augmentation_tuner(sample: Sample, cfg: AugmentConfig | None = None, n: int = 7,
                       seed: int = 0) -> AugmentationTuner:
    """Build an :class:`AugmentationTuner` for ``sample`` starting from ``cfg`` (default strengths).

    Read the chosen strengths with ``tuner.config``; save them with ``tuner.save()``.
    """
    return AugmentationTuner(sample, cfg, n=n, seed=seed)


# ------------------------------------------------------------------ segmentation (notebooks 02, 03)
class ThresholdSlider(W.VBox):
    """Sliders for the (cytoplasm, nucleus) thresholds that recompute validation Dice per head as they move.

    Attributes:
        predictions: the stored predictions (``probs`` and ``target``) of
            :func:`cervix.segmentation.predict_probabilities`.
        sliders: one ``ipywidgets.FloatSlider`` per head (cytoplasm, nucleus).
        readout: ``ipywidgets.HTML`` with the Dice per head.
        dice: ``{dice_cytoplasm, dice_nucleus}`` at the current thresholds.
    """

    def __init__(self, predictions: Sequence[Mapping[str, Any]], thresholds: Sequence[float] = (0.5, 0.5)) -> None:
        self.predictions = predictions
        self.sliders = [W.FloatSlider(value=float(t), min=0.05, max=0.95, step=0.05, description=name,
                                      continuous_update=False) for t, name in zip(thresholds, HEADS)]
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
        from .segmentation import dice_at_thresholds

        self.dice = dice_at_thresholds(self.predictions, self.thresholds)
        self.readout.value = ("<b>validation Dice</b> &nbsp; cytoplasm {dice_cytoplasm:.4f} &nbsp;·&nbsp; "
                              "nucleus {dice_nucleus:.4f}").format(**self.dice)


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

    def __init__(self, model: Any, run_config: Mapping[str, Any], records: Sequence[Any], alpha: float = 0.45,
                 dpi: int = 90) -> None:
        if not records:
            raise ValueError("overlay_browser: no records to browse")
        self.model, self.run_config, self.records, self.dpi = model, run_config, records, int(dpi)
        self._cache: dict[int, tuple[Any, np.ndarray]] = {}
        thr = run_config.get("thresholds", (0.5, 0.5))
        self.index_slider = W.IntSlider(value=0, min=0, max=len(records) - 1, description="crop",
                                        continuous_update=False)
        self.alpha_slider = W.FloatSlider(value=alpha, min=0.0, max=1.0, step=0.05, description="alpha")
        self.threshold_sliders = [W.FloatSlider(value=float(t), min=0.05, max=0.95, step=0.05, description=f"{n} thr",
                                                continuous_update=False) for t, n in zip(thr, ("cyt", "nuc"))]
        self.image = W.Image(format="png", layout=W.Layout(max_width="640px"))
        super().__init__([W.HBox([self.index_slider, self.alpha_slider]), W.HBox(self.threshold_sliders),
                          self.image])
        for w in (self.index_slider, self.alpha_slider, *self.threshold_sliders):
            w.observe(self.draw, "value")
        self.draw()

    def _probabilities(self, i: int) -> tuple[Any, np.ndarray]:
        from .segmentation import predict_probabilities

        if i not in self._cache:
            sample = self.records[i].load()
            probs = predict_probabilities(self.model, self.run_config, [self.records[i]], progress=False)[0]["probs"]
            self._cache[i] = (sample, probs)
        return self._cache[i]

    def draw(self, change: dict | None = None) -> None:
        """Redraw the crop of the slider (called on every change)."""
        sample, probs = self._probabilities(self.index_slider.value)
        alpha = self.alpha_slider.value
        pred = [(probs[c] > self.threshold_sliders[c].value).astype(np.uint8) * 255 for c in range(2)]
        fig, axes = plt.subplots(1, 2, figsize=(6.4, 3.4))
        axes[0].imshow(overlay(sample.image, sample.cytoplasm, sample.nucleus, alpha))
        axes[0].set_title(f"{sample.label or ''}: stored masks", fontsize="small")
        axes[1].imshow(overlay(sample.image, pred[0], pred[1], alpha))
        axes[1].set_title("model at thresholds", fontsize="small")
        for ax in axes:
            ax.set_axis_off()
        self.image.value = explore.figure_to_png(fig, dpi=self.dpi)  # closes the figure


def threshold_slider(predictions: Sequence[Mapping[str, Any]],
                     thresholds: Sequence[float] = (0.5, 0.5)) -> ThresholdSlider:
    """Build a :class:`ThresholdSlider` (its ``dice`` holds the Dice per head at the current thresholds).

    Args:
        predictions: stored predictions (``probs`` and ``target``) from
            :func:`cervix.segmentation.predict_probabilities`.
        thresholds: starting thresholds (the run's).
    """
    return ThresholdSlider(predictions, thresholds)


def overlay_browser(model: Any, run_config: Mapping[str, Any], records: Sequence[Any],
                    alpha: float = 0.45) -> OverlayBrowser:
    """Build an :class:`OverlayBrowser` over ``records`` with the model's thresholds as the start."""
    return OverlayBrowser(model, run_config, records, alpha=alpha)


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
        image: ``ipywidgets.Image`` (PNG) of :func:`cervix.figures.plot_confusion_matrix`.
    """

    def __init__(self, metrics: Mapping[str, Any], dpi: int = 90) -> None:
        self.metrics = metrics
        self.dpi = int(dpi)
        self.toggle = W.ToggleButtons(options=[("rows (recall)", "true"), ("columns (precision)", "pred"),
                                               ("all", "all"), ("counts", "none")], value="true",
                                      description="normalise")
        self.image = W.Image(format="png", layout=W.Layout(max_width="640px"))
        super().__init__([self.toggle, self.image])
        self.toggle.observe(self._redraw, names="value")
        self._redraw()

    def _redraw(self, change: dict | None = None) -> None:
        from .figures import plot_confusion_matrix

        fig = plot_confusion_matrix(self.metrics, normalise=self.toggle.value)
        self.image.value = explore.figure_to_png(fig, dpi=self.dpi)


class GradCamWidget(W.VBox):
    """Pick a true class, correct or wrong predictions, and a sample; shows crop, masks and Grad-CAM.

    Heat maps come from :func:`cervix.evaluation.gradcam_examples` (computed once per row and
    cached) and are drawn by :func:`cervix.figures.plot_gradcam_example`.

    Attributes:
        checkpoint: the classifier (``best.pt`` or run folder).
        predictions: the predictions DataFrame of :func:`cervix.evaluation.evaluate_checkpoint`.
        class_dropdown: ``ipywidgets.Dropdown`` of the true classes.
        kind_toggle: ``ipywidgets.ToggleButtons`` ``"correct"`` / ``"wrong"`` predictions.
        index_slider: ``ipywidgets.IntSlider`` over those rows, most confident first.
        alpha_slider: ``ipywidgets.FloatSlider`` heat-map opacity 0..1.
        image: ``ipywidgets.Image`` (PNG) of the chosen example.
    """

    def __init__(self, checkpoint: str | os.PathLike, predictions, data: str | os.PathLike | None = None,
                 masks: str | os.PathLike | None = None, fmt: str | None = None, alpha: float = 0.45,
                 dpi: int = 90) -> None:
        from .evaluation import class_names_of_predictions

        self.checkpoint, self.predictions = checkpoint, predictions
        self._source = {"data": data, "masks": masks, "fmt": fmt}
        self.dpi = int(dpi)
        self._cache: dict[int, dict[str, Any]] = {}
        self.class_dropdown = W.Dropdown(options=class_names_of_predictions(predictions), description="true class")
        self.kind_toggle = W.ToggleButtons(options=["correct", "wrong"], description="prediction")
        self.index_slider = W.IntSlider(min=0, max=0, description="sample")
        self.alpha_slider = W.FloatSlider(value=alpha, min=0.0, max=1.0, step=0.05, description="heat alpha")
        self.image = W.Image(format="png", layout=W.Layout(max_width="760px"))
        super().__init__([W.HBox([self.class_dropdown, self.kind_toggle]),
                          W.HBox([self.index_slider, self.alpha_slider]), self.image])
        for w in (self.class_dropdown, self.kind_toggle, self.index_slider, self.alpha_slider):
            w.observe(self._redraw, names="value")
        self._redraw()

    @property
    def rows(self) -> list[int]:
        """Prediction rows of the chosen true class and kind, most confident first."""
        from .evaluation import prediction_rows

        return prediction_rows(self.predictions, self.class_dropdown.value, self.kind_toggle.value == "correct")

    def example(self, row: int) -> dict[str, Any]:
        """The :func:`cervix.evaluation.gradcam_examples` item of one prediction row (cached)."""
        from .evaluation import gradcam_examples

        if row not in self._cache:
            self._cache[row] = gradcam_examples(self.checkpoint, self.predictions, [row], **self._source)[0]
        return self._cache[row]

    def _redraw(self, change: dict | None = None) -> None:
        from .figures import plot_gradcam_example

        rows = self.rows
        self.index_slider.max = max(0, len(rows) - 1)
        if not rows:
            self.image.value = _message_png(f"no {self.kind_toggle.value} predictions for {self.class_dropdown.value}",
                                            self.dpi)
            return
        item = self.example(rows[min(self.index_slider.value, len(rows) - 1)])
        self.image.value = explore.figure_to_png(plot_gradcam_example(item, alpha=self.alpha_slider.value),
                                                 dpi=self.dpi)


def confusion_widget(metrics: Mapping[str, Any]) -> ConfusionWidget:
    """Build a :class:`ConfusionWidget` of a metrics dict (display it in the notebook)."""
    return ConfusionWidget(metrics)


def gradcam_widget(checkpoint: str | os.PathLike, predictions, data: str | os.PathLike | None = None,
                   masks: str | os.PathLike | None = None, fmt: str | None = None,
                   alpha: float = 0.45) -> GradCamWidget:
    """Build a :class:`GradCamWidget` of a classifier and its predictions DataFrame.

    Args:
        checkpoint: the classifier (``best.pt`` or run folder).
        predictions: the predictions DataFrame of :func:`cervix.evaluation.evaluate_checkpoint`.
        data, masks, fmt: where the crops are (default the run's).
        alpha: starting heat-map opacity.
    """
    return GradCamWidget(checkpoint, predictions, data, masks, fmt, alpha=alpha)


class CellPicker(W.VBox):
    """Pick a cell of an analysed field (notebook 06): the field with that cell highlighted, its
    crop with its own masks, its class probabilities and morphometrics.

    Attributes:
        rows: the field's ``cells.csv`` rows (:func:`cervix.pipeline.load_field_analysis`).
        cell_slider: ``ipywidgets.IntSlider`` over the rows (cells in id order).
        image: ``ipywidgets.Image`` (PNG) of field, crop and probabilities.
        readout: ``ipywidgets.HTML`` with the cell's morphometrics and flags.
    """

    def __init__(self, image: np.ndarray, inst: Any, rows: Sequence[Mapping[str, Any]],
                 class_names: Sequence[str], dpi: int = 90) -> None:
        self.field, self.inst, self.rows, self.class_names, self.dpi = image, inst, list(rows), list(class_names), dpi
        self.cell_slider = W.IntSlider(value=0, min=0, max=max(len(self.rows) - 1, 0), description="cell",
                                       continuous_update=False)
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
        from .instances import cut_cell

        if not self.rows:
            self.readout.value = "no cells in this field"
            return
        r = self.row
        crop = cut_cell(self.field, self.inst, int(r["cell_id"]))
        probs = [float(r.get(f"prob_{c}", float("nan"))) for c in self.class_names]
        fig, (a, b, c) = plt.subplots(1, 3, figsize=(9.0, 3.0), gridspec_kw={"width_ratios": [1.4, 1, 1.2]})
        a.imshow(self.field)
        a.add_patch(plt.Rectangle((r["x0"], r["y0"]), r["width"], r["height"], fill=False, color="yellow", lw=1.5))
        a.set_title(f"cell {r['cell_id']} of {len(self.rows)}", fontsize="small")
        b.imshow(overlay(crop["image"], crop["cytoplasm"], crop["nucleus"], alpha=0.4))
        b.set_title("its own masks", fontsize="small")
        for ax in (a, b):
            ax.set_axis_off()
        c.barh(range(len(probs)), probs, color="0.5")
        c.set_yticks(range(len(probs)), self.class_names, fontsize="x-small")
        c.invert_yaxis()
        c.set_xlim(0, 1)
        c.set_title(f"{r.get('predicted_class', '?')} {float(r.get('confidence', float('nan'))):.2f}",
                    fontsize="small")
        fig.tight_layout()
        self.image.value = explore.figure_to_png(fig, dpi=self.dpi)
        self.readout.value = html.escape(
            f"area {r['cell_area']} px · nucleus {r['nucleus_area']} px · N/C {float(r['nc_ratio']):.3f} · "
            f"{r['n_nuclei']} nucle{'us' if r['n_nuclei'] == 1 else 'i'} · flags: {r['flags'] or 'none'}")


def cell_picker(image: np.ndarray, inst: Any, rows: Sequence[Mapping[str, Any]],
                class_names: Sequence[str]) -> CellPicker:
    """Build a :class:`CellPicker` (display it as the last expression of a cell)."""
    return CellPicker(image, inst, rows, class_names)


# ----------------------------------------------------------------------------- live training curves
def _notebook_display() -> tuple[Callable, Callable] | None:
    """(clear_output, display) inside an IPython kernel, else None."""
    try:
        from IPython import get_ipython
        from IPython.display import clear_output, display
    except ImportError:
        return None
    if get_ipython() is None:
        return None
    return clear_output, display


def live_plot_callback(metrics: Sequence[str] | None = None, every: int = 1) -> Callable[[History], None]:
    """A :func:`cervix.engine.fit` ``on_epoch_end`` callback that redraws the training curves in a
    notebook.

    Args:
        metrics: score columns for the right panel (default every ``val_*`` column that is not
            a loss); the losses always have the left panel to themselves.
        every: redraw every ``every`` epochs.

    Outside IPython it prints one line per epoch instead. Drawn by
    :func:`cervix.figures.plot_history`, like the saved curves.
    """

    def callback(history: History) -> None:
        if len(history) % every:
            return
        nb = _notebook_display()
        if nb is None:
            last = history.rows[-1]
            print(", ".join(f"{k}={v:.4g}" if isinstance(v, float) else f"{k}={v}"
                            for k, v in last.items()))
            return
        clear_output, display = nb
        losses = tuple(k for k in history.keys if k.endswith("loss"))
        chosen = metrics if metrics is not None else [k for k in history.keys if k.startswith("val_")]
        scores = tuple(k for k in chosen if not k.endswith("loss"))
        fig = plot_history(history, tuple(p for p in (losses, scores) if p))
        clear_output(wait=True)
        display(fig)
        plt.close(fig)  # shown once by display, not again at the end of the cell

    return callback
