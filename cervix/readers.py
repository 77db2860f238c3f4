"""The dataset readers: each indexes one folder layout into :class:`cervix.data.Record` lists.

Layouts (called through :func:`cervix.data.read_dataset`):

- masks folder: ``images/<id>.<ext>`` with ``masks/cytoplasm/<id>.png``,
  ``masks/nucleus/<id>.png`` and optional ``masks/instances/<id>.png`` (:func:`read_masks_folder`).
- classes folder: ImageFolder ``<root>/<class>/<id>.<ext>``, optional masks root
  ``<masks_root>/{cytoplasm,nucleus}/<class>/<id>.png`` and optional ``<root>/groups.csv``
  (``path,group``: the source image of each crop) (:func:`read_classes_folder`). Herlev
  (Jantzen et al., 2005) is read this way; its ``*-d.bmp`` mask images are skipped.
- SIPaKMeD (Plissiti et al., ICIP 2018): ``im_<Class>/im_<Class>/NNN.bmp`` full images with
  ``NNN_cytMM.dat`` / ``NNN_nucMM.dat`` cell and nucleus contours, or the ``CROPPED/NNN_MM.bmp``
  cell crops (:func:`read_sipakmed`, :func:`read_sipakmed_contour`,
  :func:`rasterize_sipakmed_contours`).
- ISBI 2014 Overlapping Cervical Cytology challenge (Lu et al., IEEE TMI 2015 and 2017):
  ``1.tif, 2.tif, ...`` with one ``.mat`` ground truth holding ``<prefix>_Cytoplasm`` and
  ``<prefix>_Nuclei`` per-cell masks (:func:`read_isbi2014`).
- label maps: ``labelmaps/[<class>/]<id>.png`` grey levels coding background / cell / nucleus,
  beside ``crops/`` (or ``images/``) (:func:`read_labelmap`).

The readers share their arguments: ``root`` (the dataset folder), ``masks_root`` (the masks
root of class-folder crops), ``grouping`` and ``class_names`` (see :func:`cervix.data.read_dataset`),
``require_masks`` (fail when the dataset has no masks) and ``skipped``. Each reader appends the
files it passes over to ``skipped`` as ``(path, reason)`` and returns the records; masks that
are not mask files (contours, ``.mat`` entries, label maps) are decoded by
:func:`decode_masks` when a record is loaded, with the per-cell masks of SIPaKMeD and ISBI 2014.
"""
from __future__ import annotations

import csv
import functools
import re
from pathlib import Path
from typing import Any, Iterable, Sequence

import cv2
import numpy as np

from cervix.data import IMAGE_EXTENSIONS, Record, load_uint8
from cervix.labels import canonical_class, group_label

__all__ = [
    "read_masks_folder",
    "read_classes_folder",
    "read_sipakmed",
    "read_isbi2014",
    "read_labelmap",
    "read_sipakmed_contour",
    "rasterize_sipakmed_contours",
    "decode_masks",
]

_IGNORED_NAMES = {"groups.csv"}


# --------------------------------------------------------------------------------------------
# SIPaKMeD contours
# --------------------------------------------------------------------------------------------
_DAT_RE = re.compile(r"^(\d+)_(cyt|nuc)(\d+)\.dat$", re.IGNORECASE)


def read_sipakmed_contour(path: str | Path) -> np.ndarray:
    """Read one SIPaKMeD ``.dat`` contour: (N, 2) float64 (x, y) in full-image pixels.

    Raises:
        ValueError: naming the file, for unparsable lines or fewer than 3 points.
    """
    p = Path(path)
    pts = []
    for ln, line in enumerate(p.read_text(errors="replace").splitlines(), 1):
        line = line.strip()
        if not line:
            continue
        parts = [t for t in re.split(r"[,;\s]+", line) if t]
        try:
            if len(parts) != 2:
                raise ValueError
            pts.append((float(parts[0]), float(parts[1])))
        except ValueError:
            raise ValueError(f"{p}: line {ln} is not an 'x,y' pair: {line[:60]!r}") from None
    if len(pts) < 3:
        raise ValueError(f"{p}: contour has {len(pts)} points, need at least 3")
    arr = np.asarray(pts, dtype=np.float64)
    if not np.isfinite(arr).all():
        bad = int(np.argmax(~np.isfinite(arr).all(axis=1)))
        raise ValueError(f"{p}: point {bad + 1} is not a finite number: {pts[bad]}")
    return arr


def rasterize_sipakmed_contours(
    dat_paths: Iterable[str | Path], shape: tuple[int, ...]
) -> tuple[np.ndarray, np.ndarray]:
    """Rasterise SIPaKMeD ``NNN_cytMM.dat`` / ``NNN_nucMM.dat`` contours to instance label maps.

    Cells are filled in id order (a later cell covers an earlier one where they overlap); the
    nucleus of cell MM is then given to cell MM in the cell map, so a nucleus always lies inside
    its own cell. Ids are the MM of the file names.

    Args:
        dat_paths: contour files of one image.
        shape: image shape (H, W[, C]).

    Returns:
        (cell_ids, nucleus_ids): (H, W) int32 label maps, 0 = background.

    Raises:
        ValueError: naming the file, for a name not of the form ``NNN_cytMM.dat``/``NNN_nucMM.dat``
            or an unreadable contour.
    """
    return _label_maps(*_sipakmed_polygons(dat_paths, shape), shape)


def _sipakmed_polygons(dat_paths: Iterable[str | Path], shape: tuple[int, ...]
                       ) -> tuple[dict[int, np.ndarray], dict[int, np.ndarray]]:
    """Cell and nucleus polygons (id MM -> (K, 2) int32 x, y) of one image's contour files."""
    h, w = int(shape[0]), int(shape[1])
    cells: dict[int, np.ndarray] = {}
    nuclei: dict[int, np.ndarray] = {}
    for d in dat_paths:
        p = Path(d)
        m = _DAT_RE.match(p.name)
        if m is None:
            raise ValueError(f"{p}: not a SIPaKMeD contour name (expected NNN_cytMM.dat or NNN_nucMM.dat)")
        xy = read_sipakmed_contour(p)
        if (np.abs(xy) > 4 * max(h, w)).any():  # far outside any image: a corrupt file, not a border cell
            raise ValueError(f"{p}: coordinates up to {np.abs(xy).max():.3g}, far outside the {w}x{h} image")
        (cells if m.group(2).lower() == "cyt" else nuclei)[int(m.group(3))] = np.rint(xy).astype(np.int32)
    return cells, nuclei


def _fill(pts: np.ndarray, out: np.ndarray, value: int = 1) -> np.ndarray:
    """Fill the polygon ``pts`` ((K, 2) int32 x, y) into ``out`` with ``value``; returns ``out``."""
    cv2.fillPoly(out, [pts.reshape(-1, 1, 2)], int(value))
    return out


def _label_maps(cells: dict[int, np.ndarray], nuclei: dict[int, np.ndarray],
                shape: tuple[int, ...]) -> tuple[np.ndarray, np.ndarray]:
    """The label maps of :func:`rasterize_sipakmed_contours` from :func:`_sipakmed_polygons`."""
    h, w = int(shape[0]), int(shape[1])
    cell_ids, nucleus_ids = np.zeros((h, w), np.int32), np.zeros((h, w), np.int32)
    for i in sorted(cells):
        _fill(cells[i], cell_ids, i)
    for i in sorted(nuclei):
        one = _fill(nuclei[i], np.zeros((h, w), np.uint8)) > 0
        nucleus_ids[one] = i
        if i in cells:
            cell_ids[one] = i
    return cell_ids, nucleus_ids


def _cell_masks(cells: dict[int, np.ndarray], nuclei: dict[int, np.ndarray], shape: tuple[int, ...]) -> np.ndarray:
    """(N, H, W) bool: each cell polygon on its own (overlaps kept) with its own nucleus, in id order."""
    out = np.zeros((len(cells), int(shape[0]), int(shape[1])), np.uint8)
    for k, i in enumerate(sorted(cells)):
        _fill(cells[i], out[k])
        if i in nuclei:
            _fill(nuclei[i], out[k])
    return out.view(bool)


# --------------------------------------------------------------------------------------------
# Format helpers
# --------------------------------------------------------------------------------------------
def _is_image(p: Path) -> bool:
    return p.is_file() and p.suffix.lower() in IMAGE_EXTENSIONS and not p.name.startswith(".")


def _map_label(label: str, grouping: str | None, where: Path) -> str:
    try:
        return group_label(label, grouping)
    except ValueError as e:
        raise ValueError(f"{where}: {e}") from None


def _check_class(label: str, class_names: Sequence[str] | None, where: Path) -> None:
    if class_names is not None and label not in class_names:
        raise ValueError(f"{where}: unknown class folder {label!r}; expected one of {list(class_names)}")


def read_masks_folder(root: Path, require_masks: bool, skipped: list) -> list[Record]:
    """Index ``images/<id>.<ext>`` with ``masks/cytoplasm/<id>.png`` and ``masks/nucleus/<id>.png``;
    ``masks/instances/<id>.png`` (cell ids), optional per image, becomes ``Record.instances``.

    Raises:
        FileNotFoundError: no ``images/`` folder, or a missing mask file (naming it).
        ValueError: two images share one id.
    """
    img_dir = root / "images"
    if not img_dir.is_dir():
        raise FileNotFoundError(f"{root}: no images/ folder (masks format: images/<id>.<ext>, masks/cytoplasm/, masks/nucleus/)")
    cyt_dir, nuc_dir, inst_dir = (root / "masks" / n for n in ("cytoplasm", "nucleus", "instances"))
    has_masks = cyt_dir.is_dir() or nuc_dir.is_dir()
    if require_masks and not has_masks:
        raise FileNotFoundError(f"{root}: masks are required but {root / 'masks'} has no cytoplasm/ or nucleus/ folder")
    by_id: dict[str, Path] = {}
    for p in sorted(img_dir.iterdir()):
        if not _is_image(p):
            skipped.append((str(p), "not an image file"))
            continue
        if p.stem in by_id:
            raise ValueError(f"{p}: two images share the id {p.stem!r} ({by_id[p.stem].name} and {p.name})")
        by_id[p.stem] = p
    records = []
    for sid, p in by_id.items():
        cyt = nuc = None
        if has_masks:
            cyt, nuc = cyt_dir / f"{sid}.png", nuc_dir / f"{sid}.png"
            for m in (cyt, nuc):
                if not m.is_file():
                    raise FileNotFoundError(f"missing mask file {m} for image {p}")
        inst = inst_dir / f"{sid}.png"
        records.append(Record(str(p), None, sid, str(cyt) if cyt else None, str(nuc) if nuc else None,
                              instances=str(inst) if inst.is_file() else None))
    for d in (cyt_dir, nuc_dir, inst_dir):
        for m in sorted(d.glob("*")) if d.is_dir() else []:
            if m.stem not in by_id:
                skipped.append((str(m), "mask without an image"))
    return records


def _read_groups_csv(root: Path) -> dict[str, str]:
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
        raise ValueError(f"{f}: {len(conflicts)} row(s) give a crop no group or two different groups, e.g. "
                         f"{conflicts[:5]}; fix the file so every crop has exactly one group")
    return groups


def _norm_rel(path: str) -> str:
    """A groups.csv path as a root-relative POSIX path (Windows ``\\`` and a leading ``./`` accepted)."""
    p = path.strip().replace("\\", "/")
    while p.startswith("./"):
        p = p[2:]
    return p


def _class_mask_paths(masks_root: Path, cls: str, stem: str) -> tuple[Path, Path]:
    return masks_root / "cytoplasm" / cls / f"{stem}.png", masks_root / "nucleus" / cls / f"{stem}.png"


def read_classes_folder(root: Path, masks_root: Path | None, grouping: str | None,
                        class_names: Sequence[str] | None, require_masks: bool,
                        skipped: list) -> list[Record]:
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
    groups = _read_groups_csv(root)
    if class_names is not None:
        unknown = [d.name for d in sorted(root.iterdir()) if d.is_dir() and not d.name.startswith(".")
                   and d.name not in class_names]
        if unknown:
            raise ValueError(f"{root}: unknown class folder(s) {unknown}; expected one of {list(class_names)}")
    records = []
    for cdir in sorted(root.iterdir()):
        if not cdir.is_dir():
            if cdir.name not in _IGNORED_NAMES:
                skipped.append((str(cdir), "file outside a class folder"))
            continue
        if cdir.name.startswith("."):
            skipped.append((str(cdir), "hidden folder"))
            continue
        label = _map_label(cdir.name, grouping, cdir)
        n_before = len(records)
        for p in sorted(cdir.iterdir()):
            if p.name.startswith("."):
                if p.name not in _IGNORED_NAMES:
                    skipped.append((str(p), "hidden file"))
                continue
            if p.is_dir():
                skipped.append((str(p), "sub-folder inside a class folder"))
                continue
            if not _is_image(p):
                skipped.append((str(p), "not an image file"))
                continue
            if p.stem.lower().endswith("-d"):
                skipped.append((str(p), "Herlev mask image (-d), not a cell image"))
                continue
            rel = p.relative_to(root).as_posix()
            group = groups.get(rel, f"{cdir.name}/{p.stem}")
            cyt = nuc = None
            if masks_root is not None:
                cyt, nuc = _class_mask_paths(masks_root, cdir.name, p.stem)
                for m in (cyt, nuc):
                    if not m.is_file():
                        raise FileNotFoundError(f"missing mask file {m} for image {p}")
            records.append(Record(str(p), label, group, str(cyt) if cyt else None, str(nuc) if nuc else None))
        if len(records) == n_before:
            skipped.append((str(cdir), "class folder without images"))
    if groups:
        _check_groups(root, groups, records)
    if masks_root is not None:
        by_mask: dict[str, str] = {}
        for r in records:
            if by_mask.setdefault(str(r.cytoplasm), r.path) != r.path:
                raise ValueError(f"{by_mask[str(r.cytoplasm)]} and {r.path} share the stem of one mask file "
                                 f"({r.cytoplasm}); rename one of them")
    return records


def _check_groups(root: Path, groups: dict[str, str], records: list[Record]) -> None:
    """Every crop has a row of ``groups.csv`` and every row a crop: a crop that silently got a
    group of its own could put cells of one source image in both train and test."""
    rels = {Path(r.path).relative_to(root).as_posix() for r in records}
    no_row = sorted(rels - set(groups))
    no_file = sorted(g for g in set(groups) - rels if not (root / g).exists())
    if no_row or no_file:
        raise ValueError(
            f"{root / 'groups.csv'} does not match the crops: {len(no_row)} crop(s) without a row "
            f"{no_row[:5]}, {len(no_file)} row(s) without a crop {no_file[:5]}. Every crop needs its group "
            "(the source image it was cut from), or a split could leak one image's cells into train and test")
    for r in records:
        r.group = groups[Path(r.path).relative_to(root).as_posix()]


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


def read_sipakmed(root: Path, crops: bool, masks_root: Path | None, grouping: str | None,
                  class_names: Sequence[str] | None, require_masks: bool,
                  skipped: list) -> list[Record]:
    """Index SIPaKMeD full images with their ``.dat`` contours, or (``crops``) the
    ``CROPPED/NNN_MM.bmp`` cell crops with masks under ``masks_root``; group ``<class>/NNN``.

    Raises:
        FileNotFoundError: no ``im_<Class>`` folders, an image without its cell contours.
        ValueError: an unknown class, crops without ``masks_root`` when masks are required.
    """
    records = []
    for folder, d in _sipakmed_class_dirs(root):
        cls = canonical_class(folder)
        _check_class(cls, class_names, d)
        label = _map_label(cls, grouping, d)
        if crops:
            cdir = d / "CROPPED"
            if not cdir.is_dir():
                raise FileNotFoundError(f"{d}: no CROPPED/ folder with the cell crops")
            if require_masks and masks_root is None:
                raise ValueError(f"{cdir}: SIPaKMeD crops have no masks of their own; give masks_root "
                                 "(e.g. the output of `cervix masks`)")
            for p in sorted(cdir.iterdir()):
                m = re.match(r"^(\d+)_(\d+)$", p.stem)
                if not _is_image(p) or m is None:
                    skipped.append((str(p), "not a NNN_MM crop image"))
                    continue
                cyt = nuc = None
                if masks_root is not None:
                    cyt, nuc = _class_mask_paths(masks_root, cls, p.stem)
                    for mp in (cyt, nuc):
                        if not mp.is_file():
                            raise FileNotFoundError(f"missing mask file {mp} for image {p}")
                records.append(Record(str(p), label, f"{cls}/{m.group(1)}",
                                      str(cyt) if cyt else None, str(nuc) if nuc else None))
            continue
        dats: dict[str, list[str]] = {}
        for p in sorted(d.glob("*.dat")):
            m = _DAT_RE.match(p.name)
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
            if not _is_image(p) or not p.stem.isdigit():
                skipped.append((str(p), "not a NNN image"))
                continue
            images[p.stem] = p
        for nnn, p in images.items():
            contours = dats.get(nnn, [])
            if not any(_DAT_RE.match(Path(c).name).group(2).lower() == "cyt" for c in contours):
                raise FileNotFoundError(f"missing mask: no {nnn}_cytMM.dat contour file beside image {p}")
            records.append(Record(str(p), label, f"{cls}/{nnn}", source="sipakmed",
                                  meta={"contours": contours}))
        for nnn, files in dats.items():
            if nnn not in images:
                skipped.extend((f, f"contour without an image {nnn}.bmp") for f in files)
    return records


@functools.lru_cache(maxsize=2)
def _load_mat(path: str) -> dict[str, Any]:
    from scipy.io import loadmat

    try:
        return loadmat(path)
    except Exception as e:  # scipy raises several types for bad files
        raise ValueError(f"{path}: cannot read MATLAB file ({e})") from None


def _mat_prefix(mat: dict[str, Any]) -> str | None:
    for k in mat:
        if k.endswith("_Cytoplasm") and f"{k[:-len('_Cytoplasm')]}_Nuclei" in mat:
            return k[: -len("_Cytoplasm")]
    return None


def _isbi_masks(mat_path: str, index: int, prefix: str) -> tuple[np.ndarray, np.ndarray]:
    """Entry ``index`` (0-based): per-cell masks (N, H, W) bool, overlaps kept, and nucleus mask (H, W) bool."""
    mat = _load_mat(mat_path)
    cyt_all, nuc_all = mat[f"{prefix}_Cytoplasm"].ravel(), mat[f"{prefix}_Nuclei"].ravel()
    if index >= len(cyt_all) or index >= len(nuc_all):
        raise ValueError(f"{mat_path}: has {len(cyt_all)} entries, no entry {index + 1}")

    def stack(entry: Any) -> np.ndarray:  # a cell array of per-cell masks, one 2-D mask or (H, W, N)
        arr = np.asarray(entry)
        if arr.dtype != object:
            return (arr > 0)[None] if arr.ndim == 2 else np.moveaxis(arr > 0, -1, 0)
        parts = [np.asarray(a) > 0 for a in arr.ravel()]
        if not parts or len({a.shape for a in parts}) > 1:
            raise ValueError(f"{mat_path}: entry {index + 1} holds no cell masks or masks of several sizes "
                             f"{sorted({a.shape for a in parts})}")
        return np.stack(parts)

    return stack(cyt_all[index]), stack(nuc_all[index]).any(axis=0)


def read_isbi2014(root: Path, mat_path: str | None, require_masks: bool, skipped: list) -> list[Record]:
    """Index the ISBI 2014 ``N.tif`` images; entry ``N`` of the ground-truth ``.mat``
    (``mat_path``, else the one found under ``root``) holds their masks.

    Raises:
        FileNotFoundError: masks required but no ``.mat`` found, an image without its entry.
        ValueError: several ``.mat`` files, a ``.mat`` without ``<prefix>_Cytoplasm``/``_Nuclei``.
    """
    tifs = sorted((p for p in root.rglob("*") if p.suffix.lower() in (".tif", ".tiff") and p.is_file()),
                  key=lambda p: (len(p.stem), p.stem))
    if mat_path is not None:
        mats = [Path(mat_path)]
    else:
        mats = [m for m in sorted(root.rglob("*.mat")) if _mat_prefix(_load_mat(str(m))) is not None]
        for m in sorted(root.rglob("*.mat")):
            if m not in mats:
                skipped.append((str(m), "no <prefix>_Cytoplasm / <prefix>_Nuclei variables"))
    if len(mats) > 1:
        raise ValueError(f"{root}: several ground-truth .mat files {[str(m) for m in mats]}; pass mat=PATH")
    if not mats and require_masks:
        raise FileNotFoundError(f"{root}: masks are required but no .mat ground truth was found")
    prefix = _mat_prefix(_load_mat(str(mats[0]))) if mats else None
    if mats and prefix is None:
        raise ValueError(f"{mats[0]}: no <prefix>_Cytoplasm / <prefix>_Nuclei variables (e.g. train_Cytoplasm)")
    n_entries = len(_load_mat(str(mats[0]))[f"{prefix}_Cytoplasm"].ravel()) if mats else 0
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
        records.append(Record(str(p), None, p.stem, source="isbi2014",
                              meta={"mat": str(mats[0]), "index": idx, "prefix": prefix}))
    for p in sorted(root.rglob("*")):
        if p.is_file() and p.suffix.lower() not in (".tif", ".tiff", ".mat"):
            skipped.append((str(p), "not an ISBI .tif image or .mat file"))
    return records


def _labelmap_masks(path: str, shape: tuple[int, int], cell_t: int, nuc_t: int) -> tuple[np.ndarray, np.ndarray]:
    lm = load_uint8(path)
    if lm.ndim == 3:
        lm = lm[:, :, 0]
    if lm.shape != tuple(shape):
        raise ValueError(f"{path}: label map size {lm.shape[1]}x{lm.shape[0]} differs from its image size "
                         f"{shape[1]}x{shape[0]}")
    return (lm > cell_t).astype(np.uint8) * 255, (lm > nuc_t).astype(np.uint8) * 255


def _find_image(folder: Path, stem: str) -> Path | None:
    for ext in IMAGE_EXTENSIONS:
        for e in (ext, ext.upper()):
            if (folder / f"{stem}{e}").is_file():
                return folder / f"{stem}{e}"
    return None


def read_labelmap(root: Path, cell_t: int, nuc_t: int, grouping: str | None,
                  class_names: Sequence[str] | None, skipped: list) -> list[Record]:
    """Index ``labelmaps/[<class>/]<id>.png`` with their images in ``crops/`` (or ``images/``):
    grey levels above ``cell_t`` are cell, above ``nuc_t`` nucleus.

    Raises:
        FileNotFoundError: missing folders, a label map without its image.
        ValueError: an unknown class, a ``groups.csv`` that does not match the images.
    """
    lm_dir = root / "labelmaps"
    img_dir = next((root / n for n in ("crops", "images") if (root / n).is_dir()), None)
    if not lm_dir.is_dir() or img_dir is None:
        raise FileNotFoundError(f"{root}: expected labelmaps/ and crops/ (or images/) folders, "
                                "optionally with class sub-folders")
    groups = _read_groups_csv(root)
    records = []
    for lm in sorted(lm_dir.rglob("*")):
        if not lm.is_file():
            continue
        if not _is_image(lm):
            skipped.append((str(lm), "not an image file"))
            continue
        rel = lm.relative_to(lm_dir)
        cls = rel.parts[0] if len(rel.parts) > 1 else None
        img = _find_image(img_dir / rel.parent, lm.stem)
        if img is None:
            raise FileNotFoundError(f"{lm}: no image {lm.stem}.<ext> in {img_dir / rel.parent}")
        label = None
        if cls is not None:
            _check_class(cls, class_names, lm.parent)
            label = _map_label(cls, grouping, lm.parent)
        key = img.relative_to(root).as_posix()
        group = groups.get(key, rel.with_suffix("").as_posix())
        records.append(Record(str(img), label, group, source="labelmap",
                              meta={"labelmap": str(lm), "cell_threshold": cell_t, "nucleus_threshold": nuc_t}))
    used = {Path(r.path).resolve() for r in records}
    for img in sorted(img_dir.rglob("*")):
        if img.is_file() and _is_image(img) and img.resolve() not in used:
            skipped.append((str(img), "no label map"))
    if groups:
        _check_groups(root, groups, records)
    return records


# --------------------------------------------------------------------------------------------
# Masks of records without mask files
# --------------------------------------------------------------------------------------------
def decode_masks(record: Record, shape: tuple[int, ...]
                 ) -> tuple[np.ndarray, np.ndarray, np.ndarray | None, np.ndarray | None]:
    """Cytoplasm and nucleus masks (H, W) uint8 {0, 255} of a record whose masks are no mask files.

    Args:
        record: a record of source ``"sipakmed"`` (contours), ``"isbi2014"`` (.mat entry) or
            ``"labelmap"`` (grey levels).
        shape: its image's (H, W).

    Returns:
        ``(cytoplasm, nucleus, instances, cells)``; instances: the SIPaKMeD cell ids (H, W) int32,
        else None; cells: (N, H, W) bool per-cell masks (SIPaKMeD, ISBI 2014), else None.

    Raises:
        ValueError: naming the file, for masks of another size than the image or an unknown source.
    """
    cyt = nuc = inst = cells = None
    if record.source == "sipakmed":
        polygons = _sipakmed_polygons(record.meta["contours"], shape)
        (inst, nuc_ids), cells = _label_maps(*polygons, shape), _cell_masks(*polygons, shape)
        cyt = np.where((inst > 0) | (nuc_ids > 0), 255, 0).astype(np.uint8)
        nuc = np.where(nuc_ids > 0, 255, 0).astype(np.uint8)
    elif record.source == "isbi2014":
        cells, nuc = _isbi_masks(record.meta["mat"], int(record.meta["index"]), record.meta["prefix"])
        for m in (cells[0], nuc):
            if m.shape != shape:
                raise ValueError(f"{record.meta['mat']}: entry {record.meta['index'] + 1} has masks of size "
                                 f"{m.shape[1]}x{m.shape[0]} but image {record.path} is {shape[1]}x{shape[0]}")
        cyt, nuc = cells.any(axis=0).astype(np.uint8) * 255, nuc.astype(np.uint8) * 255
    elif record.source == "labelmap":
        m = record.meta
        cyt, nuc = _labelmap_masks(m["labelmap"], shape, m["cell_threshold"], m["nucleus_threshold"])
    else:
        raise ValueError(f"record {record.path}: unknown mask source {record.source!r}")
    return cyt, nuc, inst, cells
