"""Per-cell ground truth: ``masks/instances/<id>.png`` of the masks format and the synthetic
fields, the overlapping per-cell masks of ISBI 2014, ``Sample.cells``, and the upgrade of
synthetic caches made before the instance maps existed."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from helpers import write_image

from cervix import data as D


# ------------------------------------------------------------------------------ masks format
def test_masks_reader_loads_instances_and_derives_cells(tmp_path, make_masks_folder):
    root = make_masks_folder(tmp_path / "ds", n=3, size=40)  # images 40x48
    inst = np.zeros((40, 48), np.uint16)
    inst[5:20, 5:30], inst[15:35, 20:45] = 3, 700  # ids need not be consecutive; 16-bit
    write_image(root / "masks" / "instances" / "f001.png", inst)
    write_image(root / "masks" / "instances" / "orphan.png", inst)
    with pytest.warns(UserWarning, match="orphan.png"):
        recs = D.read_dataset(root, "masks")
    assert [r.instances is not None for r in recs] == [False, True, False]
    assert any(p.endswith("orphan.png") and why == "mask without an image" for p, why in recs.skipped)
    s = recs[1].load()
    assert s.instances.dtype == np.int32 and np.array_equal(s.instances, inst)
    assert s.cells.shape == (2, 40, 48) and s.cells.dtype == bool
    assert np.array_equal(s.cells[0], inst == 3) and np.array_equal(s.cells[1], inst == 700)
    (root / "masks" / "instances" / "orphan.png").unlink()
    absent = recs[0].load()
    assert absent.instances is None and absent.cells is None and absent.cytoplasm is not None
    write_image(root / "masks" / "instances" / "f002.png", np.zeros((10, 10), np.uint16))
    with pytest.raises(ValueError, match="instances/f002.png.*differs"):
        D.read_dataset(root, "masks")[2].load()
    write_image(root / "masks" / "instances" / "f002.png", np.zeros((40, 48, 3), np.uint8))
    with pytest.raises(ValueError, match="instances/f002.png.*one channel"):
        D.read_dataset(root, "masks")[2].load()


# ------------------------------------------------------------------------------ generated folders
def test_masks_folder(tmp_path, make_masks_folder):
    root = make_masks_folder(tmp_path / "ds", n=3)
    (root / "images" / "README.txt").write_text("hello")
    write_image(root / "masks" / "cytoplasm" / "orphan.png", np.zeros((4, 4), np.uint8))
    with pytest.warns(UserWarning, match="README.txt"):
        recs = D.read_dataset(root, "masks")
    assert [r.group for r in recs] == ["f000", "f001", "f002"]
    assert {Path(p).name for p, _ in recs.skipped} == {"README.txt", "orphan.png"}
    s = recs[1].load()
    assert s.image.shape == (48, 56, 3) and s.label is None
    assert set(np.unique(s.cytoplasm)) == {0, 255} and not np.any((s.nucleus > 0) & (s.cytoplasm == 0))
