"""The figure style module: training curves and log axes readable at print size."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")
from pathlib import Path

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import pytest  # noqa: E402
from helpers import FAST  # noqa: E402

from cervix.stages import evaluation as E  # noqa: E402
from cervix.stages.classification import read_cls_records, train_classifier  # noqa: E402
from cervix.viz import figures as F  # noqa: E402
from cervix.viz.figures import plot_history  # noqa: E402


def test_one_epoch_curves_have_integer_epochs_and_losses_apart_from_scores():
    df = pd.DataFrame(
        {
            "epoch": [1],
            "train_loss": [2.5],
            "val_loss": [2.4],
            "val_dice_cytoplasm": [0.8],
            "val_dice_nucleus": [0.3],
            "val_dice": [0.55],
        }
    )
    fig = plot_history(df, best_epoch=1)
    loss_ax, score_ax = fig.axes
    assert [t.get_text() for t in loss_ax.get_xticklabels()] == ["1"]
    assert loss_ax.get_xlim() == (0.5, 1.5)
    assert {ln.get_label() for ln in loss_ax.get_lines()} == {"train_loss", "val_loss"}
    assert "val_loss" not in {ln.get_label() for ln in score_ax.get_lines()}
    plt.close(fig)


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


def _records(synth):
    return read_cls_records(synth / "crops", "classes", synth / "crops_masks")


def test_plots(evaluated, run):
    out, m = evaluated
    pred = pd.read_csv(out / "predictions.csv")
    fig = F.plot_confusion_matrix(m, normalise=True)
    shown = np.asarray(fig.axes[0].collections[0].get_array()).reshape(len(m["class_names"]), -1)
    cm = np.array(m["confusion_matrix"])
    np.testing.assert_allclose(shown.sum(1)[cm.sum(1) > 0], 1.0)
    counts = F.plot_confusion_matrix(pred, normalise=None)
    np.testing.assert_array_equal(np.asarray(counts.axes[0].collections[0].get_array()).reshape(cm.shape), cm)
    cols = F.plot_confusion_matrix(m, normalise="pred")
    shown = np.asarray(cols.axes[0].collections[0].get_array()).reshape(cm.shape)
    np.testing.assert_allclose(shown.sum(0)[cm.sum(0) > 0], 1.0)
    assert len(F.plot_roc_curves(pred).axes[0].lines) >= 2
    assert len(F.plot_reliability(pred).axes[0].lines) == 3  # diagonal, before, after
    assert F.plot_training_curves(run).axes
    fig = F.plot_ablation({"rgb": m, "rgb+masks": m})
    bars = [p for p in fig.axes[0].patches]
    assert len(bars) == 4 and bars[0].get_height() == pytest.approx(m["accuracy"])
    plt.close("all")


def test_model_inputs_and_segmentation_bars(synth):
    records = _records(synth)
    names = sorted({r.label for r in records})
    fig = F.plot_model_inputs(records, names, 32, n=5)
    assert len(fig.axes) == 15
    labels = [fig.axes[3 * i].get_ylabel() for i in range(5)]
    assert sorted(labels) == names  # one crop per class
    mask = np.asarray(fig.axes[1].images[0].get_array())
    assert set(np.unique(mask)) <= {0.0, 1.0}
    seg = {
        "dice_cytoplasm": 0.9,
        "dice_nucleus": 0.8,
        "iou_cytoplasm": 0.82,
        "iou_nucleus": 0.7,
        "pixel_accuracy_cytoplasm": 0.95,
        "pixel_accuracy_nucleus": 0.97,
        "n_images": 3,
        "ci95": {"dice_cytoplasm": [0.85, 0.95], "dice_nucleus": [0.7, 0.9]},
    }
    bars = F.plot_segmentation_metrics(seg).axes[0].patches
    assert [round(b.get_height(), 2) for b in bars] == [0.9, 0.82, 0.95, 0.8, 0.7, 0.97]
    plt.close("all")
