"""Tables of results for notebooks and papers: values with their 95% CIs, per-class reports.

Each takes the dicts an evaluation writes to ``metrics.json`` (:func:`cervix.stages.evaluate_checkpoint`)
and returns a pandas DataFrame.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

from cervix.core.labels import HEADS

__all__ = [
    "instance_table",
    "classification_report_table",
    "metrics_table",
    "segmentation_table",
]


def classification_report_table(metrics: Mapping[str, Any], digits: int = 3):
    """Per-class precision, recall, F1 and support, then macro average and accuracy rows (DataFrame).

    The accuracy row is the micro average: with one label per crop, micro-averaged precision,
    recall and F1 all equal the accuracy, so the row has no empty cells.
    """
    import pandas as pd

    rows = {name: dict(pc) for name, pc in metrics["per_class"].items()}
    rows["macro avg"] = {
        "precision": metrics["precision_macro"],
        "recall": metrics["recall_macro"],
        "f1": metrics["f1_macro"],
        "support": metrics["n_samples"],
    }
    rows["accuracy"] = {
        "precision": metrics["accuracy"],
        "recall": metrics["accuracy"],
        "f1": metrics["accuracy"],
        "support": metrics["n_samples"],
    }
    df = pd.DataFrame.from_dict(rows, orient="index")[["precision", "recall", "f1", "support"]]
    df["support"] = df["support"].astype(int)
    return df.round(digits)


def _fmt_ci(value: Any, ci: Sequence[Any] | None, digits: int) -> str:
    if value is None or (isinstance(value, float) and not math.isfinite(value)):
        return "n/a"
    s = f"{value:.{digits}f}"
    if ci and ci[0] is not None and ci[1] is not None and all(math.isfinite(c) for c in ci):
        s += f" [{ci[0]:.{digits}f}, {ci[1]:.{digits}f}]"
    return s


def metrics_table(
    results: Mapping[str, Mapping[str, Any]] | Mapping[str, Any],
    keys: Sequence[str] = ("accuracy", "f1_macro"),
    digits: int = 3,
    long: bool = False,
):
    """One row per run: each metric as ``value [low, high]`` (95% CI), plus ``n_samples``.

    Args:
        results: ``{run name: metrics dict}`` or a single metrics dict.
        keys: metrics to show.
        long: one row per (run, metric) the run has (``value [95% CI]``, ``n``), for runs of
            different kinds (a classifier and a segmentation model) in one table without
            empty cells.
    """
    import pandas as pd

    if "class_names" in results or "dice_cytoplasm" in results:
        results = {"model": results}
    rows = {}
    for name, m in results.items():
        ci = m.get("ci95", {})
        n = m.get("n_samples", m.get("n_images"))
        if long:
            for k in keys:
                if k in m:
                    rows[(name, k)] = {"value [95% CI]": _fmt_ci(m.get(k), ci.get(k), digits), "n": n}
            continue
        row = {k: _fmt_ci(m.get(k), ci.get(k), digits) for k in keys}
        row["n"] = n
        rows[name] = row
    if long:
        index = (
            pd.MultiIndex.from_tuples(list(rows), names=["model", "metric"])
            if rows
            else pd.MultiIndex(levels=[[], []], codes=[[], []], names=["model", "metric"])
        )
        return pd.DataFrame(list(rows.values()), index=index, columns=["value [95% CI]", "n"])
    return pd.DataFrame.from_dict(rows, orient="index")


def instance_table(instances: Mapping[str, Any], digits: int = 3):
    """The instance metrics of :func:`cervix.stages.segmentation.instance_scores` as a table: one row per
    measure, a column each for cells and nuclei, "value [low, high]"."""
    import pandas as pd

    keys = ("det_f1", "det_precision", "det_recall", "dice_matched", "fno", "tpp", "fpp", "aji", "pq", "sq", "rq")
    ci = instances.get("ci95", {})
    rows = {
        k: {what: _fmt_ci(instances.get(f"{what}_{k}"), ci.get(f"{what}_{k}"), digits) for what in ("cell", "nucleus")}
        for k in keys
    }
    df = pd.DataFrame(rows).T
    df.index.name = f"{instances.get('n_images', '?')} images"
    return df


def segmentation_table(metrics: Mapping[str, Any], digits: int = 3):
    """Dice, IoU and pixel accuracy per head (rows) as ``value [low, high]`` strings (DataFrame)."""
    import pandas as pd

    ci = metrics.get("ci95", {})
    rows = {}
    for head in HEADS:
        rows[head] = {
            k: _fmt_ci(metrics.get(f"{k}_{head}"), ci.get(f"{k}_{head}"), digits)
            for k in ("dice", "iou", "pixel_accuracy")
        }
    return pd.DataFrame.from_dict(rows, orient="index")
