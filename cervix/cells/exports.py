"""The cells of an analysed field in the field's exchange formats.

- QuPath GeoJSON (Bankhead et al., Sci Rep 2017; QuPath's File > Import objects): a
  FeatureCollection with one Feature per cell, ``"objectType": "cell"``, the cell as
  ``geometry`` and its nucleus as ``nucleusGeometry`` (pixel-edge polygons of
  :mod:`cervix.cells.shapes`), ``classification`` ``{name, color}`` and ``measurements``.
- COCO instances (Lin et al., ECCV 2014): ``images``, ``categories`` and ``annotations`` with
  compressed-RLE ``segmentation``, ``bbox``, ``area``, ``score`` and the ``cell_id`` of
  ``cells.csv``; each annotation also carries its nucleus as ``nucleus_segmentation`` (RLE).

Both are read back as per-cell truth by the ``geojson`` and ``coco`` dataset formats.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from cervix.cells.instances import Instances
from cervix.cells.shapes import encode_rle, geometry_json, mask_to_polygon

__all__ = [
    "FLAG_NAMES",
    "field_geojson",
    "coco_image",
    "coco_annotations",
    "coco_document",
]

#: The flags of ``cells.csv`` (:func:`cervix.cells.instances.cell_table`), one 0/1 measurement each.
FLAG_NAMES: tuple[str, ...] = ("touches_border", "no_nucleus", "tiny")

_NAMESPACE = uuid.UUID("5f0c9a52-4a57-4c52-9d3c-2b8f1f6a0c11")  # stable object ids across runs


def _measurements(row: Mapping[str, Any], class_names: Sequence[str]) -> dict[str, float]:
    """QuPath measurements of one cell (numbers only; an undefined N/C ratio is left out)."""
    out = {"Cell area (px)": float(row["cell_area"]), "Nucleus area (px)": float(row["nucleus_area"])}
    nc = float(row["nc_ratio"])
    if np.isfinite(nc):
        out["N/C ratio"] = nc
    flags = set(str(row.get("flags") or "").split(";"))
    out.update({f"Flag {f}": float(f in flags) for f in FLAG_NAMES})
    out.update({f"Probability {c}": float(row[f"prob_{c}"]) for c in class_names if f"prob_{c}" in row})
    return out


def field_geojson(
    inst: Instances,
    rows: Sequence[Mapping[str, Any]],
    class_names: Sequence[str],
    colours: Mapping[str, Sequence[int]],
    image: str = "",
) -> dict[str, Any]:
    """QuPath GeoJSON of one field's cells.

    Args:
        inst: the field's cells and nuclei (label maps, image pixels).
        rows: one row per cell (``cells.csv``: ``cell_id``, areas, N/C, flags, class and probabilities).
        class_names: the classifier's classes (one ``Probability <class>`` measurement each).
        colours: class -> RGB 0-255 (the figures' class colours).
        image: the field's name (``cells.csv``'s ``image``), kept in each feature's metadata.

    Returns:
        A GeoJSON FeatureCollection (dict), one Feature per row with a cell.
    """
    masks = inst.cell_masks
    features = []
    for r in rows:
        k = int(r["cell_id"])
        if k not in masks:
            continue
        c = masks[k]
        geom = mask_to_polygon(c.mask, (c.box[1], c.box[0]))
        props: dict[str, Any] = {"objectType": "cell", "name": f"cell {k}"}
        cls = r.get("predicted_class")
        if cls:
            props["classification"] = {"name": str(cls), "color": [int(v) for v in colours.get(cls, (128, 128, 128))]}
        props["measurements"] = _measurements(r, class_names)
        props["metadata"] = {"cell_id": str(k), "image": image, "flags": str(r.get("flags") or "")}
        feature: dict[str, Any] = {
            "type": "Feature",
            "id": str(uuid.uuid5(_NAMESPACE, f"{image}#{k}")),
            "geometry": geometry_json(geom),
        }
        if c.nucleus.any():
            feature["nucleusGeometry"] = geometry_json(mask_to_polygon(c.nucleus, (c.box[1], c.box[0])))
        feature["properties"] = props
        features.append(feature)
    return {"type": "FeatureCollection", "features": features}


def coco_image(image_id: int, file_name: str, height: int, width: int) -> dict[str, Any]:
    """One entry of a COCO ``images`` list."""
    return {"id": int(image_id), "file_name": file_name, "height": int(height), "width": int(width)}


def coco_annotations(
    inst: Instances,
    rows: Sequence[Mapping[str, Any]],
    class_names: Sequence[str],
    image_id: int,
    first_id: int = 1,
) -> list[dict[str, Any]]:
    """COCO annotations of one field's cells: compressed RLE, bbox, area, class, score, cell id.

    Args:
        inst: the field's cells and nuclei.
        rows: one row per cell (``cell_id``, ``predicted_class``, ``confidence``).
        class_names: the classes; category ids are their 1-based positions.
        image_id: the field's id in ``images``.
        first_id: id of the first annotation (ids are unique over the whole file).
    """
    H, W = inst.cells.shape
    masks = inst.cell_masks
    cat = {c: i + 1 for i, c in enumerate(class_names)}
    out = []
    for r in rows:
        k = int(r["cell_id"])
        if k not in masks:
            continue
        c = masks[k]
        y0, x0, y1, x1 = c.box
        rr, cc = np.flatnonzero(c.mask.any(1)), np.flatnonzero(c.mask.any(0))
        ann: dict[str, Any] = {
            "id": first_id + len(out),
            "image_id": int(image_id),
            "category_id": cat.get(r.get("predicted_class"), 0),
            "segmentation": encode_rle(c.mask, (x0, y0), (H, W)),
            "area": int(c.mask.sum()),
            "bbox": [x0 + int(cc[0]), y0 + int(rr[0]), int(cc[-1] - cc[0]) + 1, int(rr[-1] - rr[0]) + 1],
            "iscrowd": 0,
            "cell_id": k,
        }
        if r.get("confidence") is not None:
            ann["score"] = float(r["confidence"])
        if c.nucleus.any():
            ann["nucleus_segmentation"] = encode_rle(c.nucleus, (x0, y0), (H, W))
        out.append(ann)
    return out


def coco_document(
    images: Sequence[Mapping[str, Any]],
    annotations: Sequence[Mapping[str, Any]],
    class_names: Sequence[str],
    description: str = "cells of cervix analyze",
) -> dict[str, Any]:
    """A COCO instances file: ``info``, ``images``, ``categories`` (the classes) and ``annotations``."""
    return {
        "info": {"description": description, "version": "1.0"},
        "images": list(images),
        "categories": [{"id": i + 1, "name": c, "supercategory": "cell"} for i, c in enumerate(class_names)],
        "annotations": list(annotations),
    }
