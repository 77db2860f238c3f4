"""QuPath GeoJSON and COCO exports of a field's cells, checked with shapely, the ``geojson``
package's validation and pycocotools' own COCO API."""

from __future__ import annotations

import json

import geojson
import numpy as np
import pytest
from pycocotools.coco import COCO
from shapely.geometry import shape

from cervix.cells import (
    FLAG_NAMES,
    Instances,
    cell_table,
    coco_annotations,
    coco_document,
    coco_image,
    field_geojson,
    napari_vertices,
    polygon_to_mask,
)

NAMES = ["normal", "abnormal"]
COLOURS = {"normal": (1, 115, 178), "abnormal": (222, 143, 5)}


def _field() -> tuple[Instances, list[dict]]:
    """Three cells on a 40x60 field: one with a nucleus, one with a hole and no nucleus, one at the border."""
    cells = np.zeros((40, 60), np.uint16)
    nuclei = np.zeros_like(cells)
    cells[5:20, 5:25] = 1
    nuclei[10:14, 10:15] = 1
    cells[22:38, 30:50] = 2
    cells[27:31, 36:40] = 0  # a hole
    cells[0:10, 50:60] = 3
    nuclei[2:5, 55:58] = 3
    inst = Instances(cells, nuclei, no_nucleus={2})
    rows = cell_table(inst, tiny_area=50)
    for r, p in zip(rows, (0.9, 0.3, 0.6)):
        r.update(
            predicted_class="normal" if p >= 0.5 else "abnormal",
            confidence=max(p, 1 - p),
            prob_normal=p,
            prob_abnormal=1 - p,
        )
    return inst, rows


def test_field_geojson_is_qupath_cells_with_class_and_measurements():
    inst, rows = _field()
    doc = json.loads(json.dumps(field_geojson(inst, rows, NAMES, COLOURS, image="a.png")))
    assert geojson.loads(json.dumps(doc)).is_valid  # the geojson package's validation
    assert doc["type"] == "FeatureCollection" and len(doc["features"]) == 3
    f1, f2, f3 = doc["features"]
    assert f1["properties"]["objectType"] == "cell"
    assert f1["properties"]["classification"] == {"name": "normal", "color": [1, 115, 178]}
    assert f2["properties"]["classification"]["name"] == "abnormal"
    m1 = f1["properties"]["measurements"]
    assert m1["Cell area (px)"] == 300 and m1["Nucleus area (px)"] == 20
    assert m1["N/C ratio"] == pytest.approx(20 / 280)
    assert m1["Probability normal"] == pytest.approx(0.9) and m1["Probability abnormal"] == pytest.approx(0.1)
    assert {f"Flag {f}" for f in FLAG_NAMES} <= m1.keys() and m1["Flag no_nucleus"] == 0
    m2 = f2["properties"]["measurements"]
    assert m2["Flag no_nucleus"] == 1 and m2["N/C ratio"] == 0 and "nucleusGeometry" not in f2
    assert f3["properties"]["measurements"]["Flag touches_border"] == 1
    assert f1["properties"]["metadata"] == {"cell_id": "1", "image": "a.png", "flags": ""}
    # geometries: valid, pixel edges, holes kept, nucleus inside its cell, masks back exactly
    for f, k in zip(doc["features"], (1, 2, 3)):
        g = shape(f["geometry"])
        assert g.is_valid and g.area == (inst.cells == k).sum()
        np.testing.assert_array_equal(polygon_to_mask(g, inst.cells.shape), inst.cells == k)
        if "nucleusGeometry" in f:
            n = shape(f["nucleusGeometry"])
            assert n.is_valid and g.contains(n)
            np.testing.assert_array_equal(polygon_to_mask(n, inst.cells.shape), inst.nuclei == k)
    assert len(shape(f2["geometry"]).interiors) == 1
    assert len({f["id"] for f in doc["features"]}) == 3
    assert field_geojson(inst, rows, NAMES, COLOURS, image="a.png") == doc  # stable ids


def test_napari_gets_y_x_polygons_from_the_geojson():
    inst, rows = _field()
    doc = field_geojson(inst, rows, NAMES, COLOURS)
    data = [v for f in doc["features"] for v in napari_vertices(shape(f["geometry"]))]
    assert len(data) == 3 and all(v.ndim == 2 and v.shape[1] == 2 for v in data)
    ys, xs = data[0][:, 0], data[0][:, 1]
    assert (ys.min(), ys.max(), xs.min(), xs.max()) == (5, 20, 5, 25)  # rows 5-19, columns 5-24


def test_coco_export_reads_back_with_pycocotools():
    inst, rows = _field()
    anns = coco_annotations(inst, rows, NAMES, image_id=7, first_id=11)
    doc = json.loads(json.dumps(coco_document([coco_image(7, "a.png", 40, 60)], anns, NAMES)))
    coco = COCO()
    coco.dataset = doc
    coco.createIndex()
    assert [c["name"] for c in coco.loadCats(coco.getCatIds())] == NAMES
    ids = coco.getAnnIds(imgIds=[7])
    assert ids == [11, 12, 13]
    for a, r in zip(coco.loadAnns(ids), rows):
        k = r["cell_id"]
        np.testing.assert_array_equal(coco.annToMask(a).astype(bool), inst.cells == k)
        assert a["cell_id"] == k and a["area"] == (inst.cells == k).sum() and a["iscrowd"] == 0
        assert a["bbox"] == [r["x0"], r["y0"], r["width"], r["height"]]
        assert a["category_id"] == NAMES.index(r["predicted_class"]) + 1 and a["score"] == r["confidence"]
        assert isinstance(a["segmentation"]["counts"], str)
    assert "nucleus_segmentation" not in coco.anns[12] and "nucleus_segmentation" in coco.anns[11]
    assert doc["info"]["description"] == "cells of cervix analyze"
    assert coco_document([], [], NAMES, "whole cells")["info"]["description"] == "whole cells"
