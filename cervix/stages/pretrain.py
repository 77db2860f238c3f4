"""Offline pretraining: an encoder trained once on a large synthetic set, for runs without internet.

ImageNet weights cannot be downloaded on many hospital machines. :func:`pretrain` makes a local
substitute from data that costs nothing to label: the built-in synthetic Pap smears
(:mod:`cervix.synthetic.fields`), whose fields come with cytoplasm and nucleus masks and whose crops come
with classes. Two phases share one timm backbone:

1. the dual-head U-Net (:class:`cervix.models.networks.DualHeadAttConvNeXtUNet`) learns to segment the
   synthetic fields (``cpu`` profile settings);
2. a classifier whose backbone starts from that encoder learns the synthetic classes on RGB
   crops.

The classifier's backbone is saved as a plain timm state dict (3-channel stem). Any later run
loads it with ``pretrained="synthetic"`` (``--pretrained synthetic``, the file of
:func:`cervix.core.paths.pretrained_path`) or ``pretrained=FILE``: the segmentation encoder and the
classifier backbone alike, the 5-channel stem adapted as for ImageNet weights
(:func:`cervix.models.backbone.adapt_first_conv`). Whether it helps on real cells is an empirical
question; the README reports what it did on real Herlev cells.
"""

from __future__ import annotations

import os
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import timm
import torch

from cervix.core.files import json_ready
from cervix.core.paths import data_dir, pretrained_path
from cervix.data.readers.synthetic import ensure_synthetic
from cervix.training.checkpoints import save_checkpoint
from cervix.training.rundir import TrainResult

__all__ = [
    "PretrainConfig",
    "pretrain",
    "backbone_state_dict",
]


@dataclass
class PretrainConfig:
    """Settings of :func:`pretrain` (about 20 minutes on 2 CPU cores with the defaults)."""

    encoder: str = "convnext_atto"  # timm backbone to pretrain (the one the later runs use)
    seed: int = 0  # seeds the synthetic set and both phases
    n_fields: int = 40  # synthetic fields for phase 1 (segmentation), 512 px each
    n_crops: int = 3000  # synthetic crops for phase 2 (classification): 3x the cpu profile's
    field_size: int = 512  # side of the synthetic fields in pixels
    seg_epochs: int = 10  # phase 1 epochs (the cpu profile's segmentation length)
    cls_epochs: int = 12  # phase 2 epochs over the crops
    image_size: int = 128  # phase 2 crop side (the cpu profile's classifier size)
    max_minutes: float | None = 45.0  # safety cap per phase; the length is fixed in epochs
    profile: str = "cpu"  # base settings of both phases ("smoke": a quick check)


def backbone_state_dict(model: torch.nn.Module) -> dict[str, torch.Tensor]:
    """The plain timm backbone weights of a cervix model (segmentation or classifier).

    The segmentation encoder has no ``head.norm`` (timm prunes the head for features); its
    entries are taken from a fresh backbone, the initialisation a new model would have.
    """
    state = model.state_dict()
    for prefix in ("encoder.model.", "backbone."):
        sd = {k[len(prefix) :]: v.detach().cpu().clone() for k, v in state.items() if k.startswith(prefix)}
        if sd:
            break
    else:
        raise ValueError(f"{type(model).__name__} has no timm backbone (no encoder.model.* or backbone.* keys)")
    cfg = model.config
    fresh = timm.create_model(
        cfg.encoder, pretrained=False, in_chans=cfg.in_chans, num_classes=0, global_pool=""
    ).state_dict()
    return {**{k: v for k, v in fresh.items() if k not in sd}, **sd}


def _pretrain_segmentation(
    cfg: PretrainConfig, synth: Path, work: Path, seconds: dict[str, float], progress: bool
) -> tuple[TrainResult, Path]:
    """Phase 1: the segmentation model on the synthetic fields; its encoder saved for phase 2."""
    from cervix.stages.segmentation import load_segmentation, train_segmentation

    t0 = time.perf_counter()
    seg = train_segmentation(
        synth / "fields",
        fmt="masks",
        out=work / "segmentation",
        profile=cfg.profile,
        progress=progress,
        overwrite=True,
        overrides={
            "encoder": cfg.encoder,
            "epochs": cfg.seg_epochs,
            "seed": cfg.seed,
            "max_train_minutes": cfg.max_minutes,
        },
    )
    seconds["segmentation"] = time.perf_counter() - t0
    seg_model, _ = load_segmentation(seg.best)
    encoder_file = save_checkpoint(
        work / "segmentation_encoder.pt",
        {"state_dict": backbone_state_dict(seg_model), "meta": {"phase": "segmentation"}},
    )

    return seg, encoder_file


def _pretrain_classifier(
    cfg: PretrainConfig, synth: Path, work: Path, encoder_file: Path, seconds: dict[str, float], progress: bool
) -> TrainResult:
    """Phase 2: the RGB classifier on the synthetic crops, starting from phase 1's encoder."""
    from cervix.stages.classification import train_classifier

    t0 = time.perf_counter()
    cls = train_classifier(
        synth / "crops",
        fmt="classes",
        out=work / "classification",
        profile=cfg.profile,
        progress=progress,
        overwrite=True,
        overrides={
            "encoder": cfg.encoder,
            "in_chans": 3,
            "epochs": cfg.cls_epochs,
            "image_size": cfg.image_size,
            "seed": cfg.seed,
            "pretrained": str(encoder_file),
            "max_train_minutes": cfg.max_minutes,
        },
    )
    seconds["classification"] = time.perf_counter() - t0
    return cls


def pretrain(
    out: str | os.PathLike | None = None,
    config: PretrainConfig | None = None,
    overwrite: bool = False,
    progress: bool = True,
) -> dict[str, Any]:
    """Pretrain a backbone on synthetic data and save it as a local weights file.

    Args:
        out: weights file; default :func:`cervix.core.paths.pretrained_path` of the encoder, where
            ``pretrained="synthetic"`` looks for it.
        config: :class:`PretrainConfig` (defaults: ``convnext_atto``, ~20 min on 2 CPU cores).
        overwrite: replace an existing weights file (and the two phases' run folders beside it).
        progress: tqdm bars of the generator and both trainings.

    Returns:
        ``{"file", "encoder", "seconds" {"synthetic", "segmentation", "classification"},
        "segmentation" {epochs, best val Dice}, "classification" {epochs, best val macro F1},
        "config"}``, also stored under ``meta`` in the file.

    Raises:
        FileExistsError: ``out`` exists and ``overwrite`` is off.
    """
    from cervix.stages.classification import load_classifier

    cfg = config or PretrainConfig()
    out = Path(out) if out is not None else pretrained_path(cfg.encoder)
    if out.exists() and not overwrite:
        raise FileExistsError(f"{out} exists; pass overwrite=True (--overwrite) to pretrain again")
    work = out.with_name(out.stem + "_runs")
    seconds: dict[str, float] = {}

    t0 = time.perf_counter()
    synth = ensure_synthetic(
        data_dir() / "synthetic" / f"pretrain_s{cfg.seed}_f{cfg.n_fields}_c{cfg.n_crops}",
        progress=progress,
        seed=cfg.seed,
        n_fields=cfg.n_fields,
        n_crops=cfg.n_crops,
        size=None,
        field_size=cfg.field_size,
        difficulty=0.5,
    )
    seconds["synthetic"] = time.perf_counter() - t0

    seg, encoder_file = _pretrain_segmentation(cfg, synth, work, seconds, progress)
    cls = _pretrain_classifier(cfg, synth, work, encoder_file, seconds, progress)
    cls_model, _ = load_classifier(cls.best, device="cpu")
    h_seg, h_cls = seg.history, cls.history
    meta = {
        "file": str(out),
        "encoder": cfg.encoder,
        "seconds": seconds,
        "segmentation": {"epochs": len(h_seg), "best_val_dice": h_seg.best_metric, "best_epoch": h_seg.best_epoch},
        "classification": {
            "epochs": len(h_cls),
            "best_val_f1_macro": h_cls.best_metric,
            "best_epoch": h_cls.best_epoch,
        },
        "synthetic": str(synth),
        "config": asdict(cfg),
        "date": time.strftime("%Y-%m-%d %H:%M"),
        "torch": str(torch.__version__),
        "timm": str(timm.__version__),
    }
    meta = json_ready(meta)
    save_checkpoint(out, {"state_dict": backbone_state_dict(cls_model), "meta": meta})
    return meta
