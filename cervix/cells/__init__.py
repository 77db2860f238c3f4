"""From probability maps to cells: instance separation, crops, morphometrics, and the cells as
polygons and COCO RLE for QuPath, napari and COCO tools."""

from cervix.cells.exports import FLAG_NAMES, coco_annotations, coco_document, coco_image, field_geojson
from cervix.cells.instances import (
    CELL_COLUMNS,
    CROP_MARGIN,
    CROP_MAX_STRETCH,
    InstanceConfig,
    Instances,
    cell_box,
    cell_table,
    centre_instance,
    covered_fractions,
    cut_cell,
    padded_crop,
    separate,
)
from cervix.cells.morphometrics import blob_diameters, cell_morphometrics, colour_stats, equivalent_diameter, nc_ratio
from cervix.cells.shapes import (
    decode_rle,
    encode_rle,
    geometry_from_json,
    geometry_json,
    mask_to_polygon,
    napari_vertices,
    polygon_to_mask,
)

__all__ = [
    "InstanceConfig",
    "Instances",
    "separate",
    "cell_table",
    "cell_box",
    "padded_crop",
    "cut_cell",
    "centre_instance",
    "covered_fractions",
    "CROP_MARGIN",
    "CROP_MAX_STRETCH",
    "CELL_COLUMNS",
    "nc_ratio",
    "equivalent_diameter",
    "blob_diameters",
    "cell_morphometrics",
    "colour_stats",
    "mask_to_polygon",
    "polygon_to_mask",
    "geometry_json",
    "geometry_from_json",
    "napari_vertices",
    "encode_rle",
    "decode_rle",
    "FLAG_NAMES",
    "field_geojson",
    "coco_image",
    "coco_annotations",
    "coco_document",
]
