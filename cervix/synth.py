"""Synthetic Papanicolaou-stained cervical smears: fields with masks, and single-cell crops.

The generator draws cells with class-specific morphology of the five SIPaKMeD cell types
(Plissiti et al., ICIP 2018) and renders them by Beer-Lambert absorption (optical densities
add where cells overlap, as in a real smear; stain vectors in the spirit of Ruifrok & Johnston,
2001): cyanophilic blue-green and eosinophilic pink/orange cytoplasm, haematoxylin-stained
blue-violet nuclei with chromatin texture, then uneven illumination, debris (neutrophils,
bacteria, mucus), defocus blur and sensor noise.

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

import json
import math
from dataclasses import asdict, dataclass, field as dc_field
from pathlib import Path
from typing import Any

import cv2
import numpy as np
from tqdm.auto import tqdm

from .labels import SIPAKMED_CLASSES

__all__ = [
    "SynthConfig",
    "ClassSpec",
    "CLASS_SPECS",
    "CellParams",
    "sample_cell_params",
    "item_rng",
    "make_field",
    "cut_crop",
    "make_crop",
    "generate",
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


#: Transmitted colour (RGB, over a white background) of each cytoplasm stain at density 1.
PALETTE: dict[str, tuple[int, int, int]] = {
    "lavender": (156, 150, 192),
    "blue": (122, 148, 192),
    "teal": (72, 132, 146),
    "green": (118, 166, 152),
    "grey": (140, 146, 160),
    "pink": (236, 168, 190),
    "orange": (186, 122, 92),
    "redbrown": (146, 92, 78),
}
_WHITE = 245.0
_STAIN_OD = {k: -np.log(np.asarray(v, np.float32) / _WHITE) for k, v in PALETTE.items()}
#: Haematoxylin optical-density direction (R, G, B), nuclei: absorbs red and green -> blue-violet.
HEMA_OD = np.asarray([0.66, 0.70, 0.36], np.float32)

#: Class specifications at difficulty 0 (see module docstring for the morphology).
CLASS_SPECS: dict[str, ClassSpec] = {
    "superficial-intermediate": ClassSpec(
        radius=(60, 84), aspect=(1.0, 1.35), vertices=(5, 8), roughness=0.10, processes=(0, 0),
        nuc_ratio=(0.12, 0.17), nuc_aspect=(1.0, 1.25), nuc_irregular=0.03, p_pyknotic=0.4,
        p_binucleate=0.0, p_halo=0.08, halo=(1.3, 1.6), density=(0.8, 1.1), hema=(1.0, 1.4),
        p_vacuoles=0.0, p_folds=0.6, cluster=(0, 0),
        palette={"lavender": 0.6, "pink": 0.2, "blue": 0.12, "green": 0.08},
    ),
    "parabasal": ClassSpec(
        radius=(27, 40), aspect=(1.0, 1.3), vertices=(0, 0), roughness=0.05, processes=(0, 0),
        nuc_ratio=(0.36, 0.5), nuc_aspect=(1.05, 1.4), nuc_irregular=0.03, p_pyknotic=0.0,
        p_binucleate=0.0, p_halo=0.0, halo=(1.2, 1.4), density=(0.7, 0.95), hema=(0.25, 0.45),
        p_vacuoles=0.1, p_folds=0.0, cluster=(0, 1),
        palette={"blue": 0.7, "teal": 0.15, "lavender": 0.15},
    ),
    "metaplastic": ClassSpec(
        radius=(32, 50), aspect=(1.0, 1.5), vertices=(0, 0), roughness=0.08, processes=(1, 4),
        nuc_ratio=(0.27, 0.38), nuc_aspect=(1.0, 1.35), nuc_irregular=0.04, p_pyknotic=0.0,
        p_binucleate=0.03, p_halo=0.0, halo=(1.2, 1.4), density=(1.0, 1.4), hema=(0.4, 0.7),
        p_vacuoles=0.7, p_folds=0.1, cluster=(0, 1),
        palette={"teal": 0.6, "green": 0.2, "blue": 0.2},
    ),
    "koilocytotic": ClassSpec(
        radius=(45, 68), aspect=(1.0, 1.4), vertices=(5, 8), roughness=0.10, processes=(0, 0),
        nuc_ratio=(0.3, 0.42), nuc_aspect=(1.1, 1.6), nuc_irregular=0.10, p_pyknotic=0.0,
        p_binucleate=0.3, p_halo=0.9, halo=(1.4, 2.0), density=(0.7, 1.1), hema=(1.0, 1.4),
        p_vacuoles=0.0, p_folds=0.3, cluster=(0, 1),
        palette={"pink": 0.3, "teal": 0.3, "lavender": 0.2, "grey": 0.2},
    ),
    "dyskeratotic": ClassSpec(
        radius=(22, 36), aspect=(1.0, 1.6), vertices=(0, 6), roughness=0.08, processes=(0, 0),
        nuc_ratio=(0.42, 0.55), nuc_aspect=(1.0, 1.4), nuc_irregular=0.05, p_pyknotic=0.6,
        p_binucleate=0.05, p_halo=0.0, halo=(1.2, 1.4), density=(1.3, 1.7), hema=(0.8, 1.1),
        p_vacuoles=0.0, p_folds=0.2, cluster=(1, 3),
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


@dataclass
class CellParams:
    """Sampled parameters of one cell (see :class:`ClassSpec`)."""

    cls: str
    radius: float
    aspect: float
    angle: float
    vertices: int
    roughness: float
    processes: int
    nuc_ratio: float
    nuc_aspect: float
    nuc_irregular: float
    pyknotic: bool
    binucleate: bool
    halo: float  # 0: none
    density: float
    hema: float
    vacuoles: int
    folds: int
    stain: np.ndarray = dc_field(repr=False)  # (3,) cytoplasm optical density at density 1
    cluster: int = 0


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
    stain = _STAIN_OD[_pick(rng, c.palette)]
    stain2 = _STAIN_OD[_pick(rng, c.palette)]
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


# ----------------------------------------------------------------------------- rendering helpers
def _smooth_noise(rng: np.random.Generator, h: int, w: int, cell: float = 16.0) -> np.ndarray:
    """Low-frequency noise (H, W) float32, about unit std (bicubic upsampled random grid)."""
    gh, gw = max(2, int(h / cell) + 2), max(2, int(w / cell) + 2)
    g = rng.standard_normal((gh, gw), dtype=np.float32)
    return cv2.resize(g, (w, h), interpolation=cv2.INTER_CUBIC)


def _fine_noise(rng: np.random.Generator, h: int, w: int, sigma: float = 0.8) -> np.ndarray:
    """Fine granular noise (H, W) float32, about unit std."""
    g = rng.standard_normal((h, w), dtype=np.float32)
    g = cv2.GaussianBlur(g, (0, 0), sigma)
    return g * np.float32(2.0 * math.sqrt(math.pi) * sigma)


def _outline(rng: np.random.Generator, radius: float, aspect: float, angle: float, vertices: int,
             roughness: float, processes: int = 0, n: int = 96) -> np.ndarray:
    """Closed outline (N, 2) float32 centred on 0 with equivalent radius ~``radius``."""
    if vertices >= 3:
        th = np.sort((np.arange(vertices) + rng.uniform(-0.3, 0.3, vertices)) * (2 * np.pi / vertices))
        th = th + rng.uniform(0, 2 * np.pi)
        r = 1.0 + rng.uniform(-roughness, roughness, vertices) * 1.5
        # subdivide edges so processes/aspect apply smoothly; corners stay sharp
        t = np.linspace(0, 1, 8, endpoint=False)
        p = np.stack([np.cos(th) * r, np.sin(th) * r], 1)
        q = np.roll(p, -1, 0)
        pts = (p[:, None, :] * (1 - t[None, :, None]) + q[:, None, :] * t[None, :, None]).reshape(-1, 2)
        # wavy edges: smooth radial perturbation along the outline (curled, folded borders)
        ang = np.arctan2(pts[:, 1], pts[:, 0])
        wav = sum(rng.normal(0, 0.025) * np.cos(k * ang + rng.uniform(0, 2 * np.pi)) for k in range(5, 12))
        pts = pts * (1.0 + wav)[:, None]
        scale = math.sqrt(math.pi / max(cv2.contourArea(pts.astype(np.float32)), 1e-6))
        pts = pts * scale
    else:
        th = np.linspace(0, 2 * np.pi, n, endpoint=False)
        r = np.ones(n)
        for k in (2, 3, 4, 5):
            r += rng.normal(0, roughness / k) * np.cos(k * th + rng.uniform(0, 2 * np.pi))
        for _ in range(processes):
            c, wdt, ln = rng.uniform(0, 2 * np.pi), rng.uniform(0.3, 0.7), rng.uniform(0.25, 0.6)
            dth = np.angle(np.exp(1j * (th - c)))
            r += ln * np.clip(1 - np.abs(dth) / wdt, 0, None) ** 1.6
        pts = np.stack([np.cos(th) * r, np.sin(th) * r], 1)
    pts[:, 0] *= math.sqrt(aspect)
    pts[:, 1] /= math.sqrt(aspect)
    ca, sa = math.cos(angle), math.sin(angle)
    rot = np.asarray([[ca, -sa], [sa, ca]])
    return (pts @ rot.T * radius).astype(np.float32)


def _fill(pts: np.ndarray, shape: tuple[int, int], offset: tuple[float, float]) -> np.ndarray:
    """Rasterise an outline (sub-pixel, shift=4) into a bool mask of ``shape``."""
    m = np.zeros(shape, np.uint8)
    p = np.round((pts + np.asarray(offset, np.float32)) * 16).astype(np.int32)
    cv2.fillPoly(m, [p], 1, lineType=cv2.LINE_8, shift=4)
    return m.astype(bool)


@dataclass
class _Cell:
    """A rendered cell on its local canvas; ``x0, y0`` is the canvas origin in the field."""

    params: CellParams
    cell: np.ndarray  # (h, w) bool whole-cell mask
    nucleus: np.ndarray  # (h, w) bool
    od: np.ndarray  # (h, w, 3) float32 optical density
    x0: int = 0
    y0: int = 0
    target: bool = False

    @property
    def extent(self) -> tuple[float, float, float]:
        """(half-width, half-height, equivalent radius) of the cell mask."""
        return self.cell.shape[1] / 2 - 4, self.cell.shape[0] / 2 - 4, self.params.radius


def _render_cell(rng: np.random.Generator, p: CellParams) -> _Cell:
    """Draw one cell (masks + optical density) on a tight local canvas."""
    pts = _outline(rng, p.radius, p.aspect, p.angle, p.vertices, p.roughness, p.processes)
    lo, hi = pts.min(0), pts.max(0)
    pad = 5
    w = int(math.ceil(hi[0] - lo[0])) + 2 * pad
    h = int(math.ceil(hi[1] - lo[1])) + 2 * pad
    off = (pad - float(lo[0]), pad - float(lo[1]))
    cell = _fill(pts, (h, w), off)
    c8 = cell.astype(np.uint8)
    dist = cv2.distanceTransform(c8, cv2.DIST_L2, 3)  # (h, w) distance to the cell border
    inner = dist > 3.0
    # --- nucleus (or two), strictly inside the cell (>= 3 px from the border)
    nuc = np.zeros((h, w), bool)
    rn = p.radius * p.nuc_ratio
    n_nuc = 2 if p.binucleate else 1
    centre = np.asarray(off, np.float32)
    if n_nuc == 2:
        rn *= 0.78
    for _ in range(8):
        nuc[:] = False
        jitter = rng.normal(0, 0.12 * p.radius * (1 - p.nuc_ratio), 2).astype(np.float32)
        nang = rng.uniform(0, np.pi)
        for j in range(n_nuc):
            shift = np.zeros(2, np.float32)
            if n_nuc == 2:
                shift = (rn * 1.05 * (1 if j else -1)) * np.asarray([math.cos(nang), math.sin(nang)], np.float32)
            npts = _outline(rng, rn, p.nuc_aspect, nang + rng.normal(0, 0.3), 0, p.nuc_irregular)
            nuc |= _fill(npts, (h, w), tuple(centre + jitter + shift))
        if not (nuc & ~inner).any():
            break
        rn *= 0.9
    nuc &= inner
    if not nuc.any():  # degenerate: put a tiny nucleus at the deepest point
        yy, xx = np.unravel_index(int(np.argmax(dist)), dist.shape)
        cv2.circle(c8, (int(xx), int(yy)), 2, 2, -1)
        nuc = (c8 == 2) & inner
        if not nuc.any():
            nuc[yy, xx] = True
    # --- cytoplasm optical density
    dmax = float(dist.max()) + 1e-3
    tex = (1.0 + 0.12 * _smooth_noise(rng, h, w, max(6.0, p.radius / 3.0))
           + 0.10 * _fine_noise(rng, h, w, 0.9))
    rel = dist / dmax
    if p.vertices >= 3:  # flat polygonal cell: thin centre, slightly curled dense border
        prof = 0.9 + 0.5 * np.exp(-dist / 3.0)
    else:  # round cell: dome-shaped, denser towards the centre
        prof = 0.75 + 0.45 * np.sqrt(rel)
    dens = (p.density * prof * tex).astype(np.float32)
    if p.folds:
        fold = np.zeros((h, w), np.float32)
        for _ in range(p.folds):
            a = rng.uniform(0, np.pi)
            ln = rng.uniform(0.6, 1.4) * p.radius
            cx, cy = off[0] + rng.normal(0, 0.3 * p.radius), off[1] + rng.normal(0, 0.3 * p.radius)
            dx, dy = math.cos(a) * ln / 2, math.sin(a) * ln / 2
            cv2.line(fold, (int(cx - dx), int(cy - dy)), (int(cx + dx), int(cy + dy)),
                     float(rng.uniform(0.4, 0.9)), int(rng.integers(1, 3)), cv2.LINE_AA)
        dens += p.density * cv2.GaussianBlur(fold, (0, 0), 1.0)
    if p.halo > 0:
        nd = cv2.distanceTransform((~nuc).astype(np.uint8), cv2.DIST_L2, 3)
        hr = rn * (p.halo - 1.0)
        hr_map = hr * (1.0 + 0.25 * _smooth_noise(rng, h, w, max(6.0, rn)))
        halo = ((nd < hr_map) & cell).astype(np.float32)
        rim = ((nd >= hr_map) & (nd < hr_map + rng.uniform(2.0, 4.5)) & cell).astype(np.float32)
        halo = cv2.GaussianBlur(halo, (0, 0), 1.2)
        rim = cv2.GaussianBlur(rim, (0, 0), 1.0)
        clear = rng.uniform(0.3, 0.6) if p.cls == "koilocytotic" else rng.uniform(0.55, 0.8)
        dens = dens * (1.0 - (1.0 - clear) * halo) * (1.0 + 0.5 * rim)
    if p.vacuoles:
        vac = np.zeros((h, w), np.uint8)
        ys, xs = np.nonzero(inner & ~nuc)
        if len(ys):
            for i in rng.integers(0, len(ys), p.vacuoles):
                cv2.circle(vac, (int(xs[i]), int(ys[i])), int(rng.integers(2, 5)), 1, -1, cv2.LINE_AA)
            vm = cv2.GaussianBlur(vac.astype(np.float32), (0, 0), 0.8)
            dens = dens * (1.0 - 0.45 * np.clip(vm, 0, 1))
    alpha = cv2.GaussianBlur(cell.astype(np.float32), (0, 0), 0.7)
    od = (alpha * dens)[..., None] * p.stain[None, None, :]  # (h, w, 3)
    # --- nucleus optical density: haematoxylin with chromatin texture and a membrane rim
    nd_in = cv2.distanceTransform(nuc.astype(np.uint8), cv2.DIST_L2, 3)
    if p.pyknotic:
        chrom = 1.0 + 0.05 * _fine_noise(rng, h, w, 0.8)
    else:
        grain = 0.12 if p.hema > 0.95 else 0.25  # hyperchromatic nuclei look smudged, not granular
        chrom = (1.0 + grain * _fine_noise(rng, h, w, 0.8) + 0.12 * _smooth_noise(rng, h, w, 5.0)
                 + 0.12 * np.exp(-nd_in / 1.5))
    nalpha = cv2.GaussianBlur(nuc.astype(np.float32), (0, 0), 0.9)
    od += (nalpha * p.hema * np.clip(chrom, 0.3, None))[..., None] * HEMA_OD[None, None, :]
    return _Cell(p, cell, nuc, od.astype(np.float32))


def _add_debris(rng: np.random.Generator, od: np.ndarray, n_neutro: int, difficulty: float) -> None:
    """Neutrophils, bacteria specks and mucus strands into the field optical density (in place)."""
    H, W = od.shape[:2]
    dots = np.zeros((H, W), np.float32)
    for _ in range(n_neutro):
        cx, cy = rng.uniform(0, W), rng.uniform(0, H)
        cv2.circle(dots, (int(cx), int(cy)), int(rng.integers(5, 8)), 0.25, -1, cv2.LINE_AA)
        for _ in range(int(rng.integers(2, 5))):
            cv2.circle(dots, (int(cx + rng.normal(0, 2.2)), int(cy + rng.normal(0, 2.2))),
                       int(rng.integers(1, 3)), 1.2, -1, cv2.LINE_AA)
    n_bact = int(rng.integers(50, 250) * (0.5 + difficulty))
    ys, xs = rng.integers(0, H, n_bact), rng.integers(0, W, n_bact)
    dots[ys, xs] += rng.uniform(0.5, 1.5, n_bact).astype(np.float32)
    dots = cv2.GaussianBlur(dots, (0, 0), 0.7)
    cv2.scaleAdd(cv2.merge([dots * float(v) for v in HEMA_OD]), 1.0, od, dst=od)
    n_mucus = int(rng.integers(0, 4))
    if n_mucus:
        mucus = np.zeros((H, W), np.float32)
        for _ in range(n_mucus):
            pts = np.cumsum(rng.normal(0, 18, (8, 2)), 0) + rng.uniform(0, [W, H])
            cv2.polylines(mucus, [pts.astype(np.int32)], False, float(rng.uniform(0.05, 0.15)),
                          int(rng.integers(2, 6)), cv2.LINE_AA)
        mucus = cv2.GaussianBlur(mucus, (0, 0), 2.0)
        cv2.scaleAdd(cv2.merge([mucus * float(v) for v in _STAIN_OD["blue"]]), 1.0, od, dst=od)


def _place(rng: np.random.Generator, cell: _Cell, size: int, placed: list[_Cell], inside: bool,
           min_sep: float, tries: int = 40) -> None:
    """Choose the cell's position: fully inside the field (with crop room) when ``inside``."""
    hw, hh, r = cell.extent
    best, best_score = None, -1.0
    for _ in range(tries):
        if inside:
            mx, my = min(hw * 1.3, size / 2), min(hh * 1.3, size / 2)
            cx, cy = rng.uniform(mx, size - mx), rng.uniform(my, size - my)
        else:
            cx, cy = rng.uniform(-0.05 * size, 1.05 * size), rng.uniform(-0.05 * size, 1.05 * size)
        score = min((math.hypot(cx - (o.x0 + o.cell.shape[1] / 2), cy - (o.y0 + o.cell.shape[0] / 2))
                     / (r + o.params.radius) for o in placed), default=9.0)
        if score > best_score:
            best, best_score = (cx, cy), score
        if score >= min_sep:
            break
    cx, cy = best
    cell.x0 = int(round(cx - cell.cell.shape[1] / 2))
    cell.y0 = int(round(cy - cell.cell.shape[0] / 2))


def _clip(c: _Cell, H: int, W: int) -> tuple[slice, slice, slice, slice] | None:
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
    cells: list[_Cell] = []
    targets: list[int] = []
    for c in classes:
        cell = _render_cell(rng, sample_cell_params(rng, c, d, cfg))
        cell.target = True
        _place(rng, cell, size, cells, inside=True, min_sep=0.9 - 0.15 * d)
        targets.append(len(cells))
        cells.append(cell)
        for _ in range(cell.params.cluster):  # clustered same-class neighbours (dyskeratotic)
            nb = _render_cell(rng, sample_cell_params(rng, c, d, cfg))
            a = rng.uniform(0, 2 * np.pi)
            dist = (cell.params.radius + nb.params.radius) * rng.uniform(0.65, 0.95)
            cx = cell.x0 + cell.cell.shape[1] / 2 + math.cos(a) * dist
            cy = cell.y0 + cell.cell.shape[0] / 2 + math.sin(a) * dist
            nb.x0, nb.y0 = int(round(cx - nb.cell.shape[1] / 2)), int(round(cy - nb.cell.shape[0] / 2))
            cells.append(nb)
    n_extra = int(round(rng.integers(cfg.n_extra[0], cfg.n_extra[1] + 1) * area * (0.7 + 0.6 * d)))
    for _ in range(n_extra):
        c = SIPAKMED_CLASSES[int(rng.integers(len(SIPAKMED_CLASSES)))]
        nb = _render_cell(rng, sample_cell_params(rng, c, d, cfg))
        _place(rng, nb, size, cells, inside=False, min_sep=0.8 - 0.2 * d, tries=15)
        cells.append(nb)
    # drawing order: random; instance map shows the top cell
    order = rng.permutation(len(cells))
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
    _add_debris(rng, od, int(rng.integers(cfg.debris[0], cfg.debris[1] + 1) * area), d)
    # illumination, background tint, Beer-Lambert, blur, noise
    bg = np.asarray(cfg.background, np.float32) + rng.normal(0, 6, 3).astype(np.float32)
    illum = 1.0 + cfg.illumination * _smooth_noise(rng, size, size, size / 3.0)
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
    return {
        "image": image,
        "cytoplasm": cyt.astype(np.uint8) * 255,
        "nucleus": nuc.astype(np.uint8) * 255,
        "instances": inst,
        "cell_classes": [c.params.cls for c in cells],
        "targets": targets,
        "cells": cells,
    }


def cut_crop(field: dict[str, Any], index: int, rng: np.random.Generator, size: int | None = 256,
             cfg: SynthConfig | None = None) -> dict[str, Any]:
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
    c: _Cell = field["cells"][index]
    img = field["image"]
    H, W = img.shape[:2]
    ys, xs = np.nonzero(c.cell)
    bx0, bx1 = c.x0 + xs.min(), c.x0 + xs.max() + 1
    by0, by1 = c.y0 + ys.min(), c.y0 + ys.max() + 1
    m = rng.uniform(*cfg.crop_margin, 2)
    bw, bh = (bx1 - bx0) * (1 + 2 * m[0]), (by1 - by0) * (1 + 2 * m[1])
    bw, bh = max(bw, bh / cfg.crop_max_stretch), max(bh, bw / cfg.crop_max_stretch)
    sw, sh = int(round(bw)), int(round(bh))
    jx, jy = rng.uniform(-0.25, 0.25, 2) * (sw - (bx1 - bx0), sh - (by1 - by0))
    x0 = int(round((bx0 + bx1) / 2 - sw / 2 + jx))
    y0 = int(round((by0 + by1) / 2 - sh / 2 + jy))
    # image with reflected padding where the box leaves the field
    px0, py0 = max(0, -x0), max(0, -y0)
    px1, py1 = max(0, x0 + sw - W), max(0, y0 + sh - H)
    sub = img[max(y0, 0):min(y0 + sh, H), max(x0, 0):min(x0 + sw, W)]
    if px0 or py0 or px1 or py1:
        sub = cv2.copyMakeBorder(sub, py0, py1, px0, px1, cv2.BORDER_REFLECT_101)
    masks = np.zeros((2, sh, sw), np.uint8)
    h, w = c.cell.shape
    sy0, sx0 = c.y0 - y0, c.x0 - x0
    ly0, lx0 = max(0, -sy0), max(0, -sx0)
    ly1, lx1 = min(h, sh - sy0), min(w, sw - sx0)
    masks[0, sy0 + ly0:sy0 + ly1, sx0 + lx0:sx0 + lx1] = c.cell[ly0:ly1, lx0:lx1] * 255
    masks[1, sy0 + ly0:sy0 + ly1, sx0 + lx0:sx0 + lx1] = c.nucleus[ly0:ly1, lx0:lx1] * 255
    if size is None:  # native pixel scale
        image, cm, nm = np.ascontiguousarray(sub), masks[0] > 127, masks[1] > 127
    else:
        interp = cv2.INTER_AREA if max(sw, sh) > size else cv2.INTER_LINEAR
        image = cv2.resize(np.ascontiguousarray(sub), (size, size), interpolation=interp)
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


def make_crop(rng: np.random.Generator, cls: str, size: int | None = 256, difficulty: float = 0.5,
              field_size: int = 512, cfg: SynthConfig | None = None) -> dict[str, Any]:
    """One single-cell crop of class ``cls``, cut from a freshly generated field.

    Returns:
        :func:`cut_crop`'s dict (``image``, ``cytoplasm``, ``nucleus``, ``label``, ``box``).
    """
    f = make_field(rng, field_size, difficulty, classes=[cls], cfg=cfg)
    return cut_crop(f, f["targets"][0], rng, size, cfg)


def _write_png(path: Path, arr: np.ndarray) -> None:
    """Write a PNG (RGB arrays are converted to cv2's BGR); fails loudly."""
    path.parent.mkdir(parents=True, exist_ok=True)
    a = cv2.cvtColor(arr, cv2.COLOR_RGB2BGR) if arr.ndim == 3 else arr
    if not cv2.imwrite(str(path), a, [cv2.IMWRITE_PNG_COMPRESSION, 1]):
        raise OSError(f"could not write {path}")


def generate(
    out: str | Path,
    seed: int = 0,
    n_fields: int = 20,
    n_crops: int = 200,
    size: int | None = None,
    field_size: int = 512,
    difficulty: float = 0.5,
    progress: bool = True,
) -> dict[str, Any]:
    """Write a synthetic data set: fields (masks format) and class-balanced crops (classes format).

    Layout under ``out``: ``fields/images/field_NNNN.png``, ``fields/masks/{cytoplasm,nucleus}/
    field_NNNN.png``; ``crops/<class>/fNNNN_cJJ.png``, ``crops/groups.csv`` (``path,group``,
    group ``field_NNNN``), ``crops_masks/{cytoplasm,nucleus}/<class>/fNNNN_cJJ.png`` and
    ``manifest.json`` (the arguments). Field ``k`` holds one target cell per class; crop
    ``fNNNN_cJJ`` is target ``JJ`` (class ``SIPAKMED_CLASSES[JJ]``) of field ``NNNN``, so crop
    classes are balanced (counts differ by at most one). Fields beyond ``n_fields`` needed for
    the crops are generated but not written. Same arguments -> byte-identical files.
    ``size=None`` (default) keeps crops at the fields' pixel scale (variable size, like
    SIPaKMeD's ``CROPPED`` cells); an integer resizes every crop to ``size`` x ``size``.

    Returns:
        dict with ``out``, ``n_fields``, ``n_crops``, ``crops_per_class``, ``fields_dir``,
        ``crops_dir``, ``crops_masks_dir``, ``groups_csv``, ``manifest``.
    """
    if not 0.0 <= float(difficulty) <= 1.0:
        raise ValueError(f"difficulty must be in [0, 1], got {difficulty}")
    if n_fields < 0 or n_crops < 0:
        raise ValueError("n_fields and n_crops must be >= 0")
    if size is not None and size < 16:
        raise ValueError(f"crop size must be >= 16, got {size}")
    out = Path(out)
    k_cls = len(SIPAKMED_CLASSES)
    n_src = max(int(n_fields), math.ceil(int(n_crops) / k_cls))
    counts = {c: 0 for c in SIPAKMED_CLASSES}
    groups: list[str] = []
    for k in tqdm(range(n_src), desc="synth fields", disable=not progress):
        f = make_field(item_rng(seed, k), field_size, difficulty, classes=list(SIPAKMED_CLASSES))
        fid = f"field_{k:04d}"
        if k < n_fields:
            _write_png(out / "fields" / "images" / f"{fid}.png", f["image"])
            _write_png(out / "fields" / "masks" / "cytoplasm" / f"{fid}.png", f["cytoplasm"])
            _write_png(out / "fields" / "masks" / "nucleus" / f"{fid}.png", f["nucleus"])
        for j, cls in enumerate(SIPAKMED_CLASSES):
            if k * k_cls + j >= n_crops:
                break
            crop = cut_crop(f, f["targets"][j], item_rng(seed, k, j + 1), size)
            name = f"f{k:04d}_c{j:02d}.png"
            _write_png(out / "crops" / cls / name, crop["image"])
            _write_png(out / "crops_masks" / "cytoplasm" / cls / name, crop["cytoplasm"])
            _write_png(out / "crops_masks" / "nucleus" / cls / name, crop["nucleus"])
            groups.append(f"{cls}/{name},{fid}")
            counts[cls] += 1
    if n_crops:
        (out / "crops").mkdir(parents=True, exist_ok=True)
        (out / "crops" / "groups.csv").write_text("path,group\n" + "\n".join(groups) + "\n")
    manifest = {
        "generator": "cervix.synth.generate",
        "args": {"seed": int(seed), "n_fields": int(n_fields), "n_crops": int(n_crops), "size": None if size is None else int(size),
                 "field_size": int(field_size), "difficulty": float(difficulty)},
        "classes": list(SIPAKMED_CLASSES),
        "crops_per_class": counts,
        "crop_scale": "cell bounding box + 2-10% margin per side (aspect <= 1.3), "
                      + ("at the fields' pixel scale" if size is None else "resized to size x size"),
        "config": {k: v for k, v in asdict(SynthConfig()).items()},
    }
    out.mkdir(parents=True, exist_ok=True)
    (out / "manifest.json").write_text(json.dumps(manifest, indent=2, sort_keys=True) + "\n")
    return {
        "out": str(out),
        "n_fields": int(n_fields),
        "n_crops": sum(counts.values()),
        "crops_per_class": counts,
        "fields_dir": str(out / "fields"),
        "crops_dir": str(out / "crops"),
        "crops_masks_dir": str(out / "crops_masks"),
        "groups_csv": str(out / "crops" / "groups.csv"),
        "manifest": str(out / "manifest.json"),
    }
