"""Segmentation of images of any size: tiled prediction, mask writing with quality control."""

from cervix.inference.classify import predict_logits, predictions_frame
from cervix.inference.tiling import CROP_SCALES, blend_window, predict_tiled, single_cell_masks, tile_starts
from cervix.inference.writing import list_images, mask_qc, write_masks

__all__ = [
    "predict_logits",
    "predictions_frame",
    "predict_tiled",
    "blend_window",
    "tile_starts",
    "single_cell_masks",
    "CROP_SCALES",
    "list_images",
    "mask_qc",
    "write_masks",
]
