"""Stage 2: train the 5-channel cell classifier and predict cell crops.

Plain functions used by notebooks 04/05 and by ``python -m cervix classify|predict``:

- :func:`read_cls_records` — labelled crops (+ their cytoplasm/nucleus masks) from any reader,
  with the SIPaKMeD 2-/3-class groupings.
- :func:`train_classifier` — grouped stratified train/val/test split (or grouped stratified
  k-fold cross-validation, one model per fold in ``out/fold_k/`` and the out-of-fold
  predictions in ``out/oof_predictions.csv``) -> :func:`cervix.training.loop.fit` with a
  class-weighted cross-entropy (or class-balanced sampling).
- :func:`load_classifier` / :func:`predict_logits` — model and run config from ``best.pt``
  (``weights_only=True``), logits of a loader (optional flip TTA).

The model is :class:`cervix.models.networks.ConvNeXtAttentionClassifier` (ConvNeXt, Liu et al., CVPR
2022; SE block, Hu et al., CVPR 2018) on RGB + cytoplasm mask + nucleus mask (``in_chans=5``)
or RGB only (``in_chans=3``, the ablation). Class weighting uses inverse class frequency,
``w_c = N / (K * n_c)`` (King & Zeng 2001; scikit-learn's "balanced" weights).

Checkpoint config (a plain dict, stored in every checkpoint and in ``config.json``):
``task="classification"``, ``class_names`` (in index order), ``in_chans``, ``normalisation``
(``mean``/``std`` of the RGB channels; mask channels are {0, 1}), ``image_size``, ``encoder``,
``model`` (constructor arguments), ``grouping``, ``data``, ``masks``, ``format``, ``split_path``,
``fold`` (k-fold runs), ``augment`` and every :class:`cervix.core.config.ClsConfig` field.
"""

from __future__ import annotations

import dataclasses
import json
import os
import warnings
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from tqdm.auto import tqdm

from cervix.core.config import ClsConfig, Profile, TrainConfig, stage_config, to_dict
from cervix.core.files import atomic_write_text
from cervix.core.labels import grouping_or_none
from cervix.data import preflight, write_data_report
from cervix.data.augment import SEGMENTATION_ONLY, AugmentConfig
from cervix.data.datasets import IMAGENET_MEAN, IMAGENET_STD, ClassificationDataset
from cervix.data.formats import read_dataset
from cervix.data.records import Record, RecordList, class_names_of
from cervix.data.splits import kfold_records, load_split, save_split, split_records
from cervix.inference.classify import predict_logits, predictions_frame
from cervix.models.backbone import resolve_pretrained
from cervix.models.networks import ClsModelConfig, ConvNeXtAttentionClassifier
from cervix.training.checkpoints import load_run_model
from cervix.training.distributed import cleanup_distributed, is_main_process
from cervix.training.history import History
from cervix.training.loop import fit
from cervix.training.rundir import TrainResult, prepare_run_dir
from cervix.training.sampling import make_loader, seed_everything

__all__ = [
    "cls_config",
    "read_cls_records",
    "class_weights",
    "build_classifier",
    "train_classifier",
    "load_classifier",
    "validate_classifier",
]

_MODEL_KEYS = ("se_reduction", "hidden_dim", "attn_heads", "mlp_dim", "dropout1", "dropout2")


# --------------------------------------------------------------------------------------------
# Configuration and data
# --------------------------------------------------------------------------------------------
def cls_config(
    profile: str | Profile | ClsConfig | None = None, overrides: Mapping[str, Any] | None = None
) -> ClsConfig:
    """The profile's :class:`ClsConfig` with ``overrides`` applied.

    Args:
        profile: a profile name (``smoke``/``cpu``/``paper``; None = ``$CERVIX_PROFILE`` or
            ``cpu``), a :class:`Profile`, or a :class:`ClsConfig` used as is.
        overrides: :class:`ClsConfig` fields to change (``epochs``, ``in_chans``, ``folds``, ...);
            ``None`` is applied too (``{"early_stopping_patience": None}`` switches it off).

    Raises:
        TypeError: an override names no :class:`ClsConfig` field, or sets None where none is allowed.
    """
    ov = dict(overrides or {})
    if ov.get("grouping") is not None:
        ov["grouping"] = str(ov["grouping"])
    cfg = stage_config(profile, ClsConfig, ov)
    if cfg.in_chans not in (3, 5):
        raise ValueError(f"in_chans must be 3 (RGB) or 5 (RGB + masks), got {cfg.in_chans}")
    if cfg.folds < 1:
        raise ValueError(f"folds must be >= 1, got {cfg.folds}")
    return cfg


def read_cls_records(
    data: str | os.PathLike | None,
    fmt: str = "classes",
    masks: str | os.PathLike | None = None,
    grouping: str | None = None,
) -> RecordList:
    """Labelled cell crops of a dataset, with masks where the format or ``masks`` gives them.

    Args:
        data: dataset root; for ``synthetic`` the generated folder (None = the default cache).
        fmt: ``classes`` (ImageFolder; masks from ``masks``), ``synthetic`` (its crops with their
            true masks, or the masks under ``masks`` when given), ``sipakmed`` (the ``CROPPED``
            cell crops), ``labelmap``.
        masks: masks root ``<masks>/{cytoplasm,nucleus}/<class>/<id>.png`` (e.g. written by
            ``cervix masks`` / :func:`cervix.stages.masks.generate_masks`).
        grouping: ``None``/``"5"`` the data's classes, ``"3"`` normal/benign/abnormal, ``"2"``
            normal/abnormal.

    Raises:
        ValueError: unlabelled records, or an unknown format.
    """
    grouping = grouping_or_none(grouping)
    if fmt == "synthetic":
        recs = read_dataset(data, "synthetic", part="crops", grouping=grouping)
        if masks is not None:
            recs = read_dataset(recs.root, "classes", masks_root=masks, grouping=grouping)
    elif fmt == "sipakmed":
        recs = read_dataset(data, "sipakmed", masks_root=masks, grouping=grouping, crops=True)
    elif fmt in ("classes", "labelmap"):
        recs = read_dataset(data, fmt, masks_root=masks, grouping=grouping)
    else:
        raise ValueError(f"format {fmt!r} has no class labels; use classes, synthetic, sipakmed or labelmap")
    unlabelled = [r.path for r in recs if r.label is None]
    if unlabelled:
        raise ValueError(f"{len(unlabelled)} record(s) without a class label, e.g. {unlabelled[0]}")
    return recs


def class_weights(targets: Sequence[int], num_classes: int) -> torch.Tensor:
    """Inverse-frequency weights ``N / (K * n_c)``; 0 for a class absent from ``targets``."""
    counts = np.bincount(np.asarray(targets, dtype=np.int64), minlength=num_classes).astype(np.float64)
    w = np.where(counts > 0, counts.sum() / (num_classes * np.maximum(counts, 1)), 0.0)
    return torch.tensor(w, dtype=torch.float32)


def build_classifier(config: Mapping[str, Any], pretrained: bool | str = False) -> ConvNeXtAttentionClassifier:
    """The classifier described by a run config (``model`` constructor arguments)."""
    kw = dict(config["model"])
    kw["pretrained"] = pretrained
    return ConvNeXtAttentionClassifier(**kw)


def validate_classifier(model: torch.nn.Module, loader: Any, amp: str = "none") -> dict[str, float]:
    """Validation metrics for :func:`cervix.training.loop.fit`: ``val_loss`` (unweighted cross-entropy),
    ``val_accuracy`` and ``val_f1_macro`` (macro over the classes present in truth or prediction)."""
    from sklearn.metrics import f1_score

    logits, y = predict_logits(model, loader, amp=amp)
    pred = logits.argmax(1)
    return {
        "val_loss": float(F.cross_entropy(torch.from_numpy(logits), torch.from_numpy(y))),
        "val_accuracy": float(np.mean(pred == y)),
        "val_f1_macro": float(f1_score(y, pred, average="macro", zero_division=0)),
    }


# --------------------------------------------------------------------------------------------
# Training
# --------------------------------------------------------------------------------------------
def _run_config(
    cfg: ClsConfig,
    class_names: list[str],
    data: Any,
    masks: Any,
    fmt: str,
    split_path: Path,
    aug: AugmentConfig,
    fold: int | None,
) -> dict[str, Any]:
    defaults = ClsModelConfig()
    model = {
        "encoder": cfg.encoder,
        "num_classes": len(class_names),
        "in_chans": cfg.in_chans,
        **{k: getattr(defaults, k) for k in _MODEL_KEYS},
    }
    return {
        "task": "classification",
        **to_dict(cfg),
        "pretrained": cfg.pretrained if isinstance(cfg.pretrained, bool) else str(cfg.pretrained),
        "class_names": [str(c) for c in class_names],
        "num_classes": len(class_names),
        "normalisation": {"mean": list(IMAGENET_MEAN), "std": list(IMAGENET_STD), "masks": "{0, 1}"},
        "model": model,
        "data": str(Path(data).resolve()) if data is not None else None,
        "masks": str(Path(masks).resolve()) if masks is not None else None,
        "format": fmt,
        "split_path": str(split_path.resolve()),
        "fold": fold,
        "augment": to_dict(aug),
    }


def _train_loader_and_loss(
    train_recs: list[Record], class_names: list[str], cfg: ClsConfig, aug: AugmentConfig
) -> tuple[Any, Callable[[torch.Tensor, torch.Tensor], torch.Tensor]]:
    """The training loader (balanced sampling when set) and the cross-entropy (class weights when set)."""
    train_ds = ClassificationDataset(
        train_recs,
        class_names,
        cfg.image_size,
        cfg.in_chans,
        aug,
        train=True,
        mask_dropout=cfg.mask_dropout,
        mask_jitter=cfg.mask_jitter,
    )
    targets = train_ds.targets
    weights = None
    if cfg.balanced_sampling:
        counts = np.bincount(targets, minlength=len(class_names))
        weights = [1.0 / counts[t] for t in targets]
    train_loader = make_loader(
        train_ds, cfg.batch_size, shuffle=True, seed=cfg.seed, sampler_weights=weights, num_workers=cfg.num_workers
    )
    # class weights and balanced sampling both correct the imbalance: never apply both
    cw = class_weights(targets, len(class_names)) if cfg.class_weights and not cfg.balanced_sampling else None
    smoothing = float(cfg.label_smoothing)

    def loss_fn(logits: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        w = cw.to(logits.device) if cw is not None else None
        return F.cross_entropy(logits, y, weight=w, label_smoothing=smoothing)

    return train_loader, loss_fn


def _train_one(
    records: Sequence[Record],
    parts: Mapping[str, list[int]],
    class_names: list[str],
    cfg: ClsConfig,
    out: Path,
    run_config: dict[str, Any],
    aug: AugmentConfig,
    resume: bool,
    on_epoch_end: Callable[[History], Any] | None,
    progress: bool,
) -> dict[str, Any]:
    """Train one model on ``parts["train"]``, select on ``parts["val"]``; return its summary."""
    take = lambda key: [records[i] for i in parts.get(key, [])]  # noqa: E731
    train_recs, val_recs = take("train"), take("val")
    if len(train_recs) < 2:
        raise ValueError(f"{out}: the split left {len(train_recs)} training crop(s); need at least 2")
    train_loader, loss_fn = _train_loader_and_loss(train_recs, class_names, cfg, aug)
    tcfg_kw: dict[str, Any] = {"progress": progress}
    val_loader, evaluate_fn = None, None
    if val_recs:
        val_ds = ClassificationDataset(val_recs, class_names, cfg.image_size, cfg.in_chans, None, train=False)
        val_loader = make_loader(val_ds, cfg.batch_size, shuffle=False, num_workers=cfg.num_workers)
        evaluate_fn = lambda m, loader: validate_classifier(m, loader, cfg.amp)  # noqa: E731
    else:
        warnings.warn(
            f"{out}: no validation crops; best.pt is selected on train_loss and the temperature of evaluate is 1",
            stacklevel=3,
        )
        tcfg_kw.update(monitor="train_loss", mode="min")
    seed_everything(cfg.seed)
    model = build_classifier(run_config, pretrained=cfg.pretrained)
    tcfg = TrainConfig.from_config(cfg, **tcfg_kw)
    history = fit(
        model,
        train_loader,
        val_loader,
        loss_fn,
        evaluate_fn,
        tcfg,
        out,
        config=run_config,
        resume=resume,
        on_epoch_end=on_epoch_end,
    )
    return {
        "run": str(out),
        "best": str(out / "best.pt"),
        "history": history,
        "split": {k: len(v) for k, v in parts.items()},
        "monitor": tcfg.monitor,
        "best_metric": history.best_metric,
        "best_epoch": history.best_epoch,
        "epochs_run": len(history),
        "stop_reason": history.stop_reason,
    }


def _fold_parts(parts: Mapping[str, list[int]]) -> list[dict[str, list[int]]] | None:
    """``fold_<k>_<part>`` keys of a k-fold split.json -> one train/val/test dict per fold."""
    ks = sorted({int(key.split("_")[1]) for key in parts if key.startswith("fold_")})
    if not ks:
        return None
    return [{p: list(parts.get(f"fold_{k}_{p}", [])) for p in ("train", "val", "test")} for k in ks]


def train_classifier(
    data: str | os.PathLike | None,
    out: str | os.PathLike,
    *,
    masks: str | os.PathLike | None = None,
    fmt: str = "classes",
    profile: str | Profile | ClsConfig | None = None,
    overrides: Mapping[str, Any] | None = None,
    resume: bool = False,
    split: str | os.PathLike | None = None,
    augment: AugmentConfig | bool | None = None,
    on_epoch_end: Callable[[History], Any] | None = None,
    progress: bool = True,
    overwrite: bool = False,
    skip_bad: bool = False,
) -> TrainResult:
    """Train :class:`ConvNeXtAttentionClassifier` on labelled cell crops (+ masks).

    A single run (``folds == 1``) writes ``out/{best.pt, last.pt, config.json, split.json,
    history.csv}`` and TensorBoard events. A k-fold run (``folds = k > 1``; grouped, stratified:
    each fold's test part is one fold, its validation part is carved from the rest) writes one
    such run per fold in ``out/fold_<k>/`` (each with its own train/val/test ``split.json``),
    ``out/split.json`` with parts ``fold_<k>_{train,val,test}``, and ``out/oof_predictions.csv``:
    every crop exactly once, predicted by the model of the fold that held it out.

    Args:
        data: dataset root (see :func:`read_cls_records`).
        out: run folder.
        masks: masks root (needed for ``in_chans=5`` with ``classes`` data).
        fmt: reader format: ``classes``, ``synthetic``, ``sipakmed``, ``labelmap``.
        profile: profile name, :class:`Profile` or :class:`ClsConfig` (default ``$CERVIX_PROFILE``
            or ``cpu``).
        overrides: :class:`ClsConfig` fields (``epochs``, ``in_chans``, ``grouping``, ``folds``, ...).
        resume: continue from ``last.pt`` (per fold), on the run's own split.
        split: reuse a ``split.json`` (train/val/test, or a k-fold run's ``fold_<k>_*`` parts),
            matched by image path, so an ablation on other masks uses the very same crops.
        augment: training augmentation: None/True = :class:`AugmentConfig` defaults, False = none.
        on_epoch_end: ``callback(history)`` after each epoch (e.g. ``live_plot_callback()``).
        progress: tqdm progress bars.
        overwrite: ``out`` may hold an earlier run: remove the files cervix wrote there first
            (without it, or ``resume``, an existing run is an error: :mod:`cervix.training.rundir`).
        skip_bad: every file is decoded before training (:func:`cervix.data.preflight.preflight`);
            bad files stop the run, or with ``skip_bad`` are left out and listed in
            ``out/skipped.csv`` (with the files the reader passed over).

    Returns:
        A :class:`cervix.training.rundir.TrainResult` with ``class_names``; for k-fold runs ``best`` and
        ``history`` are lists over folds, and ``k``, ``folds`` (per-fold summaries),
        ``oof_predictions``, ``oof_accuracy``, ``oof_f1_macro`` are filled.

    Raises:
        ValueError: bad data (no labels, missing masks for ``in_chans=5``, too few groups for k
            folds) or a split file that does not fit the run (k-fold vs single).
    """
    cfg = cls_config(profile, overrides)
    resolve_pretrained(cfg.pretrained, cfg.encoder)  # a missing weights file stops the run before it starts
    out = Path(out)
    records, class_names, saved, split_path = _prepare_run(
        data, masks, fmt, out, cfg, split, resume, overwrite, skip_bad, progress
    )
    aug = _augment_config(augment)
    if resume:
        aug = _with_run_segmentation_fields(aug, out)
    run = _Run(records, class_names, cfg, data, masks, fmt, aug, resume, on_epoch_end, progress)
    if cfg.folds == 1:
        result = _train_single(run, out, saved, split_path)
    else:
        result = _train_kfold(run, out, saved, split_path)
    cleanup_distributed()
    return result


@dataclasses.dataclass
class _Run:
    """What every model of one classifier run shares (a single run, or each fold of k-fold)."""

    records: RecordList  # the checked crops
    class_names: list[str]  # classes in index order
    cfg: ClsConfig  # the stage config
    data: Any  # dataset root, as given
    masks: Any  # masks root, as given
    fmt: str  # reader format
    aug: AugmentConfig  # training augmentation
    resume: bool  # continue from last.pt
    on_epoch_end: Callable[[History], Any] | None  # callback after each epoch
    progress: bool  # progress bars

    def train(self, parts: Mapping[str, list[int]], out: Path, fold: int | None) -> dict[str, Any]:
        """Train one model on ``parts`` into ``out``; its summary (see :func:`_train_one`)."""
        run_config = _run_config(
            self.cfg, self.class_names, self.data, self.masks, self.fmt, out / "split.json", self.aug, fold
        )
        return _train_one(
            self.records,
            parts,
            self.class_names,
            self.cfg,
            out,
            run_config,
            self.aug,
            self.resume,
            self.on_epoch_end,
            self.progress,
        )


def _with_run_segmentation_fields(aug: AugmentConfig, out: Path) -> AugmentConfig:
    """``aug`` with the segmentation-only fields (``grey``, ``fade``) a resumed run recorded: the
    classifier never uses them, so a default changed since the run started must not refuse its
    resume."""
    for path in (out / "config.json", *sorted(out.glob("fold_*/config.json"))):
        if path.is_file():
            rec = json.loads(path.read_text()).get("augment")
            if isinstance(rec, dict):
                return dataclasses.replace(aug, **{k: rec[k] for k in SEGMENTATION_ONLY if k in rec})
    return aug


def _augment_config(augment: AugmentConfig | bool | None) -> AugmentConfig:
    """None/True: the default augmentation; False: none; an :class:`AugmentConfig` as is."""
    if augment is None or augment is True:
        return AugmentConfig()
    if augment is False:
        return AugmentConfig(rotate=0.0, scale=0.0, flip=False, stain=0.0, blur=0.0)
    return augment


def _prepare_run(
    data: Any,
    masks: Any,
    fmt: str,
    out: Path,
    cfg: ClsConfig,
    split: Any,
    resume: bool,
    overwrite: bool,
    skip_bad: bool,
    progress: bool,
) -> tuple[RecordList, list[str], dict[str, list[int]] | None, Path]:
    """Read and check the crops, load a split to reuse, prepare the run folder."""
    grouping = grouping_or_none(cfg.grouping)
    read = read_cls_records(data, fmt, masks, grouping)
    good, bad = preflight(read, data, need_masks=cfg.in_chans == 5, skip_bad=skip_bad, progress=progress)
    records = RecordList(good, read.skipped, read.root, read.fmt, read.grouping)
    class_names = [str(c) for c in class_names_of(records, grouping)]
    if len(class_names) < 2:
        raise ValueError(f"{data}: need at least 2 classes, found {class_names}")
    split_path = Path(split) if split else out / "split.json"
    saved = load_split(split_path, records) if split_path.is_file() and (split or resume) else None
    if is_main_process():
        prepare_run_dir(out, resume=resume, overwrite=overwrite)
        summary = write_data_report(out, len(records), getattr(read, "skipped", []), bad)
        if progress:
            tqdm.write(summary)
    return records, class_names, saved, split_path


def _train_single(run: _Run, out: Path, saved: dict[str, list[int]] | None, split_path: Path) -> TrainResult:
    """One grouped train/val/test split, one model."""
    cfg = run.cfg
    if saved is not None and _fold_parts(saved) is not None:
        raise ValueError(f"{split_path}: a k-fold split; pass folds={len(_fold_parts(saved))} to reuse it")
    parts = (
        saved
        if saved is not None
        else split_records(run.records, val=cfg.val_fraction, test=cfg.test_fraction, seed=cfg.seed)
    )
    parts = {k: parts.get(k, []) for k in ("train", "val", "test")}
    if is_main_process():
        save_split(out / "split.json", parts, run.records)
    res = run.train(parts, out, None)
    return TrainResult(
        run=res["run"],
        best=res["best"],
        history=res["history"],
        config=cfg,
        split=res["split"],
        monitor=res["monitor"],
        best_metric=res["best_metric"],
        best_epoch=res["best_epoch"],
        epochs_run=res["epochs_run"],
        stop_reason=res["stop_reason"],
        class_names=run.class_names,
    )


def _train_kfold(run: _Run, out: Path, saved: dict[str, list[int]] | None, split_path: Path) -> TrainResult:
    """Grouped stratified k-fold cross-validation: one model per fold, out-of-fold predictions."""
    cfg, records = run.cfg, run.records
    if saved is not None:
        folds = _fold_parts(saved)
        if folds is None:
            raise ValueError(
                f"{split_path}: a train/val/test split cannot define {cfg.folds} folds; "
                "pass a k-fold run's split.json or no split"
            )
        if len(folds) != cfg.folds:
            raise ValueError(f"{split_path} holds {len(folds)} folds, not folds={cfg.folds}")
    else:
        folds = kfold_records(records, k=cfg.folds, seed=cfg.seed, val=cfg.val_fraction)
    if is_main_process():
        save_split(
            out / "split.json", {f"fold_{k}_{p}": ids for k, f in enumerate(folds) for p, ids in f.items()}, records
        )
    summaries, frames = [], []
    for k, parts in enumerate(folds):
        fold_out = out / f"fold_{k}"
        if is_main_process():
            fold_out.mkdir(parents=True, exist_ok=True)
            save_split(fold_out / "split.json", parts, records)
        summaries.append(run.train(parts, fold_out, k))
        if is_main_process():
            frames.append(_fold_predictions(fold_out, [records[i] for i in parts["test"]], run.class_names, cfg, k))
    result = TrainResult(
        run=str(out),
        best=[s["best"] for s in summaries],
        history=[s["history"] for s in summaries],
        config=cfg,
        class_names=run.class_names,
        k=cfg.folds,
        split={f"fold_{k}": s["split"] for k, s in enumerate(summaries)},
        monitor=summaries[0]["monitor"],
        best_metric=float(np.mean([s["best_metric"] for s in summaries])),
        folds=[{key: v for key, v in s.items() if key != "history"} for s in summaries],
    )
    if frames:
        _write_oof(out, frames, result)
    return result


def _fold_predictions(fold_out: Path, test: list[Record], class_names: list[str], cfg: ClsConfig, k: int):
    """Predictions of a fold's best model on the fold's held-out crops."""
    model, _ = load_classifier(fold_out / "best.pt")
    ds = ClassificationDataset(test, class_names, cfg.image_size, cfg.in_chans, None, train=False)
    logits, _ = predict_logits(model, make_loader(ds, cfg.batch_size, shuffle=False), amp=cfg.amp)
    return predictions_frame(test, logits, class_names, extra={"fold": [k] * len(test)})


def _write_oof(out: Path, frames: list, result: TrainResult) -> None:
    """``oof_predictions.csv`` (every crop once) and ``kfold.json``; fills the ``oof_*`` fields."""
    import pandas as pd
    from sklearn.metrics import f1_score

    oof = pd.concat(frames, ignore_index=True)
    oof.to_csv(out / "oof_predictions.csv", index=False)
    result.oof_predictions = str(out / "oof_predictions.csv")
    result.oof_accuracy = float(oof["correct"].mean())
    result.oof_f1_macro = float(f1_score(oof["true"], oof["pred"], average="macro", zero_division=0))
    summary = {
        f.name: getattr(result, f.name)
        for f in dataclasses.fields(result)
        if f.name not in ("history", "config") and getattr(result, f.name) is not None
    }
    atomic_write_text(out / "kfold.json", json.dumps(to_dict(summary), indent=2))


def load_classifier(
    path: str | os.PathLike, device: str | torch.device | None = None
) -> tuple[ConvNeXtAttentionClassifier, dict[str, Any]]:
    """Model (eval mode) and run config from a classification checkpoint or run folder.

    Args:
        path: ``best.pt`` (or another checkpoint) or the run folder.
        device: where to put the model; None = CUDA when available, else the CPU.

    Returns:
        ``(model, config)``; the config gets ``checkpoint`` (the file) and ``epoch`` added.

    Raises:
        FileNotFoundError: no checkpoint there (a k-fold run folder names its folds).
        ValueError: not a classification checkpoint.
    """
    return load_run_model(path, "classification", lambda c: build_classifier(c, pretrained=False), device)
