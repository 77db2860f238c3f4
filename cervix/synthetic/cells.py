"""Drawing the objects of a synthetic Pap smear as Beer-Lambert optical densities.

One epithelial cell is drawn from its sampled :class:`CellParams` on a tight canvas of its own
(:func:`render_cell`): an outline (polygonal and flat, or round with cytoplasmic processes), one
or two nuclei strictly inside it, cytoplasm optical density with texture, folds, a perinuclear
halo and vacuoles, and a haematoxylin-stained nucleus with chromatin texture. Debris
(neutrophils, bacteria, mucus strands) is drawn straight into a field's optical density
(:func:`add_debris`). Stain colours follow the Papanicolaou stain (cyanophilic blue-green and
eosinophilic pink/orange cytoplasm, blue-violet nuclei; optical-density stain vectors in the
spirit of Ruifrok & Johnston, 2001). The fields, crops and the class morphology are in
:mod:`cervix.synthetic.fields`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from dataclasses import field as dc_field

import cv2
import numpy as np

__all__ = [
    "PALETTE",
    "STAIN_OD",
    "HEMA_OD",
    "CellParams",
    "Cell",
    "render_cell",
    "add_debris",
    "smooth_noise",
]

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

#: Optical density (R, G, B) of each cytoplasm stain at density 1.
STAIN_OD = {k: -np.log(np.asarray(v, np.float32) / _WHITE) for k, v in PALETTE.items()}

#: Haematoxylin optical-density direction (R, G, B), nuclei: absorbs red and green -> blue-violet.
HEMA_OD = np.asarray([0.66, 0.70, 0.36], np.float32)


@dataclass
class CellParams:
    """Sampled parameters of one cell (see :class:`cervix.synthetic.fields.ClassSpec`)."""

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


def smooth_noise(rng: np.random.Generator, h: int, w: int, cell: float = 16.0) -> np.ndarray:
    """Low-frequency noise (H, W) float32, about unit std (bicubic upsampled random grid)."""
    gh, gw = max(2, int(h / cell) + 2), max(2, int(w / cell) + 2)
    g = rng.standard_normal((gh, gw), dtype=np.float32)
    return cv2.resize(g, (w, h), interpolation=cv2.INTER_CUBIC)


def _fine_noise(rng: np.random.Generator, h: int, w: int, sigma: float = 0.8) -> np.ndarray:
    """Fine granular noise (H, W) float32, about unit std."""
    g = rng.standard_normal((h, w), dtype=np.float32)
    g = cv2.GaussianBlur(g, (0, 0), sigma)
    return g * np.float32(2.0 * math.sqrt(math.pi) * sigma)


def _outline(
    rng: np.random.Generator,
    radius: float,
    aspect: float,
    angle: float,
    vertices: int,
    roughness: float,
    processes: int = 0,
    n: int = 96,
) -> np.ndarray:
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
class Cell:
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


def render_cell(rng: np.random.Generator, p: CellParams) -> Cell:
    """Draw one cell (masks + optical density) on a tight local canvas."""
    pts = _outline(rng, p.radius, p.aspect, p.angle, p.vertices, p.roughness, p.processes)
    lo, hi = pts.min(0), pts.max(0)
    pad = 5
    w = int(math.ceil(hi[0] - lo[0])) + 2 * pad
    h = int(math.ceil(hi[1] - lo[1])) + 2 * pad
    off = (pad - float(lo[0]), pad - float(lo[1]))
    cell = _fill(pts, (h, w), off)
    dist = cv2.distanceTransform(cell.astype(np.uint8), cv2.DIST_L2, 3)  # (h, w) distance to the cell border
    inner = dist > 3.0
    nuc, rn = _nucleus_mask(rng, p, cell, dist, inner, off)
    dens = _cytoplasm_density(rng, p, cell, nuc, dist, inner, off, rn)
    alpha = cv2.GaussianBlur(cell.astype(np.float32), (0, 0), 0.7)
    od = (alpha * dens)[..., None] * p.stain[None, None, :]  # (h, w, 3)
    od += _nucleus_od(rng, p, nuc)
    return Cell(p, cell, nuc, od.astype(np.float32))


def _nucleus_mask(
    rng: np.random.Generator,
    p: CellParams,
    cell: np.ndarray,
    dist: np.ndarray,
    inner: np.ndarray,
    off: tuple[float, float],
) -> tuple[np.ndarray, float]:
    """The nucleus (or two) strictly inside the cell (>= 3 px from the border) and its radius.

    Args:
        cell: (h, w) bool cell mask; dist: its distance to the border; inner: ``dist > 3``.
        off: canvas position of the cell centre.

    Returns:
        ``(nucleus, radius)``: (h, w) bool mask and the nucleus radius (shrunk until it fits).
    """
    h, w = cell.shape
    c8 = cell.astype(np.uint8)
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
    return nuc, rn


def _cytoplasm_density(
    rng: np.random.Generator,
    p: CellParams,
    cell: np.ndarray,
    nuc: np.ndarray,
    dist: np.ndarray,
    inner: np.ndarray,
    off: tuple[float, float],
    rn: float,
) -> np.ndarray:
    """Cytoplasm density (h, w): texture and thickness profile, folds, perinuclear halo, vacuoles.

    Args:
        cell, nuc: (h, w) bool cell and nucleus masks; dist: distance to the cell border;
            inner: ``dist > 3``; off: canvas position of the cell centre; rn: nucleus radius.
    """
    h, w = cell.shape
    dmax = float(dist.max()) + 1e-3
    tex = 1.0 + 0.12 * smooth_noise(rng, h, w, max(6.0, p.radius / 3.0)) + 0.10 * _fine_noise(rng, h, w, 0.9)
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
            cv2.line(
                fold,
                (int(cx - dx), int(cy - dy)),
                (int(cx + dx), int(cy + dy)),
                float(rng.uniform(0.4, 0.9)),
                int(rng.integers(1, 3)),
                cv2.LINE_AA,
            )
        dens += p.density * cv2.GaussianBlur(fold, (0, 0), 1.0)
    if p.halo > 0:
        nd = cv2.distanceTransform((~nuc).astype(np.uint8), cv2.DIST_L2, 3)
        hr = rn * (p.halo - 1.0)
        hr_map = hr * (1.0 + 0.25 * smooth_noise(rng, h, w, max(6.0, rn)))
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
    return dens


def _nucleus_od(rng: np.random.Generator, p: CellParams, nuc: np.ndarray) -> np.ndarray:
    """Nucleus optical density (h, w, 3): haematoxylin with chromatin texture and a membrane rim."""
    h, w = nuc.shape
    nd_in = cv2.distanceTransform(nuc.astype(np.uint8), cv2.DIST_L2, 3)
    if p.pyknotic:
        chrom = 1.0 + 0.05 * _fine_noise(rng, h, w, 0.8)
    else:
        grain = 0.12 if p.hema > 0.95 else 0.25  # hyperchromatic nuclei look smudged, not granular
        chrom = (
            1.0
            + grain * _fine_noise(rng, h, w, 0.8)
            + 0.12 * smooth_noise(rng, h, w, 5.0)
            + 0.12 * np.exp(-nd_in / 1.5)
        )
    nalpha = cv2.GaussianBlur(nuc.astype(np.float32), (0, 0), 0.9)
    return (nalpha * p.hema * np.clip(chrom, 0.3, None))[..., None] * HEMA_OD[None, None, :]


def add_debris(rng: np.random.Generator, od: np.ndarray, n_neutro: int, difficulty: float) -> None:
    """Neutrophils, bacteria specks and mucus strands into the field optical density (in place)."""
    H, W = od.shape[:2]
    dots = np.zeros((H, W), np.float32)
    for _ in range(n_neutro):
        cx, cy = rng.uniform(0, W), rng.uniform(0, H)
        cv2.circle(dots, (int(cx), int(cy)), int(rng.integers(5, 8)), 0.25, -1, cv2.LINE_AA)
        for _ in range(int(rng.integers(2, 5))):
            cv2.circle(
                dots,
                (int(cx + rng.normal(0, 2.2)), int(cy + rng.normal(0, 2.2))),
                int(rng.integers(1, 3)),
                1.2,
                -1,
                cv2.LINE_AA,
            )
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
            cv2.polylines(
                mucus,
                [pts.astype(np.int32)],
                False,
                float(rng.uniform(0.05, 0.15)),
                int(rng.integers(2, 6)),
                cv2.LINE_AA,
            )
        mucus = cv2.GaussianBlur(mucus, (0, 0), 2.0)
        cv2.scaleAdd(cv2.merge([mucus * float(v) for v in STAIN_OD["blue"]]), 1.0, od, dst=od)
