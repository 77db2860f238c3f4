"""Leakage-safe train/val/test splits and k-fold cross-validation of dataset records.

Splits are grouped (crops of one source image, i.e. one group id, never sit on both sides)
and stratified by label with scikit-learn's ``StratifiedGroupKFold``. A split is saved as
JSON with root-relative paths, so a split made on one machine applies to the same dataset
under another root.
"""

from __future__ import annotations

import json
import os
import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from cervix.core.files import atomic_write_text
from cervix.data.records import Record

__all__ = [
    "split_records",
    "check_disjoint_groups",
    "kfold_records",
    "save_split",
    "load_split",
]


def _labels_groups(records: Sequence[Record]) -> tuple[np.ndarray, np.ndarray]:
    y = np.array(["" if r.label is None else r.label for r in records])
    g = np.array([r.group for r in records])
    return y, g


def _carve(idx: np.ndarray, y: np.ndarray, g: np.ndarray, frac: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Split ``idx`` into (rest, held) with about ``frac`` of it held out, grouped + stratified.

    Uses the first fold of a shuffled ``StratifiedGroupKFold`` with ``round(1/frac)`` folds
    (capped by the number of groups). Returns an empty held part when ``frac`` is 0 or fewer
    than 2 groups remain.
    """
    from sklearn.model_selection import StratifiedGroupKFold

    n_groups = len(np.unique(g[idx]))
    if frac <= 0 or n_groups < 2:
        return idx, idx[:0]
    k = int(min(max(2, round(1.0 / frac)), n_groups))
    cv = StratifiedGroupKFold(n_splits=k, shuffle=True, random_state=seed)
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=".*least populated class.*")
        try:
            rest, held = next(cv.split(np.zeros(len(idx)), y[idx], g[idx]))
        except ValueError as exc:
            raise ValueError(
                _too_few_groups(
                    y[idx],
                    g[idx],
                    f"holding out {frac:.0%} needs {k} folds, so at least one class with {k} or more crops/images",
                )
            ) from exc
    return idx[rest], idx[held]


def _too_few_groups(y: np.ndarray, g: np.ndarray, need: str) -> str:
    """The message for a split the groups cannot make: groups (and items) per class, and the need."""
    per = {
        str(c) or "(unlabelled)": f"{len(np.unique(g[y == c]))} group(s) / {int((y == c).sum())} item(s)"
        for c in np.unique(y)
    }
    return (
        f"too few groups to split: {per}; {need}. Lower the validation/test fractions or the "
        "number of folds, or add images"
    )


def split_records(
    records: Sequence[Record], val: float = 0.15, test: float = 0.15, seed: int = 0
) -> dict[str, list[int]]:
    """Grouped, label-stratified train/val/test split (indices into ``records``).

    Unlabelled records are split by group only. Tiny datasets: a part that cannot get a group
    of its own stays empty (with a warning) rather than leaking a group.

    Args:
        records: the dataset.
        val: fraction for validation (0 for none).
        test: fraction for test (0 for none).
        seed: shuffling seed.

    Returns:
        ``{"train": [...], "val": [...], "test": [...]}`` sorted index lists.
    """
    if not 0 <= val < 1 or not 0 <= test < 1 or val + test >= 1:
        raise ValueError(f"val={val} and test={test} must be in [0, 1) with val + test < 1")
    if len(records) == 0:
        raise ValueError("cannot split an empty dataset")
    y, g = _labels_groups(records)
    idx = np.arange(len(records))
    rest, te = _carve(idx, y, g, test, seed)
    tr, va = _carve(rest, y, g, val / (1.0 - test) if val > 0 else 0.0, seed + 1)
    out = {"train": sorted(tr.tolist()), "val": sorted(va.tolist()), "test": sorted(te.tolist())}
    check_disjoint_groups(out, records, "split_records")
    for name, frac in (("val", val), ("test", test)):
        if frac > 0 and not out[name]:
            warnings.warn(f"split: only {len(np.unique(g))} group(s); the {name} part is empty", stacklevel=2)
    return out


def check_disjoint_groups(parts: dict[str, list[int]], records: Sequence[Record], where: str) -> None:
    """No group in two of the train/val/test parts of one split (or of one k-fold fold).

    Raises:
        ValueError: naming ``where`` (the split file), the parts and the shared groups.
    """
    by_fold: dict[str, dict[str, set[str]]] = {}
    for key, ids in parts.items():
        prefix, _, part = key.rpartition("_") if key.startswith("fold_") else ("", "", key)
        by_fold.setdefault(prefix, {})[part] = {records[i].group for i in ids}
    for prefix, fold in by_fold.items():
        names = sorted(fold)
        for i, a in enumerate(names):
            for b in names[i + 1 :]:
                shared = sorted(fold[a] & fold[b])
                if shared:
                    raise ValueError(
                        f"{where}: group(s) {shared[:5]} ({len(shared)} in all) are in both "
                        f"{prefix + '_' if prefix else ''}{a} and {b}; cells of one source image "
                        "would be trained on and tested on. Make a new split"
                    )


def kfold_records(
    records: Sequence[Record], k: int = 5, seed: int = 0, val: float = 0.15
) -> list[dict[str, list[int]]]:
    """Grouped, stratified k-fold: each fold's test is one fold; val is carved from the rest.

    Every record is in exactly one fold's test part.

    Raises:
        ValueError: fewer groups than ``k``.
    """
    from sklearn.model_selection import StratifiedGroupKFold

    y, g = _labels_groups(records)
    n_groups = len(np.unique(g))
    if k < 2 or n_groups < k:
        raise ValueError(
            f"k-fold needs 2 <= k <= number of groups; k={k}, {n_groups} group(s). "
            + _too_few_groups(y, g, f"{k} folds need at least {k} groups")
        )
    idx = np.arange(len(records))
    cv = StratifiedGroupKFold(n_splits=k, shuffle=True, random_state=seed)
    folds = []
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=".*least populated class.*")
        try:
            splits = list(cv.split(idx, y, g))
        except ValueError as exc:
            raise ValueError(
                _too_few_groups(y, g, f"{k} folds need at least one class with {k} or more crops/images")
            ) from exc
    for i, (rest, te) in enumerate(splits):
        tr, va = _carve(rest, y, g, val, seed + 1 + i)
        folds.append({"train": sorted(tr.tolist()), "val": sorted(va.tolist()), "test": sorted(te.tolist())})
        check_disjoint_groups(folds[-1], records, f"kfold_records fold {i}")
    return folds


def _common_root(records: Sequence[Record]) -> str:
    paths = [os.path.abspath(r.path) for r in records]
    root = os.path.commonpath(paths) if paths else ""
    if len(paths) == 1 or os.path.isfile(root):
        root = os.path.dirname(root)
    return root


def save_split(path: str | Path, split: dict[str, list[int]], records: Sequence[Record]) -> Path:
    """Write a split as JSON with root-relative paths (reusable on another machine).

    The file holds ``root`` (the records' common folder here), per part the relative paths,
    indices and groups. Written atomically.
    """
    root = _common_root(records)
    doc: dict[str, Any] = {"version": 1, "root": root, "n_records": len(records), "parts": {}}
    for part, ids in split.items():
        doc["parts"][part] = {
            "paths": [Path(os.path.relpath(os.path.abspath(records[i].path), root)).as_posix() for i in ids],
            "indices": [int(i) for i in ids],
            "groups": [records[i].group for i in ids],
        }
    return atomic_write_text(path, json.dumps(doc, indent=1))


def load_split(path: str | Path, records: Sequence[Record]) -> dict[str, list[int]]:
    """Read a split written by :func:`save_split` and map it onto ``records`` by path.

    Paths are matched relative to the records' common folder, falling back to the longest
    matching path suffix, so a split saved on one machine applies to the same dataset under
    another root.

    Raises:
        ValueError: naming the split file, when a saved path matches no record or several.
    """
    path = Path(path)
    try:
        doc = json.loads(path.read_text())
        parts = doc["parts"]
    except (OSError, ValueError, KeyError) as e:
        raise ValueError(f"{path}: not a split file written by save_split ({e})") from None
    root = _common_root(records)
    rel = {Path(os.path.relpath(os.path.abspath(r.path), root)).as_posix(): i for i, r in enumerate(records)}
    suffixes: dict[str, list[int]] = {}
    for i, r in enumerate(records):
        parts_ = Path(os.path.abspath(r.path)).parts
        for n in range(1, len(parts_)):
            suffixes.setdefault("/".join(parts_[-n:]), []).append(i)
    out: dict[str, list[int]] = {}
    missing, seen = [], set()
    for part, d in parts.items():
        ids = []
        for p in d["paths"]:
            if p in rel:
                ids.append(rel[p])
                continue
            hit = suffixes.get(p, [])
            if len(hit) != 1:
                missing.append(p)
                continue
            ids.append(hit[0])
        out[part] = sorted(ids)
        seen.update(ids)
    if missing:
        raise ValueError(f"{path}: {len(missing)} saved path(s) match no single record, e.g. {missing[:5]}")
    check_disjoint_groups(out, records, str(path))
    if len(seen) < len(records):
        warnings.warn(f"{path}: {len(records) - len(seen)} record(s) are in no part of the split", stacklevel=2)
    return out
