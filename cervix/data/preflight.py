"""Pre-flight check: decode every file of a dataset before training starts.

A truncated image or a mask of the wrong size would otherwise surface only when the loader
reaches it, possibly after a whole epoch, leaving a run folder without a checkpoint. Like
MONAI's data checks, :func:`preflight` fully decodes every record (a header check misses
truncated files) with a progress bar, reports every problem at once, and stops; with
``skip_bad`` the run goes on without the bad files and lists them in ``skipped.csv``.
"""

from __future__ import annotations

import csv
import io
import os
import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
from tqdm.auto import tqdm

from cervix.core.files import atomic_write_text
from cervix.data.records import Record

__all__ = [
    "DataCheckError",
    "preflight",
    "write_data_report",
    "skipped_info",
]


class DataCheckError(ValueError):
    """Some files of a dataset cannot be used (the message lists every one)."""


def _problem(rec: Record, need_masks: bool) -> tuple[str | None, str | None]:
    """(fatal problem, warning) of one record after decoding it fully."""
    try:
        s = rec.load()
    except Exception as exc:  # noqa: BLE001 - every kind of bad file is reported, none stops the check
        return f"{type(exc).__name__}: {exc}", None
    if need_masks and (s.cytoplasm is None or s.nucleus is None):
        return "no cytoplasm/nucleus masks", None
    if s.cytoplasm is not None and not (s.cytoplasm > 127).any() and np.ptp(s.image) > 0:
        return None, "empty cytoplasm mask on a non-blank image (a mask in another value range?)"
    return None, None


def preflight(
    records: Sequence[Record],
    where: str | os.PathLike,
    need_masks: bool = False,
    skip_bad: bool = False,
    progress: bool = True,
) -> tuple[list[Record], list[tuple[str, str]]]:
    """Decode every record; stop on bad files, or (``skip_bad``) go on without them.

    Args:
        records: the dataset.
        where: the dataset's root, named in the messages.
        need_masks: every record must have both masks (segmentation, 5-channel classifier).
        skip_bad: return the good records instead of raising (list the bad ones in the run
            folder with :func:`write_data_report`).
        progress: tqdm bar.

    Returns:
        ``(good records, [(path, problem), ...] of the bad ones)``.

    Raises:
        DataCheckError: some files are bad and ``skip_bad`` is off (all are listed), or all are.
    """
    bad: list[tuple[str, str]] = []
    suspicious: list[tuple[str, str]] = []
    good = []
    for rec in tqdm(records, desc="checking files", disable=not progress, leave=False):
        fatal, warn = _problem(rec, need_masks)
        if fatal:
            bad.append((rec.path, fatal))
        else:
            good.append(rec)
            if warn:
                suspicious.append((rec.path, warn))
    if suspicious:
        listed = "; ".join(f"{p}: {w}" for p, w in suspicious[:3])
        warnings.warn(
            f"{where}: {len(suspicious)} file(s) look wrong: {listed}"
            + (f" (+{len(suspicious) - 3} more)" if len(suspicious) > 3 else ""),
            stacklevel=2,
        )
    if bad and (not skip_bad or not good):
        table = "\n".join(f"  {p}: {why}" for p, why in bad[:50])
        more = f"\n  ... and {len(bad) - 50} more" if len(bad) > 50 else ""
        hint = (
            "Fix or remove them, or go on without them with --skip-bad (skip_bad=True)."
            if good
            else "No file is usable."
        )
        raise DataCheckError(f"{where}: {len(bad)} of {len(records)} file(s) cannot be used:\n{table}{more}\n{hint}")
    if bad:
        warnings.warn(f"{where}: {len(bad)} bad file(s) skipped (--skip-bad)", stacklevel=2)
    return good, bad


def write_data_report(
    out: str | os.PathLike, n_used: int, skipped: Sequence[tuple[str, str]] = (), bad: Sequence[tuple[str, str]] = ()
) -> str:
    """List every file a run did not use in ``<out>/skipped.csv`` (``path, reason``: what the
    reader passed over, and the bad files ``--skip-bad`` left out) and return the one-line
    summary ``"N used, M skipped: see OUT/skipped.csv"`` (printed by every command that reads a
    dataset). With nothing skipped, a ``skipped.csv`` left by an earlier run there is removed."""
    rows = [(p, why) for p, why in skipped] + [(p, f"bad file: {why}") for p, why in bad]
    if not rows:
        (Path(out) / "skipped.csv").unlink(missing_ok=True)
        return f"{n_used} file(s) used, none skipped"
    buf = io.StringIO()
    w = csv.writer(buf)
    w.writerow(["path", "reason"])
    w.writerows(rows)
    path = atomic_write_text(Path(out) / "skipped.csv", buf.getvalue())
    return f"{n_used} file(s) used, {len(rows)} skipped: see {path}"


def skipped_info(skipped: Sequence[tuple[str, str]]) -> dict[str, Any]:
    """``n_skipped`` and ``skipped`` ``[{path, reason}]``: the files the reader passed over, for
    ``metrics.json`` (an evaluation writes into the run folder, whose ``skipped.csv`` is the
    training's)."""
    return {"n_skipped": len(skipped), "skipped": [{"path": p, "reason": r} for p, r in skipped]}
