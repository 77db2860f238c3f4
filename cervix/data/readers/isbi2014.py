"""ISBI 2014 Overlapping Cervical Cytology challenge (Lu et al., IEEE TMI 2015 and 2017):
``1.tif, 2.tif, ...`` with one ``.mat`` ground truth holding ``<prefix>_Cytoplasm`` and
``<prefix>_Nuclei`` per-cell masks (:func:`read_isbi2014`); the masks are read from the ``.mat``
by :func:`cervix.data.annotations.decode_masks` when a record is loaded, overlapping cells kept.
"""

from __future__ import annotations

from pathlib import Path

from cervix.data.annotations import load_mat, mat_prefix
from cervix.data.records import Record

__all__ = [
    "read_isbi2014",
]


def read_isbi2014(root: Path, mat_path: str | None, require_masks: bool, skipped: list) -> list[Record]:
    """Index the ISBI 2014 ``N.tif`` images; entry ``N`` of the ground-truth ``.mat``
    (``mat_path``, else the one found under ``root``) holds their masks.

    Raises:
        FileNotFoundError: masks required but no ``.mat`` found, an image without its entry.
        ValueError: several ``.mat`` files, a ``.mat`` without ``<prefix>_Cytoplasm``/``_Nuclei``.
    """
    tifs = sorted(
        (p for p in root.rglob("*") if p.suffix.lower() in (".tif", ".tiff") and p.is_file()),
        key=lambda p: (len(p.stem), p.stem),
    )
    if mat_path is not None:
        mats = [Path(mat_path)]
    else:
        mats = [m for m in sorted(root.rglob("*.mat")) if mat_prefix(load_mat(str(m))) is not None]
        for m in sorted(root.rglob("*.mat")):
            if m not in mats:
                skipped.append((str(m), "no <prefix>_Cytoplasm / <prefix>_Nuclei variables"))
    if len(mats) > 1:
        raise ValueError(f"{root}: several ground-truth .mat files {[str(m) for m in mats]}; pass mat=PATH")
    if not mats and require_masks:
        raise FileNotFoundError(f"{root}: masks are required but no .mat ground truth was found")
    prefix = mat_prefix(load_mat(str(mats[0]))) if mats else None
    if mats and prefix is None:
        raise ValueError(f"{mats[0]}: no <prefix>_Cytoplasm / <prefix>_Nuclei variables (e.g. train_Cytoplasm)")
    n_entries = len(load_mat(str(mats[0]))[f"{prefix}_Cytoplasm"].ravel()) if mats else 0
    records = []
    for p in tifs:
        if not p.stem.isdigit():
            skipped.append((str(p), "ISBI image names are 1.tif, 2.tif, ..."))
            continue
        if not mats:
            records.append(Record(str(p), None, p.stem))
            continue
        idx = int(p.stem) - 1
        if not 0 <= idx < n_entries:
            raise FileNotFoundError(f"missing mask: {mats[0]} has {n_entries} entries, none for image {p}")
        records.append(
            Record(str(p), None, p.stem, source="isbi2014", meta={"mat": str(mats[0]), "index": idx, "prefix": prefix})
        )
    for p in sorted(root.rglob("*")):
        if p.is_file() and p.suffix.lower() not in (".tif", ".tiff", ".mat"):
            skipped.append((str(p), "not an ISBI .tif image or .mat file"))
    return records
