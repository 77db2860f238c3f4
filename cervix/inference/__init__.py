"""Segmentation of images of any size: tiled prediction, mask writing with quality control."""

from cervix.inference.tiling import predict_tiled, blend_window, tile_starts, single_cell_masks, CROP_SCALES
from cervix.inference.writing import list_images, mask_qc, write_masks

__all__ = [
    "predict_tiled",
    "blend_window",
    "tile_starts",
    "single_cell_masks",
    "CROP_SCALES",
    "list_images",
    "mask_qc",
    "write_masks",
]
