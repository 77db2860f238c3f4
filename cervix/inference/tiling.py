"""Tiled segmentation inference, thresholding, and mask writing with quality control.

:func:`predict_tiled` runs a segmentation network over an image of any size in overlapping
sliding windows (memory bounded: at most ``batch_size`` tiles go through the network at once)
and blends the windows' sigmoid probabilities with a smooth weight: each tile's weight is zero
on an outer ``margin`` (where the tile's output suffers from the network's zero padding), rises
as a raised cosine (Hann half-window) across the rest of the overlap, and is one in the centre.
Neighbouring ramps sum to one, and the image is reflect-padded so every window is a full tile
and image borders fall inside a tile's interior. For a network whose receptive-field radius is
at most ``margin``, the tiled result equals running the network on the whole (reflect-padded)
image. Flip test-time augmentation averages the probabilities of the identity, horizontal and
vertical flips. This is the overlap-tile strategy of U-Net (Ronneberger et al., MICCAI 2015)
with the smooth blending of e.g. nnU-Net (Isensee et al., Nat. Methods 2021).

:func:`write_masks` writes ``<out>/cytoplasm/<rel>.png`` and ``<out>/nucleus/<rel>.png``
(uint8 {0, 255}, the layout the classes reader takes as masks root) and returns a QC summary:
areas per image, empty or suspicious masks, and every failed file; a bad file never stops the
run half-way and never goes unlisted.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import cv2
import numpy as np
import torch
from torch import nn
from tqdm.auto import tqdm

from cervix.cells.instances import InstanceConfig, centre_instance, separate
from cervix.core.device import autocast_context, device_and_amp
from cervix.data.datasets import IMAGENET_MEAN, IMAGENET_STD

__all__ = [
    "predict_tiled",
    "tta_flips",
    "flip_averaged_probabilities",
    "blend_window",
    "tile_starts",
    "single_cell_masks",
    "multi_scale_probabilities",
    "CROP_SCALES",
]


def tta_flips(tta: bool) -> list[tuple[int, ...]]:
    """The tensor dims flipped by flip test-time augmentation: identity, then (with ``tta``) the
    horizontal and vertical flips."""
    return [(), (-1,), (-2,)] if tta else [()]


def flip_averaged_probabilities(
    forward: Callable[[torch.Tensor], torch.Tensor], x: torch.Tensor, tta: bool, device: torch.device, amp_dtype: Any
) -> torch.Tensor:
    """Sigmoid probabilities of ``forward`` (``(B, C, H, W)`` logits of ``x``), averaged over the
    :func:`tta_flips`, each flipped back before the average; float32, on ``x``'s device."""
    flips = tta_flips(tta)
    prob: torch.Tensor | None = None
    for dims in flips:
        with autocast_context(device, amp_dtype):
            logits = forward(x.flip(dims) if dims else x)  # (B, C, H, W)
        p = torch.sigmoid(logits.float())
        p = p.flip(dims) if dims else p
        prob = p if prob is None else prob + p
    return prob / len(flips)


def blend_window(tile: int, overlap_px: int, margin: int) -> np.ndarray:
    """1-D blending weight of one tile.

    Zero on ``margin`` pixels at each end, a raised-cosine ramp ``sin^2`` over the next
    ``overlap_px - 2 * margin`` pixels (sampled at pixel centres, so strictly positive), one in the
    middle. Ramps of neighbouring tiles (stride ``tile - overlap_px``) sum to exactly one.

    Returns:
        float64 array of length ``tile``.
    """
    ramp = overlap_px - 2 * margin
    i = np.arange(tile, dtype=np.float64)
    if ramp > 0:
        up = np.sin(0.5 * np.pi * np.clip((i - margin + 0.5) / ramp, 0.0, 1.0)) ** 2
    else:
        up = np.ones(tile)
    w = np.minimum(up, up[::-1])
    if margin > 0:
        w[:margin] = 0.0
        w[tile - margin :] = 0.0
    return w


def tile_starts(length: int, tile: int, stride: int, margin: int) -> tuple[list[int], int, int]:
    """Window starts along one axis and the padding that makes every window a full tile.

    The axis is padded by ``margin`` before (so the first image pixel is in the first window's
    interior) and by enough after that the windows' interiors cover the whole image.

    Returns:
        ``(starts in padded coordinates, pad_before, pad_after)``.
    """
    need = length + 2 * margin
    n = 1 if need <= tile else math.ceil((need - tile) / stride) + 1
    padded = (n - 1) * stride + tile
    return [k * stride for k in range(n)], margin, padded - length - margin


def _resize(arr: np.ndarray, width: int, height: int) -> np.ndarray:
    if arr.shape[1] == width and arr.shape[0] == height:
        return arr
    shrink = width * height < arr.shape[0] * arr.shape[1]
    return cv2.resize(arr, (width, height), interpolation=cv2.INTER_AREA if shrink else cv2.INTER_LINEAR)


@torch.no_grad()
def predict_tiled(
    model: nn.Module,
    image: np.ndarray,
    tile: int = 256,
    overlap: float = 0.25,
    batch_size: int = 4,
    tta: bool = False,
    amp: str = "none",
    scale: float = 1.0,
    normalise: bool = True,
    margin: int | None = None,
    progress: bool = False,
    mean: Sequence[float] = IMAGENET_MEAN,
    std: Sequence[float] = IMAGENET_STD,
) -> np.ndarray:
    """Sigmoid probabilities of a segmentation model over a whole image, tile by tile.

    Args:
        model: maps ``(B, 3, tile, tile)`` to logits ``(B, C, tile, tile)`` (C = 2: cytoplasm,
            nucleus). Run in eval mode on its own device; its mode is restored afterwards.
        image: ``(H, W, 3)`` uint8 RGB.
        tile: window side in pixels (multiple of 32).
        overlap: fraction of ``tile`` shared by neighbouring windows, in ``[0, 1)``.
        batch_size: windows per forward pass (memory bound: ``batch_size * 3 * tile**2`` inputs).
        tta: average the probabilities of identity, horizontal and vertical flips.
        amp: ``"none"`` or ``"bf16"`` autocast (CPU or CUDA); ``"fp16"`` on CUDA.
        scale: resize factor applied before tiling (the training scale); probabilities are
            resized back to ``(H, W)``.
        normalise: ImageNet mean/std normalisation (else only division by 255).
        margin: pixels at each tile edge given zero blending weight; default
            ``overlap_px // 4``; at most ``overlap_px // 2``.
        progress: show a tqdm bar over the batches.
        mean, std: normalisation constants (RGB, for inputs in [0, 1]).

    Returns:
        float32 ``(C, H, W)`` probabilities in [0, 1].

    Raises:
        ValueError: bad image, tile not a multiple of 32, overlap/margin out of range.
    """
    _check_tiling(image, tile, overlap, scale)
    H, W = image.shape[:2]
    ov = int(round(tile * overlap))
    margin = ov // 4 if margin is None else int(margin)
    if margin < 0 or 2 * margin > ov:
        raise ValueError(f"margin must be in [0, overlap_px // 2 = {ov // 2}], got {margin}")
    img = image
    if scale != 1.0:
        img = _resize(image, max(1, round(W * scale)), max(1, round(H * scale)))
    h, w = img.shape[:2]
    grid = _TileGrid.of(h, w, tile, tile - ov, margin, blend_window(tile, ov, margin))
    padded = np.pad(img, ((grid.py0, grid.py1), (grid.px0, grid.px1), (0, 0)), mode="reflect")  # (Hp, Wp, 3)
    m = mean if normalise else (0.0, 0.0, 0.0)
    s = std if normalise else (1.0, 1.0, 1.0)
    acc = _blend_tiles(model, padded, grid, batch_size, tta, amp, m, s, progress)  # (C, Hp, Wp)
    out = acc[:, grid.py0 : grid.py0 + h, grid.px0 : grid.px0 + w].numpy()
    out = out / grid.norm()[None]
    if (h, w) != (H, W):
        out = np.stack([cv2.resize(c, (W, H), interpolation=cv2.INTER_LINEAR) for c in out])
    return np.clip(out, 0.0, 1.0).astype(np.float32)


def _check_tiling(image: Any, tile: int, overlap: float, scale: float) -> None:
    """Raise ValueError naming the first bad argument of :func:`predict_tiled`."""
    if not isinstance(image, np.ndarray) or image.ndim != 3 or image.shape[2] != 3:
        raise ValueError(f"image must be an (H, W, 3) RGB array, got shape {getattr(image, 'shape', None)}")
    if image.dtype != np.uint8:
        raise ValueError(f"image must be uint8, got {image.dtype}")
    if tile <= 0 or tile % 32:
        raise ValueError(f"tile must be a positive multiple of 32, got {tile}")
    if not 0.0 <= overlap < 1.0:
        raise ValueError(f"overlap must be in [0, 1), got {overlap}")
    if scale <= 0:
        raise ValueError(f"scale must be positive, got {scale}")


@dataclass
class _TileGrid:
    """Where the windows of one (scaled) image lie, in reflect-padded coordinates."""

    tile: int  # window side
    ys: list[int]  # window starts along y
    xs: list[int]  # window starts along x
    py0: int  # padding above
    py1: int  # padding below
    px0: int  # padding left
    px1: int  # padding right
    win: np.ndarray  # (tile,) 1-D blending weight
    h: int  # image height before padding
    w: int  # image width before padding

    @classmethod
    def of(cls, h: int, w: int, tile: int, stride: int, margin: int, win: np.ndarray) -> _TileGrid:
        ys, py0, py1 = tile_starts(h, tile, stride, margin)
        xs, px0, px1 = tile_starts(w, tile, stride, margin)
        return cls(tile, ys, xs, py0, py1, px0, px1, win, h, w)

    def norm(self) -> np.ndarray:
        """``(h, w)`` float32 sum of the blending weights over the image (> 0 by design)."""
        wsum_y = np.zeros(self.py0 + self.h + self.py1)
        wsum_x = np.zeros(self.px0 + self.w + self.px1)
        for y in self.ys:
            wsum_y[y : y + self.tile] += self.win
        for x in self.xs:
            wsum_x[x : x + self.tile] += self.win
        return np.outer(wsum_y[self.py0 : self.py0 + self.h], wsum_x[self.px0 : self.px0 + self.w]).astype(np.float32)


def _blend_tiles(
    model: nn.Module,
    padded: np.ndarray,
    grid: _TileGrid,
    batch_size: int,
    tta: bool,
    amp: str,
    mean: Sequence[float],
    std: Sequence[float],
    progress: bool,
) -> torch.Tensor:
    """Weighted sum of the windows' probabilities over the padded image: ``(C, Hp, Wp)`` float32."""
    tile = grid.tile
    Hp, Wp = padded.shape[:2]
    w2d = torch.from_numpy(np.outer(grid.win, grid.win).astype(np.float32))  # (tile, tile)
    param = next(iter(model.parameters()), None)
    device = param.device if param is not None else torch.device("cpu")
    dtype = param.dtype if param is not None and param.is_floating_point() else torch.float32
    _, amp_dtype, _ = device_and_amp(amp, device)
    m = torch.tensor(mean, dtype=torch.float32).view(1, 3, 1, 1)
    s = torch.tensor(std, dtype=torch.float32).view(1, 3, 1, 1)
    coords = [(y, x) for y in grid.ys for x in grid.xs]
    acc: torch.Tensor | None = None  # (C, Hp, Wp) weighted probability sum
    was_training = model.training
    model.eval()
    try:
        for b0 in tqdm(range(0, len(coords), batch_size), desc="tiles", disable=not progress, leave=False):
            chunk = coords[b0 : b0 + batch_size]
            crops = np.stack([padded[y : y + tile, x : x + tile] for y, x in chunk])  # (B, t, t, 3)
            x_in = torch.from_numpy(crops).permute(0, 3, 1, 2).float().div_(255.0)
            x_in = ((x_in - m) / s).to(device=device, dtype=dtype)  # (B, 3, t, t)
            prob = flip_averaged_probabilities(model, x_in, tta, device, amp_dtype).cpu()  # (B, C, t, t)
            if acc is None:
                acc = torch.zeros(prob.shape[1], Hp, Wp, dtype=torch.float32)
            for (y, x), p in zip(chunk, prob):
                acc[:, y : y + tile, x : x + tile] += p * w2d
    finally:
        model.train(was_training)
    assert acc is not None
    return acc


#: Relative scales of a single-cell crop of unknown magnification (see :func:`single_cell_masks`).
CROP_SCALES: tuple[float, ...] = (1.0, 0.67, 0.5, 0.33)


def multi_scale_probabilities(
    model: nn.Module, image: np.ndarray, scales: Sequence[float] = CROP_SCALES, min_side: int = 48, **kw: Any
) -> np.ndarray:
    """``(2, H, W)`` probabilities averaged over relative ``scales`` (times the run's ``scale`` in
    ``kw``); scales that shrink the short side below ``min_side`` pixels are skipped, the first is
    always kept. The size-free fallback for runs without a stored cell size."""
    base = float(kw.pop("scale", 1.0))
    short = min(image.shape[:2])
    used = [s for i, s in enumerate(scales) if i == 0 or short * base * s >= min_side]
    return np.mean([predict_tiled(model, image, scale=base * s, **kw)[:2] for s in used], axis=0)


def single_cell_masks(
    model: nn.Module,
    image: np.ndarray,
    thresholds: Sequence[float] = (0.5, 0.5),
    scales: Sequence[float] = CROP_SCALES,
    min_side: int = 48,
    **kw: Any,
) -> tuple[np.ndarray, np.ndarray]:
    """Masks of the centre cell of a single-cell crop whose magnification is unknown.

    Crops from other labs are often magnified far beyond the fields a model was trained on (a
    Herlev nucleus spans 50-120 px, a synthetic one 20-40 px). The crop is segmented at each
    relative scale of ``scales`` (times the run's ``scale`` in ``kw``; scales that shrink the
    crop's short side below ``min_side`` pixels are skipped, the first scale is always kept),
    the probabilities, resized back to the crop, are averaged over the scales (multi-scale
    test-time augmentation), then separated into cells (:func:`cervix.cells.instances.separate`) and
    reduced to the centre cell's instance (:func:`cervix.cells.instances.centre_instance`): a touching
    or overlapping neighbour is cut off at the watershed line between their nuclei instead of
    merging with the cell. On the 15 real SIPaKMeD crops with label maps this raised the
    nucleus Dice of a synthetic-only model from 0.56 to 0.68 and cost 0.015 on synthetic crops
    (see the README; measured with the earlier connected-component centre cell).

    Args:
        model: segmentation network (logits ``(B, 2, H, W)``).
        image: ``(H, W, 3)`` uint8 RGB crop.
        thresholds: ``(cytoplasm, nucleus)`` probability thresholds.
        scales: relative scales; ``(1.0,)`` = the run's scale only.
        min_side: smallest short side in pixels a scaled crop may have.
        **kw: :func:`predict_tiled` arguments (``tile``, ``overlap``, ``tta``, ``amp``,
            ``scale``, ``mean``, ``std``, ...).

    Returns:
        ``(cytoplasm, nucleus)``: uint8 {0, 255} masks of the centre cell, the crop's size.
    """
    probs = multi_scale_probabilities(model, image, scales, min_side, **kw)  # (2, H, W)
    # no nucleus score: averaging over scales lowers every nucleus's mean probability
    icfg = InstanceConfig(cell_threshold=thresholds[0], nucleus_threshold=thresholds[1], min_nucleus_score=0.0)
    inst = separate(probs, icfg)
    return centre_instance(inst)
