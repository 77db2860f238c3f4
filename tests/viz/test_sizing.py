"""The size-normalisation figure: one row per crop, titles that say what was used."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from cervix.viz import sizing as V  # noqa: E402


def test_size_label():
    assert V.size_label({"size_source": "auto", "nucleus_diameter_px": 84.2, "scale": 0.31}) == (
        "auto: nucleus 84 px, x0.31"
    )
    assert V.size_label({"size_source": "run", "nucleus_diameter_px": None, "scale": 1.0}) == "run: x1.00"
    assert V.size_label({"size_source": "multi-scale", "scale": None}) == "multi-scale"


def test_size_comparison_has_one_row_per_crop():
    img = np.full((40, 30, 3), 200, np.uint8)
    m = np.zeros((40, 30), np.uint8)
    m[10:30, 5:25] = 255
    info = {"size_source": "auto", "nucleus_diameter_px": 12.0, "scale": 0.5}
    before = (m, m, {"size_source": "run", "scale": 1.0})
    rows = [{"name": f"c{i}", "image": img, "before": before, "after": (m, m, info)} for i in range(3)]
    fig = V.size_comparison(rows)
    axes = np.array(fig.axes).reshape(3, 3)
    assert [a.get_title() for a in axes[:, 0]] == ["c0", "c1", "c2"]
    assert axes[1, 2].get_title() == "auto: nucleus 12 px, x0.50" and axes[1, 1].get_title() == "run: x1.00"
    plt.close(fig)
    t = V.cell_size_table(rows)
    assert list(t.index) == ["c0", "c1", "c2"] and t.loc["c1", "scale"] == 0.5 and t.loc["c1", "source"] == "auto"
    assert t.loc["c0", "nucleus_area_run_scale"] == t.loc["c0", "nucleus_area_normalised"] == 400
