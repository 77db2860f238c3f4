"""Per-cell ground truth: ``masks/instances/<id>.png`` of the masks format and the synthetic
fields, the overlapping per-cell masks of ISBI 2014, ``Sample.cells``, and the upgrade of
synthetic caches made before the instance maps existed."""
from __future__ import annotations

import os
import shutil
import warnings
from pathlib import Path

import numpy as np
import pytest
from scipy.io import loadmat, savemat

from conftest import write_image
from cervix import data as D
from cervix.core.paths import project_root

SYNTH = dict(n_fields=2, n_crops=5, field_size=256)


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


def test_cells_from_instances_of_an_empty_map():
    assert D.cells_from_instances(np.zeros((4, 5), np.int32)).shape == (0, 4, 5)


# ------------------------------------------------------------------------------ synthetic
def test_synthetic_fields_carry_their_cells(tmp_path):
    recs = D.read_dataset(tmp_path / "s", "synthetic", synth=SYNTH)
    assert len(recs) == 2
    for r in recs:
        s = r.load()
        ids = np.unique(s.instances)
        assert ids[0] == 0 and len(s.cells) == len(ids) - 1 > 0
        assert np.array_equal(s.cells.any(axis=0), s.cytoplasm > 0)
        assert not (s.cells.sum(axis=0) > 1).any()  # visible parts: an instance map has no overlaps


def test_an_old_synthetic_cache_gets_its_instances(tmp_path):
    out = D.ensure_synthetic(tmp_path / "s", progress=False, **SYNTH)
    inst = out / "fields" / "masks" / "instances"
    want = {p.name: p.read_bytes() for p in inst.iterdir()}
    others = {p: (p.stat().st_mtime_ns, p.read_bytes()) for p in out.rglob("*") if p.is_file()
              and inst not in p.parents}
    shutil.rmtree(inst)  # as a cache made before the instance maps existed
    assert D.ensure_synthetic(out, progress=False, **SYNTH) == out
    assert {p.name: p.read_bytes() for p in inst.iterdir()} == want
    assert {p: (p.stat().st_mtime_ns, p.read_bytes()) for p in others} == others  # untouched
    assert not out.with_name("s.partial").exists()
    # a cache whose fields today's generator no longer makes is refused, not given wrong truth
    shutil.rmtree(inst)
    cyt = out / "fields" / "masks" / "cytoplasm" / "field_0001.png"
    write_image(cyt, np.zeros((256, 256), np.uint8))
    with pytest.raises(ValueError, match="older synthetic generator"):
        D.ensure_synthetic(out, progress=False, **SYNTH)
    assert not inst.exists() and not out.with_name("s.partial").exists()


# ------------------------------------------------------------------------------ ISBI 2014
def _isbi_two_overlapping_cells(root: Path) -> tuple[np.ndarray, np.ndarray]:
    a, b = np.zeros((30, 40), np.uint8), np.zeros((30, 40), np.uint8)
    a[4:20, 4:24], b[10:26, 16:36] = 1, 1  # overlap: rows 10-19, columns 16-23
    cyt, nuc = np.empty((1, 1), object), np.empty((1, 1), object)
    cells = np.empty((2, 1), object)
    cells[0, 0], cells[1, 0] = a, b
    k = np.zeros((30, 40), np.uint8)
    k[10:13, 10:13] = k[18:21, 28:31] = 1
    cyt[0, 0], nuc[0, 0] = cells, k
    write_image(root / "images" / "1.tif", np.full((30, 40), 150, np.uint8))
    savemat(root / "gt.mat", {"train_Cytoplasm": cyt, "train_Nuclei": nuc})
    return np.stack([a, b]) > 0, k > 0


def test_isbi_keeps_overlapping_cells(tmp_path):
    want, nuc = _isbi_two_overlapping_cells(tmp_path)
    s = D.read_dataset(tmp_path, "isbi2014", require_masks=True)[0].load()
    assert s.cells.shape == (2, 30, 40) and s.cells.dtype == bool
    assert np.array_equal(s.cells, want)
    assert s.cells[0, 10:20, 16:24].all() and s.cells[1, 10:20, 16:24].all()  # the overlap in both
    assert np.array_equal(s.cytoplasm > 0, want.any(axis=0)) and np.array_equal(s.nucleus > 0, nuc)
    assert s.instances is None


def _real_dev_isbi() -> Path:
    root = Path(os.environ.get("CERVIX_REAL_DEV", project_root().parent / "shared" / "data" / "real-dev"))
    p = root / "isbi2014"
    if not p.is_dir():  # absent data is a failure under CI, where it must be there
        (pytest.fail if os.environ.get("CI") else pytest.skip)(f"no real ISBI 2014 data at {p} (set CERVIX_REAL_DEV)")
    return p


def test_real_isbi_cells_are_the_mat_cells():
    root = _real_dev_isbi()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        recs = D.read_dataset(root, "isbi2014", require_masks=True)
    mat = loadmat(next(root.glob("*.mat")))["train_Cytoplasm"]
    overlaps = 0
    for i in (0, 12, 29):  # 2, 4 and 7 cells
        s = recs[i].load()
        truth = np.stack([m[0] > 0 for m in mat[i, 0]])
        assert s.cells.shape == truth.shape == (len(truth), 512, 512)
        assert np.array_equal(s.cells, truth)
        assert np.array_equal(s.cytoplasm > 0, truth.any(axis=0))
        overlaps += int((s.cells.sum(axis=0) > 1).sum())
    assert overlaps > 0  # the challenge's cells overlap, and the overlaps are kept
