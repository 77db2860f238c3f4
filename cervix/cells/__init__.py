"""From probability maps to cells: instance separation, crops, morphometrics."""

from cervix.cells.instances import (
    InstanceConfig,
    Instances,
    separate,
    cell_table,
    cell_box,
    padded_crop,
    cut_cell,
    centre_instance,
    CROP_MARGIN,
    CROP_MAX_STRETCH,
    CELL_COLUMNS,
)
from cervix.cells.morphometrics import nc_ratio, cell_morphometrics, colour_stats

__all__ = [
    "InstanceConfig",
    "Instances",
    "separate",
    "cell_table",
    "cell_box",
    "padded_crop",
    "cut_cell",
    "centre_instance",
    "CROP_MARGIN",
    "CROP_MAX_STRETCH",
    "CELL_COLUMNS",
    "nc_ratio",
    "cell_morphometrics",
    "colour_stats",
]
