"""The history of a run and the early-stopping signal."""

from __future__ import annotations

import math

from cervix.training.history import History, stopping_signal


def test_stopping_signal_is_the_median_of_the_window():
    assert stopping_signal([0.5, 0.6, 0.3], 3) == 0.5
    assert stopping_signal([0.5, 0.6, 0.3, 0.6], 3) == 0.6
    assert stopping_signal([0.5, 0.6], 3) == 0.55  # fewer epochs than the window
    assert stopping_signal([0.5, 0.6, 0.3], 1) == 0.3
    assert stopping_signal([0.5, float("nan")], 2) == 0.5
    assert math.isnan(stopping_signal([], 3))


def test_history_columns_keys_in_first_seen_order_and_dataframe():
    h = History(rows=[{"epoch": 1, "train_loss": 0.9}, {"epoch": 2, "train_loss": 0.7, "val_dice": 0.5}])
    assert len(h) == 2
    assert h.keys == ["epoch", "train_loss", "val_dice"]
    assert h["val_dice"] == [None, 0.5]  # an epoch without the column gives None
    df = h.to_dataframe()
    assert list(df.columns) == h.keys and df["train_loss"].tolist() == [0.9, 0.7]
    assert History().keys == [] and len(History()) == 0
