"""SIPaKMeD (Plissiti et al., ICIP 2018): ``im_<Class>/im_<Class>/NNN.bmp`` full images with
``NNN_cytMM.dat`` / ``NNN_nucMM.dat`` cell and nucleus contours, or the ``CROPPED/NNN_MM.bmp``
cell crops (:func:`read_sipakmed`); the contours are rasterised by
:func:`cervix.data.annotations.decode_masks` when a record is loaded.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from pathlib import Path

from cervix.core.labels import canonical_class
from cervix.data.annotations import DAT_RE
from cervix.data.readers.classes_folder import class_mask_paths
from cervix.data.readers.common import check_class, is_image, map_label
from cervix.data.records import Record

__all__ = [
    "read_sipakmed",
]


# --------------------------------------------------------------------------------------------
# SIPaKMeD contours
# --------------------------------------------------------------------------------------------


def _sipakmed_class_dirs(root: Path) -> list[tuple[str, Path]]:
    """(class folder name, folder holding NNN.bmp) for im_<Class>/im_<Class>/ or im_<Class>/."""
    out = []
    cands = [root] if root.name.lower().startswith("im_") else sorted(root.iterdir())
    for d in cands:
        if not (d.is_dir() and d.name.lower().startswith("im_")):
            continue
        inner = d / d.name
        out.append((d.name, inner if inner.is_dir() else d))
    if not out:
        raise FileNotFoundError(f"{root}: no im_<Class> folders (SIPaKMeD layout im_<Class>/im_<Class>/NNN.bmp)")
    return out


def read_sipakmed(
    root: Path,
    crops: bool,
    masks_root: Path | None,
    grouping: str | None,
    class_names: Sequence[str] | None,
    require_masks: bool,
    skipped: list,
) -> list[Record]:
    """Index SIPaKMeD full images with their ``.dat`` contours, or (``crops``) the
    ``CROPPED/NNN_MM.bmp`` cell crops with masks under ``masks_root``; group ``<class>/NNN``.

    Raises:
        FileNotFoundError: no ``im_<Class>`` folders, an image without its cell contours.
        ValueError: an unknown class, crops without ``masks_root`` when masks are required.
    """
    records = []
    for folder, d in _sipakmed_class_dirs(root):
        cls = canonical_class(folder)
        check_class(cls, class_names, d)
        label = map_label(cls, grouping, d)
        if crops:
            cdir = d / "CROPPED"
            if not cdir.is_dir():
                raise FileNotFoundError(f"{d}: no CROPPED/ folder with the cell crops")
            if require_masks and masks_root is None:
                raise ValueError(
                    f"{cdir}: SIPaKMeD crops have no masks of their own; give masks_root "
                    "(e.g. the output of `cervix masks`)"
                )
            for p in sorted(cdir.iterdir()):
                m = re.match(r"^(\d+)_(\d+)$", p.stem)
                if not is_image(p) or m is None:
                    skipped.append((str(p), "not a NNN_MM crop image"))
                    continue
                cyt = nuc = None
                if masks_root is not None:
                    cyt, nuc = class_mask_paths(masks_root, cls, p.stem)
                    for mp in (cyt, nuc):
                        if not mp.is_file():
                            raise FileNotFoundError(f"missing mask file {mp} for image {p}")
                records.append(
                    Record(str(p), label, f"{cls}/{m.group(1)}", str(cyt) if cyt else None, str(nuc) if nuc else None)
                )
            continue
        dats: dict[str, list[str]] = {}
        for p in sorted(d.glob("*.dat")):
            m = DAT_RE.match(p.name)
            if m is None:
                skipped.append((str(p), "not a NNN_cytMM/NNN_nucMM contour file"))
                continue
            dats.setdefault(m.group(1), []).append(str(p))
        images = {}
        for p in sorted(d.iterdir()):
            if p.is_dir():
                if p.name != "CROPPED":
                    skipped.append((str(p), "unexpected folder"))
                continue
            if p.suffix.lower() == ".dat":
                continue
            if not is_image(p) or not p.stem.isdigit():
                skipped.append((str(p), "not a NNN image"))
                continue
            images[p.stem] = p
        for nnn, p in images.items():
            contours = dats.get(nnn, [])
            if not any(DAT_RE.match(Path(c).name).group(2).lower() == "cyt" for c in contours):
                raise FileNotFoundError(f"missing mask: no {nnn}_cytMM.dat contour file beside image {p}")
            records.append(Record(str(p), label, f"{cls}/{nnn}", source="sipakmed", meta={"contours": contours}))
        for nnn, files in dats.items():
            if nnn not in images:
                skipped.extend((f, f"contour without an image {nnn}.bmp") for f in files)
    return records
