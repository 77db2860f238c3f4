"""Stage 1: train the dual-head segmentation U-Net, evaluate it (its masks: :mod:`cervix.stages.masks`).

Plain functions used by notebooks 02/03 and by ``python -m cervix segment|evaluate``:

- :func:`train_segmentation` — reader -> grouped split -> random patches at native resolution
  (after ``scale``; at random magnifications with ``scale_range``/``cell_views``) ->
  :func:`cervix.training.loop.fit` with Dice + BCE per head; the run stores its training cell size.
- :func:`load_segmentation` — model and run config from ``best.pt`` (``weights_only=True``).
- :func:`predict_probabilities` — tiled, blended inference on records (optional flip TTA).
- :func:`evaluate_segmentation` — Dice / IoU / pixel accuracy per head with bootstrap 95% CIs
  into ``metrics.json``.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
from tqdm.auto import tqdm

from cervix.cells.instances import suppress_weak_nuclei
from cervix.core.config import (
    MIN_NUCLEUS_SCORE,
    Profile,
    SegConfig,
    TrainConfig,
    run_min_nucleus_score,
    stage_config,
    to_dict,
)
from cervix.core.device import autocast_context, device_and_amp
from cervix.core.files import atomic_write_text, ensure_writable
from cervix.core.labels import HEADS
from cervix.data import preflight, write_data_report
from cervix.data.augment import AugmentConfig, ScaleViews, run_augment_config
from cervix.data.datasets import IMAGENET_MEAN, IMAGENET_STD, SegmentationDataset
from cervix.data.formats import read_dataset
from cervix.data.records import Record
from cervix.data.splits import load_split, save_split, split_records
from cervix.inference.sizing import min_nucleus_area, training_cell_size
from cervix.inference.tiling import predict_tiled
from cervix.losses.dice import DualHeadLoss
from cervix.metrics.scores import bootstrap_ci, seg_metrics
from cervix.models.backbone import resolve_pretrained
from cervix.models.networks import DualHeadAttConvNeXtUNet
from cervix.training.checkpoints import load_checkpoint, load_run_model
from cervix.training.distributed import cleanup_distributed, is_main_process
from cervix.training.history import History
from cervix.training.loop import fit
from cervix.training.rundir import TrainResult, prepare_run_dir, resolve_checkpoint, run_split_path, write_metrics
from cervix.training.sampling import make_loader, seed_everything

__all__ = [
    "seg_config",
    "build_seg_model",
    "validate_segmentation",
    "train_segmentation",
    "load_segmentation",
    "inference_kwargs",
    "predict_probabilities",
    "dice_at_thresholds",
    "threshold_table",
    "run_records",
    "evaluate_segmentation",
    "instance_scores",
]

#: Output channels of the segmentation model, in order.
_SEG_KEYS = ("dice", "iou", "pixel_accuracy")


def seg_config(
    profile: str | Profile | SegConfig | None = None, overrides: Mapping[str, Any] | None = None
) -> SegConfig:
    """The profile's :class:`SegConfig` with ``overrides`` applied.

    Args:
        profile: a profile name (``smoke``/``cpu``/``paper``; None = ``$CERVIX_PROFILE`` or
            ``cpu``), a :class:`Profile`, or a :class:`SegConfig` used as is.
        overrides: :class:`SegConfig` fields to change; ``None`` is applied too
            (``{"early_stopping_patience": None}`` switches it off).

    Raises:
        TypeError: an override names no :class:`SegConfig` field, or sets None where none is allowed.
    """
    return stage_config(profile, SegConfig, overrides)


def build_seg_model(cfg: SegConfig) -> DualHeadAttConvNeXtUNet:
    """The dual-head U-Net of a config (``pretrained`` False / True / local file)."""
    return DualHeadAttConvNeXtUNet(
        encoder=cfg.encoder, pretrained=cfg.pretrained, decoder_channels=tuple(cfg.decoder_channels)
    )


@torch.no_grad()
def validate_segmentation(
    model: torch.nn.Module,
    loader: Any,
    loss_fn: DualHeadLoss,
    thresholds: Sequence[float] = (0.5, 0.5),
    amp: str = "none",
) -> dict[str, float]:
    """Validation loss and Dice per head on whole (padded) images; ``val_dice`` is their mean."""
    dev = next(model.parameters()).device
    _, dtype, _ = device_and_amp(amp, dev)
    losses, dices = [], {h: [] for h in HEADS}
    for x, y in loader:
        x, y = x.to(dev), y.to(dev)
        with autocast_context(dev, dtype):
            logits = model(x)
        logits = logits.float()
        losses.append(float(loss_fn(logits, y)[0]))
        m = seg_metrics(torch.sigmoid(logits).cpu().numpy(), y.cpu().numpy() > 0.5, thresholds)
        for h in HEADS:
            dices[h].extend(m["per_image"][f"dice_{h}"].tolist())
    out = {"val_loss": float(np.mean(losses))}
    for h in HEADS:
        out[f"val_dice_{h}"] = float(np.mean(dices[h]))
    out["val_dice"] = float(np.mean([out[f"val_dice_{h}"] for h in HEADS]))
    return out


def _records(data: str | os.PathLike | None, fmt: str, **kw: Any) -> list[Record]:
    if fmt == "synthetic":
        return read_dataset(data, "synthetic", part="fields", **kw)
    return read_dataset(data, fmt, require_masks=True, **kw)


def _prepare_run(
    data: Any,
    fmt: str,
    out: Path,
    cfg: SegConfig,
    split: Any,
    resume: bool,
    overwrite: bool,
    skip_bad: bool,
    progress: bool,
) -> tuple[list[Record], dict[str, list[int]]]:
    """Read and check the data, split it (or reuse a split), prepare the run folder."""
    read = _records(data, fmt)
    records, bad = preflight(read, data, need_masks=True, skip_bad=skip_bad, progress=progress)
    split_path = Path(split) if split else out / "split.json"
    if split_path.is_file() and (split or resume):
        parts = load_split(split_path, records)
    else:
        parts = split_records(records, val=cfg.val_fraction, test=cfg.test_fraction, seed=cfg.seed)
    if not parts["train"]:
        raise ValueError(f"{data}: the split left no training images ({len(records)} records)")
    if is_main_process():
        prepare_run_dir(out, resume=resume, overwrite=overwrite)
        summary = write_data_report(out, len(records), getattr(read, "skipped", []), bad)
        if progress:
            tqdm.write(summary)
        save_split(out / "split.json", parts, records)
    return records, parts


def _run_config(cfg: SegConfig, data: Any, fmt: str, out: Path, aug: AugmentConfig, train: list[Record]) -> dict:
    """``config.json`` of a segmentation run (and the ``config`` of its checkpoints), with the
    training median cell size that inference normalises images to (:mod:`cervix.inference.sizing`)."""
    return {
        "task": "segmentation",
        "heads": list(HEADS),
        "data": str(Path(data).resolve()) if data is not None else None,
        "format": fmt,
        "split_path": str((out / "split.json").resolve()),
        "normalisation": {"mean": list(IMAGENET_MEAN), "std": list(IMAGENET_STD)},
        "in_chans": 3,
        "augment": to_dict(aug),
        "n_train_images": len(train),
        "cell_size": training_cell_size(train, cfg.scale),
        **to_dict(cfg),
        "pretrained": cfg.pretrained if isinstance(cfg.pretrained, bool) else str(cfg.pretrained),
    }


def _run_augment(out: Path) -> AugmentConfig:
    """A resumed run's own augmentation (today's defaults when its config records none)."""
    saved = json.loads((out / "config.json").read_text()).get("augment") if (out / "config.json").is_file() else None
    return run_augment_config(saved) if isinstance(saved, dict) else AugmentConfig()


def _loaders(records: list[Record], parts: dict[str, list[int]], cfg: SegConfig, aug: AugmentConfig) -> tuple[Any, Any]:
    """Training patches (augmented) and whole validation images (the test or a training image if none)."""
    take = lambda key: [records[i] for i in parts[key]]  # noqa: E731
    views = ScaleViews(tuple(cfg.scale_range), cfg.cell_views)
    train_ds = SegmentationDataset(
        take("train"), cfg.image_size, cfg.scale, aug, True, cfg.patches_per_image, views=views
    )
    val_recs = take("val") or take("test") or take("train")[:1]
    val_ds = SegmentationDataset(val_recs, cfg.image_size, scale=cfg.scale, train=False)
    train_loader = make_loader(train_ds, cfg.batch_size, shuffle=True, seed=cfg.seed, num_workers=cfg.num_workers)
    val_loader = make_loader(val_ds, 1, shuffle=False, num_workers=cfg.num_workers)
    return train_loader, val_loader


def train_segmentation(
    data: str | os.PathLike,
    out: str | os.PathLike,
    *,
    fmt: str = "masks",
    profile: str | Profile | SegConfig | None = None,
    overrides: Mapping[str, Any] | None = None,
    resume: bool = False,
    split: str | os.PathLike | None = None,
    augment: AugmentConfig | None = None,
    on_epoch_end: Callable[[History], Any] | None = None,
    progress: bool = True,
    overwrite: bool = False,
    skip_bad: bool = False,
) -> TrainResult:
    """Train :class:`DualHeadAttConvNeXtUNet` on any dataset with cytoplasm and nucleus masks.

    Args:
        data: dataset root (see :func:`cervix.data.formats.read_dataset`).
        out: run folder: ``best.pt``, ``last.pt``, ``config.json``, ``split.json``,
            ``history.csv``, TensorBoard events.
        fmt: reader format (``masks``, ``sipakmed``, ``isbi2014``, ``labelmap``, ``synthetic``).
        profile: ``smoke`` / ``cpu`` / ``paper`` (default ``$CERVIX_PROFILE`` or ``cpu``).
        overrides: :class:`SegConfig` fields to change (``epochs``, ``lr``, ``image_size``, ...).
        resume: continue from ``out/last.pt``.
        overwrite: ``out`` may hold an earlier run: remove the files cervix wrote there first
            (without it, or ``resume``, an existing run is an error: :mod:`cervix.training.rundir`).
        skip_bad: every file is decoded before training (:func:`cervix.data.preflight.preflight`);
            bad files stop the run, or with ``skip_bad`` are left out and listed in
            ``out/skipped.csv`` (with the files the reader passed over).
        split: reuse a ``split.json``; default a new grouped split (or the run's own on resume).
        augment: augmentation strengths (default :class:`AugmentConfig`, on resume the run's own;
            notebook 01 tunes them).
        on_epoch_end: ``callback(history)`` after each epoch (e.g. live curves).
        progress: tqdm progress bars.

    Returns:
        A :class:`cervix.training.rundir.TrainResult` (run folder, ``best.pt``, history, config, split sizes).
    """
    cfg = seg_config(profile, overrides)
    resolve_pretrained(cfg.pretrained, cfg.encoder)  # a missing weights file stops the run before it starts
    out = Path(out)
    records, parts = _prepare_run(data, fmt, out, cfg, split, resume, overwrite, skip_bad, progress)
    aug = augment if augment is not None else _run_augment(out) if resume else AugmentConfig()
    train_loader, val_loader = _loaders(records, parts, cfg, aug)

    seed_everything(cfg.seed)
    model = build_seg_model(cfg)
    loss_fn = DualHeadLoss(dice_weight=cfg.dice_weight, bce_weight=cfg.bce_weight, head_weights=tuple(cfg.head_weights))
    run_config = _run_config(cfg, data, fmt, out, aug, [records[i] for i in parts["train"]])
    tcfg = TrainConfig.from_config(cfg, progress=progress)
    history = fit(
        model,
        train_loader,
        val_loader,
        loss_fn,
        lambda m, loader: validate_segmentation(m, loader, loss_fn, cfg.thresholds, cfg.amp),
        tcfg,
        out,
        config=run_config,
        resume=resume,
        on_epoch_end=on_epoch_end,
    )
    cleanup_distributed()
    return TrainResult.of_run(out, history, cfg, {k: len(v) for k, v in parts.items()}, tcfg.monitor)


def load_segmentation(
    path: str | os.PathLike, device: str | torch.device | None = None
) -> tuple[DualHeadAttConvNeXtUNet, dict[str, Any]]:
    """Model (eval mode) and run config from a segmentation checkpoint or run folder.

    Args:
        path: ``best.pt`` (or another checkpoint) or the run folder.
        device: where to put the model; None = CUDA when available, else the CPU.

    Returns:
        ``(model, config)``; the config gets ``checkpoint`` (the file) and ``epoch`` added.

    Raises:
        FileNotFoundError: no checkpoint there.
        ValueError: the checkpoint is not a segmentation checkpoint.
    """
    return load_run_model(
        path,
        "segmentation",
        lambda c: DualHeadAttConvNeXtUNet(
            encoder=c["encoder"], pretrained=False, decoder_channels=tuple(c["decoder_channels"])
        ),
        device,
    )


def inference_kwargs(cfg: Mapping[str, Any], tile=None, overlap=None, tta=None, amp=None) -> dict[str, Any]:
    """:func:`cervix.inference.tiling.predict_tiled` arguments of a run config (tile, overlap, TTA, amp,
    scale, normalisation); arguments that are not None override the run's values."""
    return dict(
        tile=int(tile or cfg.get("tile", 256)),
        overlap=float(overlap if overlap is not None else cfg.get("overlap", 0.25)),
        tta=bool(cfg.get("tta", False) if tta is None else tta),
        amp=amp or cfg.get("amp", "none"),
        scale=float(cfg.get("scale", 1.0)),
        mean=tuple(cfg.get("normalisation", {}).get("mean", IMAGENET_MEAN)),
        std=tuple(cfg.get("normalisation", {}).get("std", IMAGENET_STD)),
    )


def predict_probabilities(
    model: torch.nn.Module,
    cfg: Mapping[str, Any],
    records: Sequence[Record],
    tta: bool | None = None,
    progress: bool = True,
) -> list[dict[str, np.ndarray]]:
    """Tiled probabilities for records: a list of ``{"probs": (2, H, W) float32, "target": (2, H, W) bool | None,
    "path", "truth" (per-cell truth or None), "image" (H, W, 3) uint8, "min_nucleus_score" (the run's)}``."""
    kw, score = inference_kwargs(cfg, tta=tta), run_min_nucleus_score(cfg)
    out = []
    for rec in tqdm(records, desc="predict", disable=not progress):
        s = rec.load()
        probs = predict_tiled(model, s.image, **kw)
        target = None
        if s.cytoplasm is not None and s.nucleus is not None:
            target = np.stack([s.cytoplasm > 127, s.nucleus > 127])
        truth = _instance_truth(s)
        out.append(
            {
                "probs": probs,
                "target": target,
                "path": rec.path,
                "truth": truth,
                "image": s.image,
                "min_nucleus_score": score,
            }
        )
    return out


def _instance_truth(s: Any) -> dict[str, np.ndarray] | None:
    """Per-cell truth of a sample, when it has any: ``cells`` ((N, H, W) bool, may overlap, or an
    (H, W) label map) and ``nuclei`` ((H, W) label map: the cells' ids on the nucleus mask, else
    the nucleus mask's connected components)."""
    from scipy import ndimage as ndi

    cells = getattr(s, "cells", None)
    labels = getattr(s, "instances", None)
    if cells is None and labels is None:
        return None
    nuc = (s.nucleus > 127) if s.nucleus is not None else np.zeros(s.image.shape[:2], bool)
    nuclei = np.where(nuc, labels, 0) if labels is not None else ndi.label(nuc, structure=np.ones((3, 3)))[0]
    return {"cells": cells if cells is not None else labels, "nuclei": nuclei}


def instance_scores(
    predictions: Sequence[Mapping[str, Any]],
    thresholds: Sequence[float] = (0.5, 0.5),
    n_boot: int = 1000,
    seed: int = 0,
    cell_head: tuple[torch.nn.Module, Mapping[str, Any]] | None = None,
    cell_size: Mapping[str, Any] | None = None,
    scale: float = 1.0,
    min_nucleus_score: float = MIN_NUCLEUS_SCORE,
) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """Cell and nucleus instance metrics of stored predictions against their per-cell truth.

    Each prediction's probabilities are separated into cells (:func:`cervix.cells.instances.separate`
    at ``thresholds``) and scored against the truth (:func:`cervix.metrics.instances.instance_metrics`,
    keys prefixed ``cell_`` and ``nucleus_``); images without per-cell truth are left out. With a
    ``cell_head`` (model and run config of ``RUN/cells/``) the ``cell_`` scores are those of its
    whole, overlapping cells (:func:`cervix.inference.wholecells.predict_whole_cells`) and the
    partition's are kept beside them as ``partition_cell_``. With the run's ``cell_size`` (and its
    ``scale``), nuclei smaller than :func:`cervix.inference.sizing.min_nucleus_area` are dropped,
    as ``analyze`` drops them; the summary's ``min_nucleus_area`` says how small. Nuclei whose mean
    probability is below ``min_nucleus_score`` (the run's) are dropped too
    (:func:`cervix.cells.instances.suppress_weak_nuclei`).

    Returns:
        ``(summary with bootstrap 95% CIs over images, per-image rows)``.

    Raises:
        ValueError: no prediction has per-cell truth.
    """
    from cervix.cells.instances import InstanceConfig, separate
    from cervix.cells.whole import to_stack
    from cervix.inference.wholecells import predict_whole_cells
    from cervix.metrics.instances import aggregate_instance_metrics, instance_metrics

    floor = min_nucleus_area(cell_size, scale)
    cfg = InstanceConfig(
        cell_threshold=thresholds[0],
        nucleus_threshold=thresholds[1],
        min_nucleus_area=floor,
        min_nucleus_score=min_nucleus_score,
    )
    rows = []
    for p in predictions:
        if p.get("truth") is None:
            continue
        inst = separate(p["probs"][:2], cfg)
        row = {"path": p["path"]}
        if cell_head is not None:
            whole = predict_whole_cells(*cell_head, p["image"], p["probs"][0], inst)
            row.update(instance_metrics(p["truth"]["cells"], to_stack(whole, inst.cells.shape), prefix="cell_"))
        key = "partition_cell_" if cell_head is not None else "cell_"
        row.update(instance_metrics(p["truth"]["cells"], inst.cells, prefix=key))
        row.update(instance_metrics(p["truth"]["nuclei"], inst.nuclei, prefix="nucleus_"))
        rows.append(row)
    if not rows:
        raise ValueError(
            "no image with per-cell truth (ISBI 2014 .mat per-cell masks, masks/instances/<id>.png, "
            "SIPaKMeD contours, QuPath GeoJSON or COCO cells): instance metrics need it"
        )
    summary = aggregate_instance_metrics(
        [{k: v for k, v in r.items() if k != "path"} for r in rows], n_boot=n_boot, seed=seed
    )
    summary["cell_masks"] = "whole cells of the cell head" if cell_head is not None else "partition"
    summary["min_nucleus_area"] = floor
    return summary, rows


def dice_at_thresholds(
    predictions: Sequence[Mapping[str, Any]], thresholds: Sequence[float], min_nucleus_score: float | None = None
) -> dict[str, float]:
    """Mean Dice per head of stored predictions at the given (cytoplasm, nucleus) thresholds, of the
    masks ``masks`` writes: nuclei scoring below ``min_nucleus_score`` left out (None: each
    prediction's run's score, :func:`predict_probabilities`)."""
    dice = {h: [] for h in HEADS}
    for p in predictions:
        score = p.get("min_nucleus_score", MIN_NUCLEUS_SCORE) if min_nucleus_score is None else min_nucleus_score
        probs = suppress_weak_nuclei(p["probs"], thresholds[1], score)
        m = seg_metrics(probs[None], p["target"][None], tuple(thresholds))
        for h in HEADS:
            dice[h].append(m[f"dice_{h}"])
    return {f"dice_{h}": float(np.mean(dice[h])) for h in HEADS}


def threshold_table(predictions: Sequence[Mapping[str, Any]], thresholds: Sequence[float] = (0.3, 0.4, 0.5, 0.6, 0.7)):
    """Mean Dice per head for each threshold (same threshold on both heads) as a DataFrame."""
    import pandas as pd

    rows = [{"threshold": t, **dice_at_thresholds(predictions, (t, t))} for t in thresholds]
    return pd.DataFrame(rows).set_index("threshold")


def run_records(run: str | os.PathLike, part: str = "val") -> list[Record]:
    """Records of one part (``train``/``val``/``test``) of a segmentation run's saved split."""
    ck_path = resolve_checkpoint(run)
    cfg = load_checkpoint(ck_path).get("config", {})
    records = _records(cfg["data"], cfg.get("format", "masks"))
    return [records[i] for i in load_split(run_split_path(ck_path, cfg), records)[part]]


def evaluate_segmentation(
    checkpoint: str | os.PathLike,
    data: str | os.PathLike | None = None,
    fmt: str | None = None,
    split: str = "test",
    out: str | os.PathLike | None = None,
    n_boot: int = 1000,
    tta: bool | None = None,
    seed: int = 0,
    progress: bool = True,
    instances: bool = False,
    cell_head: tuple[torch.nn.Module, Mapping[str, Any]] | None = None,
) -> dict[str, Any]:
    """Dice, IoU and pixel accuracy per head, with bootstrap 95% CIs over images -> ``metrics.json``.

    Inference is the real pipeline (tiled, blended, the run's scale and thresholds). ``split="test"``
    evaluates the run's test split (``split.json``); ``"all"`` every image of ``data``.
    Per-image scores go to ``per_image.csv``. ``tta`` None uses the run's setting; ``seed`` seeds
    the bootstrap (as in :func:`cervix.stages.evaluation.evaluate_checkpoint`). ``instances=True`` adds
    the cell and nucleus instance metrics (:func:`instance_scores`) under ``instances`` and their
    per-image values in ``instances_per_image.csv``; with a ``cell_head``
    (:func:`cervix.stages.cellhead.load_cell_head`) the cells scored are its whole, overlapping cells.
    """
    import pandas as pd

    from cervix.data.preflight import skipped_info

    model, cfg = load_segmentation(checkpoint)
    out_dir = ensure_writable(Path(out) if out is not None else Path(cfg["checkpoint"]).parent)  # before inference
    data = data if data is not None else cfg.get("data")
    fmt = fmt or cfg.get("format", "masks")
    records = _records(data, fmt)
    if split == "all":
        chosen = list(records)
    elif split in ("test", "val", "train"):
        own = cfg.get("data") is not None and Path(data).resolve() == Path(cfg["data"]).resolve()
        if not own:
            raise ValueError(
                f"--split {split} needs the run's own data ({cfg.get('data')}); use --split all for other data"
            )
        parts = load_split(run_split_path(cfg["checkpoint"], cfg), records)
        chosen = [records[i] for i in parts[split]]
    else:
        raise ValueError(f"split must be test, val, train or all, got {split!r}")
    if not chosen:
        raise ValueError(f"no images in split {split!r} of {data}")
    preds = predict_probabilities(model, cfg, chosen, tta=tta, progress=progress)
    thr, score = tuple(cfg.get("thresholds", (0.5, 0.5))), run_min_nucleus_score(cfg)
    per: dict[str, list[float]] = {}
    for p in preds:  # the masks `masks` writes: weak nuclei left out
        m = seg_metrics(suppress_weak_nuclei(p["probs"], thr[1], score)[None], p["target"][None], thr)
        for k, v in m["per_image"].items():
            per.setdefault(k, []).append(float(v[0]))
    metrics: dict[str, Any] = {k: float(np.mean(v)) for k, v in per.items()}
    metrics["n_images"] = len(preds)
    metrics["ci95"] = {k: list(bootstrap_ci(np.mean, np.asarray(v), n_boot=n_boot, seed=seed)) for k, v in per.items()}
    metrics.update(
        task="segmentation",
        split=split,
        thresholds=list(thr),
        min_nucleus_score=score,
        checkpoint=cfg["checkpoint"],
        **skipped_info(getattr(records, "skipped", [])),
    )
    if instances:
        size, scale = cfg.get("cell_size"), float(cfg.get("scale", 1.0))
        metrics["instances"], inst_rows = instance_scores(
            preds, thr, n_boot, seed, cell_head=cell_head, cell_size=size, scale=scale, min_nucleus_score=score
        )
        atomic_write_text(out_dir / "instances_per_image.csv", pd.DataFrame(inst_rows).to_csv(index=False))
    write_metrics(out_dir, metrics)
    atomic_write_text(
        out_dir / "per_image.csv", pd.DataFrame({"path": [p["path"] for p in preds], **per}).to_csv(index=False)
    )
    return metrics
