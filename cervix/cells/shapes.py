"""Cell masks as the shapes the field's viewers read: polygons (QuPath GeoJSON, napari Shapes) and
COCO run-length encodings.

Polygons are traced on pixel *edges*: pixel ``(row r, column c)`` is the unit square
``[c, c + 1] x [r, r + 1]`` in image coordinates, as QuPath and shapely draw it, so a polygon covers
exactly its mask's pixels and turning it back into a mask (:func:`polygon_to_mask`, a pixel belongs
to the polygon that contains its centre) gives the same pixels. The polygon is the union of the
mask's row runs (shapely), so it is valid, keeps holes and is a MultiPolygon where the mask has
several parts. COCO RLE is pycocotools' (Lin et al., ECCV 2014): :func:`encode_rle` builds the
column-major runs of the full image from a cell's window only (a field of 2048 x 1536 px has
hundreds of cells), and pycocotools compresses them.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import shapely
from pycocotools import mask as coco_mask
from shapely.geometry import MultiPolygon, Polygon, mapping, shape

__all__ = [
    "mask_to_polygon",
    "polygon_to_mask",
    "geometry_json",
    "geometry_from_json",
    "napari_vertices",
    "encode_rle",
    "decode_rle",
]


# --------------------------------------------------------------------------------------------
# Polygons
# --------------------------------------------------------------------------------------------
def _row_runs(mask: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Row, first column and end column (exclusive) of every horizontal run of True pixels."""
    padded = np.zeros((mask.shape[0], mask.shape[1] + 2), np.int8)
    padded[:, 1:-1] = mask
    d = np.diff(padded, axis=1)  # +1 where a run starts, -1 one past where it ends
    rows, starts = np.nonzero(d == 1)
    _, ends = np.nonzero(d == -1)  # row-major order: the k-th end closes the k-th start
    return rows, starts, ends


def mask_to_polygon(mask: np.ndarray, offset: tuple[int, int] = (0, 0)) -> Polygon | MultiPolygon | None:
    """The pixel-edge outline of a binary mask.

    Args:
        mask: (H, W) bool (or 0/nonzero) mask, e.g. a cell's window of a label map.
        offset: ``(x, y)`` of the mask's top-left pixel in the image.

    Returns:
        A valid Polygon (one part) or MultiPolygon (several), holes kept, coordinates on pixel
        edges in image pixels; None for an empty mask.
    """
    m = np.asarray(mask).astype(bool)
    if m.ndim != 2:
        raise ValueError(f"mask must be 2-D, got shape {m.shape}")
    rows, starts, ends = _row_runs(m)
    if not len(rows):
        return None
    x0, y0 = offset
    boxes = shapely.box(starts + x0, rows + y0, ends + x0, rows + 1 + y0)
    geom = shapely.normalize(shapely.simplify(shapely.union_all(boxes), 0))  # drop collinear vertices
    return geom


def polygon_to_mask(geom: Any, shape: tuple[int, int], offset: tuple[int, int] = (0, 0)) -> np.ndarray:
    """Pixels whose centres lie inside ``geom`` (a shapely geometry in image pixels).

    Args:
        geom: Polygon or MultiPolygon.
        shape: ``(H, W)`` of the window to fill.
        offset: ``(x, y)`` of the window's top-left pixel in the image.

    Returns:
        (H, W) bool; the exact inverse of :func:`mask_to_polygon`.
    """
    h, w = int(shape[0]), int(shape[1])
    out = np.zeros((h, w), bool)
    if geom is None or geom.is_empty:
        return out
    gx0, gy0, gx1, gy1 = geom.bounds
    x0, y0 = offset
    c0, c1 = max(0, int(np.floor(gx0 - x0))), min(w, int(np.ceil(gx1 - x0)))
    r0, r1 = max(0, int(np.floor(gy0 - y0))), min(h, int(np.ceil(gy1 - y0)))
    if c1 <= c0 or r1 <= r0:
        return out
    yy, xx = np.mgrid[r0:r1, c0:c1]
    out[r0:r1, c0:c1] = shapely.contains_xy(geom, xx + x0 + 0.5, yy + y0 + 0.5)
    return out


def _plain(value: Any) -> Any:
    """Nested tuples of coordinates as lists, whole numbers as int (smaller files)."""
    if isinstance(value, (tuple, list)):
        return [_plain(v) for v in value]
    f = float(value)
    return int(f) if f.is_integer() else f


def geometry_json(geom: Polygon | MultiPolygon) -> dict[str, Any]:
    """A GeoJSON geometry object (``{"type": "Polygon", "coordinates": [...]}``) of a shapely geometry."""
    g = mapping(geom)
    return {"type": g["type"], "coordinates": _plain(g["coordinates"])}


def geometry_from_json(obj: Any, image_size: tuple[int, int] | None = None) -> Polygon | MultiPolygon:
    """A GeoJSON Polygon or MultiPolygon as a shapely geometry, checked.

    Args:
        obj: the geometry object.
        image_size: ``(H, W)``: the geometry must lie inside the image.

    Raises:
        ValueError: not a Polygon/MultiPolygon, malformed coordinates, an invalid (e.g.
            self-intersecting) or empty polygon, or one reaching outside the image. The message
            says what is wrong, the caller names the file.
    """
    if not isinstance(obj, Mapping) or obj.get("type") not in ("Polygon", "MultiPolygon"):
        kind = obj.get("type") if isinstance(obj, Mapping) else type(obj).__name__
        raise ValueError(f"geometry of type {kind!r}, expected Polygon or MultiPolygon")
    try:
        geom = shape(obj)
    except Exception as e:  # shapely raises several types for malformed coordinates
        raise ValueError(f"malformed {obj['type']} coordinates ({e})") from None
    if geom.is_empty:
        raise ValueError(f"empty {obj['type']}")
    if not geom.is_valid:
        raise ValueError(f"invalid {obj['type']}: {shapely.is_valid_reason(geom)}")
    if image_size is not None:
        h, w = image_size
        x0, y0, x1, y1 = geom.bounds
        if x0 < 0 or y0 < 0 or x1 > w or y1 > h:
            raise ValueError(
                f"{obj['type']} with bounds ({x0:g}, {y0:g}, {x1:g}, {y1:g}) reaches outside the {w}x{h} image"
            )
    return geom


def napari_vertices(geom: Polygon | MultiPolygon) -> list[np.ndarray]:
    """The data of a napari Shapes layer of ``shape_type="polygon"``: one (K, 2) float array of
    ``(y, x)`` vertices per polygon part (exterior ring, no repeated closing vertex)."""
    parts = geom.geoms if isinstance(geom, MultiPolygon) else [geom]
    return [np.asarray(p.exterior.coords, dtype=float)[:-1, ::-1].copy() for p in parts]


# --------------------------------------------------------------------------------------------
# COCO run-length encoding
# --------------------------------------------------------------------------------------------
def encode_rle(mask: np.ndarray, offset: tuple[int, int] = (0, 0), size: tuple[int, int] | None = None) -> dict:
    """COCO compressed RLE of a mask placed in an image.

    Args:
        mask: (h, w) bool window of the image holding the whole object.
        offset: ``(x, y)`` of the window's top-left pixel in the image.
        size: ``(H, W)`` of the image (default: the window is the image).

    Returns:
        ``{"size": [H, W], "counts": str}`` as ``pycocotools.mask.encode`` gives it for the
        full-image mask (the counts string decoded from bytes, as COCO JSON stores it).
    """
    m = np.asarray(mask).astype(bool)
    h, w = m.shape
    H, W = size if size is not None else (h, w)
    x0, y0 = offset
    if x0 < 0 or y0 < 0 or x0 + w > W or y0 + h > H:
        raise ValueError(f"a {w}x{h} window at ({x0}, {y0}) does not fit a {W}x{H} image")
    cols = np.zeros((H, w), np.uint8)  # the window's columns at full height
    cols[y0 : y0 + h] = m
    flat = cols.ravel(order="F")
    change = np.flatnonzero(np.diff(flat)) + 1
    bounds = np.concatenate([[0], change, [flat.size]])
    runs = np.diff(bounds).tolist()
    if flat[0]:  # COCO counts start with a run of zeros
        runs.insert(0, 0)
    runs[0] += x0 * H  # whole columns left of the window
    right = (W - x0 - w) * H  # whole columns right of it
    if flat[-1] and right:
        runs.append(right)
    elif not flat[-1]:
        runs[-1] += right
    rle = coco_mask.frPyObjects({"counts": runs, "size": [int(H), int(W)]}, int(H), int(W))
    return {"size": [int(H), int(W)], "counts": rle["counts"].decode("ascii")}


def decode_rle(segmentation: Any, height: int, width: int) -> np.ndarray:
    """A COCO ``segmentation`` (compressed or uncompressed RLE, or polygons) as an (H, W) bool mask.

    Raises:
        ValueError: a malformed segmentation or one of another size than ``(height, width)``.
    """
    h, w = int(height), int(width)
    if isinstance(segmentation, Mapping) and list(segmentation.get("size", [])) != [h, w]:
        raise ValueError(f"RLE of size {segmentation.get('size')} in an image of size {[h, w]}")
    is_polygons = isinstance(segmentation, Sequence) and not isinstance(segmentation, (str, bytes))
    if not isinstance(segmentation, Mapping) and not (is_polygons and segmentation):
        raise ValueError("segmentation is neither an RLE nor a list of polygons")
    try:
        if isinstance(segmentation, Mapping):
            counts = segmentation["counts"]
            rle = (
                coco_mask.frPyObjects(dict(segmentation), h, w)
                if isinstance(counts, list)
                else {"size": [h, w], "counts": counts.encode("ascii") if isinstance(counts, str) else counts}
            )
        else:
            rle = coco_mask.merge(coco_mask.frPyObjects([[float(v) for v in p] for p in segmentation], h, w))
        out = coco_mask.decode(rle)
    except (KeyError, TypeError, AttributeError, ValueError) as e:
        raise ValueError(f"malformed segmentation ({type(e).__name__}: {e})") from None
    if out.shape[:2] != (h, w):
        raise ValueError(f"segmentation decodes to {out.shape[1]}x{out.shape[0]}, image is {w}x{h}")
    return out.astype(bool)
