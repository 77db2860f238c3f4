"""Windows around one nucleus: the input of the whole-cell model and its training set.

The whole-cell model (the cell head) sees a square window of the field centred on one detected
nucleus, with five channels: RGB, that nucleus, and the first model's cytoplasm probability
(Mask R-CNN's second stage works on a region per detection the same way; He et al., ICCV 2017).
It answers with that cell's whole mask, including where a neighbour lies over it, and the cell's
own nucleus.

- :func:`window_origin` / :func:`cell_window` — the one home of the window: where it lies and its
  five channels, for training (:class:`CellWindowDataset`) and inference
  (:mod:`cervix.inference.wholecells`) alike.
- :class:`WholeCellField` — one field's image, first-model cytoplasm probability and true whole
  cells (:class:`cervix.cells.whole.CellMask`, each with its own nucleus).
- :class:`CellWindowDataset` — one item per true cell with a nucleus: the window's five channels
  (the given nucleus eroded/dilated/shifted in training, because inference gives predicted
  nuclei: :class:`cervix.data.augment.MaskPerturb`) and the targets (whole cell, own nucleus).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import albumentations as A
import numpy as np
import torch

from cervix.cells.instances import padded_crop
from cervix.cells.whole import CellMask
from cervix.data.augment import AugmentConfig, MaskPerturb, cls_transforms
from cervix.data.datasets import _Base, to_model_input

__all__ = [
    "WholeCellField",
    "window_origin",
    "cell_window",
    "model_input",
    "window_transform",
    "CellWindowDataset",
]


@dataclass
class WholeCellField:
    """One field for training the cell head.

    Attributes:
        image: (H, W, 3) uint8 RGB.
        cytoplasm: (H, W) float32 cytoplasm probability of the first model.
        cells: the true whole cells with their own nuclei.
    """

    image: np.ndarray
    cytoplasm: np.ndarray
    cells: list[CellMask]


def window_origin(centre: tuple[float, float], window: int) -> tuple[int, int]:
    """``(x0, y0)`` of the ``window`` x ``window`` box centred on ``centre`` = ``(y, x)``."""
    return int(round(centre[1] - window / 2)), int(round(centre[0] - window / 2))


def _zero_padded(a: np.ndarray, x0: int, y0: int, w: int) -> np.ndarray:
    """``a[y0:y0+w, x0:x0+w]``, zero where the box leaves ``a``."""
    out = np.zeros((w, w), a.dtype)
    H, W = a.shape[:2]
    fy0, fx0, fy1, fx1 = max(y0, 0), max(x0, 0), min(y0 + w, H), min(x0 + w, W)
    if fy1 > fy0 and fx1 > fx0:
        out[fy0 - y0 : fy1 - y0, fx0 - x0 : fx1 - x0] = a[fy0:fy1, fx0:fx1]
    return out


def cell_window(
    image: np.ndarray,
    cytoplasm: np.ndarray,
    nucleus: np.ndarray,
    origin: tuple[int, int],
    window: int,
    nucleus_id: int | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """The window's image and mask channels at field resolution.

    Args:
        image: (H, W, 3) uint8 RGB (reflected where the window leaves the field).
        cytoplasm: (H, W) float cytoplasm probability in [0, 1] (zero outside the field).
        nucleus: (H, W) bool, the one nucleus the cell is asked for (zero outside); or, with
            ``nucleus_id``, a label map whose pixels equal to it are that nucleus (compared inside
            the window only, so a field of many cells is not compared whole once per cell).
        origin: ``(x0, y0)`` of the window (:func:`window_origin`).
        window: its side in field pixels.

    Returns:
        ``(image, masks)``: (window, window, 3) uint8 and (window, window, 2) uint8 {0..255}
        (channel 0 the given nucleus, 1 the cytoplasm probability x 255).
    """
    x0, y0 = origin
    img = padded_crop(image, x0, y0, window, window)
    nuc = _zero_padded(np.asarray(nucleus), x0, y0, window)
    nuc = (nuc == nucleus_id if nucleus_id is not None else nuc.astype(bool)).astype(np.uint8) * 255
    cyt = np.clip(np.rint(_zero_padded(np.asarray(cytoplasm, np.float32), x0, y0, window) * 255), 0, 255)
    return img, np.stack([nuc, cyt.astype(np.uint8)], axis=-1)


def window_transform(size: int) -> A.Compose:
    """The inference resize of a window to ``size`` (the training pipeline's, without augmentation)."""
    return cls_transforms(None, False, size)


def model_input(image: np.ndarray, masks: np.ndarray) -> torch.Tensor:
    """(S, S, 3) uint8 + (S, S, 2) uint8 -> (5, S, S) float32: ImageNet-normalised RGB, nucleus, cytoplasm."""
    m = torch.from_numpy(np.ascontiguousarray(masks.transpose(2, 0, 1))).float() / 255.0
    return torch.cat([to_model_input(image), m], 0)


class CellWindowDataset(_Base):
    """One item per true cell with a nucleus: ``(x (5, S, S), y (2, S, S))`` for the cell head.

    Args:
        fields: the fields (:class:`WholeCellField`).
        window: window side in field pixels.
        size: model input side (the window is resized to it; multiple of 32).
        train: augment (jittered centre, :func:`cervix.data.augment.cls_transforms` of ``augment``,
            the given nucleus perturbed by up to ``perturb_px`` input pixels).
        augment: augmentation strengths (flips, rotation, colour); None = none.
        perturb_px: largest erosion/dilation and shift of the given nucleus, in input pixels.
        centre_jitter: training shift of the window centre, fraction of ``window``.
    """

    def __init__(
        self,
        fields: Sequence[WholeCellField],
        window: int,
        size: int,
        train: bool,
        augment: AugmentConfig | None = None,
        perturb_px: int = 3,
        centre_jitter: float = 0.08,
    ):
        super().__init__(list(fields), cache=False)
        self.window, self.size, self.train = int(window), int(size), bool(train)
        self.perturb_px, self.centre_jitter = int(perturb_px), float(centre_jitter)
        self.transform = cls_transforms(augment if train else None, train, self.size)
        self._perturb = MaskPerturb(0.0, 1.0, max_px=max(1, self.perturb_px))
        self.items = [(fi, ci) for fi, f in enumerate(self.records) for ci, c in enumerate(f.cells) if c.nucleus.any()]
        if not self.items:
            raise ValueError("no cell with a nucleus in the given fields: nothing to train the cell head on")

    def __len__(self) -> int:
        return len(self.items)

    def __getitem__(self, i: int) -> tuple[torch.Tensor, torch.Tensor]:
        fi, ci = self.items[i]
        f, c = self.records[fi], self.records[fi].cells[ci]
        shape = f.image.shape[:2]
        nuc = c.full(shape, nucleus=True)
        ys, xs = np.nonzero(c.nucleus)
        centre = (ys.mean() + c.box[0], xs.mean() + c.box[1])
        if self.train:
            self._seed_once()
            centre = tuple(v + self._rng.uniform(-1, 1) * self.centre_jitter * self.window for v in centre)
        origin = window_origin(centre, self.window)
        img, masks = cell_window(f.image, f.cytoplasm, nuc, origin, self.window)
        target = (
            np.stack(
                [_zero_padded(c.full(shape), *origin, self.window), _zero_padded(nuc, *origin, self.window)], axis=-1
            ).astype(np.uint8)
            * 255
        )
        stack = np.concatenate([masks, target], axis=-1)  # (w, w, 4): given nucleus, cytoplasm, cell, own nucleus
        img, stack = self._apply(img, stack)  # resize to size (+ augmentations in training)
        if self.train and self.perturb_px > 0:
            r = int(self._rng.integers(-self.perturb_px, self.perturb_px + 1))
            shift = self._rng.integers(-self.perturb_px, self.perturb_px + 1, 2).tolist()
            given = self._perturb.apply_to_mask(stack[..., :1], perturb=True, radii=[r], shift=shift)
            stack = np.concatenate([given, stack[..., 1:]], axis=-1)
        x = model_input(img, stack[..., :2])
        y = torch.from_numpy(np.ascontiguousarray(stack[..., 2:].transpose(2, 0, 1))).float() / 255.0
        return x, (y > 0.5).float()
