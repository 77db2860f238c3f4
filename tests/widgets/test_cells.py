"""Notebook 06 widget (headless): the cell picker of an analysed field, on a toy field of two cells."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

import cv2  # noqa: E402
import ipywidgets as W  # noqa: E402
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402

from cervix.cells.instances import InstanceConfig, cell_table, cut_cell, separate  # noqa: E402
from cervix.viz import explore  # noqa: E402
from cervix.widgets.cells import CellPicker, cell_picker  # noqa: E402

PNG = b"\x89PNG\r\n\x1a\n"
CLASSES = ["normal", "benign", "abnormal"]


@pytest.fixture(autouse=True)
def _close_figures():
    yield
    plt.close("all")


def _discs(shape, discs) -> np.ndarray:
    m = np.zeros(shape, np.uint8)
    for x, y, r in discs:
        cv2.circle(m, (x, y), r, 255, -1)
    return m > 0


@pytest.fixture
def field():
    """A 80x120 field: a big cell on the left, a small one on the right, each with a nucleus;
    rows as ``analyze`` writes them (cell table + class probabilities)."""
    cyt = _discs((80, 120), [(35, 40, 22), (95, 40, 12)])
    nuc = _discs((80, 120), [(35, 40, 6), (95, 40, 4)])
    image = np.full((80, 120, 3), 235, np.uint8)
    image[cyt] = (150, 170, 200)
    image[nuc] = (70, 50, 130)
    inst = separate(np.stack([cyt, nuc]).astype(np.float32), InstanceConfig(min_cell_area=50))
    rows = cell_table(inst)
    probs = [(0.7, 0.2, 0.1), (0.05, 0.15, 0.8)]
    for r, p in zip(rows, probs):
        k = int(np.argmax(p))
        r.update(predicted_class=CLASSES[k], confidence=p[k], **{f"prob_{c}": v for c, v in zip(CLASSES, p)})
    return image, inst, rows


@pytest.fixture
def figures(monkeypatch):
    """Every figure the widget renders, inspected before it is turned into a PNG and closed."""
    seen = []
    render = explore.figure_to_png

    def spy(fig, dpi=100, close=True):
        axes = fig.axes
        seen.append(
            {
                "titles": [ax.get_title() for ax in axes],
                "bars": [p.get_width() for p in axes[2].patches],
                "ticks": [t.get_text() for t in axes[2].get_yticklabels()],
                "box": [(p.get_xy(), p.get_width(), p.get_height()) for p in axes[0].patches],
                "crop": axes[1].images[0].get_array().shape,
                "dpi": dpi,
            }
        )
        return render(fig, dpi=dpi, close=close)

    monkeypatch.setattr(explore, "figure_to_png", spy)
    return seen


def test_the_toy_field_has_two_cells(field):
    _, inst, rows = field
    assert inst.n == 2 and [r["cell_id"] for r in rows] == [1, 2]
    # boxes of the discs (centre +- radius): the big left cell is id 1, the small right one id 2
    assert [(r["x0"], r["y0"], r["width"], r["height"]) for r in rows] == [(13, 18, 45, 45), (83, 28, 25, 25)]
    assert [r["n_nuclei"] for r in rows] == [1, 1] and [r["flags"] for r in rows] == ["", ""]


def test_cell_picker_renders_the_first_cell(field, figures):
    image, inst, rows = field
    p = cell_picker(image, inst, rows, CLASSES)
    assert isinstance(p, CellPicker) and isinstance(p, W.VBox)
    assert list(p.children) == [p.cell_slider, p.image, p.readout]
    assert (p.cell_slider.min, p.cell_slider.max, p.cell_slider.value) == (0, 1, 0)
    assert p.image.format == "png" and p.image.value[:8] == PNG
    assert p.row is p.rows[0] and p.row["cell_id"] == 1
    (fig,) = figures
    assert fig["titles"] == ["cell 1 of 2", "its own masks", "normal 0.70"]
    assert fig["bars"] == pytest.approx([0.7, 0.2, 0.1]) and fig["ticks"] == CLASSES
    r = rows[0]
    assert fig["box"] == [((r["x0"], r["y0"]), r["width"], r["height"])]
    assert fig["crop"] == cut_cell(image, inst, 1)["image"].shape
    assert fig["dpi"] == 90
    text = p.readout.value
    assert text.startswith(f"area {r['cell_area']} px (visible {r['visible_area']}) · nucleus {r['nucleus_area']} px")
    assert "1 nucleus · flags: none" in text


def test_choosing_another_cell_redraws_picture_and_text(field, figures):
    image, inst, rows = field
    p = cell_picker(image, inst, rows, CLASSES)
    before_png, before_text = p.image.value, p.readout.value
    p.cell_slider.value = 1
    assert p.row is p.rows[1]
    assert p.image.value[:8] == PNG and p.image.value != before_png
    assert p.readout.value != before_text
    assert p.readout.value.startswith(f"area {rows[1]['cell_area']} px (visible {rows[1]['visible_area']}) · nucleus")
    assert len(figures) == 2
    fig = figures[1]
    assert fig["titles"] == ["cell 2 of 2", "its own masks", "abnormal 0.80"]
    assert fig["bars"] == pytest.approx([0.05, 0.15, 0.8])
    r = rows[1]
    assert fig["box"] == [((r["x0"], r["y0"]), r["width"], r["height"])]
    assert fig["crop"] == cut_cell(image, inst, 2)["image"].shape != figures[0]["crop"]
    # back to the first: the same picture again
    p.cell_slider.value = 0
    assert p.image.value == before_png and p.readout.value == before_text


def test_missing_probabilities_flags_and_nuclei_are_shown_as_such(field, figures):
    image, inst, rows = field
    rows = [dict(rows[0], flags="touches_border;tiny", n_nuclei=2)]
    del rows[0]["prob_benign"], rows[0]["predicted_class"], rows[0]["confidence"]
    p = cell_picker(image, inst, rows, CLASSES)
    assert p.cell_slider.max == 0
    assert figures[0]["titles"][2] == "? nan"
    bars = figures[0]["bars"]
    assert bars[0] == pytest.approx(0.7) and np.isnan(bars[1]) and bars[2] == pytest.approx(0.1)
    assert "2 nuclei · flags: touches_border;tiny" in p.readout.value


def test_the_readout_is_html_escaped(field):
    image, inst, rows = field
    rows = [dict(rows[0], flags="<b>odd</b>")]
    p = cell_picker(image, inst, rows, CLASSES)
    assert "&lt;b&gt;odd&lt;/b&gt;" in p.readout.value and "<b>" not in p.readout.value


def test_a_field_without_cells(field, figures):
    image, inst, _ = field
    p = cell_picker(image, inst, [], CLASSES)
    assert p.readout.value == "no cells in this field"
    assert p.image.value == b"" and figures == [] and p.cell_slider.max == 0
