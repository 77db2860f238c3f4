"""The ablation of the original description: what the mask channels add to the classifier.

:func:`train_ablation` trains, on the very split of a main run (RGB + predicted masks), an
RGB-only arm and, when true masks are given, an RGB + true masks arm; evaluate them together
with :func:`cervix.stages.evaluation.evaluate_runs`.
"""

from __future__ import annotations

import dataclasses
import os
from pathlib import Path

from cervix.core.config import ClsConfig
from cervix.data.augment import AugmentConfig
from cervix.stages.classification import train_classifier

__all__ = [
    "train_ablation",
]


def train_ablation(
    crops: str | os.PathLike,
    out: str | os.PathLike,
    cfg: ClsConfig,
    split: str | os.PathLike,
    true_masks: str | os.PathLike | None = None,
    fmt: str = "classes",
    augment: AugmentConfig | bool | None = None,
    overwrite: bool = False,
    progress: bool = False,
) -> dict[str, Path]:
    """Train the ablation arms of a classifier run on the very same split.

    ``"RGB only"`` (``in_chans=3``, in ``out/rgb``) always; ``"RGB + true masks"`` (in
    ``out/rgb_true_masks``) when ``true_masks`` is given (synthetic data, or a data set with
    manual masks). Together with the main run (RGB + predicted masks) they say what the mask
    channels add (evaluate them with :func:`cervix.stages.evaluation.evaluate_runs`).

    Args:
        crops: the crops of the main run.
        out: folder of the arms' run folders.
        cfg: the main run's :class:`ClsConfig` (RGB only changes only ``in_chans``).
        split: the main run's ``split.json``.
        true_masks: masks root of true masks, or None (then that arm is left out).
        fmt, augment, overwrite, progress: as in :func:`train_classifier`.

    Returns:
        ``{arm name: run folder}``.
    """
    out = Path(out)
    arms = {"RGB only": (out / "rgb", None, dataclasses.replace(cfg, in_chans=3))}
    if true_masks is not None:
        arms["RGB + true masks"] = (out / "rgb_true_masks", true_masks, cfg)
    for run, masks, arm_cfg in arms.values():
        train_classifier(
            crops,
            masks=masks,
            out=run,
            fmt=fmt,
            profile=arm_cfg,
            augment=augment,
            split=split,
            progress=progress,
            overwrite=overwrite,
        )
    return {name: run for name, (run, _, _) in arms.items()}
