"""Notebook 01 widgets (:class:`SampleBrowser`, :class:`AugmentationTuner`), and the one style of all
the notebooks' ipywidgets (the others are in this folder's other modules, by notebook).

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
matplotlib figure to PNG bytes (:func:`cervix.viz.explore.figure_to_png`) into an
``ipywidgets.Image`` (the Dice readout is HTML text), so tests can move a slider and check the
picture and the state without a browser.

The tuner keeps the chosen strengths in ``tuner.config`` (a :class:`cervix.data.augment.AugmentConfig`)
so the next cell can read it and save it for training with
:func:`cervix.data.augment.save_augment_config` (or ``tuner.save()``).

:func:`live_plot_callback` redraws the training curves in the notebook after each epoch of
:func:`cervix.training.loop.fit` (notebooks 02 and 04).
"""

from __future__ import annotations

import dataclasses
import html
from collections.abc import Sequence
from pathlib import Path

import ipywidgets as W

from cervix.cells.morphometrics import cell_morphometrics
from cervix.data.augment import AugmentConfig, check_augment_config, save_augment_config
from cervix.data.records import Record, Sample
from cervix.viz import explore

__all__ = [
    "SampleBrowser",
    "AugmentationTuner",
    "sample_browser",
    "augmentation_tuner",
    "ALL_CLASSES",
]

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
        self.class_dropdown = W.Dropdown(options=[ALL_CLASSES, *self._classes], value=ALL_CLASSES, description="class")
        self.index_slider = W.IntSlider(
            value=0, min=0, max=len(self.records) - 1, description="sample", continuous_update=False
        )
        self.alpha_slider = W.FloatSlider(
            value=float(alpha),
            min=0.0,
            max=1.0,
            step=0.05,
            description="overlay",
            continuous_update=False,
            readout_format=".2f",
        )
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
        facts = [
            f"<b>{html.escape(explore.label_name(s.label))}</b>",
            html.escape(s.path),
            f"group {html.escape(str(s.group))}",
            f"{s.image.shape[1]}x{s.image.shape[0]} px",
        ]
        if s.has_masks:
            m = cell_morphometrics(s.cytoplasm, s.nucleus)
            facts += [
                f"cell {m['cell_area']:.0f} px²",
                f"nucleus {m['nucleus_area']:.0f} px²",
                f"N/C {m['nc_ratio']:.3f}",
                f"{m['n_nuclei']:.0f} nucle{'us' if m['n_nuclei'] == 1 else 'i'}",
            ]
        self.info.value = " · ".join(facts)


class AugmentationTuner(W.VBox):
    """Sliders for the training augmentation strengths with a live preview of augmented views.

    Moving a control updates :attr:`config` and redraws ``n`` views produced by the training
    pipeline (:func:`cervix.viz.explore.plot_augmentations`).

    Attributes:
        sample: the sample being augmented.
        config: the :class:`AugmentConfig` of the current control values.
        rotate, scale, stain, blur, grey, fade: ``ipywidgets.FloatSlider`` for those fields (grey
            and fade: segmentation training only).
        flip: ``ipywidgets.Checkbox``.
        seed: ``ipywidgets.IntSlider`` drawing other random views with the same strengths.
        image: ``ipywidgets.Image`` (PNG) of the preview.
    """

    def __init__(
        self, sample: Sample, cfg: AugmentConfig | None = None, n: int = 7, seed: int = 0, dpi: int = 72
    ) -> None:
        cfg = cfg if cfg is not None else AugmentConfig()
        check_augment_config(cfg, "augmentation_tuner")
        self.sample = sample
        self.n = int(n)
        self.dpi = int(dpi)
        self.config = dataclasses.replace(cfg)
        opts = dict(continuous_update=False, style={"description_width": "90px"})
        self.rotate = W.FloatSlider(
            value=cfg.rotate, min=0, max=180, step=5, description="rotate (°)", readout_format=".0f", **opts
        )
        self.scale = W.FloatSlider(
            value=cfg.scale, min=0, max=0.5, step=0.01, description="scale ±", readout_format=".2f", **opts
        )
        self.stain = W.FloatSlider(
            value=cfg.stain, min=0, max=1, step=0.05, description="stain jitter", readout_format=".2f", **opts
        )
        self.blur = W.FloatSlider(
            value=cfg.blur, min=0, max=1, step=0.05, description="blur prob.", readout_format=".2f", **opts
        )
        self.grey = W.FloatSlider(
            value=cfg.grey, min=0, max=1, step=0.05, description="grey prob.", readout_format=".2f", **opts
        )
        self.fade = W.FloatSlider(
            value=cfg.fade, min=0, max=0.95, step=0.05, description="fade", readout_format=".2f", **opts
        )
        self.flip = W.Checkbox(value=bool(cfg.flip), description="flips / 90° turns", indent=False)
        self.seed = W.IntSlider(value=int(seed), min=0, max=99, description="draw", **opts)
        self.image = W.Image(format="png", layout=W.Layout(max_width="760px"))
        for w in (self.rotate, self.scale, self.stain, self.blur, self.grey, self.fade, self.flip, self.seed):
            w.observe(self._on_change, names="value")
        left = W.VBox([self.rotate, self.scale, self.flip, self.grey])
        right = W.VBox([self.stain, self.blur, self.fade, self.seed])
        super().__init__([W.HBox([left, right]), self.image])
        self._redraw()

    def _read(self) -> AugmentConfig:
        return AugmentConfig(
            rotate=round(float(self.rotate.value), 3),
            scale=round(float(self.scale.value), 3),
            flip=bool(self.flip.value),
            stain=round(float(self.stain.value), 3),
            blur=round(float(self.blur.value), 3),
            grey=round(float(self.grey.value), 3),
            fade=round(float(self.fade.value), 3),
        )

    def _on_change(self, change: dict | None = None) -> None:
        self.config = self._read()
        self._redraw()

    def _redraw(self) -> None:
        fig = explore.plot_augmentations(self.sample, self.config, n=self.n, seed=int(self.seed.value))
        self.image.value = explore.figure_to_png(fig, dpi=self.dpi)

    def save(self, path: str | Path | None = None, profile: str | None = None) -> Path:
        """Save :attr:`config` with :func:`cervix.data.augment.save_augment_config`; return the path."""
        return save_augment_config(self.config, path=path, profile=profile)


def sample_browser(records: Sequence[Record], alpha: float = 0.4) -> SampleBrowser:
    """Build a :class:`SampleBrowser` over ``records`` (display it in the notebook)."""
    return SampleBrowser(records, alpha=alpha)


def augmentation_tuner(
    sample: Sample, cfg: AugmentConfig | None = None, n: int = 7, seed: int = 0
) -> AugmentationTuner:
    """Build an :class:`AugmentationTuner` for ``sample`` starting from ``cfg`` (default strengths).

    Read the chosen strengths with ``tuner.config``; save them with ``tuner.save()``.
    """
    return AugmentationTuner(sample, cfg, n=n, seed=seed)
