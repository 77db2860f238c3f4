"""Data exploration helpers and notebook-01 widgets on a tiny generated data set."""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt
import numpy as np
import pytest

from cervix import widgets
from cervix.core.labels import SIPAKMED_CLASSES
from cervix.data import augment
from cervix.data.augment import AugmentConfig
from cervix.data.formats import read_dataset
from cervix.data.records import Sample


@pytest.fixture(scope="module")
def synth_dir(tmp_path_factory) -> Path:
    from cervix.synthetic import dataset as synth

    out = tmp_path_factory.mktemp("synth")
    synth.generate(out, seed=0, n_fields=2, n_crops=15, size=48, field_size=256, progress=False)
    return out


@pytest.fixture(scope="module")
def crops(synth_dir):
    return read_dataset(synth_dir / "crops", "classes", masks_root=synth_dir / "crops_masks")


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
# widgets (headless)
# ------------------------------------------------------------------------------------------
def test_sample_browser_controls(crops):
    b = widgets.sample_browser(crops, alpha=0.3)
    assert b.class_dropdown.options == (widgets.ALL_CLASSES, *SIPAKMED_CLASSES)
    assert b.index_slider.max == 14
    first = b.image.value
    assert first[:8] == b"\x89PNG\r\n\x1a\n"
    b.class_dropdown.value = "dyskeratotic"
    assert b.index_slider.max == 2 and b.index_slider.value == 0
    assert b.record.label == "dyskeratotic" and "dyskeratotic" in b.info.value
    b.index_slider.value = 2
    assert b.record is [r for r in crops if r.label == "dyskeratotic"][2]
    assert b.sample.path == b.record.path
    before = b.image.value
    b.alpha_slider.value = 0.9
    assert b.image.value != before  # redrawn with the new opacity
    assert "N/C" in b.info.value
    with pytest.raises(ValueError):
        widgets.sample_browser([])


def test_augmentation_tuner_updates_config_and_preview(tmp_path):
    start = AugmentConfig(rotate=90, scale=0.1, flip=True, stain=0.2, blur=0.0)
    t = widgets.augmentation_tuner(_toy_sample(), start, n=3)
    assert t.config == start and t.config is not start
    assert t.rotate.value == 90 and t.flip.value is True
    before = t.image.value
    t.rotate.value = 30
    t.stain.value = 0.65
    t.flip.value = False
    t.scale.value = 0.07
    t.blur.value = 0.5
    t.fade.value = 0.4
    assert t.config == AugmentConfig(rotate=30.0, scale=0.07, flip=False, stain=0.65, blur=0.5, fade=0.4)
    assert t.image.value != before
    drawn = t.image.value
    t.seed.value = 5  # other random views, same strengths
    assert t.image.value != drawn and t.config.rotate == 30.0
    path = t.save(tmp_path / "aug.json")
    assert augment.load_augment_config(path) == t.config
    assert start.rotate == 90  # the caller's config is not mutated
    with pytest.raises(ValueError):
        widgets.augmentation_tuner(_toy_sample(), AugmentConfig(blur=3.0))
