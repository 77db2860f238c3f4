"""PyTorch datasets of both stages (augmentation: :mod:`cervix.data.augment`).

Inputs are normalised with the ImageNet mean/std (ConvNeXt, Liu
et al., CVPR 2022); mask channels are {0, 1} floats.

Random state: each process (the main one or a DataLoader worker) seeds the pipeline once from
``torch.initial_seed()``, so runs are reproducible under ``torch.manual_seed`` and workers do
not repeat one another.
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Sequence
from typing import Any

import albumentations as A
import cv2
import numpy as np
import torch
from torch.utils.data import Dataset, get_worker_info

from cervix.data.augment import AugmentConfig, ScaleViews, cell_boxes, cls_transforms, scale_view, seg_transforms
from cervix.data.records import Record, Sample

__all__ = [
    "IMAGENET_MEAN",
    "IMAGENET_STD",
    "SegmentationDataset",
    "ClassificationDataset",
    "to_model_input",
    "to_image",
    "preview_augmentations",
]

IMAGENET_MEAN: tuple[float, float, float] = (0.485, 0.456, 0.406)

IMAGENET_STD: tuple[float, float, float] = (0.229, 0.224, 0.225)

_MEAN = np.asarray(IMAGENET_MEAN, np.float32)

_STD = np.asarray(IMAGENET_STD, np.float32)


def to_model_input(image: np.ndarray) -> torch.Tensor:
    """(H, W, 3) uint8 RGB -> (3, H, W) float32, ImageNet-normalised."""
    x = (image.astype(np.float32) / 255.0 - _MEAN) / _STD  # (H, W, 3)
    return torch.from_numpy(np.ascontiguousarray(x.transpose(2, 0, 1)))


def to_image(x: torch.Tensor | np.ndarray) -> np.ndarray:
    """Inverse of :func:`to_model_input` on the first 3 channels: -> (H, W, 3) uint8 RGB."""
    a = x.detach().cpu().numpy() if isinstance(x, torch.Tensor) else np.asarray(x)
    a = a[:3].transpose(1, 2, 0) * _STD + _MEAN
    return np.clip(np.rint(a * 255.0), 0, 255).astype(np.uint8)


def _mask_stack(s: Sample) -> np.ndarray:
    """(H, W, 2) uint8 {0, 255}: ch0 cytoplasm, ch1 nucleus (zeros where absent)."""
    h, w = s.image.shape[:2]
    z = np.zeros((h, w), np.uint8)
    return np.stack([s.cytoplasm if s.cytoplasm is not None else z, s.nucleus if s.nucleus is not None else z], axis=-1)


def _resize(image: np.ndarray, mask: np.ndarray, h: int, w: int) -> tuple[np.ndarray, np.ndarray]:
    interp = cv2.INTER_AREA if h * w < image.shape[0] * image.shape[1] else cv2.INTER_LINEAR
    img = cv2.resize(image, (w, h), interpolation=interp)
    m = np.stack(
        [cv2.resize(mask[..., c], (w, h), interpolation=cv2.INTER_NEAREST) for c in range(mask.shape[-1])], axis=-1
    )
    return img, m


class _Base(Dataset):
    """Shared decoding cache and per-process seeding."""

    def __init__(self, records: Sequence[Record], cache: bool):
        if len(records) == 0:
            raise ValueError("empty dataset: no records given")
        self.records = list(records)
        self.cache = cache
        self._cache: dict[int, tuple[np.ndarray, ...]] = {}
        self._rng = np.random.default_rng(0)  # own draws (scale views), seeded with the transform
        self._seeded: tuple[Any, ...] | None = None
        self._epoch: tuple[int, int] | None = None  # (seed, epoch) set by the training loop
        self.transform: A.Compose

    def _prepare(self, s: Sample) -> tuple[np.ndarray, ...]:
        raise NotImplementedError

    def _arrays(self, i: int) -> tuple[np.ndarray, ...]:
        if i in self._cache:
            return self._cache[i]
        out = self._prepare(self.records[i].load())
        if self.cache:
            self._cache[i] = out
        return out

    def set_epoch(self, epoch: int, seed: int = 0) -> None:
        """Seed the augmentations of this epoch from ``(seed, epoch, worker)``, so a run resumed
        after epoch *k* draws the same augmentations as the uninterrupted run (called by
        :func:`cervix.training.loop.fit` before each epoch)."""
        self._epoch = (int(seed), int(epoch))
        self._seeded = None  # the next item reseeds, even when the same epoch is set again

    def _seed_once(self) -> None:
        info = get_worker_info()
        worker = info.id if info is not None else -1
        key = (os.getpid(), worker, self._epoch)
        if self._seeded != key:
            if self._epoch is None:  # outside fit: the process' torch seed
                s = int(torch.initial_seed() % (2**32))
            else:
                s = int(np.random.SeedSequence([*self._epoch, worker + 1]).generate_state(1)[0])
            self.transform.set_random_seed(s)
            self._rng = np.random.default_rng(s)
            self._seeded = key

    def _apply(self, image: np.ndarray, mask: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        self._seed_once()
        out = self.transform(image=image, mask=mask)
        return out["image"], out["mask"]


class SegmentationDataset(_Base):
    """Patches for the dual-head segmentation model.

    Each image is resized by ``scale`` (masks nearest), then train mode draws
    ``patches_per_image`` random ``patch_size`` patches per image and epoch (reflect-padded when
    the image is smaller; with active ``views``, patches at random magnifications and single-cell
    crop views, :func:`cervix.data.augment.scale_view`, and no affine zoom); eval mode returns the
    whole image zero-padded at the bottom/right to a multiple of 32 (batch size 1 for images of
    different sizes; :meth:`original_size` gives the size to crop back to), or the centre patch with ``eval_crop=True``.

    ``__getitem__`` -> (image float32 (3, P, P) normalised, mask float32 (2, P, P) in {0, 1});
    mask ch0 cytoplasm (whole cell), ch1 nucleus.

    Args:
        records: records with masks.
        patch_size: training patch side (pixels after scaling).
        scale: resize factor applied to images and masks before patching.
        augment: augmentation strengths (None = random crop only); used in train mode.
        train: random patches + augmentation, else deterministic eval views.
        patches_per_image: patches per image per epoch (dataset length multiplier, train only).
        cache: keep decoded, scaled images in memory (per process).
        eval_crop: eval mode returns the centre patch instead of the whole padded image.
        views: scale and single-cell views of training (None or inactive: plain random crops).

    Raises:
        ValueError: naming the first record without masks.
    """

    def __init__(
        self,
        records: Sequence[Record],
        patch_size: int,
        scale: float = 1.0,
        augment: AugmentConfig | None = None,
        train: bool = True,
        patches_per_image: int = 1,
        cache: bool = True,
        eval_crop: bool = False,
        views: ScaleViews | None = None,
    ):
        super().__init__(records, cache)
        if scale <= 0:
            raise ValueError(f"scale must be > 0, got {scale}")
        for r in self.records:
            if not r.has_masks:
                raise ValueError(f"{r.path}: segmentation needs cytoplasm and nucleus masks; this record has none")
        self.patch_size = int(patch_size)
        self.scale = float(scale)
        self.train = train
        self.patches_per_image = max(1, int(patches_per_image)) if train else 1
        self.views = views if train and views is not None and views.active else None
        if self.views is None:
            self.transform = seg_transforms(augment, train, self.patch_size, eval_crop)
        else:  # the views cut the patch at its magnification; a zoom after it would mirror cells in
            no_zoom = dataclasses.replace(augment, scale=0.0) if augment is not None else None
            self.transform = seg_transforms(no_zoom, train, None)

    def _prepare(self, s: Sample) -> tuple[np.ndarray, ...]:
        image, mask = s.image, _mask_stack(s)
        h, w = image.shape[:2]
        boxes = cell_boxes(s.cells, mask[..., 0]) if self.views is not None else None
        if self.scale != 1.0:
            image, mask = _resize(image, mask, max(1, round(h * self.scale)), max(1, round(w * self.scale)))
        if boxes is None:
            return image, mask
        f = np.array([image.shape[0] / h, image.shape[1] / w] * 2)
        return image, mask, np.round(boxes * f).astype(np.int64)

    def __len__(self) -> int:
        return len(self.records) * self.patches_per_image

    def original_size(self, i: int) -> tuple[int, int]:
        """(H, W) of item ``i`` after scaling, before eval padding."""
        return self._arrays(i // self.patches_per_image)[0].shape[:2]

    def __getitem__(self, i: int) -> tuple[torch.Tensor, torch.Tensor]:
        arrays = self._arrays(i // self.patches_per_image)
        if self.views is not None:
            self._seed_once()
            arrays = scale_view(*arrays, self.patch_size, self.views, self._rng)  # (P, P, 3), (P, P, 2)
        image, mask = self._apply(*arrays)
        m = torch.from_numpy(np.ascontiguousarray((mask > 127).transpose(2, 0, 1))).float()  # (2, P, P)
        return to_model_input(image), m


class ClassificationDataset(_Base):
    """Cell crops for the classifier: RGB (+ cytoplasm + nucleus) resized to ``image_size``.

    ``__getitem__`` -> (x float32 (in_chans, S, S), label int64): channels 0-2 ImageNet-normalised
    RGB, with ``in_chans=5`` channel 3 the cytoplasm and 4 the nucleus mask in {0, 1}.

    Args:
        records: labelled records (with masks when ``in_chans=5``).
        class_names: class order; a label's index is its target.
        image_size: side S of the square input.
        in_chans: 5 (RGB + masks) or 3 (RGB only).
        augment: augmentation strengths (None = none); used in train mode.
        train: apply augmentation (and the mask perturbation).
        cache: keep decoded crops, resized to S, in memory (per process).
        mask_dropout: training only: probability of blanking both mask channels of a crop.
        mask_jitter: training only: probability of eroding/dilating/shifting its masks
            (see :class:`MaskPerturb`).

    Raises:
        ValueError: naming the file, for a label outside ``class_names`` or missing masks with
            ``in_chans=5``.
    """

    def __init__(
        self,
        records: Sequence[Record],
        class_names: Sequence[str],
        image_size: int,
        in_chans: int = 5,
        augment: AugmentConfig | None = None,
        train: bool = True,
        cache: bool = True,
        mask_dropout: float = 0.0,
        mask_jitter: float = 0.0,
    ):
        super().__init__(records, cache)
        if in_chans not in (3, 5):
            raise ValueError(f"in_chans must be 3 (RGB) or 5 (RGB + cytoplasm + nucleus), got {in_chans}")
        self.class_names = list(class_names)
        index = {c: k for k, c in enumerate(self.class_names)}
        self.targets: list[int] = []
        for r in self.records:
            if r.label not in index:
                raise ValueError(f"{r.path}: label {r.label!r} is not one of the classes {self.class_names}")
            if in_chans == 5 and not r.has_masks:
                raise ValueError(
                    f"{r.path}: in_chans=5 needs cytoplasm and nucleus masks; give a masks root "
                    "(e.g. from `cervix masks`) or use in_chans=3"
                )
            self.targets.append(index[r.label])
        self.image_size = int(image_size)
        self.in_chans = in_chans
        self.train = train
        self.transform = cls_transforms(
            augment,
            train,
            self.image_size,
            mask_dropout=mask_dropout if in_chans == 5 else 0.0,
            mask_jitter=mask_jitter if in_chans == 5 else 0.0,
        )

    def _prepare(self, s: Sample) -> tuple[np.ndarray, np.ndarray]:
        return _resize(s.image, _mask_stack(s), self.image_size, self.image_size)

    def __len__(self) -> int:
        return len(self.records)

    def __getitem__(self, i: int) -> tuple[torch.Tensor, torch.Tensor]:
        image, mask = self._apply(*self._arrays(i))
        x = to_model_input(image)  # (3, S, S)
        if self.in_chans == 5:
            m = torch.from_numpy(np.ascontiguousarray((mask > 127).transpose(2, 0, 1))).float()  # (2, S, S)
            x = torch.cat([x, m], dim=0)  # (5, S, S)
        return x, torch.tensor(self.targets[i], dtype=torch.int64)


def preview_augmentations(
    sample: Sample, cfg: AugmentConfig, n: int = 6, seed: int = 0
) -> list[tuple[np.ndarray, np.ndarray, np.ndarray]]:
    """``n`` augmented views of a whole sample for the notebook-01 slider preview.

    Returns:
        list of (image (H, W, 3) uint8, cytoplasm (H, W) uint8 {0,255}, nucleus (H, W) uint8 {0,255}).
    """
    t = seg_transforms(cfg, train=True, patch_size=None, seed=seed)
    mask = _mask_stack(sample)
    views = []
    for _ in range(n):
        out = t(image=sample.image, mask=mask)
        m = np.where(out["mask"] > 127, 255, 0).astype(np.uint8)
        views.append((out["image"], m[..., 0], m[..., 1]))
    return views
