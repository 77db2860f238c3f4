"""Label maps: ``labelmaps/[<class>/]<id>.png`` grey levels coding background / cell / nucleus,
beside ``crops/`` (or ``images/``) (:func:`read_labelmap`); the grey levels are turned into
masks by :func:`cervix.data.annotations.decode_masks` when a record is loaded.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from cervix.data.readers.classes_folder import check_groups, read_groups_csv
from cervix.data.readers.common import check_class, find_image, is_image, map_label
from cervix.data.records import Record

__all__ = [
    "read_labelmap",
]


def read_labelmap(
    root: Path, cell_t: int, nuc_t: int, grouping: str | None, class_names: Sequence[str] | None, skipped: list
) -> list[Record]:
    """Index ``labelmaps/[<class>/]<id>.png`` with their images in ``crops/`` (or ``images/``):
    grey levels above ``cell_t`` are cell, above ``nuc_t`` nucleus.

    Raises:
        FileNotFoundError: missing folders, a label map without its image.
        ValueError: an unknown class, a ``groups.csv`` that does not match the images.
    """
    lm_dir = root / "labelmaps"
    img_dir = next((root / n for n in ("crops", "images") if (root / n).is_dir()), None)
    if not lm_dir.is_dir() or img_dir is None:
        raise FileNotFoundError(
            f"{root}: expected labelmaps/ and crops/ (or images/) folders, optionally with class sub-folders"
        )
    groups = read_groups_csv(root)
    records = []
    for lm in sorted(lm_dir.rglob("*")):
        if not lm.is_file():
            continue
        if not is_image(lm):
            skipped.append((str(lm), "not an image file"))
            continue
        rel = lm.relative_to(lm_dir)
        cls = rel.parts[0] if len(rel.parts) > 1 else None
        img = find_image(img_dir / rel.parent, lm.stem)
        if img is None:
            raise FileNotFoundError(f"{lm}: no image {lm.stem}.<ext> in {img_dir / rel.parent}")
        label = None
        if cls is not None:
            check_class(cls, class_names, lm.parent)
            label = map_label(cls, grouping, lm.parent)
        key = img.relative_to(root).as_posix()
        group = groups.get(key, rel.with_suffix("").as_posix())
        records.append(
            Record(
                str(img),
                label,
                group,
                source="labelmap",
                meta={"labelmap": str(lm), "cell_threshold": cell_t, "nucleus_threshold": nuc_t},
            )
        )
    used = {Path(r.path).resolve() for r in records}
    for img in sorted(img_dir.rglob("*")):
        if img.is_file() and is_image(img) and img.resolve() not in used:
            skipped.append((str(img), "no label map"))
    if groups:
        check_groups(root, groups, records)
    return records
