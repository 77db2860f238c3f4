"""Shared pytest fixtures: the real-format samples and small generated datasets."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
from helpers import cell_sample, write_image

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

    def make(
        root: Path, per_class: int = 6, per_group: int = 2, size: int = 40, seed: int = 0, groups_csv: bool = True
    ) -> Path:
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


@pytest.fixture(scope="module")
def synth(tmp_path_factory) -> Path:
    """A tiny synthetic data set (4 fields of 256 px, 30 crops of 64 px), shared by the stage tests."""
    from cervix.synthetic.dataset import generate

    root = tmp_path_factory.mktemp("synth")
    generate(root, seed=0, n_fields=4, n_crops=30, size=64, field_size=256, progress=False)
    return root
