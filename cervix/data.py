"""Records of a cytology dataset, image and mask decoding, and the one entry point over formats.

Every reader returns the same cheap index, a list of :class:`Record` (paths, label, group id);
pixels are decoded on demand by :meth:`Record.load`, which returns a :class:`Sample` with the
RGB image (H, W, 3) uint8 and the cytoplasm / nucleus masks (H, W) uint8 {0, 255}. The
cytoplasm mask is the whole cell (nucleus included); the nucleus mask is the nucleus. Per-cell
truth, where a format has it, is ``Sample.cells`` (N, H, W) bool, one mask per cell.

Formats (``read_dataset(root, fmt)``; the readers are in :mod:`cervix.readers`):

- ``masks``: ``images/<id>.<ext>``, ``masks/cytoplasm/<id>.png``, ``masks/nucleus/<id>.png``,
  optional ``masks/instances/<id>.png`` (8/16-bit cell ids, 0 = background).
- ``classes``: ImageFolder ``<root>/<class>/<id>.<ext>`` with optional masks root
  ``<masks_root>/{cytoplasm,nucleus}/<class>/<id>.png`` and optional ``<root>/groups.csv``.
  Herlev (Jantzen et al., 2005) is read with this reader (``*-d.bmp`` mask images are skipped).
- ``sipakmed``: the official SIPaKMeD layout (Plissiti et al., ICIP 2018) with ``.dat`` contours.
- ``isbi2014``: ISBI 2014 Overlapping Cervical Cytology challenge (Lu et al., IEEE TMI 2017).
- ``labelmap``: one grey-level PNG per image coding background / cell / nucleus.
- ``synthetic``: the built-in generator (:mod:`cervix.synth`), cached under ``data/``.

Files a reader passes over are never dropped silently: they are listed in the returned
list's ``skipped`` attribute (``(path, reason)`` pairs) and in a warning.

:mod:`cervix.readers` imports :class:`Record` from here, so this module imports the readers
inside :func:`read_dataset` and :meth:`Record.load` only (no import cycle). Leakage-safe
train/val/test splits of the records are in :mod:`cervix.splits`.
"""
from __future__ import annotations

import json
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable, Sequence

import cv2
import numpy as np

from cervix.labels import class_order, grouping_classes
from cervix.masks import mask_from_values

__all__ = [
    "IMAGE_EXTENSIONS",
    "FORMATS",
    "Sample",
    "Record",
    "RecordList",
    "read_dataset",
    "class_names_of",
    "load_uint8",
    "load_image",
    "load_mask",
    "load_instances",
    "cells_from_instances",
    "synthetic_cache_dir",
    "ensure_synthetic",
]

#: File extensions read as images (lower case, with the dot).
IMAGE_EXTENSIONS: tuple[str, ...] = (".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff")
#: Formats understood by :func:`read_dataset`.
FORMATS: tuple[str, ...] = ("masks", "classes", "sipakmed", "isbi2014", "labelmap", "synthetic")


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
        instances: (H, W) int32 cell ids, 0 = background, the top cell where cells overlap
            (SIPaKMeD contours, the ``masks`` format's ``masks/instances/<id>.png``), else None.
        cells: (N, H, W) bool, one whole-cell mask per annotated cell (overlaps allowed: ISBI
            2014 and SIPaKMeD full images; from ``instances`` for the ``masks`` format, so its
            cells are their visible parts), else None: the one way to get per-cell truth.
    """

    image: np.ndarray
    cytoplasm: np.ndarray | None
    nucleus: np.ndarray | None
    label: str | None
    group: str
    path: str
    instances: np.ndarray | None = None
    cells: np.ndarray | None = None

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
        instances: cell instance map file (``masks`` format, ``masks/instances/<id>.png``), else None.
    """

    path: str
    label: str | None
    group: str
    cytoplasm: str | None = None
    nucleus: str | None = None
    source: str = "files"
    meta: dict[str, Any] = field(default_factory=dict)
    instances: str | None = None

    @property
    def has_masks(self) -> bool:
        """True when :meth:`load` will give masks."""
        if self.source == "files":
            return self.cytoplasm is not None and self.nucleus is not None
        return True

    def load(self) -> Sample:
        """Decode the image, its masks and its per-cell truth (``Sample.cells``, where there is one).

        Raises:
            ValueError / FileNotFoundError: naming the file, for unreadable or truncated images,
                masks of another size than the image, missing masks.
        """
        image = load_image(self.path)
        shape = image.shape[:2]
        cyt = nuc = inst = cells = None
        if self.source == "files":
            if self.cytoplasm is not None:
                cyt = load_mask(self.cytoplasm, shape)
            if self.nucleus is not None:
                nuc = load_mask(self.nucleus, shape)
            if self.instances is not None:
                inst = load_instances(self.instances, shape)
                cells = cells_from_instances(inst)
        else:
            from cervix.readers import decode_masks  # lazy: the readers import Record from here

            cyt, nuc, inst, cells = decode_masks(self, shape)
        return Sample(image, cyt, nuc, self.label, self.group, self.path, inst, cells)


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


def load_uint8(path: str | Path) -> np.ndarray:
    """Decode an image file to uint8 at its own channel count (OpenCV's BGR(A) order for colour).

    16-bit images are reduced by their real bit depth, floats from [0, 1] or [0, 255].

    Raises:
        FileNotFoundError: the file does not exist.
        ValueError: naming the file, when it is empty, truncated or not decodable.
    """
    return _to_uint8(_decode(path))


def load_image(path: str | Path) -> np.ndarray:
    """Read an image as (H, W, 3) uint8 RGB.

    16-bit images are reduced to 8 bits, greyscale is replicated to 3 channels, the alpha of
    RGBA is dropped.

    Raises:
        FileNotFoundError: the file does not exist.
        ValueError: naming the file, when it is empty, truncated or not decodable.
    """
    arr = load_uint8(path)
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
    return mask_from_values(m)


def load_instances(path: str | Path, shape: tuple[int, ...] | None = None) -> np.ndarray:
    """Read a cell instance map (grey 8- or 16-bit PNG of cell ids, 0 = background) as (H, W) int32.

    Args:
        path: instance map file.
        shape: expected (H, W[, C]) of the image it belongs to.

    Raises:
        FileNotFoundError: the file is missing.
        ValueError: naming the file, when unreadable, not one channel of integers, or of another
            size than ``shape``.
    """
    p = Path(path)
    if not p.is_file():
        raise FileNotFoundError(f"missing instance map file: {p}")
    m = _decode(p)
    if m.ndim != 2 or not np.issubdtype(m.dtype, np.integer):
        raise ValueError(f"{p}: an instance map is one channel of integer cell ids (grey 8- or 16-bit PNG), "
                         f"got shape {m.shape} of {m.dtype}")
    if shape is not None and m.shape != tuple(shape[:2]):
        raise ValueError(f"{p}: instance map size {m.shape[1]}x{m.shape[0]} differs from its image size "
                         f"{shape[1]}x{shape[0]}")
    return m.astype(np.int32)


def cells_from_instances(instances: np.ndarray) -> np.ndarray:
    """Per-cell masks of an instance map: (N, H, W) bool, one per nonzero id, in increasing id order."""
    ids = np.unique(instances)
    ids = ids[ids > 0]
    return instances[None] == ids[:, None, None]


# --------------------------------------------------------------------------------------------
# Synthetic data cache
# --------------------------------------------------------------------------------------------
_SYNTH_DEFAULTS: dict[str, Any] = dict(seed=0, n_fields=20, n_crops=200, size=None, field_size=512, difficulty=0.5)
_SYNTH_MARKER = "synth.json"
_SYNTH_INSTANCES = "fields/masks/instances"


def synthetic_cache_dir(**params: Any) -> Path:
    """Cache folder ``data/synthetic/<params>`` for one set of generator parameters."""
    from cervix.paths import data_dir

    p = {**_SYNTH_DEFAULTS, **params}
    name = "s{seed}_f{n_fields}_c{n_crops}_{size}_{field_size}_d{difficulty}".format(**{**p, "size": p["size"] or "native"})
    return data_dir() / "synthetic" / name


def ensure_synthetic(out: str | Path | None = None, progress: bool = True, **params: Any) -> Path:
    """Generate the synthetic data set into ``out`` unless it is already there.

    The generator writes into ``<out>.partial`` which is renamed to ``out`` when complete, with
    ``out/synth.json`` recording its parameters; an interrupted run never leaves a half set. A
    set made before the fields had instance maps gets them added (:func:`_add_instances`).

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
        if p["n_fields"] and not (out / _SYNTH_INSTANCES).is_dir():
            _add_instances(out, p, progress)
        return out
    if out.exists() and any(out.iterdir()):
        raise ValueError(f"{out}: exists but is not a complete synthetic data set (no {_SYNTH_MARKER}); "
                         "delete it or choose another folder")
    from cervix import synth  # lazy: the generator is only needed on a fresh machine

    tmp = _fresh_partial(out)
    tmp.mkdir(parents=True)
    synth.generate(tmp, progress=progress, **p)
    (tmp / _SYNTH_MARKER).write_text(json.dumps(p, indent=1))
    if out.exists():
        out.rmdir()
    tmp.rename(out)
    return out


def _fresh_partial(out: Path) -> Path:
    """``<out>.partial``, emptied of what an interrupted run left there (not created)."""
    tmp = out.with_name(out.name + ".partial")
    if tmp.exists():
        import shutil

        shutil.rmtree(tmp)
    return tmp


def _add_instances(out: Path, p: dict[str, Any], progress: bool) -> None:
    """Upgrade a synthetic set made before ``fields/masks/instances/`` existed, in place.

    Its fields are rendered again into ``<out>.partial`` (the generator is deterministic per
    field, so these are the same fields; no crops, so only ``n_fields`` fields are drawn), and
    only the finished instances folder is moved in: the files already there are not touched and
    an interrupted upgrade leaves the set as it was. The new cytoplasm masks must equal the
    cached ones byte for byte, else the set came from an older generator and is refused.

    Raises:
        ValueError: the cached fields differ from today's generator's.
    """
    import shutil

    from cervix import synth  # lazy, as in ensure_synthetic

    tmp = _fresh_partial(out)
    synth.generate(tmp, progress=progress, **{**p, "n_crops": 0})
    new_cyt, old_cyt = tmp / "fields/masks/cytoplasm", out / "fields/masks/cytoplasm"
    for f in sorted(new_cyt.glob("*.png")):
        if not (old_cyt / f.name).is_file() or (old_cyt / f.name).read_bytes() != f.read_bytes():
            shutil.rmtree(tmp)
            raise ValueError(f"{out}: made by an older synthetic generator ({old_cyt / f.name} differs from "
                             "today's); delete the folder to generate it again")
    if not (out / _SYNTH_INSTANCES).is_dir():  # another process may have upgraded it meanwhile
        (tmp / _SYNTH_INSTANCES).rename(out / _SYNTH_INSTANCES)
    shutil.rmtree(tmp)


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
    from cervix import readers  # lazy: the readers import Record from here

    skipped: list[tuple[str, str]] = []
    if fmt == "masks":
        records = readers.read_masks_folder(root, require_masks, skipped)
    elif fmt == "classes":
        records = readers.read_classes_folder(root, mroot, grouping, class_names, require_masks, skipped)
    elif fmt == "sipakmed":
        records = readers.read_sipakmed(root, crops, mroot, grouping, class_names, require_masks, skipped)
    elif fmt == "isbi2014":
        records = readers.read_isbi2014(root, str(mat) if mat else None, require_masks, skipped)
    else:
        records = readers.read_labelmap(root, cell_threshold, nucleus_threshold, grouping, class_names, skipped)
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
