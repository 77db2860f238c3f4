"""Readers, contour rasterisation and decoding, on the real-format samples and small generated folders."""

from __future__ import annotations

import warnings
from collections import Counter

import numpy as np
import pytest
from helpers import write_image

from cervix import data as D
from cervix.core.labels import SIPAKMED_CLASSES


@pytest.mark.parametrize(
    "grouping,expected",
    [
        ("3", {"normal": 8, "benign": 4, "abnormal": 8}),
        ("2", {"normal": 12, "abnormal": 8}),
        ("5", {c: 4 for c in SIPAKMED_CLASSES}),
    ],
)
def test_groupings(tmp_path, make_classes_folder, grouping, expected):
    root = make_classes_folder(tmp_path, per_class=4)
    recs = D.read_dataset(root / "crops", "classes", grouping=grouping)
    assert Counter(r.label for r in recs) == expected
    assert set(D.class_names_of(recs)) == set(expected)


def test_grouping_needs_sipakmed_class_folders(tmp_path):
    write_image(tmp_path / "carcinoma_in_situ" / "a.bmp", np.zeros((8, 8, 3), np.uint8))
    with pytest.raises(ValueError, match="carcinoma_in_situ"):
        D.read_dataset(tmp_path, "classes", grouping="3")
    assert D.read_dataset(tmp_path, "classes")[0].label == "carcinoma_in_situ"  # Herlev-style names ok


def test_empty_dataset_and_unknown_format(tmp_path):
    (tmp_path / "images").mkdir()
    (tmp_path / "images" / "a.txt").write_text("x")
    with pytest.raises(ValueError, match="empty dataset"), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        D.read_dataset(tmp_path, "masks")
    with pytest.raises(ValueError, match="unknown dataset format"):
        D.read_dataset(tmp_path, "labelme")
    with pytest.raises(FileNotFoundError, match="nope"):
        D.read_dataset(tmp_path / "nope", "classes")
    with pytest.raises(ValueError, match="no masks_root"):
        D.read_dataset(tmp_path, "classes", require_masks=True)


def test_nothing_is_passed_over_without_being_listed(tmp_path, make_classes_folder):
    # labelmap: an image without its label map
    lm = tmp_path / "lm"
    for i in range(3):
        write_image(lm / "crops" / "parabasal" / f"{i}.png", np.full((8, 8, 3), 200, np.uint8))
    for i in range(2):
        write_image(lm / "labelmaps" / "parabasal" / f"{i}.png", np.full((8, 8), 51, np.uint8))
    with pytest.warns(UserWarning):
        recs = D.read_dataset(lm, "labelmap")
    assert len(recs) == 2 and any(p.endswith("2.png") and why == "no label map" for p, why in recs.skipped)
    # classes: a hidden image and an empty class folder
    root = make_classes_folder(tmp_path / "c", per_class=2, groups_csv=False)
    write_image(root / "crops" / "parabasal" / ".hidden.png", np.zeros((8, 8, 3), np.uint8))
    (root / "crops" / "metaplastic_extra").mkdir()
    with pytest.warns(UserWarning):
        recs = D.read_dataset(root / "crops", "classes")
    why = dict(recs.skipped)
    assert why[str(root / "crops" / "parabasal" / ".hidden.png")] == "hidden file"
    assert why[str(root / "crops" / "metaplastic_extra")] == "class folder without images"
    assert len(recs) == 10
