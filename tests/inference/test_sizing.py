"""Cell size: flat borders, training medians, the diameter argument, the two-pass estimate."""

from __future__ import annotations

import math

import cv2
import numpy as np
import pytest
from helpers import DiskHead

from cervix.data.records import Sample
from cervix.inference import sizing, tiling
from cervix.inference.writing import mask_qc

SIZE = {"measure": "nucleus_diameter", "nucleus_diameter": 20.0, "cell_diameter": 50.0, "n_nuclei": 1, "n_cells": 1}


def _crop(nucleus_d: int = 80, side: int = 200, pad: int = 20, colour=(200, 180, 190)) -> np.ndarray:
    """A single-cell crop: a cell of twice the nucleus diameter, letterboxed at top and bottom."""
    rng = np.random.default_rng(0)
    img = np.clip(235 + rng.normal(0, 4, (side, side, 3)), 0, 255).astype(np.uint8)  # noisy background
    c = side // 2
    cv2.circle(img, (c, c), nucleus_d, (170, 150, 190), -1)
    cv2.circle(img, (c, c), nucleus_d // 2, (60, 40, 120), -1)
    img[:pad] = colour
    img[side - pad :] = colour
    return img


def _fake_predict(model, image, scale=1.0, **kw):
    """A model that sees nuclei of 14-40 px only: larger ones (in its input) show as a 40 px core,
    smaller ones not at all. Probabilities at the image's size, like predict_tiled's."""
    nuc = (image.mean(-1) < 100).astype(np.uint8)
    cell = (image.mean(-1) < 200).astype(np.float32)
    out = np.zeros((2, *image.shape[:2]), np.float32)
    out[0] = cell
    n, _, stats, cents = cv2.connectedComponentsWithStats(nuc)
    for k in range(1, n):
        d = math.sqrt(4 * stats[k, cv2.CC_STAT_AREA] / math.pi)
        if d * scale < 14:
            continue
        if d * scale <= 40:
            out[1][nuc == k] = 1.0  # (labels compared below)
        else:
            core = np.zeros(image.shape[:2], np.uint8)
            cv2.circle(core, tuple(int(v) for v in cents[k]), int(20 / scale), 1, -1)
            out[1][core > 0] = 1.0
    return out


@pytest.fixture
def fake_model(monkeypatch):
    monkeypatch.setattr(sizing, "predict_tiled", _fake_predict)
    monkeypatch.setattr(tiling, "predict_tiled", _fake_predict)
    return None


# ------------------------------------------------------------------------------------ flat borders
def test_flat_borders_find_a_letterbox_and_tolerate_jpeg():
    img = _crop()
    assert sizing.flat_borders(img) == (20, 20, 0, 0)
    ok, buf = cv2.imencode(".jpg", img[..., ::-1], [cv2.IMWRITE_JPEG_QUALITY, 90])
    jpg = cv2.imdecode(buf, cv2.IMREAD_COLOR)[..., ::-1]
    t, b, left, r = sizing.flat_borders(jpg)
    assert 16 <= t <= 20 and 16 <= b <= 20 and left == r == 0  # ringing next to the content ends it
    side = np.ascontiguousarray(img.transpose(1, 0, 2))
    assert sizing.flat_borders(side) == (0, 0, 20, 20)


def test_no_padding_in_a_noisy_field_a_flat_background_or_a_flat_image():
    rng = np.random.default_rng(1)
    field = np.clip(200 + rng.normal(0, 3, (64, 64, 3)), 0, 255).astype(np.uint8)  # ISBI-like background
    assert sizing.flat_borders(field) == (0, 0, 0, 0)
    drawn = np.zeros((60, 60, 3), np.uint8)
    cv2.circle(drawn, (30, 30), 10, (200, 200, 200), -1)  # flat all round: background, not a letterbox
    assert sizing.flat_borders(drawn) == (0, 0, 0, 0)
    assert sizing.flat_borders(np.full((10, 12, 3), 7, np.uint8)) == (0, 0, 0, 0)


def test_touches_all_borders_counts_only_real_borders():
    cyt = np.zeros((100, 100), np.uint8)
    cyt[20:80, :] = 255  # a cell filling the crop between a letterbox of 20 rows above and below
    nuc = np.zeros_like(cyt)
    nuc[45:55, 45:55] = 255
    assert "touches_all_borders" not in mask_qc(cyt, nuc)["flags"]
    assert "touches_all_borders" in mask_qc(cyt, nuc, padding=(20, 20, 0, 0))["flags"]


# ------------------------------------------------------------------------------ training medians
class _Rec:
    def __init__(self, sample: Sample):
        self.sample = sample

    def load(self) -> Sample:
        return self.sample


def test_training_cell_size_medians_of_nuclei_and_cells():
    img = np.zeros((120, 120, 3), np.uint8)
    nuc = np.zeros((120, 120), np.uint8)
    cells = np.zeros((3, 120, 120), bool)
    for k, (x, r) in enumerate(((20, 5), (60, 8), (100, 11))):
        cv2.circle(nuc, (x, 60), r, 255, -1)
        c = np.zeros((120, 120), np.uint8)
        cv2.circle(c, (x, 60), 2 * r, 1, -1)
        cells[k] = c > 0
    s = Sample(img, (cells.any(0) * 255).astype(np.uint8), nuc, None, "g", "f", None, cells)
    size = sizing.training_cell_size([_Rec(s)], scale=0.5)
    assert size["measure"] == "nucleus_diameter" and size["n_nuclei"] == 3 and size["n_cells"] == 3
    assert size["nucleus_diameter"] == pytest.approx(0.5 * 16, rel=0.08)  # median nucleus: r = 8
    assert size["cell_diameter"] == pytest.approx(0.5 * 32, rel=0.08)
    # without per-cell truth: the connected parts of the cytoplasm mask
    s.cells = None
    assert sizing.training_cell_size([_Rec(s)])["n_cells"] == 3


def test_parse_diameter():
    assert sizing.parse_diameter(None) is None
    assert sizing.parse_diameter("auto") == sizing.parse_diameter(" AUTO ") == "auto"
    assert sizing.parse_diameter("30.5") == 30.5 and sizing.parse_diameter(12) == 12.0
    for bad in ("-5", "0", "abc", "nan", "inf", True, ""):
        with pytest.raises(ValueError, match="--cell-diameter must be a positive number"):
            sizing.parse_diameter(bad)


def test_run_cell_size_and_the_warning_of_older_runs():
    assert sizing.run_cell_size({"cell_size": SIZE}, "auto") == SIZE
    with pytest.warns(UserWarning, match="stores no training cell size"):
        assert sizing.run_cell_size({"checkpoint": "old/best.pt"}, "auto") is None
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert sizing.run_cell_size({}, None) is None  # nothing asked, nothing to warn about


# --------------------------------------------------------------------------------- the two passes
def test_auto_finds_a_magnified_nucleus_and_resizes_to_the_training_size(fake_model):
    img = _crop(nucleus_d=80)
    probs, info = sizing.sized_probabilities(None, img, single_cell=True, diameter="auto", cell_size=SIZE)
    assert info["size_source"] == "auto" and info["padding"] == [20, 20, 0, 0]
    assert info["nucleus_diameter_px"] == pytest.approx(80, rel=0.05)
    assert info["scale"] == pytest.approx(20 / 80, rel=0.05)  # the nucleus at its training diameter
    assert probs.shape == (2, 200, 200) and not probs[:, :20].any() and not probs[:, 180:].any()
    # the nucleus found whole at the normalised scale (a 40 px core at the crop's own scale)
    cyt, nuc, _ = sizing.sized_masks(None, img, single_cell=True, diameter="auto", cell_size=SIZE)
    d = math.sqrt(4 * (nuc > 0).sum() / math.pi)
    assert d == pytest.approx(80, rel=0.05) and not cyt[:20].any()
    _, nuc1, info1 = sizing.sized_masks(None, img, single_cell=True, cell_size=SIZE)  # the run's scale
    assert info1["size_source"] == "run" and math.sqrt(4 * (nuc1 > 0).sum() / math.pi) < 45


def test_the_first_pass_prefers_a_size_that_neighbouring_levels_confirm():
    # a 4x crop of ISBI image 2: at full scale a 25 px texture fragment (right at the training
    # size, 26.9), at 1/2, 1/4 and 1/8 the real 106 px nucleus measured as 93, 98 and 99 px
    measures = [(1.0, 25.0), (0.5, 93.1), (0.25, 98.2), (0.125, 98.6)]
    assert sizing._choose_level(measures, 26.9) == 98.2  # 24.5 px at 1/4, the confirmed level nearest
    # nothing confirmed (every level disagrees): the level nearest the training size, as before
    assert sizing._choose_level([(1.0, 37.1), (0.5, 52.3), (0.25, 33.3)], 26.9) == 52.3
    # a lone level; a nucleus of under 2 px at its level is noise; nothing found
    assert sizing._choose_level([(1.0, 40.0)], 26.9) == 40.0
    assert sizing._choose_level([(0.25, 6.0), (0.125, 12.0)], 26.9) is None
    assert sizing._choose_level([], 26.9) is None


def test_refinement_measures_again_on_the_normalised_pass(fake_model, monkeypatch):
    img = _crop(nucleus_d=80)
    monkeypatch.setattr(sizing, "_estimate", lambda *a, **k: (50.0, 4))  # a first pass 37% too small
    calls = []
    monkeypatch.setattr(sizing, "predict_tiled", lambda *a, **k: calls.append(k["scale"]) or _fake_predict(*a, **k))
    _, once = sizing.sized_probabilities(None, img, single_cell=True, diameter="auto", cell_size=SIZE, refine=False)
    assert once["nucleus_diameter_px"] == 50.0 and once["scale"] == pytest.approx(20 / 50) and len(calls) == 1
    calls.clear()
    _, info = sizing.sized_probabilities(None, img, single_cell=True, diameter="auto", cell_size=SIZE)
    # at 0.4 the 80 px nucleus is 32 px in the model's input, found whole: 80 px, 60% off the first
    # estimate, so a third pass at 20 / 80
    assert info["nucleus_diameter_px"] == pytest.approx(80, rel=0.05) and info["nucleus_diameter_first_px"] == 50
    assert calls == [pytest.approx(0.4), pytest.approx(0.25, rel=0.05)] and info["scale"] == calls[-1]
    monkeypatch.setattr(sizing, "_estimate", lambda *a, **k: (76.0, 4))  # within 10%: no third pass
    calls.clear()
    _, info = sizing.sized_probabilities(None, img, single_cell=True, diameter="auto", cell_size=SIZE)
    assert len(calls) == 1 and info["nucleus_diameter_px"] == pytest.approx(80, rel=0.05)
    assert info["scale"] == pytest.approx(20 / 76)
    monkeypatch.setattr(sizing, "_estimate", lambda *a, **k: (2.0, 4))  # 20 / 2 = 10x, clipped to 4x
    calls.clear()
    _, info = sizing.sized_probabilities(None, img, single_cell=True, diameter="auto", cell_size=SIZE)
    assert calls == [4.0] and info["nucleus_diameter_px"] == 2.0 and "nucleus_diameter_first_px" not in info


def test_a_given_diameter_and_the_fallbacks(fake_model):
    img = _crop(nucleus_d=80)
    _, info = sizing.sized_probabilities(None, img, diameter=100.0, cell_size=SIZE)
    assert info["size_source"] == "given" and info["scale"] == pytest.approx(50 / 100)
    _, info = sizing.sized_probabilities(None, img, single_cell=True, diameter="auto", cell_size=None)
    assert info["size_source"] == "multi-scale" and info["scale"] is None
    _, info = sizing.sized_probabilities(None, img, diameter="auto", cell_size=None)
    assert info["size_source"] == "run" and info["scale"] == 1.0  # fields of older runs: the run's scale
    blank = np.clip(np.random.default_rng(0).normal(230, 4, (64, 64, 3)), 0, 255).astype(np.uint8)
    _, info = sizing.sized_probabilities(None, blank, diameter="auto", cell_size=SIZE, scale=0.5)
    assert info["size_source"] == "auto: no nucleus found" and info["scale"] == 0.5
    assert sizing.size_columns(info) == {
        "nucleus_diameter_px": None,
        "scale_used": 0.5,
        "size_source": info["size_source"],
    }


def test_single_cell_cytoplasm_is_the_cell_heads_whole_cell(fake_model):
    img = _crop(nucleus_d=80)  # a cell of radius 80 px around (100, 100), padding rows 0-19 and 180-199
    cyt0, nuc0, info = sizing.sized_masks(None, img, single_cell=True, diameter="auto", cell_size=SIZE)
    assert info["scale"] == pytest.approx(0.25, rel=0.05)
    # the window: 64 px at the final pass's scale 0.25 = 256 crop px, read at 32 px (8 crop px each),
    # so the stand-in head's disc of 11 input px is a disc of 88 crop px around the nucleus
    cfg = {"window": 64, "image_size": 32, "threshold": 0.5, "amp": "none"}
    head = (DiskHead(radius=11).eval(), cfg)
    cyt, nuc, _ = sizing.sized_masks(None, img, single_cell=True, cell_head=head, diameter="auto", cell_size=SIZE)
    np.testing.assert_array_equal(nuc, nuc0)  # the nucleus is the first model's
    assert 168 <= (cyt[100] > 0).sum() <= 186  # the disc, wider than the partition's cell
    assert 155 <= (cyt0[100] > 0).sum() <= 165
    assert not cyt[:20].any() and not cyt[180:].any()  # padding stays background
    assert cyt[20:180].any(1).all()  # the disc reaches the padding on both sides
    # fields: the union masks, the cell head has no say
    f0 = sizing.sized_masks(None, img, cell_size=SIZE)[0]
    np.testing.assert_array_equal(sizing.sized_masks(None, img, cell_head=head, cell_size=SIZE)[0], f0)


def test_fields_use_the_median_nucleus(fake_model):
    rng = np.random.default_rng(0)
    img = np.clip(235 + rng.normal(0, 4, (240, 240, 3)), 0, 255).astype(np.uint8)
    for x, y, d in ((50, 50, 28), (150, 60, 32), (60, 170, 30), (170, 170, 60)):
        cv2.circle(img, (x, y), d // 2, (60, 40, 120), -1)
    _, info = sizing.sized_probabilities(None, img, diameter="auto", cell_size=SIZE)
    assert 28 <= info["nucleus_diameter_px"] <= 40  # the median, not the one large nucleus


def test_min_nucleus_area_is_a_share_of_the_training_nucleus_in_image_pixels():
    size = {"nucleus_diameter": 26.9}
    assert sizing.min_nucleus_area(size) == round(0.18 * math.pi / 4 * 26.9**2) == 102
    assert sizing.min_nucleus_area(size, scale=0.5) == round(0.18 * math.pi / 4 * 53.8**2)  # image shown at half size
    assert sizing.min_nucleus_area({"nucleus_diameter": 4.0}) == 12  # never below the default
    assert sizing.min_nucleus_area(None) == sizing.min_nucleus_area({"nucleus_diameter": None}) == 12  # older runs
    assert sizing.min_nucleus_area(size, scale=None) == 12  # multi-scale fallback: no one scale


def test_field_masks_leave_out_a_weak_nucleus(monkeypatch):
    """A field's nucleus mask keeps the confident nucleus and drops one whose mean probability is
    below the package's score, as `separate` (and so `analyze`) drops it."""
    from cervix.cells.instances import MIN_NUCLEUS_SCORE

    probs = np.zeros((2, 60, 120), np.float32)
    probs[0, 10:50, 10:110] = 1.0
    probs[1, 25:35, 25:35] = 0.99
    probs[1, 25:35, 85:95] = (0.5 + MIN_NUCLEUS_SCORE) / 2  # above the threshold, below the score
    monkeypatch.setattr(sizing, "predict_tiled", lambda model, image, **kw: probs)
    img = np.full((60, 120, 3), 200, np.uint8)  # flat all round: no letterbox is found
    cyt, nuc, info = sizing.sized_masks(None, img, (0.5, 0.5))
    assert info["padding"] == [0, 0, 0, 0]
    assert nuc[30, 30] == 255 and not nuc[:, 60:].any()
    assert cyt[30, 90] == 255  # the cytoplasm stays
