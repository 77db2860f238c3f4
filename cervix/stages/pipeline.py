"""Both stages together: from images to per-cell predictions.

:func:`analyze` is ``python -m cervix analyze``: every image is a whole field; the segmentation
run's probabilities are separated into cells (:func:`cervix.cells.instances.separate`), every cell is
cut with its own masks the way the synthetic training crops are cut, classified, measured and
drawn on an overlay; ``cells.csv`` holds one row per cell, ``summary.csv`` one per field, and the
cells are exported for the field's viewers (:mod:`cervix.cells.exports`: QuPath GeoJSON per field,
one COCO instances file).

:func:`predict_crops` is ``python -m cervix predict``: every image is one cell crop; the
segmentation run gives its masks (the centre cell kept, :func:`cervix.inference.tiling.single_cell_masks`),
the classifier its class probabilities from RGB + those masks, and
:func:`cervix.cells.morphometrics.cell_morphometrics` its areas and N/C ratio.
"""

from __future__ import annotations

import json
import os
import warnings
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import cv2
import numpy as np
from tqdm.auto import tqdm

from cervix.cells.exports import coco_annotations, coco_document, coco_image, field_geojson
from cervix.cells.instances import CELL_COLUMNS, InstanceConfig, Instances, cell_table, cut_cell, separate
from cervix.cells.morphometrics import cell_morphometrics
from cervix.cells.whole import OVERLAP_COLUMNS, overlap_table
from cervix.core.config import run_min_nucleus_score
from cervix.core.files import atomic_write_text, ensure_writable, write_png
from cervix.core.labels import HEADS, group_label
from cervix.data.annotations import coco_index, decode_masks, exported_cells
from cervix.data.datasets import ClassificationDataset
from cervix.data.decode import load_image
from cervix.data.preflight import write_data_report
from cervix.data.records import Record, Sample
from cervix.inference.classify import predict_logits
from cervix.inference.sizing import (
    min_nucleus_area,
    parse_diameter,
    run_cell_size,
    size_columns,
    sized_masks,
    sized_probabilities,
)
from cervix.inference.wholecells import predict_whole_cells
from cervix.inference.writing import list_images
from cervix.metrics.scores import softmax
from cervix.stages.cellhead import cell_head_of
from cervix.stages.classification import load_classifier
from cervix.stages.segmentation import inference_kwargs, load_segmentation
from cervix.training.rundir import prepare_output_dir
from cervix.training.sampling import make_loader
from cervix.viz.figures import overlay_instances
from cervix.viz.style import class_rgb

__all__ = [
    "predict_crops",
    "analyze",
    "analyze_field",
    "field_summary",
    "load_field_analysis",
    "load_mask_labels",
    "read_back_exports",
    "ANALYZE_OUTPUTS",
    "parse_min_area",
]

#: What :func:`analyze` writes into its output folder (all of it, and only it, is replaced with
#: ``overwrite``).
ANALYZE_OUTPUTS: tuple[str, ...] = (
    "instances",
    "nuclei",
    "overlays",
    "geojson",
    "cells.csv",
    "overlaps.csv",
    "summary.csv",
    "cells_coco.json",
    "errors.csv",
    "skipped.csv",
)


def _input_images(images: Any, passed_over: list[tuple[str, str]]) -> tuple[list[tuple[Path, str]], Path]:
    """``((path, rel) pairs, root)`` of a folder (searched by :func:`cervix.inference.writing.list_images`,
    files passed over listed in ``passed_over``) or of a list of files (``rel`` = file name).

    Raises:
        ValueError: no images.
    """
    if isinstance(images, (str, os.PathLike)):
        items, root = list_images(images, passed_over), Path(images)
    else:
        items = [(Path(p), Path(p).name) for p in images]
        root = items[0][0].parent if items else Path(".")
    if not items:
        raise ValueError(
            f"{images}: no images found" + (f" ({len(passed_over)} file(s) passed over)" if passed_over else "")
        )
    return items, root


def predict_crops(
    seg: str | os.PathLike,
    cls: str | os.PathLike,
    images: str | os.PathLike,
    out: str | os.PathLike,
    tta: bool = False,
    batch_size: int = 32,
    progress: bool = True,
    cell_diameter: float | str | None = "auto",
):
    """Segment and classify every cell crop under ``images``.

    Each image is one cell crop. The segmentation run gives the masks (at the crop's estimated
    cell size, :mod:`cervix.inference.sizing`), the classifier the class probabilities from RGB
    + those masks, :func:`cervix.cells.morphometrics.cell_morphometrics` the areas (pixels of the
    original crop) and the N/C ratio. Writes ``out/predictions.csv`` (one row per image: ``file``
    relative to ``images``, ``predicted_class``, ``confidence``, ``prob_<class>``, the areas,
    ``nc_ratio`` and the size columns of :func:`cervix.inference.sizing.size_columns`), the masks
    as ``out/masks/{cytoplasm,nucleus}/<file>.png`` and overlays ``out/overlays/<file>.png``
    (``<file>`` keeps the input's extension: ``x.jpg`` -> ``x.jpg.png``). A file that fails
    (unreadable, undecodable) is listed in ``out/errors.csv`` and the run goes on; every file not
    predicted (failed, or passed over: hidden, not an image) is also listed in ``out/skipped.csv``.
    The output folder is checked for writing before any work.

    Args:
        seg: segmentation run folder or checkpoint.
        cls: classification run folder or checkpoint.
        images: folder of crops (searched recursively).
        out: output folder.
        tta: flip test-time augmentation in both models.
        batch_size: crops per classifier batch.
        progress: tqdm bars.
        cell_diameter: ``"auto"`` (size estimated per crop), the cells' diameter in px, or None.

    Returns:
        The predictions as a ``pandas.DataFrame``; ``df.attrs["errors"]`` lists the failed files
        (``{"file", "error"}``), ``df.attrs["report"]`` is the "N used, M skipped" line.

    Raises:
        ValueError: no images under ``images``.
        RuntimeError: every image failed (the first errors are named).
    """
    import pandas as pd

    diameter = parse_diameter(cell_diameter)
    out = ensure_writable(out)
    passed_over: list[tuple[str, str]] = []
    items, images = _input_images(images, passed_over)
    seg_model, seg_cfg = load_segmentation(seg)
    cls_model, cls_cfg = load_classifier(cls)
    class_names = list(cls_cfg["class_names"])
    size = {"diameter": diameter, "cell_size": run_cell_size(seg_cfg, diameter)}
    crops, errors = _segment_crops(seg_model, seg_cfg, items, out, class_names[0], tta, progress, size)
    if errors:
        _report_errors(errors, len(items), bool(crops), out)
    # float32 like evaluate_checkpoint, so the probabilities match its predictions.csv
    probs = _classify_cells(cls_model, cls_cfg, [c.record for c in crops], batch_size, tta, progress)  # (N, K)
    rows = []
    for crop, p in zip(crops, probs):
        k = int(p.argmax())
        rows.append(
            {
                "file": crop.rel,
                "predicted_class": class_names[k],
                "confidence": float(p[k]),
                **{f"prob_{c}": float(p[j]) for j, c in enumerate(class_names)},
                **crop.morphometrics,
                **size_columns(crop.size),
            }
        )
        label, png = f"{class_names[k]} {p[k]:.2f}", out / "overlays" / f"{crop.rel}.png"
        _overlay_png(load_image(crop.path), crop.cytoplasm, crop.nucleus, label, png)
    df = pd.DataFrame(rows)
    atomic_write_text(out / "predictions.csv", df.to_csv(index=False))
    df.attrs["errors"] = errors
    df.attrs["report"] = write_data_report(
        out, len(df), passed_over, [(str(Path(images) / e["file"]), e["error"]) for e in errors]
    )
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
    size: dict[str, Any]  # the size normalisation used (cervix.inference.sizing.sized_probabilities)


def _segment_crops(
    model: Any,
    cfg: dict[str, Any],
    items: list[tuple[Path, str]],
    out: Path,
    label: str,
    tta: bool,
    progress: bool,
    size: dict[str, Any],
) -> tuple[list[_Crop], list[dict[str, str]]]:
    """Masks of every crop (written to ``out/masks``) and its morphometrics; failures listed."""
    thr = tuple(cfg.get("thresholds", (0.5, 0.5)))
    crops, errors = [], []
    for path, rel in tqdm(items, desc="segment", disable=not progress):
        try:
            # each image is one cell crop, of unknown magnification
            image = load_image(path)
            kw = {**inference_kwargs(cfg, tta=tta), "min_nucleus_score": run_min_nucleus_score(cfg)}
            cyt, nuc, info = sized_masks(model, image, thr, single_cell=True, **size, **kw)
            mpaths = [write_png(out / "masks" / head / f"{rel}.png", m) for head, m in zip(HEADS, (cyt, nuc))]
        except Exception as exc:  # noqa: BLE001 - every failure is listed, the run goes on
            errors.append({"file": rel, "error": f"{type(exc).__name__}: {exc}"})
            continue
        # the label is a placeholder: ClassificationDataset needs one, the targets are unused
        record = Record(str(path), label, rel, str(mpaths[0]), str(mpaths[1]))
        m = cell_morphometrics(cyt, nuc)
        crops.append(
            _Crop(
                path,
                rel,
                record,
                cyt,
                nuc,
                {k: m[k] for k in ("cell_area", "nucleus_area", "cytoplasm_area", "nc_ratio")},
                info,
            )
        )
    return crops, errors


def _report_errors(errors: list[dict[str, str]], n_items: int, any_done: bool, out: Path) -> None:
    """``errors.csv``; a warning naming the first failures, or RuntimeError when all failed."""
    import pandas as pd

    atomic_write_text(out / "errors.csv", pd.DataFrame(errors).to_csv(index=False))
    listed = "; ".join(f"{e['file']}: {e['error']}" for e in errors[:3])
    if not any_done:
        raise RuntimeError(f"all {n_items} images failed: {listed} (see {out / 'errors.csv'})")
    warnings.warn(
        f"{len(errors)} of {n_items} images failed and are listed in {out / 'errors.csv'}: {listed}", stacklevel=3
    )


def _overlay_png(image: np.ndarray, cyt: np.ndarray, nuc: np.ndarray, text: str, path: Path) -> None:
    """Masks blended on the crop (upscaled to >= 192 px) under a banner with ``text``."""
    from cervix.viz.style import overlay

    ov = (overlay(image, cyt, nuc, alpha=0.4) * 255).round().astype(np.uint8)  # (H, W, 3)
    h, w = ov.shape[:2]
    f = max(1.0, 192.0 / min(h, w))
    if f > 1:
        ov = cv2.resize(ov, (round(w * f), round(h * f)), interpolation=cv2.INTER_NEAREST)
    banner = np.full((24, ov.shape[1], 3), 255, np.uint8)
    cv2.putText(banner, text, (4, 17), cv2.FONT_HERSHEY_SIMPLEX, 0.45, (0, 0, 0), 1, cv2.LINE_AA)
    write_png(path, np.vstack([banner, ov]), rgb=True)


# ------------------------------------------------------------------------- whole fields: analyze
@dataclass
class _CellCrop:
    """A cell cut from a field, shaped like a :class:`cervix.data.records.Record` for the classifier."""

    sample: Sample  # the crop with its own masks
    label: str  # placeholder label (the targets are unused)
    path: str  # "<field>#<cell id>"
    has_masks: bool = True

    def load(self) -> Sample:
        return self.sample


def _classify_cells(
    model: Any, cfg: dict[str, Any], crops: list[Any], batch_size: int, tta: bool, progress: bool = False
) -> np.ndarray:
    """Class probabilities ``(N, K)`` of cell crops (records or :class:`_CellCrop`; float32 logits like
    :func:`cervix.stages.evaluation.evaluate_checkpoint`, so the probabilities match its predictions.csv)."""
    names = list(cfg["class_names"])
    if not crops:
        return np.zeros((0, len(names)))
    ds = ClassificationDataset(crops, names, cfg["image_size"], cfg["in_chans"], None, train=False, cache=False)
    logits, _ = predict_logits(
        model, make_loader(ds, batch_size, shuffle=False), amp="none", tta=tta, progress=progress
    )
    return softmax(logits.astype(np.float64), axis=1)


def _is_abnormal(name: str) -> bool:
    """A class counts as abnormal when its 2-class group is (SIPaKMeD and Herlev names), or is named so."""
    try:
        return group_label(name, "2") == "abnormal"
    except ValueError:
        return name == "abnormal"


def analyze_field(
    seg_model: Any,
    seg_cfg: dict[str, Any],
    cls_model: Any,
    cls_cfg: dict[str, Any],
    image: np.ndarray,
    instance_cfg: InstanceConfig | None = None,
    tta: bool = False,
    batch_size: int = 32,
    diameter: float | str | None = None,
    cell_size: dict[str, Any] | None = None,
    cell_head: tuple[Any, dict[str, Any]] | None = None,
) -> tuple[Instances, list[dict[str, Any]], dict[str, Any]]:
    """Instances, one row per cell (morphometrics, flags, class probabilities) and the size
    normalisation used (:func:`cervix.inference.sizing.sized_probabilities`) of one field.

    The field is segmented tiled at the segmentation run's scale, or with ``diameter`` (``"auto"`` or
    the cells' diameter in px, with the run's ``cell_size``) at its cells' training size; morphometrics
    stay in the field's own pixels. It is
    separated into cells (:func:`cervix.cells.instances.separate`, the run's thresholds unless
    ``instance_cfg`` says otherwise); with a ``cell_head`` (model and config of ``RUN/cells/``) each
    cell also gets its whole, overlapping mask (:func:`cervix.inference.wholecells.predict_whole_cells`).
    Every cell is cut with its own (whole) masks (:func:`cervix.cells.instances.cut_cell`), measured
    on them and classified.
    """
    thr = tuple(seg_cfg.get("thresholds", (0.5, 0.5)))
    score = run_min_nucleus_score(seg_cfg)
    icfg = instance_cfg or InstanceConfig(cell_threshold=thr[0], nucleus_threshold=thr[1], min_nucleus_score=score)
    kw = inference_kwargs(seg_cfg, tta=tta)
    probs, size = sized_probabilities(
        seg_model, image, thr, diameter=diameter, cell_size=cell_size, min_nucleus_score=icfg.min_nucleus_score, **kw
    )  # (2, H, W)
    floor = min_nucleus_area(cell_size, size.get("scale"))  # nuclei in the field's pixels
    inst = separate(probs, replace(icfg, min_nucleus_area=max(icfg.min_nucleus_area, floor)))
    if cell_head is not None:  # its window follows the resize of the final pass (the run's scale or the cells' size)
        head, head_cfg = cell_head
        inst.whole = predict_whole_cells(
            head, {**head_cfg, "scale": size.get("scale") or 1.0, "tta": tta}, image, probs[0], inst
        )
    rows = cell_table(inst)
    names = list(cls_cfg["class_names"])
    crops = []
    for r in rows:
        c = cut_cell(image, inst, r["cell_id"])
        crops.append(
            _CellCrop(
                Sample(c["image"], c["cytoplasm"], c["nucleus"], names[0], "", ""), names[0], f"cell {r['cell_id']}"
            )
        )
    probs_cls = _classify_cells(cls_model, cls_cfg, crops, batch_size, tta)
    for r, p in zip(rows, probs_cls):
        k = int(p.argmax())
        r.update(
            predicted_class=names[k], confidence=float(p[k]), **{f"prob_{c}": float(p[j]) for j, c in enumerate(names)}
        )
    return inst, rows, size


def field_summary(image: str, rows: list[dict[str, Any]], class_names: list[str]) -> dict[str, Any]:
    """One ``summary.csv`` row: cells per class, abnormal fraction, mean N/C per class."""
    out: dict[str, Any] = {"image": image, "n_cells": len(rows)}
    for c in class_names:
        mine = [r for r in rows if r.get("predicted_class") == c]
        out[f"n_{c}"] = len(mine)
        ncs = [r["nc_ratio"] for r in mine if np.isfinite(r["nc_ratio"])]
        out[f"mean_nc_{c}"] = float(np.mean(ncs)) if ncs else float("nan")
    out["abnormal_fraction"] = (
        sum(_is_abnormal(r["predicted_class"]) for r in rows) / len(rows) if rows else float("nan")
    )
    return out


def parse_min_area(value: Any) -> int | None:
    """``--min-area``: None, or a whole number of pixels above 0.

    Raises:
        ValueError: a non-numeric, fractional or non-positive value.
    """
    if value is None:
        return None
    try:
        f = float(value)
    except (TypeError, ValueError):
        raise ValueError(f"--min-area must be a number of pixels, not {value!r}") from None
    if not np.isfinite(f) or f <= 0 or not f.is_integer():
        raise ValueError(f"--min-area must be a whole number of pixels above 0, not {value!r}")
    return int(f)


def analyze(
    seg: str | os.PathLike,
    cls: str | os.PathLike,
    images: str | os.PathLike,
    out: str | os.PathLike,
    tta: bool = False,
    min_area: int | None = None,
    batch_size: int = 32,
    progress: bool = True,
    cell_diameter: float | str | None = None,
    overwrite: bool = False,
) -> dict[str, Any]:
    """From whole fields to a per-cell report (``python -m cervix analyze``).

    For every image under ``images`` (any size; tiled like ``masks``) writes
    ``out/instances/<rel>.png`` (uint16 cell ids, 0 = background), ``out/nuclei/<rel>.png`` (uint16,
    a nucleus carries its cell's id) and ``out/overlays/<rel>.png`` (cell contours in their class
    colour, with a legend); then ``out/cells.csv`` (one row per cell: image, cell id, bounding box,
    centroid, cell and nucleus area, N/C ratio, number of nuclei, flags, predicted class,
    confidence, probabilities) and ``out/summary.csv`` (one row per image: cells per class,
    abnormal fraction, mean N/C per class, the size columns). The cells go to QuPath as
    ``out/geojson/<rel>.geojson`` (:func:`cervix.cells.exports.field_geojson`) and to COCO tools as
    ``out/cells_coco.json`` (compressed RLE, one file for the run). ``<rel>`` keeps the input's
    extension (``x.jpg`` -> ``x.jpg.png``). Failures go to ``out/errors.csv``, every file not
    analysed to ``out/skipped.csv``. A folder that holds an earlier analysis is refused unless
    ``overwrite``, which removes only :data:`ANALYZE_OUTPUTS`.

    Args:
        seg, cls: segmentation and classification run folders or checkpoints.
        images: folder of fields (searched recursively), or a list of image files.
        out: output folder (checked for writing before any work).
        tta: flip test-time augmentation in both models.
        min_area: smallest cell kept, in pixels (default :class:`cervix.cells.instances.InstanceConfig`).
        batch_size, progress: cells per classifier batch; tqdm bar over the fields.
        cell_diameter: None (the run's scale), ``"auto"`` or the cells' diameter in px.
        overwrite: replace an earlier analysis in ``out``.

    Returns:
        ``{"cells": DataFrame, "summary": DataFrame, "errors": [...], "report": "N used, M skipped"}``.

    Raises:
        ValueError: no images under ``images``, a bad ``min_area`` or ``cell_diameter``.
        RunExistsError: ``out`` holds an earlier analysis and ``overwrite`` is not set.
        RuntimeError: every image failed.
    """
    diameter, min_area = parse_diameter(cell_diameter), parse_min_area(min_area)
    out = prepare_output_dir(ensure_writable(out), ANALYZE_OUTPUTS, overwrite, "an analysis")
    passed_over: list[tuple[str, str]] = []
    items, images = _input_images(images, passed_over)
    seg_model, seg_cfg = load_segmentation(seg)
    cls_model, cls_cfg = load_classifier(cls)
    sizing = {"diameter": diameter, "cell_size": run_cell_size(seg_cfg, diameter), "cell_head": _cell_head(seg)}
    masks_kind = "whole" if sizing["cell_head"] is not None else "partition"
    names = list(cls_cfg["class_names"])
    thr = tuple(seg_cfg.get("thresholds", (0.5, 0.5)))
    icfg = InstanceConfig(*thr, min_nucleus_score=run_min_nucleus_score(seg_cfg))
    icfg.min_cell_area = min_area or icfg.min_cell_area
    cells, summary, errors, coco, overlaps = [], [], [], {"images": [], "annotations": []}, []
    for path, rel in tqdm(items, desc="analyze", disable=not progress):
        try:
            image = load_image(path)
            inst, rows, size = analyze_field(
                seg_model, seg_cfg, cls_model, cls_cfg, image, icfg, tta, batch_size, **sizing
            )
            _write_field(out, rel, image, inst, rows, names, coco)
        except Exception as exc:  # noqa: BLE001 - every failure is listed, the run goes on
            errors.append({"file": rel, "error": f"{type(exc).__name__}: {exc}"})
            continue
        cells += [{"image": rel, **r} for r in rows]
        overlaps += [{"image": rel, **r} for r in overlap_table(list(inst.cell_masks.values()), list(inst.cell_masks))]
        summary.append({**field_summary(rel, rows, names), **size_columns(size), "cell_masks": masks_kind})
    if errors:
        _report_errors(errors, len(items), bool(summary), out)
    cells_df, summary_df = _write_tables(out, cells, summary, coco, names, overlaps)
    report = write_data_report(
        out, len(summary), passed_over, [(str(Path(images) / e["file"]), e["error"]) for e in errors]
    )
    return {"cells": cells_df, "summary": summary_df, "errors": errors, "report": report}


def _cell_head(seg: str | os.PathLike) -> tuple[Any, dict[str, Any]] | None:
    """The cell head of a segmentation run (``RUN/cells/``), or None with a warning: cells are then a partition."""
    head = cell_head_of(seg)
    if head is None:
        warnings.warn(
            f"{seg}: no cell head (cells/best.pt), so cells are cut as a partition (overlaps go to one "
            "cell); `segment` trains one where the data has per-cell truth",
            stacklevel=3,
        )
    return head


def _write_tables(
    out: Path, cells: list[dict], summary: list[dict], coco: dict[str, list], names: list[str], overlaps: list[dict]
) -> tuple[Any, Any]:
    """``cells.csv``, ``summary.csv``, ``overlaps.csv`` and ``cells_coco.json`` of a whole analysis; the two tables."""
    import pandas as pd

    front = ["image", "cell_id", "predicted_class", "confidence"]
    columns = front + [c for c in (*CELL_COLUMNS, *(f"prob_{n}" for n in names)) if c not in front]
    cells_df = pd.DataFrame(cells, columns=columns)  # the header even when no field has a cell
    summary_df = pd.DataFrame(summary)
    atomic_write_text(out / "cells.csv", cells_df.to_csv(index=False))
    atomic_write_text(out / "summary.csv", summary_df.to_csv(index=False))
    overlaps_df = pd.DataFrame(overlaps, columns=["image", *OVERLAP_COLUMNS])
    atomic_write_text(out / "overlaps.csv", overlaps_df.to_csv(index=False))
    atomic_write_text(out / "cells_coco.json", json.dumps(coco_document(coco["images"], coco["annotations"], names)))
    return cells_df, summary_df


def _write_field(
    out: Path,
    rel: str,
    image: np.ndarray,
    inst: Instances,
    rows: list[dict[str, Any]],
    names: list[str],
    coco: dict[str, list],
) -> None:
    """The files of one analysed field (label maps, overlay, QuPath GeoJSON); its image and cells
    are added to ``coco`` (``images``, ``annotations``) last, once everything else is written."""
    write_png(out / "instances" / f"{rel}.png", inst.cells)
    write_png(out / "nuclei" / f"{rel}.png", inst.nuclei)
    write_png(out / "overlays" / f"{rel}.png", overlay_instances(image, inst, rows, names), rgb=True)
    doc = field_geojson(inst, rows, names, class_rgb(names), image=rel)
    atomic_write_text(out / "geojson" / f"{rel}.geojson", json.dumps(doc))
    image_id, first = len(coco["images"]) + 1, len(coco["annotations"]) + 1
    coco["annotations"] += coco_annotations(inst, rows, names, image_id, first_id=first)
    coco["images"].append(coco_image(image_id, rel, *image.shape[:2]))


def load_field_analysis(
    out: str | os.PathLike, images: str | os.PathLike, rel: str
) -> tuple[np.ndarray, Instances, list[dict[str, Any]]]:
    """One field of an :func:`analyze` run read back: ``(image, instances, cell rows)``.

    Args:
        out: the analyze output folder.
        images: the images folder it analysed.
        rel: the field's path relative to ``images`` (the ``image`` column of ``cells.csv``).
    """
    import pandas as pd

    out = Path(out)
    cells = load_mask_labels(out / "instances" / f"{rel}.png")
    nuclei = load_mask_labels(out / "nuclei" / f"{rel}.png")
    df = pd.read_csv(out / "cells.csv", keep_default_na=False)
    rows = df[df["image"] == rel].drop(columns="image").to_dict("records")
    no_nucleus = {int(r["cell_id"]) for r in rows if "no_nucleus" in str(r["flags"]).split(";")}
    inst = Instances(cells, nuclei, no_nucleus, whole=exported_cells(out / "cells_coco.json", rel, cells.shape))
    return load_image(Path(images) / rel), inst, rows


def read_back_exports(out: str | os.PathLike, rel: str) -> Any:
    """One field's exported cells read back the way the ``geojson`` and ``coco`` formats read them,
    against the cells of the analysis: a DataFrame with one row per format (cells written and read,
    the smallest per-cell IoU, whether the nucleus mask comes back equal). The cells of the analysis
    are the label map ``instances/`` for a partition, the whole cells of ``cells_coco.json`` where
    ``analyze`` had a cell head (``summary.csv``'s ``cell_masks``).

    Args:
        out: the analyze output folder.
        rel: the field's path relative to the images (the ``image`` column of ``cells.csv``).
    """
    import pandas as pd

    out = Path(out)
    labels = load_mask_labels(out / "instances" / f"{rel}.png")
    nuclei = load_mask_labels(out / "nuclei" / f"{rel}.png")
    coco_path = str(out / "cells_coco.json")
    image_id = next(i for i, im in coco_index(coco_path).items() if im["file_name"] == rel)
    summary = pd.read_csv(out / "summary.csv", keep_default_na=False)
    whole = "whole" in set(summary.loc[summary["image"] == rel, "cell_masks"]) if "cell_masks" in summary else False
    inst = Instances(labels, nuclei, whole=exported_cells(Path(coco_path), rel, labels.shape) if whole else None)
    reference = [c.full(labels.shape) for c in inst.cell_masks.values()]
    rows = []
    for fmt, meta in (
        ("geojson", {"geojson": str(out / "geojson" / f"{rel}.geojson")}),
        ("coco", {"json": coco_path, "image_id": image_id}),
    ):
        _, nuc, _, cells = decode_masks(fmt, meta, rel, labels.shape)
        ious = [(c & r).sum() / (c | r).sum() for c, r in zip(cells, reference)]
        rows.append(
            {
                "format": fmt,
                "cells written": len(reference),
                "cells read": len(cells),
                "smallest cell IoU": float(min(ious, default=1.0)),
                "nucleus mask equal": bool(np.array_equal(nuc > 0, nuclei > 0)),
            }
        )
    return pd.DataFrame(rows).set_index("format")


def load_mask_labels(path: str | os.PathLike) -> np.ndarray:
    """A uint16 label PNG (``instances/``, ``nuclei/``) as an (H, W) uint16 array.

    Raises:
        FileNotFoundError: no such file.
    """
    arr = cv2.imread(str(path), cv2.IMREAD_UNCHANGED)
    if arr is None:
        raise FileNotFoundError(f"cannot read the label image {path}")
    return arr.astype(np.uint16)
