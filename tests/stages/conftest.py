"""Fixtures of the stage tests: one tiny segmentation run through the command line, shared by
test_segmentation.py and test_masks.py (real training: convnext_atto, 64 px patches, one epoch on
6 generated 256 px fields)."""

from __future__ import annotations

from pathlib import Path

import pytest

from cervix.cli import main


@pytest.fixture(scope="session")
def seg_cli_run(tmp_path_factory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("seg")
    assert (
        main(
            [
                "synth",
                "--out",
                str(root / "syn"),
                "--n-fields",
                "6",
                "--n-crops",
                "10",
                "--size",
                "64",
                "--field-size",
                "256",
            ]
        )
        == 0
    )
    assert (
        main(
            [
                "segment",
                "--data",
                str(root / "syn" / "fields"),
                "--format",
                "masks",
                "--out",
                str(root / "run"),
                "--profile",
                "smoke",
                "--epochs",
                "1",
                "--batch-size",
                "4",
                "--lr",
                "1e-3",
                "--image-size",
                "64",
                "--amp",
                "none",
                "--cell-image-size",
                "32",
            ]
        )
        == 0
    )
    return {"root": root, "run": root / "run", "syn": root / "syn"}
