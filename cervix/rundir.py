"""Run folders: what cervix writes into one, and the rule that a run is never silently replaced.

A training run (``segment``/``classify``, :func:`cervix.segmentation.train_segmentation`,
:func:`cervix.classification.train_classifier`) and its evaluation write a fixed set of files
into the run folder. Starting a new run in a folder that already holds one would overwrite
``best.pt`` while the old ``metrics.json``, ``predictions.csv`` and figures stay beside it and
describe the wrong model, so (as nnU-Net does with its result folders) a folder holding a run
is only reused with ``resume`` (continue it) or ``overwrite`` (remove the files cervix wrote
there, and nothing else, then start afresh).
"""
from __future__ import annotations

import os
import shutil
from pathlib import Path

__all__ = ["RUN_FILES", "RUN_PATTERNS", "run_files", "prepare_run_dir", "run_split_path", "RunExistsError"]

#: Files a run and its evaluation write at the top of the run folder.
RUN_FILES: tuple[str, ...] = (
    "best.pt", "last.pt", "config.json", "split.json", "history.csv", "metrics.json", "per_image.csv",
    "predictions.csv", "kfold.json", "oof_predictions.csv", "skipped.csv",
)
#: Glob patterns of the other things cervix writes there (TensorBoard events, k-fold runs,
#: evaluation figures, temporary files of an interrupted atomic write).
RUN_PATTERNS: tuple[str, ...] = ("events.out.tfevents.*", "fold_*", "figures", ".*.tmp", "*.tmp")


class RunExistsError(FileExistsError):
    """A run folder already holds a run and neither resume nor overwrite was asked for."""


def run_files(out: str | os.PathLike) -> list[Path]:
    """The entries of ``out`` that cervix wrote (sorted); [] for a missing or foreign folder."""
    out = Path(out)
    if not out.is_dir():
        return []
    found = {out / name for name in RUN_FILES if (out / name).exists()}
    for pattern in RUN_PATTERNS:
        found.update(p for p in out.glob(pattern)
                     if not (p.name.startswith("fold_") and not p.name[5:].isdigit()))
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
            names = ", ".join(p.name + ("/" if p.is_dir() else "") for p in existing[:12])
            more = f" (+{len(existing) - 12} more)" if len(existing) > 12 else ""
            raise RunExistsError(
                f"{out} already holds a run ({names}{more}); continue it with --resume / resume=True, "
                "replace it with --overwrite / overwrite=True, or choose another folder")
        for p in existing:
            if p.is_dir() and not p.is_symlink():
                shutil.rmtree(p)
            else:
                p.unlink()
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
