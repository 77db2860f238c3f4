"""PyTorch datasets and albumentations pipelines for both stages.

Geometric transforms (flips, 90-degree rotations, affine rotation/zoom) move the image and both
masks together, masks with nearest-neighbour interpolation so they stay {0, 1}. Colour/stain
jitter and blur touch the image only. The stain jitter perturbs the image in optical-density
space after colour deconvolution (Ruifrok & Johnston, Anal. Quant. Cytol. Histol. 2001; HED
augmentation as in Tellez et al., Med. Image Anal. 2019), applied to Papanicolaou stains as a
generic stain-variation model. Inputs are normalised with the ImageNet mean/std (ConvNeXt, Liu
et al., CVPR 2022); mask channels are {0, 1} floats.

Random state: each process (the main one or a DataLoader worker) seeds the pipeline once from
``torch.initial_seed()``, so runs are reproducible under ``torch.manual_seed`` and workers do
not repeat one another.
"""

from __future__ import annotations

import dataclasses
import json
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import albumentations as A
import cv2
import numpy as np
import torch
from torch.utils.data import Dataset, get_worker_info

from cervix.core.config import profile_name
from cervix.core.files import atomic_write_text
from cervix.core.paths import runs_dir
from cervix.data.records import Record, Sample

__all__ = [
    "IMAGENET_MEAN",
    "IMAGENET_STD",
    "AugmentConfig",
    "MaskPerturb",
    "StainJitter",
    "seg_transforms",
    "cls_transforms",
    "SegmentationDataset",
    "ClassificationDataset",
    "to_model_input",
    "to_image",
    "preview_augmentations",
    "augment_config_path",
    "check_augment_config",
    "save_augment_config",
    "load_augment_config",
]

IMAGENET_MEAN: tuple[float, float, float] = (0.485, 0.456, 0.406)

IMAGENET_STD: tuple[float, float, float] = (0.229, 0.224, 0.225)

_MEAN = np.asarray(IMAGENET_MEAN, np.float32)

_STD = np.asarray(IMAGENET_STD, np.float32)

_BORDER = cv2.BORDER_REFLECT_101


@dataclass
class AugmentConfig:
    """Augmentation strengths (tuned with the notebook-01 sliders)."""

    rotate: float = 180.0  # max rotation in degrees (cells have no preferred orientation)
    scale: float = 0.15  # +- relative zoom (0.15 = 85%..115%)
    flip: bool = True  # horizontal/vertical flips and 90-degree rotations
    stain: float = 0.3  # 0..1 colour/stain jitter strength (hue/sat/value, brightness/contrast, HED)
    blur: float = 0.3  # 0..1 probability of a Gaussian blur (sigma 0.1..1.5)
    grey: float = 0.25  # segmentation only: probability of a greyscale image (EDF images like ISBI 2014)


class StainJitter(A.ImageOnlyTransform):
    """Random scale/shift of the stain concentrations after HED colour deconvolution.

    Args:
        sigma: each stain channel is multiplied by U(1 - sigma, 1 + sigma).
        bias: and shifted by U(-bias, bias) (optical density units).
        p: probability.
    """

    _RGB_FROM_HED = np.array([[0.65, 0.70, 0.29], [0.07, 0.99, 0.11], [0.27, 0.57, 0.78]], np.float32)
    _HED_FROM_RGB = np.linalg.inv(_RGB_FROM_HED).astype(np.float32)

    def __init__(self, sigma: float = 0.05, bias: float = 0.02, p: float = 0.5):
        super().__init__(p=p)
        self.sigma = float(sigma)
        self.bias = float(bias)

    def get_params(self) -> dict[str, Any]:
        rng = self.random_generator
        return {
            "alpha": rng.uniform(1 - self.sigma, 1 + self.sigma, 3).astype(np.float32),
            "beta": rng.uniform(-self.bias, self.bias, 3).astype(np.float32),
        }

    def apply(self, img: np.ndarray, alpha: np.ndarray, beta: np.ndarray, **params: Any) -> np.ndarray:
        od = -np.log((img.astype(np.float32) + 1.0) / 256.0)  # (H, W, 3) optical density
        hed = od @ self._HED_FROM_RGB
        hed = hed * alpha + beta
        rgb = 256.0 * np.exp(-(hed @ self._RGB_FROM_HED)) - 1.0
        return np.clip(np.rint(rgb), 0, 255).astype(np.uint8)

    def get_transform_init_args_names(self) -> tuple[str, ...]:
        return ("sigma", "bias")


class MaskPerturb(A.DualTransform):
    """Classifier-input regularisation on the mask channels only: the RGB image is untouched.

    With probability ``dropout`` both masks are blanked (the model must also work from RGB
    alone); otherwise, with probability ``jitter``, each mask is eroded or dilated by up to
    ``max_px`` pixels and both are shifted together by up to ``max_px`` pixels, the errors a
    segmentation model makes on unfamiliar cells. Applied in training only, so inference sees
    the masks as they are.

    Args:
        dropout: probability of blanking both mask channels.
        jitter: probability of the morphological/shift perturbation (when not blanked).
        max_px: largest erosion/dilation radius and shift, in pixels of the resized crop.
    """

    def __init__(self, dropout: float = 0.2, jitter: float = 0.3, max_px: int = 6):
        super().__init__(p=1.0)
        self.dropout = float(dropout)
        self.jitter = float(jitter)
        self.max_px = max(1, int(max_px))

    def get_params(self) -> dict[str, Any]:
        rng = self.random_generator
        blank = bool(rng.random() < self.dropout)
        perturb = (not blank) and bool(rng.random() < self.jitter)
        radii = rng.integers(-self.max_px, self.max_px + 1, 2).tolist()  # <0 erode, >0 dilate
        shift = rng.integers(-self.max_px, self.max_px + 1, 2).tolist()  # (dy, dx)
        return {"blank": blank, "perturb": perturb, "radii": radii, "shift": shift}

    def apply(self, img: np.ndarray, **params: Any) -> np.ndarray:
        return img

    def apply_to_mask(
        self,
        mask: np.ndarray,
        blank: bool = False,
        perturb: bool = False,
        radii: Sequence[int] = (0, 0),
        shift: Sequence[int] = (0, 0),
        **params: Any,
    ) -> np.ndarray:
        if blank:
            return np.zeros_like(mask)
        if not perturb:
            return mask
        out = mask.copy()  # (S, S, C)
        for c in range(min(out.shape[-1], len(radii))):
            r = int(radii[c])
            if r:
                k = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * abs(r) + 1, 2 * abs(r) + 1))
                op = cv2.dilate if r > 0 else cv2.erode
                out[..., c] = op(np.ascontiguousarray(out[..., c]), k)
        dy, dx = int(shift[0]), int(shift[1])
        m = np.float32([[1, 0, dx], [0, 1, dy]])
        h, w = out.shape[:2]
        return np.stack(
            [
                cv2.warpAffine(np.ascontiguousarray(out[..., c]), m, (w, h), flags=cv2.INTER_NEAREST, borderValue=0)
                for c in range(out.shape[-1])
            ],
            axis=-1,
        )

    def get_transform_init_args_names(self) -> tuple[str, ...]:
        return ("dropout", "jitter", "max_px")


def _geometric(cfg: AugmentConfig) -> list[A.BasicTransform]:
    t: list[A.BasicTransform] = []
    if cfg.flip:
        t += [A.HorizontalFlip(p=0.5), A.VerticalFlip(p=0.5), A.RandomRotate90(p=0.5)]
    if cfg.rotate > 0 or cfg.scale > 0:
        t.append(
            A.Affine(
                rotate=(-cfg.rotate, cfg.rotate),
                scale=(1 - cfg.scale, 1 + cfg.scale),
                interpolation=cv2.INTER_LINEAR,
                mask_interpolation=cv2.INTER_NEAREST,
                border_mode=_BORDER,
                p=0.7,
            )
        )
    return t


def _photometric(cfg: AugmentConfig) -> list[A.BasicTransform]:
    t: list[A.BasicTransform] = []
    s = float(np.clip(cfg.stain, 0.0, 1.0))
    if s > 0:
        t += [
            A.HueSaturationValue(hue_shift_limit=12 * s, sat_shift_limit=30 * s, val_shift_limit=20 * s, p=0.8),
            A.RandomBrightnessContrast(brightness_limit=0.25 * s, contrast_limit=0.25 * s, p=0.8),
            StainJitter(sigma=0.15 * s, bias=0.05 * s, p=0.5),
        ]
    b = float(np.clip(cfg.blur, 0.0, 1.0))
    if b > 0:
        t.append(A.GaussianBlur(sigma_limit=(0.1, 1.5), p=b))
    return t


def seg_transforms(
    cfg: AugmentConfig | None,
    train: bool,
    patch_size: int | None = None,
    eval_crop: bool = False,
    seed: int | None = None,
) -> A.Compose:
    """Segmentation pipeline on ``image`` (H, W, 3) uint8 and ``mask`` (H, W, 2) {0, 255}.

    Train: pad (reflect) to at least ``patch_size``, random ``patch_size`` crop, then the
    augmentations of ``cfg`` (None = crop only), greyscale with probability ``cfg.grey`` last.
    Eval: the whole image padded at the bottom/right
    with zeros to a multiple of 32 (crop predictions back with ``[:H, :W]``), or with
    ``eval_crop`` the centre ``patch_size`` patch.
    """
    t: list[A.BasicTransform] = []
    if train:
        if patch_size:
            t += [A.PadIfNeeded(patch_size, patch_size, border_mode=_BORDER), A.RandomCrop(patch_size, patch_size)]
        if cfg is not None:
            t += _geometric(cfg) + _photometric(cfg)
            if cfg.grey > 0:  # cell shapes, not stain colours: grey images segment too
                t.append(A.ToGray(num_output_channels=3, p=float(np.clip(cfg.grey, 0.0, 1.0))))
    elif eval_crop and patch_size:
        t += [
            A.PadIfNeeded(patch_size, patch_size, border_mode=cv2.BORDER_CONSTANT, fill=0, fill_mask=0),
            A.CenterCrop(patch_size, patch_size),
        ]
    else:
        t.append(
            A.PadIfNeeded(
                min_height=None,
                min_width=None,
                pad_height_divisor=32,
                pad_width_divisor=32,
                position="top_left",
                border_mode=cv2.BORDER_CONSTANT,
                fill=0,
                fill_mask=0,
            )
        )
    return A.Compose(t, seed=seed)


def cls_transforms(
    cfg: AugmentConfig | None,
    train: bool,
    image_size: int,
    seed: int | None = None,
    mask_dropout: float = 0.0,
    mask_jitter: float = 0.0,
) -> A.Compose:
    """Classification pipeline: resize crop and masks to ``image_size`` (masks nearest), then in
    training the augmentations of ``cfg`` (None = none) and :class:`MaskPerturb` with
    ``mask_dropout`` / ``mask_jitter`` (when either is > 0). Eval: resize only."""
    t: list[A.BasicTransform] = [
        A.Resize(image_size, image_size, interpolation=cv2.INTER_AREA, mask_interpolation=cv2.INTER_NEAREST)
    ]
    if train and cfg is not None:
        t += _geometric(cfg) + _photometric(cfg)
    if train and (mask_dropout > 0 or mask_jitter > 0):
        t.append(MaskPerturb(mask_dropout, mask_jitter, max_px=max(1, round(image_size * 0.05))))
    return A.Compose(t, seed=seed)


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
        self._cache: dict[int, tuple[np.ndarray, np.ndarray]] = {}
        self._seeded: tuple[Any, ...] | None = None
        self._epoch: tuple[int, int] | None = None  # (seed, epoch) set by the training loop
        self.transform: A.Compose

    def _prepare(self, s: Sample) -> tuple[np.ndarray, np.ndarray]:
        raise NotImplementedError

    def _arrays(self, i: int) -> tuple[np.ndarray, np.ndarray]:
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
            self._seeded = key

    def _apply(self, image: np.ndarray, mask: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        self._seed_once()
        out = self.transform(image=image, mask=mask)
        return out["image"], out["mask"]


class SegmentationDataset(_Base):
    """Patches for the dual-head segmentation model.

    Each image is resized by ``scale`` (masks nearest), then train mode draws
    ``patches_per_image`` random ``patch_size`` patches per image and epoch (reflect-padded when
    the image is smaller); eval mode returns the whole image zero-padded at the bottom/right to a
    multiple of 32 (batch size 1 for images of different sizes; :meth:`original_size` gives the
    size to crop back to), or the centre patch with ``eval_crop=True``.

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
        self.transform = seg_transforms(augment, train, self.patch_size, eval_crop)

    def _prepare(self, s: Sample) -> tuple[np.ndarray, np.ndarray]:
        image, mask = s.image, _mask_stack(s)
        if self.scale != 1.0:
            h, w = image.shape[:2]
            image, mask = _resize(image, mask, max(1, round(h * self.scale)), max(1, round(w * self.scale)))
        return image, mask

    def __len__(self) -> int:
        return len(self.records) * self.patches_per_image

    def original_size(self, i: int) -> tuple[int, int]:
        """(H, W) of item ``i`` after scaling, before eval padding."""
        return self._arrays(i // self.patches_per_image)[0].shape[:2]

    def __getitem__(self, i: int) -> tuple[torch.Tensor, torch.Tensor]:
        image, mask = self._apply(*self._arrays(i // self.patches_per_image))
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


# --------------------------------------------------------------------------------------------
# Augmentation config hand-over (notebook 01 -> 02/04, CLI)
# --------------------------------------------------------------------------------------------
def augment_config_path(profile: str | None = None) -> Path:
    """``runs/<profile>/augment.json``; ``profile`` None = ``$CERVIX_PROFILE`` or ``cpu``."""
    return runs_dir() / profile_name(profile or None) / "augment.json"


def check_augment_config(cfg: AugmentConfig, where: str) -> None:
    """Range checks of an :class:`AugmentConfig` (ValueError naming ``where``)."""
    problems = []
    if not isinstance(cfg.flip, bool):
        problems.append(f"flip must be true/false, got {cfg.flip!r}")
    for name, lo, hi in (
        ("rotate", 0.0, 180.0),
        ("scale", 0.0, 0.9),
        ("stain", 0.0, 1.0),
        ("blur", 0.0, 1.0),
        ("grey", 0.0, 1.0),
    ):
        v = getattr(cfg, name)
        if isinstance(v, bool) or not isinstance(v, (int, float)) or not lo <= float(v) <= hi:
            problems.append(f"{name} must be a number in [{lo:g}, {hi:g}], got {v!r}")
    if problems:
        raise ValueError(f"{where}: invalid augmentation config: " + "; ".join(problems))


def save_augment_config(cfg: AugmentConfig, path: str | Path | None = None, profile: str | None = None) -> Path:
    """Write ``cfg`` as JSON (its fields: rotate, scale, flip, stain, blur, grey); return the path.

    Args:
        cfg: the augmentation strengths (e.g. ``tuner.config`` from the notebook-01 sliders).
        path: output file; default :func:`augment_config_path` of ``profile``.
        profile: profile name for the default path.

    Raises:
        ValueError: a value out of range (checked before anything is written).
    """
    check_augment_config(cfg, "save_augment_config")
    out = Path(path) if path is not None else augment_config_path(profile)
    data = {f.name: getattr(cfg, f.name) for f in dataclasses.fields(cfg)}
    return atomic_write_text(out, json.dumps(data, indent=1) + "\n")  # a reader never sees half a file


def load_augment_config(
    path: str | Path | None = None, profile: str | None = None, missing_ok: bool = True
) -> AugmentConfig:
    """Read a config written by :func:`save_augment_config`.

    Args:
        path: the JSON file; default :func:`augment_config_path` of ``profile``.
        profile: profile name for the default path.
        missing_ok: a missing file gives the default ``AugmentConfig()`` (notebook 01 not run
            yet); False raises FileNotFoundError.

    Raises:
        FileNotFoundError: missing file and not ``missing_ok``.
        ValueError: not JSON, unknown keys or values out of range, naming the file.
    """
    p = Path(path) if path is not None else augment_config_path(profile)
    if not p.is_file():
        if missing_ok:
            return AugmentConfig()
        raise FileNotFoundError(f"augmentation config not found: {p} (run notebook 01 or save_augment_config)")
    try:
        data = json.loads(p.read_text())
    except json.JSONDecodeError as e:
        raise ValueError(f"{p}: not valid JSON ({e})") from None
    if not isinstance(data, dict):
        raise ValueError(f"{p}: expected a JSON object of augmentation strengths, got {type(data).__name__}")
    names = {f.name for f in dataclasses.fields(AugmentConfig)}
    unknown = sorted(set(data) - names)
    if unknown:
        raise ValueError(f"{p}: unknown augmentation field(s) {unknown}; valid: {sorted(names)}")
    cfg = AugmentConfig(**data)
    check_augment_config(cfg, str(p))
    return cfg
