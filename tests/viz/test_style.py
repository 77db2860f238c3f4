"""The figure style module: training curves and log axes readable at print size."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

from cervix.viz.style import log_ticks  # noqa: E402


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
