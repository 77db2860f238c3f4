"""Data exploration helpers and notebook-01 widgets on a tiny generated data set."""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import pytest

from cervix.core.labels import SIPAKMED_CLASSES
from cervix.data.augment import AugmentConfig
from cervix.data.formats import read_dataset
from cervix.data.records import Record, Sample
from cervix.viz import explore


@pytest.fixture(scope="module")
def synth_dir(tmp_path_factory) -> Path:
    from cervix.synthetic import dataset as synth

    out = tmp_path_factory.mktemp("synth")
    synth.generate(out, seed=0, n_fields=2, n_crops=15, size=48, field_size=256, progress=False)
    return out


@pytest.fixture(scope="module")
def crops(synth_dir):
    return read_dataset(synth_dir / "crops", "classes", masks_root=synth_dir / "crops_masks")


@pytest.fixture(scope="module")
def table(crops):
    return explore.cell_table(crops)


@pytest.fixture(autouse=True)
def _close_figures():
    yield
    plt.close("all")


def _toy_sample(label: str = "parabasal") -> Sample:
    img = np.full((40, 40, 3), 220, np.uint8)
    cyt = np.zeros((40, 40), np.uint8)
    nuc = np.zeros((40, 40), np.uint8)
    cyt[5:35, 5:35] = 255  # 900 px cell
    nuc[15:25, 15:25] = 255  # 100 px nucleus
    img[cyt > 0] = (100, 150, 200)
    img[nuc > 0] = (40, 30, 90)
    return Sample(img, cyt, nuc, label, "g0", "toy.png")


# ------------------------------------------------------------------------------------------
# classes and counts
# ------------------------------------------------------------------------------------------
def test_class_order_sipakmed_grouped_other_and_unlabelled():
    assert explore.class_order(["dyskeratotic", "parabasal"]) == ["parabasal", "dyskeratotic"]
    assert explore.class_order(["abnormal", "normal", "benign"]) == ["normal", "benign", "abnormal"]
    assert explore.class_order(["b", "a", None]) == ["a", "b", explore.UNLABELLED]


def test_class_counts_table(crops):
    counts = explore.class_counts(crops)
    assert list(counts.index) == list(SIPAKMED_CLASSES)
    assert counts["images"].tolist() == [3] * 5  # 15 balanced crops
    assert counts["groups"].tolist() == [3] * 5  # fields 0, 1, 2 (one target per class each)
    assert counts["with_masks"].tolist() == [3] * 5
    assert counts["share"].sum() == pytest.approx(1.0)


def test_class_counts_hand_made_records_and_empty():
    recs = [
        Record("a.png", "x", "g1"),
        Record("b.png", "x", "g1"),
        Record("c.png", "y", "g2"),
        Record("d.png", None, "g3"),
    ]
    counts = explore.class_counts(recs)
    assert list(counts.index) == ["x", "y", explore.UNLABELLED]
    assert counts.loc["x", "images"] == 2 and counts.loc["x", "groups"] == 1
    assert counts.loc["x", "share"] == pytest.approx(0.5)
    assert counts["with_masks"].sum() == 0
    with pytest.raises(ValueError, match="no records"):
        explore.class_counts([])


def test_plot_class_counts(crops):
    fig = explore.plot_class_counts(explore.class_counts(crops))
    ax = fig.axes[0]
    assert [t.get_text() for t in ax.get_yticklabels()] == list(SIPAKMED_CLASSES)
    assert [round(p.get_width()) for p in ax.patches] == [3] * 5
    assert "15 images" in ax.get_title()


# ------------------------------------------------------------------------------------------
# samples
# ------------------------------------------------------------------------------------------
def test_sample_grid_rows_per_class(crops, synth_dir):
    fig = explore.plot_sample_grid(crops, per_class=2, seed=1)
    assert len(fig.axes) == 5 * 4
    assert sum(len(ax.images) for ax in fig.axes) == 5 * 4  # 2 samples x (image + overlay) x 5 classes
    assert fig.axes[0].get_ylabel().replace("\n", "") == "superficial-intermediate"
    fields = read_dataset(synth_dir / "fields", "masks")
    fig = explore.plot_sample_grid(fields, per_class=3, title="Fields")
    assert sum(len(ax.images) for ax in fig.axes) == 4  # only 2 fields: empty tiles stay blank
    assert fig._suptitle.get_text() == "Fields"
    with pytest.raises(ValueError):
        explore.plot_sample_grid(crops, per_class=0)


def test_pick_sample_and_plot_sample(crops):
    s = explore.pick_sample(crops, "koilocytotic", index=1)
    assert s.label == "koilocytotic" and s.image.shape == (48, 48, 3)
    with pytest.raises(ValueError, match="no record of class"):
        explore.pick_sample(crops, "nope")
    with pytest.raises(IndexError):
        explore.pick_sample(crops, "koilocytotic", index=3)
    fig = explore.plot_sample(s, alpha=0.5, title="t")
    assert len(fig.axes) == 2 and all(len(ax.images) == 1 for ax in fig.axes)


# ------------------------------------------------------------------------------------------
# per-cell table, sizes, colour, morphometrics
# ------------------------------------------------------------------------------------------
def test_cell_table_contents(crops, table):
    assert len(table) == len(crops) == 15
    assert (table["height"] == 48).all() and (table["width"] == 48).all()
    assert table["has_masks"].all() and table["masks_binary"].all()
    assert (table["nucleus_outside"] == 0).all()  # the generator keeps nuclei inside their cell
    assert list(table["label"].cat.categories) == list(SIPAKMED_CLASSES)
    for col in ("cell_area", "nucleus_area", "nc_ratio", "cyto_H", "nuc_V", "img_R"):
        assert col in table
    # one row recomputed by hand
    s = crops[0].load()
    cyt, nuc = s.cytoplasm > 127, s.nucleus > 127
    row = table.iloc[0]
    assert row["cell_area"] == (cyt | nuc).sum()
    assert row["nucleus_area"] == nuc.sum()
    assert row["nc_ratio"] == pytest.approx(nuc.sum() / ((cyt | nuc).sum() - nuc.sum()))
    assert row["img_G"] == pytest.approx(s.image[..., 1].mean())


def test_cell_table_flags_nucleus_outside_and_missing_masks(tmp_path):
    class Fixed(Record):
        def load(self):  # noqa: D102
            return self.meta["sample"]

    s = _toy_sample()
    bad_nuc = s.nucleus.copy()
    bad_nuc[0:3, 0:4] = 255  # 12 px outside the cell
    bad = Sample(s.image, s.cytoplasm, bad_nuc, "parabasal", "g1", "bad.png")
    nomask = Sample(s.image, None, None, None, "g2", "nomask.png")
    recs = [Fixed(x.path, x.label, x.group, meta={"sample": x}) for x in (s, bad, nomask)]
    t = explore.cell_table(recs)
    assert t["nucleus_outside"].tolist() == [0, 12, -1]
    assert t["has_masks"].tolist() == [True, True, False]
    assert t.loc[0, "cell_area"] == 900 and t.loc[0, "nucleus_area"] == 100
    assert t.loc[0, "nc_ratio"] == pytest.approx(100 / 800)
    assert np.isnan(t.loc[2, "cell_area"])
    assert list(t["label"].cat.categories) == ["parabasal", explore.UNLABELLED]
    summ = explore.morphometrics_summary(t)  # rows without masks left out
    assert summ.loc["parabasal", "cells"] == 2


def test_size_colour_and_morphometrics_summaries(table):
    sizes = explore.size_table(table)
    assert list(sizes.index) == list(SIPAKMED_CLASSES)
    assert (sizes["images"] == 3).all() and (sizes["height_median"] == 48).all()
    col = explore.colour_summary(table)
    assert {"cyto_R", "cyto_H", "nuc_V"} <= set(col.columns)
    sub = table[table["label"] == "parabasal"]
    assert col.loc["parabasal", "cyto_R"] == pytest.approx(sub["cyto_R"].median())
    assert ((col["cyto_H"] >= 0) & (col["cyto_H"] < 360)).all()
    m = explore.morphometrics_summary(table)
    assert m.loc["parabasal", "nc_ratio"] == pytest.approx(sub["nc_ratio"].median())
    assert (m["cells"] == 3).all()
    # the generator's morphology: parabasal N/C above superficial-intermediate N/C
    assert m.loc["parabasal", "nc_ratio"] > m.loc["superficial-intermediate", "nc_ratio"]


def test_circular_hue_mean():
    assert explore._circmean_deg(pd.Series([350.0, 10.0])) == pytest.approx(0.0, abs=1e-9)
    assert np.isnan(explore._circmean_deg(pd.Series([np.nan])))


def test_colour_and_morphometrics_figures(table):
    fig = explore.plot_colour_stats(table)
    assert len(fig.axes) == 3
    assert [t.get_text() for t in fig.axes[0].get_yticklabels()] == list(SIPAKMED_CLASSES)
    fig = explore.plot_morphometrics(table)
    assert [ax.get_xlabel() for ax in fig.axes] == ["cell area (px²)", "nucleus area (px²)", "N/C ratio (log)"]
    assert fig.axes[2].get_xscale() == "log"
    assert [t.get_text() for t in fig.axes[0].get_yticklabels()] == list(SIPAKMED_CLASSES)


# ------------------------------------------------------------------------------------------
# augmentations and their config hand-over
# ------------------------------------------------------------------------------------------
def test_plot_augmentations_layout():
    fig = explore.plot_augmentations(_toy_sample(), AugmentConfig(rotate=30, stain=0.5), n=5, ncols=3)
    assert len(fig.axes) == 6
    assert [ax.get_title() for ax in fig.axes][:2] == ["original", "view 1"]
    assert all(len(ax.images) == 1 for ax in fig.axes)
    assert "rotate ±30°" in fig._suptitle.get_text()
    assert "grey p=0.25, fade 0.5" in fig._suptitle.get_text()
    png = explore.figure_to_png(fig)
    assert png[:8] == b"\x89PNG\r\n\x1a\n"
    with pytest.raises(ValueError):
        explore.plot_augmentations(_toy_sample(), AugmentConfig(), n=0)
