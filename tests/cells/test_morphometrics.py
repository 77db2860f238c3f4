"""Tests of cervix.cells.morphometrics with hand-computed cases."""

from __future__ import annotations

import math

import numpy as np
import pytest

from cervix.cells.morphometrics import cell_morphometrics, colour_stats, nc_ratio


def _masks() -> tuple[np.ndarray, np.ndarray]:
    cyt = np.zeros((20, 20), np.uint8)
    cyt[2:12, 2:12] = 255  # 10 x 10 = 100 px whole cell
    nuc = np.zeros((20, 20), np.uint8)
    nuc[5:9, 5:9] = 255  # 4 x 4 = 16 px
    return cyt, nuc


def test_areas_and_nc_ratio_hand_computed():
    cyt, nuc = _masks()
    m = cell_morphometrics(cyt, nuc)
    assert m["cell_area"] == 100 and m["nucleus_area"] == 16 and m["cytoplasm_area"] == 84
    assert m["nc_ratio"] == pytest.approx(16 / 84)
    assert m["nucleus_fraction"] == pytest.approx(0.16)
    assert m["n_nuclei"] == 1
    assert 0.6 < m["nucleus_circularity"] <= 1.0


def test_threshold_bool_and_two_nuclei():
    cyt, nuc = _masks()
    nuc[10, 10] = 200  # > 127: counts; a second component
    cyt_soft = np.where(cyt > 0, 128, 127).astype(np.uint8)  # 127 is background
    m = cell_morphometrics(cyt_soft, nuc)
    assert m["nucleus_area"] == 17 and m["n_nuclei"] == 2 and m["cell_area"] == 100
    m2 = cell_morphometrics(cyt > 0, nuc > 127)
    assert m2["nucleus_area"] == 17


def test_zero_cases():
    cyt, _ = _masks()
    m = cell_morphometrics(cyt, cyt)  # nucleus fills the cell: no cytoplasm proper
    assert math.isnan(m["nc_ratio"]) and m["nucleus_fraction"] == 1.0
    m = cell_morphometrics(cyt, None)
    assert m["nc_ratio"] == 0.0 and m["n_nuclei"] == 0 and math.isnan(m["nucleus_circularity"])
    empty = np.zeros((5, 5), np.uint8)
    m = cell_morphometrics(empty, empty)
    assert m["cell_area"] == 0 and math.isnan(m["nc_ratio"]) and math.isnan(m["nucleus_fraction"])


def test_nucleus_outside_cytoplasm_counts_in_cell():
    cyt = np.zeros((10, 10), np.uint8)
    cyt[0:5, 0:5] = 255  # 25
    nuc = np.zeros((10, 10), np.uint8)
    nuc[4:6, 4:6] = 255  # 4 px, 3 outside the cytoplasm mask
    m = cell_morphometrics(cyt, nuc)
    assert m["cell_area"] == 28 and m["cytoplasm_area"] == 24


def test_colour_stats_hand_computed():
    cyt, nuc = _masks()
    img = np.zeros((20, 20, 3), np.uint8)
    img[cyt > 0] = (255, 0, 0)  # pure red cytoplasm
    img[nuc > 0] = (0, 0, 255)  # pure blue nucleus
    s = colour_stats(img, cyt, nuc)
    assert (s["cyto_R"], s["cyto_G"], s["cyto_B"]) == (255, 0, 0)
    assert s["cyto_H"] == pytest.approx(0.0) and s["cyto_S"] == 1.0 and s["cyto_V"] == 1.0
    assert (s["nuc_R"], s["nuc_G"], s["nuc_B"]) == (0, 0, 255)
    assert s["nuc_H"] == pytest.approx(240.0)


def test_colour_stats_circular_hue_and_empty_nucleus():
    cyt = np.full((2, 2), 255, np.uint8)
    img = np.zeros((2, 2, 3), np.uint8)
    img[0] = (255, 0, 26)  # hue ~354 deg
    img[1] = (255, 26, 0)  # hue ~6 deg
    s = colour_stats(img, cyt, None)
    assert min(s["cyto_H"], 360 - s["cyto_H"]) < 1.0  # circular mean ~0, not 180
    assert math.isnan(s["nuc_R"])


def test_bad_input():
    cyt, nuc = _masks()
    with pytest.raises(ValueError, match="differ"):
        cell_morphometrics(cyt, nuc[:10])
    with pytest.raises(ValueError, match="uint8 RGB"):
        colour_stats(np.zeros((20, 20), np.uint8), cyt, nuc)
    with pytest.raises(ValueError, match="both None"):
        cell_morphometrics(None, None)


def test_nc_ratio_is_nucleus_over_cytoplasm_and_nan_without_cytoplasm():
    assert nc_ratio(16, 84) == pytest.approx(16 / 84)
    assert math.isnan(nc_ratio(16, 0))
