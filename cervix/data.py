"""Dataset readers, contour rasterisation and leakage-safe splits.

Every reader returns the same cheap index, a list of :class:`Record` (paths, label, group id);
pixels are decoded on demand by :meth:`Record.load`, which returns a :class:`Sample` with the
RGB image (H, W, 3) uint8 and the cytoplasm / nucleus masks (H, W) uint8 {0, 255}. The
cytoplasm mask is the whole cell (nucleus included); the nucleus mask is the nucleus.

Formats (``read_dataset(root, fmt)``):

- ``masks``: ``images/<id>.<ext>``, ``masks/cytoplasm/<id>.png``, ``masks/nucleus/<id>.png``.
- ``classes``: ImageFolder ``<root>/<class>/<id>.<ext>`` with optional masks root
  ``<masks_root>/{cytoplasm,nucleus}/<class>/<id>.png`` and optional ``<root>/groups.csv``.
  Herlev (Jantzen et al., 2005) is read with this reader (``*-d.bmp`` mask images are skipped).
- ``sipakmed``: the official SIPaKMeD layout (Plissiti et al., ICIP 2018) with ``.dat`` contours.
- ``isbi2014``: ISBI 2014 Overlapping Cervical Cytology challenge (Lu et al., IEEE TMI 2017).
- ``labelmap``: one grey-level PNG per image coding background / cell / nucleus.
- ``synthetic``: the built-in generator (:mod:`cervix.synth`), cached under ``data/``.

Files a reader passes over are never dropped silently: they are listed in the returned
list's ``skipped`` attribute (``(path, reason)`` pairs) and in a warning.

Splits are grouped (crops of one source image never sit on both sides) and stratified by
label with scikit-learn's ``StratifiedGroupKFold``.
"""
from __future__ import annotations

import csv
import functools
import json
import os
import re
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable, Sequence

import cv2
import numpy as np

from cervix.labels import class_order, group_label, grouping_classes

__all__ = [
    "IMAGE_EXTENSIONS",
    "FORMATS",
    "Sample",
    "Record",
    "RecordList",
    "read_dataset",
    "class_names_of",
    "load_image",
    "load_mask",
    "read_sipakmed_contour",
    "rasterize_sipakmed_contours",
    "synthetic_cache_dir",
    "ensure_synthetic",
    "check_records",
    "split_records",
    "check_disjoint_groups",
    "kfold_records",
    "save_split",
    "load_split",
]

#: File extensions read as images (lower case, with the dot).
IMAGE_EXTENSIONS: tuple[str, ...] = (".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff")
#: Formats understood by :func:`read_dataset`.
FORMATS: tuple[str, ...] = ("masks", "classes", "sipakmed", "isbi2014", "labelmap", "synthetic")

_IGNORED_NAMES = {"groups.csv"}


# --------------------------------------------------------------------------------------------
# Records
# --------------------------------------------------------------------------------------------
@dataclass
class Sample:
    """One decoded image with its masks.

    Attributes:
        image: (H, W, 3) uint8 RGB.
        cytoplasm: (H, W) uint8 {0, 255} whole-cell mask, or None when the dataset has no masks.
        nucleus: (H, W) uint8 {0, 255} nucleus mask, or None.
        label: class name (after grouping) or None for unlabelled data.
        group: group id for leakage-safe splits.
        path: source image path.
        instances: optional (H, W) int32 cell instance ids (SIPaKMeD contours), else None.
    """

    image: np.ndarray
    cytoplasm: np.ndarray | None
    nucleus: np.ndarray | None
    label: str | None
    group: str
    path: str
    instances: np.ndarray | None = None

    @property
    def has_masks(self) -> bool:
        """True when both masks are present."""
        return self.cytoplasm is not None and self.nucleus is not None


@dataclass
class Record:
    """Cheap index entry of one image; pixels are read on demand by :meth:`load`.

    Attributes:
        path: image file (unique per record; splits are saved by this path).
        label: class name (after grouping) or None.
        group: group id (e.g. ``parabasal/007``): records sharing it stay on one split side.
        cytoplasm: cytoplasm mask file (``masks``/``classes`` formats), else None.
        nucleus: nucleus mask file, else None.
        source: how the masks are obtained: ``"files"`` (mask PNGs, possibly none),
            ``"sipakmed"`` (contours), ``"isbi2014"`` (.mat entry), ``"labelmap"`` (grey levels).
        meta: format-specific details (contour paths, .mat path and index, label-map thresholds).
    """

    path: str
    label: str | None
    group: str
    cytoplasm: str | None = None
    nucleus: str | None = None
    source: str = "files"
    meta: dict[str, Any] = field(default_factory=dict)

    @property
    def has_masks(self) -> bool:
        """True when :meth:`load` will give masks."""
        if self.source == "files":
            return self.cytoplasm is not None and self.nucleus is not None
        return True

    def load(self) -> Sample:
        """Decode the image and its masks.

        Raises:
            ValueError / FileNotFoundError: naming the file, for unreadable or truncated images,
                masks of another size than the image, missing masks.
        """
        image = load_image(self.path)
        shape = image.shape[:2]
        cyt = nuc = inst = None
        if self.source == "files":
            if self.cytoplasm is not None:
                cyt = load_mask(self.cytoplasm, shape)
            if self.nucleus is not None:
                nuc = load_mask(self.nucleus, shape)
        elif self.source == "sipakmed":
            inst, nuc_ids = rasterize_sipakmed_contours(self.meta["contours"], shape)
            cyt = np.where((inst > 0) | (nuc_ids > 0), 255, 0).astype(np.uint8)
            nuc = np.where(nuc_ids > 0, 255, 0).astype(np.uint8)
        elif self.source == "isbi2014":
            cyt, nuc = _isbi_masks(self.meta["mat"], int(self.meta["index"]), self.meta["prefix"])
            for m in (cyt, nuc):
                if m.shape != shape:
                    raise ValueError(
                        f"{self.meta['mat']}: entry {self.meta['index'] + 1} has masks of size "
                        f"{m.shape[1]}x{m.shape[0]} but image {self.path} is {shape[1]}x{shape[0]}"
                    )
        elif self.source == "labelmap":
            cyt, nuc = _labelmap_masks(
                self.meta["labelmap"], shape, self.meta["cell_threshold"], self.meta["nucleus_threshold"]
            )
        else:
            raise ValueError(f"record {self.path}: unknown mask source {self.source!r}")
        return Sample(image, cyt, nuc, self.label, self.group, self.path, inst)


class RecordList(list):
    """A ``list[Record]`` that also remembers how it was read.

    Attributes:
        skipped: ``(path, reason)`` of every file the reader passed over.
        root: the dataset root.
        fmt: the reader format.
        grouping: the label grouping applied (None, "5", "3" or "2").
    """

    def __init__(self, records: Iterable[Record] = (), skipped: Sequence[tuple[str, str]] = (),
                 root: str = "", fmt: str = "", grouping: str | None = None) -> None:
        super().__init__(records)
        self.skipped: list[tuple[str, str]] = list(skipped)
        self.root = root
        self.fmt = fmt
        self.grouping = grouping


# --------------------------------------------------------------------------------------------
# Pixels
# --------------------------------------------------------------------------------------------
def _read_bytes(path: str | Path) -> bytes:
    p = Path(path)
    if not p.is_file():
        raise FileNotFoundError(f"image file not found: {p}")
    return p.read_bytes()


def _check_complete(path: Path, data: bytes) -> None:
    """Cheap truncation check for PNG (IEND chunk) and JPEG (EOI marker)."""
    ext = path.suffix.lower()
    if ext == ".png" and b"IEND" not in data[-64:]:
        raise ValueError(f"{path}: truncated PNG image (no IEND chunk at the end of the file)")
    if ext in (".jpg", ".jpeg") and b"\xff\xd9" not in data[-4096:]:
        raise ValueError(f"{path}: truncated JPEG image (no end-of-image marker)")


def _decode(path: str | Path) -> np.ndarray:
    """Decode a file with OpenCV (unicode-safe); clear error naming the file."""
    p = Path(path)
    data = _read_bytes(p)
    if not data:
        raise ValueError(f"{p}: empty file, not an image")
    _check_complete(p, data)
    arr = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_UNCHANGED)
    if arr is None or arr.size == 0:
        raise ValueError(f"{p}: unreadable or truncated image (OpenCV could not decode it)")
    return arr


def _bit_depth(max_value: int) -> int:
    """The smallest common sensor depth (8, 10, 12, 14 or 16 bits) that holds ``max_value``."""
    return next((b for b in (8, 10, 12, 14) if max_value < 2 ** b), 16)


def _to_uint8(arr: np.ndarray) -> np.ndarray:
    """Bring any integer/float depth to uint8 (16-bit: by its real bit depth, 8/10/12/14/16
    from the largest value; float in [0,1] or [0,255])."""
    if arr.dtype == np.uint8:
        return arr
    if arr.dtype == np.uint16:  # by the real bit depth: a 12-bit image in a 16-bit PNG is not dark
        top = float(2 ** _bit_depth(int(arr.max(initial=0))) - 1)
        return np.clip(np.rint(arr.astype(np.float32) * (255.0 / top)), 0, 255).astype(np.uint8)
    if arr.dtype == np.bool_:
        return arr.astype(np.uint8) * 255
    if np.issubdtype(arr.dtype, np.floating):
        a = np.nan_to_num(arr.astype(np.float32))
        if a.max(initial=0.0) <= 1.0:
            a = a * 255.0
        return np.clip(np.rint(a), 0, 255).astype(np.uint8)
    info = np.iinfo(arr.dtype)
    a = arr.astype(np.float64)
    if info.max > 255:
        a = a * (255.0 / info.max)
    return np.clip(np.rint(a), 0, 255).astype(np.uint8)


def load_image(path: str | Path) -> np.ndarray:
    """Read an image as (H, W, 3) uint8 RGB.

    16-bit images are reduced to 8 bits, greyscale is replicated to 3 channels, the alpha of
    RGBA is dropped.

    Raises:
        FileNotFoundError: the file does not exist.
        ValueError: naming the file, when it is empty, truncated or not decodable.
    """
    arr = _to_uint8(_decode(path))
    if arr.ndim == 2:
        return np.ascontiguousarray(np.repeat(arr[:, :, None], 3, axis=2))
    c = arr.shape[2]
    if c == 1:
        return np.ascontiguousarray(np.repeat(arr, 3, axis=2))
    if c == 2:  # grey + alpha
        return np.ascontiguousarray(np.repeat(arr[:, :, :1], 3, axis=2))
    if c == 3:
        return cv2.cvtColor(arr, cv2.COLOR_BGR2RGB)
    if c == 4:
        return cv2.cvtColor(arr, cv2.COLOR_BGRA2RGB)
    raise ValueError(f"{path}: image with {c} channels is not supported (expected 1, 3 or 4)")


def _binarise(m: np.ndarray) -> np.ndarray:
    """A mask at its own bit depth -> uint8 {0, 255}.

    Exactly two values ``{0, v}`` (``v > 0``), at any depth, are a binary mask ({0, 1},
    {0, 100}, {0, 255}, {0, 65535}); anything else is foreground above half the range of its
    type (uint8 > 127, uint16 > 32767, float > 0.5).
    """
    values = np.unique(m)
    if len(values) == 2 and values[0] == 0:
        return (m > 0).astype(np.uint8) * 255
    if np.issubdtype(m.dtype, np.floating):
        half = 0.5 if values.max(initial=0) <= 1 else 127.5
    elif m.dtype == np.bool_:
        half = 0
    else:
        half = np.iinfo(m.dtype).max // 2
    return (m > half).astype(np.uint8) * 255


def load_mask(path: str | Path, shape: tuple[int, ...] | None = None) -> np.ndarray:
    """Read a mask as (H, W) uint8 {0, 255}; values > 127 are foreground.

    Colour masks use their first channel. A mask holding exactly two values ``{0, v}`` is
    binary whatever ``v`` and the bit depth ({0, 1}, {0, 100}, 16-bit {0, 255}, ...); any other
    mask is foreground above half the range of its type (uint8 > 127, uint16 > 32767).

    Args:
        path: mask file.
        shape: expected (H, W[, C]) of the image it belongs to.

    Raises:
        FileNotFoundError: the mask file is missing.
        ValueError: naming the file, when unreadable or of another size than ``shape``.
    """
    p = Path(path)
    if not p.is_file():
        raise FileNotFoundError(f"missing mask file: {p}")
    m = _decode(p)
    if m.ndim == 3:
        m = m[:, :, 0]
    if shape is not None and m.shape != tuple(shape[:2]):
        raise ValueError(
            f"{p}: mask size {m.shape[1]}x{m.shape[0]} differs from its image size "
            f"{shape[1]}x{shape[0]}"
        )
    return _binarise(m)


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
        pts = np.rint(xy).astype(np.int32)
        (cells if m.group(2).lower() == "cyt" else nuclei)[int(m.group(3))] = pts
    cell_ids = np.zeros((h, w), np.int32)
    nucleus_ids = np.zeros((h, w), np.int32)
    for i in sorted(cells):
        cv2.fillPoly(cell_ids, [cells[i].reshape(-1, 1, 2)], int(i))
    for i in sorted(nuclei):
        one = np.zeros((h, w), np.uint8)
        cv2.fillPoly(one, [nuclei[i].reshape(-1, 1, 2)], 1)
        nucleus_ids[one > 0] = i
        if i in cells:
            cell_ids[one > 0] = i
    return cell_ids, nucleus_ids


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


def _sipakmed_class(folder: str) -> str:
    """'im_Superficial-Intermediate' -> 'superficial-intermediate'."""
    n = folder.strip()
    if n.lower().startswith("im_"):
        n = n[3:]
    return n.lower().replace("_", "-").replace(" ", "-")


def _read_masks_folder(root: Path, require_masks: bool, skipped: list) -> list[Record]:
    img_dir = root / "images"
    if not img_dir.is_dir():
        raise FileNotFoundError(f"{root}: no images/ folder (masks format: images/<id>.<ext>, masks/cytoplasm/, masks/nucleus/)")
    cyt_dir, nuc_dir = root / "masks" / "cytoplasm", root / "masks" / "nucleus"
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
        records.append(Record(str(p), None, sid, str(cyt) if cyt else None, str(nuc) if nuc else None))
    if has_masks:
        for d in (cyt_dir, nuc_dir):
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


def _read_classes_folder(root: Path, masks_root: Path | None, grouping: str | None,
                         class_names: Sequence[str] | None, require_masks: bool,
                         skipped: list) -> list[Record]:
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


def _read_sipakmed(root: Path, crops: bool, masks_root: Path | None, grouping: str | None,
                   class_names: Sequence[str] | None, require_masks: bool,
                   skipped: list) -> list[Record]:
    records = []
    for folder, d in _sipakmed_class_dirs(root):
        cls = _sipakmed_class(folder)
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
    """Cytoplasm (union of the per-cell masks) and nucleus masks of entry ``index`` (0-based)."""
    mat = _load_mat(mat_path)
    cyt_all, nuc_all = mat[f"{prefix}_Cytoplasm"].ravel(), mat[f"{prefix}_Nuclei"].ravel()
    if index >= len(cyt_all) or index >= len(nuc_all):
        raise ValueError(f"{mat_path}: has {len(cyt_all)} entries, no entry {index + 1}")

    def union(entry: Any) -> np.ndarray:
        arr = np.asarray(entry)
        if arr.dtype == object:  # cell array of per-cell masks
            parts = [np.asarray(a) for a in arr.ravel()]
            if not parts:
                raise ValueError(f"{mat_path}: entry {index + 1} holds no cell masks")
            return np.logical_or.reduce([a > 0 for a in parts])
        return arr > 0 if arr.ndim == 2 else (arr > 0).any(axis=-1)

    cyt, nuc = union(cyt_all[index]), union(nuc_all[index])
    return cyt.astype(np.uint8) * 255, nuc.astype(np.uint8) * 255


def _read_isbi(root: Path, mat_path: str | None, require_masks: bool, skipped: list) -> list[Record]:
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
    lm = _to_uint8(_decode(path))
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


def _read_labelmap(root: Path, cell_t: int, nuc_t: int, grouping: str | None,
                   class_names: Sequence[str] | None, skipped: list) -> list[Record]:
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
# Synthetic data cache
# --------------------------------------------------------------------------------------------
_SYNTH_DEFAULTS: dict[str, Any] = dict(seed=0, n_fields=20, n_crops=200, size=None, field_size=512, difficulty=0.5)
_SYNTH_MARKER = "synth.json"


def synthetic_cache_dir(**params: Any) -> Path:
    """Cache folder ``data/synthetic/<params>`` for one set of generator parameters."""
    from cervix.paths import data_dir

    p = {**_SYNTH_DEFAULTS, **params}
    name = "s{seed}_f{n_fields}_c{n_crops}_{size}_{field_size}_d{difficulty}".format(**{**p, "size": p["size"] or "native"})
    return data_dir() / "synthetic" / name


def ensure_synthetic(out: str | Path | None = None, progress: bool = True, **params: Any) -> Path:
    """Generate the synthetic data set into ``out`` unless it is already there.

    The generator writes into ``<out>.partial`` which is renamed to ``out`` when complete, with
    ``out/synth.json`` recording its parameters; an interrupted run never leaves a half set.

    Args:
        out: cache folder; default :func:`synthetic_cache_dir` of the parameters.
        progress: show the generator's progress bar.
        **params: ``cervix.synth.generate`` parameters (seed, n_fields, n_crops, size,
            field_size, difficulty).

    Raises:
        ValueError: ``out`` holds a set generated with other parameters.
    """
    unknown = set(params) - set(_SYNTH_DEFAULTS)
    if unknown:
        raise TypeError(f"unknown synthetic parameters {sorted(unknown)}; known: {sorted(_SYNTH_DEFAULTS)}")
    p = {**_SYNTH_DEFAULTS, **params}
    out = Path(out) if out is not None else synthetic_cache_dir(**p)
    marker = out / _SYNTH_MARKER
    if marker.is_file():
        old = json.loads(marker.read_text())
        if old != json.loads(json.dumps(p)):
            raise ValueError(f"{out}: holds synthetic data generated with {old}, not {p}; "
                             "choose another folder or delete it")
        return out
    if out.exists() and any(out.iterdir()):
        raise ValueError(f"{out}: exists but is not a complete synthetic data set (no {_SYNTH_MARKER}); "
                         "delete it or choose another folder")
    from cervix import synth  # lazy: the generator is only needed on a fresh machine

    tmp = out.with_name(out.name + ".partial")
    if tmp.exists():
        import shutil

        shutil.rmtree(tmp)
    tmp.mkdir(parents=True)
    synth.generate(tmp, progress=progress, **p)
    (tmp / _SYNTH_MARKER).write_text(json.dumps(p, indent=1))
    if out.exists():
        out.rmdir()
    tmp.rename(out)
    return out


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
        records = _read_masks_folder(root, require_masks, skipped)
    elif fmt == "classes":
        records = _read_classes_folder(root, mroot, grouping, class_names, require_masks, skipped)
    elif fmt == "sipakmed":
        records = _read_sipakmed(root, crops, mroot, grouping, class_names, require_masks, skipped)
    elif fmt == "isbi2014":
        records = _read_isbi(root, str(mat) if mat else None, require_masks, skipped)
    else:
        records = _read_labelmap(root, cell_threshold, nucleus_threshold, grouping, class_names, skipped)
    if skipped:
        shown = "; ".join(f"{p} ({r})" for p, r in skipped[:10])
        more = f"; ... +{len(skipped) - 10} more" if len(skipped) > 10 else ""
        warnings.warn(f"{root}: skipped {len(skipped)} file(s) (see .skipped): {shown}{more}", stacklevel=2)
    if not records:
        raise ValueError(f"{root}: empty dataset, no images found for format {fmt!r}"
                         + (f" ({len(skipped)} file(s) skipped)" if skipped else ""))
    return RecordList(records, skipped, str(root), fmt, grouping)


def class_names_of(records: Sequence[Record], grouping: str | None = None) -> list[str]:
    """Class names in index order: the grouping's order ("3"/"2"), else
    :func:`cervix.labels.class_order` of the labels (SIPaKMeD's or Herlev's biological order).

    The grouping defaults to the one the records were read with (``RecordList.grouping``).
    """
    g = grouping if grouping is not None else getattr(records, "grouping", None)
    order = grouping_classes(g)
    if order is not None:
        return list(order)
    return class_order({r.label for r in records if r.label is not None})


def check_records(records: Sequence[Record], progress: bool = False) -> list[str]:
    """Decode every record once; return the problems (one message per bad file, naming it).

    Use before a long run so that it never stops half-way on a bad file.
    """
    it: Iterable[Record] = records
    if progress:
        from tqdm.auto import tqdm

        it = tqdm(records, desc="checking")
    problems = []
    for r in it:
        try:
            r.load()
        except (OSError, ValueError) as e:
            problems.append(str(e))
    return problems


# --------------------------------------------------------------------------------------------
# Splits
# --------------------------------------------------------------------------------------------
def _labels_groups(records: Sequence[Record]) -> tuple[np.ndarray, np.ndarray]:
    y = np.array(["" if r.label is None else r.label for r in records])
    g = np.array([r.group for r in records])
    return y, g


def _carve(idx: np.ndarray, y: np.ndarray, g: np.ndarray, frac: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Split ``idx`` into (rest, held) with about ``frac`` of it held out, grouped + stratified.

    Uses the first fold of a shuffled ``StratifiedGroupKFold`` with ``round(1/frac)`` folds
    (capped by the number of groups). Returns an empty held part when ``frac`` is 0 or fewer
    than 2 groups remain.
    """
    from sklearn.model_selection import StratifiedGroupKFold

    n_groups = len(np.unique(g[idx]))
    if frac <= 0 or n_groups < 2:
        return idx, idx[:0]
    k = int(min(max(2, round(1.0 / frac)), n_groups))
    cv = StratifiedGroupKFold(n_splits=k, shuffle=True, random_state=seed)
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=".*least populated class.*")
        try:
            rest, held = next(cv.split(np.zeros(len(idx)), y[idx], g[idx]))
        except ValueError as exc:
            raise ValueError(_too_few_groups(y[idx], g[idx], f"holding out {frac:.0%} needs {k} folds, so "
                                             f"at least one class with {k} or more crops/images")) from exc
    return idx[rest], idx[held]


def _too_few_groups(y: np.ndarray, g: np.ndarray, need: str) -> str:
    """The message for a split the groups cannot make: groups (and items) per class, and the need."""
    per = {str(c) or "(unlabelled)": f"{len(np.unique(g[y == c]))} group(s) / {int((y == c).sum())} item(s)"
           for c in np.unique(y)}
    return (f"too few groups to split: {per}; {need}. Lower the validation/test fractions or the "
            "number of folds, or add images")


def split_records(records: Sequence[Record], val: float = 0.15, test: float = 0.15,
                  seed: int = 0) -> dict[str, list[int]]:
    """Grouped, label-stratified train/val/test split (indices into ``records``).

    Unlabelled records are split by group only. Tiny datasets: a part that cannot get a group
    of its own stays empty (with a warning) rather than leaking a group.

    Args:
        records: the dataset.
        val: fraction for validation (0 for none).
        test: fraction for test (0 for none).
        seed: shuffling seed.

    Returns:
        ``{"train": [...], "val": [...], "test": [...]}`` sorted index lists.
    """
    if not 0 <= val < 1 or not 0 <= test < 1 or val + test >= 1:
        raise ValueError(f"val={val} and test={test} must be in [0, 1) with val + test < 1")
    if len(records) == 0:
        raise ValueError("cannot split an empty dataset")
    y, g = _labels_groups(records)
    idx = np.arange(len(records))
    rest, te = _carve(idx, y, g, test, seed)
    tr, va = _carve(rest, y, g, val / (1.0 - test) if val > 0 else 0.0, seed + 1)
    out = {"train": sorted(tr.tolist()), "val": sorted(va.tolist()), "test": sorted(te.tolist())}
    check_disjoint_groups(out, records, "split_records")
    for name, frac in (("val", val), ("test", test)):
        if frac > 0 and not out[name]:
            warnings.warn(f"split: only {len(np.unique(g))} group(s); the {name} part is empty", stacklevel=2)
    return out


def check_disjoint_groups(parts: dict[str, list[int]], records: Sequence[Record], where: str) -> None:
    """No group in two of the train/val/test parts of one split (or of one k-fold fold).

    Raises:
        ValueError: naming ``where`` (the split file), the parts and the shared groups.
    """
    by_fold: dict[str, dict[str, set[str]]] = {}
    for key, ids in parts.items():
        prefix, _, part = key.rpartition("_") if key.startswith("fold_") else ("", "", key)
        by_fold.setdefault(prefix, {})[part] = {records[i].group for i in ids}
    for prefix, fold in by_fold.items():
        names = sorted(fold)
        for i, a in enumerate(names):
            for b in names[i + 1:]:
                shared = sorted(fold[a] & fold[b])
                if shared:
                    raise ValueError(f"{where}: group(s) {shared[:5]} ({len(shared)} in all) are in both "
                                     f"{prefix + '_' if prefix else ''}{a} and {b}; cells of one source image "
                                     "would be trained on and tested on. Make a new split")


def kfold_records(records: Sequence[Record], k: int = 5, seed: int = 0, val: float = 0.15) -> list[dict[str, list[int]]]:
    """Grouped, stratified k-fold: each fold's test is one fold; val is carved from the rest.

    Every record is in exactly one fold's test part.

    Raises:
        ValueError: fewer groups than ``k``.
    """
    from sklearn.model_selection import StratifiedGroupKFold

    y, g = _labels_groups(records)
    n_groups = len(np.unique(g))
    if k < 2 or n_groups < k:
        raise ValueError(f"k-fold needs 2 <= k <= number of groups; k={k}, {n_groups} group(s). "
                         + _too_few_groups(y, g, f"{k} folds need at least {k} groups"))
    idx = np.arange(len(records))
    cv = StratifiedGroupKFold(n_splits=k, shuffle=True, random_state=seed)
    folds = []
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=".*least populated class.*")
        try:
            splits = list(cv.split(idx, y, g))
        except ValueError as exc:
            raise ValueError(_too_few_groups(y, g, f"{k} folds need at least one class with {k} or more "
                                             "crops/images")) from exc
    for i, (rest, te) in enumerate(splits):
        tr, va = _carve(rest, y, g, val, seed + 1 + i)
        folds.append({"train": sorted(tr.tolist()), "val": sorted(va.tolist()), "test": sorted(te.tolist())})
        check_disjoint_groups(folds[-1], records, f"kfold_records fold {i}")
    return folds


def _common_root(records: Sequence[Record]) -> str:
    paths = [os.path.abspath(r.path) for r in records]
    root = os.path.commonpath(paths) if paths else ""
    if len(paths) == 1 or os.path.isfile(root):
        root = os.path.dirname(root)
    return root


def save_split(path: str | Path, split: dict[str, list[int]], records: Sequence[Record]) -> Path:
    """Write a split as JSON with root-relative paths (reusable on another machine).

    The file holds ``root`` (the records' common folder here), per part the relative paths,
    indices and groups. Written atomically.
    """
    root = _common_root(records)
    doc: dict[str, Any] = {"version": 1, "root": root, "n_records": len(records), "parts": {}}
    for part, ids in split.items():
        doc["parts"][part] = {
            "paths": [Path(os.path.relpath(os.path.abspath(records[i].path), root)).as_posix() for i in ids],
            "indices": [int(i) for i in ids],
            "groups": [records[i].group for i in ids],
        }
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(doc, indent=1))
    tmp.replace(path)
    return path


def load_split(path: str | Path, records: Sequence[Record]) -> dict[str, list[int]]:
    """Read a split written by :func:`save_split` and map it onto ``records`` by path.

    Paths are matched relative to the records' common folder, falling back to the longest
    matching path suffix, so a split saved on one machine applies to the same dataset under
    another root.

    Raises:
        ValueError: naming the split file, when a saved path matches no record or several.
    """
    path = Path(path)
    try:
        doc = json.loads(path.read_text())
        parts = doc["parts"]
    except (OSError, ValueError, KeyError) as e:
        raise ValueError(f"{path}: not a split file written by save_split ({e})") from None
    root = _common_root(records)
    rel = {Path(os.path.relpath(os.path.abspath(r.path), root)).as_posix(): i for i, r in enumerate(records)}
    suffixes: dict[str, list[int]] = {}
    for i, r in enumerate(records):
        parts_ = Path(os.path.abspath(r.path)).parts
        for n in range(1, len(parts_)):
            suffixes.setdefault("/".join(parts_[-n:]), []).append(i)
    out: dict[str, list[int]] = {}
    missing, seen = [], set()
    for part, d in parts.items():
        ids = []
        for p in d["paths"]:
            if p in rel:
                ids.append(rel[p])
                continue
            hit = suffixes.get(p, [])
            if len(hit) != 1:
                missing.append(p)
                continue
            ids.append(hit[0])
        out[part] = sorted(ids)
        seen.update(ids)
    if missing:
        raise ValueError(f"{path}: {len(missing)} saved path(s) match no single record, e.g. {missing[:5]}")
    check_disjoint_groups(out, records, str(path))
    if len(seen) < len(records):
        warnings.warn(f"{path}: {len(records) - len(seen)} record(s) are in no part of the split", stacklevel=2)
    return out
