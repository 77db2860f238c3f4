"""Readers, contour rasterisation and decoding, on the real-format samples and small generated folders."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from cervix.data import annotations as R


# ------------------------------------------------------------------------------ real samples
def _dats(real: Path) -> list[Path]:
    return sorted((real / "sipakmed" / "contours").glob("*.dat"))


def test_rasterise_real_sipakmed_contours(real_samples):
    dats = _dats(real_samples)
    assert len(dats) == 31
    cells, nuclei = R.rasterize_sipakmed_contours(dats, (1536, 2048))
    assert cells.shape == nuclei.shape == (1536, 2048) and cells.dtype == nuclei.dtype == np.int32
    assert sorted(np.unique(cells))[1:] == list(range(1, 17))  # 16 cells
    assert sorted(np.unique(nuclei))[1:] == list(range(1, 16))  # 15 nuclei; cell 16 has none
    for nn in range(1, 16):
        # each nucleus polygon on its own lies inside its own cell polygon on its own
        cyt = real_samples / "sipakmed" / "contours" / f"007_cyt{nn:02d}.dat"
        nuc = real_samples / "sipakmed" / "contours" / f"007_nuc{nn:02d}.dat"
        c_alone, _ = R.rasterize_sipakmed_contours([cyt], (1536, 2048))
        _, n_alone = R.rasterize_sipakmed_contours([nuc], (1536, 2048))
        n_px = n_alone == nn
        assert n_px.sum() > 100
        assert (c_alone[n_px] == nn).mean() > 0.99
        assert (cells[n_px] == nn).all()  # and in the combined map
    pts = R.read_sipakmed_contour(dats[0])
    assert pts.shape[1] == 2 and pts[:, 0].max() < 2048 and pts[:, 1].max() < 1536
