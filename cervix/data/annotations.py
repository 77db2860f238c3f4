"""Annotations that are no mask files, turned into masks: SIPaKMeD ``.dat`` contours
(:func:`read_sipakmed_contour`, :func:`rasterize_sipakmed_contours`), ISBI 2014 ``.mat`` per-cell
masks, grey-level label maps, QuPath GeoJSON cells (:func:`geojson_cells`) and COCO instances
(:func:`coco_index`, :func:`coco_cells`). :func:`decode_masks` is what :meth:`cervix.data.records.Record.load`
calls for a record whose masks come from one of them; it returns the per-cell masks too
(SIPaKMeD, ISBI 2014, GeoJSON, COCO), overlaps kept.
"""

from __future__ import annotations

import functools
import json
import re
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from cervix.cells.shapes import decode_rle, geometry_from_json, polygon_to_mask
from cervix.cells.whole import CellMask
from cervix.data.decode import load_uint8

__all__ = [
    "exported_cells",
    "read_sipakmed_contour",
    "rasterize_sipakmed_contours",
    "decode_masks",
    "geojson_cells",
    "coco_index",
    "coco_cells",
]


DAT_RE = re.compile(r"^(\d+)_(cyt|nuc)(\d+)\.dat$", re.IGNORECASE)


def read_sipakmed_contour(path: str | Path) -> np.ndarray:
    """Read one SIPaKMeD ``.dat`` contour: (N, 2) float64 (x, y) in full-image pixels.

    Raises:
        ValueError: naming the file, for unparsable lines or fewer than 3 points.
    """
    p = Path(path)
    pts = []
    for ln, line in enumerate(p.read_text(errors="replace").splitlines(), 1):
        line = line.strip()
        if not line:
            continue
        parts = [t for t in re.split(r"[,;\s]+", line) if t]
        try:
            if len(parts) != 2:
                raise ValueError
            pts.append((float(parts[0]), float(parts[1])))
        except ValueError:
            raise ValueError(f"{p}: line {ln} is not an 'x,y' pair: {line[:60]!r}") from None
    if len(pts) < 3:
        raise ValueError(f"{p}: contour has {len(pts)} points, need at least 3")
    arr = np.asarray(pts, dtype=np.float64)
    if not np.isfinite(arr).all():
        bad = int(np.argmax(~np.isfinite(arr).all(axis=1)))
        raise ValueError(f"{p}: point {bad + 1} is not a finite number: {pts[bad]}")
    return arr


def rasterize_sipakmed_contours(
    dat_paths: Iterable[str | Path], shape: tuple[int, ...]
) -> tuple[np.ndarray, np.ndarray]:
    """Rasterise SIPaKMeD ``NNN_cytMM.dat`` / ``NNN_nucMM.dat`` contours to instance label maps.

    Cells are filled in id order (a later cell covers an earlier one where they overlap); the
    nucleus of cell MM is then given to cell MM in the cell map, so a nucleus always lies inside
    its own cell. Ids are the MM of the file names.

    Args:
        dat_paths: contour files of one image.
        shape: image shape (H, W[, C]).

    Returns:
        (cell_ids, nucleus_ids): (H, W) int32 label maps, 0 = background.

    Raises:
        ValueError: naming the file, for a name not of the form ``NNN_cytMM.dat``/``NNN_nucMM.dat``
            or an unreadable contour.
    """
    return _label_maps(*_sipakmed_polygons(dat_paths, shape), shape)


def _sipakmed_polygons(
    dat_paths: Iterable[str | Path], shape: tuple[int, ...]
) -> tuple[dict[int, np.ndarray], dict[int, np.ndarray]]:
    """Cell and nucleus polygons (id MM -> (K, 2) int32 x, y) of one image's contour files."""
    h, w = int(shape[0]), int(shape[1])
    cells: dict[int, np.ndarray] = {}
    nuclei: dict[int, np.ndarray] = {}
    for d in dat_paths:
        p = Path(d)
        m = DAT_RE.match(p.name)
        if m is None:
            raise ValueError(f"{p}: not a SIPaKMeD contour name (expected NNN_cytMM.dat or NNN_nucMM.dat)")
        xy = read_sipakmed_contour(p)
        if (np.abs(xy) > 4 * max(h, w)).any():  # far outside any image: a corrupt file, not a border cell
            raise ValueError(f"{p}: coordinates up to {np.abs(xy).max():.3g}, far outside the {w}x{h} image")
        (cells if m.group(2).lower() == "cyt" else nuclei)[int(m.group(3))] = np.rint(xy).astype(np.int32)
    return cells, nuclei


def _fill(pts: np.ndarray, out: np.ndarray, value: int = 1) -> np.ndarray:
    """Fill the polygon ``pts`` ((K, 2) int32 x, y) into ``out`` with ``value``; returns ``out``."""
    cv2.fillPoly(out, [pts.reshape(-1, 1, 2)], int(value))
    return out


def _label_maps(
    cells: dict[int, np.ndarray], nuclei: dict[int, np.ndarray], shape: tuple[int, ...]
) -> tuple[np.ndarray, np.ndarray]:
    """The label maps of :func:`rasterize_sipakmed_contours` from :func:`_sipakmed_polygons`."""
    h, w = int(shape[0]), int(shape[1])
    cell_ids, nucleus_ids = np.zeros((h, w), np.int32), np.zeros((h, w), np.int32)
    for i in sorted(cells):
        _fill(cells[i], cell_ids, i)
    for i in sorted(nuclei):
        one = _fill(nuclei[i], np.zeros((h, w), np.uint8)) > 0
        nucleus_ids[one] = i
        if i in cells:
            cell_ids[one] = i
    return cell_ids, nucleus_ids


def _cell_masks(cells: dict[int, np.ndarray], nuclei: dict[int, np.ndarray], shape: tuple[int, ...]) -> np.ndarray:
    """(N, H, W) bool: each cell polygon on its own (overlaps kept) with its own nucleus, in id order."""
    out = np.zeros((len(cells), int(shape[0]), int(shape[1])), np.uint8)
    for k, i in enumerate(sorted(cells)):
        _fill(cells[i], out[k])
        if i in nuclei:
            _fill(nuclei[i], out[k])
    return out.view(bool)


@functools.lru_cache(maxsize=2)
def load_mat(path: str) -> dict[str, Any]:
    from scipy.io import loadmat

    try:
        return loadmat(path)
    except Exception as e:  # scipy raises several types for bad files
        raise ValueError(f"{path}: cannot read MATLAB file ({e})") from None


def mat_prefix(mat: dict[str, Any]) -> str | None:
    for k in mat:
        if k.endswith("_Cytoplasm") and f"{k[: -len('_Cytoplasm')]}_Nuclei" in mat:
            return k[: -len("_Cytoplasm")]
    return None


def _isbi_masks(mat_path: str, index: int, prefix: str) -> tuple[np.ndarray, np.ndarray]:
    """Entry ``index`` (0-based): per-cell masks (N, H, W) bool, overlaps kept, and nucleus mask (H, W) bool."""
    mat = load_mat(mat_path)
    cyt_all, nuc_all = mat[f"{prefix}_Cytoplasm"].ravel(), mat[f"{prefix}_Nuclei"].ravel()
    if index >= len(cyt_all) or index >= len(nuc_all):
        raise ValueError(f"{mat_path}: has {len(cyt_all)} entries, no entry {index + 1}")

    def stack(entry: Any) -> np.ndarray:  # a cell array of per-cell masks, one 2-D mask or (H, W, N)
        arr = np.asarray(entry)
        if arr.dtype != object:
            return (arr > 0)[None] if arr.ndim == 2 else np.moveaxis(arr > 0, -1, 0)
        parts = [np.asarray(a) > 0 for a in arr.ravel()]
        if not parts or len({a.shape for a in parts}) > 1:
            raise ValueError(
                f"{mat_path}: entry {index + 1} holds no cell masks or masks of several sizes "
                f"{sorted({a.shape for a in parts})}"
            )
        return np.stack(parts)

    return stack(cyt_all[index]), stack(nuc_all[index]).any(axis=0)


def _labelmap_masks(path: str, shape: tuple[int, int], cell_t: int, nuc_t: int) -> tuple[np.ndarray, np.ndarray]:
    lm = load_uint8(path)
    if lm.ndim == 3:
        lm = lm[:, :, 0]
    if lm.shape != tuple(shape):
        raise ValueError(
            f"{path}: label map size {lm.shape[1]}x{lm.shape[0]} differs from its image size {shape[1]}x{shape[0]}"
        )
    return (lm > cell_t).astype(np.uint8) * 255, (lm > nuc_t).astype(np.uint8) * 255


# --------------------------------------------------------------------------------------------
# QuPath GeoJSON and COCO instances (what `analyze` exports, read back as per-cell truth)
# --------------------------------------------------------------------------------------------
def _load_json(path: str) -> Any:
    try:
        return json.loads(Path(path).read_text(encoding="utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as e:
        raise ValueError(f"{path}: not valid JSON ({e})") from None


def _version(path: str) -> tuple[int, int]:
    """Modification time and size: a file edited (e.g. exported again from QuPath) is read again."""
    st = Path(path).stat()
    return st.st_mtime_ns, st.st_size


def geojson_cells(path: str, height: int, width: int) -> tuple[tuple[Any, Any], ...]:
    """The cells of a QuPath GeoJSON file: ``(cell, nucleus or None)`` shapely geometries, in
    file order, checked against an image of ``height`` x ``width`` pixels.

    Every Feature with a Polygon or MultiPolygon ``geometry`` is a cell (QuPath cells, detections
    and annotations alike); a ``nucleusGeometry`` is its nucleus. A FeatureCollection, a list of
    Features (older QuPath exports) or a single Feature is read.

    Raises:
        ValueError: one line naming the file and the first problem (not JSON, not GeoJSON
            features, a geometry that is not a valid polygon or reaches outside the image). No
            Feature at all is a field without cells.
    """
    return _geojson_cells(str(path), _version(path), int(height), int(width))


@functools.lru_cache(maxsize=4)
def _geojson_cells(path: str, version: tuple[int, int], height: int, width: int) -> tuple[tuple[Any, Any], ...]:
    doc = _load_json(path)
    feats = doc.get("features") if isinstance(doc, dict) and doc.get("type") == "FeatureCollection" else doc
    feats = [feats] if isinstance(feats, dict) and feats.get("type") == "Feature" else feats
    if not isinstance(feats, list):
        raise ValueError(f"{path}: not a GeoJSON FeatureCollection or list of Features")
    out = []
    for i, f in enumerate(feats, 1):
        if not isinstance(f, dict) or f.get("type") != "Feature":
            raise ValueError(f"{path}: item {i} of the features is not a GeoJSON Feature")
        try:
            cell = geometry_from_json(f.get("geometry"), (height, width))
            nucleus = f.get("nucleusGeometry")
            nucleus = None if nucleus is None else geometry_from_json(nucleus, (height, width))
        except ValueError as e:
            raise ValueError(f"{path}: feature {i}: {e}") from None
        out.append((cell, nucleus))
    return tuple(out)


def _cells_truth(cells: list[np.ndarray], nuclei: list[np.ndarray | None], shape: tuple[int, int]):
    """``(cytoplasm, nucleus, instances, cells)`` of per-cell masks (a cell's own nucleus is part of
    it; later cells lie on top in the label map)."""
    stack = np.zeros((len(cells), *shape), bool)
    inst = np.zeros(shape, np.int32)
    nuc = np.zeros(shape, bool)
    for k, (c, n) in enumerate(zip(cells, nuclei)):
        stack[k] = c if n is None else c | n
        inst[stack[k]] = k + 1
        if n is not None:
            nuc |= n
    cyt = stack.any(axis=0) | nuc
    return cyt.astype(np.uint8) * 255, nuc.astype(np.uint8) * 255, inst, stack


def _geojson_masks(path: str, shape: tuple[int, int]):
    cells = geojson_cells(path, *shape)
    return _cells_truth(
        [polygon_to_mask(c, shape) for c, _ in cells],
        [None if n is None else polygon_to_mask(n, shape) for _, n in cells],
        shape,
    )


#: COCO category names whose annotations are nuclei (given to the cell they lie in), not cells.
NUCLEUS_CATEGORIES = ("nucleus", "nuclei")


def _coco_check(path: str, doc: Any) -> dict[int, dict[str, Any]]:
    """COCO ``images`` by id, with each image's ``annotations``; one-line errors naming ``path``."""
    if (
        not isinstance(doc, dict)
        or not isinstance(doc.get("images"), list)
        or not isinstance(doc.get("annotations"), list)
    ):
        raise ValueError(f"{path}: not a COCO instances file (needs 'images' and 'annotations' lists)")
    images: dict[int, dict[str, Any]] = {}
    for i, im in enumerate(doc["images"], 1):
        if not isinstance(im, dict) or not {"id", "file_name", "height", "width"} <= im.keys():
            raise ValueError(f"{path}: image {i} lacks one of id, file_name, height, width")
        images[im["id"]] = {**im, "annotations": []}
    nucleus_cats = {
        c.get("id") for c in doc.get("categories") or [] if str(c.get("name", "")).lower() in NUCLEUS_CATEGORIES
    }
    for i, a in enumerate(doc["annotations"], 1):
        if not isinstance(a, dict) or a.get("image_id") not in images or "segmentation" not in a:
            raise ValueError(f"{path}: annotation {i} has no segmentation or an image_id not in 'images'")
        im = images[a["image_id"]]
        for key in ("segmentation", "nucleus_segmentation"):
            if key in a:
                _check_segmentation(path, i, a[key], im)
        im["annotations"].append({**a, "is_nucleus": a.get("category_id") in nucleus_cats})
    return images


def _check_segmentation(path: str, i: int, seg: Any, im: dict[str, Any]) -> None:
    """Polygons inside the image, an RLE of the image's size."""
    h, w = int(im["height"]), int(im["width"])
    if isinstance(seg, dict):
        if list(seg.get("size", [])) != [h, w]:
            raise ValueError(
                f"{path}: annotation {i}: RLE of size {seg.get('size')}, image {im['file_name']} is {[h, w]}"
            )
        return
    if not isinstance(seg, list) or not seg:
        raise ValueError(f"{path}: annotation {i}: segmentation is neither an RLE nor a list of polygons")
    for poly in seg:
        xy = np.asarray(poly, dtype=float).reshape(-1, 2) if len(poly) % 2 == 0 else None
        if xy is None or len(xy) < 3:
            raise ValueError(f"{path}: annotation {i}: a polygon needs at least 3 (x, y) pairs")
        if (xy < 0).any() or (xy[:, 0] > w).any() or (xy[:, 1] > h).any():
            raise ValueError(f"{path}: annotation {i}: polygon reaches outside the {w}x{h} image {im['file_name']}")


def coco_index(path: str) -> dict[int, dict[str, Any]]:
    """A COCO instances file, checked: ``images`` by id, each with its ``annotations``.

    Raises:
        ValueError: one line naming the file and its first problem (not JSON, no ``images`` or
            ``annotations``, an annotation of an unknown image, an RLE of another size than its
            image, a polygon outside it).
    """
    return _coco_index(str(path), _version(path))


@functools.lru_cache(maxsize=2)
def _coco_index(path: str, version: tuple[int, int]) -> dict[int, dict[str, Any]]:
    return _coco_check(path, _load_json(path))


def _coco_decoded(path: str, image_id: Any, shape: tuple[int, int]):
    """``(cells, nuclei, loose)`` masks of one image of a COCO file: each cell's mask and its
    ``nucleus_segmentation`` (or None), and the nuclei annotated on their own."""
    im = coco_index(path)[image_id]
    if (int(im["height"]), int(im["width"])) != tuple(shape):
        raise ValueError(
            f"{path}: image {im['file_name']} is listed as {im['width']}x{im['height']} but is {shape[1]}x{shape[0]}"
        )
    cells, nuclei, loose = [], [], []
    for a in im["annotations"]:
        try:
            m = decode_rle(a["segmentation"], *shape)
            n = decode_rle(a["nucleus_segmentation"], *shape) if "nucleus_segmentation" in a else None
        except ValueError as e:
            raise ValueError(f"{path}: annotation {a.get('id')}: {e}") from None
        if a["is_nucleus"]:
            loose.append(m)
        else:
            cells.append(m)
            nuclei.append(n)
    return cells, nuclei, loose


def coco_cells(path: str, image_id: Any, shape: tuple[int, int]) -> np.ndarray:
    """The whole-cell masks of one image of a COCO instances file, in file order.

    Args:
        path: the COCO file (read and checked once by :func:`coco_index`).
        image_id: the image's ``id`` in ``images``.
        shape: the image's ``(H, W)``.

    Returns:
        (N, H, W) bool, one mask per cell annotation (its ``nucleus_segmentation`` added),
        overlaps kept; nucleus-category annotations are left out.

    Raises:
        ValueError: one line naming the file: an image of another size than listed, a malformed
            segmentation.
    """
    cells, nuclei, _ = _coco_decoded(str(path), image_id, tuple(shape))
    return _cells_truth(cells, nuclei, tuple(shape))[3]


def _coco_masks(path: str, image_id: Any, shape: tuple[int, int]):
    cells, nuclei, loose = _coco_decoded(path, image_id, shape)
    cyt, nuc, inst, stack = _cells_truth(cells, nuclei, shape)
    for m in loose:  # nuclei annotated on their own
        nuc[m] = 255
        cyt[m] = 255
    return cyt, nuc, inst, stack


# --------------------------------------------------------------------------------------------
# Masks of records without mask files
# --------------------------------------------------------------------------------------------
def decode_masks(
    source: str, meta: dict[str, Any], path: str, shape: tuple[int, ...]
) -> tuple[np.ndarray, np.ndarray, np.ndarray | None, np.ndarray | None]:
    """Cytoplasm and nucleus masks (H, W) uint8 {0, 255} of a record whose masks are no mask files.

    Args:
        source: the record's mask source, ``"sipakmed"`` (contours), ``"isbi2014"`` (.mat entry),
            ``"labelmap"`` (grey levels), ``"geojson"`` (QuPath cells) or ``"coco"`` (COCO instances).
        meta: the record's format details (contour paths, .mat path and index, label-map thresholds).
        path: the record's image file (named in errors).
        shape: its image's (H, W).

    Returns:
        ``(cytoplasm, nucleus, instances, cells)``; instances: the cell ids (H, W) int32 (SIPaKMeD,
        GeoJSON, COCO; the later cell on top), else None; cells: (N, H, W) bool per-cell masks
        (SIPaKMeD, ISBI 2014, GeoJSON, COCO), else None.

    Raises:
        ValueError: naming the file, for masks of another size than the image or an unknown source.
    """
    cyt = nuc = inst = cells = None
    if source == "sipakmed":
        polygons = _sipakmed_polygons(meta["contours"], shape)
        (inst, nuc_ids), cells = _label_maps(*polygons, shape), _cell_masks(*polygons, shape)
        cyt = np.where((inst > 0) | (nuc_ids > 0), 255, 0).astype(np.uint8)
        nuc = np.where(nuc_ids > 0, 255, 0).astype(np.uint8)
    elif source == "isbi2014":
        cells, nuc = _isbi_masks(meta["mat"], int(meta["index"]), meta["prefix"])
        for m in (cells[0], nuc):
            if m.shape != shape:
                raise ValueError(
                    f"{meta['mat']}: entry {meta['index'] + 1} has masks of size "
                    f"{m.shape[1]}x{m.shape[0]} but image {path} is {shape[1]}x{shape[0]}"
                )
        cyt, nuc = cells.any(axis=0).astype(np.uint8) * 255, nuc.astype(np.uint8) * 255
    elif source == "labelmap":
        m = meta
        cyt, nuc = _labelmap_masks(m["labelmap"], shape, m["cell_threshold"], m["nucleus_threshold"])
    elif source == "geojson":
        cyt, nuc, inst, cells = _geojson_masks(meta["geojson"], tuple(shape))
    elif source == "coco":
        cyt, nuc, inst, cells = _coco_masks(meta["json"], meta["image_id"], tuple(shape))
    else:
        raise ValueError(f"record {path}: unknown mask source {source!r}")
    return cyt, nuc, inst, cells


def exported_cells(path: str | Path, rel: str, shape: tuple[int, int]) -> list[CellMask | None] | None:
    """The cells of one field as ``analyze`` exported them to COCO (whole cells where it had a
    cell head), index ``k - 1`` = cell ``k``; None when there is no COCO file (older analyses)."""
    path = Path(path)
    if not path.is_file():
        return None
    doc = json.loads(path.read_text())
    ids = [im["id"] for im in doc.get("images", []) if im.get("file_name") == rel]
    anns = [a for a in doc.get("annotations", []) if ids and a.get("image_id") == ids[0]]
    out: list[CellMask | None] = [None] * max((int(a["cell_id"]) for a in anns), default=0)
    for a in anns:
        x, y, w, h = (int(v) for v in a["bbox"])
        nuc = a.get("nucleus_segmentation")
        box = (y, x, y + h, x + w)
        masks = [
            decode_rle(seg, *shape)[y : y + h, x : x + w] if seg else np.zeros((h, w), bool)
            for seg in (a["segmentation"], nuc)
        ]
        out[int(a["cell_id"]) - 1] = CellMask(box, *masks)
    return out
