"""Stage 1 end to end through the command line: segment -> evaluate (masks: test_masks.py).

Real (tiny) training: convnext_atto, 64 px patches, one epoch on 6 generated 256 px fields.
"""

from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from cervix.cli import main

SPEC_SEG_KEYS = {
    "dice_cytoplasm",
    "dice_nucleus",
    "iou_cytoplasm",
    "iou_nucleus",
    "pixel_accuracy_cytoplasm",
    "pixel_accuracy_nucleus",
    "n_images",
    "ci95",
}


@pytest.fixture(scope="module")
def run(seg_cli_run) -> dict[str, Path]:
    return seg_cli_run


def test_segment_writes_a_complete_run(run):
    r = run["run"]
    for name in ("best.pt", "last.pt", "config.json", "split.json", "history.csv"):
        assert (r / name).is_file(), name
    cfg = json.loads((r / "config.json").read_text())
    assert cfg["task"] == "segmentation" and cfg["image_size"] == 64 and cfg["epochs"] == 1
    assert cfg["thresholds"] == [0.5, 0.5] and cfg["normalisation"]["mean"][0] == pytest.approx(0.485)
    split = json.loads((r / "split.json").read_text())
    assert split  # grouped split saved with the run


def test_evaluate_writes_spec_metrics(run, tmp_path, capsys):
    out = tmp_path / "eval"
    assert main(["evaluate", "--checkpoint", str(run["run"] / "best.pt"), "--out", str(out), "--n-boot", "50"]) == 0
    m = json.loads((out / "metrics.json").read_text())
    assert SPEC_SEG_KEYS <= set(m)
    assert m["n_images"] >= 1 and 0.0 <= m["dice_cytoplasm"] <= 1.0
    # the nuclei scored are those `masks` keeps, at the run's score (the smoke profile's: 0)
    assert m["min_nucleus_score"] == json.loads((run["run"] / "config.json").read_text())["min_nucleus_score"] == 0.0
    low, high = m["ci95"]["dice_cytoplasm"]
    assert low <= m["dice_cytoplasm"] <= high
    # --split all evaluates every field of the folder
    assert (
        main(
            [
                "evaluate",
                "--checkpoint",
                str(run["run"] / "best.pt"),
                "--out",
                str(out / "all"),
                "--split",
                "all",
                "--n-boot",
                "20",
            ]
        )
        == 0
    )
    assert json.loads((out / "all" / "metrics.json").read_text())["n_images"] == 6
    # a file the reader passes over is counted and listed, not dropped silently
    import shutil

    extra = shutil.copytree(run["syn"] / "fields", tmp_path / "fields_plus")
    (extra / "images" / "notes.txt").write_text("x")
    capsys.readouterr()
    assert (
        main(
            [
                "evaluate",
                "--checkpoint",
                str(run["run"] / "best.pt"),
                "--data",
                str(extra),
                "--split",
                "all",
                "--out",
                str(out / "plus"),
                "--n-boot",
                "0",
            ]
        )
        == 0
    )
    assert "6 file(s) used, 1 skipped by the reader: listed under 'skipped'" in capsys.readouterr().out
    m_plus = json.loads((out / "plus" / "metrics.json").read_text())
    assert m_plus["n_skipped"] == 1 and m_plus["skipped"][0]["path"].endswith("notes.txt")
    # the run's own data given explicitly (a relative-or-absolute path) still finds its test split
    assert (
        main(
            [
                "evaluate",
                "--checkpoint",
                str(run["run"] / "best.pt"),
                "--data",
                str(run["syn"] / "fields"),
                "--out",
                str(out / "own"),
                "--n-boot",
                "20",
            ]
        )
        == 0
    )
    assert json.loads((out / "own" / "metrics.json").read_text())["n_images"] == m["n_images"]
    import shutil

    from cervix.stages.segmentation import evaluate_segmentation

    other = shutil.copytree(run["syn"] / "fields", tmp_path / "other_fields")
    with pytest.raises(ValueError, match="split all"):
        evaluate_segmentation(run["run"] / "best.pt", data=other, fmt="masks", out=out / "x", n_boot=10)


def test_helpers_for_notebooks(run):
    from cervix.stages import segmentation as seg

    model, cfg = seg.load_segmentation(run["run"])
    val = seg.run_records(run["run"], "val") or seg.run_records(run["run"], "test")
    preds = seg.predict_probabilities(model, cfg, val[:1], progress=False)
    assert preds[0]["probs"].shape == (2, 256, 256) and preds[0]["target"].shape == (2, 256, 256)
    table = seg.threshold_table(preds, (0.3, 0.7))
    assert list(table.index) == [0.3, 0.7]
    assert table.loc[0.3].to_dict() == seg.dice_at_thresholds(preds, (0.3, 0.3))


def test_load_segmentation_refuses_a_classifier_checkpoint(tmp_path):
    from cervix.stages.segmentation import load_segmentation
    from cervix.training.checkpoints import save_checkpoint

    save_checkpoint(tmp_path / "c.pt", {"model": {}, "config": {"task": "classification"}})
    with pytest.raises(ValueError, match="not a segmentation checkpoint"):
        load_segmentation(tmp_path / "c.pt")


def test_segment_refuses_to_replace_a_run_without_overwrite(run, tmp_path, capsys):
    import shutil

    r = shutil.copytree(run["run"], tmp_path / "run")
    (r / "metrics.json").write_text("{}")  # an evaluation of the old model
    (r / "notes.txt").write_text("mine")  # not written by cervix
    args = [
        "segment",
        "--data",
        str(run["syn"] / "fields"),
        "--format",
        "masks",
        "--out",
        str(r),
        "--profile",
        "smoke",
        "--epochs",
        "1",
        "--batch-size",
        "4",
        "--image-size",
        "64",
        "--amp",
        "none",
    ]
    before = (r / "best.pt").read_bytes()
    assert main(args) == 2
    err = capsys.readouterr().err
    assert str(r) in err and "best.pt" in err and "--overwrite" in err and "--resume" in err
    assert (r / "best.pt").read_bytes() == before  # untouched
    assert main(args + ["--overwrite"]) == 0
    assert not (r / "metrics.json").exists()  # the stale evaluation went with the old model
    assert (r / "notes.txt").read_text() == "mine" and (r / "best.pt").is_file()
    # a run of the other task in the folder is a run all the same
    assert (
        main(
            [
                "classify",
                "--data",
                str(run["syn"] / "crops"),
                "--out",
                str(r),
                "--in-chans",
                "3",
                "--profile",
                "smoke",
                "--image-size",
                "32",
                "--epochs",
                "1",
                "--amp",
                "none",
            ]
        )
        == 2
    )


def test_segmentation_checkpoint_that_does_not_fit_its_weights(run, tmp_path):
    from cervix.stages.segmentation import load_segmentation
    from cervix.training.checkpoints import CheckpointError, load_checkpoint, save_checkpoint

    ck = load_checkpoint(run["run"] / "best.pt")
    path = save_checkpoint(tmp_path / "edited.pt", dict(ck, config={**ck["config"], "decoder_channels": [64, 32, 16]}))
    with pytest.raises(CheckpointError, match="edited.pt.*do not fit.*shape mismatch"):
        load_segmentation(path)
    cfg = {k: v for k, v in ck["config"].items() if k != "decoder_channels"}
    path = save_checkpoint(tmp_path / "nokey.pt", dict(ck, config=cfg))
    with pytest.raises(CheckpointError, match="nokey.pt.*lacks 'decoder_channels'"):
        load_segmentation(path)


def test_a_moved_run_folder_still_evaluates(run, tmp_path):
    import shutil

    from cervix.training.checkpoints import load_checkpoint, save_checkpoint

    a = shutil.copytree(run["run"], tmp_path / "a")
    for name in ("best.pt", "last.pt"):  # as if trained in a/
        ck = load_checkpoint(a / name)
        save_checkpoint(a / name, dict(ck, config={**ck["config"], "split_path": str(a / "split.json")}))
    b = tmp_path / "moved" / "b"
    b.parent.mkdir()
    shutil.move(str(a), str(b))
    assert main(["evaluate", "--checkpoint", str(b / "best.pt"), "--out", str(tmp_path / "e"), "--n-boot", "10"]) == 0
    assert json.loads((tmp_path / "e" / "metrics.json").read_text())["n_images"] >= 1


def _interrupt_after_epoch_1(monkeypatch):
    """Ctrl-C right after epoch 1's ``last.pt`` is written; returns the real save to restore."""
    from cervix.training import loop as engine

    real_save = engine.save_checkpoint

    def save_then_interrupt(path, state):
        out = real_save(path, state)
        if path.name == "last.pt" and state["epoch"] == 1:
            raise KeyboardInterrupt
        return out

    monkeypatch.setattr(engine, "save_checkpoint", save_then_interrupt)  # the name fit calls
    return real_save


def test_interrupted_segment_resumes_exactly(run, tmp_path, monkeypatch, capsys):
    """Ctrl-C after the first epoch's checkpoint, then --resume == the uninterrupted run (CPU),
    with augmentation on (its random state is seeded per epoch, not once per process)."""
    import torch

    from cervix.training import loop as engine
    from cervix.training.checkpoints import load_checkpoint

    args = [
        "segment",
        "--data",
        str(run["syn"] / "fields"),
        "--format",
        "masks",
        "--profile",
        "smoke",
        "--epochs",
        "3",
        "--batch-size",
        "4",
        "--image-size",
        "64",
        "--amp",
        "none",
    ]
    assert main(args + ["--out", str(tmp_path / "full")]) == 0

    real_save = _interrupt_after_epoch_1(monkeypatch)
    cut = tmp_path / "cut"
    assert main(args + ["--out", str(cut)]) == 130
    assert "interrupted after epoch 1; checkpoints intact" in capsys.readouterr().err
    monkeypatch.setattr(engine, "save_checkpoint", real_save)
    torch.manual_seed(123)  # another process state
    assert main(args + ["--out", str(cut), "--resume"]) == 0

    def rows(p):
        return [{k: v for k, v in r.items() if k != "time_s"} for r in csv.DictReader(open(p))]

    assert rows(tmp_path / "full" / "history.csv") == rows(cut / "history.csv")
    a, b = load_checkpoint(tmp_path / "full" / "last.pt"), load_checkpoint(cut / "last.pt")
    assert a["epoch"] == b["epoch"] == 3
    for k in a["model"]:
        assert torch.equal(a["model"][k], b["model"][k]), k


def test_a_resumed_run_keeps_its_own_augmentation(run, tmp_path, monkeypatch, capsys):
    """`segment --augment FILE` trains with those strengths; `--resume` without the file goes on
    with the run's own (from its config), not today's defaults (a field its config lacks, added
    since, is off: tests/data/test_augment.py)."""
    from cervix.data.augment import AugmentConfig
    from cervix.training import loop as engine
    from cervix.training.checkpoints import load_checkpoint

    aug = tmp_path / "augment.json"
    aug.write_text(json.dumps({"fade": 0.3, "grey": 0.0}))
    args = ["segment", "--data", str(run["syn"] / "fields"), "--format", "masks", "--profile", "smoke"]
    args += ["--epochs", "2", "--batch-size", "4", "--image-size", "64", "--amp", "none", "--cell-epochs", "0"]
    out = tmp_path / "run"
    real_save = _interrupt_after_epoch_1(monkeypatch)
    assert main(args + ["--out", str(out), "--augment", str(aug)]) == 130
    monkeypatch.setattr(engine, "save_checkpoint", real_save)
    assert json.loads((out / "config.json").read_text())["augment"] == dict(vars(AugmentConfig(fade=0.3, grey=0.0)))
    assert main(args + ["--out", str(out), "--resume"]) == 0  # before: refused (augment: ... -> defaults)
    assert json.loads((out / "config.json").read_text())["augment"]["fade"] == 0.3
    assert load_checkpoint(out / "last.pt")["epoch"] == 2
    bad = main(args + ["--out", str(tmp_path / "x"), "--augment", str(tmp_path / "missing.json")])
    assert bad == 2 and "missing.json" in capsys.readouterr().err


def test_bad_files_stop_before_training_or_are_skipped(run, tmp_path, capsys):
    import shutil

    fields = shutil.copytree(run["syn"] / "fields", tmp_path / "fields")
    imgs = sorted((fields / "images").glob("*.png"))
    imgs[0].write_bytes(imgs[0].read_bytes()[:200])  # truncated
    (fields / "masks" / "nucleus" / imgs[1].name).write_bytes(b"")  # empty mask file
    out = tmp_path / "run"
    args = [
        "segment",
        "--data",
        str(fields),
        "--format",
        "masks",
        "--out",
        str(out),
        "--profile",
        "smoke",
        "--epochs",
        "1",
        "--batch-size",
        "4",
        "--image-size",
        "64",
        "--amp",
        "none",
    ]
    assert main(args) == 2
    err = capsys.readouterr().err
    assert "2 of 6 file(s) cannot be used" in err and imgs[0].name in err and imgs[1].name in err
    assert not out.exists()  # nothing started: no half run folder
    assert main(args + ["--skip-bad"]) == 0
    bad = (out / "skipped.csv").read_text()
    assert len(bad.splitlines()) == 3 and imgs[0].name in bad and imgs[1].name in bad  # header + 2
    assert "4 file(s) used, 2 skipped: see" in capsys.readouterr().out
    assert (out / "best.pt").is_file()


def test_a_smoke_segment_run_finds_both_heads(tmp_path):
    """The smoke profile as CI runs the notebooks: both heads find something, not a green wash."""
    from cervix.core.config import get_profile
    from cervix.data.readers.synthetic import ensure_synthetic

    fields = ensure_synthetic(tmp_path / "syn", progress=False, **get_profile("smoke").synth) / "fields"
    out = tmp_path / "run"
    assert main(["segment", "--data", str(fields), "--format", "masks", "--out", str(out), "--profile", "smoke"]) == 0
    assert (
        main(["evaluate", "--checkpoint", str(out), "--split", "all", "--out", str(tmp_path / "ev"), "--n-boot", "0"])
        == 0
    )
    m = json.loads((tmp_path / "ev" / "metrics.json").read_text())
    assert m["dice_nucleus"] > 0.3 and m["dice_cytoplasm"] > 0.7, m


def test_evaluate_instances_writes_cell_and_nucleus_instance_metrics(run, tmp_path):
    out = tmp_path / "ev"
    assert main(["evaluate", "--checkpoint", str(run["run"]), "--instances", "--n-boot", "50", "--out", str(out)]) == 0
    m = json.loads((out / "metrics.json").read_text())
    inst = m["instances"]
    assert inst["n_images"] == m["n_images"] > 0
    for what in ("cell", "nucleus"):
        for key in ("dice_matched", "fno", "tpp", "fpp", "aji", "pq", "det_precision", "det_recall", "det_f1"):
            assert f"{what}_{key}" in inst
        assert 0.0 <= inst[f"{what}_det_f1"] <= 1.0 and 0.0 <= inst[f"{what}_fno"] <= 1.0
        lo, hi = inst["ci95"][f"{what}_aji"]
        assert lo <= hi
    # the true cells are the synthetic fields' whole cells (masks/cells.json), scored as the cell
    # head's whole cells; the partition's scores stay beside them
    assert inst["cell_masks"] == "whole cells of the cell head" and "partition_cell_dice_matched" in inst
    scored = {Path(r).name for r in pd.read_csv(out / "instances_per_image.csv")["path"]}
    coco = json.loads((run["syn"] / "fields" / "masks" / "cells.json").read_text())
    ids = {im["id"] for im in coco["images"] if im["file_name"] in scored}
    assert inst["cell_n_true"] == sum(a["image_id"] in ids for a in coco["annotations"]) > 0
    # a classifier or data without per-cell truth: a clear error
    from cervix.stages.segmentation import instance_scores

    with pytest.raises(ValueError, match="per-cell truth"):
        instance_scores([{"probs": np.zeros((2, 8, 8)), "truth": None, "path": "x"}])


def test_instance_scores_drop_nuclei_below_the_runs_floor():
    from cervix.stages.segmentation import instance_scores

    probs = np.zeros((2, 64, 64), np.float32)
    yy, xx = np.mgrid[:64, :64]
    big = (yy - 20) ** 2 + (xx - 20) ** 2 <= 8**2  # 197 px nucleus, its cell around it
    probs[0][(yy - 20) ** 2 + (xx - 20) ** 2 <= 16**2] = 1.0
    probs[1][big] = 1.0
    probs[0, 45:60, 45:60] = 1.0  # a dark 5 x 5 blob (25 px) in a patch of cytoplasm: no nucleus
    probs[1, 50:55, 50:55] = 1.0
    truth = {"cells": (probs[0] > 0.5).astype(np.int32) * 0, "nuclei": big.astype(np.int32)}
    truth["cells"][(yy - 20) ** 2 + (xx - 20) ** 2 <= 16**2] = 1
    pred = [{"probs": probs, "truth": truth, "path": "x", "image": np.zeros((64, 64, 3), np.uint8)}]
    plain, _ = instance_scores(pred, n_boot=10)
    sized, _ = instance_scores(pred, n_boot=10, cell_size={"nucleus_diameter": 20.0})  # floor 57 px
    assert plain["nucleus_n_pred"] == 2 and plain["nucleus_n_fp"] == 1
    assert sized["nucleus_n_pred"] == 1 and sized["nucleus_n_fp"] == 0 and sized["nucleus_det_f1"] == 1.0


def test_scores_leave_out_a_weak_false_nucleus():
    """Pixel Dice (what `evaluate` reports) and instance scores count the nuclei `masks` and
    `analyze` keep: a pale false nucleus, above the threshold but below the score, is left out."""
    from cervix.cells.instances import MIN_NUCLEUS_SCORE
    from cervix.stages.segmentation import dice_at_thresholds, instance_scores

    probs = np.zeros((2, 64, 64), np.float32)
    probs[0, 4:60, 4:60] = 1.0
    probs[1, 10:20, 10:20] = 0.99  # the true nucleus
    probs[1, 40:50, 40:50] = (0.5 + MIN_NUCLEUS_SCORE) / 2  # a pale false one
    target = np.zeros((2, 64, 64), bool)
    target[0, 4:60, 4:60] = True
    target[1, 10:20, 10:20] = True
    truth = {"cells": target[0].astype(np.int32), "nuclei": target[1].astype(np.int32)}
    pred = [{"probs": probs, "target": target, "truth": truth, "path": "x", "image": np.zeros((64, 64, 3), np.uint8)}]
    assert dice_at_thresholds(pred, (0.5, 0.5))["dice_nucleus"] == 1.0  # 2/3 if the pale one counted
    own = [{**pred[0], "min_nucleus_score": 0.0}]  # a run that keeps every nucleus (predict_probabilities)
    assert dice_at_thresholds(own, (0.5, 0.5))["dice_nucleus"] == pytest.approx(2 / 3)
    scores, _ = instance_scores(pred, n_boot=10)
    assert scores["nucleus_n_fp"] == 0 and scores["nucleus_det_f1"] == 1.0
