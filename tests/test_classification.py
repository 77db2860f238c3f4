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

from cervix.stages.classification import class_weights, cls_config, load_classifier, predict_logits, read_cls_records, train_classifier, validate_classifier
from cervix.training.checkpoints import load_checkpoint
from cervix.core.labels import GROUPINGS, SIPAKMED_CLASSES
from cervix.stages.pipeline import predict_crops
from cervix.training.rundir import fold_dirs
from cervix.data.splits import load_split

FAST = dict(encoder="convnext_atto", image_size=32, epochs=1, batch_size=8, amp="none")


@pytest.fixture(scope="module")
def synth(tmp_path_factory) -> Path:
    from cervix.synthetic.fields import generate

    root = tmp_path_factory.mktemp("synth")
    generate(root, seed=0, n_fields=4, n_crops=30, size=64, field_size=256, progress=False)
    return root


@pytest.fixture(scope="module")
def run5(synth, tmp_path_factory) -> tuple[Path, dict]:
    out = tmp_path_factory.mktemp("runs") / "cls5"
    res = train_classifier(synth / "crops", masks=synth / "crops_masks", out=out, profile="smoke",
                           overrides=FAST, progress=False)
    return out, res


def _groups(split: dict, records, part: str) -> set[str]:
    return {records[i].group for i in split[part]}


# ------------------------------------------------------------------------------------ config/data
def test_none_overrides_switch_a_setting_off():
    from cervix.stages.segmentation import seg_config

    assert cls_config("paper").early_stopping_patience is not None
    assert cls_config("paper", {"early_stopping_patience": None}).early_stopping_patience is None
    assert cls_config("paper", {"max_train_minutes": None}).max_train_minutes is None
    assert seg_config("cpu").max_train_minutes is not None
    cfg = seg_config("cpu", {"early_stopping_patience": None, "max_train_minutes": None})
    assert cfg.early_stopping_patience is None and cfg.max_train_minutes is None
    with pytest.raises(TypeError, match="unknown segmentation setting"):
        seg_config("cpu", {"epochz": 3})
    with pytest.raises(TypeError, match="epochs cannot be None"):
        seg_config("cpu", {"epochs": None})


def test_class_weights_are_inverse_frequency():
    w = class_weights([0, 0, 0, 1], 3)  # N=4, K=3: 4/(3*3), 4/(3*1), absent class -> 0
    assert torch.allclose(w, torch.tensor([4 / 9, 4 / 3, 0.0]))


def test_cls_config_overrides_and_errors():
    cfg = cls_config("smoke", {"epochs": 3, "grouping": 3})
    assert cfg.epochs == 3 and cfg.grouping == "3" and cfg.lr == cls_config("smoke").lr
    with pytest.raises(TypeError, match="lr cannot be None"):
        cls_config("smoke", {"lr": None})
    with pytest.raises(TypeError, match="unknown classifier setting"):
        cls_config("smoke", {"epochz": 3})
    with pytest.raises(ValueError, match="in_chans"):
        cls_config("smoke", {"in_chans": 4})


def test_grouping_3_maps_labels(synth):
    five = read_cls_records(synth / "crops", "classes", synth / "crops_masks")
    three = read_cls_records(synth / "crops", "classes", synth / "crops_masks", grouping="3")
    assert [r.path for r in five] == [r.path for r in three]
    for a, b in zip(five, three):
        assert b.label == GROUPINGS["3"][a.label]
    assert {r.label for r in five} == set(SIPAKMED_CLASSES)
    assert {r.label for r in three} == {"normal", "benign", "abnormal"}


def test_unlabelled_format_is_refused(synth):
    with pytest.raises(ValueError, match="no class labels"):
        read_cls_records(synth / "fields", "masks")


# ------------------------------------------------------------------------------------ training
def test_train_5_channels_writes_run(run5, synth):
    out, res = run5
    for name in ("best.pt", "last.pt", "split.json", "history.csv", "config.json"):
        assert (out / name).is_file(), name
    ck = load_checkpoint(out / "best.pt")  # weights_only
    cfg = ck["config"]
    assert cfg["task"] == "classification"
    assert cfg["class_names"] == list(SIPAKMED_CLASSES) == res.class_names
    assert cfg["in_chans"] == 5 and cfg["image_size"] == 32 and cfg["encoder"] == "convnext_atto"
    assert cfg["normalisation"]["mean"] == [0.485, 0.456, 0.406]
    assert cfg["grouping"] is None and cfg["format"] == "classes"
    assert Path(cfg["masks"]) == (synth / "crops_masks").resolve()
    assert Path(cfg["split_path"]) == (out / "split.json").resolve()
    assert ck["model"]["backbone.stem.0.weight"].shape[1] == 5
    hist = pd.read_csv(out / "history.csv")
    assert {"train_loss", "val_loss", "val_accuracy", "val_f1_macro"} <= set(hist.columns)
    assert len(hist) == 1 and res.best_epoch == 1

    records = read_cls_records(synth / "crops", "classes", synth / "crops_masks")
    split = load_split(out / "split.json", records)
    assert sorted(split["train"] + split["val"] + split["test"]) == list(range(len(records)))
    assert split["val"] and split["test"]
    for a, b in (("train", "val"), ("train", "test"), ("val", "test")):
        assert not _groups(split, records, a) & _groups(split, records, b)

    model, loaded = load_classifier(out)
    assert loaded["checkpoint"] == str(out / "best.pt") and not model.training


def test_train_3_channels_grouping_3_reuses_split(run5, synth, tmp_path):
    out5, _ = run5
    out3 = tmp_path / "cls3"
    res = train_classifier(synth / "crops", masks=None, out=out3, profile="smoke",
                           overrides={**FAST, "in_chans": 3, "grouping": "3"}, split=out5 / "split.json",
                           progress=False)
    assert res.class_names == ["normal", "benign", "abnormal"]
    ck = load_checkpoint(out3 / "best.pt")
    assert ck["config"]["in_chans"] == 3 and ck["config"]["masks"] is None and ck["config"]["grouping"] == "3"
    assert ck["model"]["backbone.stem.0.weight"].shape[1] == 3
    assert ck["model"]["classifier.weight"].shape[0] == 3
    for name in ("best.pt", "split.json", "history.csv"):
        assert (out3 / name).is_file()
    records = read_cls_records(synth / "crops", "classes")
    assert load_split(out3 / "split.json", records) == load_split(out5 / "split.json", records)


def test_5_channels_without_masks_is_a_clear_error(synth, tmp_path):
    with pytest.raises(ValueError, match="masks"):
        train_classifier(synth / "crops", masks=None, out=tmp_path / "x", profile="smoke", overrides=FAST,
                         progress=False)


def test_kfold_run(synth, tmp_path):
    out = tmp_path / "kfold"
    res = train_classifier(synth / "crops", masks=synth / "crops_masks", out=out, profile="smoke",
                           overrides={**FAST, "folds": 3}, progress=False)
    records = read_cls_records(synth / "crops", "classes", synth / "crops_masks")
    assert [d.name for d in fold_dirs(out)] == ["fold_0", "fold_1", "fold_2"]
    tests = []
    for k in range(3):
        fold = out / f"fold_{k}"
        for name in ("best.pt", "last.pt", "split.json", "history.csv"):
            assert (fold / name).is_file()
        split = load_split(fold / "split.json", records)
        assert sorted(split["train"] + split["val"] + split["test"]) == list(range(len(records)))
        for a, b in (("train", "val"), ("train", "test"), ("val", "test")):
            assert not _groups(split, records, a) & _groups(split, records, b), (k, a, b)
        assert load_checkpoint(fold / "best.pt")["config"]["fold"] == k
        tests += split["test"]
    assert sorted(tests) == list(range(len(records)))  # the test parts partition the data

    oof = pd.read_csv(out / "oof_predictions.csv")
    assert sorted(oof["path"]) == sorted(r.path for r in records)  # every crop exactly once
    assert set(oof["fold"]) == {0, 1, 2}
    probs = oof[[f"prob_{c}" for c in res.class_names]].to_numpy()
    np.testing.assert_allclose(probs.sum(1), 1.0, atol=1e-6)
    assert res.oof_accuracy == pytest.approx(float((oof["true"] == oof["pred"]).mean()))
    assert set(load_split(out / "split.json", records)) == {f"fold_{k}_{p}" for k in range(3)
                                                            for p in ("train", "val", "test")}
    # a k-fold split cannot drive a single run, nor a single split k folds
    with pytest.raises(ValueError, match="k-fold split"):
        train_classifier(synth / "crops", masks=synth / "crops_masks", out=tmp_path / "y", profile="smoke",
                         overrides=FAST, split=out / "split.json", progress=False)
    with pytest.raises(ValueError, match="cannot define"):
        train_classifier(synth / "crops", masks=synth / "crops_masks", out=tmp_path / "z", profile="smoke",
                         overrides={**FAST, "folds": 3}, split=out / "fold_0" / "split.json", progress=False)


def test_predict_logits_tta_and_validation_metrics(run5, synth):
    from cervix.data.datasets import ClassificationDataset
    from cervix.training.sampling import make_loader

    out, res = run5
    model, cfg = load_classifier(out)
    records = read_cls_records(synth / "crops", "classes", synth / "crops_masks")[:6]
    ds = ClassificationDataset(records, cfg["class_names"], 32, 5, None, train=False)
    loader = make_loader(ds, 4, shuffle=False)
    logits, y = predict_logits(model, loader)
    assert logits.shape == (6, 5) and logits.dtype == np.float32 and y.tolist() == ds.targets
    tta, _ = predict_logits(model, loader, tta=True)
    manual = np.mean([predict_logits(_Flip(model, d), loader)[0] for d in ((), (-1,), (-2,))], axis=0)
    np.testing.assert_allclose(tta, manual, atol=1e-5)
    m = validate_classifier(model, loader)
    assert set(m) == {"val_loss", "val_accuracy", "val_f1_macro"}
    assert m["val_accuracy"] == pytest.approx(float(np.mean(logits.argmax(1) == y)))
    ce = torch.nn.functional.cross_entropy(torch.from_numpy(logits), torch.from_numpy(y))
    assert m["val_loss"] == pytest.approx(float(ce), rel=1e-5)


class _Flip(torch.nn.Module):
    """The wrapped model applied to a flipped input (to check TTA by hand)."""

    def __init__(self, model: torch.nn.Module, dims: tuple[int, ...]):
        super().__init__()
        self.model, self.dims = model, dims
        self.classifier = model.classifier

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.model(x.flip(self.dims) if self.dims else x)


# ------------------------------------------------------------------------------------ predict
def _seg_run(synth, tmp_path) -> Path:
    """An (untrained) segmentation run as cervix.stages.segmentation.load_segmentation reads it."""
    from cervix.training.checkpoints import save_checkpoint
    from cervix.models.networks import DualHeadAttConvNeXtUNet

    seg = tmp_path / "seg"
    if not (seg / "best.pt").is_file():
        torch.manual_seed(0)
        unet = DualHeadAttConvNeXtUNet("convnext_atto", decoder_channels=(32, 16, 8))
        save_checkpoint(seg / "best.pt", {"model": unet.state_dict(), "config": {
            "task": "segmentation", "encoder": "convnext_atto", "decoder_channels": [32, 16, 8], "tile": 64,
            "overlap": 0.25, "scale": 1.0, "thresholds": [0.5, 0.5], "amp": "none"}})
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
        assert (out / "masks" / "cytoplasm" / f"{f}.png").is_file() and (out / "masks" / "nucleus" / f"{f}.png").is_file()
    # the areas are those of the written masks
    from cervix.data.decode import load_mask

    first = df.iloc[0]
    assert (load_mask(out / "masks" / "nucleus" / f"{first['file']}.png") > 0).sum() == first["nucleus_area"]
    json.dumps(df.to_dict())  # plain values


def test_cli_classify_herlev_two_class_grouping(synth, tmp_path, capsys):
    """Herlev's class folders under --grouping 2 (normal_* vs dysplasia/carcinoma)."""
    from cervix.cli import main
    from cervix.core.labels import HERLEV_CLASSES

    crops = sorted((synth / "crops").rglob("*.png"))
    root = tmp_path / "herlev"
    for i, src in enumerate(crops[:28]):
        dst = root / HERLEV_CLASSES[i % 7] / f"{i:03d}.png"
        dst.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(src, dst)
    out = tmp_path / "run"
    assert main(["classify", "--data", str(root), "--out", str(out), "--in-chans", "3", "--grouping", "2",
                 "--profile", "smoke", "--image-size", "32", "--epochs", "1", "--amp", "none"]) == 0
    cfg = json.loads((out / "config.json").read_text())
    assert cfg["class_names"] == ["normal", "abnormal"] and cfg["grouping"] == "2"


def test_checkpoint_config_that_does_not_fit_its_weights(run5, tmp_path, capsys):
    """A config edited after training, or one missing a key: one error naming the file."""
    from cervix.cli import main
    from cervix.training.checkpoints import CheckpointError, save_checkpoint

    ck = load_checkpoint(run5[0] / "best.pt")
    bad = dict(ck, config={**ck["config"], "model": {**ck["config"]["model"], "hidden_dim": 8}})
    path = save_checkpoint(tmp_path / "edited.pt", bad)
    with pytest.raises(CheckpointError, match="edited.pt.*do not fit.*first: ") as e:
        load_classifier(path)
    assert len(str(e.value).splitlines()) == 1
    cfg = dict(ck["config"])
    del cfg["model"]
    path = save_checkpoint(tmp_path / "nokey.pt", dict(ck, config=cfg))
    with pytest.raises(CheckpointError, match="nokey.pt.*lacks 'model'"):
        load_classifier(path)
    assert main(["evaluate", "--checkpoint", str(tmp_path / "edited.pt"), "--out", str(tmp_path / "e")]) == 2
    assert "edited.pt" in capsys.readouterr().err


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
    assert main(["predict", "--seg", str(_seg_run(synth, tmp_path)), "--cls", str(run5[0]), "--images", str(src),
                 "--out", str(out)]) == 0
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
    assert main(["predict", "--seg", str(_seg_run(synth, tmp_path)), "--cls", str(run5[0]), "--images", str(src),
                 "--out", str(tmp_path / "afile" / "out")]) == 2
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


def test_predict_keeps_the_centre_cell_instance(run5, synth, tmp_path, monkeypatch):
    # predict segments each crop through inference.single_cell_masks (the centre instance)
    from cervix.stages import pipeline

    seen = []
    real = pipeline.single_cell_masks

    def spy(*args, **kw):
        seen.append(1)
        return real(*args, **kw)

    monkeypatch.setattr(pipeline, "single_cell_masks", spy)
    images = tmp_path / "images"
    images.mkdir()
    for p in sorted((synth / "crops").rglob("*.png"))[:2]:
        shutil.copy(p, images / p.name)
    predict_crops(_seg_run(synth, tmp_path), run5[0], images, tmp_path / "pred", progress=False)
    assert len(seen) == 2
