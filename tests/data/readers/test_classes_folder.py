"""Readers, contour rasterisation and decoding, on the real-format samples and small generated folders."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import numpy as np
import pytest
from helpers import write_image

from cervix import data as D
from cervix.core.labels import SIPAKMED_CLASSES


def test_classes_folder_masks_groups_and_herlev(tmp_path, make_classes_folder):
    root = make_classes_folder(tmp_path, per_class=4, per_group=2)
    write_image(root / "crops" / "parabasal" / "c00-d.bmp", np.zeros((8, 8), np.uint8))  # Herlev mask
    with pytest.warns(UserWarning, match="c00-d.bmp"):
        recs = D.read_dataset(root / "crops", "classes", masks_root=root / "crops_masks")
    assert len(recs) == 20 and any("Herlev" in why for _, why in recs.skipped)
    r = next(r for r in recs if r.path.endswith("parabasal/c03.png"))
    assert r.label == "parabasal" and r.group == "field_para_1"  # from groups.csv
    s = r.load()
    assert s.cytoplasm is not None and s.cytoplasm.shape == s.image.shape[:2]
    assert D.class_names_of(recs) == list(SIPAKMED_CLASSES)
    (root / "crops" / "groups.csv").unlink()
    with pytest.warns(UserWarning):
        plain = D.read_dataset(root / "crops", "classes")
    assert next(x for x in plain if x.path.endswith("parabasal/c03.png")).group == "parabasal/c03"
    assert plain[0].load().cytoplasm is None and not plain[0].has_masks


def test_herlev_two_class_grouping(tmp_path):
    from cervix.core.labels import HERLEV_CLASSES

    for c in HERLEV_CLASSES:
        write_image(tmp_path / c / "a.BMP", np.zeros((8, 8, 3), np.uint8))
    recs = D.read_dataset(tmp_path, "classes", grouping="2")
    assert Counter(r.label for r in recs) == {"normal": 3, "abnormal": 4}
    assert D.class_names_of(recs) == ["normal", "abnormal"]
    by_class = {Path(r.path).parent.name: r.label for r in recs}
    assert by_class["normal_columnar"] == "normal" and by_class["light_dysplastic"] == "abnormal"


def test_missing_mask_in_masks_root_and_unknown_class(tmp_path, make_classes_folder):
    root = make_classes_folder(tmp_path, per_class=2)
    (root / "crops_masks" / "nucleus" / "metaplastic" / "c01.png").unlink()
    with pytest.raises(FileNotFoundError, match="nucleus/metaplastic/c01.png"):
        D.read_dataset(root / "crops", "classes", masks_root=root / "crops_masks")
    with pytest.raises(ValueError, match="koilocytotic"):
        D.read_dataset(root / "crops", "classes", class_names=["parabasal", "metaplastic"])


def _groups_csv(root, lines):
    (root / "crops" / "groups.csv").write_text("path,group\n" + "\n".join(lines) + "\n")


def test_groups_csv_every_crop_needs_its_group(tmp_path, make_classes_folder):
    root = make_classes_folder(tmp_path, per_class=2, per_group=2)
    rows = (root / "crops" / "groups.csv").read_text().splitlines()[1:]
    _groups_csv(root, rows[:3])  # a third of the rows kept: before, the rest got a group each, silently
    with pytest.raises(ValueError, match=r"groups.csv does not match the crops: 7 crop\(s\) without a row"):
        D.read_dataset(root / "crops", "classes")
    _groups_csv(root, rows + ["parabasal/gone.png,field_x"])
    with pytest.raises(ValueError, match=r"1 row\(s\) without a crop \['parabasal/gone.png'\]"):
        D.read_dataset(root / "crops", "classes")
    _groups_csv(root, rows + [rows[0].split(",")[0] + ",another_field"])
    with pytest.raises(ValueError, match="two different groups"):
        D.read_dataset(root / "crops", "classes")
    # Windows paths and ./ are the same crops
    _groups_csv(root, [r.replace("/", "\\") if i % 2 else "./" + r for i, r in enumerate(rows)])
    recs = D.read_dataset(root / "crops", "classes")
    assert {r.group for r in recs} == {r.split(",")[1] for r in rows}
