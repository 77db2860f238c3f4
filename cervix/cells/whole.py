"""Whole (amodal) cells that may overlap: one box + local mask per cell, paired with its nucleus.

A partition (:func:`cervix.cells.instances.separate`) gives every pixel to one cell. In a Pap
smear cells lie on top of each other, and the ISBI 2014 challenge's truth is one whole mask per
cell, overlaps included (Lu et al., IEEE JBHI 2017). This module holds such cells without a
full-field array per cell:

- :class:`CellMask` — a cell as its box in the field and its local masks (cell, own nucleus);
  :func:`to_stack` / :func:`from_stack` convert to and from an ``(N, H, W)`` stack (the metrics
  of :mod:`cervix.metrics.instances` take stacks).
- :func:`pair_nuclei` — each cell's own nucleus, one to one by overlap (Hungarian matching: in
  ISBI 2014 a nucleus may lie inside two or more overlapping cells, and only one of them owns it).
- :func:`cell_nuclei` — the per-cell nuclei of a field's truth, paired that way.
- :func:`overlap_table` — one row per pair of overlapping cells (shared pixels, fraction of each).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from scipy import ndimage as ndi
from scipy.optimize import linear_sum_assignment

__all__ = [
    "CellMask",
    "to_stack",
    "from_stack",
    "pair_nuclei",
    "cell_nuclei",
    "overlap_table",
    "OVERLAP_COLUMNS",
]


@dataclass
class CellMask:
    """One whole cell of a field: its box and its masks inside the box.

    Attributes:
        box: ``(y0, x0, y1, x1)`` in field pixels, ``[y0, y1) x [x0, x1)``.
        mask: ``(y1 - y0, x1 - x0)`` bool, the whole cell (overlaps with neighbours included).
        nucleus: same shape, bool, the cell's own nucleus (empty when it has none).
    """

    box: tuple[int, int, int, int]
    mask: np.ndarray
    nucleus: np.ndarray

    @property
    def area(self) -> int:
        """Pixels of the whole cell."""
        return int(self.mask.sum())

    def full(self, shape: tuple[int, int], nucleus: bool = False) -> np.ndarray:
        """The cell (or its nucleus) as an ``(H, W)`` bool mask of the field."""
        out = np.zeros(shape, bool)
        y0, x0, y1, x1 = self.box
        out[y0:y1, x0:x1] = self.nucleus if nucleus else self.mask
        return out


def _bbox(mask: np.ndarray) -> tuple[int, int, int, int] | None:
    """``(y0, x0, y1, x1)`` of a bool mask's pixels, None when empty."""
    rows, cols = np.flatnonzero(mask.any(1)), np.flatnonzero(mask.any(0))
    if not len(rows):
        return None
    return int(rows[0]), int(cols[0]), int(rows[-1]) + 1, int(cols[-1]) + 1


def to_stack(cells: Sequence[CellMask], shape: tuple[int, int], nucleus: bool = False) -> np.ndarray:
    """``(N, H, W)`` bool stack of the cells (or of their nuclei)."""
    out = np.zeros((len(cells), *shape), bool)
    for i, c in enumerate(cells):
        y0, x0, y1, x1 = c.box
        out[i, y0:y1, x0:x1] = c.nucleus if nucleus else c.mask
    return out


def from_stack(cells: np.ndarray, nuclei: np.ndarray | None = None) -> list[CellMask]:
    """:class:`CellMask` of every non-empty cell of an ``(N, H, W)`` stack (``nuclei`` aligned with it).

    The box is the cell's and its nucleus's bounding box together.
    """
    cells = np.asarray(cells, bool)
    out = []
    for i, m in enumerate(cells):
        n = np.asarray(nuclei[i], bool) if nuclei is not None else np.zeros_like(m)
        box = _bbox(m | n)
        if box is None:
            continue
        y0, x0, y1, x1 = box
        out.append(CellMask(box, m[y0:y1, x0:x1].copy(), n[y0:y1, x0:x1].copy()))
    return out


def pair_nuclei(cells: np.ndarray, nuclei: np.ndarray) -> np.ndarray:
    """The nucleus of each cell, one to one, by the most shared pixels (Hungarian matching).

    Args:
        cells: ``(N, H, W)`` bool whole cells (may overlap).
        nuclei: ``(H, W)`` int nucleus labels, 0 = none.

    Returns:
        ``(N,)`` int: the nucleus label paired with each cell, 0 where none is (no nucleus inside
        it, or each one inside it belongs better to another cell).
    """
    cells = np.asarray(cells, bool)
    nuclei = np.asarray(nuclei)
    if cells.ndim != 3 or cells.shape[1:] != nuclei.shape:
        raise ValueError(f"cells (N, H, W) and nuclei (H, W) must share H, W: {cells.shape} vs {nuclei.shape}")
    ids = np.unique(nuclei)
    ids = ids[ids > 0]
    paired = np.zeros(len(cells), np.int64)
    if not len(ids) or not len(cells):
        return paired
    lut = np.zeros(int(ids.max()) + 1, np.int64)
    lut[ids] = np.arange(1, len(ids) + 1)
    flat = lut[nuclei.ravel()]  # (H*W,) 0 or 1..K
    shared = np.stack([np.bincount(flat[c.ravel()], minlength=len(ids) + 1)[1:] for c in cells])  # (N, K)
    rows, cols = linear_sum_assignment(shared, maximize=True)
    ok = shared[rows, cols] > 0
    paired[rows[ok]] = ids[cols[ok]]
    return paired


def cell_nuclei(cells: np.ndarray, nucleus: np.ndarray, instances: np.ndarray | None = None) -> np.ndarray:
    """Each cell's own nucleus in a field's truth: ``(N, H, W)`` bool, aligned with ``cells``.

    Args:
        cells: ``(N, H, W)`` bool whole cells.
        nucleus: ``(H, W)`` nucleus mask (any non-zero value is nucleus).
        instances: ``(H, W)`` cell ids whose nucleus pixels carry their own cell's id (the synthetic
            fields); they separate touching nuclei. None: nuclei are the 8-connected components.
    """
    nuc = np.asarray(nucleus) > 0
    if instances is not None:
        labels = np.where(nuc, np.asarray(instances), 0)
    else:
        labels = ndi.label(nuc, structure=np.ones((3, 3)))[0]
    paired = pair_nuclei(cells, labels)
    return np.stack([(labels == k) if k else np.zeros(nuc.shape, bool) for k in paired]).reshape(cells.shape)


#: The columns of :func:`overlap_table`, in order.
OVERLAP_COLUMNS: tuple[str, ...] = ("cell_a", "cell_b", "shared_px", "fraction_a", "fraction_b")


def overlap_table(cells: Sequence[CellMask], ids: Sequence[int] | None = None) -> list[dict]:
    """One row per pair of cells that share pixels (``OVERLAP_COLUMNS``).

    Args:
        cells: the cells of one field.
        ids: the cell id of each (default 1..N).

    Returns:
        Rows with the two ids (``cell_a < cell_b``), the shared pixels and the fraction of each
        cell's whole area they are.
    """
    ids = list(range(1, len(cells) + 1)) if ids is None else [int(i) for i in ids]
    rows = []
    for i, a in enumerate(cells):
        for j in range(i + 1, len(cells)):
            b = cells[j]
            y0, x0 = max(a.box[0], b.box[0]), max(a.box[1], b.box[1])
            y1, x1 = min(a.box[2], b.box[2]), min(a.box[3], b.box[3])
            if y1 <= y0 or x1 <= x0:
                continue
            sa = a.mask[y0 - a.box[0] : y1 - a.box[0], x0 - a.box[1] : x1 - a.box[1]]
            sb = b.mask[y0 - b.box[0] : y1 - b.box[0], x0 - b.box[1] : x1 - b.box[1]]
            shared = int((sa & sb).sum())
            if not shared:
                continue
            (ia, ca), (ib, cb) = sorted([(ids[i], a), (ids[j], b)], key=lambda t: t[0])
            rows.append(
                {
                    "cell_a": ia,
                    "cell_b": ib,
                    "shared_px": shared,
                    "fraction_a": shared / max(ca.area, 1),
                    "fraction_b": shared / max(cb.area, 1),
                }
            )
    return rows
