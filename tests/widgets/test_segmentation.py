"""Notebook 02/03 widgets (headless): threshold sliders and the overlay browser on toy data."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

import ipywidgets as W  # noqa: E402
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402

from cervix import widgets  # noqa: E402
from cervix.data.records import Sample  # noqa: E402
from cervix.stages import segmentation as seg  # noqa: E402

PNG = b"\x89PNG\r\n\x1a\n"


@pytest.fixture(autouse=True)
def _close_figures():
    yield
    plt.close("all")


def _probs(seed: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    target = np.zeros((2, 24, 24), bool)
    target[0, 4:20, 4:20] = True
    target[1, 9:15, 9:15] = True
    probs = np.clip(target * 0.7 + rng.random((2, 24, 24)) * 0.5, 0, 1).astype(np.float32)
    return probs, target


class _Record:
    def __init__(self, i: int) -> None:
        self.i = i

    def load(self) -> Sample:
        _, target = _probs(self.i)
        img = np.full((24, 24, 3), 200, np.uint8)
        return Sample(
            img,
            target[0].astype(np.uint8) * 255,
            target[1].astype(np.uint8) * 255,
            "parabasal",
            "g",
            f"crop{self.i}.png",
        )


def test_threshold_slider_recomputes_dice():
    preds = [dict(zip(("probs", "target"), _probs(i))) for i in range(3)]
    s = widgets.threshold_slider(preds, (0.5, 0.5))
    assert isinstance(s, widgets.ThresholdSlider) and isinstance(s, W.VBox)
    assert s.dice == seg.dice_at_thresholds(preds, (0.5, 0.5)) and s.thresholds == (0.5, 0.5)
    assert "validation Dice" in s.readout.value
    s.sliders[0].value = 0.9
    assert s.dice == seg.dice_at_thresholds(preds, (0.9, 0.5))
    assert f"{s.dice['dice_cytoplasm']:.4f}" in s.readout.value


def test_overlay_browser_redraws_png(monkeypatch):
    calls = []

    def fake_predict(model, cfg, records, progress=True):
        calls.append(records[0].i)
        return [{"probs": _probs(records[0].i)[0], "target": None}]

    monkeypatch.setattr(seg, "predict_probabilities", fake_predict)
    b = widgets.overlay_browser(object(), {"thresholds": (0.5, 0.5)}, [_Record(0), _Record(1)])
    assert isinstance(b, widgets.OverlayBrowser) and b.image.value[:8] == PNG
    before = b.image.value
    b.threshold_sliders[1].value = 0.9
    assert b.image.value != before and calls == [0]  # probabilities cached per crop
    b.index_slider.value = 1
    assert calls == [0, 1]
    with pytest.raises(ValueError, match="no records"):
        widgets.overlay_browser(object(), {}, [])


def test_diameter_explorer_resegments_when_the_slider_moves(monkeypatch):
    from cervix.inference import sizing

    calls = []

    def fake_predict(model, image, scale=1.0, **kw):  # a dark disk as nucleus, the crop as cell
        calls.append(scale)
        out = np.zeros((2, *image.shape[:2]), np.float32)
        out[0] = 1.0
        out[1] = image.mean(-1) < 100
        return out

    monkeypatch.setattr(sizing, "predict_tiled", fake_predict)
    img = np.full((80, 80, 3), 220, np.uint8)
    img[30:50, 30:50] = 40
    cfg = {"cell_size": {"nucleus_diameter": 10.0, "cell_diameter": 40.0}, "tile": 64, "thresholds": [0.5, 0.5]}
    ex = widgets.diameter_explorer(None, cfg, [("a", img), ("b", img[:60])])
    assert bytes(ex.image.value[:8]) == PNG and ex.info["size_source"] == "auto"
    assert ex.info["scale"] == pytest.approx(10.0 / ex.info["nucleus_diameter_px"])
    first = ex.image.value
    ex.diameter.value = 80.0  # a chosen diameter: auto off, re-segmented at cell 40 / 80
    assert not ex.auto.value and ex.info["size_source"] == "given" and ex.info["scale"] == pytest.approx(0.5)
    assert ex.image.value != first and calls[-1] == pytest.approx(0.5)
    ex.picker.value = 1
    assert ex.info["size_source"] == "given"
    with pytest.raises(ValueError, match="stores no training cell size"):
        widgets.diameter_explorer(None, {"tile": 64}, [("a", img)])
