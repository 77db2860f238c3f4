"""The figure style module: training curves and log axes readable at print size."""
from __future__ import annotations

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import pandas as pd  # noqa: E402

from cervix.viz.figures import plot_history  # noqa: E402
from cervix.viz.style import log_ticks  # noqa: E402


def test_one_epoch_curves_have_integer_epochs_and_losses_apart_from_scores():
    df = pd.DataFrame({"epoch": [1], "train_loss": [2.5], "val_loss": [2.4], "val_dice_cytoplasm": [0.8],
                       "val_dice_nucleus": [0.3], "val_dice": [0.55]})
    fig = plot_history(df, best_epoch=1)
    loss_ax, score_ax = fig.axes
    assert [t.get_text() for t in loss_ax.get_xticklabels()] == ["1"]
    assert loss_ax.get_xlim() == (0.5, 1.5)
    assert {ln.get_label() for ln in loss_ax.get_lines()} == {"train_loss", "val_loss"}
    assert "val_loss" not in {ln.get_label() for ln in score_ax.get_lines()}
    plt.close(fig)


def test_log_ticks_label_only_1_2_5_per_decade():
    fig, ax = plt.subplots()
    ax.set_xscale("log")
    ax.set_xlim(0.015, 0.45)
    log_ticks(ax.xaxis)
    fig.canvas.draw()
    lo, hi = ax.get_xlim()
    labels = [t.get_text() for t, x in zip(ax.get_xticklabels(), ax.get_xticks()) if lo <= x <= hi]
    assert labels == ["0.02", "0.05", "0.1", "0.2"]
    assert all(not t.get_text() for t in ax.xaxis.get_minorticklabels())
    plt.close(fig)
