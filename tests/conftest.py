"""Shared pytest fixtures: the real-format samples and small generated datasets."""
from __future__ import annotations

import os
from pathlib import Path
from typing import Callable

import cv2
import numpy as np
import pytest

from cervix.core.paths import real_samples_dir


@pytest.fixture(scope="session")
def real_samples() -> Path:
    """``cervix.core.paths.real_samples_dir()``; skips when absent, fails when absent under ``CI``."""
    p = real_samples_dir()
    if not p.is_dir():
        msg = f"real-format samples not found at {p} (set CERVIX_REAL_SAMPLES)"
        if os.environ.get("CI"):
            pytest.fail(msg)
        pytest.skip(msg)
    return p


def write_image(path: Path, arr: np.ndarray) -> Path:
    """Write an RGB (or grey / 16-bit / RGBA as given) array with OpenCV, creating folders."""
    path.parent.mkdir(parents=True, exist_ok=True)
    a = arr
    if a.ndim == 3 and a.shape[2] == 3:
        a = cv2.cvtColor(a, cv2.COLOR_RGB2BGR)
    elif a.ndim == 3 and a.shape[2] == 4:
        a = cv2.cvtColor(a, cv2.COLOR_RGBA2BGRA)
    assert cv2.imwrite(str(path), a), path
    return path


def cell_sample(rng: np.random.Generator, h: int, w: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """A toy field: random ellipse cells with a nucleus inside; (image RGB, cytoplasm, nucleus)."""
    img = np.full((h, w, 3), 230, np.uint8)
    cyt = np.zeros((h, w), np.uint8)
    nuc = np.zeros((h, w), np.uint8)
    for _ in range(3):
        cx, cy = int(rng.integers(w // 4, 3 * w // 4)), int(rng.integers(h // 4, 3 * h // 4))
        r = int(rng.integers(max(3, min(h, w) // 8), max(4, min(h, w) // 4)))
        cv2.ellipse(cyt, (cx, cy), (r, int(r * 0.8)), 0, 0, 360, 255, -1)
        cv2.circle(nuc, (cx, cy), max(1, r // 3), 255, -1)
    img[cyt > 0] = (120, 170, 190)
    img[nuc > 0] = (60, 40, 120)
    return img, cyt, nuc


@pytest.fixture
def make_masks_folder() -> Callable[..., Path]:
    """Factory writing a ``masks`` format folder of ``n`` toy fields of ``size``x``size``."""

    def make(root: Path, n: int = 4, size: int = 48, seed: int = 0) -> Path:
        rng = np.random.default_rng(seed)
        for i in range(n):
            img, cyt, nuc = cell_sample(rng, size, size + 8)
            write_image(root / "images" / f"f{i:03d}.png", img)
            write_image(root / "masks" / "cytoplasm" / f"f{i:03d}.png", cyt)
            write_image(root / "masks" / "nucleus" / f"f{i:03d}.png", nuc)
        return root

    return make


@pytest.fixture
def make_classes_folder() -> Callable[..., Path]:
    """Factory writing a ``classes`` folder ``root/crops`` + masks root ``root/crops_masks``.

    ``per_class`` crops per SIPaKMeD class, ``per_group`` consecutive crops share a group
    (listed in ``crops/groups.csv``). Returns ``root``.
    """
    from cervix.core.labels import SIPAKMED_CLASSES

    def make(root: Path, per_class: int = 6, per_group: int = 2, size: int = 40, seed: int = 0,
             groups_csv: bool = True) -> Path:
        rng = np.random.default_rng(seed)
        rows = ["path,group"]
        for c in SIPAKMED_CLASSES:
            for i in range(per_class):
                img, cyt, nuc = cell_sample(rng, size, size)
                stem = f"c{i:02d}"
                write_image(root / "crops" / c / f"{stem}.png", img)
                write_image(root / "crops_masks" / "cytoplasm" / c / f"{stem}.png", cyt)
                write_image(root / "crops_masks" / "nucleus" / c / f"{stem}.png", nuc)
                rows.append(f"{c}/{stem}.png,field_{c[:4]}_{i // per_group}")
        if groups_csv:
            (root / "crops" / "groups.csv").write_text("\n".join(rows) + "\n")
        return root

    return make
