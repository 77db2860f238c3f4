"""Decoding image and mask files: RGB uint8 images, {0, 255} masks and cell instance maps.

Every decoder names the file in its error (unreadable, truncated, wrong size). These are the
bottom of :mod:`cervix.data`: records, annotations and readers call them.
"""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np

from cervix.core.masks import mask_from_values

__all__ = [
    "IMAGE_EXTENSIONS",
    "load_uint8",
    "image_size",
    "load_image",
    "load_mask",
    "load_instances",
    "cells_from_instances",
]

IMAGE_EXTENSIONS: tuple[str, ...] = (".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff")


# --------------------------------------------------------------------------------------------
# Pixels
# --------------------------------------------------------------------------------------------
def _read_bytes(path: str | Path) -> bytes:
    p = Path(path)
    if not p.is_file():
        raise FileNotFoundError(f"image file not found: {p}")
    return p.read_bytes()


#: The first bytes of every PNG and JPEG file.
PNG_SIGNATURE, JPEG_SIGNATURE = b"\x89PNG\r\n\x1a\n", b"\xff\xd8"


def _check_complete(path: Path, data: bytes) -> None:
    """Cheap checks of PNG and JPEG files: the signature (a text file named ``.png`` is not a PNG
    image), then truncation (IEND chunk, end-of-image marker)."""
    ext = path.suffix.lower()
    if ext == ".png" and not data.startswith(PNG_SIGNATURE):
        raise ValueError(f"{path}: not a PNG image (the file does not start with the PNG signature)")
    if ext in (".jpg", ".jpeg") and not data.startswith(JPEG_SIGNATURE):
        raise ValueError(f"{path}: not a JPEG image (the file does not start with the JPEG signature)")
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


def image_size(path: str | Path) -> tuple[int, int]:
    """``(H, W)`` of an image file from its header, without decoding the pixels.

    Raises:
        FileNotFoundError: no such file.
        ValueError: naming the file, when it is no image Pillow can read.
    """
    from PIL import Image, UnidentifiedImageError

    p = Path(path)
    if not p.is_file():
        raise FileNotFoundError(f"image file not found: {p}")
    try:
        with Image.open(p) as im:
            w, h = im.size
    except (UnidentifiedImageError, OSError) as e:
        raise ValueError(f"{p}: not a readable image ({e})") from None
    return int(h), int(w)


def _bit_depth(max_value: int) -> int:
    """The smallest common sensor depth (8, 10, 12, 14 or 16 bits) that holds ``max_value``."""
    return next((b for b in (8, 10, 12, 14) if max_value < 2**b), 16)


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
        raise ValueError(f"{p}: mask size {m.shape[1]}x{m.shape[0]} differs from its image size {shape[1]}x{shape[0]}")
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
        raise ValueError(
            f"{p}: an instance map is one channel of integer cell ids (grey 8- or 16-bit PNG), "
            f"got shape {m.shape} of {m.dtype}"
        )
    if shape is not None and m.shape != tuple(shape[:2]):
        raise ValueError(
            f"{p}: instance map size {m.shape[1]}x{m.shape[0]} differs from its image size {shape[1]}x{shape[0]}"
        )
    return m.astype(np.int32)


def cells_from_instances(instances: np.ndarray) -> np.ndarray:
    """Per-cell masks of an instance map: (N, H, W) bool, one per nonzero id, in increasing id order."""
    ids = np.unique(instances)
    ids = ids[ids > 0]
    return instances[None] == ids[:, None, None]
