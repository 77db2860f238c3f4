"""Mask files with quality control: ``write_masks`` and what it needs.

:func:`write_masks` writes ``<out>/cytoplasm/<rel>.png`` and ``<out>/nucleus/<rel>.png``
(uint8 {0, 255}, the layout the classes reader takes as masks root) and returns a QC summary:
areas per image, empty or suspicious masks (:func:`mask_qc`), and every failed file; a bad file
never stops the run half-way and never goes unlisted. :func:`list_images` walks an image folder
and lists what it passes over.
"""

from __future__ import annotations

import csv
import io
import json
import os
import warnings
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
from torch import nn
from tqdm.auto import tqdm

from cervix.cells.morphometrics import nc_ratio
from cervix.core.config import MIN_NUCLEUS_SCORE
from cervix.core.files import atomic_write_text, ensure_writable, write_png
from cervix.core.labels import HEADS
from cervix.data.datasets import IMAGENET_MEAN, IMAGENET_STD
from cervix.data.decode import IMAGE_EXTENSIONS, load_image
from cervix.data.preflight import write_data_report
from cervix.inference.sizing import size_columns, sized_masks

__all__ = [
    "list_images",
    "mask_qc",
    "write_masks",
]


def list_images(root: str | os.PathLike, skipped: list[tuple[str, str]] | None = None) -> list[tuple[Path, str]]:
    """Every image below ``root`` as ``(path, path relative to root)``, sorted.

    Hidden files, Herlev's ``*-d.<ext>`` mask images and files that are not images are passed
    over; when ``skipped`` is given, each is appended to it as ``(path, reason)``.
    """
    root = Path(root)
    if not root.is_dir():
        raise FileNotFoundError(f"image folder not found: {root}")
    out = []
    for p in sorted(root.rglob("*")):
        if not p.is_file():
            continue
        why = (
            "hidden file"
            if any(part.startswith(".") for part in p.relative_to(root).parts)
            else "not an image"
            if p.suffix.lower() not in IMAGE_EXTENSIONS
            else "Herlev mask image (*-d)"
            if p.stem.endswith("-d")
            else None
        )
        if why is None:
            out.append((p, p.relative_to(root).as_posix()))
        elif skipped is not None:
            skipped.append((str(p), why))
    return out


def mask_qc(
    cyt: np.ndarray, nuc: np.ndarray, max_outside: float = 0.2, padding: Sequence[int] = (0, 0, 0, 0)
) -> dict[str, Any]:
    """Areas and flags of one image's masks (uint8 {0, 255}).

    Flags: ``empty_cytoplasm``, ``empty_nucleus``, ``nucleus_outside_cytoplasm`` (more than
    ``max_outside`` of the nucleus area lies outside the cytoplasm), ``touches_all_borders`` (the
    cytoplasm reaches all four real image borders, inside the flat ``padding`` (top, bottom,
    left, right) of a letterboxed crop: a cell filling the crop, or background taken for cell).
    """
    c, n = cyt > 127, nuc > 127
    ca, na, px = int(c.sum()), int(n.sum()), c.size
    outside = float((n & ~c).sum() / na) if na else 0.0
    t, b, left, r = (int(v) for v in padding)
    inner = c[t : c.shape[0] - b, left : c.shape[1] - r]
    borders = bool(inner.size and inner[0].any() and inner[-1].any() and inner[:, 0].any() and inner[:, -1].any())
    flags = []
    if ca == 0:
        flags.append("empty_cytoplasm")
    if na == 0:
        flags.append("empty_nucleus")
    if outside > max_outside:
        flags.append("nucleus_outside_cytoplasm")
    if borders:
        flags.append("touches_all_borders")
    cell = int((c | n).sum())  # the cell: cytoplasm mask (whole cell) plus any nucleus outside it
    return {
        "height": c.shape[0],
        "width": c.shape[1],
        "cytoplasm_area": ca,
        "cell_area": cell,
        "nucleus_area": na,
        "cytoplasm_fraction": ca / px,
        "nucleus_fraction": na / px,
        "nc_ratio": nc_ratio(na, cell - na),
        "nucleus_outside_fraction": outside,
        "flags": flags,
    }


def _flag_area_outliers(rows: list[dict[str, Any]], z: float) -> None:
    """Flag cytoplasm-fraction outliers by robust z-score (median / MAD), needs >= 5 images."""
    vals = np.array([r["cytoplasm_fraction"] for r in rows if r["cytoplasm_area"] > 0])
    if len(vals) < 5:
        return
    med = np.median(vals)
    mad = np.median(np.abs(vals - med))
    if mad == 0:
        return
    for r in rows:
        if r["cytoplasm_area"] > 0 and abs(0.6745 * (r["cytoplasm_fraction"] - med) / mad) > z:
            r["flags"].append("area_outlier")


def _safe_rel(rel: str) -> Path:
    p = Path(rel)
    if p.is_absolute() or ".." in p.parts or not p.parts:
        raise ValueError(f"relative path {rel!r} must stay inside the output folder")
    return p.with_suffix(".png")


def _mask_items(images: Any, passed_over: list[tuple[str, str]]) -> list[tuple[Path, str]]:
    """``(path, rel)`` pairs of :func:`write_masks`' input; two inputs that would write one mask
    (``x.png`` and ``x.jpg``: ``<id>.png`` is the layout the classifier reads) stop it first."""
    if isinstance(images, (str, os.PathLike)):
        items = list_images(images, passed_over)
    else:
        items = [
            (Path(it[0]), str(it[1])) if isinstance(it, (tuple, list)) else (Path(it), Path(it).name) for it in images
        ]
    first: dict[str, str] = {}
    for path, rel in items:
        try:
            key = _safe_rel(rel).as_posix()
        except ValueError:
            continue  # listed as that file's error by write_masks
        if key in first:
            raise ValueError(
                f"{first[key]} and {path} would both write the mask {key}; rename one of them (nothing was written)"
            )
        first[key] = str(path)
    return items


def _flagged(rows: list[dict[str, Any]]) -> dict[str, list[str]]:
    """QC flag -> the images (``rel``) that carry it."""
    flagged: dict[str, list[str]] = {}
    for r in rows:
        for f in r["flags"]:
            flagged.setdefault(f, []).append(r["rel"])
    return flagged


def _write_qc(out: Path, summary: dict[str, Any]) -> None:
    """``qc.json`` (the whole summary) and ``qc.csv`` (one row per written image)."""
    rows = summary["images"]
    atomic_write_text(out / "qc.json", json.dumps(summary, indent=2, default=str))
    if rows:
        buf = io.StringIO()
        wr = csv.DictWriter(buf, fieldnames=list(dict.fromkeys(k for r in rows for k in r)))
        wr.writeheader()
        wr.writerows({**r, "flags": ";".join(r["flags"])} for r in rows)
        atomic_write_text(out / "qc.csv", buf.getvalue())


def _raise_or_warn(errors: list[dict[str, str]], n_items: int, any_written: bool, listing: Path) -> None:
    """Failed files: a warning naming the first ones, or RuntimeError when every image failed."""
    if not errors:
        return
    listed = "; ".join(f"{e['path']}: {e['error']}" for e in errors[:5])
    more = f" (+{len(errors) - 5} more, see {listing})" if len(errors) > 5 else ""
    if not any_written:
        raise RuntimeError(f"all {n_items} images failed: {listed}{more}")
    warnings.warn(f"{len(errors)} of {n_items} images failed: {listed}{more}", stacklevel=3)


def _predict_and_write(
    model: nn.Module,
    items: list[tuple[Path, str]],
    out: Path,
    thresholds: tuple[float, ...],
    single_cell: bool,
    max_outside: float,
    kw: dict[str, Any],
    progress: bool,
) -> tuple[list[dict[str, Any]], list[dict[str, str]]]:
    """Masks of every item written under ``out``: (QC rows, errors); a failure never stops the loop."""
    rows: list[dict[str, Any]] = []
    errors: list[dict[str, str]] = []
    seen: dict[Path, str] = {}
    bar = tqdm(items, desc="masks", disable=not progress, dynamic_ncols=True)
    for path, rel in bar:
        try:
            target = _safe_rel(rel)
            if target in seen:
                raise ValueError(f"output {target} already written for {seen[target]}")
            image = load_image(path)
            cyt, nuc, size = sized_masks(model, image, thresholds, single_cell=single_cell, **kw)
            write_png(out / HEADS[0] / target, cyt)
            write_png(out / HEADS[1] / target, nuc)
            seen[target] = str(path)
            qc = mask_qc(cyt, nuc, max_outside, size["padding"])
            rows.append({"rel": rel, "path": str(path), **qc, **size_columns(size)})
        except Exception as exc:  # noqa: BLE001 - every failure is listed, the run goes on
            errors.append({"path": str(path), "rel": str(rel), "error": f"{type(exc).__name__}: {exc}"})
            bar.set_postfix(errors=len(errors))
    bar.close()
    return rows, errors


def _summary(
    out: Path,
    n_images: int,
    rows: list[dict[str, Any]],
    errors: list[dict[str, str]],
    passed_over: list[tuple[str, str]],
    report: str,
    thresholds: tuple[float, ...],
    single_cell: bool,
) -> dict[str, Any]:
    """What :func:`write_masks` returns and writes to ``qc.json``."""
    return {
        "out_dir": str(out),
        "n_images": n_images,
        "n_written": len(rows),
        "n_flagged": sum(bool(r["flags"]) for r in rows),
        "n_errors": len(errors),
        "n_skipped": len(passed_over),
        "report": report,
        "thresholds": list(thresholds),
        "single_cell": single_cell,
        "images": rows,
        "flagged": _flagged(rows),
        "errors": errors,
    }


def write_masks(
    model: nn.Module,
    images: str | os.PathLike | Iterable[tuple[str | os.PathLike, str] | str | os.PathLike],
    out_dir: str | os.PathLike,
    thresholds: Sequence[float] = (0.5, 0.5),
    *,
    tile: int = 256,
    overlap: float = 0.25,
    batch_size: int = 4,
    tta: bool = False,
    amp: str = "none",
    scale: float = 1.0,
    normalise: bool = True,
    progress: bool = True,
    max_outside: float = 0.2,
    outlier_z: float = 3.5,
    single_cell: bool = False,
    cell_diameter: float | str | None = None,
    cell_size: dict[str, Any] | None = None,
    mean: Sequence[float] = IMAGENET_MEAN,
    std: Sequence[float] = IMAGENET_STD,
    min_nucleus_score: float = MIN_NUCLEUS_SCORE,
) -> dict[str, Any]:
    """Predict and write cytoplasm and nucleus masks for many images, with a QC summary.

    Writes ``<out_dir>/cytoplasm/<rel>.png`` and ``<out_dir>/nucleus/<rel>.png`` (uint8 {0, 255};
    ``rel`` keeps sub-folders such as the class folder, with the extension replaced by .png), plus
    ``<out_dir>/qc.json`` and ``<out_dir>/qc.csv``. A file that fails (unreadable image, write
    error, duplicate output name) is listed under ``errors`` and the run goes on.

    Args:
        model: segmentation network (logits ``(B, 2, H, W)``).
        images: a folder (all images below it, see :func:`list_images`), or an iterable of
            ``(path, rel_path)`` pairs or plain paths (``rel_path`` = file name).
        out_dir: output root.
        thresholds: ``(cytoplasm, nucleus)`` probability thresholds.
        tile, overlap, batch_size, tta, amp, scale, normalise, mean, std: see :func:`predict_tiled`.
        progress: tqdm bar over the images.
        max_outside: QC flag when more than this fraction of the nucleus lies outside the cytoplasm.
        outlier_z: QC flag for a cytoplasm area with robust z-score above this (>= 5 images).
        single_cell: each image is a single-cell crop: keep only its centre cell.
        cell_diameter, cell_size: None, ``"auto"`` or px, and the run's ``config["cell_size"]``:
            see :func:`cervix.inference.sizing.sized_probabilities`.
        min_nucleus_score: nuclei of a lower mean probability are left out (the run's
            ``min_nucleus_score``; :func:`cervix.cells.instances.suppress_weak_nuclei`).

    Every file not written (passed over by :func:`list_images`, or failed) is listed in
    ``<out_dir>/skipped.csv``; ``report`` is the one-line "N used, M skipped" summary.

    Returns:
        ``{"out_dir", "n_images", "n_written", "n_flagged", "n_errors", "n_skipped", "report", "thresholds",
        "images": [per-image areas and flags], "flagged": {flag: [rel, ...]},
        "errors": [{"path", "rel", "error"}]}``.

    Raises:
        RuntimeError: every image failed (the message lists the first errors).
    """
    out = ensure_writable(out_dir)  # before any inference
    passed_over: list[tuple[str, str]] = []
    items = _mask_items(images, passed_over)
    thresholds = tuple(float(t) for t in thresholds)
    kw = dict(tile=tile, overlap=overlap, batch_size=batch_size, tta=tta, amp=amp, scale=scale, normalise=normalise)
    kw.update(mean=mean, std=std, diameter=cell_diameter, cell_size=cell_size, min_nucleus_score=min_nucleus_score)
    rows, errors = _predict_and_write(model, items, out, thresholds, single_cell, max_outside, kw, progress)
    _flag_area_outliers(rows, outlier_z)

    report = write_data_report(out, len(rows), passed_over, [(e["path"], e["error"]) for e in errors])
    if progress:
        tqdm.write(report)
    summary = _summary(out, len(items), rows, errors, passed_over, report, thresholds, single_cell)
    summary.update(cell_diameter=cell_diameter, cell_size=cell_size)  # what sized the images
    _write_qc(out, summary)
    _raise_or_warn(errors, len(items), bool(rows), out / "qc.json")
    return summary
