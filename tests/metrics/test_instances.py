"""Instance metrics (ISBI challenge measures, AJI, PQ, detection) against hand-computed toy cases."""

from __future__ import annotations

import math

import numpy as np
import pytest

from cervix.metrics.instances import (
    INSTANCE_KEYS,
    aggregate_instance_metrics,
    aggregated_jaccard_index,
    as_instance_masks,
    detection_scores,
    instance_metrics,
    isbi_cell_measures,
    match_instances,
    overlap_matrix,
    panoptic_quality,
)

H = W = 10  # every toy image is 10 x 10 = 100 pixels


def labels(*boxes: tuple[int, int, int, int]) -> np.ndarray:
    """Label map with box ``k`` (rows r0:r1, cols c0:c1) as id ``k + 1`` (later boxes on top)."""
    lab = np.zeros((H, W), np.int32)
    for k, (r0, r1, c0, c1) in enumerate(boxes, 1):
        lab[r0:r1, c0:c1] = k
    return lab


def stack(*boxes: tuple[int, int, int, int]) -> np.ndarray:
    """Stack of (possibly overlapping) bool box masks."""
    out = np.zeros((len(boxes), H, W), bool)
    for k, (r0, r1, c0, c1) in enumerate(boxes):
        out[k, r0:r1, c0:c1] = True
    return out


SQUARE = (0, 4, 0, 4)  # 16 pixels


def check(got: dict, want: dict) -> None:
    for key, value in want.items():
        if isinstance(value, float) and math.isnan(value):
            assert math.isnan(got[key]), (key, got[key])
        else:
            assert got[key] == pytest.approx(value), (key, got[key], value)


# --------------------------------------------------------------------------- the converter
def test_as_instance_masks_of_a_label_map_in_id_order():
    lab = np.zeros((H, W), np.uint16)
    lab[0, 0], lab[5, 5:7] = 5, 2
    masks = as_instance_masks(lab)
    assert masks.shape == (2, H, W) and masks.dtype == bool
    assert masks[0].sum() == 2 and masks[0, 5, 5]  # id 2 first
    assert masks[1].sum() == 1 and masks[1, 0, 0]  # then id 5


def test_as_instance_masks_of_a_stack_keeps_overlaps_and_drops_empty_masks():
    s = np.concatenate([stack((0, 4, 0, 4), (2, 6, 2, 6)), np.zeros((1, H, W), bool)])
    masks = as_instance_masks(s)
    np.testing.assert_array_equal(masks, s[:2])
    np.testing.assert_array_equal(as_instance_masks(s.astype(np.uint8) * 255), s[:2])  # integer stack


def test_huge_label_ids_give_the_same_instances():
    lab = labels(SQUARE, (6, 9, 6, 9)).astype(np.int64)
    np.testing.assert_array_equal(as_instance_masks(lab * 10**12), as_instance_masks(lab))


def test_as_instance_masks_of_nothing():
    assert as_instance_masks(np.zeros((H, W), int)).shape == (0, H, W)
    assert as_instance_masks(np.zeros((0, H, W), bool)).shape == (0, H, W)


def test_label_map_and_its_stack_give_the_same_metrics():
    rng = np.random.default_rng(0)
    truth = rng.integers(0, 6, (32, 32))
    pred = rng.integers(0, 8, (32, 32))
    a = instance_metrics(truth, pred)
    b = instance_metrics(as_instance_masks(truth), as_instance_masks(pred))
    check(b, a)


def test_overlap_matrix_against_brute_force_with_overlapping_stacks():
    rng = np.random.default_rng(1)
    truth = rng.random((5, 16, 12)) < 0.3
    pred = rng.integers(0, 7, (16, 12))
    ov = overlap_matrix(truth, pred)
    masks = as_instance_masks(pred)
    brute = np.array([[np.sum(t & p) for p in masks] for t in truth])
    np.testing.assert_array_equal(ov.inter, brute)
    np.testing.assert_array_equal(ov.area_true, truth.sum((1, 2)))
    np.testing.assert_array_equal(ov.area_pred, masks.sum((1, 2)))
    assert ov.n_pixels == 16 * 12
    ov2 = overlap_matrix(truth, masks)  # two stacks
    np.testing.assert_array_equal(ov2.inter, brute)


# --------------------------------------------------------------------------- toy cases
def test_two_overlapping_squares():
    # truth 4x4 at cols 0:4, prediction 4x4 at cols 1:5: 12 shared pixels, 4 on each side
    got = instance_metrics(labels(SQUARE), labels((0, 4, 1, 5)))
    check(
        got,
        {
            "dice_matched": 24 / 32,
            "fno": 0.0,
            "tpp": 12 / 16,
            "fpp": 4 / (100 - 16),
            "fdp": 4 / 16,
            "aji": 12 / 20,
            "pq": 0.6,
            "sq": 0.6,
            "rq": 1.0,
            "det_precision": 1.0,
            "det_recall": 1.0,
            "det_f1": 1.0,
            "n_true": 1,
            "n_pred": 1,
            "n_matched": 1,
            "n_tp": 1,
            "n_fp": 0,
            "n_fn": 0,
        },
    )


def test_a_missed_cell():
    truth, pred = labels(SQUARE, (6, 9, 6, 9)), labels(SQUARE)  # the 3x3 cell (9 px) is missed
    got = instance_metrics(truth, pred)
    check(
        got,
        {
            "dice_matched": 1.0,
            "fno": 0.5,
            "tpp": 1.0,
            "fpp": 0.0,
            "fdp": 0.0,
            "aji": 16 / (16 + 9),
            "pq": 1 / 1.5,
            "sq": 1.0,
            "rq": 1 / 1.5,
            "det_precision": 1.0,
            "det_recall": 0.5,
            "det_f1": 2 / 3,
            "n_true": 2,
            "n_pred": 1,
            "n_matched": 1,
            "n_tp": 1,
            "n_fp": 0,
            "n_fn": 1,
        },
    )


def test_a_split_cell():
    # 16-pixel cell predicted as 12 + 4 pixels
    got = instance_metrics(labels(SQUARE), labels((0, 4, 0, 3), (0, 4, 3, 4)))
    check(
        got,
        {
            "dice_matched": 24 / 28,
            "fno": 0.0,
            "tpp": 0.75,
            "fpp": 0.0,
            "fdp": 0.0,
            "aji": 12 / (16 + 4),
            "pq": 0.75 / 1.5,
            "sq": 0.75,
            "rq": 1 / 1.5,
            "det_precision": 0.5,
            "det_recall": 1.0,
            "det_f1": 2 / 3,
            "n_true": 1,
            "n_pred": 2,
            "n_matched": 1,
            "n_tp": 1,
            "n_fp": 1,
            "n_fn": 0,
        },
    )


def test_a_cell_split_in_halves_meets_neither_threshold():
    # 8 + 8 pixels: Dice 2/3 (not > 0.7) and IoU 0.5 (not > 0.5); AJI takes the first half
    got = instance_metrics(labels(SQUARE), labels((0, 4, 0, 2), (0, 4, 2, 4)))
    check(
        got,
        {
            "dice_matched": math.nan,
            "fno": 1.0,
            "tpp": math.nan,
            "fpp": math.nan,
            "aji": 8 / (16 + 8),
            "pq": 0.0,
            "sq": 0.0,
            "rq": 0.0,
            "det_f1": 0.0,
            "n_matched": 0,
            "n_tp": 0,
        },
    )


def test_a_merged_cell():
    # cells of 16 and 4 pixels predicted as one 20-pixel cell
    got = instance_metrics(labels(SQUARE, (0, 4, 4, 5)), labels((0, 4, 0, 5)))
    check(
        got,
        {
            "dice_matched": 32 / 36,
            "fno": 0.5,
            "tpp": 1.0,
            "fpp": 4 / (100 - 16),
            "fdp": 4 / 20,
            "aji": (16 + 4) / (20 + 20),
            "pq": 0.8 / 1.5,
            "sq": 0.8,
            "rq": 1 / 1.5,
            "det_precision": 1.0,
            "det_recall": 0.5,
            "det_f1": 2 / 3,
            "n_true": 2,
            "n_pred": 1,
            "n_matched": 1,
            "n_tp": 1,
            "n_fp": 0,
            "n_fn": 1,
        },
    )


def test_empty_prediction():
    got = instance_metrics(labels(SQUARE), np.zeros((H, W), int))
    check(
        got,
        {
            "dice_matched": math.nan,
            "fno": 1.0,
            "tpp": math.nan,
            "fpp": math.nan,
            "fdp": math.nan,
            "aji": 0.0,
            "pq": 0.0,
            "sq": 0.0,
            "rq": 0.0,
            "det_precision": 0.0,
            "det_recall": 0.0,
            "det_f1": 0.0,
            "n_true": 1,
            "n_pred": 0,
            "n_matched": 0,
            "n_tp": 0,
            "n_fp": 0,
            "n_fn": 1,
        },
    )


def test_empty_truth():
    got = instance_metrics(np.zeros((0, H, W), bool), labels(SQUARE))
    check(
        got,
        {
            "dice_matched": math.nan,
            "fno": 0.0,
            "tpp": math.nan,
            "fpp": math.nan,
            "fdp": math.nan,
            "aji": 0.0,
            "pq": 0.0,
            "sq": 0.0,
            "rq": 0.0,
            "det_precision": 0.0,
            "det_recall": 0.0,
            "det_f1": 0.0,
            "n_true": 0,
            "n_pred": 1,
            "n_matched": 0,
            "n_tp": 0,
            "n_fp": 1,
            "n_fn": 0,
        },
    )


def test_both_empty_is_perfect():
    got = instance_metrics(np.zeros((H, W), int), np.zeros((H, W), int))
    check(
        got,
        {
            "dice_matched": 1.0,
            "fno": 0.0,
            "tpp": 1.0,
            "fpp": 0.0,
            "fdp": 0.0,
            "aji": 1.0,
            "pq": 1.0,
            "sq": 1.0,
            "rq": 1.0,
            "det_precision": 1.0,
            "det_recall": 1.0,
            "det_f1": 1.0,
            "n_true": 0,
            "n_pred": 0,
            "n_matched": 0,
        },
    )


def test_overlapping_truth_against_a_partition():
    # ISBI-style truth: two 16-pixel cells sharing 4 pixels; the prediction gives the shared
    # pixels to the first cell (16 px) and the rest of the second to a 12-pixel cell
    truth = stack(SQUARE, (2, 6, 2, 6))
    pred = labels((2, 6, 2, 6), SQUARE)
    got = instance_metrics(truth, pred)
    check(
        got,
        {
            "dice_matched": (1 + 24 / 28) / 2,
            "fno": 0.0,
            "tpp": (1 + 12 / 16) / 2,
            "fpp": 0.0,
            "aji": (16 + 12) / (16 + 16),
            "pq": 1.75 / 2,
            "sq": 0.875,
            "rq": 1.0,
            "det_f1": 1.0,
            "n_true": 2,
            "n_pred": 2,
            "n_matched": 2,
        },
    )


def test_overlapping_truth_is_matched_greedily_one_to_one():
    # two nested truth cells (16 and 20 px) both exceed IoU 0.5 with one prediction: the pair
    # of higher IoU wins for PQ; the ISBI measures let the prediction serve both cells
    truth, pred = stack(SQUARE, (0, 4, 0, 5)), labels((0, 4, 0, 5))
    pairs, ious = match_instances(truth, pred)
    np.testing.assert_array_equal(pairs, [[1, 0]])
    np.testing.assert_allclose(ious, [1.0])
    check(panoptic_quality(truth, pred), {"pq": 1 / 1.5, "sq": 1.0, "rq": 1 / 1.5, "n_tp": 1, "n_fn": 1})
    check(isbi_cell_measures(truth, pred), {"n_matched": 2, "fno": 0.0, "dice_matched": (32 / 36 + 1) / 2})


def test_the_single_metric_functions_agree_with_instance_metrics():
    truth, pred = labels(SQUARE, (6, 9, 6, 9)), labels((0, 4, 1, 5), (7, 9, 7, 10))
    got = instance_metrics(truth, pred, iou=0.3, dice_match=0.5)
    check(got, isbi_cell_measures(truth, pred, dice_match=0.5))
    check(got, panoptic_quality(truth, pred, iou=0.3))
    check(got, detection_scores(truth, pred, iou=0.3))
    assert got["aji"] == pytest.approx(aggregated_jaccard_index(truth, pred))


def test_thresholds_change_the_matching():
    truth, pred = labels(SQUARE), labels((0, 4, 1, 5))  # Dice 0.75, IoU 0.6
    assert isbi_cell_measures(truth, pred, dice_match=0.75)["n_matched"] == 0  # strict >
    assert panoptic_quality(truth, pred, iou=0.6)["n_tp"] == 0
    assert detection_scores(truth, pred, iou=0.59)["det_f1"] == 1.0


def test_prefix_names_every_key():
    got = instance_metrics(labels(SQUARE), labels(SQUARE), prefix="nucleus_")
    assert list(got) == [f"nucleus_{k}" for k in INSTANCE_KEYS]


def test_a_torch_label_map_is_accepted():
    torch = pytest.importorskip("torch")
    lab = labels(SQUARE)
    assert instance_metrics(torch.from_numpy(lab), lab)["pq"] == 1.0


# --------------------------------------------------------------------------- bad input
@pytest.mark.parametrize(
    "truth, pred, error",
    [
        (np.zeros((H, W), int), np.zeros((H, W + 1), int), ValueError),  # shape mismatch
        (np.zeros((2, H, W), bool), np.zeros((H + 1, W), int), ValueError),
        (np.zeros((H, W), float), np.zeros((H, W), int), TypeError),  # a float "label map"
        (np.zeros((H, W), int), np.zeros((H, W), bool), TypeError),  # a binary mask is no label map
        (np.zeros((1, H, W), np.float32), np.zeros((H, W), int), TypeError),  # a float stack
        (np.zeros(H, int), np.zeros(H, int), ValueError),  # 1-D
        (np.zeros((1, 1, H, W), bool), np.zeros((H, W), int), ValueError),  # 4-D
        (-np.ones((H, W), int), np.zeros((H, W), int), ValueError),  # negative ids
    ],
)
def test_bad_inputs_raise(truth, pred, error):
    with pytest.raises(error):
        instance_metrics(truth, pred)


def test_bad_thresholds_raise():
    lab = labels(SQUARE)
    with pytest.raises(ValueError):
        instance_metrics(lab, lab, iou=1.0)
    with pytest.raises(ValueError):
        isbi_cell_measures(lab, lab, dice_match=-0.1)
    with pytest.raises(TypeError):
        as_instance_masks(np.zeros((H, W), float))


# --------------------------------------------------------------------------- over images
def _two_images(prefix: str = "") -> list[dict]:
    overlapping = instance_metrics(stack(SQUARE, (2, 6, 2, 6)), labels((2, 6, 2, 6), SQUARE), prefix=prefix)
    missed = instance_metrics(labels(SQUARE, (6, 9, 6, 9)), labels(SQUARE), prefix=prefix)
    return [overlapping, missed]


def test_aggregate_pools_cell_measures_and_averages_image_scores():
    agg = aggregate_instance_metrics(_two_images(), n_boot=200, seed=0)
    assert agg["n_images"] == 2
    # dice over the 3 matched cells of both images: (1 + 24/28) + 1
    assert agg["dice_matched"] == pytest.approx((1 + 24 / 28 + 1) / 3)
    assert agg["fno"] == pytest.approx(1 / 4)  # 1 of 4 truth cells missed
    assert agg["tpp"] == pytest.approx((1 + 0.75 + 1) / 3)
    assert agg["aji"] == pytest.approx((28 / 32 + 16 / 25) / 2)  # mean over images
    assert agg["pq"] == pytest.approx((0.875 + 2 / 3) / 2)
    assert agg["n_true"] == 4 and agg["n_matched"] == 3 and agg["n_fn"] == 1  # totals
    assert set(agg["ci95"]) == {k for k in INSTANCE_KEYS if not k.startswith("n_")}
    low, high = agg["ci95"]["aji"]
    assert low <= agg["aji"] <= high
    assert low == pytest.approx(16 / 25) and high == pytest.approx(28 / 32)


def test_aggregate_is_reproducible_for_the_same_seed():
    per = _two_images() * 3
    a = aggregate_instance_metrics(per, n_boot=100, seed=3)
    b = aggregate_instance_metrics(per, n_boot=100, seed=3)
    assert a == b


def test_aggregate_with_cell_and_nucleus_prefixes():
    per = [{**c, **n} for c, n in zip(_two_images("cell_"), _two_images("nucleus_"))]
    agg = aggregate_instance_metrics(per, n_boot=50)
    plain = aggregate_instance_metrics(_two_images(), n_boot=50)
    for key in ("dice_matched", "fno", "aji", "n_true"):
        assert agg[f"cell_{key}"] == pytest.approx(plain[key])
        assert agg[f"nucleus_{key}"] == pytest.approx(plain[key])
    assert agg["ci95"]["cell_aji"] == pytest.approx(plain["ci95"]["aji"])


def test_aggregate_ignores_images_without_matched_cells_when_pooling():
    empty_pred = instance_metrics(labels(SQUARE), np.zeros((H, W), int))  # dice NaN, 1 cell missed
    perfect = instance_metrics(labels(SQUARE), labels(SQUARE))
    agg = aggregate_instance_metrics([empty_pred, perfect], n_boot=20)
    assert agg["dice_matched"] == 1.0 and agg["fno"] == 0.5 and agg["aji"] == 0.5


def test_aggregate_rejects_bad_lists():
    with pytest.raises(ValueError):
        aggregate_instance_metrics([])
    with pytest.raises(ValueError):
        aggregate_instance_metrics([{"aji": 1.0}, {"pq": 1.0}])


def test_aggregate_counts_are_integers_and_a_single_image_has_a_point_interval():
    agg = aggregate_instance_metrics(_two_images()[:1], n_boot=30)
    assert isinstance(agg["n_true"], int) and agg["n_true"] == 2
    assert agg["ci95"]["pq"] == pytest.approx([0.875, 0.875])
