"""Real-data development benchmark: cervix against plain peers on real ISBI 2014 and Herlev cells.

Every system is trained from scratch (no ImageNet weights: none can be downloaded offline) on
this machine, with the same wall-clock budget per arm, through cervix's own training loop
(:func:`cervix.training.loop.fit`: the same AdamW + warm-up/cosine schedule, augmentation, loss and
bf16 autocast for every arm), so the arms differ only in the model (and, for cervix, the mask
channels):

- ``seg`` (ISBI 2014 images 1-21 train, 22-24 validation, 25-30 test; union masks of the
  per-cell truth; 15 minutes): ``cervix`` = :class:`cervix.models.networks.DualHeadAttConvNeXtUNet`
  (convnext_atto), ``smp`` = ``segmentation_models_pytorch.Unet("tu-convnext_atto",
  decoder_attention_type="scse", classes=2)``. Dice per head on the test images.
- ``synth`` (the notebooks' default path, no wall-clock budget: the ``cpu`` profile's own
  epochs): a segmentation model trained only on the built-in synthetic fields, measured on the
  30 real ISBI images, on the 15 real SIPaKMeD crops with label maps (single-cell masks, as
  ``masks --single-cell`` writes them) and by the QC flag rates of its masks of the Herlev crops.
  Those masks are the mask channels of the ``cls`` arms.
- ``cls`` (Herlev 733 cells, stratified 80/20 with seed 0; 15% of the training part for
  validation; 128 px; 10 minutes; ``--task 2`` normal/abnormal or ``7`` classes): ``cervix`` =
  :class:`cervix.models.networks.ConvNeXtAttentionClassifier` on RGB + the ``synth`` arm's masks,
  ``cervix-rgb`` = the same on RGB only, ``timm`` = ``timm.create_model("convnext_atto")`` on
  RGB. Optional arms: ``cervix-profile`` (the ``cpu`` profile exactly as a user gets it) and
  ``cervix-es`` (RGB + masks at the budget with the former early stopping: patience 8 on the raw
  monitor), ``cervix-pre`` (RGB + masks, backbone from ``--only pretrain``).
- ``pretrain`` (no wall-clock budget: :class:`cervix.stages.pretrain.PretrainConfig` defaults): ``python
  -m cervix pretrain`` into ``<out>/pretrained/``; its time is reported on its own, not in the
  10 minutes of the ``cervix-pre`` arm.

A budget becomes a number of epochs before training: a few timed steps of the arm's own model
give the epoch time, and the cosine schedule is laid over the epochs that fit in 90% of the
budget (the first epoch also decodes the images, and validation varies); the budget also stops
training as a safety net. (The numbers in the README were run with 95%, and every arm then
stopped on the budget a few epochs before the schedule's end, with the learning rate near its
floor.) Each arm writes one JSON (``--out``, default
``benchmarks/results/real_dev/``) with its metrics, per-image/per-cell scores, epochs reached and
seconds, so a run can be resumed (finished arms are skipped unless ``--force``) or split over
sessions. ``--table`` prints the markdown table (95% bootstrap CIs; paired bootstrap for the
differences to the peer) and writes it to ``<out>/table.md``.

Usage::

    pip install -e ".[bench]"                        # segmentation_models_pytorch
    python benchmarks/real_dev.py                    # everything (~2 h on 2 cores)
    python benchmarks/real_dev.py --only synth       # the default path's masks (~6 min)
    python benchmarks/real_dev.py --only cls --task 2 --arm cervix timm
    python benchmarks/real_dev.py --only pretrain    # offline pretraining (~20 min)
    python benchmarks/real_dev.py --only cls --arm cervix-pre
    python benchmarks/real_dev.py --only cls --folds 5  # cervix vs cervix-rgb, fixed epochs, 5 folds
    python benchmarks/real_dev.py --table
    python benchmarks/real_dev.py --tiny --out /tmp/rd  # a check that every part runs (seconds each)

``--tiny`` (CI): every part at a few seconds' size (:func:`tiny_sizes`), one thread, everything
under ``--out``; the tests run it on tiny fabricated data in the real on-disk formats.

The data live outside the repository (``$CERVIX_REAL_DEV``, default
``../shared/data/real-dev`` beside the checkout); part of both datasets is held back for an
independent test, so these are development numbers.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tinyargs import parse_args_tiny  # noqa: E402  (beside this script)

from cervix.core.config import Profile, TrainConfig, get_profile, run_min_nucleus_score  # noqa: E402
from cervix.core.device import autocast_context, device_and_amp  # noqa: E402
from cervix.core.labels import HEADS  # noqa: E402
from cervix.data.augment import AugmentConfig  # noqa: E402
from cervix.data.datasets import ClassificationDataset, SegmentationDataset  # noqa: E402
from cervix.data.formats import read_dataset  # noqa: E402
from cervix.data.records import RecordList, class_names_of  # noqa: E402
from cervix.data.splits import load_split, save_split  # noqa: E402
from cervix.inference.sizing import sized_masks  # noqa: E402
from cervix.inference.tiling import single_cell_masks  # noqa: E402
from cervix.losses.dice import DualHeadLoss  # noqa: E402
from cervix.metrics.scores import bootstrap_ci, dice_score  # noqa: E402
from cervix.stages import classification as C  # noqa: E402
from cervix.stages import segmentation as S  # noqa: E402
from cervix.stages.masks import generate_masks  # noqa: E402
from cervix.stages.pretrain import PretrainConfig  # noqa: E402
from cervix.training.checkpoints import load_checkpoint  # noqa: E402
from cervix.training.loop import fit  # noqa: E402
from cervix.training.rundir import prepare_run_dir  # noqa: E402
from cervix.training.sampling import make_loader, seed_everything  # noqa: E402

SEG_ARMS = ("cervix", "smp")
CLS_ARMS = ("cervix", "cervix-rgb", "timm")
CLS_EXTRA = ("cervix-profile", "cervix-es", "cervix-pre")
PEER = {"seg": "smp", "cls": "timm"}


@dataclass(frozen=True)
class Sizes:
    """How big the parts run: the full benchmark (these defaults) or :func:`tiny_sizes`."""

    profile: str | Profile = "cpu"  # the seg and cls arms' base configs
    seg: dict[str, Any] = field(default_factory=dict)  # SegConfig overrides of the synth arm
    synth: dict[str, Any] = field(default_factory=dict)  # synthetic set overrides of the synth arm
    pretrain: PretrainConfig | None = None  # None: the PretrainConfig defaults
    n_boot: int = 2000  # bootstrap resamples of the table's CIs
    figures: Path = ROOT / "figures"  # where --figure saves
    figure_n: int = 4  # --figure: crops of each data set


FULL = Sizes()


def tiny_sizes(out: Path) -> Sizes:
    """A check that every part runs, in seconds: the smoke profile at 32 px, one epoch, fp32, a
    small decoder; its numbers say nothing about the models."""
    seg = dict(
        image_size=32, patches_per_image=1, batch_size=4, tile=32, epochs=1, amp="none", decoder_channels=(32, 16, 8)
    )
    synth = dict(n_fields=4, n_crops=10, field_size=256)
    smoke = get_profile("smoke")
    cls = C.cls_config(smoke, dict(image_size=32, epochs=1, amp="none"))
    tiny = Profile("tiny", S.seg_config(smoke, seg), cls, {**smoke.synth, **synth})
    pre = PretrainConfig(
        profile=tiny,
        n_fields=4,
        n_crops=40,
        field_size=256,  # type: ignore[arg-type]
        seg_epochs=1,
        cls_epochs=1,
        image_size=32,
    )
    return Sizes(tiny, seg, synth, pre, n_boot=10, figures=out / "figures", figure_n=1)


# ------------------------------------------------------------------------------------------ data
def real_dev_dir() -> Path:
    return Path(os.environ.get("CERVIX_REAL_DEV", ROOT.parent / "shared" / "data" / "real-dev")).resolve()


def real_samples_dir() -> Path:
    from cervix.core.paths import real_samples_dir as rs

    return Path(rs()).resolve()


def isbi_records() -> RecordList:
    root = real_dev_dir() / "isbi2014"
    if not root.is_dir():
        raise SystemExit(f"no real ISBI data at {root}; set CERVIX_REAL_DEV")
    return read_dataset(root, "isbi2014", require_masks=True)


def isbi_split(records: Sequence[Any], out: Path) -> Path:
    """ISBI images 1-21 train, 22-24 validation, 25-30 test, saved as a split.json."""
    ids = {int(r.group): i for i, r in enumerate(records)}
    parts = {
        "train": [ids[k] for k in range(1, 22)],
        "val": [ids[k] for k in range(22, 25)],
        "test": [ids[k] for k in range(25, 31)],
    }
    path = out / "splits" / "isbi_split.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    save_split(path, parts, records)
    return path


def herlev_split(records: Sequence[Any], out: Path, task: int) -> Path:
    """Herlev stratified (7 classes) 80/20 with seed 0; 15% of the 80 for validation."""
    from sklearn.model_selection import train_test_split

    idx = np.arange(len(records))
    y7 = [Path(r.path).parent.name for r in records]
    rest, test = train_test_split(idx, test_size=0.2, stratify=y7, random_state=0)
    train, val = train_test_split(rest, test_size=0.15, stratify=[y7[i] for i in rest], random_state=0)
    path = out / "splits" / f"herlev_split_{task}.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    save_split(
        path, {"train": sorted(train.tolist()), "val": sorted(val.tolist()), "test": sorted(test.tolist())}, records
    )
    return path


def herlev_fold_split(records: Sequence[Any], out: Path, task: int, fold: int, folds: int) -> Path:
    """Fold ``fold`` of a stratified (7 classes) ``folds``-fold split with seed 0 as the test part;
    15% of the other folds (stratified, seed 0) for validation."""
    from sklearn.model_selection import StratifiedKFold, train_test_split

    y7 = [Path(r.path).parent.name for r in records]
    rest, test = list(StratifiedKFold(folds, shuffle=True, random_state=0).split(np.zeros(len(y7)), y7))[fold]
    train, val = train_test_split(rest, test_size=0.15, stratify=[y7[i] for i in rest], random_state=0)
    path = out / "splits" / f"herlev_split_{task}_fold{fold}of{folds}.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    parts = {"train": sorted(train.tolist()), "val": sorted(val.tolist()), "test": sorted(test.tolist())}
    save_split(path, parts, records)
    return path


# ------------------------------------------------------------------------------------ budgets
def epochs_for_budget(
    model: torch.nn.Module, loader: Any, loss_fn: Callable, evaluate: Callable, budget_s: float, amp: str
) -> tuple[int, float]:
    """Epochs that fit ``budget_s``: a few timed training steps of ``model`` (on a copy of its
    weights, restored afterwards) and one timed validation give the epoch time."""
    import copy

    state = copy.deepcopy(model.state_dict())
    dev, dtype, _ = device_and_amp(amp)
    model.to(dev).train()
    opt = torch.optim.AdamW(model.parameters(), lr=1e-4)
    times = []
    it = iter(loader)
    for k in range(min(len(loader), 6)):
        x, y = next(it)
        t0 = time.perf_counter()
        with autocast_context(dev, dtype):
            out = model(x.to(dev))
        res = loss_fn(out.float(), y.to(dev))
        loss = res[0] if isinstance(res, tuple) else res
        opt.zero_grad()
        loss.backward()
        opt.step()
        if k >= 2:  # the first steps warm up the allocator and kernels
            times.append(time.perf_counter() - t0)
    model.eval()
    t0 = time.perf_counter()
    with torch.no_grad():
        evaluate(model)
    val_s = time.perf_counter() - t0
    model.load_state_dict(state)
    epoch_s = float(np.median(times)) * len(loader) + val_s
    return max(1, int(0.9 * budget_s / epoch_s)), epoch_s


# --------------------------------------------------------------------------------- segmentation
def smp_unet(encoder: str = "convnext_atto") -> torch.nn.Module:
    try:
        import segmentation_models_pytorch as smp
    except ImportError as e:  # pragma: no cover
        raise SystemExit("the smp arm needs segmentation_models_pytorch: pip install -e '.[bench]'") from e
    return smp.Unet(f"tu-{encoder}", encoder_weights=None, decoder_attention_type="scse", classes=2)


def seg_scores(
    model: torch.nn.Module, cfg: dict[str, Any], records: Sequence[Any], single_cell: bool = False
) -> dict[str, list[float]]:
    """Dice per image and head with the run's tiled inference and thresholds (single-cell crops:
    the centre cell at the crop's estimated cell size, as `masks --single-cell` does it; runs
    without a stored cell size: the four-scale average)."""
    kw = {**S.inference_kwargs(cfg), "min_nucleus_score": run_min_nucleus_score(cfg)}
    thr = tuple(cfg.get("thresholds", (0.5, 0.5)))
    out: dict[str, list[float]] = {h: [] for h in HEADS}
    for rec in records:
        s = rec.load()
        if single_cell:  # as `masks --single-cell` does it
            size = cfg.get("cell_size")
            cyt, nuc, _ = sized_masks(model, s.image, thr, single_cell=True, diameter="auto", cell_size=size, **kw)
        else:  # as `masks` does it for fields
            cyt, nuc, _ = sized_masks(model, s.image, thr, **kw)
        for h, pred, true in zip(HEADS, (cyt, nuc), (s.cytoplasm, s.nucleus)):
            out[h].append(float(dice_score(pred[None] > 0, true[None] > 127)[0]))
    return out


def run_seg_arm(arm: str, out: Path, budget_min: float, sizes: Sizes = FULL) -> dict[str, Any]:
    records = isbi_records()
    split = isbi_split(records, out)
    run = out / "runs" / f"seg_{arm}"
    cfg = S.seg_config(sizes.profile, {"early_stopping_patience": None, "max_train_minutes": budget_min})
    idx = load_split(split, records)
    take = lambda k: [records[i] for i in idx[k]]  # noqa: E731
    loss_fn = DualHeadLoss(dice_weight=cfg.dice_weight, bce_weight=cfg.bce_weight)
    train_ds = SegmentationDataset(
        take("train"), cfg.image_size, augment=AugmentConfig(), train=True, patches_per_image=cfg.patches_per_image
    )
    loader = make_loader(train_ds, cfg.batch_size, shuffle=True, seed=cfg.seed)
    val_ds = SegmentationDataset(take("val"), cfg.image_size, train=False)
    val_loader = make_loader(val_ds, 1, shuffle=False)
    evaluate = lambda m, vl=val_loader: S.validate_segmentation(m, vl, loss_fn, cfg.thresholds, cfg.amp)  # noqa: E731
    seed_everything(cfg.seed)
    model = S.build_seg_model(cfg) if arm == "cervix" else smp_unet(cfg.encoder)
    epochs, epoch_s = epochs_for_budget(model, loader, loss_fn, evaluate, budget_min * 60, cfg.amp)
    t0 = time.perf_counter()
    if arm == "cervix":
        res = S.train_segmentation(
            records.root, run, fmt="isbi2014", profile=cfg, overrides={"epochs": epochs}, split=split, overwrite=True
        )
        history = res.history
        model, run_cfg = S.load_segmentation(run)
    else:
        seed_everything(cfg.seed)
        model = smp_unet(cfg.encoder)
        tcfg = TrainConfig.from_config(cfg, epochs=epochs)
        run_cfg = {
            "task": "smp",
            **{k: getattr(cfg, k) for k in ("tile", "overlap", "scale", "amp")},
            "thresholds": list(cfg.thresholds),
        }
        history = fit(
            model, loader, val_loader, loss_fn, evaluate, tcfg, prepare_run_dir(run, overwrite=True), config=run_cfg
        )
        model.load_state_dict(load_checkpoint(run / "best.pt")["model"])
        model.eval()
    train_s = time.perf_counter() - t0
    scores = seg_scores(model, run_cfg, take("test"))
    return {
        "part": "seg",
        "arm": arm,
        "n_test": len(idx["test"]),
        "budget_min": budget_min,
        "epochs_planned": epochs,
        "epoch_s_estimate": epoch_s,
        "epochs_run": len(history),
        "stop_reason": history.stop_reason,
        "train_s": train_s,
        "best_epoch": history.best_epoch,
        "per_image": scores,
        "test_images": [Path(r.path).name for r in take("test")],
        **{f"dice_{h}": float(np.mean(v)) for h, v in scores.items()},
    }


# ------------------------------------------------------------------------------ default path
def run_synth_arm(
    out: Path, profile_name: str = "cpu", reuse: bool = False, label: str = "", sizes: Sizes = FULL
) -> dict[str, Any]:
    """Stage 1 on the notebooks' default path: synthetic fields only, then real images
    (``reuse``: measure the model already trained in ``<out>/runs/seg_synth`` again)."""
    from cervix.data.readers.synthetic import ensure_synthetic

    profile = get_profile(profile_name)
    run = out / "runs" / "seg_synth"
    data = ensure_synthetic(None, **{**profile.synth, **sizes.synth}) / "fields"
    t0 = time.perf_counter()
    if reuse and (run / "best.pt").is_file():
        hist = load_checkpoint(run / "last.pt")
        res = SimpleNamespace(
            history=hist["history"], stop_reason=hist.get("stop_reason") or "completed", best_metric=hist["best_metric"]
        )
    else:
        # the profile's own epochs; no wall-clock cap, so the model does not depend on machine speed
        res = S.train_segmentation(
            data,
            run,
            fmt="masks",
            profile=profile.seg,
            overrides={**sizes.seg, "max_train_minutes": None},
            overwrite=True,
        )
    train_s = (
        float(json.loads(prev.read_text())["train_s"])
        if reuse and (prev := out / "synth.json").is_file()
        else time.perf_counter() - t0
    )
    model, cfg = S.load_segmentation(run)
    isbi = isbi_records()
    isbi_scores = seg_scores(model, cfg, isbi)
    sip_root = real_samples_dir() / "sipakmed"
    sip = read_dataset(sip_root, "labelmap") if sip_root.is_dir() else []
    sip_scores = seg_scores(model, cfg, sip, single_cell=True) if sip else {h: [] for h in HEADS}
    masks = out / "herlev_masks"
    qc = generate_masks(run, real_dev_dir() / "herlev", masks, single_cell=True)
    n = max(1, int(qc["n_written"]))
    flags = {k: len(v) for k, v in qc["flagged"].items()}
    test_ids = {str(k) for k in range(25, 31)}
    return {
        "part": "synth",
        "arm": "cervix-synth",
        "profile": profile.name,
        "label": label,
        "train_s": train_s,
        "epochs_run": len(res.history),
        "stop_reason": res.stop_reason,
        "val_dice_synthetic": res.best_metric,
        "isbi_all": {f"dice_{h}": float(np.mean(v)) for h, v in isbi_scores.items()},
        "isbi_test": {
            f"dice_{h}": float(np.mean([d for r, d in zip(isbi, v) if r.group in test_ids]))
            for h, v in isbi_scores.items()
        },
        "isbi_per_image": isbi_scores,
        "isbi_images": [r.group for r in isbi],
        "sipakmed_crops": {f"dice_{h}": float(np.mean(v)) if v else None for h, v in sip_scores.items()},
        "sipakmed_per_image": sip_scores,
        "sipakmed_images": [r.path for r in sip],
        "herlev_masks": str(masks),
        "herlev_n": n,
        "herlev_errors": len(qc["errors"]),
        "herlev_flags": flags,
        "herlev_flag_rates": {k: v / n for k, v in flags.items()},
    }


# ------------------------------------------------------------------------------ classification
def herlev_records(task: int, masks: Path | None) -> RecordList:
    root = real_dev_dir() / "herlev"
    if not root.is_dir():
        raise SystemExit(f"no Herlev data at {root}; set CERVIX_REAL_DEV")
    return C.read_cls_records(root, "classes", masks, grouping="2" if task == 2 else None)


def pretrained_file(out: Path) -> Path:
    return out / "pretrained" / "synthetic_convnext_atto.pt"


def run_pretrain(out: Path, sizes: Sizes = FULL) -> dict[str, Any]:
    from cervix.stages import pretrain

    return {"part": "pretrain", **pretrain(pretrained_file(out), config=sizes.pretrain, overwrite=True)}


def run_cls_arm(
    arm: str, task: int, out: Path, budget_min: float, sizes: Sizes = FULL, fold: tuple[int, int] | None = None
) -> dict[str, Any]:
    """One classifier arm on Herlev: the 80/20 split at a wall-clock budget, or with ``fold``
    ``(k, K)`` fold k of K as the test part, trained the profile's fixed epochs (no budget)."""
    masks = out / "herlev_masks"
    use_masks = arm in ("cervix", "cervix-profile", "cervix-es", "cervix-pre")
    weights = pretrained_file(out)
    if arm == "cervix-pre" and not weights.is_file():
        raise SystemExit(f"{weights}: no pretrained backbone yet; run --only pretrain first")
    if use_masks and not (masks / "qc.json").is_file():
        raise SystemExit(f"{masks}: no masks of the Herlev crops yet; run --only synth first")
    records = herlev_records(task, masks if use_masks else None)
    split = herlev_split(records, out, task) if fold is None else herlev_fold_split(records, out, task, *fold)
    class_names = [str(c) for c in class_names_of(records)]
    idx = load_split(split, records)
    run = out / "runs" / (f"cls{task}_{arm}" + (f"_fold{fold[0]}" if fold else ""))
    in_chans = 5 if use_masks else 3
    pretrained = str(weights) if arm == "cervix-pre" else False
    base = C.cls_config(sizes.profile, {"in_chans": in_chans, "pretrained": pretrained})
    if arm == "cervix-profile" or fold is not None:  # fixed epochs: the profile's
        cfg, epochs, epoch_s = C.cls_config(base, {"early_stopping_patience": None}), base.epochs, None
    else:
        cfg = C.cls_config(base, {"early_stopping_patience": None, "max_train_minutes": budget_min})
        if arm == "cervix-es":  # the former default: patience 8 on the raw monitor
            cfg = C.cls_config(cfg, {"early_stopping_patience": 8, "early_stopping_window": 1})
    train_recs = [records[i] for i in idx["train"]]
    train_ds = ClassificationDataset(
        train_recs,
        class_names,
        cfg.image_size,
        in_chans,
        AugmentConfig(),
        train=True,
        mask_dropout=cfg.mask_dropout,
        mask_jitter=cfg.mask_jitter,
    )
    loader = make_loader(train_ds, cfg.batch_size, shuffle=True, seed=cfg.seed)
    val_ds = ClassificationDataset(
        [records[i] for i in idx["val"]], class_names, cfg.image_size, in_chans, None, train=False
    )
    val_loader = make_loader(val_ds, cfg.batch_size, shuffle=False)
    cw = C.class_weights(train_ds.targets, len(class_names))
    loss_fn = lambda z, y: F.cross_entropy(z, y, weight=cw.to(z.device))  # noqa: E731
    evaluate = lambda m, vl=val_loader: C.validate_classifier(m, vl, cfg.amp)  # noqa: E731

    def timm_model() -> torch.nn.Module:
        import timm

        return timm.create_model(cfg.encoder, pretrained=False, num_classes=len(class_names), in_chans=3)

    if arm != "cervix-profile" and fold is None:
        seed_everything(cfg.seed)
        probe = (
            timm_model()
            if arm == "timm"
            else C.build_classifier(
                C._run_config(cfg, class_names, None, None, "classes", split, AugmentConfig(), None)
            )
        )
        epochs, epoch_s = epochs_for_budget(probe, loader, loss_fn, evaluate, budget_min * 60, cfg.amp)
        cfg = C.cls_config(cfg, {"epochs": epochs})
    t0 = time.perf_counter()
    if arm == "timm":
        seed_everything(cfg.seed)
        model = timm_model()
        history = fit(
            model,
            loader,
            val_loader,
            loss_fn,
            evaluate,
            TrainConfig.from_config(cfg),
            prepare_run_dir(run, overwrite=True),
            config={"task": "timm", "class_names": class_names},
        )
        model.load_state_dict(load_checkpoint(run / "best.pt")["model"])
    else:
        res = C.train_classifier(
            real_dev_dir() / "herlev",
            masks=masks if use_masks else None,
            out=run,
            fmt="classes",
            profile=cfg,
            overrides={"grouping": "2" if task == 2 else None},
            split=split,
            overwrite=True,
        )
        history = res.history
        model, _ = C.load_classifier(run, device="cpu")
    train_s = time.perf_counter() - t0
    test = [records[i] for i in idx["test"]]
    ds = ClassificationDataset(test, class_names, cfg.image_size, in_chans, None, train=False)
    logits, y = C.predict_logits(model.eval(), make_loader(ds, 64, shuffle=False), amp="none")
    pred = logits.argmax(1)
    from sklearn.metrics import f1_score

    return {
        "part": "cls",
        "arm": arm,
        "task": task,
        "class_names": class_names,
        "in_chans": in_chans,
        "budget_min": None if arm == "cervix-profile" or fold is not None else budget_min,
        "fold": list(fold) if fold else None,
        "epochs_planned": cfg.epochs,
        "epoch_s_estimate": epoch_s,
        "epochs_run": len(history),
        "stop_reason": history.stop_reason,
        "best_epoch": history.best_epoch,
        "train_s": train_s,
        "n_train": len(idx["train"]),
        "n_val": len(idx["val"]),
        "n_test": len(test),
        "accuracy": float(np.mean(pred == y)),
        "f1_macro": float(f1_score(y, pred, average="macro", zero_division=0)),
        "y_true": y.tolist(),
        "y_pred": pred.tolist(),
        "test_files": [r.path for r in test],
    }


# ------------------------------------------------------------------------------------ the figure
def crops_figure(out: Path, n: int = 4, sizes: Sizes = FULL) -> list[Path]:
    """Real crops with the synth arm model's masks: at the run's scale only (before) and averaged
    over the crop scales (after); SIPaKMeD crops with their true masks, Herlev crops (no truth)."""
    import matplotlib

    matplotlib.use("Agg")
    from cervix.viz.figures import mask_grid
    from cervix.viz.style import save_figure, set_style

    set_style()
    model, cfg = S.load_segmentation(out / "runs" / "seg_synth")
    kw = S.inference_kwargs(cfg)
    thr = tuple(cfg.get("thresholds", (0.5, 0.5)))
    sip = read_dataset(real_samples_dir() / "sipakmed", "labelmap")
    herlev = read_dataset(real_dev_dir() / "herlev", "classes")
    picks = [sip[i] for i in np.linspace(0, len(sip) - 1, n).astype(int)]
    picks += [herlev[i] for i in np.linspace(0, len(herlev) - 1, n).astype(int)]
    images, masks, labels = [], [], []
    for rec in picks:
        s = rec.load()
        truth = (s.cytoplasm, s.nucleus) if s.cytoplasm is not None else (None, None)
        before = single_cell_masks(model, s.image, thr, scales=(1.0,), **kw)
        after = single_cell_masks(model, s.image, thr, **kw)
        images.append(s.image)
        masks.append([truth, before, after])
        src = "SIPaKMeD" if rec in sip else "Herlev"
        labels.append(f"{src}\n{rec.label}")
    fig = mask_grid(images, masks, ["real crop", "truth", "run's scale only", "4 scales averaged"], labels)
    return save_figure(fig, "real_crops_masks_synthetic_model", sizes.figures)


# ------------------------------------------------------------------------------------ the table
def _f1(y: np.ndarray, p: np.ndarray) -> float:
    from sklearn.metrics import f1_score

    return float(f1_score(y, p, average="macro", zero_division=0))


def _acc(y: np.ndarray, p: np.ndarray) -> float:
    return float(np.mean(y == p))


def _fmt(v: float, ci: Sequence[float]) -> str:
    return f"{v:.3f} [{ci[0]:.3f}, {ci[1]:.3f}]"


def folds_table(res: dict[str, dict[str, Any]], n_boot: int = 2000) -> list[str]:
    """Rows of the k-fold classifier runs: out-of-fold predictions pooled per task and arm, and the
    paired difference of ``cervix`` (RGB + masks) minus ``cervix-rgb`` over the pooled cells."""
    lines = []
    for task in (2, 7):
        runs = [r for r in res.values() if r["part"] == "cls" and r["task"] == task and r.get("fold")]
        pooled: dict[str, dict[str, int]] = {}  # arm -> {file: predicted}
        truth: dict[str, int] = {}
        folds: dict[str, set[int]] = {}
        for r in runs:
            pooled.setdefault(r["arm"], {}).update(zip(r["test_files"], r["y_pred"]))
            truth.update(zip(r["test_files"], r["y_true"]))
            folds.setdefault(r["arm"], set()).add(r["fold"][0])
        for arm, pred in pooled.items():
            files = sorted(pred)
            y, p = np.array([truth[f] for f in files]), np.array([pred[f] for f in files])
            k = runs[0]["fold"][1]
            for name, fn in (("accuracy", _acc), ("macro F1", _f1)):
                diff = ""
                other = pooled.get("cervix-rgb") if arm == "cervix" else None
                if other is not None and sorted(other) == files:
                    q = np.array([other[f] for f in files])
                    d = bootstrap_ci(lambda yy, a, b, fn=fn: fn(yy, a) - fn(yy, b), y, p, q, n_boot=n_boot)
                    diff = f"{fn(y, p) - fn(y, q):+.3f} [{d[0]:+.3f}, {d[1]:+.3f}] vs cervix-rgb"
                lines.append(
                    f"| Herlev {task}-class, {len(files)} out-of-fold cells ({len(folds[arm])} of {k} folds) | "
                    f"{arm} | {name} | {_fmt(fn(y, p), bootstrap_ci(fn, y, p, n_boot=n_boot))} | {diff} |  |  |  |"
                )
    return lines


def table(out: Path, n_boot: int = 2000) -> str:
    res = {p.stem: json.loads(p.read_text()) for p in sorted(out.glob("*.json"))}
    lines = [
        "| task | arm | metric | value [95% CI] | minus peer [paired 95% CI] | ratio to peer | epochs | train s |",
        "|---|---|---|---|---|---|---|---|",
    ]
    seg = {r["arm"]: r for r in res.values() if r["part"] == "seg"}
    for arm in [a for a in SEG_ARMS if a in seg]:
        r, peer = seg[arm], seg.get(PEER["seg"])
        for h in HEADS:
            v = np.asarray(r["per_image"][h])
            ci = bootstrap_ci(np.mean, v, n_boot=n_boot)
            diff, ratio = "", ""
            if peer is not None and arm != PEER["seg"]:
                pv = np.asarray(peer["per_image"][h])
                d = bootstrap_ci(lambda a, b: float(np.mean(a - b)), v, pv, n_boot=n_boot)
                diff = f"{np.mean(v - pv):+.4f} [{d[0]:+.4f}, {d[1]:+.4f}]"
                ratio = f"{np.mean(v) / np.mean(pv):.3f}"
            lines.append(
                f"| ISBI seg, {r['n_test']} test images | {arm} | Dice {h} | {_fmt(np.mean(v), ci)} | "
                f"{diff} | {ratio} | {r['epochs_run']} | {r['train_s']:.0f} |"
            )
    lines += folds_table(res, n_boot)
    for task in (2, 7):
        cls = {r["arm"]: r for r in res.values() if r["part"] == "cls" and r["task"] == task and not r.get("fold")}
        peer = cls.get(PEER["cls"])
        for arm in [a for a in CLS_ARMS + CLS_EXTRA if a in cls]:
            r = cls[arm]
            y, p = np.asarray(r["y_true"]), np.asarray(r["y_pred"])
            for name, fn in (("accuracy", _acc), ("macro F1", _f1)):
                ci = bootstrap_ci(fn, y, p, n_boot=n_boot)
                diff, ratio = "", ""
                if peer is not None and arm != PEER["cls"] and peer["test_files"] == r["test_files"]:
                    q = np.asarray(peer["y_pred"])
                    d = bootstrap_ci(lambda yy, a, b, fn=fn: fn(yy, a) - fn(yy, b), y, p, q, n_boot=n_boot)
                    diff = f"{fn(y, p) - fn(y, q):+.3f} [{d[0]:+.3f}, {d[1]:+.3f}]"
                    ratio = f"{fn(y, p) / max(fn(y, q), 1e-9):.3f}"
                lines.append(
                    f"| Herlev {task}-class, {r['n_test']} test cells | {arm} | {name} | "
                    f"{_fmt(fn(y, p), ci)} | {diff} | {ratio} | {r['epochs_run']} | {r['train_s']:.0f} |"
                )
    for pre in [r for r in res.values() if r["part"] == "pretrain"]:
        sec = pre["seconds"]
        lines += [
            "",
            f"`cervix-pre`: backbone pretrained offline (`python -m cervix pretrain`, {pre['encoder']}) in "
            f"{sum(sec.values()) / 60:.1f} min (synthetic set {sec['synthetic']:.0f} s, segmentation "
            f"{pre['segmentation']['epochs']} epochs {sec['segmentation']:.0f} s, classification "
            f"{pre['classification']['epochs']} epochs {sec['classification']:.0f} s), not counted in its budget.",
        ]
    for syn in [r for r in res.values() if r["part"] == "synth"]:
        lines += [
            "",
            f"Default path (segmentation trained on synthetic fields only, `{syn.get('profile', 'cpu')}` "
            f"profile, {syn['epochs_run']} epochs, {syn['train_s']:.0f} s)"
            + (f", {syn['label']}" if syn.get("label") else "")
            + ":",
            "",
            "| real data | Dice cytoplasm [95% CI] | Dice nucleus [95% CI] |",
            "|---|---|---|",
        ]
        test_ids = {str(k) for k in range(25, 31)}
        for name, per, keep in (
            ("ISBI 2014, 30 images", syn["isbi_per_image"], None),
            ("ISBI 2014, test images 25-30", syn["isbi_per_image"], [g in test_ids for g in syn["isbi_images"]]),
            (
                f"SIPaKMeD crops with label maps, {len(syn['sipakmed_images'])} (single cell)",
                syn["sipakmed_per_image"],
                None,
            ),
        ):
            cells = []
            for h in HEADS:
                v = np.asarray(per[h], float)
                if keep is not None:
                    v = v[np.asarray(keep)]
                cells.append(_fmt(float(np.mean(v)), bootstrap_ci(np.mean, v, n_boot=n_boot)) if len(v) else "-")
            lines.append(f"| {name} | {cells[0]} | {cells[1]} |")
        rates = ", ".join(f"{k} {v:.1%}" for k, v in sorted(syn["herlev_flag_rates"].items()))
        lines += ["", f"QC flags of its masks of the {syn['herlev_n']} Herlev dev crops: {rates or 'none'}."]
    text = "\n".join(lines) + "\n"
    (out / "table.md").write_text(text)
    return text


# ------------------------------------------------------------------------------------------ main
def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--only", choices=["seg", "synth", "cls", "pretrain"], help="run one part (default: all)")
    ap.add_argument("--task", type=int, choices=[2, 7], nargs="+", default=[2, 7], help="Herlev task(s)")
    ap.add_argument("--arm", nargs="+", help=f"arms to run (seg: {SEG_ARMS}; cls: {CLS_ARMS + CLS_EXTRA})")
    ap.add_argument("--seg-minutes", type=float, default=15.0, help="wall-clock budget per seg arm")
    ap.add_argument("--cls-minutes", type=float, default=10.0, help="wall-clock budget per cls arm")
    ap.add_argument(
        "--folds",
        type=int,
        help="cls: K stratified folds of the Herlev cells, each arm trained the profile's fixed epochs per "
        "fold (one JSON per fold, so each is resumable); the table pools the out-of-fold predictions",
    )
    ap.add_argument("--synth-profile", default="cpu", help="profile of the synth arm (smoke: a quick check)")
    ap.add_argument(
        "--synth-reuse",
        metavar="LABEL",
        help="measure the synth arm's trained model again (after an inference change) into "
        "synth_LABEL.json, with fresh Herlev masks",
    )
    ap.add_argument("--out", type=Path, help="folder of the JSONs (default: benchmarks/results/real_dev)")
    ap.add_argument("--force", action="store_true", help="rerun arms whose JSON exists")
    ap.add_argument("--table", action="store_true", help="only print/write the table of the JSONs in --out")
    ap.add_argument(
        "--figure",
        action="store_true",
        help="only draw real crops with the synth arm's masks -> figures/real_crops_masks_synthetic_model",
    )
    # --tiny: budgets of 0.3 s give one epoch per arm
    args = parse_args_tiny(
        ap,
        argv,
        dict(seg_minutes=0.005, cls_minutes=0.005, synth_profile="smoke"),
        "every part, seconds each, everything under --out",
    )
    args.out = (args.out or ROOT / "benchmarks" / "results" / "real_dev").resolve()
    return args


def plan_jobs(args: argparse.Namespace, sizes: Sizes) -> list[tuple[str, Callable[[], dict[str, Any]]]]:
    """(name of the JSON, job) of each part and arm the arguments ask for."""
    out = args.out
    jobs: list[tuple[str, Callable[[], dict[str, Any]]]] = []
    if args.synth_reuse:  # only that measurement
        return [
            (
                f"synth_{args.synth_reuse}",
                lambda: run_synth_arm(out, args.synth_profile, reuse=True, label=args.synth_reuse, sizes=sizes),
            )
        ]
    if args.only in (None, "synth"):
        jobs.append(("synth", lambda: run_synth_arm(out, args.synth_profile, sizes=sizes)))
    if args.only in (None, "pretrain"):
        jobs.append(("pretrain", lambda: run_pretrain(out, sizes)))
    if args.only in (None, "seg"):
        for arm in args.arm or SEG_ARMS:
            if arm in SEG_ARMS:
                jobs.append((f"seg_{arm}", lambda a=arm: run_seg_arm(a, out, args.seg_minutes, sizes)))
    if args.only in (None, "cls"):
        for task in args.task:
            for arm in args.arm or (("cervix", "cervix-rgb") if args.folds else CLS_ARMS):
                if arm not in CLS_ARMS + CLS_EXTRA:
                    continue
                if not args.folds:
                    jobs.append(
                        (f"cls{task}_{arm}", lambda a=arm, t=task: run_cls_arm(a, t, out, args.cls_minutes, sizes))
                    )
                for k in range(args.folds or 0):
                    fold = (k, args.folds)
                    job = lambda a=arm, t=task, f=fold: run_cls_arm(a, t, out, args.cls_minutes, sizes, f)  # noqa: E731
                    jobs.append((f"cls{task}_{arm}_fold{k}of{args.folds}", job))
    return jobs


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    out = args.out
    out.mkdir(parents=True, exist_ok=True)
    sizes = FULL
    if args.tiny:
        sizes = tiny_sizes(out)
        os.environ.setdefault("CERVIX_REAL_SAMPLES", str(real_samples_dir()))  # before the root moves
        os.environ["CERVIX_ROOT"] = str(out / "project")  # the package's data/ (synthetic sets) under --out
    torch.set_num_threads(1 if args.tiny else max(1, os.cpu_count() or 1))
    if args.table:
        print(table(out, sizes.n_boot))
        return 0
    if args.figure:
        print("\n".join(str(p) for p in crops_figure(out, sizes.figure_n, sizes)))
        return 0
    for name, job in plan_jobs(args, sizes):
        path = out / f"{name}.json"
        if path.is_file() and not args.force:
            print(f"== {name}: done before ({path}); --force reruns it")
            continue
        print(f"== {name}", flush=True)
        t0 = time.perf_counter()
        result = job()
        result.update(
            wall_s=time.perf_counter() - t0,
            machine=platform.processor() or platform.machine(),
            threads=torch.get_num_threads(),
            torch=torch.__version__,
            date=time.strftime("%Y-%m-%d %H:%M"),
        )
        tmp = path.with_suffix(".json.tmp")
        tmp.write_text(json.dumps(result, indent=1, default=str))
        os.replace(tmp, path)
        brief = {k: v for k, v in result.items() if isinstance(v, (int, float, str)) and k not in ("date",)}
        print(json.dumps(brief, indent=1, default=str), flush=True)
    print(table(out, sizes.n_boot))
    return 0


if __name__ == "__main__":
    sys.exit(main())
