"""COCO instances: a folder of images and one COCO ``.json`` (``images`` with file names relative to
the folder, ``annotations`` with RLE or polygon ``segmentation``) (:func:`read_coco`), as
``analyze`` writes it (``cells_coco.json``, with each cell's nucleus as ``nucleus_segmentation``).
Annotations of a category named ``nucleus`` are nuclei. The file is checked when the folder is
indexed; masks are decoded by :func:`cervix.data.annotations.decode_masks` when a record is loaded.
"""

from __future__ import annotations

from pathlib import Path

from cervix.data.annotations import coco_index
from cervix.data.decode import image_size
from cervix.data.readers.common import is_image
from cervix.data.records import Record

__all__ = [
    "read_coco",
]


def _find_json(root: Path, skipped: list, require: bool) -> Path | None:
    """The one COCO instances file under ``root``; other JSON files are listed in ``skipped``."""
    found, rejected = [], []
    for p in sorted(root.rglob("*.json")):
        try:
            coco_index(str(p))
            found.append(p)
        except ValueError as e:
            if "not a COCO instances file" not in str(e) and "not valid JSON" not in str(e):
                raise
            rejected.append(str(e))
            skipped.append((str(p), "not a COCO instances file"))
    if len(found) > 1:
        raise ValueError(f"{root}: several COCO files {[str(p) for p in found]}; keep one per folder")
    if not found and require:
        why = f" ({rejected[0]})" if rejected else ""
        raise FileNotFoundError(f"{root}: masks are required but no COCO instances .json was found{why}")
    return found[0] if found else None


def read_coco(root: Path, require_masks: bool, skipped: list) -> list[Record]:
    """Index the images of the one COCO instances ``.json`` under ``root``.

    Raises:
        FileNotFoundError: no COCO file (masks required), an image it lists that is not there.
        ValueError: one line naming the file and its first problem (not COCO, an annotation of an
            unknown image, a polygon outside its image, an image of another size than listed,
            several COCO files).
    """
    js = _find_json(root, skipped, require_masks)
    if js is None:
        return [
            Record(str(p), None, p.relative_to(root).with_suffix("").as_posix())
            for p in sorted(root.rglob("*"))
            if is_image(p)
        ]
    records, used = [], set()
    for image_id, im in coco_index(str(js)).items():
        p = root / im["file_name"]
        if not p.is_file():
            raise FileNotFoundError(f"{js}: image {im['file_name']!r} is not in {root}")
        if image_size(p) != (int(im["height"]), int(im["width"])):
            h, w = image_size(p)
            raise ValueError(f"{js}: image {im['file_name']} is listed as {im['width']}x{im['height']} but is {w}x{h}")
        used.add(p.resolve())
        group = Path(im["file_name"]).with_suffix("").as_posix()
        records.append(Record(str(p), None, group, source="coco", meta={"json": str(js), "image_id": image_id}))
    for p in sorted(root.rglob("*")):
        if p.is_file() and p != js and p.suffix.lower() != ".json" and p.resolve() not in used:
            skipped.append((str(p), "not listed in the COCO file" if is_image(p) else "not an image"))
    return records
