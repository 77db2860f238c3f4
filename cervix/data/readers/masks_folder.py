"""Masks folders: ``images/<id>.<ext>`` with ``masks/cytoplasm/<id>.png``,
``masks/nucleus/<id>.png``, optional ``masks/instances/<id>.png`` (8/16-bit cell ids,
0 = background) and an optional ``masks/cells.json`` (COCO instances, ``file_name`` relative to
``images/``: the whole cells, overlaps kept, as the synthetic generator writes them)
(:func:`read_masks_folder`).
"""

from __future__ import annotations

from pathlib import Path

from cervix.data.annotations import coco_index
from cervix.data.readers.common import is_image
from cervix.data.records import Record

__all__ = [
    "read_masks_folder",
]


def read_masks_folder(root: Path, require_masks: bool, skipped: list) -> list[Record]:
    """Index ``images/<id>.<ext>`` with ``masks/cytoplasm/<id>.png`` and ``masks/nucleus/<id>.png``;
    ``masks/instances/<id>.png`` (cell ids), optional per image, becomes ``Record.instances``;
    an image listed in ``masks/cells.json`` gets its whole cells from there (``Record.meta``).

    Raises:
        FileNotFoundError: no ``images/`` folder, or a missing mask file (naming it).
        ValueError: two images share one id; a bad ``masks/cells.json`` (one line naming it).
    """
    img_dir = root / "images"
    if not img_dir.is_dir():
        raise FileNotFoundError(
            f"{root}: no images/ folder (masks format: images/<id>.<ext>, masks/cytoplasm/, masks/nucleus/)"
        )
    cyt_dir, nuc_dir, inst_dir = (root / "masks" / n for n in ("cytoplasm", "nucleus", "instances"))
    has_masks = cyt_dir.is_dir() or nuc_dir.is_dir()
    if require_masks and not has_masks:
        raise FileNotFoundError(f"{root}: masks are required but {root / 'masks'} has no cytoplasm/ or nucleus/ folder")
    by_id: dict[str, Path] = {}
    for p in sorted(img_dir.iterdir()):
        if not is_image(p):
            skipped.append((str(p), "not an image file"))
            continue
        if p.stem in by_id:
            raise ValueError(f"{p}: two images share the id {p.stem!r} ({by_id[p.stem].name} and {p.name})")
        by_id[p.stem] = p
    cells_json = root / "masks" / "cells.json"
    listed = (
        {im["file_name"]: image_id for image_id, im in coco_index(str(cells_json)).items()}
        if cells_json.is_file()
        else {}
    )
    records = []
    for sid, p in by_id.items():
        cyt = nuc = None
        if has_masks:
            cyt, nuc = cyt_dir / f"{sid}.png", nuc_dir / f"{sid}.png"
            for m in (cyt, nuc):
                if not m.is_file():
                    raise FileNotFoundError(f"missing mask file {m} for image {p}")
        inst = inst_dir / f"{sid}.png"
        records.append(
            Record(
                str(p),
                None,
                sid,
                str(cyt) if cyt else None,
                str(nuc) if nuc else None,
                instances=str(inst) if inst.is_file() else None,
                meta={"cells_json": str(cells_json), "image_id": listed[p.name]} if p.name in listed else {},
            )
        )
    for d in (cyt_dir, nuc_dir, inst_dir):
        for m in sorted(d.glob("*")) if d.is_dir() else []:
            if m.stem not in by_id:
                skipped.append((str(m), "mask without an image"))
    return records
