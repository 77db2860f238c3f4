"""Synthetic Papanicolaou-stained smears: cells, fields with masks, single-cell crops."""

from cervix.synthetic.cells import PALETTE, STAIN_OD, HEMA_OD, CellParams, Cell, render_cell, add_debris, smooth_noise
from cervix.synthetic.fields import (
    SynthConfig,
    ClassSpec,
    CLASS_SPECS,
    sample_cell_params,
    item_rng,
    make_field,
    cut_crop,
    generate,
)

__all__ = [
    "PALETTE",
    "STAIN_OD",
    "HEMA_OD",
    "CellParams",
    "Cell",
    "render_cell",
    "add_debris",
    "smooth_noise",
    "SynthConfig",
    "ClassSpec",
    "CLASS_SPECS",
    "sample_cell_params",
    "item_rng",
    "make_field",
    "cut_crop",
    "generate",
]
