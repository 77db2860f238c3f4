"""Instance-segmentation metrics: one score per image for cells (or nuclei) as separate objects.

Plain functions of a ground truth and a prediction, each in one of two forms:

* a label map ``(H, W)`` of integers (0 = background, ``k > 0`` = instance ``k``; a partition), or
* a stack of bool masks ``(N, H, W)`` that MAY overlap (the per-cell truth of the ISBI 2014/2015
  overlapping cervical cytology challenges overlaps).

The measures:

* ISBI challenge cell measures (:func:`isbi_cell_measures`): Lu, Carneiro, Bradley, Ushizima,
  Nosrati, Bianchi, Carneiro, Hamarneh, "Evaluation of Three Algorithms for the Segmentation of
  Overlapping Cervical Cells", IEEE JBHI 21(2), 2017; Lu, Carneiro, Bradley, "An Improved Joint
  Optimization of Multiple Level Set Functions for the Segmentation of Overlapping Cervical
  Cells", IEEE TIP 24(4), 2015 (the ISBI 2015 challenge). Dice over "good" cells (Dice > 0.7),
  the object false-negative rate FNo and the pixel rates TPp and FPp.
* Aggregated Jaccard Index (:func:`aggregated_jaccard_index`): Kumar, Verma, Sharma, Bhargava,
  Vahadane, Sethi, "A Dataset and a Technique for Generalized Nuclear Segmentation for
  Computational Pathology", IEEE TMI 36(7), 2017.
* Panoptic quality PQ = SQ x RQ (:func:`panoptic_quality`): Kirillov, He, Girshick, Rother,
  Dollar, "Panoptic Segmentation", CVPR 2019; and detection precision / recall / F1 on the same
  one-to-one IoU matching (:func:`detection_scores`).

All of them come from one overlap matrix (:func:`overlap_matrix`), built with sparse indicator
matrices, so its cost is linear in the pixels (a 2048x1536 label map with 200 cells takes a
fraction of a second) whether or not the masks overlap. :func:`instance_metrics` gives every
measure of one image (``prefix`` names them, e.g. ``"nucleus_"`` for nucleus label maps);
:func:`aggregate_instance_metrics` summarises a list of them with percentile bootstrap CIs
over images (:func:`cervix.metrics.scores.bootstrap_cis`).

Empty images: when truth and prediction are both empty every measure is perfect (1.0; 0.0 for
the error rates FNo, FPp and FDp). Otherwise a ratio whose denominator is zero is 0.0
(scikit-learn's ``zero_division=0``, as in :mod:`cervix.metrics.scores`), except the means over matched
cells of the ISBI measures, which are NaN when no cell is matched.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, NamedTuple

import numpy as np
from scipy import sparse

from cervix.metrics.scores import bootstrap_cis

__all__ = [
    "INSTANCE_KEYS",
    "Overlaps",
    "as_instance_masks",
    "overlap_matrix",
    "isbi_cell_measures",
    "aggregated_jaccard_index",
    "match_instances",
    "panoptic_quality",
    "detection_scores",
    "instance_metrics",
    "aggregate_instance_metrics",
]

#: Keys of :func:`instance_metrics` (before any prefix), in order.
INSTANCE_KEYS: tuple[str, ...] = (
    "dice_matched",
    "fno",
    "tpp",
    "fpp",
    "fdp",
    "aji",
    "pq",
    "sq",
    "rq",
    "det_precision",
    "det_recall",
    "det_f1",
    "n_true",
    "n_pred",
    "n_matched",
    "n_tp",
    "n_fp",
    "n_fn",
)

#: ISBI means over matched cells, pooled over the matched cells of all images when aggregating.
_POOLED_BY_MATCHED = ("dice_matched", "tpp", "fpp", "fdp")


class Overlaps(NamedTuple):
    """Pixel counts of ``N`` truth and ``M`` predicted instances of one image.

    Attributes:
        inter: ``(N, M)`` int64, pixels truth ``i`` and prediction ``j`` share.
        area_true: ``(N,)`` pixels of each truth instance.
        area_pred: ``(M,)`` pixels of each predicted instance.
        n_pixels: Pixels of the image, ``H * W``.
    """

    inter: np.ndarray
    area_true: np.ndarray
    area_pred: np.ndarray
    n_pixels: int


# ---------------------------------------------------------------------------------------------
# Inputs
# ---------------------------------------------------------------------------------------------
def _checked(x: Any) -> np.ndarray:
    """``x`` as a numpy label map (integer ``(H, W)``) or mask stack (bool/integer ``(N, H, W)``)."""
    if hasattr(x, "detach"):  # a torch tensor, without importing torch
        x = x.detach().cpu().numpy()
    arr = np.asarray(x)
    if arr.ndim not in (2, 3):
        raise ValueError(f"expected a label map (H, W) or a stack of masks (N, H, W); got shape {arr.shape}")
    if arr.ndim == 2 and (arr.dtype == bool or not np.issubdtype(arr.dtype, np.integer)):
        raise TypeError(
            f"an (H, W) input must be an integer label map; got dtype {arr.dtype} "
            "(pass a bool (N, H, W) stack for per-instance masks)"
        )
    if arr.ndim == 3 and arr.dtype != bool and not np.issubdtype(arr.dtype, np.integer):
        raise TypeError(f"an (N, H, W) stack of masks must be bool (or integer, nonzero = in); got {arr.dtype}")
    if arr.ndim == 2 and arr.size and arr.min() < 0:
        raise ValueError("a label map must not hold negative ids")
    return arr


def _indicator(arr: np.ndarray) -> sparse.csr_matrix:
    """Sparse ``(K, H*W)`` indicator of the ``K`` non-empty instances of a checked input, in id
    (label map) or stack order."""
    if arr.ndim == 2:
        flat = arr.ravel()
        pix = np.flatnonzero(flat)
        ids = flat[pix]
        if len(ids) and int(ids.max()) <= 4 * flat.size:  # ids -> 0..K-1 through a lookup table
            present = np.bincount(ids.astype(np.intp)) > 0
            rows = (np.cumsum(present) - 1)[ids.astype(np.intp)]
        else:  # sparse huge ids (or none)
            _, rows = np.unique(ids, return_inverse=True)
    else:
        rows, pix = np.nonzero(arr.reshape(arr.shape[0], arr.shape[1] * arr.shape[2]))
        keep = np.bincount(rows, minlength=arr.shape[0]) > 0  # empty masks are dropped
        rows = (np.cumsum(keep) - 1)[rows]
    k = int(rows.max()) + 1 if len(rows) else 0
    shape = (k, arr.shape[-2] * arr.shape[-1])
    return sparse.csr_matrix((np.ones(len(pix), np.int64), (rows.ravel(), pix)), shape=shape)


def as_instance_masks(x: Any) -> np.ndarray:
    """One bool mask per instance, from a label map or a stack of masks.

    Args:
        x: An integer label map ``(H, W)`` (0 = background) or a stack ``(N, H, W)`` of bool (or
            integer, nonzero = inside) masks, which may overlap.

    Returns:
        ``(N, H, W)`` bool: for a label map one mask per nonzero id in increasing id order; for
        a stack the masks as given, less the empty ones. No instance -> shape ``(0, H, W)``.

    Raises:
        ValueError: not 2-D or 3-D, or a label map with negative ids.
        TypeError: a float or bool ``(H, W)`` array, or a float stack.
    """
    arr = _checked(x)
    h, w = arr.shape[-2:]
    return _indicator(arr).toarray().astype(bool).reshape(-1, h, w)


def _row_sums(m: sparse.csr_matrix) -> np.ndarray:
    """Pixels of each instance of a sparse indicator matrix."""
    return np.asarray(m.sum(axis=1), dtype=np.int64).ravel()


def overlap_matrix(truth: Any, pred: Any) -> Overlaps:
    """Pixels shared by every truth and predicted instance, and their areas.

    The product of the sparse indicator matrices of the two sets: linear in the pixels when
    either is a label map, and in ``sum over pixels of (truths x predictions covering it)`` for
    two overlapping stacks; no ``O(N * M * H * W)`` loop.

    Args:
        truth: Label map ``(H, W)`` or mask stack ``(N, H, W)`` (see :func:`as_instance_masks`).
        pred: The same two forms, same ``(H, W)``.

    Returns:
        :class:`Overlaps`, instances in :func:`as_instance_masks` order.

    Raises:
        ValueError: ``truth`` and ``pred`` cover different ``(H, W)``; see :func:`as_instance_masks`.
    """
    t, p = _checked(truth), _checked(pred)
    if t.shape[-2:] != p.shape[-2:]:
        raise ValueError(f"truth {t.shape} and prediction {p.shape} must have the same (H, W)")
    ti, pi = _indicator(t), _indicator(p)
    inter = (ti @ pi.T).toarray().astype(np.int64)
    return Overlaps(inter, _row_sums(ti), _row_sums(pi), int(t.shape[-2] * t.shape[-1]))


def _check_threshold(name: str, value: float) -> None:
    """Raise ValueError unless ``0 <= value < 1``."""
    if not 0.0 <= value < 1.0:
        raise ValueError(f"{name} must lie in [0, 1); got {value}")


# ---------------------------------------------------------------------------------------------
# Measures of one image
# ---------------------------------------------------------------------------------------------
def _isbi(ov: Overlaps, dice_match: float) -> dict[str, float]:
    """:func:`isbi_cell_measures` of an overlap matrix."""
    n, m = ov.inter.shape
    nan = float("nan")
    perfect = n == 0 and m == 0
    out: dict[str, float] = {
        "dice_matched": 1.0 if perfect else nan,
        "fno": 0.0 if n == 0 else 1.0,
        "tpp": 1.0 if perfect else nan,
        "fpp": 0.0 if perfect else nan,
        "fdp": 0.0 if perfect else nan,
        "n_true": n,
        "n_pred": m,
        "n_matched": 0,
    }
    if n == 0 or m == 0:
        return out
    best = ov.inter.argmax(1)  # the prediction sharing the most pixels with each truth cell
    inter = ov.inter[np.arange(n), best].astype(np.float64)
    a_g, a_s = ov.area_true.astype(np.float64), ov.area_pred[best].astype(np.float64)
    dice = 2 * inter / (a_g + a_s)
    ok = (inter > 0) & (dice > dice_match)
    out.update(n_matched=int(ok.sum()), fno=float(1.0 - ok.mean()))
    if ok.any():
        background = ov.n_pixels - a_g  # |I \ G|
        false_pos = a_s - inter  # |S \ G|
        fpp = np.divide(false_pos, background, out=np.zeros_like(false_pos), where=background > 0)
        out.update(
            dice_matched=float(dice[ok].mean()),
            tpp=float((inter / a_g)[ok].mean()),
            fpp=float(fpp[ok].mean()),
            fdp=float((false_pos / a_s)[ok].mean()),
        )
    return out


def isbi_cell_measures(truth: Any, pred: Any, dice_match: float = 0.7) -> dict[str, float]:
    """The ISBI 2014/2015 overlapping cervical cytology challenge measures of one image.

    Each truth cell ``G`` is paired with the predicted cell ``S`` sharing the most pixels with
    it (ties: the first prediction); it is *matched* ("good segmentation") when ``S`` overlaps
    it and ``Dice(G, S) > dice_match``. As in the challenge a prediction may serve several
    truth cells (no one-to-one constraint; with disjoint truth cells and ``dice_match >= 2/3``
    it cannot happen anyway).

    Definitions (means are over the matched cells):

    * ``dice_matched``: mean ``2|G∩S| / (|G| + |S|)``.
    * ``fno``: object false-negative rate, the share of truth cells not matched.
    * ``tpp``: pixel true-positive rate, mean ``|G∩S| / |G|``.
    * ``fpp``: pixel false-positive rate as the challenge defines it, relative to the cell's
      background ``I \\ G`` (``I`` the whole image): mean ``|S \\ G| / |I \\ G|`` (0.0 where ``G``
      covers the image). The published FPp values, of the order of 1e-3, fit this denominator.
    * ``fdp``: not a challenge measure: the pixel false-discovery proportion relative to the
      prediction, mean ``|S \\ G| / |S|``.
    * ``n_true``, ``n_pred``, ``n_matched``: instance counts.

    Empty cases: no truth cell -> ``fno`` 0.0, and the means are perfect (1.0 / 0.0) when
    nothing is predicted either, NaN otherwise; no cell matched -> the means are NaN.

    Args:
        truth: Label map ``(H, W)`` or mask stack ``(N, H, W)`` (may overlap).
        pred: The same two forms, same ``(H, W)``.
        dice_match: Dice above which a truth cell counts as matched (0.7 in the challenge).

    Returns:
        ``{dice_matched, fno, tpp, fpp, fdp, n_true, n_pred, n_matched}``.
    """
    _check_threshold("dice_match", dice_match)
    return _isbi(overlap_matrix(truth, pred), dice_match)


def _iou(ov: Overlaps) -> np.ndarray:
    """``(N, M)`` IoU of every truth and predicted instance."""
    union = ov.area_true[:, None] + ov.area_pred[None, :] - ov.inter
    return ov.inter / np.maximum(union, 1)


def _aji(ov: Overlaps) -> float:
    """:func:`aggregated_jaccard_index` of an overlap matrix."""
    n, m = ov.inter.shape
    if n == 0 and m == 0:
        return 1.0
    inter_sum, union_sum = 0, int(ov.area_pred.sum())  # every prediction unused so far
    if n and m:
        best = _iou(ov).argmax(1)
        inter = ov.inter[np.arange(n), best]
        hit = inter > 0
        used = np.zeros(m, bool)
        used[best[hit]] = True
        inter_sum = int(inter[hit].sum())
        union = ov.area_true + ov.area_pred[best] - inter
        union_sum = int(np.where(hit, union, ov.area_true).sum()) + int(ov.area_pred[~used].sum())
    else:
        union_sum += int(ov.area_true.sum())
    return inter_sum / union_sum


def aggregated_jaccard_index(truth: Any, pred: Any) -> float:
    """Aggregated Jaccard Index (Kumar et al. 2017) of one image.

    Each truth cell ``G_i`` is paired with the predicted cell ``S*`` of highest IoU with it;
    ``AJI = sum_i |G_i ∩ S*| / (sum_i |G_i ∪ S*| + sum of |S| over predictions never paired)``.
    A truth cell that no prediction overlaps adds ``|G_i|`` to the denominator and pairs with
    nothing (as the fast AJI of HoVer-Net; Kumar's reference code would charge an arbitrary
    prediction). A prediction paired with several truth cells counts in each union. Per-cell
    masks make it work with overlapping truth.

    Args:
        truth: Label map ``(H, W)`` or mask stack ``(N, H, W)`` (may overlap).
        pred: The same two forms, same ``(H, W)``.

    Returns:
        AJI in [0, 1]; 1.0 when both are empty, 0.0 when only one is.
    """
    return _aji(overlap_matrix(truth, pred))


def _match(ov: Overlaps, iou: float) -> tuple[np.ndarray, np.ndarray]:
    """:func:`match_instances` of an overlap matrix."""
    scores = _iou(ov)
    ti, pj = np.nonzero(scores > iou)
    order = np.argsort(-scores[ti, pj], kind="stable")  # ties: lower truth, then prediction index
    used_t, used_p, pairs = set(), set(), []
    for k in order:
        if ti[k] not in used_t and pj[k] not in used_p:
            used_t.add(ti[k])
            used_p.add(pj[k])
            pairs.append((ti[k], pj[k]))
    pairs_arr = np.array(pairs, dtype=np.int64).reshape(-1, 2)
    return pairs_arr, scores[pairs_arr[:, 0], pairs_arr[:, 1]]


def match_instances(truth: Any, pred: Any, iou: float = 0.5) -> tuple[np.ndarray, np.ndarray]:
    """One-to-one matching of truth and predicted instances with IoU above ``iou``.

    Pairs are taken greedily by descending IoU (ties: lower truth index, then lower prediction
    index), each instance at most once. With ``iou >= 0.5``, disjoint truth instances and a
    partition as prediction, every pair with IoU > 0.5 is unique anyway (Kirillov et al. 2019)
    and the greedy matching is that matching; with overlapping truth two truth cells can both
    exceed 0.5 with one prediction, and the greedy order decides.

    Args:
        truth: Label map ``(H, W)`` or mask stack ``(N, H, W)`` (may overlap).
        pred: The same two forms, same ``(H, W)``.
        iou: Strict IoU threshold in [0, 1).

    Returns:
        ``(pairs, ious)``: ``(K, 2)`` int64 ``(truth index, prediction index)`` in
        :func:`as_instance_masks` order, and the ``(K,)`` IoU of each pair.
    """
    _check_threshold("iou", iou)
    return _match(overlap_matrix(truth, pred), iou)


def _pq(ov: Overlaps, iou: float) -> dict[str, float]:
    """:func:`panoptic_quality` of an overlap matrix."""
    n, m = ov.inter.shape
    _, ious = _match(ov, iou)
    tp = len(ious)
    counts = {"n_tp": tp, "n_fp": m - tp, "n_fn": n - tp}
    if n == 0 and m == 0:
        return {"pq": 1.0, "sq": 1.0, "rq": 1.0, **counts}
    den = tp + (m - tp) / 2 + (n - tp) / 2
    return {"pq": float(ious.sum() / den), "sq": float(ious.mean()) if tp else 0.0, "rq": tp / den, **counts}


def panoptic_quality(truth: Any, pred: Any, iou: float = 0.5) -> dict[str, float]:
    """Panoptic quality of one image's instances (one class; Kirillov et al. 2019).

    On the matching of :func:`match_instances`: ``PQ = sum IoU(TP) / (TP + FP/2 + FN/2)``,
    ``SQ = sum IoU(TP) / TP`` (segmentation quality), ``RQ = TP / (TP + FP/2 + FN/2)``
    (recognition quality), so ``PQ = SQ * RQ``.

    Args:
        truth: Label map ``(H, W)`` or mask stack ``(N, H, W)`` (may overlap).
        pred: The same two forms, same ``(H, W)``.
        iou: Strict IoU threshold of a true positive (0.5 in the paper).

    Returns:
        ``{pq, sq, rq, n_tp, n_fp, n_fn}``; all three 1.0 when both are empty; SQ is 0.0 when
        there is no true positive otherwise (HoVer-Net's convention; PQ = SQ * RQ still holds).
    """
    _check_threshold("iou", iou)
    return _pq(overlap_matrix(truth, pred), iou)


def _detection(tp: int, n: int, m: int) -> dict[str, float]:
    """Detection precision, recall and F1 of ``tp`` pairs among ``n`` truth and ``m`` predicted instances."""
    if n == 0 and m == 0:
        return {"det_precision": 1.0, "det_recall": 1.0, "det_f1": 1.0}
    return {"det_precision": tp / m if m else 0.0, "det_recall": tp / n if n else 0.0, "det_f1": 2 * tp / (n + m)}


def detection_scores(truth: Any, pred: Any, iou: float = 0.5) -> dict[str, float]:
    """Object detection precision, recall and F1 on the one-to-one IoU matching of PQ.

    ``precision = TP / M``, ``recall = TP / N``, ``F1 = 2 TP / (N + M)`` for ``N`` truth and
    ``M`` predicted instances and ``TP`` pairs of :func:`match_instances`.

    Args:
        truth: Label map ``(H, W)`` or mask stack ``(N, H, W)`` (may overlap).
        pred: The same two forms, same ``(H, W)``.
        iou: Strict IoU threshold of a true positive.

    Returns:
        ``{det_precision, det_recall, det_f1}``; all 1.0 when both are empty; a ratio with a
        zero denominator otherwise (no prediction, or no truth) is 0.0.
    """
    _check_threshold("iou", iou)
    ov = overlap_matrix(truth, pred)
    return _detection(len(_match(ov, iou)[1]), *ov.inter.shape)


def instance_metrics(
    truth: Any, pred: Any, iou: float = 0.5, dice_match: float = 0.7, prefix: str = ""
) -> dict[str, float]:
    """Every instance measure of one image, from one overlap matrix.

    Args:
        truth: Label map ``(H, W)`` or mask stack ``(N, H, W)`` (may overlap).
        pred: The same two forms, same ``(H, W)``.
        iou: Strict IoU threshold of the PQ / detection matching (:func:`match_instances`).
        dice_match: Dice threshold of the ISBI measures (:func:`isbi_cell_measures`).
        prefix: Put before every key, e.g. ``"cell_"`` and ``"nucleus_"`` for the metrics of the
            cell and the nucleus label maps of the same image, to merge into one dict
            (:func:`aggregate_instance_metrics` recognises the prefixes).

    Returns:
        ``{prefix + key: value}`` for the :data:`INSTANCE_KEYS`: ``dice_matched, fno, tpp, fpp,
        fdp, n_true, n_pred, n_matched`` (:func:`isbi_cell_measures`), ``aji``
        (:func:`aggregated_jaccard_index`), ``pq, sq, rq, n_tp, n_fp, n_fn``
        (:func:`panoptic_quality`) and ``det_precision, det_recall, det_f1``
        (:func:`detection_scores`). Counts are ints, the rest floats (NaN where undefined).
    """
    _check_threshold("iou", iou)
    _check_threshold("dice_match", dice_match)
    ov = overlap_matrix(truth, pred)
    pq = _pq(ov, iou)
    values = {**_isbi(ov, dice_match), "aji": _aji(ov), **pq, **_detection(pq["n_tp"], *ov.inter.shape)}
    return {prefix + key: values[key] for key in INSTANCE_KEYS}


# ---------------------------------------------------------------------------------------------
# Over images
# ---------------------------------------------------------------------------------------------
def _split_key(key: str) -> tuple[str, str]:
    """``(prefix, base)`` of a key ending in one of :data:`INSTANCE_KEYS`; ``("", key)`` otherwise."""
    for base in sorted(INSTANCE_KEYS, key=len, reverse=True):
        if key.endswith(base):
            return key[: -len(base)], base
    return "", key


def _is_count(key: str) -> bool:
    """Whether ``key`` (any prefix) is one of the instance counts ``n_*``."""
    base = _split_key(key)[1]
    return base in INSTANCE_KEYS and base.startswith("n_")


def _pooled(values: np.ndarray, weights: np.ndarray) -> float:
    """Weighted mean over the rows with weight > 0; without any, the mean of the finite values."""
    w = weights > 0
    if w.any():
        return float(np.sum(values[w] * weights[w]) / np.sum(weights[w]))
    finite = values[np.isfinite(values)]
    return float(finite.mean()) if len(finite) else float("nan")


def _aggregate(table: np.ndarray, keys: Sequence[str]) -> dict[str, float]:
    """Summary of an ``(n_images, len(keys))`` table of per-image values (see
    :func:`aggregate_instance_metrics`)."""
    col = {k: table[:, i] for i, k in enumerate(keys)}
    out: dict[str, float] = {}
    for key in keys:
        prefix, base = _split_key(key)
        weight = {"fno": "n_true", **dict.fromkeys(_POOLED_BY_MATCHED, "n_matched")}.get(base)
        if _is_count(key):
            out[key] = float(np.nansum(col[key]))
        elif weight is not None and prefix + weight in col:
            out[key] = _pooled(col[key], col[prefix + weight])
        else:
            out[key] = _pooled(col[key], np.zeros(len(table)))
    return out


def aggregate_instance_metrics(
    per_image: Sequence[Mapping[str, Any]], n_boot: int = 1000, seed: int = 0
) -> dict[str, Any]:
    """Summary over images of :func:`instance_metrics` dicts, with bootstrap 95% CIs.

    Per key (any prefix, e.g. ``cell_`` and ``nucleus_`` side by side, is recognised):

    * ``dice_matched, tpp, fpp, fdp``: pooled over all matched cells of all images (the mean of
      the per-image values weighted by ``n_matched``), as the challenge averages over its "good"
      cells; ``fno``: pooled over all truth cells (missed cells / truth cells, weights
      ``n_true``). Without any matched (truth) cell: the mean of the finite per-image values.
    * Counts (``n_true, n_pred, n_matched, n_tp, n_fp, n_fn``): totals over images.
    * Everything else (``aji, pq, sq, rq, det_*`` and any other numeric key): the mean over
      images of the finite per-image values (per image, then averaged, as in HoVer-Net).

    ``ci95`` holds the percentile bootstrap 95% interval of every non-count key:
    ``n_boot`` resamples of the images, each summarised as above
    (:func:`cervix.metrics.scores.bootstrap_cis`; the same ``seed`` gives the same intervals;
    non-finite replicates dropped).

    Args:
        per_image: One dict per image, all with the same keys; non-numeric values are ignored.
        n_boot: Bootstrap replicates.
        seed: Seed of the resampling generator.

    Returns:
        ``{key: value, ..., "n_images": int, "ci95": {key: [low, high]}}``.

    Raises:
        ValueError: no image, or images with different keys.
    """
    if not per_image:
        raise ValueError("aggregate_instance_metrics needs at least one image")
    keys = [k for k, v in per_image[0].items() if isinstance(v, (int, float, np.number)) and not isinstance(v, bool)]
    if any(set(d) != set(per_image[0]) for d in per_image):
        raise ValueError("every image's metrics must have the same keys")
    table = np.array([[float(d[k]) for k in keys] for d in per_image], dtype=np.float64).reshape(len(per_image), -1)
    out: dict[str, Any] = {k: int(v) if _is_count(k) else v for k, v in _aggregate(table, keys).items()}
    ci_keys = [k for k in keys if not _is_count(k)]
    cis = bootstrap_cis(lambda t: _aggregate(t, keys), table, keys=ci_keys, n_boot=n_boot, seed=seed)
    out["n_images"] = len(per_image)
    out["ci95"] = {k: list(v) for k, v in cis.items()}
    return out
