"""From the two probability maps of the segmentation model to one label per cell.

:func:`separate` turns ``(cytoplasm, nucleus)`` probabilities into a cell label map and a nucleus
label map (uint16, 0 = background; a nucleus carries the id of its cell):

1. Nuclei: the thresholded nucleus map, components whose mean nucleus probability is below
   ``min_nucleus_score`` (:func:`suppress_weak_nuclei`, a per-object score as Mask R-CNN and
   Cellpose drop low-scoring objects) or smaller than ``min_nucleus_area`` dropped;
   optionally (``split_nuclei``) touching nuclei are split at the peaks of their distance
   transform (marker-controlled watershed, as in classical nucleus splitting; Malpica et al.,
   Cytometry 1997).
2. Cells: each nucleus seeds one cell, which grows over the cell foreground (cytoplasm or
   nucleus above threshold) by a watershed on the distance to the nearest nucleus, i.e. a
   geodesic nearest-nucleus partition. Geometry rather than image intensity: on ISBI 2014 fields
   a nearest-nucleus partition of the true union mask reaches a matched Dice of 0.88 where a
   watershed on intensity misses 81% of the cells.
3. Foreground that no nucleus reaches becomes a cell of its own, flagged ``no_nucleus``; cells
   smaller than ``min_cell_area`` are dropped.

What a partition cannot do: every pixel belongs to one cell, while overlapping cells share
pixels (ISBI 2014's per-cell truth overlaps heavily), so the overlap goes to one of them; a
binucleate cell becomes two cells; a cell whose nucleus was missed merges into a neighbour or
stays a nucleus-less fragment.

:func:`cell_box` and :func:`cut_cell` cut one cell with its own masks (neighbours blanked from
the mask channels) the way :func:`cervix.synthetic.fields.cut_crop` cuts the synthetic training crops, at
the field's pixel scale. :func:`centre_instance` keeps the cell a single-cell crop is centred on.
:func:`covered_fractions` measures how much of each whole cell other cells cover (the overlap a
partition cannot give back).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property

import cv2
import numpy as np
from scipy import ndimage as ndi
from skimage.feature import peak_local_max
from skimage.segmentation import watershed

from cervix.cells.whole import CellMask
from cervix.core.config import MIN_NUCLEUS_SCORE

__all__ = [
    "InstanceConfig",
    "Instances",
    "separate",
    "suppress_weak_nuclei",
    "cell_table",
    "cell_box",
    "padded_crop",
    "cut_cell",
    "centre_id",
    "centre_instance",
    "covered_fractions",
    "CROP_MARGIN",
    "CROP_MAX_STRETCH",
    "CELL_COLUMNS",
]


@dataclass
class InstanceConfig:
    """Settings of :func:`separate`."""

    cell_threshold: float = 0.5  # cytoplasm (whole-cell) probability threshold
    nucleus_threshold: float = 0.5  # nucleus probability threshold
    # px; smaller nucleus blobs are noise. `analyze` and `evaluate --instances` raise it to the run's
    # floor (cervix.inference.sizing.min_nucleus_area: 0.18 of its median training nucleus area)
    min_nucleus_area: int = 12
    # a nucleus whose mean nucleus probability is below this is dropped (suppress_weak_nuclei)
    min_nucleus_score: float = MIN_NUCLEUS_SCORE
    # px; smaller cells are dropped (fragments). 200 rather than 80: on the 6 synthetic validation
    # fields of the cpu-profile model, detection F1 0.83 vs 0.79 (with nuclei not split)
    min_cell_area: int = 200
    # split touching nuclei at distance-transform peaks. Off by default: on those fields splitting
    # cut irregular nuclei into false cells (detection F1 0.73 with, 0.83 without; nucleus PQ 0.62
    # vs 0.70); on 3 ISBI 2014 validation images it changed nothing
    split_nuclei: bool = False
    min_nucleus_distance: int = 6  # px between the centres of two nuclei that are split apart


@dataclass
class Instances:
    """Cell and nucleus label maps of one field, and its whole cells where the cell head gave them."""

    cells: np.ndarray  # (H, W) uint16, 0 = background, 1..n = cells (a partition: the visible parts)
    nuclei: np.ndarray  # (H, W) uint16, a nucleus pixel carries its cell's id
    no_nucleus: set[int] = field(default_factory=set)  # ids of cells grown from no nucleus
    n_dropped: int = 0  # cells below min_cell_area that were dropped
    whole: list[CellMask] | None = None  # whole (overlapping) cells, index k - 1 = cell k; None = the partition

    @property
    def n(self) -> int:
        """Number of cells."""
        return int(self.cells.max(initial=0))

    def __setattr__(self, name: str, value: object) -> None:
        super().__setattr__(name, value)
        if name in ("cells", "nuclei", "whole"):  # what :attr:`cell_masks` is computed from changed
            self.__dict__.pop("cell_masks", None)

    @cached_property
    def cell_masks(self) -> dict[int, CellMask]:
        """Each cell ``k`` as box + local masks: its whole mask where :attr:`whole` holds one, else
        its part of the partition (the one home of "a cell's mask" for the table, crops, exports
        and overlays)."""
        if self.whole is not None:
            return {k: c for k, c in enumerate(self.whole, start=1) if c is not None and c.mask.any()}
        out = {}
        for k, sl in enumerate(ndi.find_objects(self.cells), start=1):
            if sl is not None:
                box = (sl[0].start, sl[1].start, sl[0].stop, sl[1].stop)
                out[k] = CellMask(box, self.cells[sl] == k, self.nuclei[sl] == k)
        return out


def suppress_weak_nuclei(probs: np.ndarray, threshold: float = 0.5, min_score: float = MIN_NUCLEUS_SCORE) -> np.ndarray:
    """Probabilities with the nucleus channel set to 0 on every weak nucleus.

    A nucleus is a connected component (8-connected) of ``probs[1] > threshold``; its score is its
    mean nucleus probability, and one scoring below ``min_score`` is suppressed, the way
    instance-segmentation models drop objects of low score (Mask R-CNN, He et al., ICCV 2017;
    Cellpose's cell probability, Stringer et al., Nature Methods 2021). The false nuclei of a
    synthetic-trained model on real fields (pale blobs on folds and on the edges of overlapping
    cytoplasm) are such objects: barely above the threshold, where a true nucleus is confident.

    Args:
        probs: ``(C, H, W)`` probabilities, C >= 2: (cytoplasm, nucleus, ...).
        threshold: the nucleus probability threshold that makes the components (the score of a
            component is its mean over the pixels above it: a lower threshold takes in more of
            a nucleus's pale rim and lowers its score).
        min_score: the smallest mean probability a nucleus keeps; 0 keeps every nucleus.

    Returns:
        ``probs`` itself when nothing is suppressed, else a copy with the weak nuclei at 0.

    Raises:
        ValueError: ``probs`` is not ``(C >= 2, H, W)`` or ``min_score`` is outside ``[0, 1]``.
    """
    probs = np.asarray(probs)
    if probs.ndim != 3 or probs.shape[0] < 2:
        raise ValueError(f"probs must be (C >= 2, H, W) (cytoplasm, nucleus, ...), got shape {probs.shape}")
    if not 0.0 <= min_score <= 1.0:
        raise ValueError(f"min_score must be in [0, 1], got {min_score}")
    if min_score == 0.0:
        return probs
    lab, n = ndi.label(probs[1] > threshold, structure=np.ones((3, 3)))
    if n == 0:
        return probs
    score = np.asarray(ndi.mean(probs[1], lab, index=np.arange(1, n + 1)))  # (n,) mean probability
    weak = np.concatenate([[False], score < min_score])
    if not weak.any():
        return probs
    out = probs.copy()
    out[1][weak[lab]] = 0.0
    return out


def _nucleus_labels(nuc: np.ndarray, cfg: InstanceConfig) -> np.ndarray:
    """(H, W) int32 nucleus labels: small blobs removed, touching nuclei split."""
    lab, n = ndi.label(nuc, structure=np.ones((3, 3)))
    if n == 0:
        return lab.astype(np.int32)
    sizes = np.bincount(lab.ravel())
    small = sizes < cfg.min_nucleus_area
    small[0] = False
    lab[small[lab]] = 0
    nuc = lab > 0
    if not cfg.split_nuclei or not nuc.any():
        return ndi.label(nuc, structure=np.ones((3, 3)))[0].astype(np.int32)
    dist = ndi.distance_transform_edt(nuc)
    peaks = peak_local_max(dist, min_distance=cfg.min_nucleus_distance, labels=lab, exclude_border=False)
    markers = np.zeros(lab.shape, np.int32)
    markers[tuple(peaks.T)] = np.arange(1, len(peaks) + 1)
    split = watershed(-dist, markers, mask=nuc)
    # a component without a peak (flat plateaus) keeps one label of its own
    rest, k = ndi.label(nuc & (split == 0), structure=np.ones((3, 3)))
    split[rest > 0] = rest[rest > 0] + len(peaks)
    return _consecutive(split)


def _consecutive(lab: np.ndarray) -> np.ndarray:
    """Relabel to 1..n in order of first appearance (row-major), 0 stays 0."""
    ids = np.unique(lab)
    ids = ids[ids > 0]
    lut = np.zeros(int(lab.max(initial=0)) + 1, np.int32)
    lut[ids] = np.arange(1, len(ids) + 1)
    return lut[lab]


def separate(probs: np.ndarray, cfg: InstanceConfig | None = None) -> Instances:
    """Cell and nucleus instances of one field from the model's probabilities.

    Args:
        probs: ``(2, H, W)`` float probabilities (cytoplasm = whole cell, nucleus), e.g. from
            :func:`cervix.inference.tiling.predict_tiled`.
        cfg: thresholds and sizes (:class:`InstanceConfig`).

    Returns:
        :class:`Instances` (uint16 label maps; nucleus pixels carry their cell's id).

    Raises:
        ValueError: ``probs`` is not ``(2, H, W)``.
    """
    cfg = cfg or InstanceConfig()
    probs = np.asarray(probs)
    if probs.ndim != 3 or probs.shape[0] != 2:
        raise ValueError(f"probs must be (2, H, W) (cytoplasm, nucleus), got shape {probs.shape}")
    probs = suppress_weak_nuclei(probs, cfg.nucleus_threshold, cfg.min_nucleus_score)
    nuc = probs[1] > cfg.nucleus_threshold
    nuc_lab = _nucleus_labels(nuc, cfg)  # (H, W) int32
    fg = (probs[0] > cfg.cell_threshold) | (nuc_lab > 0)
    n_seeded = int(nuc_lab.max(initial=0))
    cells = np.zeros(fg.shape, np.int32)
    if n_seeded:
        cells = watershed(ndi.distance_transform_edt(nuc_lab == 0), nuc_lab, mask=fg)
    rest, k = ndi.label(fg & (cells == 0), structure=np.ones((3, 3)))  # foreground no nucleus reaches
    cells[rest > 0] = rest[rest > 0] + n_seeded
    sizes = np.bincount(cells.ravel(), minlength=n_seeded + k + 1)
    drop = sizes < cfg.min_cell_area
    drop[0] = False
    present = sizes > 0
    n_dropped = int((drop & present).sum())
    cells[drop[cells]] = 0
    ids = np.flatnonzero(present & ~drop)
    ids = ids[ids > 0]
    lut = np.zeros(len(sizes), np.int32)
    lut[ids] = np.arange(1, len(ids) + 1)
    no_nucleus = {int(lut[i]) for i in ids if i > n_seeded}
    cells = lut[cells].astype(np.uint16)
    nuclei = np.where(nuc_lab > 0, cells, 0).astype(np.uint16)
    return Instances(cells=cells, nuclei=nuclei, no_nucleus=no_nucleus, n_dropped=n_dropped)


#: The columns of :func:`cell_table`, in order.
CELL_COLUMNS: tuple[str, ...] = (
    "cell_id",
    "x0",
    "y0",
    "width",
    "height",
    "centroid_x",
    "centroid_y",
    "cell_area",
    "visible_area",
    "nucleus_area",
    "nc_ratio",
    "n_nuclei",
    "flags",
)


def cell_table(inst: Instances, tiny_area: int | None = None) -> list[dict]:
    """One row per cell: id, bounding box, centroid, areas, N/C ratio, nuclei and flags.

    The cell is its whole mask where the field has whole cells (:attr:`Instances.whole`), else its
    part of the partition; ``cell_area`` is that mask's area, ``visible_area`` the cell's part of
    the partition (equal without whole cells). Flags: ``touches_border`` (the cell reaches the
    field's edge: it may be cut off), ``no_nucleus`` (grown from no nucleus), ``tiny`` (area below
    ``tiny_area``, default twice the smallest cell kept by :class:`InstanceConfig`).
    """
    from cervix.cells.morphometrics import nc_ratio

    tiny_area = 2 * InstanceConfig().min_cell_area if tiny_area is None else tiny_area
    H, W = inst.cells.shape
    visible = np.bincount(inst.cells.ravel(), minlength=inst.n + 1)
    rows = []
    for k, c in inst.cell_masks.items():
        y0, x0, y1, x1 = c.box
        ys, xs = np.nonzero(c.mask)
        area, nuc_area = int(c.mask.sum()), int(c.nucleus.sum())
        flags = [
            f
            for f, on in (
                ("touches_border", y0 == 0 or x0 == 0 or y1 == H or x1 == W),
                ("no_nucleus", k in inst.no_nucleus or nuc_area == 0),
                ("tiny", area < tiny_area),
            )
            if on
        ]
        rows.append(
            {
                "cell_id": k,
                "x0": x0,
                "y0": y0,
                "width": x1 - x0,
                "height": y1 - y0,
                "centroid_x": float(xs.mean() + x0),
                "centroid_y": float(ys.mean() + y0),
                "cell_area": area,
                "visible_area": int(visible[k]) if k < len(visible) else 0,
                "nucleus_area": nuc_area,
                "nc_ratio": nc_ratio(nuc_area, area - nuc_area),
                "n_nuclei": int(ndi.label(c.nucleus, structure=np.ones((3, 3)))[1]),
                "flags": ";".join(flags),
            }
        )
    return rows


#: Margin around a cell's box, fraction of its side per side: the middle of the synthetic
#: crops' random margin (``SynthConfig.crop_margin`` = 0.02..0.10), so analysed cells are framed
#: like the training crops.
CROP_MARGIN = 0.06

#: Aspect (w/h) of a crop box kept within 1/x..x, as ``SynthConfig.crop_max_stretch``.
CROP_MAX_STRETCH = 1.3


def cell_box(
    x0: int,
    y0: int,
    x1: int,
    y1: int,
    margin: tuple[float, float] = (CROP_MARGIN, CROP_MARGIN),
    jitter: tuple[float, float] = (0.0, 0.0),
    max_stretch: float = CROP_MAX_STRETCH,
) -> tuple[int, int, int, int]:
    """The crop box ``(x0, y0, width, height)`` around a cell's bounding box ``[x0, x1) x [y0, y1)``.

    The box grows by ``margin`` (fraction of the side, per side), its aspect is kept within
    ``max_stretch``, and it is shifted by ``jitter`` (fractions of the added room). The one home of
    this framing: :func:`cervix.synthetic.fields.cut_crop` frames the synthetic training crops with it (a
    random margin and jitter), :func:`cut_cell` the cells of an analysed field (the middle margin,
    no jitter).
    """
    bw, bh = (x1 - x0) * (1 + 2 * margin[0]), (y1 - y0) * (1 + 2 * margin[1])
    bw, bh = max(bw, bh / max_stretch), max(bh, bw / max_stretch)
    sw, sh = int(round(bw)), int(round(bh))
    jx, jy = jitter[0] * (sw - (x1 - x0)), jitter[1] * (sh - (y1 - y0))
    return int(round((x0 + x1) / 2 - sw / 2 + jx)), int(round((y0 + y1) / 2 - sh / 2 + jy)), sw, sh


def padded_crop(image: np.ndarray, x0: int, y0: int, sw: int, sh: int) -> np.ndarray:
    """``image[y0:y0+sh, x0:x0+sw]``, reflect-padded where the box leaves the image."""
    H, W = image.shape[:2]
    px0, py0 = max(0, -x0), max(0, -y0)
    px1, py1 = max(0, x0 + sw - W), max(0, y0 + sh - H)
    sub = image[max(y0, 0) : min(y0 + sh, H), max(x0, 0) : min(x0 + sw, W)]
    if px0 or py0 or px1 or py1:
        sub = cv2.copyMakeBorder(sub, py0, py1, px0, px1, cv2.BORDER_REFLECT_101)
    return np.ascontiguousarray(sub)


def cut_cell(image: np.ndarray, inst: Instances, cell_id: int) -> dict:
    """One cell of a field with its own masks: ``image`` (h, w, 3), ``cytoplasm`` and ``nucleus``
    (h, w) uint8 {0, 255} of that cell only (its whole mask where the field has whole cells; a
    neighbour's pixels are 0 in both), ``box``.

    Raises:
        ValueError: no cell ``cell_id``.
    """
    c = inst.cell_masks.get(int(cell_id))
    if c is None:
        raise ValueError(f"no cell {cell_id} (cells 1..{inst.n})")
    cy0, cx0, cy1, cx1 = c.box
    x0, y0, sw, sh = cell_box(cx0, cy0, cx1, cy1)
    cyt = np.zeros((sh, sw), np.uint8)  # zero outside the field (the image is reflected there)
    nuc = np.zeros((sh, sw), np.uint8)
    iy0, ix0, iy1, ix1 = max(cy0, y0), max(cx0, x0), min(cy1, y0 + sh), min(cx1, x0 + sw)  # box in the crop
    cyt[iy0 - y0 : iy1 - y0, ix0 - x0 : ix1 - x0] = c.mask[iy0 - cy0 : iy1 - cy0, ix0 - cx0 : ix1 - cx0] * 255
    nuc[iy0 - y0 : iy1 - y0, ix0 - x0 : ix1 - x0] = c.nucleus[iy0 - cy0 : iy1 - cy0, ix0 - cx0 : ix1 - cx0] * 255
    return {"image": padded_crop(image, x0, y0, sw, sh), "cytoplasm": cyt, "nucleus": nuc, "box": (x0, y0, sw, sh)}


def centre_id(inst: Instances) -> int:
    """Id of the cell a single-cell crop is centred on; 0 when there is no cell.

    The cell whose nucleus centroid is nearest the crop's centre: a crop is cut around its cell's
    nucleus, and in a clump a neighbour's cytoplasm often lies over the centre (in ISBI 2014 the
    median cell has 28% of its area under neighbours), so the cell under the centre pixel is often
    a neighbour. Without any nucleus: the cell under the centre, or, when the centre is
    background, the cell with the pixel nearest to it.
    """
    cells = inst.cells
    if not cells.any():
        return 0
    h, w = cells.shape
    ids = np.unique(inst.nuclei[inst.nuclei > 0])
    if len(ids):
        cy, cx = np.asarray(ndi.center_of_mass(np.ones(cells.shape), inst.nuclei, ids)).reshape(-1, 2).T
        return int(ids[np.argmin((cy - (h - 1) / 2) ** 2 + (cx - (w - 1) / 2) ** 2)])
    keep = int(cells[h // 2, w // 2])
    if keep == 0:
        ys, xs = np.nonzero(cells)
        i = int(np.argmin((ys - h // 2) ** 2 + (xs - w // 2) ** 2))
        keep = int(cells[ys[i], xs[i]])
    return keep


def centre_instance(inst: Instances) -> tuple[np.ndarray, np.ndarray]:
    """``(cytoplasm, nucleus)`` uint8 {0, 255} partition masks of the cell a single-cell crop is
    centred on (:func:`centre_id`); both empty when there is no cell."""
    keep = centre_id(inst)
    if keep == 0:
        return np.zeros(inst.cells.shape, np.uint8), np.zeros(inst.cells.shape, np.uint8)
    return ((inst.cells == keep) * 255).astype(np.uint8), ((inst.nuclei == keep) * 255).astype(np.uint8)


def covered_fractions(cells: np.ndarray) -> np.ndarray:
    """Fraction of each cell's area that the other cells cover.

    Args:
        cells: (N, H, W) bool whole-cell masks of one image, overlaps allowed (``Sample.cells``).

    Returns:
        (N,) float64: pixels of cell ``i`` inside at least one other cell / pixels of cell ``i``;
        NaN for an empty mask.
    """
    m = np.asarray(cells).astype(bool)
    if m.ndim != 3:
        raise ValueError(f"cells must be an (N, H, W) stack, got shape {m.shape}")
    shared = m.sum(axis=0, dtype=np.int32) >= 2  # (H, W) pixels of two cells or more
    area = m.sum(axis=(1, 2)).astype(np.float64)
    covered = (m & shared[None]).sum(axis=(1, 2)).astype(np.float64)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(area > 0, covered / np.maximum(area, 1), np.nan)
