"""QuPath GeoJSON: a folder of images with a ``.geojson`` of the same name beside each
(``x.tif`` with ``x.geojson`` or ``x.tif.geojson``, as ``analyze`` writes them), one Feature per
cell (:func:`read_geojson`). The files are checked when the folder is indexed; the polygons are
turned into per-cell masks by :func:`cervix.data.annotations.decode_masks` when a record is loaded.
"""

from __future__ import annotations

from pathlib import Path

from cervix.data.annotations import geojson_cells
from cervix.data.decode import image_size
from cervix.data.readers.common import is_image
from cervix.data.records import Record

__all__ = [
    "read_geojson",
]


def _annotation_of(image: Path) -> Path | None:
    for cand in (image.with_suffix(".geojson"), image.with_name(f"{image.name}.geojson")):
        if cand.is_file():
            return cand
    return None


def read_geojson(root: Path, require_masks: bool, skipped: list) -> list[Record]:
    """Index the images under ``root`` (recursively) with the QuPath GeoJSON beside each.

    Every GeoJSON file is read and checked against its image's size here, so a bad file stops
    the reading at once; an image without one is passed over (listed in ``skipped``) when masks
    are required, else read without masks.

    Raises:
        FileNotFoundError: a ``.geojson`` whose image is not there; masks required but no GeoJSON at all.
        ValueError: one line naming the file and its first problem (:func:`geojson_cells`).
    """
    files = sorted(p for p in root.rglob("*") if p.is_file())
    used: set[Path] = set()
    records = []
    for p in files:
        if not is_image(p):
            continue
        ann = _annotation_of(p)
        if ann is None:
            if require_masks:
                skipped.append((str(p), "no .geojson beside it"))
            else:
                records.append(Record(str(p), None, p.relative_to(root).with_suffix("").as_posix()))
            continue
        geojson_cells(str(ann), *image_size(p))  # checked now, cached for loading
        used.add(ann)
        group = p.relative_to(root).with_suffix("").as_posix()
        records.append(Record(str(p), None, group, source="geojson", meta={"geojson": str(ann)}))
    for p in files:
        if p.suffix.lower() == ".geojson" and p not in used:
            stem = p.name[: -len(".geojson")]
            raise FileNotFoundError(f"{p}: its image {stem}.<ext> (or {stem}) is not in {p.parent}")
        if not is_image(p) and p.suffix.lower() != ".geojson":
            skipped.append((str(p), "not an image or .geojson file"))
    if require_masks and not used:
        raise FileNotFoundError(f"{root}: masks are required but no image has a .geojson beside it")
    return records
