"""Cell masks as pixel-edge polygons and COCO RLE: hand-drawn cases, pycocotools as the reference,
and round trips on synthetic and real ISBI 2014 cells."""

from __future__ import annotations

import numpy as np
import pytest
import shapely
from pycocotools import mask as coco_mask
from shapely.geometry import MultiPolygon, Polygon

from cervix.cells import (
    decode_rle,
    encode_rle,
    geometry_from_json,
    geometry_json,
    mask_to_polygon,
    napari_vertices,
    polygon_to_mask,
)


def _iou(a: np.ndarray, b: np.ndarray) -> float:
    return float((a & b).sum() / max((a | b).sum(), 1))


# ------------------------------------------------------------------------------ polygons
def test_a_square_with_a_hole_is_traced_on_pixel_edges():
    m = np.zeros((10, 10), bool)
    m[2:8, 3:9] = True  # rows 2-7, columns 3-8
    m[4:6, 5:7] = False
    g = mask_to_polygon(m)
    assert isinstance(g, Polygon) and g.is_valid
    assert sorted(g.exterior.coords)[:1] == [(3.0, 2.0)] and g.bounds == (3.0, 2.0, 9.0, 8.0)
    assert len(g.exterior.coords) == 5 and len(g.interiors) == 1  # corners only, collinear points dropped
    assert g.interiors[0].bounds == (5.0, 4.0, 7.0, 6.0)
    assert g.area == m.sum() == 32


def test_parts_touching_at_a_corner_give_a_valid_multipolygon_and_offsets_shift():
    m = np.array([[1, 0], [0, 1]], bool)
    g = mask_to_polygon(m, offset=(10, 20))
    assert isinstance(g, MultiPolygon) and g.is_valid and len(g.geoms) == 2
    assert g.bounds == (10.0, 20.0, 12.0, 22.0)
    assert mask_to_polygon(np.zeros((3, 3), bool)) is None
    with pytest.raises(ValueError, match="2-D"):
        mask_to_polygon(np.zeros((2, 2, 2), bool))


def test_polygon_to_mask_inverts_mask_to_polygon_exactly():
    rng = np.random.default_rng(0)
    for _ in range(50):
        h, w = rng.integers(3, 40, 2)
        m = rng.random((h, w)) < rng.uniform(0.2, 0.9)
        g = mask_to_polygon(m)
        assert g.is_valid and g.area == m.sum()
        np.testing.assert_array_equal(polygon_to_mask(g, (h, w)), m)
        # a window of a larger image
        np.testing.assert_array_equal(polygon_to_mask(mask_to_polygon(m, (7, 5)), (h, w), (7, 5)), m)


def test_geometry_json_round_trips_and_bad_geometries_say_why():
    m = np.zeros((6, 6), bool)
    m[1:4, 1:5] = True
    g = mask_to_polygon(m)
    obj = geometry_json(g)
    assert obj == {"type": "Polygon", "coordinates": [[[1, 1], [1, 4], [5, 4], [5, 1], [1, 1]]]}
    assert geometry_from_json(obj, (6, 6)).equals(g)
    with pytest.raises(ValueError, match="type 'Point'"):
        geometry_from_json({"type": "Point", "coordinates": [1, 2]})
    bowtie = {"type": "Polygon", "coordinates": [[[0, 0], [4, 4], [4, 0], [0, 4], [0, 0]]]}
    with pytest.raises(ValueError, match="invalid Polygon: Self-intersection"):
        geometry_from_json(bowtie)
    with pytest.raises(ValueError, match="reaches outside the 4x6 image"):
        geometry_from_json(obj, (6, 4))
    with pytest.raises(ValueError, match="malformed Polygon"):
        geometry_from_json({"type": "Polygon", "coordinates": [[1, 2]]})


def test_napari_vertices_are_y_x_without_the_closing_vertex():
    m = np.zeros((10, 20), bool)
    m[2:4, 5:15] = True  # wide: x spans 5..15, y spans 2..4
    m[7:9, 1:3] = True
    parts = napari_vertices(mask_to_polygon(m))
    assert len(parts) == 2 and all(p.shape[1] == 2 and len(p) == 4 for p in parts)
    wide = max(parts, key=lambda p: np.ptp(p[:, 1]))
    assert wide[:, 0].min() == 2 and wide[:, 0].max() == 4 and wide[:, 1].min() == 5 and wide[:, 1].max() == 15
    assert not np.array_equal(wide[0], wide[-1])


# ------------------------------------------------------------------------------ COCO RLE
def test_window_rle_equals_pycocotools_on_the_full_image():
    rng = np.random.default_rng(1)
    for _ in range(300):
        H, W = rng.integers(1, 50, 2)
        h, w = rng.integers(1, H + 1), rng.integers(1, W + 1)
        y0, x0 = rng.integers(0, H - h + 1), rng.integers(0, W - w + 1)
        win = rng.random((h, w)) < rng.random()
        full = np.zeros((H, W), np.uint8)
        full[y0 : y0 + h, x0 : x0 + w] = win
        ref = coco_mask.encode(np.asfortranarray(full))
        got = encode_rle(win, (x0, y0), (H, W))
        assert got == {"size": [int(H), int(W)], "counts": ref["counts"].decode("ascii")}
        np.testing.assert_array_equal(decode_rle(got, H, W), full.astype(bool))
    with pytest.raises(ValueError, match="does not fit"):
        encode_rle(np.ones((3, 3), bool), (8, 0), (10, 10))


def test_decode_rle_reads_uncompressed_rle_and_polygons_and_refuses_other_sizes():
    m = np.zeros((5, 4), bool)
    m[1:3, 1:4] = True  # column-major runs: 6 zeros, then per column 2 ones 3 zeros ...
    counts = [6, 2, 3, 2, 3, 2, 2]
    np.testing.assert_array_equal(decode_rle({"size": [5, 4], "counts": counts}, 5, 4), m)
    square = decode_rle([[0, 0, 4, 0, 4, 4, 0, 4]], 6, 6)
    assert square[:4, :4].all() and not square[5].any()
    with pytest.raises(ValueError, match="RLE of size"):
        decode_rle(encode_rle(m), 4, 5)
    with pytest.raises(ValueError, match="neither an RLE nor"):
        decode_rle("abc", 5, 4)
    with pytest.raises(ValueError, match="malformed segmentation"):
        decode_rle([["a", "b", "c", "d", "e", "f"]], 5, 4)


# ------------------------------------------------------------------------------ round trips
def _round_trip_ious(cells: list[np.ndarray]) -> tuple[list[float], list[float]]:
    """Per object: IoU of mask -> COCO RLE -> mask, and of mask -> GeoJSON polygon -> mask."""
    rle, poly = [], []
    for m in cells:
        H, W = m.shape
        ys, xs = np.nonzero(m)
        y0, x0 = ys.min(), xs.min()
        win = m[y0 : ys.max() + 1, x0 : xs.max() + 1]
        rle.append(_iou(decode_rle(encode_rle(win, (x0, y0), (H, W)), H, W), m))
        g = geometry_from_json(geometry_json(mask_to_polygon(win, (x0, y0))), (H, W))
        assert shapely.is_valid(g)
        poly.append(_iou(polygon_to_mask(g, (H, W)), m))
    return rle, poly


def test_round_trips_on_synthetic_fields(synth):
    from cervix.data.decode import load_instances, load_mask

    n = 0
    for p in sorted((synth / "fields" / "masks" / "instances").glob("*.png")):
        inst = load_instances(p, None)
        nuc = load_mask(synth / "fields" / "masks" / "nucleus" / p.name, inst.shape) > 0
        cells = [inst == k for k in np.unique(inst) if k]
        nuclei = [(inst == k) & nuc for k in np.unique(inst) if k and ((inst == k) & nuc).any()]
        for objs, floor in ((cells, 0.98), (nuclei, 0.90)):
            rle, poly = _round_trip_ious(objs)
            assert min(rle) == 1.0 and min(poly) >= floor
            n += len(objs)
    assert n > 20


def test_round_trips_on_a_real_isbi_image(real_samples):
    from scipy import ndimage as ndi

    from cervix.data.formats import read_dataset

    cells, nuclei = [], []
    for rec in read_dataset(real_samples / "isbi2014", "isbi2014"):
        s = rec.load()
        lab, n = ndi.label(s.nucleus > 0)
        cells += list(s.cells)
        nuclei += [lab == k for k in range(1, n + 1)]
    for objs, floor in ((cells, 0.98), (nuclei, 0.90)):
        rle, poly = _round_trip_ious(objs)
        assert len(objs) >= 10 and min(rle) == 1.0 and min(poly) >= floor
