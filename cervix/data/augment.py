"""Augmentation of both stages and its file, and the scale views of segmentation training.

Geometric transforms (flips, 90-degree rotations, affine rotation/zoom) move the image and both
masks together, masks with nearest-neighbour interpolation so they stay {0, 1}. Colour/stain
jitter and blur touch the image only. The stain jitter perturbs the image in optical-density
space after colour deconvolution (Ruifrok & Johnston, Anal. Quant. Cytol. Histol. 2001; HED
augmentation as in Tellez et al., Med. Image Anal. 2019), applied to Papanicolaou stains as a
generic stain-variation model. :class:`AugmentConfig` holds the strengths; notebook 01 tunes
them and saves them to ``augment.json`` (:func:`save_augment_config`, :func:`load_augment_config`).
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import albumentations as A
import cv2
import numpy as np

from cervix.core.config import profile_name
from cervix.core.files import atomic_write_text
from cervix.core.paths import runs_dir

__all__ = [
    "AugmentConfig",
    "MaskPerturb",
    "StainJitter",
    "Fade",
    "seg_transforms",
    "cls_transforms",
    "augment_config_path",
    "check_augment_config",
    "save_augment_config",
    "load_augment_config",
    "run_augment_config",
    "SEGMENTATION_ONLY",
    "ScaleViews",
    "scale_view",
    "cell_boxes",
]

_BORDER = cv2.BORDER_REFLECT_101


@dataclass
class AugmentConfig:
    """Augmentation strengths (tuned with the notebook-01 sliders)."""

    rotate: float = 180.0  # max rotation in degrees (cells have no preferred orientation)
    # +- relative zoom (0.15 = 85%..115%); segmentation runs with scale views (SegConfig.scale_range,
    # cell_views) draw their magnification there instead
    scale: float = 0.15
    flip: bool = True  # horizontal/vertical flips and 90-degree rotations
    stain: float = 0.3  # 0..1 colour/stain jitter strength (hue/sat/value, brightness/contrast, HED)
    blur: float = 0.3  # 0..1 probability of a Gaussian blur (sigma 0.1..1.5)
    grey: float = 0.25  # segmentation only: probability of a greyscale image (EDF images like ISBI 2014)
    # segmentation only: half the patches faded as a thinner specimen, optical density scaled by
    # U(1 - fade, 1) (nuclei by its square root); 0 = off. 0.5: the synthetic-only `cpu` model finds
    # ISBI 2014's faint grey cytoplasm at both seeds tried (Dice 0.94 / 0.97, 0.89 / 0.85 without)
    # and keeps its synthetic quality floors; 0.7 went below them (README)
    fade: float = 0.5


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


class Fade(A.DualTransform):
    """A thinner specimen: optical density against the background scaled by ``k ~ U(1 - strength, 1)``.

    By the Beer-Lambert law a layer ``k`` times as thick absorbs ``k`` times the optical density:
    ``I' = I0 (I / I0)^k`` per channel, with the background ``I0`` the image's 99th percentile.
    The background stays and the cytoplasm fades; nuclei (the mask's second channel) fade less,
    by ``sqrt(k)``: in ISBI 2014's EDF images the cytoplasm has about half the median optical
    density of the synthetic fields', the nuclei about three quarters (a uniformly faded nucleus
    would look like two layers of cytoplasm, and the model would learn to call overlaps nuclei).
    The masks are not changed.

    Args:
        strength: the largest relative loss of optical density of the cytoplasm, in [0, 1).
        p: probability.
    """

    def __init__(self, strength: float = 0.7, p: float = 0.5):
        super().__init__(p=p)
        self.strength = float(strength)

    def get_params(self) -> dict[str, Any]:
        return {"k": float(self.random_generator.uniform(1.0 - self.strength, 1.0))}

    def get_params_dependent_on_data(self, params: dict[str, Any], data: dict[str, Any]) -> dict[str, Any]:
        mask = data.get("mask")
        has_nucleus = mask is not None and mask.ndim == 3 and mask.shape[-1] > 1
        return {"nucleus": mask[..., 1] > 127 if has_nucleus else None}

    def apply(self, img: np.ndarray, k: float = 1.0, nucleus: np.ndarray | None = None, **params: Any) -> np.ndarray:
        x = img.astype(np.float32) + 1.0  # (H, W, 3), no log of 0
        i0 = np.percentile(x.reshape(-1, x.shape[-1]), 99, axis=0)  # (3,) background per channel
        kk = np.full(x.shape[:2], k, np.float32)  # (H, W) thickness factor
        if nucleus is not None:
            kk[nucleus] = np.sqrt(k)
        out = i0 * np.power(x / i0, kk[..., None]) - 1.0
        return np.clip(np.rint(out), 0, 255).astype(np.uint8)

    def apply_to_mask(self, mask: np.ndarray, **params: Any) -> np.ndarray:
        return mask

    def get_transform_init_args_names(self) -> tuple[str, ...]:
        return ("strength",)


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
            if cfg.fade > 0:  # faint cells: thin specimens, EDF images
                t.append(Fade(strength=float(np.clip(cfg.fade, 0.0, 0.95)), p=0.5))
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
        ("fade", 0.0, 0.95),
    ):
        v = getattr(cfg, name)
        if isinstance(v, bool) or not isinstance(v, (int, float)) or not lo <= float(v) <= hi:
            problems.append(f"{name} must be a number in [{lo:g}, {hi:g}], got {v!r}")
    if problems:
        raise ValueError(f"{where}: invalid augmentation config: " + "; ".join(problems))


def save_augment_config(cfg: AugmentConfig, path: str | Path | None = None, profile: str | None = None) -> Path:
    """Write ``cfg`` as JSON (its fields: rotate, scale, flip, stain, blur, grey, fade); return the path.

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


#: The fields of :class:`AugmentConfig` that only segmentation training uses (the classifier's
#: transforms ignore them).
SEGMENTATION_ONLY: tuple[str, ...] = ("grey", "fade")


def run_augment_config(saved: Mapping[str, Any]) -> AugmentConfig:
    """The augmentation a run's ``config.json`` records (its ``augment``), for an exact resume.

    A field the record lacks was added to cervix after the run started (``grey``, ``fade``): the
    run trained without it, so it is off (0) here, not today's default.
    """
    off = {f.name: (False if isinstance(f.default, bool) else 0.0) for f in dataclasses.fields(AugmentConfig)}
    return AugmentConfig(**{**off, **{k: v for k, v in saved.items() if k in off}})


# --------------------------------------------------------------------------------------------
# Scale views of segmentation training: cells at any magnification
# --------------------------------------------------------------------------------------------
@dataclass
class ScaleViews:
    """How segmentation training patches are cut from a field (see :func:`scale_view`).

    A model trained at one pixel scale fails at another: a cell magnified four times looks like
    background to it. Cellpose (Stringer et al., Nat. Methods 2021) trains at a canonical size with
    wide scale augmentation and resizes images to it; these views give the wide scale range.
    """

    scale_range: tuple[float, float] = (1.0, 1.0)  # magnification s drawn log-uniformly; (1, 1) = plain crops
    cell_views: float = 0.0  # fraction of patches that are single-cell crop views
    cell_fill: tuple[float, float] = (0.3, 0.9)  # cell box side as a fraction of the patch side
    mirror_pad: float = 0.3  # probability that a cell view is padded with mirrored borders, not a flat colour

    @property
    def active(self) -> bool:
        """True when patches are cut by :func:`scale_view` rather than a plain random crop."""
        return tuple(self.scale_range) != (1.0, 1.0) or self.cell_views > 0


def _resize_pair(image: np.ndarray, mask: np.ndarray, h: int, w: int) -> tuple[np.ndarray, np.ndarray]:
    """Image (area/linear) and masks (nearest) resized to ``(h, w)``."""
    shrink = h * w < image.shape[0] * image.shape[1]
    img = cv2.resize(image, (w, h), interpolation=cv2.INTER_AREA if shrink else cv2.INTER_LINEAR)
    m = cv2.resize(mask, (w, h), interpolation=cv2.INTER_NEAREST).reshape(h, w, -1)
    return img, m


def _flat_colour(image: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """A letterbox colour: black, white, a grey, or the field's own median colour."""
    kind = rng.integers(4)
    if kind == 3:
        return np.median(image.reshape(-1, 3), axis=0).astype(np.uint8)
    level = (0, 255, int(rng.integers(40, 230)))[kind]
    return np.clip(level + rng.integers(-8, 9, 3), 0, 255).astype(np.uint8)


def _place(
    image: np.ndarray, mask: np.ndarray, patch: int, rng: np.random.Generator, mirror: bool, centre: bool
) -> tuple[np.ndarray, np.ndarray]:
    """Pad ``image`` (h, w <= patch) to ``patch`` x ``patch``: a flat colour or mirrored borders; masks 0."""
    h, w = image.shape[:2]
    top = (patch - h) // 2 if centre else int(rng.integers(0, patch - h + 1))
    left = (patch - w) // 2 if centre else int(rng.integers(0, patch - w + 1))
    pads = (top, patch - h - top, left, patch - w - left)
    if mirror and min(h, w) > 1:
        img = cv2.copyMakeBorder(image, *pads, cv2.BORDER_REFLECT_101)
        while img.shape[0] < patch or img.shape[1] < patch:  # reflection wider than the image: repeat
            img = cv2.copyMakeBorder(img, 0, patch - img.shape[0], 0, patch - img.shape[1], cv2.BORDER_REFLECT_101)
    else:
        img = cv2.copyMakeBorder(image, *pads, cv2.BORDER_CONSTANT, value=_flat_colour(image, rng).tolist())
    m = cv2.copyMakeBorder(mask, *pads, cv2.BORDER_CONSTANT, value=0).reshape(patch, patch, -1)
    return img[:patch, :patch], m


def _scale_window(
    image: np.ndarray, mask: np.ndarray, patch: int, s: float, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray]:
    """A window of ``patch / s`` pixels resized to ``patch`` (the field seen ``s`` times magnified);
    where the field is smaller than the window, the rest is flat padding labelled background."""
    H, W = image.shape[:2]
    win = max(1, round(patch / s))
    h, w = min(win, H), min(win, W)
    y0, x0 = int(rng.integers(0, H - h + 1)), int(rng.integers(0, W - w + 1))
    img, m = image[y0 : y0 + h, x0 : x0 + w], mask[y0 : y0 + h, x0 : x0 + w]
    oh = patch if h == win else min(patch, max(1, round(h * s)))
    ow = patch if w == win else min(patch, max(1, round(w * s)))
    img, m = _resize_pair(img, m, oh, ow)
    return _place(img, m, patch, rng, mirror=False, centre=False)


def _cell_view(
    image: np.ndarray, mask: np.ndarray, box: np.ndarray, patch: int, views: ScaleViews, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray]:
    """One cell (``box`` = y0, x0, y1, x1) magnified to fill ``views.cell_fill`` of the patch side,
    at a random offset, in a window of random aspect letterboxed to a square."""
    y0, x0, y1, x1 = (int(v) for v in box)
    side = max(y1 - y0, x1 - x0)
    win = side / rng.uniform(*views.cell_fill)  # window side in field pixels
    aspect = rng.uniform(0.6, 1.0)  # the short side of the window, relative: letterbox padding
    wh, ww = (win, max(x1 - x0, win * aspect)) if rng.random() < 0.5 else (max(y1 - y0, win * aspect), win)
    wh, ww = max(1, round(wh)), max(1, round(ww))
    top = int(rng.integers(y1 - wh, y0 + 1)) if wh >= y1 - y0 else y0
    left = int(rng.integers(x1 - ww, x0 + 1)) if ww >= x1 - x0 else x0
    H, W = image.shape[:2]
    pad = (max(0, -top), max(0, top + wh - H), max(0, -left), max(0, left + ww - W))
    mirror = bool(rng.random() < views.mirror_pad)
    if any(pad):  # the window reaches past the field: pad the field the same way as the letterbox
        border = cv2.BORDER_REFLECT_101 if mirror else cv2.BORDER_CONSTANT
        colour = _flat_colour(image, rng).tolist()
        image = cv2.copyMakeBorder(image, *pad, border, value=colour)
        mask = cv2.copyMakeBorder(mask, *pad, cv2.BORDER_CONSTANT, value=0).reshape(image.shape[0], image.shape[1], -1)
        top, left = top + pad[0], left + pad[2]
    img, m = image[top : top + wh, left : left + ww], mask[top : top + wh, left : left + ww]
    f = patch / max(wh, ww)
    img, m = _resize_pair(img, m, min(patch, max(1, round(wh * f))), min(patch, max(1, round(ww * f))))
    return _place(img, m, patch, rng, mirror=mirror, centre=True)


def scale_view(
    image: np.ndarray,
    mask: np.ndarray,
    boxes: np.ndarray,
    patch: int,
    views: ScaleViews,
    rng: np.random.Generator,
) -> tuple[np.ndarray, np.ndarray]:
    """One training patch of a field at a random magnification.

    With probability ``views.cell_views`` (and where the field has cells) a single-cell crop
    view: a cell magnified so its box fills 30-90% of the patch side, at a random offset, cut with
    a random aspect and letterboxed to a square with a flat colour or mirrored borders, as
    Herlev and SIPaKMeD crops are distributed. Otherwise a scale window: ``s`` drawn
    log-uniformly from ``views.scale_range``, a window of ``patch / s`` pixels resized to
    ``patch`` (never a zoom after the crop, which would mirror cells into the patch). Every
    visible cell keeps its label; padding is background.

    Args:
        image: ``(H, W, 3)`` uint8 field.
        mask: ``(H, W, C)`` uint8 masks of the field (0 background).
        boxes: ``(N, 4)`` cell boxes ``(y0, x0, y1, x1)``, exclusive ends; may be empty.
        patch: side of the patch.
        views: the view settings.
        rng: the random generator (seeded by the dataset per epoch and worker).

    Returns:
        ``(patch, patch, 3)`` image and ``(patch, patch, C)`` masks.
    """
    if len(boxes) and rng.random() < views.cell_views:
        return _cell_view(image, mask, boxes[int(rng.integers(len(boxes)))], patch, views, rng)
    lo, hi = (float(v) for v in views.scale_range)
    s = float(np.exp(rng.uniform(np.log(lo), np.log(hi)))) if hi > lo else lo
    return _scale_window(image, mask, patch, s, rng)


def cell_boxes(cells: np.ndarray | None, cytoplasm: np.ndarray) -> np.ndarray:
    """``(N, 4)`` int boxes ``(y0, x0, y1, x1)`` of the cells of a field: of its per-cell masks
    ``cells`` ``(N, H, W)`` where given, else of the connected parts of its cytoplasm mask."""
    if cells is None or len(cells) == 0:
        n, lab = cv2.connectedComponents((cytoplasm > 127).astype(np.uint8))
        cells = np.stack([lab == k for k in range(1, n)]) if n > 1 else np.zeros((0, *cytoplasm.shape), bool)
    out = []
    for c in cells:
        ys, xs = np.nonzero(c)
        if len(ys):
            out.append((ys.min(), xs.min(), ys.max() + 1, xs.max() + 1))
    return np.asarray(out, np.int64).reshape(-1, 4)
