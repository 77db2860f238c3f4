"""Classifier prediction: logits with flip TTA, validation metrics, the predictions table."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from helpers import FAST

from cervix.inference.classify import predict_logits
from cervix.stages.classification import (
    load_classifier,
    read_cls_records,
    train_classifier,
    validate_classifier,
)


@pytest.fixture(scope="module")
def run5(synth, tmp_path_factory) -> tuple[Path, dict]:
    out = tmp_path_factory.mktemp("runs") / "cls5"
    res = train_classifier(
        synth / "crops", masks=synth / "crops_masks", out=out, profile="smoke", overrides=FAST, progress=False
    )
    return out, res


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
