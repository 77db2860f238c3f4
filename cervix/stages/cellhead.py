"""The cell head: whole (overlapping) cells, trained after the segmentation model in ``RUN/cells/``.

A partition gives every pixel to one cell; overlapping cells share pixels, so their whole
(amodal) masks need a model that is asked about one cell at a time. The cell head is the
segmentation network itself (:class:`cervix.models.networks.DualHeadAttConvNeXtUNet`) with five
input channels — RGB, one detected nucleus, the first model's cytoplasm probability — whose two
outputs are that cell's whole mask and its own nucleus; it starts from the first model's weights
(the stem adapted to five channels by :func:`cervix.models.backbone.adapt_first_conv`) and trains
with the same loop and Dice + BCE loss. A second stage per detected object, as in Mask R-CNN (He
et al., ICCV 2017), with the detection given by the first model's nuclei.

- :func:`cell_config` — the profile's :class:`cervix.core.config.CellConfig`.
- :func:`whole_cell_truth` — a sample's true whole cells, each paired with its own nucleus.
- :func:`train_cell_head` — trains it on the segmentation run's data and split.
- :func:`load_cell_head` / :func:`find_cell_head` / :func:`cell_head_of` — the model of ``RUN/cells/``.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import torch
from tqdm.auto import tqdm

from cervix.cells.whole import CellMask, cell_nuclei, from_stack
from cervix.core.config import CellConfig, Profile, TrainConfig, stage_config, to_dict
from cervix.data.augment import AugmentConfig
from cervix.data.records import Record, Sample
from cervix.data.windows import CellWindowDataset, WholeCellField
from cervix.inference.tiling import predict_tiled
from cervix.losses.dice import DualHeadLoss
from cervix.models.backbone import adapt_first_conv
from cervix.models.networks import DualHeadAttConvNeXtUNet
from cervix.stages.segmentation import inference_kwargs, load_segmentation, run_records, validate_segmentation
from cervix.training.checkpoints import load_run_model
from cervix.training.loop import fit
from cervix.training.rundir import TrainResult, prepare_run_dir
from cervix.training.sampling import make_loader, seed_everything

__all__ = [
    "CELLS_DIR",
    "NoCellTruthError",
    "cell_config",
    "whole_cell_truth",
    "build_cell_model",
    "train_cell_head",
    "load_cell_head",
    "find_cell_head",
    "cell_head_of",
]

#: The cell head's folder inside a segmentation run.
CELLS_DIR = "cells"


class NoCellTruthError(ValueError):
    """The run's training images have no per-cell truth: there is nothing to train the cell head on."""


def cell_config(
    profile: str | Profile | CellConfig | None = None, overrides: Mapping[str, Any] | None = None
) -> CellConfig:
    """The profile's :class:`CellConfig` with ``overrides`` applied (as :func:`cervix.stages.seg_config`)."""
    return stage_config(profile, CellConfig, overrides)


def whole_cell_truth(s: Sample) -> list[CellMask] | None:
    """The sample's whole cells (``Sample.cells``), each with its own nucleus paired one to one
    (:func:`cervix.cells.whole.cell_nuclei`; the instance map's ids separate touching nuclei where
    there is one); None when the sample has no per-cell truth."""
    if s.cells is None or s.nucleus is None:
        return None
    return from_stack(s.cells, cell_nuclei(s.cells, s.nucleus, s.instances))


def _fields(records: list[Record], seg: torch.nn.Module, seg_cfg: Mapping[str, Any], progress: bool) -> list:
    """:class:`WholeCellField` of each record with per-cell truth (the first model's cytoplasm probability)."""
    kw = inference_kwargs(seg_cfg)
    out = []
    for rec in tqdm(records, desc="cell head: first-model probabilities", disable=not progress):
        s = rec.load()
        cells = whole_cell_truth(s)
        if not cells:
            continue
        probs = predict_tiled(seg, s.image, **kw)  # (2, H, W)
        out.append(WholeCellField(s.image, probs[0].astype(np.float32), cells))
    return out


def build_cell_model(cfg: Mapping[str, Any]) -> DualHeadAttConvNeXtUNet:
    """The cell head a run config describes (untrained): the first model's network, five input channels."""
    return DualHeadAttConvNeXtUNet(
        encoder=cfg["encoder"], pretrained=False, in_chans=5, decoder_channels=tuple(cfg["decoder_channels"])
    )


def _init_from(model: torch.nn.Module, seg: torch.nn.Module) -> None:
    """Copy the first model's weights into the cell head, its first conv adapted to five channels."""
    own = model.state_dict()
    state = {
        k: adapt_first_conv(v, own[k].shape[1]) if v.ndim == 4 and own[k].shape[1] != v.shape[1] else v
        for k, v in seg.state_dict().items()
    }
    model.load_state_dict(state)


def train_cell_head(
    seg_run: str | os.PathLike,
    *,
    profile: str | Profile | CellConfig | None = None,
    overrides: Mapping[str, Any] | None = None,
    augment: AugmentConfig | None = None,
    resume: bool = False,
    overwrite: bool = False,
    progress: bool = True,
) -> TrainResult:
    """Train the cell head of a segmentation run into ``<seg_run>/cells/``.

    It reads the run's own data, format and split (training and validation parts), the true whole
    cells of each image (:func:`whole_cell_truth`) and the first model's cytoplasm probabilities.

    Args:
        seg_run: the segmentation run folder (its ``best.pt``, ``config.json``, ``split.json``).
        profile: ``smoke`` / ``cpu`` / ``paper`` or a :class:`CellConfig`.
        overrides: :class:`CellConfig` fields to change.
        augment: augmentation strengths (default :class:`AugmentConfig`).
        resume / overwrite: the run-folder rules of :mod:`cervix.training.rundir`.
        progress: tqdm progress bars.

    Raises:
        NoCellTruthError: the run's training images have no per-cell truth, so there is nothing to learn.
    """
    cfg = cell_config(profile, overrides)
    seg_run = Path(seg_run)
    seg, seg_cfg = load_segmentation(seg_run, device="cpu")
    out = prepare_run_dir(seg_run / CELLS_DIR, resume=resume, overwrite=overwrite)
    train = _fields(run_records(seg_run, "train"), seg, seg_cfg, progress)
    val = _fields(run_records(seg_run, "val") or run_records(seg_run, "test"), seg, seg_cfg, progress) or train[:1]
    if not train:
        if not any(out.iterdir()):
            out.rmdir()
        raise NoCellTruthError(f"{seg_cfg['data']}: no per-cell truth in the training images of {seg_run}")
    aug = augment if augment is not None else AugmentConfig()
    kw = dict(window=max(32, round(cfg.window / float(seg_cfg.get("scale", 1.0)))), size=cfg.image_size)
    train_ds = CellWindowDataset(train, train=True, augment=aug, perturb_px=cfg.perturb_px, **kw)
    val_ds = CellWindowDataset(val, train=False, **kw)
    seed_everything(cfg.seed)
    run_config = {
        "task": "cells",
        "segmentation_run": str(seg_run.resolve()),
        "encoder": seg_cfg["encoder"],
        "decoder_channels": list(seg_cfg["decoder_channels"]),
        "in_chans": 5,
        "scale": float(seg_cfg.get("scale", 1.0)),
        "normalisation": seg_cfg.get("normalisation"),
        "n_train_cells": len(train_ds),
        "n_val_cells": len(val_ds),
        **to_dict(cfg),
    }
    model = build_cell_model(run_config)
    _init_from(model, seg)
    loss_fn = DualHeadLoss()
    tcfg = TrainConfig.from_config(cfg, progress=progress)
    history = fit(
        model,
        make_loader(train_ds, cfg.batch_size, shuffle=True, seed=cfg.seed, num_workers=cfg.num_workers),
        make_loader(val_ds, cfg.batch_size, shuffle=False, num_workers=cfg.num_workers),
        loss_fn,
        lambda m, loader: validate_segmentation(m, loader, loss_fn, (cfg.threshold, 0.5), cfg.amp),
        tcfg,
        out,
        config=run_config,
        resume=resume,
    )
    return TrainResult.of_run(out, history, cfg, {"train": len(train_ds), "val": len(val_ds)}, tcfg.monitor)


def load_cell_head(
    path: str | os.PathLike, device: str | torch.device | None = None
) -> tuple[DualHeadAttConvNeXtUNet, dict[str, Any]]:
    """Cell head (eval mode) and run config from ``RUN/cells/`` (or a checkpoint in it)."""
    return load_run_model(path, "cells", build_cell_model, device)


def find_cell_head(seg_path: str | os.PathLike) -> Path | None:
    """``<run>/cells/best.pt`` of a segmentation run folder or checkpoint, None when there is none."""
    p = Path(seg_path)
    run = p if p.is_dir() else p.parent
    ck = run / CELLS_DIR / "best.pt"
    return ck if ck.is_file() else None


def cell_head_of(seg_path: str | os.PathLike) -> tuple[DualHeadAttConvNeXtUNet, dict[str, Any]] | None:
    """The cell head (model and run config) of a segmentation run folder or checkpoint, None when
    the run has none."""
    ck = find_cell_head(seg_path)
    return load_cell_head(ck) if ck is not None else None
