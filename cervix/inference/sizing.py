"""Cell size: measured in training, estimated per image, normalised before segmentation.

A segmentation model trained at one pixel scale segments well only near it: a single-cell crop
magnified four times beyond the training fields is background to it. Cellpose (Stringer et al.,
Nat. Methods 2021) trains at one canonical object size, estimates each image's size, resizes the
image so its cells have that size, and lets the user give the diameter; nnU-Net (Isensee et al.,
Nat. Methods 2021) normalises pixel spacing the same way. cervix does the same:

- **The measure is the nucleus diameter** (equivalent-circle diameter, px). The nucleus is
  always whole inside a crop (the cytoplasm is often cut by the crop's frame), it is what the
  model finds most reliably (distinct and dark, in fields and crops alike; neighbouring cells'
  cytoplasm clumps), and its size varies less between the normal cell types than the cell's
  (a superficial cell is several times wider than a parabasal one, their nuclei are alike).
  The run stores the training medians of both diameters (:func:`training_cell_size`).
- **Two passes** (:func:`sized_probabilities`): the image is segmented on a pyramid (the run's
  scale times 1, 1/2, 1/4, 1/8; levels that shrink its short side below 32 px, or leave its long
  side above 1024 px while a coarser level is left, are skipped); at each level the centre
  cell's nucleus (single-cell crops) or the median nucleus (fields) is measured; among the
  measures that a neighbouring level confirms (a real nucleus measures about the same in image
  pixels at two levels, a texture fragment found far from the training size does not), the
  level whose nucleus, at that level's scale, is nearest the training median (in log ratio)
  gives the estimate: the model is most trustworthy near its training size. The image is then
  resized so its nucleus diameter matches the training median and segmented again. As in
  Cellpose's size model, the nucleus is measured once more on that pass (now near the training
  size) and this refined measure is the estimate; when it moved by more than 10% the image is
  segmented a third time at its scale.
- **A given diameter** (``--cell-diameter PX``) is the *cell's* diameter in the image, as in
  Cellpose; the scale is then the training median cell diameter over it.
- **Padding is background**: flat borders (the letterbox of Herlev and SIPaKMeD crops) are found
  (:func:`flat_borders`), left out of segmentation and of every mask.

Runs trained without a stored cell size fall back to averaging four fixed scales
(:func:`cervix.inference.tiling.multi_scale_probabilities`) for crops and to the run's own scale
for fields.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
from torch import nn
from tqdm.auto import tqdm

from cervix.cells.instances import InstanceConfig, centre_id, centre_instance, separate, suppress_weak_nuclei
from cervix.cells.morphometrics import blob_diameters, equivalent_diameter
from cervix.core.config import MIN_NUCLEUS_SCORE
from cervix.core.masks import binarise, foreground
from cervix.data.records import Record
from cervix.inference.tiling import CROP_SCALES, multi_scale_probabilities, predict_tiled
from cervix.inference.wholecells import predict_whole_cells

__all__ = [
    "SIZE_MEASURE",
    "PYRAMID",
    "CONFIRM_TOLERANCE",
    "REFINE_TOLERANCE",
    "flat_borders",
    "training_cell_size",
    "parse_diameter",
    "run_cell_size",
    "sized_probabilities",
    "sized_masks",
    "size_columns",
    "MIN_NUCLEUS_SHARE",
    "min_nucleus_area",
]

#: What the size of a cell is measured by (see the module docstring for why).
SIZE_MEASURE = "nucleus_diameter"

#: Relative levels of the first pass, down to 1/8.
PYRAMID: tuple[float, ...] = (1.0, 0.5, 0.25, 0.125)

#: Relative difference of two neighbouring pyramid levels' measures that confirms a nucleus.
CONFIRM_TOLERANCE = 0.2

#: Relative change of the refined nucleus diameter that is worth one more segmentation pass.
REFINE_TOLERANCE = 0.1

#: Smallest nucleus kept when a field is separated into cells, as a share of the run's median
#: training nucleus area: smaller blobs are dark overlaps of cytoplasm or debris. 0.18 is about
#: 100 px for the synthetic `cpu` run (median nucleus 26.9 px). Chosen on its 6 synthetic validation
#: fields (nucleus detection F1 0.625 at 12 px, 0.652 at 100 px, 0.670 at 150 px) and checked on
#: the 30 real-dev ISBI images (0.881, 0.938, 0.883: 150 px drops real nuclei there).
MIN_NUCLEUS_SHARE = 0.18

#: Smallest and largest resize factor relative to the run's scale (an estimate beyond is clipped).
_FACTOR_RANGE = (1 / 16, 4.0)


def flat_borders(
    image: np.ndarray, tol: float = 4.0, quantile: float = 99.0, ring_tol: float = 12.0
) -> tuple[int, int, int, int]:
    """Rows and columns of flat padding at each side of an image: ``(top, bottom, left, right)``.

    A border line is padding when ``quantile`` percent of its pixels lie within ``tol`` grey
    levels (every channel) of the outermost line's median colour: the exact flat letterbox of
    distributed crops, tolerant of JPEG noise, but not the noisy background of a real field (whose
    lines vary by 5 and more). Once such a flat run is found it goes on through the lines within
    ``ring_tol`` (JPEG rings up to a block or two next to the content) and ends at the content.
    A letterbox pads one axis (a rectangular crop made square): flat lines on both axes are a
    flat background around the cell, not padding, and an image flat everywhere has none.

    Args:
        image: ``(H, W, 3)`` or ``(H, W)`` uint8.
        tol: largest deviation (grey levels) of a padding pixel from the padding colour.
        quantile: percent of a line's pixels that must be within ``tol``.
        ring_tol: the same for the lines after the flat run (JPEG ringing).
    """
    img = np.asarray(image, np.int16)
    img = img[..., None] if img.ndim == 2 else img
    H, W = img.shape[:2]

    def run(lines: np.ndarray) -> int:  # lines: (n, length, C), outermost first
        ref = np.median(lines[0], axis=0)
        dev = np.abs(lines - ref).max(-1)  # (n, length)
        p = np.percentile(dev, quantile, axis=1)
        n = int(np.argmin(p <= tol)) if not (p <= tol).all() else len(p)
        if n == 0:
            return 0
        ringing = p[n:] <= ring_tol
        return n + (int(np.argmin(ringing)) if not ringing.all() else len(ringing))

    top, bottom = run(img), run(img[::-1])
    left, right = run(img.transpose(1, 0, 2)), run(img.transpose(1, 0, 2)[::-1])
    if top + bottom >= H or left + right >= W or (top + bottom and left + right):
        return 0, 0, 0, 0  # flat all round: a flat background (drawn images), not a letterbox
    return top, bottom, left, right


def training_cell_size(records: Sequence[Record], scale: float = 1.0, progress: bool = False) -> dict[str, Any]:
    """Medians of the nucleus and cell diameters of training images, in model-input pixels.

    Nuclei are the connected parts of the nucleus masks; cells are the per-cell truth
    (``Sample.cells``) where the format has it, else the connected parts of the cytoplasm mask.
    Diameters are equivalent-circle diameters times ``scale`` (the run's resize factor).

    Returns:
        ``{"measure", "nucleus_diameter", "cell_diameter", "n_nuclei", "n_cells"}``; a median is
        None when no nucleus (cell) was found.
    """
    nuclei: list[np.ndarray] = []
    cells: list[np.ndarray] = []
    for r in tqdm(records, desc="cell size", disable=not progress, leave=False):
        s = r.load()
        if s.nucleus is not None:
            nuclei.append(blob_diameters(s.nucleus, min_area=4))
        if s.cells is not None and len(s.cells):
            areas = s.cells.reshape(len(s.cells), -1).sum(1)
            cells.append(np.asarray(equivalent_diameter(areas[areas > 0])).reshape(-1))
        elif s.cytoplasm is not None:
            cells.append(blob_diameters(s.cytoplasm, min_area=4))
    nd = np.concatenate(nuclei) * scale if nuclei else np.zeros(0)
    cd = np.concatenate(cells) * scale if cells else np.zeros(0)
    return {
        "measure": SIZE_MEASURE,
        "nucleus_diameter": float(np.median(nd)) if len(nd) else None,
        "cell_diameter": float(np.median(cd)) if len(cd) else None,
        "n_nuclei": len(nd),
        "n_cells": len(cd),
    }


def parse_diameter(value: Any) -> float | str | None:
    """``None`` (the run's scale), ``"auto"`` (estimated per image) or a positive number of pixels.

    Raises:
        ValueError: anything else, naming the value (one line for the command line).
    """
    if value is None or (isinstance(value, str) and value.strip().lower() == "auto"):
        return None if value is None else "auto"
    try:
        d = float(value)
    except (TypeError, ValueError):
        d = math.nan
    if isinstance(value, bool) or not math.isfinite(d) or d <= 0:
        raise ValueError(f"--cell-diameter must be a positive number of pixels or 'auto', got {value!r}")
    return d


def run_cell_size(cfg: Mapping[str, Any], diameter: float | str | None) -> dict[str, Any] | None:
    """The run's stored cell size, or None (with one warning when a size was asked for) for a run
    trained before cervix stored it: crops then fall back to averaging four fixed scales."""
    size = cfg.get("cell_size")
    if size and size.get("nucleus_diameter"):
        return dict(size)
    if diameter is not None:
        warnings.warn(
            f"{cfg.get('checkpoint', 'this run')}: the run stores no training cell size (trained before "
            "cervix measured it); single-cell crops fall back to averaging the scales "
            f"{CROP_SCALES}, fields keep the run's scale. Retrain to get size normalisation.",
            stacklevel=2,
        )
    return None


def min_nucleus_area(cell_size: Mapping[str, Any] | None, scale: float | None = 1.0) -> int:
    """Smallest nucleus (image px) kept when cells are separated: :data:`MIN_NUCLEUS_SHARE` of the
    run's median training nucleus area seen at ``scale`` (the image's resize factor to the model's
    input), never below :class:`InstanceConfig`'s default; that default for a run without a stored
    cell size or an unknown scale."""
    floor = InstanceConfig().min_nucleus_area
    if not cell_size or not cell_size.get("nucleus_diameter") or not scale:
        return floor
    area = math.pi / 4 * (float(cell_size["nucleus_diameter"]) / float(scale)) ** 2
    return max(floor, int(round(MIN_NUCLEUS_SHARE * area)))


def _measure(probs: np.ndarray, thresholds: Sequence[float], single_cell: bool, score: float) -> float | None:
    """Nucleus diameter (image px) of the centre cell (crops) or the median nucleus (fields); nuclei
    scoring below ``score`` (:func:`cervix.cells.instances.suppress_weak_nuclei`) are not measured."""
    if single_cell:
        icfg = InstanceConfig(cell_threshold=thresholds[0], nucleus_threshold=thresholds[1], min_nucleus_score=score)
        area = int(foreground(centre_instance(separate(probs, icfg))[1]).sum())
        return float(equivalent_diameter(area)) if area else None
    kept = suppress_weak_nuclei(probs, thresholds[1], score)  # the nuclei a field keeps
    d = blob_diameters(kept[1] > thresholds[1], min_area=4)
    return float(np.median(d)) if len(d) else None


def _choose_level(measures: Sequence[tuple[float, float]], target: float) -> float | None:
    """The nucleus diameter (image px) the first pass settles on, from ``(level scale, diameter in
    image px)`` per pyramid level, finest first.

    A real nucleus measures about the same in image pixels at neighbouring levels; a fragment of
    texture that a level far from the training size mistakes for a nucleus does not (a 4x crop's
    106 px nucleus at full scale: a 25 px fragment; at 1/2, 1/4 and 1/8: 93, 98 and 99 px). So the
    measures confirmed by a neighbouring level (within :data:`CONFIRM_TOLERANCE`) are preferred,
    and among them the one whose size at its level is nearest the training median (log ratio)."""
    ok = [(s, d) for s, d in measures if d * s >= 2.0]  # a nucleus of under 2 px at its level is noise
    if not ok:
        return None
    tol = math.log1p(CONFIRM_TOLERANCE)
    agree = [abs(math.log(a[1] / b[1])) <= tol for a, b in zip(ok, ok[1:])]  # level i agrees with level i + 1
    confirmed = [m for i, m in enumerate(ok) if (i > 0 and agree[i - 1]) or (i < len(agree) and agree[i])]
    return min(confirmed or ok, key=lambda m: abs(math.log(m[1] * m[0] / target)))[1]


def _estimate(
    model: nn.Module,
    image: np.ndarray,
    thresholds: Sequence[float],
    single_cell: bool,
    target: float,
    kw: dict,
    score: float = MIN_NUCLEUS_SCORE,
) -> tuple[float | None, int]:
    """First pass: ``(nucleus diameter in image px or None, levels tried)`` over :data:`PYRAMID`
    (the level is chosen by :func:`_choose_level`).

    Levels that shrink the short side below ``min_side`` px are skipped, and so are levels that
    leave the long side above ``max_side`` px while a coarser level is left (a magnified crop's
    nucleus is measured where it is small); the passes skip the tile overlap and flip TTA (a
    measurement, not the masks)."""
    base, min_side, max_side = float(kw["scale"]), 32, 1024
    levels = [lv for i, lv in enumerate(PYRAMID) if i == 0 or min(image.shape[:2]) * base * lv >= min_side]
    small = [lv for lv in levels if max(image.shape[:2]) * base * lv <= max_side]
    levels = small or levels[-1:]
    measures = []  # (scale, diameter in image px) of the levels where a nucleus was found
    for level in levels:
        s = base * level
        probs = predict_tiled(model, image, **{**kw, "scale": s, "overlap": 0.0, "margin": 0, "tta": False})
        d = _measure(probs[:2], thresholds, single_cell, score)
        if d is not None:
            measures.append((s, d))
    return _choose_level(measures, target), len(levels)


def _clip_scale(s: float, base: float) -> float:
    return float(np.clip(s, base * _FACTOR_RANGE[0], base * _FACTOR_RANGE[1]))


def _refine(
    model: nn.Module,
    image: np.ndarray,
    probs: np.ndarray,
    thresholds: Sequence[float],
    single_cell: bool,
    target: float,
    info: dict[str, Any],
    kw: dict,
    score: float = MIN_NUCLEUS_SCORE,
) -> np.ndarray:
    """Refinement (Cellpose's second size step): the nucleus measured again on the normalised pass,
    where the model sees it near its training size, becomes the estimate; when it differs from the
    first pass's by more than :data:`REFINE_TOLERANCE` the image is segmented once more at its scale.
    Skipped when the first scale was clipped (that pass is not at the training size)."""
    d1 = float(info["nucleus_diameter_px"])
    if not math.isclose(info["scale"], target / d1):  # clipped
        return probs
    d2 = _measure(probs, thresholds, single_cell, score)
    if not d2:
        return probs
    info.update(nucleus_diameter_first_px=d1, nucleus_diameter_px=d2)
    s = _clip_scale(target / d2, float(kw["scale"]))
    if abs(d2 / d1 - 1) <= REFINE_TOLERANCE or math.isclose(s, info["scale"]):
        return probs
    info["scale"] = s
    return predict_tiled(model, image, **{**kw, "scale": s})[:2]


def sized_probabilities(
    model: nn.Module,
    image: np.ndarray,
    thresholds: Sequence[float] = (0.5, 0.5),
    *,
    single_cell: bool = False,
    diameter: float | str | None = None,
    cell_size: Mapping[str, Any] | None = None,
    refine: bool = True,
    min_nucleus_score: float = MIN_NUCLEUS_SCORE,
    **kw: Any,
) -> tuple[np.ndarray, dict[str, Any]]:
    """``(2, H, W)`` probabilities of an image segmented at its cells' training size.

    Args:
        model: segmentation network (logits ``(B, 2, H, W)``).
        image: ``(H, W, 3)`` uint8 RGB.
        thresholds: ``(cytoplasm, nucleus)`` thresholds (used to measure nuclei).
        single_cell: the image is a single-cell crop (measure its centre cell).
        diameter: None (the run's scale), ``"auto"`` (a pyramid, then the normalised pass; a third
            pass when the refinement moves the estimate) or the cell diameter in px.
        cell_size: the run's :func:`training_cell_size`; None (older runs): the fallback.
        refine: with ``"auto"``, measure the nucleus again on the normalised pass (and segment once
            more when it moved by more than :data:`REFINE_TOLERANCE`).
        min_nucleus_score: nuclei of a lower mean probability are not measured (the run's
            ``min_nucleus_score``).
        **kw: :func:`cervix.inference.tiling.predict_tiled` arguments (``scale`` = the run's).

    Returns:
        ``(probs, info)``: probabilities, zero on flat padding; ``info`` holds
        ``nucleus_diameter_px`` (the estimate, refined when ``refine``; or None; the first pass's is
        then ``nucleus_diameter_first_px``), ``scale`` (the resize factor of the final pass, None
        for the multi-scale fallback; kept from the first estimate when the refined one is within
        :data:`REFINE_TOLERANCE` of it), ``size_source`` (``run``, ``auto``, ``given``,
        ``auto: no nucleus found`` or ``multi-scale``) and ``padding`` (top, bottom, left, right).
    """
    kw = {"scale": 1.0, **kw}
    base = float(kw["scale"])
    t, b, left, r = flat_borders(image)
    H, W = image.shape[:2]
    content = image[t : H - b, left : W - r]
    info: dict[str, Any] = {"nucleus_diameter_px": None, "scale": base, "size_source": "run"}
    if cell_size is None and single_cell:
        probs = multi_scale_probabilities(model, content, CROP_SCALES, **kw)
        info.update(scale=None, size_source="multi-scale")
    else:
        s = base
        d = None
        if cell_size is not None and diameter == "auto":
            target = float(cell_size["nucleus_diameter"])
            d, _ = _estimate(model, content, thresholds, single_cell, target, kw, min_nucleus_score)
            info.update(nucleus_diameter_px=d, size_source="auto" if d else "auto: no nucleus found")
            s = float(cell_size["nucleus_diameter"]) / d if d else base
        elif cell_size is not None and isinstance(diameter, (int, float)):
            s = float(cell_size.get("cell_diameter") or cell_size["nucleus_diameter"]) / float(diameter)
            info["size_source"] = "given"
        s = _clip_scale(s, base)
        info["scale"] = s
        probs = predict_tiled(model, content, **{**kw, "scale": s})[:2]
        if d and refine:
            target = float(cell_size["nucleus_diameter"])
            probs = _refine(model, content, probs, thresholds, single_cell, target, info, kw, min_nucleus_score)
    full = np.zeros((2, H, W), np.float32)
    full[:, t : H - b, left : W - r] = probs
    info["padding"] = [t, b, left, r]
    return full, info


def sized_masks(
    model: nn.Module,
    image: np.ndarray,
    thresholds: Sequence[float] = (0.5, 0.5),
    *,
    single_cell: bool = False,
    cell_head: tuple[nn.Module, Mapping[str, Any]] | None = None,
    min_nucleus_score: float = MIN_NUCLEUS_SCORE,
    **kw: Any,
) -> tuple[np.ndarray, np.ndarray, dict[str, Any]]:
    """``(cytoplasm, nucleus, info)``: uint8 {0, 255} masks of :func:`sized_probabilities`.

    Single-cell crops give the centre cell only (:func:`cervix.cells.instances.centre_id`): with a
    ``cell_head`` (model and config of ``RUN/cells/``) its cytoplasm mask is the cell head's whole
    cell, reaching under the neighbours that lie over it; without one, its part of the partition, a
    neighbour cut off at the watershed line between their nuclei. Padding stays background.
    """
    probs, info = sized_probabilities(
        model, image, thresholds, single_cell=single_cell, min_nucleus_score=min_nucleus_score, **kw
    )
    # nuclei below the run's score are left out, as separate leaves them out; not from the multi-scale
    # fallback, whose average over four scales lowers every nucleus's probability (a one-scale score)
    score = 0.0 if info["size_source"] == "multi-scale" else min_nucleus_score
    if not single_cell:  # a field: both masks whole
        cyt, nuc = binarise(suppress_weak_nuclei(probs, thresholds[1], score), thresholds)
        return cyt, nuc, info
    icfg = InstanceConfig(cell_threshold=thresholds[0], nucleus_threshold=thresholds[1], min_nucleus_score=score)
    inst = separate(probs, icfg)
    cyt, nuc = centre_instance(inst)
    cid = centre_id(inst)
    if cell_head is not None and cid and nuc.any():
        head, cfg = cell_head
        scale = info["scale"] or float(kw.get("scale", 1.0))  # the final pass's resize (multi-scale: the run's)
        cell = predict_whole_cells(
            head, {**cfg, "scale": scale, "tta": kw.get("tta", False)}, image, probs[0], inst, ids=[cid]
        )[0]
        t, b, left, r = info["padding"]
        content = np.zeros(cyt.shape, bool)
        content[t : cyt.shape[0] - b, left : cyt.shape[1] - r] = True
        cyt = ((cell.full(cyt.shape) & content) * 255).astype(np.uint8)
    return cyt, nuc, info


def size_columns(info: Mapping[str, Any]) -> dict[str, Any]:
    """The size columns of a row of ``qc.csv``, ``predictions.csv`` or ``summary.csv``: the nucleus
    diameter estimate (px; empty when not estimated), the resize factor used (empty for the
    multi-scale fallback) and where it came from (see :func:`sized_probabilities`)."""
    return {
        "nucleus_diameter_px": info.get("nucleus_diameter_px"),
        "scale_used": info.get("scale"),
        "size_source": info.get("size_source"),
    }
