"""Tests for cervix.training.loop: exact resume, checkpoint contents, NaN stop, schedule, early stopping, DDP.

All on CPU with toy models and TensorDatasets (the real models are not needed by the loop).
"""

from __future__ import annotations


def test_live_plot_callback(monkeypatch, capsys):
    from cervix.training.history import History
    from cervix.widgets.training import live_plot_callback

    h = History(
        rows=[
            {"epoch": 1, "train_loss": 1.0, "val_loss": 0.9, "val_dice": 0.5},
            {"epoch": 2, "train_loss": 0.8, "val_loss": 0.7, "val_dice": 0.6},
        ],
        best_epoch=2,
    )
    live_plot_callback()(h)  # outside IPython: one text line
    assert "val_dice=0.6" in capsys.readouterr().out
    import cervix.widgets.training

    shown = []
    monkeypatch.setattr(cervix.widgets.training, "_notebook_display", lambda: (lambda wait=False: None, shown.append))
    live_plot_callback()(h)
    assert len(shown) == 1
    labels = [ln.get_label() for ax in shown[0].axes for ln in ax.get_lines()]
    assert {"train_loss", "val_loss", "val_dice"} <= set(labels)
