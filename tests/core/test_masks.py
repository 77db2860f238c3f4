"""Tests for cervix.inference.tiling: exact tiling/blending, memory bound, flip TTA, mask writing and QC."""

from __future__ import annotations

import numpy as np
import pytest

from cervix.core.masks import binarise


def test_binarise_by_hand():
    probs = np.array([[[0.2, 0.5], [0.51, 0.9]], [[0.7, 0.1], [0.3, 0.95]]], np.float32)
    cyt, nuc = binarise(probs, (0.5, 0.8))
    assert cyt.tolist() == [[0, 0], [255, 255]] and nuc.tolist() == [[0, 0], [0, 255]]
    assert cyt.dtype == np.uint8
    with pytest.raises(ValueError):
        binarise(probs, (0.5,))
