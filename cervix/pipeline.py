"""Both stages together: from images to per-cell predictions.

:func:`predict_crops` is ``python -m cervix predict``: every image is one cell crop; the
segmentation run gives its masks (the centre cell kept, :func:`cervix.inference.single_cell_masks`),
the classifier its class probabilities from RGB + those masks, and
:func:`cervix.morphometrics.cell_morphometrics` its areas and N/C ratio.
"""
from __future__ import annotations

import os
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import cv2
import numpy as np
from tqdm.auto import tqdm

from .classification import load_classifier, predict_logits
from .data import Record, load_image
from .datasets import ClassificationDataset
from .sampling import make_loader
from .files import atomic_write_text, ensure_writable, write_png
from .inference import list_images, single_cell_masks
from .labels import HEADS
from .metrics import softmax
from .morphometrics import cell_morphometrics
from .preflight import write_data_report
from .segmentation import inference_kwargs, load_segmentation

__all__ = ["predict_crops"]


def predict_crops(seg: str | os.PathLike, cls: str | os.PathLike, images: str | os.PathLike,
                  out: str | os.PathLike, tta: bool = False, batch_size: int = 32,
                  progress: bool = True):
    """Segment and classify every cell crop under ``images``.

    Each image is one cell crop. The segmentation run gives the masks (tiled inference with the
    run's tile, overlap, scale and thresholds), the classifier the class probabilities from RGB
    + those masks (resized to its image size), :func:`cervix.morphometrics.cell_morphometrics`
    the areas (pixels of the original crop) and the N/C ratio.

    Writes ``out/predictions.csv`` (one row per image: ``file`` relative to ``images``,
    ``predicted_class``, ``confidence``, ``prob_<class>``, ``cell_area``, ``nucleus_area``,
    ``cytoplasm_area``, ``nc_ratio``), the masks as ``out/masks/{cytoplasm,nucleus}/<file>.png``
    and one overlay per image, ``out/overlays/<file>.png``, where ``<file>`` keeps the input's
    extension (``x.jpg`` -> ``x.jpg.png``), so ``x.png`` and ``x.jpg`` in one folder never share
    an output. A file that fails (unreadable, undecodable) is listed in ``out/errors.csv`` and
    the run goes on; every file not predicted (failed, or passed over: hidden, not an image) is
    also listed in ``out/skipped.csv``. The output folder is checked for writing before any work.

    Args:
        seg: segmentation run folder or checkpoint.
        cls: classification run folder or checkpoint.
        images: folder of crops (searched recursively).
        out: output folder.
        tta: flip test-time augmentation in both models.
        batch_size: crops per classifier batch.
        progress: tqdm bars.

    Returns:
        The predictions as a ``pandas.DataFrame``; ``df.attrs["errors"]`` lists the failed files
        (``{"file", "error"}``), ``df.attrs["report"]`` is the "N used, M skipped" line.

    Raises:
        ValueError: no images under ``images``.
        RuntimeError: every image failed (the first errors are named).
    """
    import pandas as pd

    out = ensure_writable(out)
    passed_over: list[tuple[str, str]] = []
    items = list_images(images, passed_over)
    if not items:
        raise ValueError(f"{images}: no images found" + (f" ({len(passed_over)} file(s) passed over)"
                                                          if passed_over else ""))
    seg_model, seg_cfg = load_segmentation(seg)
    cls_model, cls_cfg = load_classifier(cls)
    class_names = list(cls_cfg["class_names"])
    crops, errors = _segment_crops(seg_model, seg_cfg, items, out, class_names[0], tta, progress)
    if errors:
        _report_errors(errors, len(items), bool(crops), out)
    ds = ClassificationDataset([c.record for c in crops], class_names, cls_cfg["image_size"], cls_cfg["in_chans"],
                               None, train=False, cache=False)
    # float32 like evaluate_checkpoint, so the probabilities match its predictions.csv
    logits, _ = predict_logits(cls_model, make_loader(ds, batch_size, shuffle=False), amp="none", tta=tta,
                               progress=progress)
    probs = softmax(logits.astype(np.float64), axis=1)  # (N, K)
    rows = []
    for crop, p in zip(crops, probs):
        k = int(p.argmax())
        rows.append({"file": crop.rel, "predicted_class": class_names[k], "confidence": float(p[k]),
                     **{f"prob_{c}": float(p[j]) for j, c in enumerate(class_names)}, **crop.morphometrics})
        _overlay_png(load_image(crop.path), crop.cytoplasm, crop.nucleus, f"{class_names[k]} {p[k]:.2f}",
                     out / "overlays" / f"{crop.rel}.png")
    df = pd.DataFrame(rows)
    atomic_write_text(out / "predictions.csv", df.to_csv(index=False))
    df.attrs["errors"] = errors
    df.attrs["report"] = write_data_report(out, len(df), passed_over,
                                           [(str(Path(images) / e["file"]), e["error"]) for e in errors])
    return df


@dataclass
class _Crop:
    """One segmented crop of :func:`predict_crops`."""

    path: Path  # the image file
    rel: str  # its path relative to the images folder
    record: Record  # the crop with its written masks, for the classifier
    cytoplasm: np.ndarray  # (H, W) uint8 {0, 255} centre cell
    nucleus: np.ndarray  # (H, W) uint8 {0, 255} its nucleus
    morphometrics: dict[str, float]  # cell/nucleus/cytoplasm areas and N/C ratio


def _segment_crops(model: Any, cfg: dict[str, Any], items: list[tuple[Path, str]], out: Path, label: str,
                   tta: bool, progress: bool) -> tuple[list[_Crop], list[dict[str, str]]]:
    """Masks of every crop (written to ``out/masks``) and its morphometrics; failures listed."""
    thr = tuple(cfg.get("thresholds", (0.5, 0.5)))
    crops, errors = [], []
    for path, rel in tqdm(items, desc="segment", disable=not progress):
        try:
            # each image is one cell crop, of unknown magnification
            image = load_image(path)
            cyt, nuc = single_cell_masks(model, image, thr, **inference_kwargs(cfg, tta=tta))
            mpaths = [write_png(out / "masks" / head / f"{rel}.png", m) for head, m in zip(HEADS, (cyt, nuc))]
        except Exception as exc:  # noqa: BLE001 - every failure is listed, the run goes on
            errors.append({"file": rel, "error": f"{type(exc).__name__}: {exc}"})
            continue
        # the label is a placeholder: ClassificationDataset needs one, the targets are unused
        record = Record(str(path), label, rel, str(mpaths[0]), str(mpaths[1]))
        m = cell_morphometrics(cyt, nuc)
        crops.append(_Crop(path, rel, record, cyt, nuc,
                           {k: m[k] for k in ("cell_area", "nucleus_area", "cytoplasm_area", "nc_ratio")}))
    return crops, errors


def _report_errors(errors: list[dict[str, str]], n_items: int, any_done: bool, out: Path) -> None:
    """``errors.csv``; a warning naming the first failures, or RuntimeError when all failed."""
    import pandas as pd

    atomic_write_text(out / "errors.csv", pd.DataFrame(errors).to_csv(index=False))
    listed = "; ".join(f"{e['file']}: {e['error']}" for e in errors[:3])
    if not any_done:
        raise RuntimeError(f"all {n_items} images failed: {listed} (see {out / 'errors.csv'})")
    warnings.warn(f"{len(errors)} of {n_items} images failed and are listed in {out / 'errors.csv'}: "
                  f"{listed}", stacklevel=3)


def _overlay_png(image: np.ndarray, cyt: np.ndarray, nuc: np.ndarray, text: str, path: Path) -> None:
    """Masks blended on the crop (upscaled to >= 192 px) under a banner with ``text``."""
    from .plotting import overlay

    ov = (overlay(image, cyt, nuc, alpha=0.4) * 255).round().astype(np.uint8)  # (H, W, 3)
    h, w = ov.shape[:2]
    f = max(1.0, 192.0 / min(h, w))
    if f > 1:
        ov = cv2.resize(ov, (round(w * f), round(h * f)), interpolation=cv2.INTER_NEAREST)
    banner = np.full((24, ov.shape[1], 3), 255, np.uint8)
    cv2.putText(banner, text, (4, 17), cv2.FONT_HERSHEY_SIMPLEX, 0.45, (0, 0, 0), 1, cv2.LINE_AA)
    write_png(path, np.vstack([banner, ov]), rgb=True)
