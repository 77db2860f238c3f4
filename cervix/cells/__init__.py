"""From probability maps to cells: instance separation, crops, morphometrics."""

from cervix.cells.instances import (
    CELL_COLUMNS,
    CROP_MARGIN,
    CROP_MAX_STRETCH,
    InstanceConfig,
    Instances,
    cell_box,
    cell_table,
    centre_instance,
    cut_cell,
    padded_crop,
    separate,
)
from cervix.cells.morphometrics import blob_diameters, cell_morphometrics, colour_stats, equivalent_diameter, nc_ratio

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
    "equivalent_diameter",
    "blob_diameters",
    "cell_morphometrics",
    "colour_stats",
]
