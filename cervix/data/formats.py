"""TODO docstring (from cervix.data.records)"""
from __future__ import annotations

import warnings
from pathlib import Path
from typing import Any, Sequence

from cervix.data.readers import (
    ensure_synthetic,
    read_classes_folder,
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
FORMATS: tuple[str, ...] = ("masks", "classes", "sipakmed", "isbi2014", "labelmap", "synthetic")


# --------------------------------------------------------------------------------------------
# Entry point
# --------------------------------------------------------------------------------------------
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
        if part not in ("fields", "crops"):
            raise ValueError(f"synthetic part must be 'fields' or 'crops', not {part!r}")
        out = ensure_synthetic(root, **(synth or {}))
        if part == "fields":
            return read_dataset(out / "fields", "masks", require_masks=True)
        return read_dataset(out / "crops", "classes", masks_root=out / "crops_masks", grouping=grouping,
                            require_masks=require_masks, class_names=class_names)
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
    else:
        records = read_labelmap(root, cell_threshold, nucleus_threshold, grouping, class_names, skipped)
    if skipped:
        shown = "; ".join(f"{p} ({r})" for p, r in skipped[:10])
        more = f"; ... +{len(skipped) - 10} more" if len(skipped) > 10 else ""
        warnings.warn(f"{root}: skipped {len(skipped)} file(s) (see .skipped): {shown}{more}", stacklevel=2)
    if not records:
        raise ValueError(f"{root}: empty dataset, no images found for format {fmt!r}"
                         + (f" ({len(skipped)} file(s) skipped)" if skipped else ""))
    return RecordList(records, skipped, str(root), fmt, grouping)
