"""Per-cell ground truth: ``masks/instances/<id>.png`` of the masks format and the synthetic
fields, the overlapping per-cell masks of ISBI 2014, ``Sample.cells``, and the upgrade of
synthetic caches made before the instance maps existed."""

from __future__ import annotations

import json
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


def test_masks_cells_json_gives_the_whole_cells(tmp_path, make_masks_folder):
    from cervix.cells import coco_document, coco_image, encode_rle

    root = make_masks_folder(tmp_path / "ds", n=3, size=40)  # images 40x48
    inst = np.zeros((40, 48), np.uint16)
    inst[5:20, 5:30], inst[15:35, 20:45] = 1, 2  # cell 2 on top of cell 1
    write_image(root / "masks" / "instances" / "f001.png", inst)
    whole1 = np.zeros((40, 48), bool)
    whole1[5:25, 5:30] = True  # cell 1 reaches under cell 2
    anns = [
        {"id": 1, "image_id": 9, "category_id": 1, "segmentation": encode_rle(whole1[5:25, 5:30], (5, 5), (40, 48))},
        {"id": 2, "image_id": 9, "category_id": 2, "segmentation": encode_rle(inst == 2)},
    ]
    images = [coco_image(9, "f001.png", 40, 48), coco_image(4, "f002.png", 40, 48), coco_image(5, "gone.png", 9, 9)]
    cells_json = root / "masks" / "cells.json"
    cells_json.write_text(json.dumps(coco_document(images, anns, ["a", "b"])))
    recs = D.read_dataset(root, "masks")
    s = recs[1].load()
    assert np.array_equal(s.instances, inst)  # the visible parts, as before
    assert s.cells.shape == (2, 40, 48)
    assert np.array_equal(s.cells[0], whole1) and np.array_equal(s.cells[1], inst == 2)
    assert (s.cells.sum(axis=0) == 2).sum() == 10 * 10  # rows 15-24, columns 20-29 shared
    listed_empty = recs[2].load()  # listed without annotations: no cells, no instance map needed
    assert listed_empty.cells.shape == (0, 40, 48) and listed_empty.instances is None
    assert recs[0].load().cells is None  # not listed, no instance map
    cells_json.write_text("{not json")
    with pytest.raises(ValueError, match=r"cells\.json: not valid JSON") as e:
        D.read_dataset(root, "masks")
    assert "\n" not in str(e.value)
    cells_json.write_text(
        json.dumps(coco_document(images, [{**anns[0], "segmentation": {"size": [4, 4], "counts": "x"}}], ["a"]))
    )
    with pytest.raises(ValueError, match=r"cells\.json: annotation 1: RLE of size \[4, 4\]"):
        D.read_dataset(root, "masks")
