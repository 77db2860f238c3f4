"""Drawing synthetic cells and debris (cervix.synthetic.cells): masks, optical densities, determinism."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import ndimage as ndi

from cervix.core.labels import SIPAKMED_CLASSES
from cervix.synthetic.cells import HEMA_OD, STAIN_OD, Cell, CellParams, add_debris, render_cell, smooth_noise
from cervix.synthetic.fields import sample_cell_params


def _params(**kw) -> CellParams:
    """A plain round cell of radius 20 (no texture extras) unless overridden."""
    d = dict(
        cls="parabasal",
        radius=20.0,
        aspect=1.0,
        angle=0.0,
        vertices=0,
        roughness=0.0,
        processes=0,
        nuc_ratio=0.3,
        nuc_aspect=1.0,
        nuc_irregular=0.0,
        pyknotic=False,
        binucleate=False,
        halo=0.0,
        density=0.5,
        hema=1.0,
        vacuoles=0,
        folds=0,
        stain=STAIN_OD["blue"].copy(),
    )
    d.update(kw)
    return CellParams(**d)


def _grow(mask: np.ndarray, px: int) -> np.ndarray:
    """``mask`` grown by ``px`` pixels in the chessboard metric (a square blur kernel's reach)."""
    return ndi.binary_dilation(mask, np.ones((3, 3), bool), iterations=px)


def _check_cell(c: Cell) -> None:
    """The documented invariants of a rendered cell."""
    h, w = c.cell.shape
    assert c.cell.dtype == bool and c.nucleus.dtype == bool and c.nucleus.shape == (h, w)
    assert c.od.shape == (h, w, 3) and c.od.dtype == np.float32
    assert np.isfinite(c.od).all() and c.od.min() >= 0.0
    assert c.nucleus.any() and not (c.nucleus & ~c.cell).any()
    # strictly inside: >= 3 px from the cell border, which never touches the canvas edge (5 px pad)
    assert ndi.distance_transform_edt(c.cell)[c.nucleus].min() >= 3.0
    assert not (c.cell[0].any() or c.cell[-1].any() or c.cell[:, 0].any() or c.cell[:, -1].any())
    assert (c.x0, c.y0, c.target) == (0, 0, False)


# ------------------------------------------------------------------------------ render_cell
def test_a_round_cell_has_the_hand_computed_canvas_and_areas():
    p = _params()
    c = render_cell(np.random.default_rng(0), p)
    _check_cell(c)
    assert c.params is p
    assert c.cell.shape == (50, 50)  # 2 * radius + 2 * 5 px pad
    # a disc of radius 20 rasterised with its boundary pixels: ~ pi (r + 1/2)^2
    assert c.cell.sum() == pytest.approx(math.pi * 20.5**2, rel=0.02)
    # nucleus of radius 0.3 * 20 = 6 px near the centre (25, 25)
    assert c.nucleus.sum() == pytest.approx(math.pi * 6.5**2, rel=0.1)
    ys, xs = np.nonzero(c.nucleus)
    assert abs(ys.mean() - 25) < 4 and abs(xs.mean() - 25) < 4
    assert ndi.label(c.nucleus, np.ones((3, 3)))[1] == 1
    assert c.extent == (21.0, 21.0, 20.0)  # half-sides less 4 px, radius
    # optical density: none away from the cell, stain-coloured cytoplasm, darker nucleus
    far = ~_grow(c.cell, 3)  # beyond the cell blur's kernel (sigma 0.7: 7 x 7)
    assert (c.od[far] == 0).all()
    cyto = c.cell & ~_grow(c.nucleus, 4)  # beyond the nucleus blur's kernel (sigma 0.9: 9 x 9)
    assert (c.od[cyto] > 0).all()
    ratio = c.od[cyto] / p.stain
    assert np.allclose(ratio, ratio[:, :1], rtol=1e-4)  # cytoplasm od is a multiple of the stain vector
    assert c.od[c.nucleus].sum(1).mean() > c.od[cyto].sum(1).mean() + 0.5


def test_aspect_and_angle_stretch_and_turn_the_canvas():
    # aspect 4: axes 20 * 2 and 20 / 2 px; turned by 90 degrees the canvas turns too
    assert render_cell(np.random.default_rng(0), _params(aspect=4.0)).cell.shape == (30, 90)
    assert render_cell(np.random.default_rng(0), _params(aspect=4.0, angle=math.pi / 2)).cell.shape == (90, 30)


@pytest.mark.parametrize("vertices", [4, 6, 8])
def test_a_polygonal_cell_keeps_its_equivalent_radius(vertices):
    c = render_cell(np.random.default_rng(vertices), _params(radius=30.0, vertices=vertices, roughness=0.1))
    _check_cell(c)
    assert c.cell.sum() == pytest.approx(math.pi * 30.5**2, rel=0.05)


def test_the_nucleus_od_is_haematoxylin_on_the_nucleus_only():
    a = render_cell(np.random.default_rng(3), _params(hema=0.0))
    b = render_cell(np.random.default_rng(3), _params(hema=1.0))
    assert np.array_equal(a.cell, b.cell) and np.array_equal(a.nucleus, b.nucleus)
    diff = b.od - a.od
    assert (diff >= 0).all()
    near = _grow(b.nucleus, 4)
    assert not diff[~near].any()  # nothing beyond the blurred nucleus edge
    ratio = diff[b.nucleus] / HEMA_OD
    assert np.allclose(ratio, ratio[:, :1], rtol=1e-4) and ratio.min() > 0.25  # along HEMA_OD, chromatin >= 0.3


def test_a_perinuclear_halo_clears_the_cytoplasm_around_the_nucleus():
    plain = render_cell(np.random.default_rng(5), _params(cls="koilocytotic", radius=30.0, hema=0.0))
    halo = render_cell(np.random.default_rng(5), _params(cls="koilocytotic", radius=30.0, hema=0.0, halo=2.0))
    assert np.array_equal(plain.nucleus, halo.nucleus)
    nd = ndi.distance_transform_edt(~halo.nucleus)
    ring = (nd >= 1) & (nd <= 4) & halo.cell  # halo radius: 9 px * (2.0 - 1)
    ratio = halo.od[ring].sum(1) / plain.od[ring].sum(1)
    assert ratio.mean() < 0.75  # koilocyte clearing keeps 0.3..0.6 of the density


@pytest.mark.parametrize("cls", SIPAKMED_CLASSES)
def test_sampled_cells_of_every_class_are_valid(cls):
    for seed in range(3):
        p = sample_cell_params(np.random.default_rng(seed), cls, difficulty=1.0)
        _check_cell(render_cell(np.random.default_rng(100 + seed), p))


def test_extras_keep_the_invariants():
    p = _params(radius=35.0, binucleate=True, pyknotic=True, halo=1.8, vacuoles=5, folds=3, processes=3, roughness=0.2)
    _check_cell(render_cell(np.random.default_rng(1), p))


def test_render_cell_is_deterministic_per_seed():
    p = sample_cell_params(np.random.default_rng(0), "metaplastic")
    a, b = render_cell(np.random.default_rng(7), p), render_cell(np.random.default_rng(7), p)
    assert np.array_equal(a.cell, b.cell) and np.array_equal(a.nucleus, b.nucleus) and np.array_equal(a.od, b.od)
    c = render_cell(np.random.default_rng(8), p)
    assert c.od.shape != a.od.shape or not np.array_equal(c.od, a.od)
    assert c.cell.shape != a.cell.shape or not np.array_equal(c.cell, a.cell)


# ------------------------------------------------------------------------------ smooth_noise
class _GridRng:
    """Stands in for a Generator: records the noise grid's size and fills it with ``value``."""

    def __init__(self, value: float) -> None:
        self.value, self.sizes = value, []

    def standard_normal(self, size, dtype=np.float64):
        self.sizes.append(size)
        return np.full(size, self.value, dtype)


def test_smooth_noise_grid_size():
    rng = _GridRng(0.0)
    smooth_noise(rng, 100, 50, 10.0)  # int(100 / 10) + 2, int(50 / 10) + 2
    smooth_noise(rng, 8, 8)  # at least 2 x 2
    smooth_noise(rng, 64, 33)  # default cell 16 px
    assert rng.sizes == [(12, 7), (2, 2), (6, 4)]


def test_smooth_noise_of_a_constant_grid_is_constant():
    out = smooth_noise(_GridRng(0.7), 40, 30, 8.0)
    assert out.shape == (40, 30) and out.dtype == np.float32
    np.testing.assert_allclose(out, 0.7, atol=1e-5)


def test_smooth_noise_shape_range_and_determinism():
    a = smooth_noise(np.random.default_rng(0), 200, 300)
    assert a.shape == (200, 300) and a.dtype == np.float32 and np.isfinite(a).all()
    assert 0.5 < a.std() < 1.5 and abs(a.mean()) < 0.5 and np.abs(a).max() < 8  # about unit std
    # low frequency: neighbours differ by a small part of the spread
    assert np.abs(np.diff(a, axis=1)).mean() < 0.2 * a.std() and np.abs(np.diff(a, axis=0)).mean() < 0.2 * a.std()
    assert np.array_equal(a, smooth_noise(np.random.default_rng(0), 200, 300))
    assert not np.array_equal(a, smooth_noise(np.random.default_rng(1), 200, 300))
    # a finer cell size gives rougher noise
    fine = smooth_noise(np.random.default_rng(0), 200, 300, 4.0)
    assert np.abs(np.diff(fine, axis=1)).mean() > 2 * np.abs(np.diff(a, axis=1)).mean()


# ------------------------------------------------------------------------------ add_debris
def test_add_debris_adds_density_in_place():
    od = np.full((96, 128, 3), 0.2, np.float32)
    view = od
    assert add_debris(np.random.default_rng(0), od, 4, 0.5) is None
    assert view is od and od.shape == (96, 128, 3) and od.dtype == np.float32
    assert np.isfinite(od).all() and od.min() >= 0.2 - 1e-6  # debris only absorbs
    assert (od > 0.2 + 1e-3).any(axis=2).sum() > 25  # at least the bacteria specks (>= 25 of them)
    again = np.full((96, 128, 3), 0.2, np.float32)
    add_debris(np.random.default_rng(0), again, 4, 0.5)
    assert np.array_equal(od, again)
    other = np.full((96, 128, 3), 0.2, np.float32)
    add_debris(np.random.default_rng(1), other, 4, 0.5)
    assert not np.array_equal(od, other)


def test_add_debris_without_neutrophils_still_draws_bacteria():
    od = np.zeros((64, 64, 3), np.float32)
    add_debris(np.random.default_rng(2), od, 0, 0.0)
    assert np.isfinite(od).all() and od.min() >= 0 and od.max() > 0
