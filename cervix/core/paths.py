"""Project-root resolver shared by notebooks and the CLI.

Notebook kernels start in ``notebooks/`` while the CLI starts wherever the user is; both must
read and write the same ``data/``, ``runs/`` and ``figures/``. The root is, in order:
``$CERVIX_ROOT``; the nearest parent of the working directory holding ``pyproject.toml`` with
a ``cervix/`` package beside it; the checkout this package was imported from; the working
directory.
"""

from __future__ import annotations

import os
from pathlib import Path

__all__ = [
    "project_root",
    "data_dir",
    "runs_dir",
    "figures_dir",
    "real_samples_dir",
    "pipeline_paths",
    "pretrained_path",
]


def _is_root(p: Path) -> bool:
    return (p / "pyproject.toml").is_file() and (p / "cervix").is_dir()


def project_root() -> Path:
    """Return the project root (see module docstring for the search order)."""
    env = os.environ.get("CERVIX_ROOT")
    if env:
        return Path(env).expanduser().resolve()
    cwd = Path.cwd().resolve()
    for p in (cwd, *cwd.parents):
        if _is_root(p):
            return p
    here = Path(__file__).resolve().parents[2]  # the checkout holding cervix/core/paths.py
    if _is_root(here):
        return here
    return cwd


def _sub(name: str, create: bool) -> Path:
    p = project_root() / name
    if create:
        p.mkdir(parents=True, exist_ok=True)
    return p


def data_dir(create: bool = True) -> Path:
    """``<root>/data``: generated synthetic data and user datasets."""
    return _sub("data", create)


def runs_dir(create: bool = True) -> Path:
    """``<root>/runs``: training runs, generated masks, executed notebooks."""
    return _sub("runs", create)


def figures_dir(create: bool = True) -> Path:
    """``<root>/figures``: paper figures (PDF + 300-dpi PNG)."""
    return _sub("figures", create)


def real_samples_dir() -> Path:
    """Real-format samples: ``$CERVIX_REAL_SAMPLES`` or ``<root>/../shared/data/real-samples``."""
    env = os.environ.get("CERVIX_REAL_SAMPLES")
    if env:
        return Path(env).expanduser().resolve()
    return (project_root().parent / "shared" / "data" / "real-samples").resolve()


def pretrained_path(encoder: str) -> Path:
    """``<root>/data/pretrained/synthetic_<encoder>.pt``: the file ``python -m cervix pretrain``
    writes and ``pretrained="synthetic"`` loads."""
    return data_dir(create=False) / "pretrained" / f"synthetic_{encoder}.pt"


def pipeline_paths(profile: str) -> dict[str, Path]:
    """Where each notebook / CLI step of a profile writes what the next one reads.

    Keys: ``synthetic`` (01: ``data/synthetic/<profile>``, with ``fields/``, ``crops/``,
    ``crops_masks/``), ``seg_run`` (02), ``masks`` (03: predicted masks of the crops),
    ``cls_run`` (04: the 5-channel classifier on predicted masks), ``ablation`` (04: the
    ablation runs), ``eval`` (05: metrics and predictions), ``analysis`` (06: whole fields
    analysed cell by cell).
    """
    run = runs_dir() / profile
    return {
        "synthetic": data_dir() / "synthetic" / profile,
        "seg_run": run / "seg",
        "masks": run / "masks",
        "cls_run": run / "cls",
        "ablation": run / "ablation",
        "eval": run / "eval",
        "analysis": run / "analysis",
    }
