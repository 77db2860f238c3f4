"""Class folders: ImageFolder ``<root>/<class>/<id>.<ext>``, optional masks root
``<masks_root>/{cytoplasm,nucleus}/<class>/<id>.png`` and optional ``<root>/groups.csv``
(``path,group``: the source image of each crop) (:func:`read_classes_folder`). Herlev
(Jantzen et al., 2005) is read this way; its ``*-d.bmp`` mask images are skipped.
"""

from __future__ import annotations

import csv
from collections.abc import Sequence
from pathlib import Path

from cervix.data.readers.common import IGNORED_NAMES, is_image, map_label
from cervix.data.records import Record

__all__ = [
    "read_classes_folder",
]


def read_groups_csv(root: Path) -> dict[str, str]:
    f = root / "groups.csv"
    if not f.is_file():
        return {}
    with f.open(newline="") as fh:
        reader = csv.DictReader(fh)
        if reader.fieldnames is None or not {"path", "group"} <= set(reader.fieldnames):
            raise ValueError(f"{f}: needs a header 'path,group', found {reader.fieldnames}")
        rows = [(_norm_rel(r["path"]), (r.get("group") or "").strip()) for r in reader if (r.get("path") or "").strip()]
    groups: dict[str, str] = {}
    conflicts = []
    for rel, g in rows:
        if not g:
            conflicts.append(f"{rel}: empty group")
        elif groups.setdefault(rel, g) != g:
            conflicts.append(f"{rel}: {groups[rel]!r} and {g!r}")
    if conflicts:
        raise ValueError(
            f"{f}: {len(conflicts)} row(s) give a crop no group or two different groups, e.g. "
            f"{conflicts[:5]}; fix the file so every crop has exactly one group"
        )
    return groups


def _norm_rel(path: str) -> str:
    """A groups.csv path as a root-relative POSIX path (Windows ``\\`` and a leading ``./`` accepted)."""
    p = path.strip().replace("\\", "/")
    while p.startswith("./"):
        p = p[2:]
    return p


def class_mask_paths(masks_root: Path, cls: str, stem: str) -> tuple[Path, Path]:
    return masks_root / "cytoplasm" / cls / f"{stem}.png", masks_root / "nucleus" / cls / f"{stem}.png"


def read_classes_folder(
    root: Path,
    masks_root: Path | None,
    grouping: str | None,
    class_names: Sequence[str] | None,
    require_masks: bool,
    skipped: list,
) -> list[Record]:
    """Index ImageFolder crops ``<root>/<class>/<id>.<ext>`` (Herlev too), with their masks
    under ``masks_root`` and their groups from ``<root>/groups.csv`` when given.

    Raises:
        FileNotFoundError: a missing masks root or mask file (naming it).
        ValueError: an unknown class folder, a ``groups.csv`` that does not match the crops.
    """
    if require_masks and masks_root is None:
        raise ValueError(f"{root}: masks are required but no masks_root was given")
    if masks_root is not None and not masks_root.is_dir():
        raise FileNotFoundError(f"masks root not found: {masks_root}")
    groups = read_groups_csv(root)
    if class_names is not None:
        unknown = [
            d.name
            for d in sorted(root.iterdir())
            if d.is_dir() and not d.name.startswith(".") and d.name not in class_names
        ]
        if unknown:
            raise ValueError(f"{root}: unknown class folder(s) {unknown}; expected one of {list(class_names)}")
    records = []
    for cdir in sorted(root.iterdir()):
        if not cdir.is_dir():
            if cdir.name not in IGNORED_NAMES:
                skipped.append((str(cdir), "file outside a class folder"))
            continue
        if cdir.name.startswith("."):
            skipped.append((str(cdir), "hidden folder"))
            continue
        label = map_label(cdir.name, grouping, cdir)
        n_before = len(records)
        for p in sorted(cdir.iterdir()):
            if p.name.startswith("."):
                if p.name not in IGNORED_NAMES:
                    skipped.append((str(p), "hidden file"))
                continue
            if p.is_dir():
                skipped.append((str(p), "sub-folder inside a class folder"))
                continue
            if not is_image(p):
                skipped.append((str(p), "not an image file"))
                continue
            if p.stem.lower().endswith("-d"):
                skipped.append((str(p), "Herlev mask image (-d), not a cell image"))
                continue
            rel = p.relative_to(root).as_posix()
            group = groups.get(rel, f"{cdir.name}/{p.stem}")
            cyt = nuc = None
            if masks_root is not None:
                cyt, nuc = class_mask_paths(masks_root, cdir.name, p.stem)
                for m in (cyt, nuc):
                    if not m.is_file():
                        raise FileNotFoundError(f"missing mask file {m} for image {p}")
            records.append(Record(str(p), label, group, str(cyt) if cyt else None, str(nuc) if nuc else None))
        if len(records) == n_before:
            skipped.append((str(cdir), "class folder without images"))
    if groups:
        check_groups(root, groups, records)
    if masks_root is not None:
        by_mask: dict[str, str] = {}
        for r in records:
            if by_mask.setdefault(str(r.cytoplasm), r.path) != r.path:
                raise ValueError(
                    f"{by_mask[str(r.cytoplasm)]} and {r.path} share the stem of one mask file "
                    f"({r.cytoplasm}); rename one of them"
                )
    return records


def check_groups(root: Path, groups: dict[str, str], records: list[Record]) -> None:
    """Every crop has a row of ``groups.csv`` and every row a crop: a crop that silently got a
    group of its own could put cells of one source image in both train and test."""
    rels = {Path(r.path).relative_to(root).as_posix() for r in records}
    no_row = sorted(rels - set(groups))
    no_file = sorted(g for g in set(groups) - rels if not (root / g).exists())
    if no_row or no_file:
        raise ValueError(
            f"{root / 'groups.csv'} does not match the crops: {len(no_row)} crop(s) without a row "
            f"{no_row[:5]}, {len(no_file)} row(s) without a crop {no_file[:5]}. Every crop needs its group "
            "(the source image it was cut from), or a split could leak one image's cells into train and test"
        )
    for r in records:
        r.group = groups[Path(r.path).relative_to(root).as_posix()]
