"""evaluate_checkpoint (classification, k-fold, dispatch to segmentation), bootstrap CIs of the
report, temperature scaling end to end, tables, Grad-CAM examples, and on the same evaluated run
the figures (cervix.viz.figures) and the notebook-05 widgets (cervix.widgets.data)."""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import pandas as pd  # noqa: E402
import pytest  # noqa: E402
from helpers import FAST  # noqa: E402

from cervix import widgets  # noqa: E402
from cervix.stages import evaluation as E  # noqa: E402
from cervix.stages.classification import train_classifier  # noqa: E402


@pytest.fixture(scope="module")
def run(synth, tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("runs") / "cls"
    train_classifier(
        synth / "crops", masks=synth / "crops_masks", out=out, profile="smoke", overrides=FAST, progress=False
    )
    return out


@pytest.fixture(scope="module")
def evaluated(run, tmp_path_factory) -> tuple[Path, dict]:
    out = tmp_path_factory.mktemp("eval")
    metrics = E.evaluate_checkpoint(run / "best.pt", out=out, n_boot=100, progress=False)
    return out, metrics


def test_widgets(evaluated, run):
    out, m = evaluated
    pred = pd.read_csv(out / "predictions.csv")
    w = widgets.confusion_widget(m)
    w.children[0].value = "none"  # redraws
    g = widgets.gradcam_widget(run, pred)
    g.children[0].children[1].value = "wrong"
    assert g.children[1].children[0].max >= 0
    plt.close("all")


def test_widgets_render_png_images(evaluated, run):
    out, m = evaluated
    pred = pd.read_csv(out / "predictions.csv")
    w = widgets.confusion_widget(m)
    assert isinstance(w, widgets.ConfusionWidget) and w.image.value[:8] == b"\x89PNG\r\n\x1a\n"
    before = w.image.value
    w.toggle.value = "none"
    assert w.image.value != before
    g = widgets.gradcam_widget(run, pred)
    assert isinstance(g, widgets.GradCamWidget) and g.image.value[:8] == b"\x89PNG\r\n\x1a\n"
    first = pred.loc[0]
    g.class_dropdown.value = first["true"]
    g.kind_toggle.value = "correct" if first["true"] == first["pred"] else "wrong"
    assert 0 in g.rows  # the first row is a candidate of its class and kind
    g.index_slider.value = g.rows.index(0)
    before = g.image.value
    g.alpha_slider.value = 0.9
    assert g.image.value != before  # the heat map redrawn with the new opacity
    assert g.example(0)["row"] == 0
    plt.close("all")
