"""Metrics against hand-computed values and scikit-learn; calibration, bootstrap, temperature."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from sklearn import metrics as skm

from cervix.metrics.scores import (
    bootstrap_ci,
    bootstrap_cis,
    classification_metrics,
    dice_score,
    expected_calibration_error,
    fit_temperature,
    iou_score,
    negative_log_likelihood,
    pixel_accuracy,
    reliability_curve,
    scalar_metrics,
    seg_metrics,
    seg_metrics_per_image,
    softmax,
)

# --------------------------------------------------------------------------- segmentation
P = np.array([[1, 1, 0, 0], [1, 1, 0, 0], [0, 0, 0, 0], [0, 0, 0, 0]], bool)  # 4 pixels


T = np.array([[1, 0, 0, 0], [1, 0, 0, 0], [1, 0, 0, 0], [0, 0, 0, 0]], bool)  # 3 pixels, 2 shared


def test_segmentation_scores_hand_computed():
    assert dice_score(P, T) == pytest.approx(2 * 2 / (4 + 3))
    assert iou_score(P, T) == pytest.approx(2 / 5)
    assert pixel_accuracy(P, T) == pytest.approx((16 - 3) / 16)  # 2 FP + 1 FN
    assert dice_score(P, T) == pytest.approx(skm.f1_score(T.ravel(), P.ravel()))
    assert iou_score(P, T) == pytest.approx(skm.jaccard_score(T.ravel(), P.ravel()))


def test_empty_mask_convention():
    empty = np.zeros((4, 4), bool)
    assert dice_score(empty, empty) == 1.0 and iou_score(empty, empty) == 1.0
    assert pixel_accuracy(empty, empty) == 1.0
    assert dice_score(P, empty) == 0.0 and iou_score(empty, T) == 0.0


def test_per_image_batch_and_input_types():
    batch_p = np.stack([P, P, np.zeros_like(P)])
    batch_t = np.stack([T, P, np.zeros_like(T)]).astype(np.uint8) * 255  # {0, 255} masks
    np.testing.assert_allclose(dice_score(batch_p, batch_t), [4 / 7, 1.0, 1.0])
    np.testing.assert_allclose(iou_score(torch.from_numpy(batch_p), batch_t), [0.4, 1.0, 1.0])


def test_seg_metrics_thresholds_and_keys():
    probs = np.zeros((2, 2, 4, 4), np.float32)
    target = np.zeros((2, 2, 4, 4), np.uint8)
    probs[0, 0][P] = 0.7  # cytoplasm prob 0.7 where P
    probs[0, 1][T] = 0.4  # nucleus prob 0.4 where T
    target[0, 0], target[0, 1] = T, T
    out = seg_metrics(probs, target, threshold=(0.5, 0.3))
    keys = {f"{m}_{h}" for m in ("dice", "iou", "pixel_accuracy") for h in ("cytoplasm", "nucleus")}
    assert keys <= set(out) and out["n_images"] == 2
    np.testing.assert_allclose(out["per_image"]["dice_cytoplasm"], [4 / 7, 1.0])  # image 1 empty/empty
    np.testing.assert_allclose(out["per_image"]["dice_nucleus"], [1.0, 1.0])  # 0.4 > 0.3
    assert out["dice_cytoplasm"] == pytest.approx((4 / 7 + 1) / 2)
    strict = seg_metrics(probs, target, threshold=0.5)
    assert strict["per_image"]["dice_nucleus"][0] == 0.0
    per = seg_metrics_per_image(probs[0] > 0.5, target[0])
    assert per["iou_cytoplasm"].shape == (1,)
    with pytest.raises(ValueError):
        seg_metrics(np.zeros((1, 3, 4, 4)), np.zeros((1, 3, 4, 4)))


# --------------------------------------------------------------------------- classification
def _toy_classification():
    rng = np.random.default_rng(0)
    y = rng.integers(0, 4, 200)
    logits = rng.normal(size=(200, 4)) + 2.0 * np.eye(4)[y]
    return y, softmax(logits)


def test_classification_metrics_match_sklearn():
    y, probs = _toy_classification()
    names = ["a", "b", "c", "d"]
    m = classification_metrics(y, probs, names)
    pred = probs.argmax(1)
    assert m["accuracy"] == pytest.approx(skm.accuracy_score(y, pred))
    assert m["f1_macro"] == pytest.approx(skm.f1_score(y, pred, average="macro"))
    assert m["precision_macro"] == pytest.approx(skm.precision_score(y, pred, average="macro"))
    assert m["recall_macro"] == pytest.approx(skm.recall_score(y, pred, average="macro"))
    assert m["roc_auc_macro"] == pytest.approx(skm.roc_auc_score(y, probs, multi_class="ovr", average="macro"))
    assert m["confusion_matrix"] == skm.confusion_matrix(y, pred).tolist()
    assert m["nll"] == pytest.approx(skm.log_loss(y, probs))
    f1s = skm.f1_score(y, pred, average=None)
    for i, n in enumerate(names):
        assert m["per_class"][n]["f1"] == pytest.approx(f1s[i])
        assert m["per_class"][n]["support"] == int(np.sum(y == i))
    assert m["class_names"] == names and m["n_samples"] == 200
    assert 0 <= m["ece"] <= 1


def test_classification_metrics_hand_computed():
    y = np.array([0, 0, 1, 1])
    probs = np.array([[0.9, 0.1], [0.4, 0.6], [0.2, 0.8], [0.3, 0.7]])
    m = classification_metrics(y, probs, ["neg", "pos"])
    assert m["accuracy"] == 0.75
    assert m["confusion_matrix"] == [[1, 1], [0, 2]]
    assert m["per_class"]["pos"]["precision"] == pytest.approx(2 / 3)
    assert m["per_class"]["neg"]["recall"] == pytest.approx(0.5)
    # AUC of class 1 scores (0.1, 0.6) vs (0.8, 0.7): all 4 pairs ordered -> 1.0 for both classes
    assert m["roc_auc_macro"] == pytest.approx(1.0)
    assert m["nll"] == pytest.approx(-np.mean(np.log([0.9, 0.4, 0.8, 0.7])))


def test_classification_metrics_absent_class_is_nan_safe():
    y = np.array([0, 0, 1, 1, 0])  # class 2 never occurs
    probs = np.array([[0.7, 0.2, 0.1], [0.5, 0.4, 0.1], [0.1, 0.8, 0.1], [0.3, 0.6, 0.1], [0.2, 0.3, 0.5]])
    m = classification_metrics(y, probs, ["a", "b", "c"])
    aucs = [skm.roc_auc_score(y == c, probs[:, c]) for c in (0, 1)]
    assert m["roc_auc_macro"] == pytest.approx(np.mean(aucs))
    assert m["per_class"]["c"]["support"] == 0
    assert all(math.isfinite(m[k]) for k in ("accuracy", "f1_macro", "precision_macro", "recall_macro"))
    one_class = classification_metrics(np.zeros(3, int), probs[:3], ["a", "b", "c"])
    assert math.isnan(one_class["roc_auc_macro"])


def _random_cases(shapes):
    """``(y, probs, k)`` per ``(n, k, dropped class)``: some probabilities tied, a class absent."""
    rng = np.random.default_rng(0)
    for n, k, drop in shapes:
        y = rng.integers(0, k, n)
        if drop is not None:
            y[y == drop] = 0  # a class absent from the truth
        probs = softmax(rng.normal(size=(n, k)) + 1.5 * np.eye(k)[y] * rng.random((n, 1)), 1)
        probs[:5] = np.round(probs[:5], 1)  # some ties for the ranking
        probs /= probs.sum(1, keepdims=True)
        yield y, probs, k


def test_scalar_metrics_match_sklearn_conventions():
    for y, probs, k in _random_cases(((40, 4, None), (25, 5, 2))):
        fast = scalar_metrics(y, probs, probs)
        ref = classification_metrics(y, probs, [str(i) for i in range(k)])
        for key in ("accuracy", "f1_macro", "precision_macro", "recall_macro", "roc_auc_macro", "ece", "nll"):
            assert fast[key] == pytest.approx(ref[key], abs=1e-12), key
        assert fast["ece_calibrated"] == fast["ece"] and fast["nll_calibrated"] == fast["nll"]


def test_classification_scores_match_sklearn_with_ties_and_absent_classes():
    """The one home of P/R/F1/AUC (confusion matrix + ranking) against scikit-learn's own functions."""
    for y, probs, k in _random_cases(((40, 4, None), (25, 5, 2), (60, 3, 1))):
        n = len(y)
        m = classification_metrics(y, probs, [str(i) for i in range(k)])
        pred = probs.argmax(1)
        present = np.union1d(y, pred)
        prec, rec, f1, _ = skm.precision_recall_fscore_support(
            y, pred, labels=present, average="macro", zero_division=0
        )
        aucs = [skm.roc_auc_score(y == c, probs[:, c]) for c in range(k) if 0 < np.sum(y == c) < n]
        ref = {
            "accuracy": skm.accuracy_score(y, pred),
            "f1_macro": f1,
            "precision_macro": prec,
            "recall_macro": rec,
            "roc_auc_macro": np.mean(aucs),
        }
        for key, value in ref.items():
            assert m[key] == pytest.approx(value, abs=1e-12), key
        pc = skm.precision_recall_fscore_support(y, pred, labels=np.arange(k), average=None, zero_division=0)
        for i in range(k):
            got = m["per_class"][str(i)]
            want = [pc[0][i], pc[1][i], pc[2][i]]
            assert [got["precision"], got["recall"], got["f1"]] == pytest.approx(want, abs=1e-12)
            assert got["support"] == pc[3][i]
        assert m["confusion_matrix"] == skm.confusion_matrix(y, pred, labels=np.arange(k)).tolist()


def test_classification_metrics_rejects_empty_and_nan_inputs():
    with pytest.raises(ValueError, match="empty"):
        classification_metrics(np.zeros(0, int), np.zeros((0, 3)), list("abc"))
    with pytest.raises(ValueError, match="NaN"):
        classification_metrics(np.array([0, 1, 2, 1]), np.array([[np.nan, 0.5, 0.5]] * 4), list("abc"))


# --------------------------------------------------------------------------- calibration
def test_ece_zero_for_perfect_calibration_and_hand_computed():
    # two bins: 5 samples at confidence 0.6 (3 correct) and 5 at 0.8 (4 correct)
    probs = np.array([[0.6, 0.4]] * 5 + [[0.2, 0.8]] * 5)
    y = np.array([0, 0, 0, 1, 1] + [1, 1, 1, 1, 0])  # acc 0.6 at conf 0.6, acc 0.8 at conf 0.8
    assert expected_calibration_error(probs, y) == pytest.approx(0.0, abs=1e-12)
    y_bad = np.array([0] * 5 + [1] * 5)  # acc 1.0 at conf 0.6, acc 1.0 at conf 0.8
    assert expected_calibration_error(probs, y_bad) == pytest.approx(0.5 * 0.4 + 0.5 * 0.2)
    curve = reliability_curve(probs, y_bad, n_bins=10)
    assert curve["counts"].sum() == 10 and len(curve["bin_edges"]) == 11
    assert curve["counts"][5] == 5 and curve["counts"][7] == 5  # 0.6 in (0.5, 0.6], 0.8 in (0.7, 0.8]
    assert curve["accuracy"][5] == 1.0 and curve["confidence"][7] == pytest.approx(0.8)
    assert np.isnan(curve["accuracy"][0])


def test_nll_matches_sklearn():
    y, probs = _toy_classification()
    assert negative_log_likelihood(probs, y) == pytest.approx(skm.log_loss(y, probs))


def test_temperature_scaling_keeps_argmax_and_lowers_nll():
    rng = np.random.default_rng(1)
    y = rng.integers(0, 3, 300)
    logits = rng.normal(size=(300, 3)) + 1.0 * np.eye(3)[y]
    overconfident = logits * 5.0
    t = fit_temperature(overconfident, y)
    assert t > 1.5  # softens an overconfident model
    scaled = overconfident / t
    np.testing.assert_array_equal(scaled.argmax(1), overconfident.argmax(1))
    assert negative_log_likelihood(softmax(scaled), y) < negative_log_likelihood(softmax(overconfident), y)
    assert fit_temperature(logits, y) == pytest.approx(1.0, abs=0.35)  # the generating scale


# --------------------------------------------------------------------------- bootstrap
def test_bootstrap_ci_contains_estimate_and_narrows():
    rng = np.random.default_rng(0)

    def acc(y, p):
        return float(np.mean(y == p))

    widths = []
    for n in (50, 2000):
        y = rng.integers(0, 2, n)
        p = np.where(rng.random(n) < 0.8, y, 1 - y)
        low, high = bootstrap_ci(acc, y, p, n_boot=300, seed=0)
        assert low <= acc(y, p) <= high
        widths.append(high - low)
    assert widths[1] < widths[0] / 3
    assert bootstrap_ci(acc, y, p, n_boot=50, seed=3) == bootstrap_ci(acc, y, p, n_boot=50, seed=3)


def test_bootstrap_resamples_rows_jointly_and_skips_nan():
    y = np.arange(10)
    # metric is identically 0 when rows stay paired
    assert bootstrap_ci(lambda a, b: float(np.max(np.abs(a - b))), y, y.copy(), n_boot=100) == (0.0, 0.0)
    low, high = bootstrap_ci(lambda a: float("nan") if a[0] == 0 else 1.0, y, n_boot=100)
    assert low == high == 1.0
    with pytest.raises(ValueError):
        bootstrap_ci(lambda a, b: 0.0, y, y[:5])


def test_bootstrap_cis_share_the_resamples_of_bootstrap_ci():
    rng = np.random.default_rng(2)
    y = rng.integers(0, 3, 40)
    probs = softmax(rng.normal(size=(40, 3)) + np.eye(3)[y], 1)
    cis = bootstrap_cis(scalar_metrics, y, probs, keys=("accuracy", "nll"), n_boot=150, seed=5, alpha=0.1)
    assert cis["accuracy"] == bootstrap_ci(
        lambda t, p: float(np.mean(p.argmax(1) == t)), y, probs, n_boot=150, seed=5, alpha=0.1
    )
    assert cis["nll"] == bootstrap_ci(
        lambda t, p: negative_log_likelihood(p, t), y, probs, n_boot=150, seed=5, alpha=0.1
    )
