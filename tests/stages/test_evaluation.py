"""evaluate_checkpoint (classification, k-fold, dispatch to segmentation), bootstrap CIs of the
report, temperature scaling end to end, tables, Grad-CAM examples, and on the same evaluated run
the figures (cervix.viz.figures) and the notebook-05 widgets (cervix.widgets.data)."""

from __future__ import annotations

import json
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import pytest  # noqa: E402
from helpers import FAST  # noqa: E402

from cervix.data.splits import load_split  # noqa: E402
from cervix.metrics.scores import SCALAR_KEYS, bootstrap_ci, fit_temperature, softmax  # noqa: E402
from cervix.stages import evaluation as E  # noqa: E402
from cervix.stages.classification import load_classifier, read_cls_records, train_classifier  # noqa: E402
from cervix.viz import figures as F  # noqa: E402

SPEC_KEYS = {
    "accuracy",
    "f1_macro",
    "precision_macro",
    "recall_macro",
    "roc_auc_macro",
    "ece",
    "nll",
    "temperature",
    "ece_calibrated",
    "per_class",
    "confusion_matrix",
    "class_names",
    "n_samples",
    "ci95",
}


@pytest.fixture(scope="module")
def run(synth, tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("runs") / "cls"
    train_classifier(
        synth / "crops", masks=synth / "crops_masks", out=out, profile="smoke", overrides=FAST, progress=False
    )
    return out


@pytest.fixture(scope="module")
def evaluated(run, tmp_path_factory) -> tuple[Path, dict]:
    out = tmp_path_factory.mktemp("eval")
    metrics = E.evaluate_checkpoint(run / "best.pt", out=out, n_boot=100, progress=False)
    return out, metrics


def _records(synth):
    return read_cls_records(synth / "crops", "classes", synth / "crops_masks")


# ------------------------------------------------------------------------------------ metrics
def test_bootstrap_ci_matches_metrics_bootstrap_ci():
    rng = np.random.default_rng(1)
    y = rng.integers(0, 3, 30)
    probs = softmax(rng.normal(size=(30, 3)), 1)
    rep = E.report_from_probabilities(y, probs, probs, 1.0, ["a", "b", "c"], n_boot=200, seed=3)
    acc = bootstrap_ci(lambda t, p: float(np.mean(p.argmax(1) == t)), y, probs, n_boot=200, seed=3)
    assert rep["ci95"]["accuracy"] == pytest.approx(list(acc))
    for key in SCALAR_KEYS:
        lo, hi = rep["ci95"][key]
        assert lo <= hi
    assert rep["ci95"]["accuracy"][0] <= rep["accuracy"] <= rep["ci95"]["accuracy"][1]


# ------------------------------------------------------------------------------------ evaluate
def test_metrics_json_has_every_spec_key(evaluated, run, synth):
    out, metrics = evaluated
    on_disk = json.loads((out / "metrics.json").read_text())
    assert SPEC_KEYS <= set(on_disk) and SPEC_KEYS <= set(metrics)
    names = on_disk["class_names"]
    assert names == load_classifier(run)[1]["class_names"]
    assert set(on_disk["per_class"]) == set(names)
    for pc in on_disk["per_class"].values():
        assert set(pc) == {"precision", "recall", "f1", "support"}
    cm = np.array(on_disk["confusion_matrix"])
    assert cm.shape == (len(names), len(names))
    assert cm.sum(1).tolist() == [on_disk["per_class"][c]["support"] for c in names]  # rows = true class
    test = load_split(run / "split.json", _records(synth))["test"]
    assert on_disk["n_samples"] == len(test) == cm.sum()
    for key in (
        "accuracy",
        "f1_macro",
        "precision_macro",
        "recall_macro",
        "roc_auc_macro",
        "ece",
        "nll",
        "ece_calibrated",
    ):
        assert len(on_disk["ci95"][key]) == 2, key
    lo, hi = on_disk["ci95"]["accuracy"]
    assert lo <= on_disk["accuracy"] <= hi
    assert on_disk["split"] == "test" and on_disk["temperature_source"].startswith("validation")

    pred = pd.read_csv(out / "predictions.csv")
    records = _records(synth)
    assert sorted(pred["path"]) == sorted(records[i].path for i in test)  # one row per test crop
    assert list(pred.columns[:4]) == ["path", "group", "true", "pred"]
    assert {f"prob_{c}" for c in names} <= set(pred.columns)
    assert on_disk["accuracy"] == pytest.approx(float((pred["true"] == pred["pred"]).mean()))
    for name in ("confusion_matrix", "roc_curves", "reliability"):
        assert (out / "figures" / f"{name}.pdf").is_file() and (out / "figures" / f"{name}.png").is_file()


def test_temperature_scaling_keeps_argmax_end_to_end(evaluated, run, synth):
    out, metrics = evaluated
    pred = pd.read_csv(out / "predictions.csv")
    names = metrics["class_names"]
    raw = pred[[f"prob_{c}" for c in names]].to_numpy()
    cal = pred[[f"prob_cal_{c}" for c in names]].to_numpy()
    logits = pred[[f"logit_{c}" for c in names]].to_numpy()
    t = metrics["temperature"]
    assert t > 0 and t != 1.0
    np.testing.assert_allclose(cal, softmax(logits / t, 1), atol=1e-6)
    assert (cal.argmax(1) == raw.argmax(1)).all()
    assert ([names[i] for i in cal.argmax(1)] == pred["pred"]).all()
    # the temperature is the one fitted on the run's validation split
    from cervix.data.datasets import ClassificationDataset
    from cervix.inference.classify import predict_logits
    from cervix.training.sampling import make_loader

    model, cfg = load_classifier(run)
    records = _records(synth)
    val = [records[i] for i in load_split(run / "split.json", records)["val"]]
    ds = ClassificationDataset(val, names, cfg["image_size"], cfg["in_chans"], None, train=False)
    vl, vy = predict_logits(model, make_loader(ds, 8, shuffle=False))
    assert t == pytest.approx(fit_temperature(vl, vy), rel=1e-4)
    # and it lowers the validation NLL (never raises it)
    from cervix.metrics.scores import negative_log_likelihood as nll

    assert nll(softmax(vl / t, 1), vy) <= nll(softmax(vl, 1), vy) + 1e-9


def test_split_all_and_bad_split(run, synth, tmp_path):
    m = E.evaluate_checkpoint(run, split="all", out=tmp_path / "all", n_boot=0, figures=False, progress=False)
    assert m["n_samples"] == len(_records(synth)) == len(pd.read_csv(tmp_path / "all" / "predictions.csv"))
    assert m["ci95"] == {}
    with pytest.raises(ValueError, match="split must be"):
        E.evaluate_checkpoint(run, split="holdout", out=tmp_path / "x", n_boot=0, figures=False, progress=False)


def test_kfold_evaluation(synth, tmp_path):
    out = tmp_path / "kf"
    train_classifier(
        synth / "crops",
        masks=synth / "crops_masks",
        out=out,
        profile="smoke",
        overrides={**FAST, "folds": 2},
        progress=False,
    )
    m = E.evaluate_checkpoint(out / "best.pt", n_boot=50, figures=False, progress=False)  # absent: the run
    assert SPEC_KEYS <= set(m) and m["k"] == 2 and len(m["folds"]) == 2
    assert m["n_samples"] == len(_records(synth)) == sum(f["n_samples"] for f in m["folds"])
    for key in ("accuracy", "f1_macro", "ece", "temperature"):
        vals = [f[key] for f in m["folds"]]
        assert m["mean_std"][key] == pytest.approx([np.mean(vals), np.std(vals, ddof=1)])
    pred = pd.read_csv(out / "predictions.csv")
    assert sorted(pred["path"]) == sorted(r.path for r in _records(synth)) and set(pred["fold"]) == {0, 1}
    assert json.loads((out / "metrics.json").read_text())["k"] == 2
    one = E.evaluate_checkpoint(out / "fold_1" / "best.pt", n_boot=0, figures=False, progress=False)
    assert "folds" not in one and one["n_samples"] == m["folds"][1]["n_samples"]
    assert one["accuracy"] == pytest.approx(m["folds"][1]["accuracy"])


def test_dispatch_to_segmentation_and_unknown_task(tmp_path, monkeypatch):
    import cervix.stages.segmentation as seg
    from cervix.training.checkpoints import save_checkpoint

    calls = []
    monkeypatch.setattr(seg, "evaluate_segmentation", lambda ck, **kw: calls.append((ck, kw)) or {"n_images": 1})
    save_checkpoint(tmp_path / "seg" / "best.pt", {"config": {"task": "segmentation"}, "model": {}})
    assert E.evaluate_checkpoint(tmp_path / "seg", split="all", n_boot=7) == {"n_images": 1}
    assert calls[0][0] == tmp_path / "seg" / "best.pt"
    assert calls[0][1]["split"] == "all" and calls[0][1]["n_boot"] == 7
    save_checkpoint(tmp_path / "odd.pt", {"config": {"task": "detection"}})
    with pytest.raises(ValueError, match="unknown task"):
        E.evaluate_checkpoint(tmp_path / "odd.pt")


def test_the_cell_head_gets_tta_as_the_first_model_does(tmp_path, monkeypatch):
    import cervix.stages.cellhead as ch
    import cervix.stages.segmentation as seg
    from cervix.training.checkpoints import save_checkpoint

    calls = []
    monkeypatch.setattr(seg, "evaluate_segmentation", lambda ck, **kw: calls.append(kw) or {"n_images": 1})
    monkeypatch.setattr(ch, "find_cell_head", lambda ck: ck.parent / "cells" / "best.pt")
    monkeypatch.setattr(ch, "load_cell_head", lambda p: ("head", {"window": 256}))
    for name, run_tta in (("plain", False), ("tta", True)):
        save_checkpoint(tmp_path / name / "best.pt", {"config": {"task": "segmentation", "tta": run_tta}, "model": {}})
    E.evaluate_checkpoint(tmp_path / "plain", instances=True)
    E.evaluate_checkpoint(tmp_path / "plain", instances=True, tta=True)
    E.evaluate_checkpoint(tmp_path / "tta", instances=True)  # the run's own setting reaches both models
    assert [c["cell_head"][1]["tta"] for c in calls] == [False, True, True]
    assert [c["tta"] for c in calls] == [None, True, None] and calls[0]["cell_head"][1]["window"] == 256


# ------------------------------------------------------------------------------------ Grad-CAM
def _toy_predictions() -> pd.DataFrame:
    rows = [  # true, pred, confidence
        ("a", "a", 0.6),
        ("a", "a", 0.9),
        ("a", "b", 0.7),
        ("a", "b", 0.8),
        ("b", "b", 0.5),
        ("b", "a", 0.4),
        ("c", "a", 0.9),
    ]
    df = pd.DataFrame(rows, columns=["true", "pred", "confidence"])
    for c in "abc":
        df[f"prob_{c}"] = 1 / 3
    return df


def test_pick_gradcam_examples_per_class():
    ex = E.pick_gradcam_examples(_toy_predictions(), n_per_class=2)
    assert ex == {
        "a": {"correct": [1, 0], "wrong": [3, 2]},
        "b": {"correct": [4], "wrong": [5]},
        "c": {"correct": [], "wrong": [6]},
    }
    assert E.pick_gradcam_examples(_toy_predictions(), n_per_class=1)["a"] == {"correct": [1], "wrong": [3]}


def test_gradcam_examples_and_grid(evaluated, run):
    out, metrics = evaluated
    pred = pd.read_csv(out / "predictions.csv")
    ex = E.pick_gradcam_examples(pred, metrics["class_names"], n_per_class=1)
    items = E.gradcam_examples(run, pred, ex)
    assert len(items) == sum(len(v["correct"]) + len(v["wrong"]) for v in ex.values()) > 0
    for it in items:
        assert it["image"].shape == (32, 32, 3) and it["image"].dtype == np.uint8
        assert it["cam"].shape == (32, 32) and 0 <= it["cam"].min() and it["cam"].max() <= 1
        assert it["cytoplasm"].shape == (32, 32)
        row = pred.loc[it["row"]]
        assert it["kind"] == ("correct" if row["true"] == row["pred"] else "wrong")
    fig = F.plot_gradcam_grid(items)
    assert len(fig.axes) >= 2 * len(items)
    plt.close("all")
