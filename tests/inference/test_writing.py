"""Tests for cervix.inference.tiling: exact tiling/blending, memory bound, flip TTA, mask writing and QC."""

from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch
from torch import nn

from cervix.inference.writing import list_images, write_masks


class BrightnessNet(nn.Module):
    """Logits from mean brightness (inputs in [0, 1], normalise=False): cell > 0.25, nucleus > 0.75."""

    def __init__(self) -> None:
        super().__init__()
        self.dummy = nn.Parameter(torch.zeros(()))

    def forward(self, x):
        m = x.mean(1, keepdim=True)  # (B, 1, H, W)
        return torch.cat([40 * (m - 0.25), 40 * (m - 0.75)], 1) + self.dummy


def test_write_masks_layout_values_and_qc(tmp_path):
    src = tmp_path / "crops"
    (src / "koilocytotic").mkdir(parents=True)
    (src / "parabasal").mkdir(parents=True)
    cell = np.zeros((70, 90, 3), np.uint8)
    cv2.circle(cell, (45, 35), 25, (150, 150, 150), -1)
    cv2.circle(cell, (45, 35), 8, (250, 250, 250), -1)
    cv2.imwrite(str(src / "koilocytotic" / "c1.png"), cell)
    cv2.imwrite(str(src / "koilocytotic" / "c1-d.png"), cell)  # Herlev mask image: skipped
    cv2.imwrite(str(src / "parabasal" / "empty.jpg"), np.zeros((50, 60, 3), np.uint8))
    (src / "parabasal" / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\n not really")
    (src / "parabasal" / "notes.txt").write_text("x")  # not an image: listed, not used
    (src / ".ipynb_checkpoints").mkdir()
    cv2.imwrite(str(src / ".ipynb_checkpoints" / "c1.png"), cell)  # inside a hidden folder
    passed_over: list = []
    assert [r for _, r in list_images(src, passed_over)] == [
        "koilocytotic/c1.png",
        "parabasal/broken.png",
        "parabasal/empty.jpg",
    ]
    assert {Path(p).name: why for p, why in passed_over} == {
        "c1-d.png": "Herlev mask image (*-d)",
        "notes.txt": "not an image",
        "c1.png": "hidden file",
    }
    out = tmp_path / "masks"
    with pytest.warns(UserWarning, match="1 of 3 images failed.*broken.png"):
        qc = write_masks(BrightnessNet(), src, out, (0.5, 0.5), tile=64, normalise=False, progress=False)
    for head in ("cytoplasm", "nucleus"):
        m1 = cv2.imread(str(out / head / "koilocytotic" / "c1.png"), cv2.IMREAD_UNCHANGED)
        m2 = cv2.imread(str(out / head / "parabasal" / "empty.png"), cv2.IMREAD_UNCHANGED)
        assert m1.shape == (70, 90) and m2.shape == (50, 60) and m1.dtype == np.uint8
        assert set(np.unique(m1)) == {0, 255} and set(np.unique(m2)) == {0}
    assert not (out / "cytoplasm" / "koilocytotic" / "c1-d.png").exists()
    c1 = next(r for r in qc["images"] if r["rel"] == "koilocytotic/c1.png")
    assert abs(c1["cytoplasm_area"] - np.pi * 25**2) < 0.06 * np.pi * 25**2
    assert abs(c1["nucleus_area"] - np.pi * 8**2) < 0.15 * np.pi * 8**2 and c1["flags"] == []
    assert qc["flagged"]["empty_cytoplasm"] == ["parabasal/empty.jpg"]
    assert qc["flagged"]["empty_nucleus"] == ["parabasal/empty.jpg"]
    assert (qc["n_images"], qc["n_written"], qc["n_errors"]) == (3, 2, 1)
    assert qc["errors"][0]["rel"] == "parabasal/broken.png" and "broken.png" in qc["errors"][0]["error"]
    on_disk = json.loads((out / "qc.json").read_text())
    assert on_disk["n_errors"] == 1 and (out / "qc.csv").is_file()
    # every file not written is listed once, with the one-line summary
    assert qc["report"] == f"2 file(s) used, 4 skipped: see {out / 'skipped.csv'}"
    listed = (out / "skipped.csv").read_text()
    assert all(n in listed for n in ("c1-d.png", "notes.txt", ".ipynb_checkpoints", "broken.png"))


def test_write_masks_all_failing_raises(tmp_path):
    bad = tmp_path / "bad.png"
    bad.write_bytes(b"nope")
    with pytest.raises(RuntimeError, match="all 1 images failed.*bad.png"):
        write_masks(BrightnessNet(), [(bad, "bad.png")], tmp_path / "out", progress=False)


def test_masks_refuses_a_name_clash_before_writing_anything(tmp_path):
    src = tmp_path / "crops" / "parabasal"
    src.mkdir(parents=True)
    img = np.full((40, 40, 3), 200, np.uint8)
    cv2.imwrite(str(src / "x.png"), img)
    cv2.imwrite(str(src / "x.jpg"), img)
    cv2.imwrite(str(src / "y.png"), img)
    out = tmp_path / "masks"
    with pytest.raises(ValueError, match=r"x.jpg and .*x.png would both write the mask parabasal/x.png"):
        write_masks(nn.Conv2d(3, 2, 1), tmp_path / "crops", out, tile=64, progress=False)
    assert not out.exists() or not any(out.rglob("*.png"))
