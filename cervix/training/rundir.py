"""Run folders: what cervix writes into one, and the rule that a run is never silently replaced.

A training run (``segment``/``classify``, :func:`cervix.stages.segmentation.train_segmentation`,
:func:`cervix.stages.classification.train_classifier`) and its evaluation write a fixed set of files
into the run folder. Starting a new run in a folder that already holds one would overwrite
``best.pt`` while the old ``metrics.json``, ``predictions.csv`` and figures stay beside it and
describe the wrong model, so (as nnU-Net does with its result folders) a folder holding a run
is only reused with ``resume`` (continue it) or ``overwrite`` (remove the files cervix wrote
there, and nothing else, then start afresh).
"""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cervix.core.config import to_dict
from cervix.core.files import atomic_write_text, json_ready

__all__ = [
    "RUN_FILES",
    "RUN_PATTERNS",
    "prepare_output_dir",
    "run_files",
    "prepare_run_dir",
    "run_split_path",
    "RunExistsError",
    "TrainResult",
    "resolve_checkpoint",
    "fold_dirs",
    "write_metrics",
]

#: Files a run and its evaluation write at the top of the run folder.
RUN_FILES: tuple[str, ...] = (
    "best.pt",
    "last.pt",
    "config.json",
    "split.json",
    "history.csv",
    "metrics.json",
    "per_image.csv",
    "predictions.csv",
    "kfold.json",
    "oof_predictions.csv",
    "skipped.csv",
)

#: Glob patterns of the other things cervix writes there (TensorBoard events, k-fold runs,
#: evaluation figures, temporary files of an interrupted atomic write).
RUN_PATTERNS: tuple[str, ...] = ("events.out.tfevents.*", "fold_*", "figures", "cells", ".*.tmp", "*.tmp")


@dataclass
class TrainResult:
    """What a training returns, for both stages (:func:`cervix.stages.segmentation.train_segmentation`,
    :func:`cervix.stages.classification.train_classifier`).

    A k-fold classifier run (``folds = k > 1``) gives ``best`` and ``history`` as lists over the
    folds and fills ``folds`` and the ``oof_*`` fields; its ``best_metric`` is the folds' mean.
    """

    run: str  # the run folder
    best: str | list[str]  # its best.pt (one per fold for a k-fold run)
    history: Any  # cervix.training.history.History (a list of them for a k-fold run)
    config: Any  # the SegConfig / ClsConfig the run was trained with
    split: dict[str, Any]  # images (or crops) per part: {"train": n, "val": n, "test": n}; per fold for k-fold
    monitor: str  # the validation metric that picked best.pt
    best_metric: float | None  # its best value (k-fold: mean over folds)
    best_epoch: int | None = None  # epoch of best.pt (None for k-fold: one per fold in ``folds``)
    epochs_run: int | None = None  # epochs trained (None for k-fold)
    stop_reason: str | None = None  # why training stopped (epochs done, early stopping, time budget)
    class_names: list[str] | None = None  # the classifier's classes in index order (None: segmentation)
    k: int | None = None  # number of folds of a k-fold run
    folds: list[dict[str, Any]] | None = None  # per-fold summaries of a k-fold run
    oof_predictions: str | None = None  # k-fold: out-of-fold predictions CSV
    oof_accuracy: float | None = None  # k-fold: accuracy of the out-of-fold predictions
    oof_f1_macro: float | None = None  # k-fold: their macro F1

    @classmethod
    def of_run(
        cls, out: str | os.PathLike, history: Any, config: Any, split: dict[str, Any], monitor: str
    ) -> TrainResult:
        """The result of one run in ``out`` from its history (best metric and epoch, epochs run, stop reason)."""
        return cls(
            run=str(out),
            best=str(Path(out) / "best.pt"),
            history=history,
            config=config,
            split=split,
            monitor=monitor,
            best_metric=history.best_metric,
            best_epoch=history.best_epoch,
            epochs_run=len(history),
            stop_reason=history.stop_reason,
        )


def resolve_checkpoint(path: str | os.PathLike) -> Path:
    """A checkpoint file: ``path`` itself, or ``path/best.pt`` for a run folder.

    Raises:
        FileNotFoundError: no such file (a k-fold run folder has ``fold_<k>/best.pt`` instead).
    """
    p = Path(path)
    ck = p / "best.pt" if p.is_dir() else p
    if not ck.is_file():
        hint = " (a k-fold run: use its folder or fold_<k>/best.pt)" if fold_dirs(p) else ""
        raise FileNotFoundError(f"checkpoint not found: {ck}{hint}")
    return ck


def fold_dirs(path: str | os.PathLike) -> list[Path]:
    """The ``fold_<k>`` folders (with a ``best.pt``) of a k-fold run, in fold order; [] otherwise.

    ``path`` may be the run folder or the (absent) ``<run>/best.pt`` the CLI is given.
    """
    p = Path(path)
    run = p if p.is_dir() else p.parent
    if p.is_file():
        return []
    dirs = [
        d for d in run.glob("fold_*") if d.is_dir() and (d / "best.pt").is_file() and d.name.split("_", 1)[1].isdigit()
    ]
    return sorted(dirs, key=lambda d: int(d.name.split("_", 1)[1]))


def write_metrics(out: str | os.PathLike, metrics: Mapping[str, Any], name: str = "metrics.json") -> Path:
    """Write an evaluation's metrics as ``out/metrics.json``, for both stages.

    Atomic (a reader never sees half a file), NaN and infinities as ``null``, numpy scalars as
    numbers (:func:`cervix.core.files.json_ready`).
    """
    return atomic_write_text(Path(out) / name, json.dumps(json_ready(dict(metrics)), indent=2))


class RunExistsError(FileExistsError):
    """A run folder already holds a run and neither resume nor overwrite was asked for."""


def run_files(out: str | os.PathLike) -> list[Path]:
    """The entries of ``out`` that cervix wrote (sorted); [] for a missing or foreign folder."""
    out = Path(out)
    if not out.is_dir():
        return []
    found = {out / name for name in RUN_FILES if (out / name).exists()}
    for pattern in RUN_PATTERNS:
        found.update(p for p in out.glob(pattern) if not (p.name.startswith("fold_") and not p.name[5:].isdigit()))
    return sorted(found)


def prepare_run_dir(out: str | os.PathLike, resume: bool = False, overwrite: bool = False) -> Path:
    """Make ``out`` ready for a run, under the no-silent-overwrite rule.

    Args:
        out: the run folder (created when missing).
        resume: continue the run that is there (its files stay).
        overwrite: remove what cervix wrote there (:data:`RUN_FILES`, :data:`RUN_PATTERNS`),
            leaving every other file, then start a new run.

    Returns:
        ``out`` as a :class:`~pathlib.Path`.

    Raises:
        RunExistsError: ``out`` holds a run and neither ``resume`` nor ``overwrite`` is set (the
            message names the folder and what is in it).
        ValueError: both ``resume`` and ``overwrite``.
    """
    out = Path(out)
    if resume and overwrite:
        raise ValueError("resume and overwrite exclude each other: continue the run, or replace it")
    existing = run_files(out)
    if resume:  # temporary files of a write a kill interrupted
        for p in existing:
            if p.name.endswith(".tmp") and p.is_file():
                p.unlink()
    if existing and not resume:
        if not overwrite:
            raise RunExistsError(
                f"{out} already holds a run ({_listing(existing)}); continue it with --resume / resume=True, "
                "replace it with --overwrite / overwrite=True, or choose another folder"
            )
        _remove(existing)
    out.mkdir(parents=True, exist_ok=True)
    return out


def _listing(paths: list[Path], n: int = 12) -> str:
    names = ", ".join(p.name + ("/" if p.is_dir() else "") for p in paths[:n])
    return names + (f" (+{len(paths) - n} more)" if len(paths) > n else "")


def _remove(paths: list[Path]) -> None:
    for p in paths:
        if p.is_dir() and not p.is_symlink():
            shutil.rmtree(p)
        else:
            p.unlink()


def prepare_output_dir(out: str | os.PathLike, outputs: Sequence[str], overwrite: bool = False, what: str = "") -> Path:
    """Make ``out`` ready for a command that writes ``outputs`` there (e.g. ``analyze``), under the
    run folders' no-silent-overwrite rule.

    Args:
        out: the output folder (created when missing).
        outputs: names and glob patterns of what the command writes into ``out``.
        overwrite: remove those (and nothing else) first.
        what: what the outputs are, for the message (e.g. "an analysis").

    Raises:
        RunExistsError: ``out`` holds some of ``outputs`` and ``overwrite`` is not set (naming them).
    """
    out = Path(out)
    existing = sorted({p for name in outputs for p in out.glob(name)}) if out.is_dir() else []
    if existing and not overwrite:
        raise RunExistsError(
            f"{out} already holds {what or 'earlier results'} ({_listing(existing)}); replace it with "
            "--overwrite / overwrite=True (removes only these), or choose another folder"
        )
    _remove(existing)
    out.mkdir(parents=True, exist_ok=True)
    return out


def run_split_path(checkpoint: str | os.PathLike, config: dict | None = None) -> Path:
    """The ``split.json`` of the run a checkpoint belongs to.

    The one beside the checkpoint comes first, so a run folder that was moved or copied to
    another machine still finds its split; else the path stored in the run's config.
    """
    own = Path(checkpoint).parent / "split.json"
    stored = (config or {}).get("split_path")
    return own if own.is_file() or not stored else Path(stored)


#: Settings that may differ when a run is resumed (they do not change what is computed).
RESUME_MAY_CHANGE = frozenset(
    {
        "progress",
        "tensorboard",
        "log_every",
        "max_train_minutes",
        "num_workers",
        "data",
        "masks",
        "split_path",
        "pretrained",
    }
)


def _same_setting(saved: Any, now: Any) -> bool:
    """Equal, except that a key a saved group lacks is a setting added to cervix after the run (the
    stage resumes it as the run trained, e.g. an augmentation off), as for top-level keys."""
    if isinstance(saved, dict) and isinstance(now, dict):
        return all(k in now and _same_setting(v, now[k]) for k, v in saved.items())
    return saved == now


def check_same_settings(path: Path, saved: Mapping[str, Any], now: Mapping[str, Any]) -> None:
    """Refuse to resume a run under other settings: its results would mix two configurations
    while ``config.json`` claimed the new one for the whole run."""
    diff = [
        f"{k}: {saved[k]!r} -> {now[k]!r}"
        for k in sorted(set(saved) & set(now))
        if k not in RESUME_MAY_CHANGE and not _same_setting(to_dict(saved[k]), to_dict(now[k]))
    ]
    if diff:
        raise ValueError(
            f"{path}: cannot resume with other settings than the run's ({'; '.join(diff)}); "
            "resume with the run's own settings, or start a new run (--overwrite or another --out)"
        )
