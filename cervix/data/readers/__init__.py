"""One reader per dataset layout; each indexes a folder into records."""

from cervix.data.readers.classes_folder import read_classes_folder
from cervix.data.readers.coco import read_coco
from cervix.data.readers.geojson import read_geojson
from cervix.data.readers.isbi2014 import read_isbi2014
from cervix.data.readers.labelmap import read_labelmap
from cervix.data.readers.masks_folder import read_masks_folder
from cervix.data.readers.sipakmed import read_sipakmed
from cervix.data.readers.synthetic import ensure_synthetic, synthetic_cache_dir

__all__ = [
    "read_classes_folder",
    "read_coco",
    "read_geojson",
    "read_isbi2014",
    "read_labelmap",
    "read_masks_folder",
    "read_sipakmed",
    "synthetic_cache_dir",
    "ensure_synthetic",
]
