"""Cell morphometrics and colour statistics from cytoplasm / nucleus masks.

Conventions: the cytoplasm mask is the **whole cell** (nucleus included) and the
nucleus mask is the nucleus. Here the *cell* is the union of the two masks, and the
*cytoplasm proper* is the cell minus the nucleus.

The nucleus-to-cytoplasm ratio follows the cytopathology convention
``N/C = nucleus area / cytoplasm area`` with the cytoplasm **excluding** the nucleus
(e.g. Bethesda descriptions of "N/C ratio"; Papanicolaou, 1942). The feature used in the Herlev
data set (Jantzen et al., 2005), nucleus area / whole cell area, is also returned as
``nucleus_fraction``. A cell without cytoplasm proper (nucleus covers the whole cell) has an
undefined N/C ratio: ``nan`` is returned, never a division error.

Colour statistics are means of RGB (0-255) and HSV (hue in degrees 0-360 as a circular mean,
saturation and value in 0-1) inside the cytoplasm proper and inside the nucleus.
"""

from __future__ import annotations

import math

import cv2
import numpy as np

from cervix.core.masks import foreground

__all__ = [
    "nc_ratio",
    "equivalent_diameter",
    "blob_diameters",
    "cell_morphometrics",
    "colour_stats",
]


def _bin(mask: np.ndarray | None, shape: tuple[int, ...] | None = None) -> np.ndarray:
    """Mask (or None = empty) -> (H, W) bool array, by :func:`cervix.core.masks.foreground` (> 127)."""
    if mask is None:
        if shape is None:
            raise ValueError("a mask is None and no shape is known")
        return np.zeros(shape, dtype=bool)
    m = np.asarray(mask)
    if m.ndim == 3:
        m = m[..., 0]
    if m.ndim != 2:
        raise ValueError(f"mask must be 2-D (H, W), got shape {np.asarray(mask).shape}")
    return foreground(m)


def _check_pair(cytoplasm: np.ndarray | None, nucleus: np.ndarray | None) -> tuple[np.ndarray, np.ndarray]:
    """Binarise both masks and check they have the same shape."""
    ref = cytoplasm if cytoplasm is not None else nucleus
    if ref is None:
        raise ValueError("cytoplasm and nucleus masks are both None")
    shape = np.asarray(ref).shape[:2]
    cyt, nuc = _bin(cytoplasm, shape), _bin(nucleus, shape)
    if cyt.shape != nuc.shape:
        raise ValueError(f"cytoplasm mask {cyt.shape} and nucleus mask {nuc.shape} differ in size")
    return cyt, nuc


def nc_ratio(nucleus_area: float, cytoplasm_area: float) -> float:
    """Nucleus-to-cytoplasm area ratio, ``nucleus_area / cytoplasm_area`` (cytoplasm = the cell
    without its nucleus); nan when there is no cytoplasm. The one definition of N/C in cervix."""
    return nucleus_area / cytoplasm_area if cytoplasm_area > 0 else math.nan


def equivalent_diameter(area: float | np.ndarray) -> float | np.ndarray:
    """Diameter of the circle of the same area, ``sqrt(4 A / pi)`` (scikit-image's
    ``equivalent_diameter_area``); the one size measure of cells and nuclei in cervix."""
    return np.sqrt(4.0 * np.asarray(area, np.float64) / math.pi)


def blob_diameters(mask: np.ndarray, min_area: int = 1) -> np.ndarray:
    """Equivalent diameters (px) of the 8-connected parts of a mask with at least ``min_area``
    pixels, e.g. every nucleus of a field's nucleus mask; empty when there is none."""
    n, _, stats, _ = cv2.connectedComponentsWithStats(foreground(mask).astype(np.uint8), connectivity=8)
    areas = stats[1:n, cv2.CC_STAT_AREA]
    return np.asarray(equivalent_diameter(areas[areas >= min_area]), np.float64).reshape(-1)


def cell_morphometrics(cytoplasm: np.ndarray | None, nucleus: np.ndarray | None) -> dict[str, float]:
    """Areas and N/C ratio of one cell.

    Args:
        cytoplasm: (H, W) whole-cell mask, uint8 {0,255} (>127 foreground) or bool.
        nucleus: (H, W) nucleus mask, same format; None means no nucleus.

    Returns:
        dict with ``cell_area`` (pixels of cytoplasm | nucleus), ``nucleus_area``,
        ``cytoplasm_area`` (cell minus nucleus), ``nc_ratio`` (nucleus_area / cytoplasm_area,
        nan when cytoplasm_area is 0), ``nucleus_fraction`` (nucleus_area / cell_area, nan for an
        empty cell), ``n_nuclei`` (8-connected nucleus components), ``nucleus_circularity``
        (4*pi*area/perimeter^2 of the largest nucleus component, nan without nucleus).
    """
    cyt, nuc = _check_pair(cytoplasm, nucleus)
    cell = cyt | nuc
    cell_area = int(cell.sum())
    nucleus_area = int(nuc.sum())
    cyto_area = cell_area - nucleus_area
    n_nuc = 0
    circ = math.nan
    if nucleus_area:
        n, _, stats, _ = cv2.connectedComponentsWithStats(nuc.astype(np.uint8), connectivity=8)
        n_nuc = n - 1
        contours, _ = cv2.findContours(nuc.astype(np.uint8), cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_NONE)
        big = max(contours, key=cv2.contourArea)
        perim = cv2.arcLength(big, True)
        area = max(cv2.contourArea(big), 1.0)
        circ = float(min(1.0, 4 * math.pi * area / perim**2)) if perim > 0 else math.nan
    return {
        "cell_area": float(cell_area),
        "nucleus_area": float(nucleus_area),
        "cytoplasm_area": float(cyto_area),
        "nc_ratio": nc_ratio(nucleus_area, cyto_area),
        "nucleus_fraction": nucleus_area / cell_area if cell_area > 0 else math.nan,
        "n_nuclei": float(n_nuc),
        "nucleus_circularity": circ,
    }


def _region_colour(rgb: np.ndarray, hsv: np.ndarray, m: np.ndarray, prefix: str) -> dict[str, float]:
    """Mean R, G, B (0-255), circular-mean hue (deg), mean S, V (0-1) inside ``m``."""
    keys = ["R", "G", "B", "H", "S", "V"]
    if not m.any():
        return {f"{prefix}_{k}": math.nan for k in keys}
    px = rgb[m].astype(np.float64)  # (N, 3)
    hv = hsv[m].astype(np.float64)  # (N, 3): H in 0-180 (cv2), S, V in 0-255
    ang = np.deg2rad(hv[:, 0] * 2.0)
    h = math.degrees(math.atan2(np.sin(ang).mean(), np.cos(ang).mean())) % 360.0
    r, g, b = px.mean(0)
    return {
        f"{prefix}_R": float(r),
        f"{prefix}_G": float(g),
        f"{prefix}_B": float(b),
        f"{prefix}_H": float(h),
        f"{prefix}_S": float(hv[:, 1].mean() / 255.0),
        f"{prefix}_V": float(hv[:, 2].mean() / 255.0),
    }


def colour_stats(image: np.ndarray, cytoplasm: np.ndarray | None, nucleus: np.ndarray | None) -> dict[str, float]:
    """Mean colour of the cytoplasm proper (``cyto_*``) and the nucleus (``nuc_*``).

    Args:
        image: (H, W, 3) uint8 RGB.
        cytoplasm: (H, W) whole-cell mask; nucleus: (H, W) nucleus mask (None: no nucleus).

    Returns:
        dict with ``cyto_R/G/B/H/S/V`` and ``nuc_R/G/B/H/S/V`` (nan for an empty region).
    """
    img = np.asarray(image)
    if img.ndim != 3 or img.shape[2] != 3 or img.dtype != np.uint8:
        raise ValueError(f"image must be (H, W, 3) uint8 RGB, got {img.shape} {img.dtype}")
    cyt, nuc = _check_pair(cytoplasm, nucleus)
    if cyt.shape != img.shape[:2]:
        raise ValueError(f"masks {cyt.shape} and image {img.shape[:2]} differ in size")
    hsv = cv2.cvtColor(img, cv2.COLOR_RGB2HSV)
    out = _region_colour(img, hsv, (cyt | nuc) & ~nuc, "cyto")
    out.update(_region_colour(img, hsv, nuc, "nuc"))
    return out
