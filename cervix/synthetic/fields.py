"""Synthetic Papanicolaou-stained cervical smears: fields with masks, and single-cell crops.

The generator draws cells with class-specific morphology of the five SIPaKMeD cell types
(Plissiti et al., ICIP 2018) and renders them by Beer-Lambert absorption (optical densities
add where cells overlap, as in a real smear; stain vectors in the spirit of Ruifrok & Johnston,
2001): cyanophilic blue-green and eosinophilic pink/orange cytoplasm, haematoxylin-stained
blue-violet nuclei with chromatin texture, then uneven illumination, debris (neutrophils,
bacteria, mucus), defocus blur and sensor noise. This module holds the class morphology, the
fields, the crops and the writer; drawing one cell and the debris is in :mod:`cervix.synthetic.cells`.

Morphology per class (Bethesda-style descriptions, e.g. Nayar & Wilbur 2015):
* superficial-intermediate: large flat polygonal cytoplasm with folds, small round or
  pyknotic nucleus, low N/C ratio;
* parabasal: small round/oval cells, dense cytoplasm, high N/C ratio;
* metaplastic: round/oval with cytoplasmic processes, relatively large nucleus, vacuoles;
* koilocytotic: enlarged hyperchromatic, irregular, sometimes binucleate nucleus with a clear
  perinuclear halo and a dense rim;
* dyskeratotic: small orange keratinised cells with dense pyknotic nuclei, often clustered.

Pixel scale: fixed, independent of the field size (a superficial cell is ~120-170 px across,
a parabasal cell ~55-80 px). A crop is the box around one cell's bounding box with a random
2-10 % margin per side (aspect kept within 1.3), kept at the fields' pixel scale by default (as
SIPaKMeD's CROPPED images are cut from its fields), so a crop's size follows its cell's size; with
``size`` it is resized to ``size`` x ``size`` instead.

Determinism: item ``k`` (field ``k`` and the crops cut from it) uses its own child seed
``SeedSequence(seed, spawn_key=(k,))``, so it is the same whatever the number of items.
``generate`` writes field ``k`` and cuts crops from the same field ``k``: each field holds one
"target" cell of every class (plus random neighbours), and crop ``f0003_c01`` is target 1
(class ``SIPAKMED_CLASSES[1]``) of ``field_0003``, its group.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import cv2
import numpy as np

from cervix.cells.instances import cell_box, padded_crop
from cervix.core.labels import SIPAKMED_CLASSES
from cervix.synthetic.cells import STAIN_OD, Cell, CellParams, add_debris, render_cell, smooth_noise

__all__ = [
    "SynthConfig",
    "ClassSpec",
    "CLASS_SPECS",
    "sample_cell_params",
    "item_rng",
    "make_field",
    "cut_crop",
    "truth_cells",
    "whole_cell_window",
    "whole_cells",
]

Range = tuple[float, float]


@dataclass
class SynthConfig:
    """Field-level settings (pixel scale and cell sizes are fixed in :data:`CLASS_SPECS`)."""

    size: int = 512  # field side, pixels
    n_cells: tuple[int, int] = (4, 9)  # cells per 512x512 field when classes are not given
    n_extra: tuple[int, int] = (3, 8)  # random neighbours per 512x512 field besides the targets
    difficulty: float = 0.5  # 0..1: widens/overlaps class parameter ranges, more blur and debris
    background: tuple[int, int, int] = (236, 232, 240)  # light background (RGB) before jitter
    blur: Range = (0.7, 1.4)  # Gaussian defocus sigma (px); + 0.4 * difficulty
    noise: Range = (1.5, 3.5)  # sensor noise std (grey levels)
    illumination: float = 0.07  # amplitude of the smooth illumination field
    debris: Range = (2, 6)  # neutrophils per 512x512 field (plus bacteria and mucus)
    crop_margin: Range = (0.02, 0.10)  # crop margin around the cell box, fraction of its side per side
    crop_max_stretch: float = 1.3  # crop box aspect (w/h) kept within 1/x..x (resized square only with size)
    widen: float = 0.6  # at difficulty 1 each class range grows by this fraction of its width per side
    atypical: float = 0.24  # at difficulty 1, prob. that a feature group comes from a confusable class
    clumping: float = 0.0  # prob. that a random neighbour is laid over a placed cell (overlap), not spread out


@dataclass(frozen=True)
class ClassSpec:
    """Parameter ranges of one cell class (field pixels; ratios are radii ratios)."""

    radius: Range  # equivalent cell radius, px
    aspect: Range  # cell elongation (major / minor axis)
    vertices: tuple[int, int]  # polygon corners (0: smooth outline)
    roughness: float  # outline irregularity
    processes: tuple[int, int]  # cytoplasmic processes (metaplastic)
    nuc_ratio: Range  # nucleus radius / cell radius
    nuc_aspect: Range  # nucleus elongation
    nuc_irregular: float  # nuclear outline irregularity
    p_pyknotic: float  # probability of a small dense nucleus
    p_binucleate: float  # probability of two nuclei
    p_halo: float  # probability of a perinuclear halo
    halo: Range  # halo radius / nucleus radius
    density: Range  # cytoplasm optical density scale
    hema: Range  # nuclear haematoxylin strength
    p_vacuoles: float  # probability of vacuoles
    p_folds: float  # probability of cytoplasm folds
    cluster: tuple[int, int]  # same-class neighbours placed against it
    palette: dict[str, float]  # cytoplasm stain -> probability


#: Class specifications at difficulty 0 (see module docstring for the morphology; the stain
#: names are those of :data:`cervix.synthetic.cells.PALETTE`).
CLASS_SPECS: dict[str, ClassSpec] = {
    "superficial-intermediate": ClassSpec(
        radius=(60, 84),
        aspect=(1.0, 1.35),
        vertices=(5, 8),
        roughness=0.10,
        processes=(0, 0),
        nuc_ratio=(0.12, 0.17),
        nuc_aspect=(1.0, 1.25),
        nuc_irregular=0.03,
        p_pyknotic=0.4,
        p_binucleate=0.0,
        p_halo=0.08,
        halo=(1.3, 1.6),
        density=(0.8, 1.1),
        hema=(1.0, 1.4),
        p_vacuoles=0.0,
        p_folds=0.6,
        cluster=(0, 0),
        palette={"lavender": 0.6, "pink": 0.2, "blue": 0.12, "green": 0.08},
    ),
    "parabasal": ClassSpec(
        radius=(27, 40),
        aspect=(1.0, 1.3),
        vertices=(0, 0),
        roughness=0.05,
        processes=(0, 0),
        nuc_ratio=(0.36, 0.5),
        nuc_aspect=(1.05, 1.4),
        nuc_irregular=0.03,
        p_pyknotic=0.0,
        p_binucleate=0.0,
        p_halo=0.0,
        halo=(1.2, 1.4),
        density=(0.7, 0.95),
        hema=(0.25, 0.45),
        p_vacuoles=0.1,
        p_folds=0.0,
        cluster=(0, 1),
        palette={"blue": 0.7, "teal": 0.15, "lavender": 0.15},
    ),
    "metaplastic": ClassSpec(
        radius=(32, 50),
        aspect=(1.0, 1.5),
        vertices=(0, 0),
        roughness=0.08,
        processes=(1, 4),
        nuc_ratio=(0.27, 0.38),
        nuc_aspect=(1.0, 1.35),
        nuc_irregular=0.04,
        p_pyknotic=0.0,
        p_binucleate=0.03,
        p_halo=0.0,
        halo=(1.2, 1.4),
        density=(1.0, 1.4),
        hema=(0.4, 0.7),
        p_vacuoles=0.7,
        p_folds=0.1,
        cluster=(0, 1),
        palette={"teal": 0.6, "green": 0.2, "blue": 0.2},
    ),
    "koilocytotic": ClassSpec(
        radius=(45, 68),
        aspect=(1.0, 1.4),
        vertices=(5, 8),
        roughness=0.10,
        processes=(0, 0),
        nuc_ratio=(0.3, 0.42),
        nuc_aspect=(1.1, 1.6),
        nuc_irregular=0.10,
        p_pyknotic=0.0,
        p_binucleate=0.3,
        p_halo=0.9,
        halo=(1.4, 2.0),
        density=(0.7, 1.1),
        hema=(1.0, 1.4),
        p_vacuoles=0.0,
        p_folds=0.3,
        cluster=(0, 1),
        palette={"pink": 0.3, "teal": 0.3, "lavender": 0.2, "grey": 0.2},
    ),
    "dyskeratotic": ClassSpec(
        radius=(22, 36),
        aspect=(1.0, 1.6),
        vertices=(0, 6),
        roughness=0.08,
        processes=(0, 0),
        nuc_ratio=(0.42, 0.55),
        nuc_aspect=(1.0, 1.4),
        nuc_irregular=0.05,
        p_pyknotic=0.6,
        p_binucleate=0.05,
        p_halo=0.0,
        halo=(1.2, 1.4),
        density=(1.3, 1.7),
        hema=(0.8, 1.1),
        p_vacuoles=0.0,
        p_folds=0.2,
        cluster=(1, 3),
        palette={"orange": 0.6, "redbrown": 0.4},
    ),
}

#: Classes a cell may borrow an atypical feature group from (realistic confusions).
_CONFUSABLE: dict[str, tuple[str, ...]] = {
    "superficial-intermediate": ("koilocytotic",),
    "parabasal": ("metaplastic", "dyskeratotic"),
    "metaplastic": ("parabasal", "koilocytotic"),
    "koilocytotic": ("superficial-intermediate", "dyskeratotic", "metaplastic"),
    "dyskeratotic": ("koilocytotic", "parabasal"),
}


def item_rng(seed: int, *key: int) -> np.random.Generator:
    """Child generator of ``seed`` for item ``key`` (independent of how many items exist)."""
    return np.random.default_rng(np.random.SeedSequence(int(seed), spawn_key=tuple(int(k) for k in key)))


def _widen(r: Range, d: float, widen: float) -> Range:
    lo, hi = r
    w = (hi - lo) * widen * d
    return lo - w, hi + w


def _pick(rng: np.random.Generator, probs: dict[str, float]) -> str:
    keys = list(probs)
    p = np.asarray([probs[k] for k in keys], np.float64)
    return keys[int(rng.choice(len(keys), p=p / p.sum()))]


def sample_cell_params(
    rng: np.random.Generator, cls: str, difficulty: float = 0.5, cfg: SynthConfig | None = None
) -> CellParams:
    """Sample one cell of class ``cls``.

    ``difficulty`` widens every range by ``cfg.widen * difficulty`` of its width per side and,
    with probability ``cfg.atypical * difficulty`` each, takes the shape, nucleus or colour
    group of features from a confusable class (e.g. a superficial cell with a halo-like
    clearing, a parabasal cell with metaplastic processes).
    """
    if cls not in CLASS_SPECS:
        raise ValueError(f"unknown class {cls!r}; choose one of {list(CLASS_SPECS)}")
    cfg = cfg or SynthConfig()
    d = float(np.clip(difficulty, 0.0, 1.0))
    p_atyp = cfg.atypical * d
    groups = {}
    for g in ("shape", "nucleus", "colour"):
        other = _CONFUSABLE[cls][int(rng.integers(len(_CONFUSABLE[cls])))]
        groups[g] = CLASS_SPECS[other if rng.random() < p_atyp else cls]
    s, n, c = groups["shape"], groups["nucleus"], groups["colour"]
    base = CLASS_SPECS[cls]

    def u(r: Range, lo_clip: float = 0.0) -> float:
        a, b = _widen(r, d, cfg.widen)
        return float(max(lo_clip, rng.uniform(a, b)))

    nv = int(rng.integers(s.vertices[0], s.vertices[1] + 1))
    pyk = bool(rng.random() < n.p_pyknotic)
    nuc_ratio = u(n.nuc_ratio, 0.05) * (0.8 if pyk else 1.0)
    stain = STAIN_OD[_pick(rng, c.palette)]
    stain2 = STAIN_OD[_pick(rng, c.palette)]
    mix = float(rng.uniform(0.0, 0.35))
    stain = (1 - mix) * stain + mix * stain2
    stain = stain * np.exp(rng.normal(0.0, 0.06 + 0.06 * d, 3)).astype(np.float32)
    return CellParams(
        cls=cls,
        radius=u(base.radius, 12.0),  # size stays with the true class (crops are rescaled anyway)
        aspect=u(s.aspect, 1.0),
        angle=float(rng.uniform(0, np.pi)),
        vertices=nv if nv >= 3 else 0,
        roughness=s.roughness,
        processes=int(rng.integers(s.processes[0], s.processes[1] + 1)),
        nuc_ratio=min(nuc_ratio, 0.6),
        nuc_aspect=u(n.nuc_aspect, 1.0),
        nuc_irregular=n.nuc_irregular,
        pyknotic=pyk,  # pyknotic: 0.8x radius, 1.35x haematoxylin
        binucleate=bool(rng.random() < n.p_binucleate),
        halo=u(n.halo, 1.1) if rng.random() < n.p_halo else 0.0,
        density=u(c.density, 0.3),
        hema=u(n.hema, 0.2) * (1.35 if pyk else 1.0),
        vacuoles=int(rng.integers(2, 7)) if rng.random() < s.p_vacuoles else 0,
        folds=int(rng.integers(1, 4)) if rng.random() < base.p_folds else 0,
        stain=stain.astype(np.float32),
        cluster=int(rng.integers(base.cluster[0], base.cluster[1] + 1)),
    )


def _place(
    rng: np.random.Generator, cell: Cell, size: int, placed: list[Cell], inside: bool, min_sep: float, tries: int = 40
) -> None:
    """Choose the cell's position: fully inside the field (with crop room) when ``inside``."""
    hw, hh, r = cell.extent
    best, best_score = None, -1.0
    for _ in range(tries):
        if inside:
            mx, my = min(hw * 1.3, size / 2), min(hh * 1.3, size / 2)
            cx, cy = rng.uniform(mx, size - mx), rng.uniform(my, size - my)
        else:
            cx, cy = rng.uniform(-0.05 * size, 1.05 * size), rng.uniform(-0.05 * size, 1.05 * size)
        score = min(
            (
                math.hypot(cx - (o.x0 + o.cell.shape[1] / 2), cy - (o.y0 + o.cell.shape[0] / 2)) / (r + o.params.radius)
                for o in placed
            ),
            default=9.0,
        )
        if score > best_score:
            best, best_score = (cx, cy), score
        if score >= min_sep:
            break
    cx, cy = best
    cell.x0 = int(round(cx - cell.cell.shape[1] / 2))
    cell.y0 = int(round(cy - cell.cell.shape[0] / 2))


def _place_against(rng: np.random.Generator, cell: Cell, other: Cell, spacing: Range) -> None:
    """Put ``cell`` against ``other``: centres ``(r1 + r2) * U(*spacing)`` apart in a random direction
    (0.65-0.95: touching clustered cells; 0.3-0.8: a clump, the cells largely overlapping)."""
    a = rng.uniform(0, 2 * np.pi)
    dist = (cell.params.radius + other.params.radius) * rng.uniform(*spacing)
    cx = other.x0 + other.cell.shape[1] / 2 + math.cos(a) * dist
    cy = other.y0 + other.cell.shape[0] / 2 + math.sin(a) * dist
    cell.x0, cell.y0 = int(round(cx - cell.cell.shape[1] / 2)), int(round(cy - cell.cell.shape[0] / 2))


def _clip(c: Cell, H: int, W: int) -> tuple[slice, slice, slice, slice] | None:
    """Field and local slices where the cell's canvas overlaps the field."""
    h, w = c.cell.shape
    fy0, fx0 = max(c.y0, 0), max(c.x0, 0)
    fy1, fx1 = min(c.y0 + h, H), min(c.x0 + w, W)
    if fy1 <= fy0 or fx1 <= fx0:
        return None
    return (slice(fy0, fy1), slice(fx0, fx1), slice(fy0 - c.y0, fy1 - c.y0), slice(fx0 - c.x0, fx1 - c.x0))


def make_field(
    rng: np.random.Generator,
    size: int = 512,
    difficulty: float = 0.5,
    classes: list[str] | tuple[str, ...] | None = None,
    cfg: SynthConfig | None = None,
) -> dict[str, Any]:
    """Render one synthetic Pap smear field.

    Args:
        rng: random generator (the field is a pure function of its state).
        size: field side in pixels (fixed pixel scale; >= 256).
        difficulty: 0..1, see :func:`sample_cell_params`; also more blur, debris and crowding.
        classes: classes of the "target" cells, placed fully inside the field with room for a
            crop (one per entry, in this order in ``targets``); random neighbours are added. None:
            ``cfg.n_cells`` cells of random classes.
        cfg: field settings.

    Returns:
        dict with ``image`` (H, W, 3) uint8 RGB, ``cytoplasm`` and ``nucleus`` (H, W) uint8
        {0,255} (union over cells; cytoplasm = whole cell), ``instances`` (H, W) int32 (0 background,
        cell ``i`` -> ``i + 1``; the top cell where cells overlap, nuclei keep their own cell's id),
        ``cell_classes`` list[str] (index ``i`` = instance ``i + 1``), ``targets`` list[int] (cell
        index of each entry of ``classes``) and ``cells`` (internal per-cell masks for
        :func:`cut_crop`).
    """
    cfg = cfg or SynthConfig()
    if size < 256:
        raise ValueError(f"field size must be >= 256 px (cells are up to ~180 px across), got {size}")
    d = float(np.clip(difficulty, 0.0, 1.0))
    area = (size / 512.0) ** 2
    if classes is None:
        n = int(round(rng.integers(cfg.n_cells[0], cfg.n_cells[1] + 1) * area))
        classes = [SIPAKMED_CLASSES[int(i)] for i in rng.integers(0, len(SIPAKMED_CLASSES), max(n, 1))]
    for c in classes:
        if c not in CLASS_SPECS:
            raise ValueError(f"unknown class {c!r}; choose from {list(CLASS_SPECS)}")
    cells, targets = _populate(rng, classes, size, d, area, cfg)
    order = rng.permutation(len(cells))  # drawing order: random; instance map shows the top cell
    od, cyt, nuc, inst = _paint(cells, order, size)
    add_debris(rng, od, int(rng.integers(cfg.debris[0], cfg.debris[1] + 1) * area), d)
    image = _photograph(rng, od, size, d, cfg)
    return {
        "image": image,
        "cytoplasm": cyt.astype(np.uint8) * 255,
        "nucleus": nuc.astype(np.uint8) * 255,
        "instances": inst,
        "cell_classes": [c.params.cls for c in cells],
        "targets": targets,
        "cells": cells,
    }


def _populate(
    rng: np.random.Generator, classes: list[str] | tuple[str, ...], size: int, d: float, area: float, cfg: SynthConfig
) -> tuple[list[Cell], list[int]]:
    """Render and place the target cells (each with its clustered neighbours), then random neighbours.

    Returns:
        ``(cells, targets)``: every cell, and the cell index of each entry of ``classes``.
    """
    cells: list[Cell] = []
    targets: list[int] = []
    for c in classes:
        cell = render_cell(rng, sample_cell_params(rng, c, d, cfg))
        cell.target = True
        _place(rng, cell, size, cells, inside=True, min_sep=0.9 - 0.15 * d)
        targets.append(len(cells))
        cells.append(cell)
        for _ in range(cell.params.cluster):  # clustered same-class neighbours (dyskeratotic)
            nb = render_cell(rng, sample_cell_params(rng, c, d, cfg))
            _place_against(rng, nb, cell, (0.65, 0.95))
            cells.append(nb)
    n_extra = int(round(rng.integers(cfg.n_extra[0], cfg.n_extra[1] + 1) * area * (0.7 + 0.6 * d)))
    for _ in range(n_extra):
        c = SIPAKMED_CLASSES[int(rng.integers(len(SIPAKMED_CLASSES)))]
        nb = render_cell(rng, sample_cell_params(rng, c, d, cfg))
        if cfg.clumping > 0 and rng.random() < cfg.clumping:  # no draw at 0: unclumped fields stay as they were
            _place_against(rng, nb, cells[int(rng.integers(len(cells)))], (0.3, 0.8))
        else:
            _place(rng, nb, size, cells, inside=False, min_sep=0.8 - 0.2 * d, tries=15)
        cells.append(nb)
    return cells, targets


def _paint(cells: list[Cell], order: np.ndarray, size: int) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Add the cells' optical densities into the field in drawing ``order``; union masks and instances.

    Returns:
        ``(od, cytoplasm, nucleus, instances)``: (H, W, 3) float32, (H, W) bool, (H, W) bool,
        (H, W) int32 (cell ``i`` -> ``i + 1``; the top cell, nuclei keep their own cell's id).
    """
    od = np.zeros((size, size, 3), np.float32)  # (H, W, 3)
    cyt = np.zeros((size, size), bool)
    nuc = np.zeros((size, size), bool)
    inst = np.zeros((size, size), np.int32)
    for i in order:
        c = cells[i]
        sl = _clip(c, size, size)
        if sl is None:
            continue
        fy, fx, ly, lx = sl
        od[fy, fx] += c.od[ly, lx]
        cm = c.cell[ly, lx]
        cyt[fy, fx] |= cm
        inst[fy, fx][cm] = i + 1
    for i in order:  # nuclei keep the id of their own cell
        c = cells[i]
        sl = _clip(c, size, size)
        if sl is None:
            continue
        fy, fx, ly, lx = sl
        nm = c.nucleus[ly, lx]
        nuc[fy, fx] |= nm
        inst[fy, fx][nm] = i + 1
    return od, cyt, nuc, inst


def truth_cells(field: dict[str, Any]) -> list[int]:
    """Indices of a field's cells whose nucleus centroid lies inside the field: its per-cell truth.

    A cell whose nucleus is outside shows at most a rim of cytoplasm at the border, which no
    annotator would outline as a cell; such cells stay in the union masks and the instance map.
    """
    H, W = field["instances"].shape
    out = []
    for i, c in enumerate(field["cells"]):
        ys, xs = np.nonzero(c.nucleus)
        cy, cx = c.y0 + ys.mean() + 0.5, c.x0 + xs.mean() + 0.5  # pixel r spans [r, r + 1)
        if 0 <= cy < H and 0 <= cx < W:
            out.append(i)
    return out


def whole_cell_window(cell: Cell, height: int, width: int) -> tuple[np.ndarray, tuple[int, int]] | None:
    """A cell's whole mask clipped to a ``height`` x ``width`` field, cut to its bounding box.

    Returns:
        ``(mask, (x, y))``: (h, w) bool and the field position of its top-left pixel; None when
        no pixel of the cell lies in the field.
    """
    sl = _clip(cell, height, width)
    if sl is None:
        return None
    m = cell.cell[sl[2], sl[3]]
    rows, cols = np.flatnonzero(m.any(axis=1)), np.flatnonzero(m.any(axis=0))
    if not len(rows):
        return None
    r0, r1, c0, c1 = rows[0], rows[-1] + 1, cols[0], cols[-1] + 1
    return m[r0:r1, c0:c1], (int(sl[1].start + c0), int(sl[0].start + r0))


def whole_cells(field: dict[str, Any], indices: list[int] | None = None) -> np.ndarray:
    """(N, H, W) bool whole (amodal) masks of cells ``indices`` of a field (default: all), clipped to it."""
    H, W = field["instances"].shape
    cells = field["cells"]
    idx = range(len(cells)) if indices is None else indices
    out = np.zeros((len(idx), H, W), bool)
    for k, i in enumerate(idx):
        win = whole_cell_window(cells[i], H, W)
        if win is not None:
            m, (x, y) = win
            out[k, y : y + m.shape[0], x : x + m.shape[1]] = m
    return out


def _photograph(rng: np.random.Generator, od: np.ndarray, size: int, d: float, cfg: SynthConfig) -> np.ndarray:
    """Illumination, background tint, Beer-Lambert transmission, defocus blur and sensor noise.

    ``od`` (the field's optical density) is overwritten. Returns the (H, W, 3) uint8 RGB image.
    """
    bg = np.asarray(cfg.background, np.float32) + rng.normal(0, 6, 3).astype(np.float32)
    illum = 1.0 + cfg.illumination * smooth_noise(rng, size, size, size / 3.0)
    r2 = (np.arange(size, dtype=np.float32) / size - 0.5) ** 2
    illum -= np.float32(rng.uniform(0.0, 0.15) * 2.0) * (r2[:, None] + r2[None, :])  # vignette
    np.exp(-od, out=od)
    img = od * illum[..., None]
    img *= bg[None, None, :]
    sigma = float(rng.uniform(*cfg.blur)) + 0.4 * d
    img = cv2.GaussianBlur(img, (0, 0), sigma)
    noise = rng.standard_normal(img.shape, dtype=np.float32)
    img += noise * np.float32(rng.uniform(*cfg.noise)) + np.float32(0.5)
    image = np.clip(img, 0, 255).astype(np.uint8)
    return image


def cut_crop(
    field: dict[str, Any], index: int, rng: np.random.Generator, size: int | None = 256, cfg: SynthConfig | None = None
) -> dict[str, Any]:
    """Cut a crop around cell ``index`` of a field made by :func:`make_field`.

    The box is the cell's bounding box with a random ``cfg.crop_margin`` margin per side and a
    small jitter, its aspect kept within ``cfg.crop_max_stretch``. With ``size=None`` the box is
    kept at the field's pixel scale, like SIPaKMeD's ``CROPPED`` cells (variable size; a
    segmentation model trained on fields sees crop cells at the scale it learned); with a
    ``size`` it is resized to ``size`` x ``size`` (area interpolation when shrinking, bilinear
    when enlarging), like the 256x256 real-sample crops. Masks are of that cell only (whole
    cell and nucleus); neighbours may show in the image.

    Returns:
        dict with ``image`` (h, w, 3) uint8 RGB, ``cytoplasm`` and ``nucleus`` (h, w) uint8
        {0,255}, ``label`` (class), ``box`` (x0, y0, width, height) in field pixels; (h, w) is
        (size, size) or the box size.
    """
    cfg = cfg or SynthConfig()
    c: Cell = field["cells"][index]
    img = field["image"]
    ys, xs = np.nonzero(c.cell)
    bx0, bx1 = c.x0 + xs.min(), c.x0 + xs.max() + 1
    by0, by1 = c.y0 + ys.min(), c.y0 + ys.max() + 1
    m = rng.uniform(*cfg.crop_margin, 2)
    jitter = rng.uniform(-0.25, 0.25, 2)
    x0, y0, sw, sh = cell_box(bx0, by0, bx1, by1, (m[0], m[1]), (jitter[0], jitter[1]), cfg.crop_max_stretch)
    sub = padded_crop(img, x0, y0, sw, sh)  # reflected where the box leaves the field
    masks = np.zeros((2, sh, sw), np.uint8)
    h, w = c.cell.shape
    sy0, sx0 = c.y0 - y0, c.x0 - x0
    ly0, lx0 = max(0, -sy0), max(0, -sx0)
    ly1, lx1 = min(h, sh - sy0), min(w, sw - sx0)
    masks[0, sy0 + ly0 : sy0 + ly1, sx0 + lx0 : sx0 + lx1] = c.cell[ly0:ly1, lx0:lx1] * 255
    masks[1, sy0 + ly0 : sy0 + ly1, sx0 + lx0 : sx0 + lx1] = c.nucleus[ly0:ly1, lx0:lx1] * 255
    if size is None:  # native pixel scale
        image, cm, nm = sub, masks[0] > 127, masks[1] > 127
    else:
        interp = cv2.INTER_AREA if max(sw, sh) > size else cv2.INTER_LINEAR
        image = cv2.resize(sub, (size, size), interpolation=interp)
        cm = cv2.resize(masks[0], (size, size), interpolation=cv2.INTER_LINEAR) > 127
        nm = cv2.resize(masks[1], (size, size), interpolation=cv2.INTER_LINEAR) > 127
    nm &= cm
    return {
        "image": image,
        "cytoplasm": cm.astype(np.uint8) * 255,
        "nucleus": nm.astype(np.uint8) * 255,
        "label": c.params.cls,
        "box": (x0, y0, sw, sh),
    }
