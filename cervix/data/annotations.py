"""Annotations that are no mask files, turned into masks: SIPaKMeD ``.dat`` contours
(:func:`read_sipakmed_contour`, :func:`rasterize_sipakmed_contours`), ISBI 2014 ``.mat`` per-cell
masks and grey-level label maps. :func:`decode_masks` is what :meth:`cervix.data.records.Record.load`
calls for a record whose masks come from one of them; it returns the per-cell masks too
(SIPaKMeD, ISBI 2014), overlaps kept.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from cervix.data.decode import load_uint8

__all__ = [
    "read_sipakmed_contour",
    "rasterize_sipakmed_contours",
    "decode_masks",
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
# Masks of records without mask files
# --------------------------------------------------------------------------------------------
def decode_masks(
    source: str, meta: dict[str, Any], path: str, shape: tuple[int, ...]
) -> tuple[np.ndarray, np.ndarray, np.ndarray | None, np.ndarray | None]:
    """Cytoplasm and nucleus masks (H, W) uint8 {0, 255} of a record whose masks are no mask files.

    Args:
        source: the record's mask source, ``"sipakmed"`` (contours), ``"isbi2014"`` (.mat entry)
            or ``"labelmap"`` (grey levels).
        meta: the record's format details (contour paths, .mat path and index, label-map thresholds).
        path: the record's image file (named in errors).
        shape: its image's (H, W).

    Returns:
        ``(cytoplasm, nucleus, instances, cells)``; instances: the SIPaKMeD cell ids (H, W) int32,
        else None; cells: (N, H, W) bool per-cell masks (SIPaKMeD, ISBI 2014), else None.

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
    else:
        raise ValueError(f"record {path}: unknown mask source {source!r}")
    return cyt, nuc, inst, cells
