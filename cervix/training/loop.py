"""One training loop shared by the segmentation and classification stages.

:func:`fit` trains any ``nn.Module`` with AdamW (Loshchilov & Hutter, ICLR 2019) under a linear
warm-up + cosine learning-rate schedule (Loshchilov & Hutter, SGDR, ICLR 2017) stepped per
iteration (:mod:`cervix.training.optim`), with gradient clipping, mixed precision (CUDA fp16 with a
GradScaler, CUDA or CPU bf16 autocast; :mod:`cervix.core.device`), early stopping on a monitored
validation metric, ``tqdm`` progress bars, ``history.csv`` + TensorBoard logging, and checkpoints
``best.pt`` / ``last.pt``.

Checkpoints hold only tensors and plain Python types, so they load with
``torch.load(path, weights_only=True)``, and are written atomically (:mod:`cervix.training.checkpoints`).
``last.pt`` carries everything needed to continue exactly (``resume=True``): weights, optimiser,
scheduler and scaler state, epoch, global step, best metric, early-stopping counter, history,
and the torch / numpy / python RNG states. The training order is reseeded per epoch
(:class:`cervix.training.sampling.EpochSampler`, seed + epoch), so on CPU a run interrupted after epoch
*k* and resumed ends with the same weights as the uninterrupted run.

Under ``torchrun`` (``RANK``/``WORLD_SIZE``/``LOCAL_RANK`` set) :func:`fit` initialises the
process group (:mod:`cervix.training.distributed`) and wraps the model in ``DistributedDataParallel``;
:func:`cervix.training.sampling.make_loader` shards the sampler across ranks. Only rank 0 evaluates (on
the full validation set), logs, prints and saves; its metrics and stop decision are broadcast.

A non-finite loss raises :class:`NonFiniteLossError`; the last good ``last.pt`` stays as it was.

The loop in reading order: :func:`fit` prepares the run (``_start``), restores ``last.pt``
(``_resume``), opens its outputs (``_open_outputs``) and runs the epochs (``_run_epochs``);
each epoch trains (``_train_epoch``, one ``_train_step`` per batch) and then ends
(``_end_epoch``: validation, history, early stopping, checkpoints and logging).
"""

from __future__ import annotations

import json
import os
import time
import warnings
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
import torch.distributed as dist
from torch import nn
from tqdm.auto import tqdm

from cervix.core.config import TrainConfig, to_dict
from cervix.core.device import autocast_context, device_and_amp, to_device
from cervix.core.files import atomic_write_csv, atomic_write_text
from cervix.training.checkpoints import (
    CHECKPOINT_FORMAT,
    check_plain,
    library_versions,
    load_checkpoint,
    load_weights,
    save_checkpoint,
)
from cervix.training.distributed import broadcast, ddp_active, setup_distributed
from cervix.training.history import History, _improved, stopping_signal
from cervix.training.optim import adamw_warmup_cosine
from cervix.training.rundir import check_same_settings
from cervix.training.sampling import rng_state, seed_everything, set_loader_epoch, set_rng_state

__all__ = [
    "NonFiniteLossError",
    "fit",
]


class NonFiniteLossError(RuntimeError):
    """Raised when the training loss becomes NaN or infinite."""


# ----------------------------------------------------------------------------- helpers
def _float(x: Any) -> float:
    return float(x.detach().float().item()) if isinstance(x, torch.Tensor) else float(x)


# ----------------------------------------------------------------------------- the loop
def fit(
    model: nn.Module,
    train_loader: Any,
    val_loader: Any,
    loss_fn: Callable[[Any, Any], Any],
    evaluate_fn: Callable[[nn.Module, Any], Mapping[str, float]] | None,
    cfg: TrainConfig,
    out_dir: str | os.PathLike,
    *,
    config: Any = None,
    resume: bool = False,
    device: str | torch.device | None = None,
    on_epoch_end: Callable[[History], Any] | None = None,
    extra_state: Mapping[str, Any] | None = None,
) -> History:
    """Train ``model`` and keep ``best.pt`` / ``last.pt`` in ``out_dir``.

    Args:
        model: the network; moved to the device (and wrapped in DDP under torchrun).
        train_loader: iterable of ``(inputs, targets)`` batches (tensors or nested lists/dicts of
            tensors); use :func:`cervix.training.sampling.make_loader` for reproducible per-epoch order and
            DDP sharding. ``len(train_loader)`` gives the steps per epoch of the LR schedule.
        val_loader: passed to ``evaluate_fn`` (may be None).
        loss_fn: ``loss_fn(model_output, targets) -> loss`` or ``(loss, {name: part})``; called
            outside autocast on float32 outputs.
        evaluate_fn: ``evaluate_fn(model, val_loader) -> {metric: float}`` on the unwrapped model
            (``fit`` puts it in eval mode and no-grad, then back to train). None = no validation;
            then monitor ``train_loss``.
        cfg: :class:`TrainConfig` (see :meth:`TrainConfig.from_config`).
        out_dir: run folder; gets ``config.json``, ``history.csv``, TensorBoard events,
            ``best.pt`` and ``last.pt``.
        config: the run's description (dataclass or dict: task, class names, in_chans,
            normalisation, image size, scale, thresholds, ...), stored in ``config.json`` and as a
            plain dict under ``"config"`` in every checkpoint.
        resume: continue from ``out_dir/last.pt`` if it exists (weights, optimiser, scheduler,
            epoch, RNG, early-stopping state, history). A run that stopped early stays stopped.
        device: default CUDA when available, else CPU.
        on_epoch_end: ``callback(history)`` after each epoch's checkpoints are written (rank 0);
            returning True stops training (``stop_reason="callback"``).
        extra_state: plain data stored under ``"extra"`` in checkpoints.

    Seeds python/numpy/torch with ``cfg.seed`` when it starts (seed before building the model too,
    so the initial weights are reproducible).

    Returns:
        :class:`History`.

    Raises:
        NonFiniteLossError: NaN/inf loss; ``last.pt`` from the last finished epoch is kept.
        KeyError: ``cfg.monitor`` is not among the epoch's metrics.
    """
    out = Path(out_dir)
    rank, world, _ = setup_distributed()
    dev, amp_dtype, use_scaler = device_and_amp(cfg.amp, device)
    if rank == 0:
        out.mkdir(parents=True, exist_ok=True)
    loop = _start(
        model,
        train_loader,
        evaluate_fn,
        cfg,
        out,
        config,
        extra_state,
        main=rank == 0,
        world=world,
        dev=dev,
        amp_dtype=amp_dtype,
        use_scaler=use_scaler,
    )
    restored_rng = _resume(loop) if resume else None
    if loop.history.stop_reason:  # the resumed run had already stopped early
        return loop.history
    _open_outputs(loop)
    if restored_rng is not None:
        set_rng_state(restored_rng)  # last thing before the loop: nothing may draw in between
    _run_epochs(loop, train_loader, val_loader, loss_fn, evaluate_fn, on_epoch_end)
    if ddp_active():
        dist.barrier()
    return loop.history


@dataclass
class _Loop:
    """What :func:`fit` carries from step to step and epoch to epoch (and saves in checkpoints)."""

    cfg: TrainConfig
    out: Path  # run folder
    main: bool  # rank 0 (or a single process): evaluates, logs, prints and saves
    world: int  # number of processes
    dev: torch.device
    amp_dtype: torch.dtype | None  # autocast dtype; None = no autocast
    bare: nn.Module  # the unwrapped model: evaluated and saved
    model: nn.Module  # what trains: ``bare`` or its DistributedDataParallel wrapper
    optimizer: torch.optim.Optimizer
    scheduler: torch.optim.lr_scheduler.LambdaLR
    scaler: torch.amp.GradScaler | None  # fp16 on CUDA only
    history: History
    plain_config: dict[str, Any]  # the run's description (``config`` of fit) as plain data
    train_dict: dict[str, Any]  # ``cfg`` as a dict
    extra_state: Mapping[str, Any] | None
    steps_per_epoch: int  # len(train_loader) on this rank
    start_epoch: int = 0  # epochs done before this call (resume)
    global_step: int = 0  # optimiser steps so far
    bad_epochs: int = 0  # epochs since the stopping signal last improved
    elapsed: float = 0.0  # training seconds so far, resumed runs included
    stop_best: float | None = None  # best stopping signal so far (see stopping_signal)
    writer: Any = None  # TensorBoard SummaryWriter (rank 0, cfg.tensorboard) or None

    @property
    def last_path(self) -> Path:
        """``out/last.pt``: the checkpoint to resume from."""
        return self.out / "last.pt"

    @property
    def show(self) -> bool:
        """Progress bars on."""
        return self.cfg.progress and self.main

    def checkpoint(self, epoch: int, stop_reason: str) -> dict[str, Any]:
        """The state saved in ``best.pt`` / ``last.pt`` after ``epoch`` (1-based)."""
        cfg, history = self.cfg, self.history
        return {
            "format": CHECKPOINT_FORMAT,
            "format_version": 1,
            "model": self.bare.state_dict(),
            "optimizer": self.optimizer.state_dict(),
            "scheduler": self.scheduler.state_dict(),
            "scaler": self.scaler.state_dict() if self.scaler is not None else None,
            "epoch": epoch,
            "global_step": self.global_step,
            "monitor": cfg.monitor,
            "mode": cfg.mode,
            "best_metric": history.best_metric,
            "best_epoch": history.best_epoch,
            "bad_epochs": self.bad_epochs,
            "stop_best": self.stop_best,
            "stop_reason": stop_reason,
            "elapsed_s": self.elapsed,
            "history": [dict(r) for r in history.rows],
            "rng": rng_state(),
            "config": self.plain_config,
            "train_config": self.train_dict,
            "versions": library_versions(),
            "world_size": self.world,
            "extra": to_dict(dict(self.extra_state or {})),
        }


def _start(
    model: nn.Module,
    train_loader: Any,
    evaluate_fn: Callable | None,
    cfg: TrainConfig,
    out: Path,
    config: Any,
    extra_state: Mapping[str, Any] | None,
    *,
    main: bool,
    world: int,
    dev: torch.device,
    amp_dtype: torch.dtype | None,
    use_scaler: bool,
) -> _Loop:
    """Check the inputs, seed, move the model to ``dev`` and build the optimiser (AdamW),
    the warm-up + cosine schedule and the fp16 GradScaler."""
    plain_config = to_dict(config) if config is not None else {}
    if not isinstance(plain_config, dict):
        raise TypeError("config must be a dataclass or a dict")
    check_plain(plain_config, "config")
    train_dict = to_dict(cfg)

    if evaluate_fn is None and not cfg.monitor.startswith("train_"):
        raise ValueError(f"monitor {cfg.monitor!r} needs an evaluate_fn; without one monitor 'train_loss'")
    steps_per_epoch = len(train_loader)
    if steps_per_epoch == 0:
        raise ValueError("the training loader is empty (dataset smaller than one batch with drop_last?)")
    total_steps = cfg.epochs * steps_per_epoch
    warmup_steps = int(round(cfg.warmup_epochs * steps_per_epoch))

    seed_everything(cfg.seed)
    model.to(dev)
    optimizer, scheduler = adamw_warmup_cosine(model, cfg.lr, cfg.weight_decay, cfg.min_lr, total_steps, warmup_steps)
    scaler = torch.amp.GradScaler(dev.type, enabled=use_scaler) if use_scaler else None
    history = History(monitor=cfg.monitor, mode=cfg.mode, out_dir=str(out))
    return _Loop(
        cfg=cfg,
        out=out,
        main=main,
        world=world,
        dev=dev,
        amp_dtype=amp_dtype,
        bare=model,
        model=model,
        optimizer=optimizer,
        scheduler=scheduler,
        scaler=scaler,
        history=history,
        plain_config=plain_config,
        train_dict=train_dict,
        extra_state=extra_state,
        steps_per_epoch=steps_per_epoch,
    )


def _resume(loop: _Loop) -> Any:
    """Restore the run from ``last.pt`` if there is one; its RNG states (None without one).

    A run that had stopped early stays stopped: ``loop.history.stop_reason`` says so.
    """
    last_path = loop.last_path
    if not last_path.is_file():
        if loop.main:
            tqdm.write(f"no {last_path} to resume from; starting a new run")
        return None
    ck = load_checkpoint(last_path, map_location="cpu")
    check_same_settings(
        last_path,
        {**dict(ck.get("config") or {}), **dict(ck.get("train_config") or {})},
        {**loop.plain_config, **loop.train_dict},
    )
    load_weights(loop.bare, ck["model"], last_path)
    loop.optimizer.load_state_dict(ck["optimizer"])
    loop.scheduler.load_state_dict(ck["scheduler"])
    if loop.scaler is not None and ck.get("scaler"):
        loop.scaler.load_state_dict(ck["scaler"])
    loop.start_epoch, loop.global_step = int(ck["epoch"]), int(ck["global_step"])
    history = loop.history
    history.rows = [dict(r) for r in ck.get("history", [])]
    history.best_metric, history.best_epoch = ck.get("best_metric"), ck.get("best_epoch")
    loop.bad_epochs, loop.elapsed = int(ck.get("bad_epochs", 0)), float(ck.get("elapsed_s", 0.0))
    loop.stop_best = ck.get("stop_best")
    if ck.get("stop_reason") == "early stopping":
        history.stop_reason = "early stopping"
        if loop.main:
            tqdm.write(f"{last_path}: the run already stopped early at epoch {loop.start_epoch}; nothing to resume")
        return None
    if loop.main:
        tqdm.write(f"resuming from {last_path} after epoch {loop.start_epoch}")
    return ck.get("rng")


def _open_outputs(loop: _Loop) -> None:
    """Wrap the model in DDP under torchrun; on rank 0 write ``config.json`` and open TensorBoard."""
    if ddp_active():
        ddp_kw = {"device_ids": [loop.dev.index]} if loop.dev.type == "cuda" else {}
        loop.model = nn.parallel.DistributedDataParallel(loop.bare, **ddp_kw)
    if loop.main:
        run = {
            **loop.plain_config,
            "train_config": loop.train_dict,
            "world_size": loop.world,
            "versions": library_versions(),
        }
        atomic_write_text(loop.out / "config.json", json.dumps(run, indent=2, sort_keys=False, default=str))
        if loop.cfg.tensorboard:
            from torch.utils.tensorboard import SummaryWriter

            loop.writer = SummaryWriter(log_dir=str(loop.out), purge_step=loop.global_step or None)


def _run_epochs(
    loop: _Loop,
    train_loader: Any,
    val_loader: Any,
    loss_fn: Callable[[Any, Any], Any],
    evaluate_fn: Callable[[nn.Module, Any], Mapping[str, float]] | None,
    on_epoch_end: Callable[[History], Any] | None,
) -> None:
    """Train the remaining epochs until the last or a stop; set ``history.stop_reason``."""
    cfg = loop.cfg
    epoch_bar = tqdm(
        range(loop.start_epoch, cfg.epochs),
        desc="epochs",
        disable=not loop.show,
        initial=loop.start_epoch,
        total=cfg.epochs,
        dynamic_ncols=True,
    )
    stop_reason = "completed"
    try:
        for epoch in epoch_bar:
            t0 = time.perf_counter()
            row = _train_epoch(loop, epoch, train_loader, loss_fn)
            stop_reason = _end_epoch(loop, epoch, row, t0, val_loader, evaluate_fn, on_epoch_end, epoch_bar)
            if stop_reason:
                if loop.main:
                    tqdm.write(f"stopping after epoch {epoch + 1}: {stop_reason}")
                break
        else:
            stop_reason = "completed"
    finally:
        epoch_bar.close()
        if loop.writer is not None:
            loop.writer.close()
    loop.history.stop_reason = stop_reason or "completed"


# ----------------------------------------------------------------------------- one epoch: training
def _train_epoch(loop: _Loop, epoch: int, train_loader: Any, loss_fn: Callable[[Any, Any], Any]) -> dict[str, Any]:
    """One pass over the training loader (``epoch`` 0-based); the epoch's history row so far:
    epoch, step, lr, train_loss (mean over all ranks) and train_<part> (this rank's mean)."""
    cfg = loop.cfg
    set_loader_epoch(train_loader, epoch, cfg.seed)
    loop.model.train()
    loss_sum = torch.zeros(2, dtype=torch.float64)  # (sum, count)
    parts_sum: dict[str, float] = {}
    bar = tqdm(
        train_loader, desc=f"epoch {epoch + 1}/{cfg.epochs}", leave=False, disable=not loop.show, dynamic_ncols=True
    )
    for batch in bar:
        loss, parts = _train_step(loop, epoch, batch, loss_fn)
        lv = _float(loss)
        loss_sum += torch.tensor([lv, 1.0], dtype=torch.float64)
        for k, v in dict(parts).items():
            parts_sum[k] = parts_sum.get(k, 0.0) + _float(v)
        lr = loop.optimizer.param_groups[0]["lr"]
        if loop.show:
            bar.set_postfix(loss=f"{lv:.4f}", lr=f"{lr:.2e}")
        if loop.writer is not None and cfg.log_every and loop.global_step % cfg.log_every == 0:
            loop.writer.add_scalar("step/train_loss", lv, loop.global_step)
            loop.writer.add_scalar("step/lr", lr, loop.global_step)
    bar.close()
    if ddp_active():
        dist.all_reduce(loss_sum)
    n_steps = max(1.0, float(loss_sum[1]))
    row: dict[str, Any] = {
        "epoch": epoch + 1,
        "step": loop.global_step,
        "lr": loop.optimizer.param_groups[0]["lr"],
        "train_loss": float(loss_sum[0]) / n_steps,
    }
    local_steps = max(1, loop.steps_per_epoch)
    row.update({f"train_{k}": v / local_steps for k, v in parts_sum.items()})
    return row


def _train_step(loop: _Loop, epoch: int, batch: Any, loss_fn: Callable[[Any, Any], Any]) -> tuple[Any, Any]:
    """Forward (under autocast), loss (float32, outside autocast), finiteness check, backward,
    clipping, optimiser and scheduler step; ``(loss, parts)``."""
    inputs, targets = to_device(batch[0], loop.dev), to_device(batch[1], loop.dev)
    with autocast_context(loop.dev, loop.amp_dtype):
        output = loop.model(inputs)
    if isinstance(output, torch.Tensor):
        output = output.float()
    res = loss_fn(output, targets)
    loss, parts = res if isinstance(res, tuple) else (res, {})
    _check_finite(loop, epoch, loss)
    _optimizer_step(loop, loss)
    loop.global_step += 1
    return loss, parts


def _check_finite(loop: _Loop, epoch: int, loss: torch.Tensor) -> None:
    """Raise :class:`NonFiniteLossError` when the loss is NaN/inf on any rank."""
    finite = torch.isfinite(loss.detach()).to(torch.float32)
    if ddp_active():
        dist.all_reduce(finite, op=dist.ReduceOp.MIN)
    if finite.item() < 1:
        msg = f"non-finite loss ({_float(loss)}) at epoch {epoch + 1}, step {loop.global_step + 1}; training stopped. "
        msg += (
            f"The last good checkpoint is {loop.last_path} (epoch {epoch})."
            if loop.last_path.is_file()
            else "No checkpoint was written yet."
        )
        msg += " Try a lower lr, grad_clip, or amp='none'."
        raise NonFiniteLossError(msg)


def _optimizer_step(loop: _Loop, loss: torch.Tensor) -> None:
    """Backward, gradient clipping (unscaled first under the fp16 GradScaler), optimiser step,
    then one step of the per-iteration LR schedule."""
    cfg, optimizer, scaler = loop.cfg, loop.optimizer, loop.scaler
    optimizer.zero_grad(set_to_none=True)
    if scaler is not None:
        scaler.scale(loss).backward()
        if cfg.grad_clip:
            scaler.unscale_(optimizer)
            nn.utils.clip_grad_norm_(loop.bare.parameters(), cfg.grad_clip)
        scaler.step(optimizer)
        scaler.update()
    else:
        loss.backward()
        if cfg.grad_clip:
            nn.utils.clip_grad_norm_(loop.bare.parameters(), cfg.grad_clip)
        optimizer.step()
    with warnings.catch_warnings():  # GradScaler skipping an fp16 step is normal
        warnings.filterwarnings("ignore", ".*lr_scheduler.step.*optimizer.step.*")
        loop.scheduler.step()


# ----------------------------------------------------------------------------- one epoch: the end
def _end_epoch(
    loop: _Loop,
    epoch: int,
    row: dict[str, Any],
    t0: float,
    val_loader: Any,
    evaluate_fn: Callable[[nn.Module, Any], Mapping[str, float]] | None,
    on_epoch_end: Callable[[History], Any] | None,
    epoch_bar: Any,
) -> str:
    """Validate (rank 0), record the epoch, decide whether to stop, then save and report (rank 0).

    Returns:
        The stop reason ("" = train on), the same on every rank.
    """
    metrics: dict[str, float] | None = None
    if loop.main and evaluate_fn is not None:
        loop.bare.eval()
        with torch.no_grad():
            metrics = {k: _float(v) for k, v in dict(evaluate_fn(loop.bare, val_loader)).items()}
        loop.bare.train()
    metrics = broadcast(metrics)
    row.update(metrics or {})
    loop.elapsed += time.perf_counter() - t0
    row["time_s"] = round(time.perf_counter() - t0, 3)
    value, is_best = _record_epoch(loop, epoch, row)
    stop_reason = _stop_reason(loop, epoch)
    if loop.main:
        stop_reason = _save_and_report(loop, epoch, row, value, is_best, stop_reason, epoch_bar, on_epoch_end)
    return broadcast(stop_reason)


def _record_epoch(loop: _Loop, epoch: int, row: dict[str, Any]) -> tuple[float, bool]:
    """Append ``row`` to the history, track the best monitored value (for ``best.pt``) and the
    early-stopping counter; ``(monitored value, is it the best so far)``."""
    cfg, history = loop.cfg, loop.history
    if cfg.monitor not in row:
        raise KeyError(f"monitor {cfg.monitor!r} not among the epoch's metrics {sorted(row)}")
    value = float(row[cfg.monitor])
    is_best = _improved(value, history.best_metric, cfg.mode)
    if is_best:
        history.best_metric, history.best_epoch = value, epoch + 1
    history.rows.append(row)
    # early stopping judges a smoothed monitor against a min_delta; best.pt stays on the raw one
    signal = stopping_signal(history[cfg.monitor], cfg.early_stopping_window)
    if _improved(signal, loop.stop_best, cfg.mode, cfg.early_stopping_min_delta):
        loop.stop_best, loop.bad_epochs = signal, 0
    else:
        loop.bad_epochs += 1
    return value, is_best


def _stop_reason(loop: _Loop, epoch: int) -> str:
    """ "early stopping" (patience exhausted), "time budget" (the next epoch would exceed
    ``max_train_minutes``) or "" (train on)."""
    cfg = loop.cfg
    if cfg.early_stopping_patience is not None and loop.bad_epochs >= cfg.early_stopping_patience:
        return "early stopping"
    if cfg.max_train_minutes is not None and epoch + 1 < cfg.epochs:
        per_epoch = loop.elapsed / (epoch + 1)  # mean epoch time, resumed runs included
        if loop.elapsed + per_epoch > cfg.max_train_minutes * 60:
            return "time budget"
    return ""


def _save_and_report(
    loop: _Loop,
    epoch: int,
    row: dict[str, Any],
    value: float,
    is_best: bool,
    stop_reason: str,
    epoch_bar: Any,
    on_epoch_end: Callable[[History], Any] | None,
) -> str:
    """Rank 0 after each epoch: checkpoints, ``history.csv``, TensorBoard, the progress bar, the
    callback (which may stop the run) and the time-budget warning; the stop reason."""
    cfg, history, out = loop.cfg, loop.history, loop.out
    if is_best:
        save_checkpoint(out / "best.pt", loop.checkpoint(epoch + 1, ""))
    save_checkpoint(loop.last_path, loop.checkpoint(epoch + 1, stop_reason))
    atomic_write_csv(out / "history.csv", history.rows)
    if loop.writer is not None:
        for k, v in row.items():
            if k not in ("epoch", "step") and isinstance(v, (int, float)):
                loop.writer.add_scalar(f"epoch/{k}", v, epoch + 1)
        loop.writer.flush()
    epoch_bar.set_postfix(
        {cfg.monitor: f"{value:.4f}", "best": f"{history.best_metric:.4f}" if history.best_metric is not None else "-"}
    )
    if on_epoch_end is not None and on_epoch_end(history) is True and not stop_reason:
        stop_reason = "callback"
    if stop_reason == "time budget":  # after the callback, whose live plot clears the cell
        # stacklevel 5: fit's caller (fit -> _run_epochs -> _end_epoch -> here)
        warnings.warn(
            f"{out}: max_train_minutes={cfg.max_train_minutes} stopped training after "
            f"epoch {epoch + 1} of {cfg.epochs}: this model is weaker than the "
            "configured one and depends on the machine's speed; raise "
            "max_train_minutes (None = no cap) to train all epochs",
            stacklevel=5,
        )
    return stop_reason
