"""Masks of a trained run (``cervix masks``, notebook 03): the classifier layout, QC, the cell size
used, agreement with true masks, tiled against whole-image inference, size examples."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from cervix.cli import main
from cervix.data.decode import load_mask
from cervix.stages import masks as M
from cervix.stages.segmentation import load_segmentation, run_records


@pytest.fixture(scope="module")
def run(seg_cli_run) -> dict[str, Path]:
    return seg_cli_run


def test_masks_writes_the_classifier_layout(run, tmp_path):
    out = tmp_path / "masks"
    crops = run["syn"] / "crops"
    assert (
        main(
            [
                "masks",
                "--checkpoint",
                str(run["run"] / "best.pt"),
                "--images",
                str(crops),
                "--out",
                str(out),
                "--single-cell",
                "--threshold",
                "0.4",
            ]
        )
        == 0
    )
    images = sorted(p for p in crops.rglob("*.png"))
    assert len(images) == 10
    for img in images:
        rel = img.relative_to(crops)
        for head in ("cytoplasm", "nucleus"):
            m = load_mask(out / head / rel)
            assert m.shape == (64, 64) and set(np.unique(m)) <= {0, 255}
    qc = json.loads((out / "qc.json").read_text())
    assert qc["n_written"] == 10 and qc["thresholds"] == [0.4, 0.4] and qc["single_cell"] is True
    # single-cell crops: the cell size estimated per crop by default, against the run's training size
    cfg = json.loads((run["run"] / "config.json").read_text())
    assert qc["cell_diameter"] == "auto" and qc["cell_size"] == cfg["cell_size"]
    assert cfg["cell_size"]["measure"] == "nucleus_diameter" and cfg["cell_size"]["nucleus_diameter"] > 0
    assert {r["size_source"] for r in qc["images"]} <= {"auto", "auto: no nucleus found"}
    assert all(r["scale_used"] > 0 for r in qc["images"])


def test_masks_cell_diameter_given_run_scale_and_bad_values(run, tmp_path, capsys):
    base = ["masks", "--checkpoint", str(run["run"]), "--images", str(run["syn"] / "crops")]
    assert main([*base, "--out", str(tmp_path / "given"), "--single-cell", "--cell-diameter", "40"]) == 0
    qc = json.loads((tmp_path / "given" / "qc.json").read_text())
    cell = qc["cell_size"]["cell_diameter"]
    assert {r["size_source"] for r in qc["images"]} == {"given"}
    assert all(r["scale_used"] == pytest.approx(cell / 40) for r in qc["images"])
    assert main([*base, "--out", str(tmp_path / "fields")]) == 0  # not single-cell: the run's scale
    qc = json.loads((tmp_path / "fields" / "qc.json").read_text())
    assert qc["cell_diameter"] is None and {r["size_source"] for r in qc["images"]} == {"run"}
    for bad in ("-5", "0", "abc"):
        capsys.readouterr()
        assert main([*base, "--out", str(tmp_path / bad), "--cell-diameter", bad]) == 2
        err = capsys.readouterr().err.strip()
        assert err.count("\n") == 0 and "--cell-diameter must be a positive number of pixels or 'auto'" in err
        assert not (tmp_path / bad).exists()


def test_masks_min_nucleus_score_leaves_out_nuclei(run, tmp_path):
    """`masks --min-nucleus-score` overrides the run's score (the smoke run's is 0): at 1 only a
    nucleus saturated throughout would stay, and a few-step model has fewer of them."""
    base = ["masks", "--checkpoint", str(run["run"]), "--images", str(run["syn"] / "fields" / "images")]
    kept = {}
    for score in ("0", "1"):
        assert main([*base, "--out", str(tmp_path / score), "--min-nucleus-score", score]) == 0
        kept[score] = sum(int((load_mask(p) > 127).sum()) for p in (tmp_path / score / "nucleus").rglob("*.png"))
    assert kept["0"] > 0 and kept["1"] < kept["0"]


def test_compare_mask_folders_perfect_and_wrong(run, tmp_path):
    truth = run["syn"] / "crops_masks"
    df = M.compare_mask_folders(truth, truth)
    assert len(df) == 10 and (df["dice_mean"] == 1.0).all()
    with pytest.raises(FileNotFoundError):
        M.compare_mask_folders(tmp_path, truth)


def test_tiled_vs_whole(run):
    model, cfg = load_segmentation(run["run"])
    val = run_records(run["run"], "val") or run_records(run["run"], "test")
    whole = M.tiled_vs_whole(model, cfg, val[:1])
    assert whole[["dice_cytoplasm", "dice_nucleus"]].to_numpy().min() >= 0.0


def test_size_examples_real_or_magnified_and_compare_sizes(run, monkeypatch, tmp_path):
    monkeypatch.setenv("CERVIX_REAL_SAMPLES", str(tmp_path / "none"))
    ex = M.size_examples(run["syn"] / "crops", n=2, magnify=3.0)
    assert [name.endswith("x3") for name, _ in ex] == [True, True]
    assert all(img.shape[0] == img.shape[1] == 192 for _, img in ex)  # 64 px crops magnified, squared
    model, cfg = load_segmentation(run["run"])
    rows = M.compare_sizes(model, cfg, ex)
    assert [r["name"] for r in rows] == [n for n, _ in ex]
    for r in rows:
        assert r["before"][2]["size_source"] == "run" and r["after"][2]["size_source"].startswith("auto")
        assert r["after"][0].shape == r["image"].shape[:2]
    with pytest.raises(FileNotFoundError, match="no real samples"):
        M.size_examples(None)


def test_size_examples_take_the_real_sipakmed_crops(real_samples, monkeypatch):
    monkeypatch.setenv("CERVIX_REAL_SAMPLES", str(real_samples))
    ex = M.size_examples(n=5)
    assert len(ex) == 5 and all(name.startswith("SIPaKMeD ") and img.ndim == 3 for name, img in ex)
