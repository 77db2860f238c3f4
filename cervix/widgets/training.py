""":func:`live_plot_callback` redraws the training curves in the notebook after each epoch of
:func:`cervix.training.loop.fit` (notebooks 02 and 04); outside IPython it prints one line per epoch.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING

import matplotlib.pyplot as plt

from cervix.viz.figures import plot_history

if TYPE_CHECKING:
    from cervix.training.history import History

__all__ = [
    "live_plot_callback",
]


# ----------------------------------------------------------------------------- live training curves
def _notebook_display() -> tuple[Callable, Callable] | None:
    """(clear_output, display) inside an IPython kernel, else None."""
    try:
        from IPython import get_ipython
        from IPython.display import clear_output, display
    except ImportError:
        return None
    if get_ipython() is None:
        return None
    return clear_output, display


def live_plot_callback(metrics: Sequence[str] | None = None, every: int = 1) -> Callable[[History], None]:
    """A :func:`cervix.training.loop.fit` ``on_epoch_end`` callback that redraws the training curves in a
    notebook.

    Args:
        metrics: score columns for the right panel (default every ``val_*`` column that is not
            a loss); the losses always have the left panel to themselves.
        every: redraw every ``every`` epochs.

    Outside IPython it prints one line per epoch instead. Drawn by
    :func:`cervix.viz.figures.plot_history`, like the saved curves.
    """

    def callback(history: History) -> None:
        if len(history) % every:
            return
        nb = _notebook_display()
        if nb is None:
            last = history.rows[-1]
            print(", ".join(f"{k}={v:.4g}" if isinstance(v, float) else f"{k}={v}" for k, v in last.items()))
            return
        clear_output, display = nb
        losses = tuple(k for k in history.keys if k.endswith("loss"))
        chosen = metrics if metrics is not None else [k for k in history.keys if k.startswith("val_")]
        scores = tuple(k for k in chosen if not k.endswith("loss"))
        fig = plot_history(history, tuple(p for p in (losses, scores) if p))
        clear_output(wait=True)
        display(fig)
        plt.close(fig)  # shown once by display, not again at the end of the cell

    return callback
