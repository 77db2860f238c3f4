"""Classifier training, k-fold cross-validation, loading and the crop-prediction pipeline.

Real (tiny) training throughout: convnext_atto, 32 px crops cut from 4 generated fields + the
crops' own fields (6 groups, 30 crops), one epoch.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
from helpers import FAST, write_image

from cervix.stages.classification import (
    load_classifier,
    train_classifier,
)
from cervix.stages.pipeline import predict_crops


@pytest.fixture(scope="module")
def run5(synth, tmp_path_factory) -> tuple[Path, dict]:
    out = tmp_path_factory.mktemp("runs") / "cls5"
    res = train_classifier(
        synth / "crops", masks=synth / "crops_masks", out=out, profile="smoke", overrides=FAST, progress=False
    )
    return out, res


# ------------------------------------------------------------------------------------ predict
SIZE = {"measure": "nucleus_diameter", "nucleus_diameter": 20.0, "cell_diameter": 50.0, "n_nuclei": 9, "n_cells": 9}


def _seg_run(synth, tmp_path, cell_size: dict | None = SIZE) -> Path:
    """An (untrained) segmentation run as cervix.stages.segmentation.load_segmentation reads it
    (``cell_size`` None: a run trained before cervix stored the training cell size)."""
    from cervix.models.networks import DualHeadAttConvNeXtUNet
    from cervix.training.checkpoints import save_checkpoint

    seg = tmp_path / ("seg" if cell_size else "seg_old")
    if not (seg / "best.pt").is_file():
        torch.manual_seed(0)
        unet = DualHeadAttConvNeXtUNet("convnext_atto", decoder_channels=(32, 16, 8))
        save_checkpoint(
            seg / "best.pt",
            {
                "model": unet.state_dict(),
                "config": {
                    "task": "segmentation",
                    "encoder": "convnext_atto",
                    "decoder_channels": [32, 16, 8],
                    "tile": 64,
                    "overlap": 0.25,
                    "scale": 1.0,
                    "thresholds": [0.5, 0.5],
                    "min_nucleus_score": 0.0,  # untrained: no nucleus would pass a score
                    "amp": "none",
                    **({"cell_size": cell_size} if cell_size else {}),
                },
            },
        )
    return seg


def test_predict_crops_one_row_per_image(run5, synth, tmp_path):
    seg = _seg_run(synth, tmp_path)
    images = tmp_path / "images"
    chosen = sorted((synth / "crops").rglob("*.png"))[::6]  # 5 crops, one per class
    for p in chosen:
        (images / p.parent.name).mkdir(parents=True, exist_ok=True)
        shutil.copy(p, images / p.parent.name / p.name)
    (images / "notes.txt").write_text("not an image")
    out = tmp_path / "pred"
    df = predict_crops(seg, run5[0], images, out, progress=False)
    names = load_classifier(run5[0])[1]["class_names"]
    assert len(df) == len(chosen) == len(pd.read_csv(out / "predictions.csv"))
    assert sorted(df["file"]) == sorted(f"{p.parent.name}/{p.name}" for p in chosen)
    assert list(df.columns[:3]) == ["file", "predicted_class", "confidence"]
    probs = df[[f"prob_{c}" for c in names]].to_numpy()
    np.testing.assert_allclose(probs.sum(1), 1.0, atol=1e-6)
    assert (df["predicted_class"] == [names[i] for i in probs.argmax(1)]).all()
    cyto = df["cell_area"] - df["nucleus_area"]
    assert (df["cytoplasm_area"] == cyto).all()
    ok = cyto > 0
    np.testing.assert_allclose(df.loc[ok, "nc_ratio"], df.loc[ok, "nucleus_area"] / cyto[ok])
    for f in df["file"]:  # outputs keep the input's extension: x.png -> x.png.png
        assert (out / "overlays" / f"{f}.png").is_file()
        assert (out / "masks" / "cytoplasm" / f"{f}.png").is_file() and (
            out / "masks" / "nucleus" / f"{f}.png"
        ).is_file()
    # the areas are those of the written masks
    from cervix.data.decode import load_mask

    first = df.iloc[0]
    assert (load_mask(out / "masks" / "nucleus" / f"{first['file']}.png") > 0).sum() == first["nucleus_area"]
    json.dumps(df.to_dict())  # plain values


def test_predict_goes_on_past_a_bad_file_and_keeps_extensions(run5, synth, tmp_path, capsys):
    """One unreadable crop is listed, not fatal; x.png and x.jpg get their own outputs."""
    import cv2

    from cervix.cli import main

    src = tmp_path / "crops"
    src.mkdir()
    crop = next((synth / "crops").rglob("*.png"))
    shutil.copy(crop, src / "x.png")
    cv2.imwrite(str(src / "x.jpg"), cv2.imread(str(crop)))
    (src / "broken.png").write_bytes(b"not a png")
    (src / ".hidden.png").write_bytes(b"x")
    out = tmp_path / "pred"
    assert (
        main(
            [
                "predict",
                "--seg",
                str(_seg_run(synth, tmp_path)),
                "--cls",
                str(run5[0]),
                "--images",
                str(src),
                "--out",
                str(out),
            ]
        )
        == 0
    )
    printed = capsys.readouterr().out
    assert "1 failed" in printed and f"2 file(s) used, 2 skipped: see {out / 'skipped.csv'}" in printed
    skipped = pd.read_csv(out / "skipped.csv")
    assert sorted(Path(p).name for p in skipped["path"]) == [".hidden.png", "broken.png"]
    df = pd.read_csv(out / "predictions.csv")
    assert sorted(df["file"]) == ["x.jpg", "x.png"]
    for f in ("x.jpg.png", "x.png.png"):
        assert (out / "overlays" / f).is_file() and (out / "masks" / "nucleus" / f).is_file()
    assert list(pd.read_csv(out / "errors.csv")["file"]) == ["broken.png"]
    # an output below a regular file cannot be written: refused before any inference
    (tmp_path / "afile").write_text("x")
    assert (
        main(
            [
                "predict",
                "--seg",
                str(_seg_run(synth, tmp_path)),
                "--cls",
                str(run5[0]),
                "--images",
                str(src),
                "--out",
                str(tmp_path / "afile" / "out"),
            ]
        )
        == 2
    )
    assert "cannot write to the output folder" in capsys.readouterr().err


def test_analyze_writes_the_layout_and_one_row_per_cell(run5, synth, tmp_path):
    from cervix.stages.pipeline import analyze, load_field_analysis, load_mask_labels

    seg = _seg_run(synth, tmp_path)
    fields = sorted((synth / "fields" / "images").glob("*.png"))[:2]
    (tmp_path / "fields").mkdir()
    for p in fields:
        shutil.copy(p, tmp_path / "fields" / p.name)
    (tmp_path / "fields" / "broken.png").write_bytes(b"not a png")
    out = tmp_path / "analysis"
    with pytest.warns(UserWarning, match="1 of 3 images failed"):
        res = analyze(seg, run5[0], tmp_path / "fields", out, min_area=20, progress=False)
    names = load_classifier(run5[0])[1]["class_names"]
    cells = pd.read_csv(out / "cells.csv")
    summary = pd.read_csv(out / "summary.csv")
    assert list(summary["image"]) == [p.name for p in fields] and len(res["errors"]) == 1
    assert list(summary["size_source"]) == ["run"] * len(fields) and (summary["scale_used"] == 1.0).all()
    assert "broken.png" in (out / "errors.csv").read_text() and "broken.png" in (out / "skipped.csv").read_text()
    for p in fields:
        labels = load_mask_labels(out / "instances" / f"{p.name}.png")
        nuclei = load_mask_labels(out / "nuclei" / f"{p.name}.png")
        ids = sorted(int(i) for i in np.unique(labels) if i)
        mine = cells[cells["image"] == p.name]
        assert sorted(mine["cell_id"]) == ids  # one row per predicted cell
        assert set(np.unique(nuclei)) <= set(ids) | {0}
        assert (out / "overlays" / f"{p.name}.png").is_file()
        assert int(summary.loc[summary["image"] == p.name, "n_cells"].iloc[0]) == len(ids)
        assert sum(int(summary.loc[summary["image"] == p.name, f"n_{c}"].iloc[0]) for c in names) == len(ids)
    assert list(cells.columns[:4]) == ["image", "cell_id", "predicted_class", "confidence"]
    if len(cells):
        np.testing.assert_allclose(cells[[f"prob_{c}" for c in names]].sum(axis=1), 1.0, atol=1e-6)
        image, inst, rows = load_field_analysis(out, tmp_path / "fields", fields[0].name)
        assert image.shape[:2] == inst.cells.shape and len(rows) == inst.n
    _check_exports(out, cells, fields)
    from cervix.stages.pipeline import read_back_exports

    for p in fields:
        back = read_back_exports(out, p.name)
        assert list(back.index) == ["geojson", "coco"] and back["nucleus mask equal"].all()
        assert (back["smallest cell IoU"] == 1.0).all()
        assert (back["cells read"] == back["cells written"]).all()


def _check_exports(out: Path, cells: pd.DataFrame, fields: list[Path]) -> None:
    """One GeoJSON feature and one COCO annotation per row of cells.csv, with its id and class."""
    coco = json.loads((out / "cells_coco.json").read_text())
    assert [im["file_name"] for im in coco["images"]] == [p.name for p in fields]
    assert [(a["cell_id"], a["image_id"]) for a in coco["annotations"]] == [
        (int(r.cell_id), [p.name for p in fields].index(r.image) + 1) for r in cells.itertuples()
    ]
    for p in fields:
        doc = json.loads((out / "geojson" / f"{p.name}.geojson").read_text())
        mine = cells[cells["image"] == p.name]
        assert [int(f["properties"]["metadata"]["cell_id"]) for f in doc["features"]] == list(mine["cell_id"])
        assert [f["properties"]["classification"]["name"] for f in doc["features"]] == list(mine["predicted_class"])


def test_analyze_refuses_an_earlier_analysis_and_overwrite_removes_only_its_own(run5, synth, tmp_path, capsys):
    from cervix.cli import main
    from cervix.stages.pipeline import ANALYZE_OUTPUTS, analyze
    from cervix.training.rundir import RunExistsError

    seg = _seg_run(synth, tmp_path)
    (tmp_path / "fields").mkdir()
    shutil.copy(sorted((synth / "fields" / "images").glob("*.png"))[0], tmp_path / "fields" / "a.png")
    out = tmp_path / "analysis"
    analyze(seg, run5[0], tmp_path / "fields", out, progress=False)
    (out / "notes.txt").write_text("mine")
    before = (out / "cells.csv").read_bytes()
    with pytest.raises(RunExistsError, match=r"already holds an analysis \(cells.csv, cells_coco.json, geojson/"):
        analyze(seg, run5[0], tmp_path / "fields", out, progress=False)
    assert (out / "cells.csv").read_bytes() == before
    (out / "geojson" / "stale.png.geojson").write_text("{}")
    analyze(seg, run5[0], tmp_path / "fields", out, progress=False, overwrite=True)
    assert (out / "notes.txt").read_text() == "mine" and not (out / "geojson" / "stale.png.geojson").exists()
    assert {p.name for p in out.iterdir()} <= set(ANALYZE_OUTPUTS) | {"notes.txt"}
    args = ["analyze", "--seg", str(seg), "--cls", str(run5[0]), "--images", str(tmp_path / "fields"), "--out"]
    assert main([*args, str(out)]) == 2
    assert "already holds an analysis" in capsys.readouterr().err
    assert main([*args, str(out), "--overwrite"]) == 0
    capsys.readouterr()
    for bad, why in (("-5", "above 0"), ("abc", "a number of pixels"), ("2.5", "whole number"), ("0", "above 0")):
        assert main([*args, str(tmp_path / "other"), "--min-area", bad]) == 2
        err = capsys.readouterr().err
        assert f"--min-area must be {'a whole' if why != 'a number of pixels' else 'a number'}" in err
        assert why in err and len(err.strip().splitlines()) == 1
    assert not (tmp_path / "other").exists()  # refused before anything is written


def test_evaluate_instances_on_cells_read_back_from_geojson_equals_the_label_maps(run5, synth, tmp_path):
    """evaluate --instances against the cells of an analysis: its uint16 label maps (masks format)
    and its QuPath GeoJSON (geojson format) give the same numbers."""
    from cervix.data.decode import load_image
    from cervix.stages.pipeline import analyze, load_mask_labels
    from cervix.stages.segmentation import evaluate_segmentation

    seg = _seg_run(synth, tmp_path)
    fields = sorted((synth / "fields" / "images").glob("*.png"))[:3]
    gj, masks = tmp_path / "from_geojson", tmp_path / "from_labels"
    gj.mkdir()
    for p in fields:
        shutil.copy(p, gj / p.name)
    out = tmp_path / "analysis"
    cells = analyze(seg, run5[0], gj, out, min_area=20, progress=False)["cells"]
    assert len(cells) > 0
    for p in fields:
        shutil.copy(out / "geojson" / f"{p.name}.geojson", gj / f"{p.name}.geojson")
        labels, nuclei = (
            load_mask_labels(out / "instances" / f"{p.name}.png"),
            load_mask_labels(out / "nuclei" / f"{p.name}.png"),
        )
        write_image(masks / "images" / p.name, load_image(p))
        write_image(masks / "masks" / "cytoplasm" / p.name, np.where(labels > 0, 255, 0).astype(np.uint8))
        write_image(masks / "masks" / "nucleus" / p.name, np.where(nuclei > 0, 255, 0).astype(np.uint8))
        write_image(masks / "masks" / "instances" / p.name, labels)
    kw = dict(split="all", instances=True, n_boot=50, progress=False)
    a = evaluate_segmentation(seg, data=masks, fmt="masks", out=tmp_path / "ev_masks", **kw)
    b = evaluate_segmentation(seg, data=gj, fmt="geojson", out=tmp_path / "ev_geojson", **kw)
    keys = [k for k, v in a["instances"].items() if isinstance(v, float)]
    assert len(keys) >= 8 and a["n_images"] == b["n_images"] == 3
    assert {k: round(a["instances"][k], 3) for k in keys} == {k: round(b["instances"][k], 3) for k in keys}
    for k in ("dice_cytoplasm", "dice_nucleus"):
        assert a[k] == pytest.approx(b[k], abs=1e-9)


def test_predict_keeps_the_centre_cell_instance_at_the_estimated_size(run5, synth, tmp_path, monkeypatch):
    # predict segments each crop through inference.sizing.sized_masks: centre instance, size "auto"
    from cervix.stages import pipeline

    seen = []
    real = pipeline.sized_masks

    def spy(*args, **kw):
        seen.append((kw["single_cell"], kw["diameter"], kw["cell_size"]))
        return real(*args, **kw)

    monkeypatch.setattr(pipeline, "sized_masks", spy)
    images = tmp_path / "images"
    images.mkdir()
    for p in sorted((synth / "crops").rglob("*.png"))[:2]:
        shutil.copy(p, images / p.name)
    df = predict_crops(_seg_run(synth, tmp_path), run5[0], images, tmp_path / "pred", progress=False)
    assert seen == [(True, "auto", SIZE)] * 2
    assert set(df["size_source"]) <= {"auto", "auto: no nucleus found"} and (df["scale_used"] > 0).all()
    # a given diameter sets the scale: training cell diameter / given
    df = predict_crops(_seg_run(synth, tmp_path), run5[0], images, tmp_path / "pred2", progress=False, cell_diameter=25)
    assert list(df["size_source"]) == ["given"] * 2 and np.allclose(df["scale_used"], 50.0 / 25)
    with pytest.raises(ValueError, match="--cell-diameter must be a positive number"):
        predict_crops(_seg_run(synth, tmp_path), run5[0], images, tmp_path / "pred3", cell_diameter="0")
    assert not (tmp_path / "pred3").exists()  # refused before anything is written


def test_a_run_without_a_cell_size_falls_back_to_the_four_scales_with_a_warning(run5, synth, tmp_path):
    images = tmp_path / "images"
    images.mkdir()
    shutil.copy(sorted((synth / "crops").rglob("*.png"))[0], images / "a.png")
    with pytest.warns(UserWarning, match="stores no training cell size"):
        df = predict_crops(_seg_run(synth, tmp_path, None), run5[0], images, tmp_path / "pred", progress=False)
    assert list(df["size_source"]) == ["multi-scale"] and df["scale_used"].isna().all()


def _with_cell_head(seg: Path, threshold: float = 0.5) -> Path:
    """Give an (untrained) segmentation run an (untrained) cell head in ``cells/``."""
    from cervix.stages.cellhead import build_cell_model
    from cervix.training.checkpoints import save_checkpoint

    cfg = {"task": "cells", "encoder": "convnext_atto", "decoder_channels": [32, 16, 8], "in_chans": 5}
    cfg.update(window=96, image_size=64, threshold=threshold, amp="none", scale=1.0)
    torch.manual_seed(1)
    save_checkpoint(seg / "cells" / "best.pt", {"model": build_cell_model(cfg).state_dict(), "config": cfg})
    return seg


def test_analyze_field_gives_the_cell_head_tta_and_the_final_scale(monkeypatch):
    import cervix.stages.pipeline as P

    class Stop(Exception):
        pass

    probs = np.zeros((2, 64, 64), np.float32)
    probs[:, 20:40, 20:40] = 1.0  # one cell, its nucleus the same square
    seen = []
    monkeypatch.setattr(P, "sized_probabilities", lambda *a, **k: (probs, {"scale": 0.5}))
    monkeypatch.setattr(P, "predict_whole_cells", lambda head, cfg, *a: seen.append(cfg) or (_ for _ in ()).throw(Stop))
    image = np.zeros((64, 64, 3), np.uint8)
    for tta in (False, True):
        with pytest.raises(Stop):
            P.analyze_field(None, {}, None, {"class_names": ["a"]}, image, tta=tta, cell_head=("head", {"window": 96}))
    assert [c["tta"] for c in seen] == [False, True] and all(c["scale"] == 0.5 and c["window"] == 96 for c in seen)


def test_analyze_with_a_cell_head_keeps_whole_overlapping_cells(run5, synth, tmp_path, monkeypatch):
    """With RUN/cells/ each cell is its whole mask: measured, cut, exported and read back whole;
    overlaps.csv lists the pairs; the label maps stay the partition."""
    import cervix.stages.pipeline as P
    from cervix.data.decode import load_image, load_mask
    from cervix.stages.pipeline import analyze, load_field_analysis, load_mask_labels, read_back_exports

    truth = {  # the first model answers with the true union masks, so the partition has many cells
        load_image(p).tobytes(): np.stack(
            [load_mask(synth / "fields" / "masks" / h / p.name, None) / 255.0 for h in ("cytoplasm", "nucleus")]
        )
        for p in sorted((synth / "fields" / "images").glob("*.png"))[:2]
    }
    monkeypatch.setattr(P, "sized_probabilities", lambda m, image, *a, **k: (truth[image.tobytes()], {"scale": 1.0}))
    seg = _with_cell_head(_seg_run(synth, tmp_path), threshold=0.0)  # every window pixel: wide cells
    fields = sorted((synth / "fields" / "images").glob("*.png"))[:2]
    (tmp_path / "fields").mkdir()
    for p in fields:
        shutil.copy(p, tmp_path / "fields" / p.name)
    out = tmp_path / "analysis"
    res = analyze(seg, run5[0], tmp_path / "fields", out, min_area=20, progress=False)
    cells, summary = res["cells"], res["summary"]
    assert (summary["cell_masks"] == "whole").all() and len(cells) > 0
    overlaps = pd.read_csv(out / "overlaps.csv")
    assert list(overlaps.columns) == ["image", "cell_a", "cell_b", "shared_px", "fraction_a", "fraction_b"]
    for p in fields:
        image, inst, rows = load_field_analysis(out, tmp_path / "fields", p.name)
        labels = load_mask_labels(out / "instances" / f"{p.name}.png")
        assert inst.whole is not None and np.array_equal(inst.cells, labels)
        mine = cells[cells["image"] == p.name].set_index("cell_id")
        for k, c in inst.cell_masks.items():
            assert mine.loc[k, "cell_area"] == c.area  # measured on the whole cell read back from COCO
            assert mine.loc[k, "visible_area"] == (labels == k).sum()  # its part of the partition
        back = read_back_exports(out, p.name)
        assert (back["smallest cell IoU"] == 1.0).all() and (back["cells read"] == len(inst.cell_masks)).all()
        ov = overlaps[overlaps["image"] == p.name]
        for r in ov.itertuples():
            a, b = inst.cell_masks[r.cell_a], inst.cell_masks[r.cell_b]
            shared = (a.full(labels.shape) & b.full(labels.shape)).sum()
            assert r.shared_px == shared and r.fraction_a == pytest.approx(shared / a.area)
    assert len(overlaps) > 0  # the wide cells of an untrained head overlap somewhere
    assert (cells["cell_area"] >= cells["visible_area"]).mean() > 0.5
