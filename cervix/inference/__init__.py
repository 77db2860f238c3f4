"""Segmentation of images of any size: tiled prediction, cell size normalisation, mask writing with QC."""

from cervix.inference.classify import predict_logits, predictions_frame
from cervix.inference.sizing import (
    CONFIRM_TOLERANCE,
    MIN_NUCLEUS_SHARE,
    PYRAMID,
    REFINE_TOLERANCE,
    SIZE_MEASURE,
    flat_borders,
    min_nucleus_area,
    parse_diameter,
    run_cell_size,
    size_columns,
    sized_masks,
    sized_probabilities,
    training_cell_size,
)
from cervix.inference.tiling import (
    CROP_SCALES,
    blend_window,
    flip_averaged_probabilities,
    multi_scale_probabilities,
    predict_tiled,
    single_cell_masks,
    tile_starts,
    tta_flips,
)
from cervix.inference.wholecells import (
    predict_whole_cells,
)
from cervix.inference.writing import list_images, mask_qc, write_masks

__all__ = [
    "predict_logits",
    "predictions_frame",
    "predict_tiled",
    "tta_flips",
    "flip_averaged_probabilities",
    "blend_window",
    "tile_starts",
    "single_cell_masks",
    "CROP_SCALES",
    "multi_scale_probabilities",
    "SIZE_MEASURE",
    "PYRAMID",
    "CONFIRM_TOLERANCE",
    "REFINE_TOLERANCE",
    "flat_borders",
    "training_cell_size",
    "parse_diameter",
    "run_cell_size",
    "sized_probabilities",
    "sized_masks",
    "size_columns",
    "MIN_NUCLEUS_SHARE",
    "min_nucleus_area",
    "list_images",
    "mask_qc",
    "write_masks",
    "predict_whole_cells",
]
