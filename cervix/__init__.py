"""cervix: a notebook-first toolkit for cervical cytology (Pap smear) analysis.

The package is a tree of folders by job (ARCHITECTURE.md draws it): ``core``, ``models``,
``losses``, ``metrics``, ``training``, ``cells``, ``synthetic``, ``data``, ``inference``, ``viz``,
``stages`` and ``widgets``. Each folder's ``__all__`` is its public face; the names a notebook
uses most are also here, e.g. ``cervix.train_segmentation`` or ``from cervix import stages``.

Subpackages and names load on first use (PEP 562), so ``python -m cervix --help`` and
``import cervix`` stay light.
"""

from __future__ import annotations

import importlib
import importlib.metadata
from typing import Any

#: Folders by job, lowest layer first (ARCHITECTURE.md).
SUBPACKAGES: tuple[str, ...] = (
    "core",
    "models",
    "losses",
    "metrics",
    "training",
    "cells",
    "synthetic",
    "data",
    "inference",
    "viz",
    "stages",
    "widgets",
)

#: The names notebooks and scripts call most, and the folder each comes from.
_NAMES: dict[str, str] = {
    **dict.fromkeys(["get_profile", "profile_banner", "pipeline_paths", "figures_dir"], "core"),
    **dict.fromkeys(["DualHeadAttConvNeXtUNet", "ConvNeXtAttentionClassifier"], "models"),
    **dict.fromkeys(["seed_everything"], "training"),
    **dict.fromkeys(["read_dataset", "ensure_synthetic"], "data"),
    **dict.fromkeys(["set_style", "save_figure"], "viz"),
    **dict.fromkeys(
        [
            "train_segmentation",
            "load_segmentation",
            "generate_masks",
            "train_classifier",
            "load_classifier",
            "evaluate_checkpoint",
            "predict_crops",
            "analyze",
        ],
        "stages",
    ),
}

__version__ = importlib.metadata.version("cervix")
__all__ = [*SUBPACKAGES, *_NAMES]


def __getattr__(name: str) -> Any:
    """Import a subpackage, or the subpackage that holds a public name, on first use."""
    if name in SUBPACKAGES:
        return importlib.import_module(f"cervix.{name}")
    if name in _NAMES:
        return getattr(importlib.import_module(f"cervix.{_NAMES[name]}"), name)
    raise AttributeError(f"module 'cervix' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
