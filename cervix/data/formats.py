"""The one entry point over the dataset formats: ``read_dataset(root, fmt)``.

Formats (the readers are in :mod:`cervix.data.readers`, one file each):

- ``masks``: ``images/<id>.<ext>``, ``masks/cytoplasm/<id>.png``, ``masks/nucleus/<id>.png``,
  optional ``masks/instances/<id>.png`` (8/16-bit cell ids, 0 = background).
- ``classes``: ImageFolder ``<root>/<class>/<id>.<ext>`` with optional masks root
  ``<masks_root>/{cytoplasm,nucleus}/<class>/<id>.png`` and optional ``<root>/groups.csv``.
  Herlev (Jantzen et al., 2005) is read with this reader (``*-d.bmp`` mask images are skipped).
- ``sipakmed``: the official SIPaKMeD layout (Plissiti et al., ICIP 2018) with ``.dat`` contours.
- ``isbi2014``: ISBI 2014 Overlapping Cervical Cytology challenge (Lu et al., IEEE TMI 2017).
- ``labelmap``: one grey-level PNG per image coding background / cell / nucleus.
- ``geojson``: images with a QuPath GeoJSON of cells beside each (``x.tif`` + ``x.geojson``).
- ``coco``: a folder of images and one COCO instances ``.json``.
- ``synthetic``: the built-in generator (:mod:`cervix.synthetic`), cached under ``data/``.

Files a reader passes over are never dropped silently: they are listed in the returned
list's ``skipped`` attribute (``(path, reason)`` pairs) and in a warning.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from cervix.data.readers import (
    ensure_synthetic,
    read_classes_folder,
    read_coco,
    read_geojson,
    read_isbi2014,
    read_labelmap,
    read_masks_folder,
    read_sipakmed,
)
from cervix.data.records import RecordList

__all__ = [
    "FORMATS",
    "read_dataset",
]

#: Formats understood by :func:`read_dataset`.
FORMATS: tuple[str, ...] = ("masks", "classes", "sipakmed", "isbi2014", "labelmap", "geojson", "coco", "synthetic")


# --------------------------------------------------------------------------------------------
# Entry point
# --------------------------------------------------------------------------------------------
def _read_synthetic(
    root: str | Path | None,
    part: str,
    synth: dict[str, Any] | None,
    grouping: str | None,
    require_masks: bool,
    class_names: Sequence[str] | None,
) -> RecordList:
    """The ``synthetic`` format: generate (or reuse) the cache, then read its fields or crops."""
    if part not in ("fields", "crops"):
        raise ValueError(f"synthetic part must be 'fields' or 'crops', not {part!r}")
    out = ensure_synthetic(root, **(synth or {}))
    if part == "fields":
        return read_dataset(out / "fields", "masks", require_masks=True)
    return read_dataset(
        out / "crops",
        "classes",
        masks_root=out / "crops_masks",
        grouping=grouping,
        require_masks=require_masks,
        class_names=class_names,
    )


def read_dataset(
    root: str | Path | None,
    fmt: str,
    masks_root: str | Path | None = None,
    grouping: str | None = None,
    require_masks: bool = False,
    class_names: Sequence[str] | None = None,
    crops: bool = False,
    cell_threshold: int = 25,
    nucleus_threshold: int = 110,
    mat: str | Path | None = None,
    part: str = "fields",
    synth: dict[str, Any] | None = None,
) -> RecordList:
    """Index a dataset folder; pixels are read later by :meth:`Record.load`.

    Args:
        root: dataset folder (for ``synthetic``: the cache folder, None = default under data/).
        fmt: one of :data:`FORMATS`.
        masks_root: ``classes`` (and SIPaKMeD ``crops=True``): the masks root
            ``<masks_root>/{cytoplasm,nucleus}/<class>/<id>.png``.
        grouping: ``None``/"5" keeps the classes, "3" normal/benign/abnormal, "2" normal/abnormal.
        require_masks: fail when the dataset has no masks at all.
        class_names: the expected class folders; any other folder is an error.
        crops: ``sipakmed``: index the ``CROPPED/NNN_MM.bmp`` cell crops instead of full images.
        cell_threshold: ``labelmap``: grey level above which a pixel is cell (default 25).
        nucleus_threshold: ``labelmap``: grey level above which a pixel is nucleus (default 110).
        mat: ``isbi2014``: the ground-truth .mat (default: the one found under root).
        part: ``synthetic``: "fields" (segmentation, masks format) or "crops" (classification).
        synth: ``synthetic``: generator parameters for :func:`ensure_synthetic`.

    Returns:
        :class:`RecordList` (a list of :class:`Record`) with ``skipped`` files listed.

    Raises:
        FileNotFoundError: missing folder or mask, naming it.
        ValueError: unknown format/class, empty dataset, naming the folder.
    """
    if fmt not in FORMATS:
        raise ValueError(f"unknown dataset format {fmt!r}; choose one of {list(FORMATS)}")
    if fmt == "synthetic":
        return _read_synthetic(root, part, synth, grouping, require_masks, class_names)
    if root is None:
        raise ValueError(f"format {fmt!r} needs a root folder")
    root = Path(root).expanduser()
    if not root.is_dir():
        raise FileNotFoundError(f"dataset folder not found: {root}")
    mroot = Path(masks_root).expanduser() if masks_root is not None else None
    skipped: list[tuple[str, str]] = []
    if fmt == "masks":
        records = read_masks_folder(root, require_masks, skipped)
    elif fmt == "classes":
        records = read_classes_folder(root, mroot, grouping, class_names, require_masks, skipped)
    elif fmt == "sipakmed":
        records = read_sipakmed(root, crops, mroot, grouping, class_names, require_masks, skipped)
    elif fmt == "isbi2014":
        records = read_isbi2014(root, str(mat) if mat else None, require_masks, skipped)
    elif fmt == "geojson":
        records = read_geojson(root, require_masks, skipped)
    elif fmt == "coco":
        records = read_coco(root, require_masks, skipped)
    else:
        records = read_labelmap(root, cell_threshold, nucleus_threshold, grouping, class_names, skipped)
    if skipped:
        shown = "; ".join(f"{p} ({r})" for p, r in skipped[:10])
        more = f"; ... +{len(skipped) - 10} more" if len(skipped) > 10 else ""
        warnings.warn(f"{root}: skipped {len(skipped)} file(s) (see .skipped): {shown}{more}", stacklevel=2)
    if not records:
        raise ValueError(
            f"{root}: empty dataset, no images found for format {fmt!r}"
            + (f" ({len(skipped)} file(s) skipped)" if skipped else "")
        )
    return RecordList(records, skipped, str(root), fmt, grouping)
