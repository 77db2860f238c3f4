"""Records of a cytology dataset: the cheap index every reader returns, and the decoded sample.

Every reader returns the same cheap index, a list of :class:`Record` (paths, label, group id);
pixels are decoded on demand by :meth:`Record.load`, which returns a :class:`Sample` with the
RGB image (H, W, 3) uint8 and the cytoplasm / nucleus masks (H, W) uint8 {0, 255}. The
cytoplasm mask is the whole cell (nucleus included); the nucleus mask is the nucleus. Per-cell
truth, where a format has it, is ``Sample.cells`` (N, H, W) bool, one mask per cell.

Records sit at the bottom of :mod:`cervix.data`: they decode files through
:mod:`cervix.data.decode` and :mod:`cervix.data.annotations`, and the readers
(:mod:`cervix.data.readers`, called by :func:`cervix.data.formats.read_dataset`) build them.
Leakage-safe train/val/test splits of the records are in :mod:`cervix.data.splits`.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from cervix.core.labels import class_order, grouping_classes
from cervix.data.annotations import coco_cells, decode_masks
from cervix.data.decode import cells_from_instances, load_image, load_instances, load_mask

__all__ = [
    "Sample",
    "Record",
    "RecordList",
    "class_names_of",
]


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
            2014, SIPaKMeD full images, GeoJSON, COCO, and the ``masks`` format's
            ``masks/cells.json`` (COCO RLE, e.g. the synthetic fields' whole cells); without that
            file, from ``instances`` for the ``masks`` format, so its cells are their visible
            parts), else None: the one way to get per-cell truth.
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
            ``"sipakmed"`` (contours), ``"isbi2014"`` (.mat entry), ``"labelmap"`` (grey levels),
            ``"geojson"`` (QuPath cells), ``"coco"`` (COCO instances).
        meta: format-specific details (contour paths, .mat path and index, label-map thresholds;
            for the ``masks`` format ``cells_json`` and ``image_id`` of the image in ``masks/cells.json``).
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
            if "cells_json" in self.meta:  # whole cells, overlaps kept
                cells = coco_cells(self.meta["cells_json"], self.meta["image_id"], shape)
            elif inst is not None:  # visible parts only
                cells = cells_from_instances(inst)
        else:
            cyt, nuc, inst, cells = decode_masks(self.source, self.meta, self.path, shape)
        return Sample(image, cyt, nuc, self.label, self.group, self.path, inst, cells)


class RecordList(list):
    """A ``list[Record]`` that also remembers how it was read.

    Attributes:
        skipped: ``(path, reason)`` of every file the reader passed over.
        root: the dataset root.
        fmt: the reader format.
        grouping: the label grouping applied (None, "5", "3" or "2").
    """

    def __init__(
        self,
        records: Iterable[Record] = (),
        skipped: Sequence[tuple[str, str]] = (),
        root: str = "",
        fmt: str = "",
        grouping: str | None = None,
    ) -> None:
        super().__init__(records)
        self.skipped: list[tuple[str, str]] = list(skipped)
        self.root = root
        self.fmt = fmt
        self.grouping = grouping


def class_names_of(records: Sequence[Record], grouping: str | None = None) -> list[str]:
    """Class names in index order: the grouping's order ("3"/"2"), else
    :func:`cervix.core.labels.class_order` of the labels (SIPaKMeD's or Herlev's biological order).

    The grouping defaults to the one the records were read with (``RecordList.grouping``).
    """
    g = grouping if grouping is not None else getattr(records, "grouping", None)
    order = grouping_classes(g)
    if order is not None:
        return list(order)
    return class_order({r.label for r in records if r.label is not None})
