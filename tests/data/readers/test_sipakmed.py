"""Readers, contour rasterisation and decoding, on the real-format samples and small generated folders."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from helpers import write_image

from cervix import data as D
from cervix.data import annotations as R


# ------------------------------------------------------------------------------ real samples
def _dats(real: Path) -> list[Path]:
    return sorted((real / "sipakmed" / "contours").glob("*.dat"))


def _fake_sipakmed(tmp: Path, real: Path) -> Path:
    d = tmp / "sipakmed" / "im_Parabasal" / "im_Parabasal"
    d.mkdir(parents=True)
    for p in _dats(real):
        (d / p.name).symlink_to(p)
    rng = np.random.default_rng(0)
    img = rng.integers(0, 256, (1536, 2048, 3), dtype=np.uint8)
    write_image(d / "007.bmp", img)
    write_image(d / "CROPPED" / "007_01.bmp", img[:80, :90])
    write_image(d / "CROPPED" / "007_02.bmp", img[:70, :60])
    (d / "CROPPED" / "notes.txt").write_text("x")
    return tmp / "sipakmed"


def test_sipakmed_reader_end_to_end(real_samples, tmp_path):
    root = _fake_sipakmed(tmp_path, real_samples)
    recs = D.read_dataset(root, "sipakmed")
    assert len(recs) == 1 and recs.skipped == []
    r = recs[0]
    assert (r.label, r.group, Path(r.path).name) == ("parabasal", "parabasal/007", "007.bmp")
    s = r.load()
    assert s.image.shape == (1536, 2048, 3) and s.cytoplasm.shape == s.nucleus.shape == (1536, 2048)
    assert set(np.unique(s.cytoplasm)) == {0, 255} and set(np.unique(s.nucleus)) == {0, 255}
    cells, nuclei = R.rasterize_sipakmed_contours(_dats(real_samples), (1536, 2048))
    assert np.array_equal(s.cytoplasm > 0, cells > 0)
    assert np.array_equal(s.nucleus > 0, nuclei > 0)
    assert not np.any((s.nucleus > 0) & (s.cytoplasm == 0))
    assert len(np.unique(s.instances)) == 17
    # per-cell truth: each cell polygon on its own (overlaps kept) with its own nucleus
    assert s.cells.shape == (16, 1536, 2048) and s.cells.dtype == bool
    assert np.array_equal(s.cells.any(axis=0), s.cytoplasm > 0)
    for k in (0, 15):
        alone = [real_samples / "sipakmed" / "contours" / f"007_{h}{k + 1:02d}.dat" for h in ("cyt", "nuc")]
        c_alone, n_alone = R.rasterize_sipakmed_contours([a for a in alone if a.exists()], (1536, 2048))
        assert np.array_equal(s.cells[k], (c_alone > 0) | (n_alone > 0))
    assert D.read_dataset(root, "sipakmed", grouping="3")[0].label == "normal"
    with pytest.warns(UserWarning, match="notes.txt"):
        crops = D.read_dataset(root, "sipakmed", crops=True)
    assert [Path(c.path).name for c in crops] == ["007_01.bmp", "007_02.bmp"]
    assert {c.group for c in crops} == {"parabasal/007"} and crops[0].load().image.shape == (80, 90, 3)
    assert crops[0].load().cytoplasm is None
    with pytest.raises(ValueError, match="im_Parabasal.*unknown class"):
        D.read_dataset(root, "sipakmed", class_names=["dyskeratotic"])


def test_sipakmed_image_without_contours_is_an_error(tmp_path):
    d = tmp_path / "im_Metaplastic" / "im_Metaplastic"
    write_image(d / "003.bmp", np.zeros((20, 20, 3), np.uint8))
    with pytest.raises(FileNotFoundError, match="003.bmp"):
        D.read_dataset(tmp_path, "sipakmed")
