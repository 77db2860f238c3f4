"""Synthetic Papanicolaou-stained smears: cells, fields with masks, single-cell crops."""

from cervix.synthetic.cells import HEMA_OD, PALETTE, STAIN_OD, Cell, CellParams, add_debris, render_cell, smooth_noise
from cervix.synthetic.dataset import generate
from cervix.synthetic.fields import (
    CLASS_SPECS,
    ClassSpec,
    SynthConfig,
    cut_crop,
    item_rng,
    make_field,
    sample_cell_params,
    truth_cells,
    whole_cell_window,
    whole_cells,
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
    "generate",
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
