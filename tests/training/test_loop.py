"""Tests for cervix.training.loop: exact resume, checkpoint contents, NaN stop, schedule, early stopping, DDP.

All on CPU with toy models and TensorDatasets (the real models are not needed by the loop).
"""

from __future__ import annotations

import csv
import json
import math
import random

import numpy as np
import pytest
import torch
from torch import nn
from torch.utils.data import Dataset

from cervix.core.config import TrainConfig
from cervix.core.device import device_and_amp
from cervix.training.checkpoints import check_plain, load_checkpoint
from cervix.training.loop import NonFiniteLossError, fit
from cervix.training.optim import warmup_cosine_lambda
from cervix.training.sampling import make_loader


class NoisyDataset(Dataset):
    """Regression toy whose items draw from numpy and python RNGs (like augmentations do)."""

    def __init__(self, n: int = 48, seed: int = 0) -> None:
        g = torch.Generator().manual_seed(seed)
        self.x = torch.randn(n, 8, generator=g)
        self.y = self.x @ torch.linspace(-1, 1, 8).unsqueeze(1) + 0.1

    def __len__(self) -> int:
        return len(self.x)

    def __getitem__(self, i: int):
        noise = torch.from_numpy(np.random.normal(0, 0.05, 8).astype(np.float32))  # noqa: NPY002 (global RNG on purpose)
        return self.x[i] * (1 + 0.1 * random.random()) + noise, self.y[i]


def toy_model(seed: int = 0) -> nn.Module:
    torch.manual_seed(seed)
    return nn.Sequential(nn.Linear(8, 16), nn.ReLU(), nn.Dropout(0.2), nn.Linear(16, 1))


def mse(out, y):
    loss = nn.functional.mse_loss(out, y)
    return loss, {"mse": loss.detach()}


def evaluate(model, loader):
    total, n = 0.0, 0
    for x, y in loader:
        total += nn.functional.mse_loss(model(x), y, reduction="sum").item()
        n += len(x)
    return {"val_loss": total / n, "val_score": -total / n}


def cfg(**kw) -> TrainConfig:
    base = dict(
        epochs=4,
        lr=3e-2,
        warmup_epochs=1.0,
        min_lr=1e-4,
        grad_clip=1.0,
        monitor="val_loss",
        mode="min",
        progress=False,
        tensorboard=False,
        seed=7,
    )
    base.update(kw)
    return TrainConfig(**base)


def loaders(seed: int = 7):
    train = make_loader(NoisyDataset(48, 0), batch_size=8, shuffle=True, seed=seed)
    val = make_loader(NoisyDataset(16, 1), batch_size=8, shuffle=False)
    return train, val


class Interrupt(Exception):
    pass


def test_resume_reproduces_uninterrupted_run(tmp_path):
    """4 epochs straight == 2 epochs, a crash, then resume to 4 (weights, optimiser, history)."""
    tr, va = loaders()
    h_full = fit(toy_model(), tr, va, mse, evaluate, cfg(), tmp_path / "full")

    def crash_after_two(history):
        if len(history) == 2:
            raise Interrupt

    tr, va = loaders()
    with pytest.raises(Interrupt):
        fit(toy_model(), tr, va, mse, evaluate, cfg(), tmp_path / "cut", on_epoch_end=crash_after_two)
    assert load_checkpoint(tmp_path / "cut" / "last.pt")["epoch"] == 2
    # a freshly built process state: other init, other global RNG draws, new loaders
    torch.manual_seed(999), np.random.seed(999), random.seed(999)  # noqa: NPY002
    tr, va = loaders()
    h_res = fit(toy_model(seed=5), tr, va, mse, evaluate, cfg(), tmp_path / "cut", resume=True)

    a = load_checkpoint(tmp_path / "full" / "last.pt")
    b = load_checkpoint(tmp_path / "cut" / "last.pt")
    assert a["epoch"] == b["epoch"] == 4 and a["global_step"] == b["global_step"] == 4 * 6
    for k in a["model"]:
        torch.testing.assert_close(a["model"][k], b["model"][k], rtol=0, atol=1e-6)
    for s_a, s_b in zip(a["optimizer"]["state"].values(), b["optimizer"]["state"].values()):
        torch.testing.assert_close(s_a["exp_avg_sq"], s_b["exp_avg_sq"], rtol=0, atol=1e-7)
    strip = lambda rows: [{k: v for k, v in r.items() if k != "time_s"} for r in rows]  # noqa: E731
    for ra, rb in zip(strip(h_full.rows), strip(h_res.rows)):
        assert ra.keys() == rb.keys()
        for k in ra:
            assert ra[k] == pytest.approx(rb[k], rel=1e-6, abs=1e-9), k
    assert h_res.best_epoch == h_full.best_epoch
    with open(tmp_path / "cut" / "history.csv") as fh:
        assert [int(r["epoch"]) for r in csv.DictReader(fh)] == [1, 2, 3, 4]


def test_same_seed_same_metrics(tmp_path):
    tr, va = loaders()
    h1 = fit(toy_model(), tr, va, mse, evaluate, cfg(epochs=2), tmp_path / "a")
    tr, va = loaders()
    h2 = fit(toy_model(), tr, va, mse, evaluate, cfg(epochs=2), tmp_path / "b")
    assert h1["val_loss"] == h2["val_loss"] and h1["train_loss"] == h2["train_loss"]


def test_checkpoint_is_weights_only_and_plain(tmp_path):
    tr, va = loaders()
    run_cfg = {
        "task": "segmentation",
        "class_names": ["a", "b"],
        "in_chans": 3,
        "normalisation": {"mean": (0.485, 0.456, 0.406), "std": (0.229, 0.224, 0.225)},
        "image_size": 64,
        "scale": 1.0,
        "thresholds": (0.5, 0.5),
    }
    fit(
        toy_model(),
        tr,
        va,
        mse,
        evaluate,
        cfg(epochs=2, tensorboard=True),
        tmp_path,
        config=run_cfg,
        extra_state={"note": "x"},
    )
    for name in ("best.pt", "last.pt"):
        raw = torch.load(tmp_path / name, weights_only=True)
        check_plain(raw)
        assert raw["config"]["class_names"] == ["a", "b"]
        assert raw["config"]["thresholds"] == [0.5, 0.5]
        assert raw["config"]["normalisation"]["mean"] == [0.485, 0.456, 0.406]
        assert {
            "model",
            "optimizer",
            "scheduler",
            "epoch",
            "global_step",
            "best_metric",
            "bad_epochs",
            "rng",
            "versions",
            "train_config",
            "history",
        } <= set(raw)
        assert isinstance(raw["rng"]["torch"], torch.Tensor)
        assert isinstance(raw["rng"]["numpy"][1], list) and isinstance(raw["rng"]["python"][1], list)
        assert raw["versions"]["torch"] == torch.__version__ and raw["extra"] == {"note": "x"}
    assert load_checkpoint(tmp_path / "best.pt")["epoch"] in (1, 2)
    # atomic writes leave no temporary files behind; the run folder holds the documented run files
    names = sorted(p.name for p in tmp_path.iterdir())
    assert not [n for n in names if n.endswith(".tmp")], names
    assert {"best.pt", "last.pt", "config.json", "history.csv"} <= set(names)
    assert any(n.startswith("events.out.tfevents") for n in names)
    conf = json.loads((tmp_path / "config.json").read_text())
    assert conf["task"] == "segmentation" and conf["train_config"]["epochs"] == 2


def test_nan_loss_stops_and_keeps_last_good_checkpoint(tmp_path):
    calls = {"n": 0}

    def flaky(out, y):
        calls["n"] += 1
        loss = nn.functional.mse_loss(out, y)
        return loss * float("nan") if calls["n"] == 9 else loss  # step 3 of epoch 2

    tr, va = loaders()
    with pytest.raises(NonFiniteLossError, match=r"non-finite loss.*epoch 2.*last\.pt"):
        fit(toy_model(), tr, va, flaky, evaluate, cfg(), tmp_path)
    ck = torch.load(tmp_path / "last.pt", weights_only=True)
    assert ck["epoch"] == 1
    assert all(torch.isfinite(v).all() for v in ck["model"].values())
    assert not [p for p in tmp_path.iterdir() if p.name.endswith(".tmp")]


def test_fit_lr_follows_schedule(tmp_path):
    tr, va = loaders()  # 6 steps per epoch
    c = cfg(epochs=3, lr=0.01, min_lr=0.001, warmup_epochs=0.5)
    h = fit(toy_model(), tr, va, mse, evaluate, c, tmp_path)
    f = warmup_cosine_lambda(18, 3, 0.1)
    assert h["lr"] == pytest.approx([0.01 * f(6), 0.01 * f(12), 0.01 * f(18)])
    assert h["step"] == [6, 12, 18]


def test_early_stopping_after_patience(tmp_path):
    scores = iter([0.5, 0.7, 0.6, 0.7, 0.65, 0.9, 0.9])

    def ev(model, loader):
        return {"val_dice": next(scores)}

    tr, va = loaders()
    h = fit(
        toy_model(),
        tr,
        va,
        mse,
        ev,
        cfg(epochs=10, monitor="val_dice", mode="max", early_stopping_patience=3),
        tmp_path,
    )
    # best 0.7 at epoch 2; epochs 3, 4 (0.7 is no improvement), 5 are bad -> stop after 5
    assert len(h) == 5 and h.stop_reason == "early stopping"
    assert h.best_epoch == 2 and h.best_metric == 0.7
    assert load_checkpoint(tmp_path / "best.pt")["epoch"] == 2
    again = fit(
        toy_model(),
        tr,
        va,
        mse,
        ev,
        cfg(epochs=10, monitor="val_dice", mode="max", early_stopping_patience=3),
        tmp_path,
        resume=True,
    )
    assert again.stop_reason == "early stopping" and len(again) == 5


def _run_scores(tmp_path, scores, **kw):
    it = iter(scores)

    def ev(model, loader):
        return {"val_f1": next(it)}

    tr, va = loaders()
    return fit(toy_model(), tr, va, mse, ev, cfg(epochs=len(scores), monitor="val_f1", mode="max", **kw), tmp_path)


def test_early_stopping_ignores_a_one_epoch_dip(tmp_path):
    scores = [0.5, 0.6, 0.3, 0.6, 0.62, 0.63, 0.64, 0.65]
    # raw monitor: best 0.6 at epoch 2, the dip (3) and the tie (4) exhaust a patience of 2
    raw = _run_scores(tmp_path / "raw", scores, early_stopping_patience=2, early_stopping_window=1)
    assert raw.stop_reason == "early stopping" and len(raw) == 4
    # median of 3: 0.5, 0.55, 0.5 (bad 1), 0.6 (reset), 0.6 (bad 1), 0.62 (reset), ... -> runs on
    smooth = _run_scores(tmp_path / "smooth", scores, early_stopping_patience=2, early_stopping_window=3)
    assert smooth.stop_reason == "completed" and len(smooth) == len(scores)
    # best.pt still follows the raw monitor
    assert smooth.best_epoch == 8 and smooth.best_metric == 0.65


def test_early_stopping_min_delta(tmp_path):
    scores = [0.5, 0.501, 0.502, 0.503, 0.504, 0.505]
    h = _run_scores(tmp_path / "a", scores, early_stopping_patience=3, early_stopping_min_delta=0.01)
    assert h.stop_reason == "early stopping" and len(h) == 4
    h = _run_scores(tmp_path / "b", scores, early_stopping_patience=3)
    assert h.stop_reason == "completed" and len(h) == 6
    with pytest.raises(ValueError, match="min_delta"):
        cfg(early_stopping_min_delta=-1)
    with pytest.raises(ValueError, match="window"):
        cfg(early_stopping_window=0)


def test_missing_monitor_is_a_clear_error(tmp_path):
    tr, va = loaders()
    with pytest.raises(KeyError, match="val_dice.*val_loss"):
        fit(toy_model(), tr, va, mse, evaluate, cfg(monitor="val_dice"), tmp_path)
    with pytest.raises(ValueError, match="evaluate_fn"):
        fit(toy_model(), tr, va, mse, None, cfg(), tmp_path)
    h = fit(toy_model(), tr, None, mse, None, cfg(epochs=1, monitor="train_loss"), tmp_path / "t")
    assert h.best_epoch == 1 and "val_loss" not in h.keys


def test_callback_sees_history_and_can_stop(tmp_path):
    seen = []

    def cb(history):
        seen.append(list(history["epoch"]))
        return len(history) == 2

    tr, va = loaders()
    h = fit(toy_model(), tr, va, mse, evaluate, cfg(), tmp_path, on_epoch_end=cb)
    assert seen == [[1], [1, 2]] and h.stop_reason == "callback"


def test_time_budget_stops(tmp_path):
    tr, va = loaders()
    with pytest.warns(UserWarning, match=r"max_train_minutes=1e-09 stopped training after epoch 1 of 50"):
        h = fit(toy_model(), tr, va, mse, evaluate, cfg(epochs=50, max_train_minutes=1e-9), tmp_path)
    assert len(h) == 1 and h.stop_reason == "time budget"


def test_bf16_autocast_on_cpu_trains(tmp_path):
    dev, dtype, scaler = device_and_amp("bf16", "cpu")
    assert (dev.type, dtype, scaler) == ("cpu", torch.bfloat16, False)
    with pytest.warns(UserWarning, match="fp16"):
        assert device_and_amp("fp16", "cpu")[1] == torch.bfloat16
    tr, va = loaders()
    h = fit(toy_model(), tr, va, mse, evaluate, cfg(epochs=1, amp="bf16"), tmp_path)
    assert math.isfinite(h["train_loss"][0])


def test_resume_refuses_other_settings(tmp_path):
    tr, va = loaders()
    fit(toy_model(), tr, va, mse, evaluate, cfg(epochs=2), tmp_path, config={"encoder": "a", "image_size": 64})
    with pytest.raises(ValueError, match=r"other settings.*lr: 0.03 -> 0.01"):
        fit(
            toy_model(),
            tr,
            va,
            mse,
            evaluate,
            cfg(epochs=3, lr=1e-2),
            tmp_path,
            resume=True,
            config={"encoder": "a", "image_size": 64},
        )
    with pytest.raises(ValueError, match=r"encoder: 'a' -> 'b'.*image_size: 64 -> 128"):
        fit(
            toy_model(),
            tr,
            va,
            mse,
            evaluate,
            cfg(epochs=2),
            tmp_path,
            resume=True,
            config={"encoder": "b", "image_size": 128},
        )
    # progress and the time budget may change
    fit(
        toy_model(),
        tr,
        va,
        mse,
        evaluate,
        cfg(epochs=2, max_train_minutes=5.0),
        tmp_path,
        resume=True,
        config={"encoder": "a", "image_size": 64},
    )
