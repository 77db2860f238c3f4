"""Classifier training, k-fold cross-validation, loading and the crop-prediction pipeline.

Real (tiny) training throughout: convnext_atto, 32 px crops cut from 4 generated fields + the
crops' own fields (6 groups, 30 crops), one epoch.
"""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
from helpers import FAST

from cervix.core.labels import GROUPINGS, SIPAKMED_CLASSES
from cervix.data.splits import load_split
from cervix.stages.classification import (
    class_weights,
    cls_config,
    load_classifier,
    read_cls_records,
    train_classifier,
)
from cervix.training.checkpoints import load_checkpoint
from cervix.training.rundir import fold_dirs


@pytest.fixture(scope="module")
def run5(synth, tmp_path_factory) -> tuple[Path, dict]:
    out = tmp_path_factory.mktemp("runs") / "cls5"
    res = train_classifier(
        synth / "crops", masks=synth / "crops_masks", out=out, profile="smoke", overrides=FAST, progress=False
    )
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
    res = train_classifier(
        synth / "crops",
        masks=None,
        out=out3,
        profile="smoke",
        overrides={**FAST, "in_chans": 3, "grouping": "3"},
        split=out5 / "split.json",
        progress=False,
    )
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
        train_classifier(
            synth / "crops", masks=None, out=tmp_path / "x", profile="smoke", overrides=FAST, progress=False
        )


def test_kfold_run(synth, tmp_path):
    out = tmp_path / "kfold"
    res = train_classifier(
        synth / "crops",
        masks=synth / "crops_masks",
        out=out,
        profile="smoke",
        overrides={**FAST, "folds": 3},
        progress=False,
    )
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
    assert set(load_split(out / "split.json", records)) == {
        f"fold_{k}_{p}" for k in range(3) for p in ("train", "val", "test")
    }
    # a k-fold split cannot drive a single run, nor a single split k folds
    with pytest.raises(ValueError, match="k-fold split"):
        train_classifier(
            synth / "crops",
            masks=synth / "crops_masks",
            out=tmp_path / "y",
            profile="smoke",
            overrides=FAST,
            split=out / "split.json",
            progress=False,
        )
    with pytest.raises(ValueError, match="cannot define"):
        train_classifier(
            synth / "crops",
            masks=synth / "crops_masks",
            out=tmp_path / "z",
            profile="smoke",
            overrides={**FAST, "folds": 3},
            split=out / "fold_0" / "split.json",
            progress=False,
        )


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


def test_a_resumed_classifier_keeps_the_segmentation_only_augmentation_it_recorded(tmp_path):
    """A classifier run started when fade defaulted to 0 resumes under today's defaults: fade and
    grey only act in segmentation, so the run's recorded values are kept (before: refused)."""
    from cervix.core.config import to_dict
    from cervix.data.augment import AugmentConfig
    from cervix.stages.classification import _with_run_segmentation_fields
    from cervix.training.rundir import check_same_settings

    saved = {"augment": {**to_dict(AugmentConfig()), "grey": 0.25, "fade": 0.0}}
    fold = tmp_path / "fold_1"
    fold.mkdir()
    (fold / "config.json").write_text(json.dumps(saved))  # k-fold runs record it per fold
    with pytest.raises(ValueError, match="augment"):
        check_same_settings(tmp_path, saved, {"augment": to_dict(AugmentConfig(fade=0.5))})
    aug = _with_run_segmentation_fields(AugmentConfig(fade=0.5, rotate=30.0), tmp_path)
    assert aug.fade == 0.0 and aug.grey == 0.25 and aug.rotate == 30.0  # other fields as asked
    check_same_settings(tmp_path, saved, {"augment": to_dict(replace(aug, rotate=AugmentConfig().rotate))})
    assert _with_run_segmentation_fields(AugmentConfig(), tmp_path / "new") == AugmentConfig()  # nothing recorded
