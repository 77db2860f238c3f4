"""The ``coco`` format: a folder of images and one COCO instances file, read back as per-cell
truth (RLE and polygons, nuclei per cell or as their own category), and refused with one line
naming the file when it is bad."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from helpers import write_image

from cervix import data as D
from cervix.cells import encode_rle


def _doc(annotations: list, images: list | None = None, categories: list | None = None) -> dict:
    return {
        "images": images if images is not None else [{"id": 1, "file_name": "sub/a.png", "height": 30, "width": 40}],
        "annotations": annotations,
        "categories": categories or [{"id": 1, "name": "cell"}, {"id": 2, "name": "Nucleus"}],
    }


def _folder(root: Path, doc: dict) -> Path:
    write_image(root / "sub" / "a.png", np.full((30, 40, 3), 200, np.uint8))
    (root / "cells.json").write_text(json.dumps(doc))
    return root


def _box(x0, y0, x1, y1) -> np.ndarray:
    m = np.zeros((30, 40), bool)
    m[y0:y1, x0:x1] = True
    return m


def test_rle_cells_polygon_cells_and_nuclei_are_read_as_per_cell_truth(tmp_path):
    a, b = _box(2, 3, 20, 15), _box(15, 10, 35, 28)
    anns = [
        {
            "id": 1,
            "image_id": 1,
            "category_id": 1,
            "segmentation": encode_rle(a),
            "nucleus_segmentation": encode_rle(_box(5, 5, 9, 9)),
        },
        {"id": 2, "image_id": 1, "category_id": 1, "segmentation": [[15, 10, 35, 10, 35, 28, 15, 28]]},
        {"id": 3, "image_id": 1, "category_id": 2, "segmentation": encode_rle(_box(25, 20, 28, 23))},
    ]
    _folder(tmp_path, _doc(anns))
    write_image(tmp_path / "other.png", np.zeros((5, 5, 3), np.uint8))
    recs = D.read_dataset(tmp_path, "coco", require_masks=True)
    assert len(recs) == 1 and recs.skipped == [(str(tmp_path / "other.png"), "not listed in the COCO file")]
    s = recs[0].load()
    assert s.cells.shape == (2, 30, 40) and np.array_equal(s.cells[0], a)
    assert abs(int(s.cells[1].sum()) - int(b.sum())) <= 40  # pycocotools' polygon rasterisation
    assert s.cells[0, 10:15, 15:20].all() and s.cells[1, 11:15, 16:20].all()  # the overlap in both
    nuc = s.nucleus > 0
    assert nuc[5:9, 5:9].all() and nuc[20:23, 25:28].all() and nuc.sum() == 16 + 9
    assert s.instances[12, 17] == 2 and s.instances[4, 3] == 1


@pytest.mark.parametrize(
    "doc, message",
    [
        (
            _doc([{"id": 1, "image_id": 9, "segmentation": [[0, 0, 1, 0, 1, 1]]}]),
            "annotation 1 has no segmentation or an image_id not in 'images'",
        ),
        (
            _doc([{"id": 1, "image_id": 1, "segmentation": [[0, 0, 50, 0, 50, 5]]}]),
            "annotation 1: polygon reaches outside the 40x30 image sub/a.png",
        ),
        (
            _doc([{"id": 1, "image_id": 1, "segmentation": {"size": [10, 10], "counts": "abc"}}]),
            r"annotation 1: RLE of size \[10, 10\]",
        ),
        (_doc([{"id": 1, "image_id": 1, "segmentation": [[0, 0, 1]]}]), "annotation 1: a polygon needs at least 3"),
        (_doc([], images=[{"id": 1, "file_name": "sub/a.png"}]), "image 1 lacks one of id, file_name, height, width"),
        (
            _doc([], images=[{"id": 1, "file_name": "sub/a.png", "height": 31, "width": 40}]),
            "image sub/a.png is listed as 40x31 but is 40x30",
        ),
    ],
)
def test_bad_coco_files_are_refused_with_the_file_and_the_first_problem(tmp_path, doc, message):
    _folder(tmp_path, doc)
    with pytest.raises(ValueError, match=f"^{tmp_path / 'cells.json'}: {message}"):
        D.read_dataset(tmp_path, "coco", require_masks=True)


def test_a_listed_image_that_is_missing_and_several_coco_files(tmp_path):
    _folder(tmp_path, _doc([], images=[{"id": 1, "file_name": "gone.png", "height": 30, "width": 40}]))
    with pytest.raises(FileNotFoundError, match=r"cells.json: image 'gone.png' is not in"):
        D.read_dataset(tmp_path, "coco")
    _folder(tmp_path, _doc([]))
    (tmp_path / "copy.json").write_text(json.dumps(_doc([])))
    with pytest.raises(ValueError, match="several COCO files"):
        D.read_dataset(tmp_path, "coco")
    (tmp_path / "copy.json").unlink()
    (tmp_path / "cells.json").unlink()
    with pytest.raises(FileNotFoundError, match="no COCO instances .json was found$"):
        D.read_dataset(tmp_path, "coco", require_masks=True)
    (tmp_path / "cells.json").write_text(json.dumps({"images": []}))
    with pytest.raises(FileNotFoundError, match=r"found \(.*cells.json: not a COCO instances file"):
        D.read_dataset(tmp_path, "coco", require_masks=True)
