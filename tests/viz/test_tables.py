"""Tables of an evaluation: values with their CIs, per-class reports."""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import pytest  # noqa: E402
from helpers import FAST  # noqa: E402

from cervix.stages import evaluation as E  # noqa: E402
from cervix.stages.classification import train_classifier  # noqa: E402
from cervix.viz import tables as T  # noqa: E402


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


# ------------------------------------------------------------------------------------ tables/plots
def test_tables(evaluated):
    _, m = evaluated
    rep = T.classification_report_table(m)
    assert list(rep.columns) == ["precision", "recall", "f1", "support"]
    for c in m["class_names"]:
        assert rep.loc[c, "f1"] == pytest.approx(m["per_class"][c]["f1"], abs=5e-4)
    assert rep.loc["accuracy", "f1"] == pytest.approx(m["accuracy"], abs=5e-4)
    assert rep.loc["macro avg", "support"] == m["n_samples"]
    tab = T.metrics_table({"5ch": m, "copy": m})
    assert list(tab.index) == ["5ch", "copy"] and tab.loc["5ch", "n"] == m["n_samples"]
    lo, hi = m["ci95"]["accuracy"]
    assert tab.loc["5ch", "accuracy"] == f"{m['accuracy']:.3f} [{lo:.3f}, {hi:.3f}]"
    seg = {
        "dice_cytoplasm": 0.9,
        "dice_nucleus": 0.8,
        "iou_cytoplasm": 0.82,
        "iou_nucleus": 0.7,
        "pixel_accuracy_cytoplasm": 0.95,
        "pixel_accuracy_nucleus": 0.97,
        "n_images": 3,
        "ci95": {"dice_cytoplasm": [0.85, 0.95]},
    }
    st = T.segmentation_table(seg)
    assert st.loc["cytoplasm", "dice"] == "0.900 [0.850, 0.950]" and st.loc["nucleus", "iou"] == "0.700"
