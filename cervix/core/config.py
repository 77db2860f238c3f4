"""Dataclass configurations and run profiles.

One dataclass per stage — :class:`SegConfig` (dual-head attention ConvNeXt U-Net) and
:class:`ClsConfig` (5-channel ConvNeXt attention classifier) — plus the settings of the synthetic
data generator, bundled into a :class:`Profile`. Three profiles exist:

- ``smoke``: CI; tiny data, ``convnext_atto``, 128 px patches, a few epochs; each notebook under 2
  minutes on 2 CPU cores, with models that find something (not a green wash).
- ``cpu`` (default): ``convnext_atto``, 256 px segmentation patches, 128 px classifier crops,
  bf16 autocast; meaningful results on synthetic data on a laptop-class CPU.
- ``paper``: the original description's settings (``convnext_tiny``; segmentation 1024 px, 100 epochs, batch 8,
  lr 1e-4; classification 256 px, 50 epochs, batch 16, lr 1e-4), meant for a GPU.

The profile is chosen with :func:`get_profile`, by name or from the ``CERVIX_PROFILE``
environment variable. Configs round-trip through JSON with :func:`to_dict` / :func:`from_dict`;
override single fields with :func:`dataclasses.replace`.

The loop knobs shared by both stages are declared once, in :class:`LoopConfig`, which both stage
configs and :class:`cervix.core.config.TrainConfig` inherit, so ``TrainConfig.from_config(seg_cfg)``
picks them up.
"""

from __future__ import annotations

import dataclasses
import os
import types
import typing
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, TypeVar

from cervix.core.device import AMP_CHOICES

__all__ = [
    "MIN_NUCLEUS_SCORE",
    "run_min_nucleus_score",
    "TrainConfig",
    "LoopConfig",
    "SegConfig",
    "ClsConfig",
    "CellConfig",
    "Profile",
    "PROFILES",
    "get_profile",
    "profile_name",
    "profile_names",
    "profile_banner",
    "floor_shortfalls",
    "to_dict",
    "from_dict",
    "apply_overrides",
    "stage_config",
]

T = TypeVar("T")


@dataclass
class LoopConfig:
    """The training-loop knobs both stages share, declared once.

    :class:`SegConfig` and :class:`ClsConfig` inherit them (changing the defaults that differ per
    stage) and :class:`cervix.core.config.TrainConfig` adds the loop's own switches, so
    ``TrainConfig.from_config(stage_cfg)`` picks them up by name. Optimiser AdamW (Loshchilov &
    Hutter, ICLR 2019) with linear warm-up and cosine decay.
    """

    epochs: int = 10  # passes over the training loader
    lr: float = 1e-3  # AdamW peak learning rate after warm-up
    weight_decay: float = 0.05  # AdamW decoupled weight decay (not applied to norms and biases)
    warmup_epochs: float = 1.0  # linear warm-up length in epochs (fractions allowed; 0 = none)
    min_lr: float = 1e-6  # floor of the cosine schedule
    grad_clip: float | None = 1.0  # max global gradient norm; None disables clipping
    amp: str = "none"  # "none" | "bf16" | "fp16" (fp16 only on CUDA, with GradScaler; bf16 on CPU)
    monitor: str = "val_loss"  # key of the validation scores (or "train_loss") that selects best.pt
    mode: str = "min"  # "min" or "max": direction in which the monitor improves
    early_stopping_patience: int | None = None  # epochs without improvement before stopping; None = never
    early_stopping_window: int = 1  # early stopping judges the median monitor of the last this-many epochs
    early_stopping_min_delta: float = 0.0  # smaller improvements of that median do not count
    seed: int = 0  # seeds python, numpy, torch and the sampler order
    max_train_minutes: float | None = None  # wall-clock budget: stop before an epoch that would exceed it


#: Smallest mean probability of a kept nucleus (cervix.cells.instances.suppress_weak_nuclei), the
#: default of the segmentation runs; runs recorded before it had none and get it. Chosen on the 6
#: synthetic validation fields of five `cpu`-profile models (two seeds without fading, three with):
#: mean nucleus detection F1 0.655 keeping all, 0.675 at 0.8, 0.693 at 0.85, 0.678 at 0.9 (0.9
#: drops true nuclei: nucleus Dice 0.787 -> 0.747); see the README.
MIN_NUCLEUS_SCORE: float = 0.85


def run_min_nucleus_score(cfg: Mapping[str, Any]) -> float:
    """The nucleus score of a segmentation run's config (runs recorded before it existed: the default)."""
    return float(cfg.get("min_nucleus_score", MIN_NUCLEUS_SCORE))


@dataclass
class SegConfig(LoopConfig):
    """Segmentation stage: model, patch sampling, optimisation and tiled inference."""

    # --- model
    encoder: str = "convnext_atto"  # timm backbone, CPU-sized; the original (and the models' default): convnext_tiny
    pretrained: bool | str = False  # False offline; True downloads ImageNet weights; or a local file path
    decoder_channels: tuple[int, ...] = (256, 128, 64)  # the original description's decoder widths
    # --- data
    image_size: int = 256  # training patch side in pixels (multiple of 32)
    scale: float = 1.0  # resize factor applied to every image before patching; reused by inference
    patches_per_image: int = 4  # random patches drawn per field per epoch
    # magnification of a training patch, drawn log-uniformly: a window of image_size / s pixels
    # resized to image_size (cervix.data.augment.scale_view)
    scale_range: tuple[float, float] = (1.0, 1.0)  # (1.0, 1.0) = plain crops at the run's scale
    cell_views: float = 0.0  # fraction of patches that are single-cell crop views (one cell magnified, letterboxed)
    val_fraction: float = 0.15  # fraction of fields held out for validation (grouped split)
    test_fraction: float = 0.15  # fraction of fields held out for the final test
    num_workers: int = 0  # DataLoader workers (0 = main process; deterministic and cheap on 2 cores)
    batch_size: int = 8  # patches per step
    # --- the loop (LoopConfig), with this stage's defaults
    epochs: int = 12  # passes over the training patches
    amp: str = "bf16"  # "none" | "bf16" | "fp16" (fp16 only on CUDA, with GradScaler)
    monitor: str = "val_dice"  # metric that selects best.pt (mean Dice of both heads)
    mode: str = "max"  # "max": larger monitor is better
    early_stopping_patience: int | None = 5  # epochs without improvement before stopping; None = never
    early_stopping_window: int = 3  # early stopping judges the median monitor of the last 3 epochs
    # --- loss (Dice + BCE per head)
    bce_weight: float = 1.0  # weight of the BCE term in each head's loss
    dice_weight: float = 1.0  # weight of the Dice term in each head's loss
    head_weights: tuple[float, float] = (1.0, 1.0)  # (cytoplasm, nucleus) weights of the two heads
    # --- inference
    thresholds: tuple[float, float] = (0.5, 0.5)  # (cytoplasm, nucleus) probability thresholds
    min_nucleus_score: float = MIN_NUCLEUS_SCORE  # nuclei of a lower mean probability are left out
    tile: int = 256  # sliding-window side for tiled inference (multiple of 32)
    overlap: float = 0.25  # fraction of the tile shared by neighbouring windows
    tta: bool = False  # flip test-time augmentation (identity, hflip, vflip averaged)


@dataclass
class CellConfig(LoopConfig):
    """The cell head: whole (overlapping) cells from a window around each nucleus."""

    # --- data
    window: int = 256  # window side in field pixels around a nucleus (ISBI 2014 cells reach ~126 px from it)
    # model input side the window is resized to (multiple of 32); the window's own side: on the ISBI
    # 2014 development split (images 22-24) matched Dice 0.922 at 256 vs 0.902 at 128 (30 epochs)
    image_size: int = 256
    perturb_px: int = 3  # training: largest erosion/dilation and shift of the given nucleus (input px)
    centre_jitter: float = 0.08  # training: shift of the window centre, fraction of the window
    num_workers: int = 0  # DataLoader workers
    batch_size: int = 16  # windows per step
    # --- the loop (LoopConfig), with this stage's defaults
    epochs: int = 8  # passes over the training cells (fixed: early stopping off)
    amp: str = "bf16"  # "none" | "bf16" | "fp16" (fp16 only on CUDA, with GradScaler)
    monitor: str = "val_dice"  # metric that selects best.pt (mean Dice of whole cell and own nucleus)
    mode: str = "max"  # "max": larger monitor is better
    # --- inference
    threshold: float = 0.5  # whole-cell probability threshold

    def __post_init__(self) -> None:
        if self.image_size < 32 or self.image_size % 32:
            raise ValueError(f"cell head image_size must be a positive multiple of 32, got {self.image_size}")


@dataclass
class ClsConfig(LoopConfig):
    """Classification stage: 5-channel (RGB + cytoplasm + nucleus) crops."""

    # --- model
    encoder: str = "convnext_atto"  # timm backbone, CPU-sized; the original (and the models' default): convnext_tiny
    pretrained: bool | str = False  # False offline; True downloads ImageNet weights; or a local file path
    in_chans: int = 5  # 5 = RGB + cytoplasm + nucleus masks; 3 = RGB-only ablation
    # --- data
    image_size: int = 128  # crops (and masks) are resized to this side
    grouping: str | None = None  # None / "5" = 5 SIPaKMeD classes; "3" or "2" for the coarse groupings
    folds: int = 1  # 1 = one grouped train/val/test split; k > 1 = grouped k-fold cross-validation
    val_fraction: float = 0.15  # fraction of groups held out for validation
    test_fraction: float = 0.15  # fraction of groups held out for the final test
    balanced_sampling: bool = False  # draw training crops with inverse class-frequency weights
    class_weights: bool = True  # weight the cross-entropy by inverse class frequency
    label_smoothing: float = 0.0  # cross-entropy label smoothing (0 keeps probabilities calibratable)
    mask_dropout: float = 0.2  # training: probability of blanking both mask channels of a crop
    mask_jitter: float = 0.3  # training: probability of eroding/dilating/shifting its masks
    num_workers: int = 0  # DataLoader workers
    batch_size: int = 32  # crops per step
    # --- the loop (LoopConfig), with this stage's defaults
    epochs: int = 15  # passes over the training crops
    amp: str = "bf16"  # "none" | "bf16" | "fp16" (fp16 only on CUDA, with GradScaler)
    monitor: str = "val_f1_macro"  # metric that selects best.pt
    mode: str = "max"  # "max": larger monitor is better
    early_stopping_patience: int | None = 5  # epochs without improvement before stopping; None = never
    early_stopping_window: int = 3  # early stopping judges the median monitor of the last 3 epochs


@dataclass
class Profile:
    """A named bundle of stage configs and synthetic-data settings.

    ``synth`` holds keyword arguments of ``cervix.synthetic.dataset.generate`` (``seed``, ``n_fields``,
    ``n_crops``, ``size`` = crop side or None for the fields' pixel scale, ``field_size``, ``difficulty``), so
    ``generate(out, **profile.synth)`` works.
    """

    name: str  # profile name: "smoke", "cpu" or "paper"
    seg: SegConfig = field(default_factory=SegConfig)  # segmentation stage
    cls: ClsConfig = field(default_factory=ClsConfig)  # classification stage
    cells: CellConfig = field(default_factory=CellConfig)  # the cell head (epochs 0 = not trained)
    synth: dict[str, Any] = field(default_factory=dict)  # cervix.synthetic.dataset.generate keyword arguments
    floors: dict[str, float] = field(default_factory=dict)  # test-metric floors of a full run; empty = none


#: The CPU profiles train in float32: bf16 autocast only pays where the CPU computes in bf16
#: (AVX512-BF16 or AMX). On a 2-core machine without them (no AVX-512 at all), one `cpu`-profile
#: segmentation step took 27 s with bf16 and 1.6 s in float32 (2026-12-06).
CPU_AMP = "none"

#: The `cpu` profile's cell head: its 256 px window read at 128 px, 16 fixed epochs, chosen on the
#: 6 synthetic validation fields of the synthetic `cpu` run (2026-12-07, 2 cores, float32; whole
#: cells matched Dice / FNo / detection F1): 8 epochs 4.2 min, 0.898 / 0.329 / 0.70; 16 epochs
#: 5.8 min, 0.897 / 0.280 / 0.77; 24 epochs 8.9 min, 0.902 / 0.256 / 0.75. At 256 px, 24 epochs
#: took 27.5 min for 0.906 / 0.232 / 0.78. Real ISBI training used 256 px (see README).
CPU_CELL_IMAGE_SIZE = 128
CPU_CELL_EPOCHS = 16


def _smoke() -> Profile:
    # A check that every step runs, each notebook well under 2 minutes on 2 CPU cores, yet long
    # enough that both heads find something (a smoke `segment` reaches nucleus Dice > 0.3, tested)
    # and the classifier gets some crops right: ~50 segmentation steps of 128 px patches.
    return Profile(
        name="smoke",
        seg=SegConfig(
            amp=CPU_AMP,
            image_size=128,
            patches_per_image=8,
            epochs=8,
            batch_size=8,
            lr=2e-3,
            warmup_epochs=0.5,
            early_stopping_patience=None,
            tile=128,
            overlap=0.25,
            min_nucleus_score=0.0,  # ~50 steps leave even true nuclei below any score
        ),
        cls=ClsConfig(
            amp=CPU_AMP,
            image_size=64,
            epochs=10,
            batch_size=8,
            lr=2e-3,
            warmup_epochs=0.5,
            early_stopping_patience=None,
        ),
        cells=CellConfig(amp=CPU_AMP, image_size=64, epochs=2, batch_size=8, lr=2e-3, warmup_epochs=0.5),
        synth=dict(seed=0, n_fields=8, n_crops=40, size=None, field_size=256, difficulty=0.5),
    )


def _cpu() -> Profile:
    # Sized for all five notebooks in under 25 minutes on the 2-core bf16 machine of 2026-11-27
    # (segmentation ~560 steps: 28 fields x 16 patches / 8 per batch x 10 epochs, ~8 min; each
    # classifier run, main + 2 ablation runs in notebook 04, 30 epochs of ~700 crops, ~1.5 min).
    # On 2 float32 cores without AVX-512 (2026-12-07): segmentation 18 min, the cell head 6 min,
    # each classifier run 8 min. The training length is fixed in epochs; the time caps are
    # safety nets well above it, so a slower machine gives the same model, later.
    return Profile(
        name="cpu",
        seg=SegConfig(
            amp=CPU_AMP,
            image_size=256,
            patches_per_image=16,
            epochs=10,
            batch_size=8,
            lr=1e-3,
            # max_train_minutes: a safety net ~3x above the ~8 minutes 10 epochs take on 2 cores
            warmup_epochs=1.0,
            early_stopping_patience=5,
            max_train_minutes=30.0,
            tile=256,
        ),
        # early stopping off: on a validation set of ~100 cells the macro F1 moves by more from
        # epoch to epoch than the model improves, and stopping cuts off the low-lr end of the
        # cosine schedule (on real Herlev cells patience 8 would have stopped at epoch 19 of 101,
        # val F1 0.80 vs 0.84 at epoch 72; 7 classes: epoch 12, 0.36 vs 0.57); best.pt still
        # picks the best epoch
        cls=ClsConfig(
            amp=CPU_AMP,
            image_size=128,
            epochs=30,
            batch_size=32,
            lr=1e-3,
            warmup_epochs=1.0,
            early_stopping_patience=None,
            max_train_minutes=15.0,
        ),
        cells=CellConfig(amp=CPU_AMP, image_size=CPU_CELL_IMAGE_SIZE, epochs=CPU_CELL_EPOCHS),
        # clumping 0.5: a median 31% of each cell under other cells (ISBI 2014: 28%; 0: 11%), 40 fields
        synth=dict(seed=0, n_fields=40, n_crops=1000, size=None, field_size=512, difficulty=0.5, clumping=0.5),
        # below what the 2026-11-27 `make run` reached (Dice 0.992 / 0.885, accuracy 0.828, F1 0.823)
        floors=dict(dice_cytoplasm=0.95, dice_nucleus=0.80, accuracy=0.75, f1_macro=0.70),
    )


def _paper() -> Profile:
    return Profile(
        name="paper",
        seg=SegConfig(
            encoder="convnext_tiny",
            image_size=1024,
            patches_per_image=1,
            epochs=100,
            batch_size=8,
            lr=1e-4,
            warmup_epochs=5.0,
            early_stopping_patience=15,
            num_workers=8,
            tile=1024,
            overlap=0.25,
        ),
        cls=ClsConfig(
            encoder="convnext_tiny",
            image_size=256,
            epochs=50,
            batch_size=16,
            lr=1e-4,
            warmup_epochs=3.0,
            early_stopping_patience=10,
            num_workers=8,
        ),
        # clumping 0.5 as in `cpu`: cells covered by neighbours as much as in ISBI 2014, where whole cells are scored
        synth=dict(seed=0, n_fields=200, n_crops=3000, size=None, field_size=1024, difficulty=0.5, clumping=0.5),
    )


#: Profile name -> factory (a fresh, independent Profile on every call).
PROFILES: dict[str, Any] = {"smoke": _smoke, "cpu": _cpu, "paper": _paper}


def profile_names() -> list[str]:
    """Names accepted by :func:`get_profile`."""
    return list(PROFILES)


def profile_name(name: str | None = None) -> str:
    """The profile a run uses: ``name``, else ``$CERVIX_PROFILE``, else ``"cpu"`` (lower case).

    The one place the environment variable is read.
    """
    if name is None:
        name = os.environ.get("CERVIX_PROFILE") or "cpu"
    return str(name).strip().lower()


def get_profile(name: str | None = None) -> Profile:
    """Return a fresh :class:`Profile`.

    Args:
        name: ``"smoke"``, ``"cpu"`` or ``"paper"``; ``None`` reads ``$CERVIX_PROFILE``, else ``"cpu"``.

    Raises:
        ValueError: unknown profile name (the message lists the choices).
    """
    key = profile_name(name)
    if key not in PROFILES:
        raise ValueError(f"unknown profile {key!r}; choose one of {profile_names()}")
    return PROFILES[key]()


_MEANING = {
    "smoke": (
        "a check that every step runs (tiny data, about a minute of training); its numbers say nothing about the models"
    ),
    "cpu": "sized for a laptop CPU on the synthetic data; its numbers describe the synthetic data, not real cells",
    "paper": "the original settings (convnext_tiny, large images, long training), meant for a GPU",
}


def profile_banner(profile: Profile | str | None = None) -> str:
    """One line for the top of a notebook: which profile runs and what its numbers mean."""
    p = profile if isinstance(profile, Profile) else get_profile(profile)
    how = (
        f"segmentation {p.seg.encoder} {p.seg.image_size} px x {p.seg.epochs} epochs, "
        f"classifier {p.cls.image_size} px x {p.cls.epochs} epochs"
    )
    return f"== profile {p.name}: {_MEANING.get(p.name, 'a custom profile')} ({how}) =="


def floor_shortfalls(profile: Profile | str | None, metrics: Mapping[str, Any]) -> list[str]:
    """The profile's quality floors that ``metrics`` miss, as ``"name value < floor"`` lines.

    Only the floors whose metric is in ``metrics`` are checked; a missing (None/NaN) value
    misses its floor.
    """
    p = profile if isinstance(profile, Profile) else get_profile(profile)
    missed = []
    for name, floor in p.floors.items():
        if name not in metrics:
            continue
        v = metrics[name]
        if v is None or not float(v) >= floor:  # NaN misses too
            missed.append(f"{name} {v if v is None else round(float(v), 4)} < {floor}")
    return missed


def to_dict(obj: Any) -> Any:
    """Convert a config (dataclass, nested dicts/lists, tuples, paths) to JSON-ready plain types."""
    if dataclasses.is_dataclass(obj) and not isinstance(obj, type):
        return {f.name: to_dict(getattr(obj, f.name)) for f in dataclasses.fields(obj)}
    if isinstance(obj, Mapping):
        return {str(k): to_dict(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [to_dict(v) for v in obj]
    if isinstance(obj, os.PathLike):
        return os.fspath(obj)
    if hasattr(obj, "item") and callable(obj.item) and getattr(obj, "ndim", None) == 0:
        return obj.item()  # numpy / torch scalars
    return obj


def _is_tuple_type(tp: Any) -> bool:
    if typing.get_origin(tp) is tuple or tp is tuple:
        return True
    if typing.get_origin(tp) in (typing.Union, types.UnionType):
        return any(_is_tuple_type(a) for a in typing.get_args(tp))
    return False


def from_dict(cls: type[T], data: Mapping[str, Any], strict: bool = True) -> T:
    """Build dataclass ``cls`` from a plain dict (inverse of :func:`to_dict`).

    Lists are turned back into tuples where the field is a tuple; a :class:`Profile` rebuilds its
    nested stage configs.

    Args:
        cls: ``SegConfig``, ``ClsConfig``, ``Profile`` or another flat dataclass.
        data: the dict, e.g. read from ``config.json``.
        strict: raise on keys that are not fields of ``cls`` (else they are ignored).

    Raises:
        ValueError: unknown keys (when ``strict``), naming them and the class.
    """
    hints = typing.get_type_hints(cls)
    names = {f.name for f in dataclasses.fields(cls)}  # type: ignore[arg-type]
    unknown = sorted(set(data) - names)
    if unknown and strict:
        raise ValueError(f"unknown {cls.__name__} field(s) {unknown}; valid: {sorted(names)}")
    kwargs: dict[str, Any] = {}
    for key, value in data.items():
        if key not in names:
            continue
        tp = hints.get(key)
        if cls is Profile and key == "seg" and isinstance(value, Mapping):
            value = from_dict(SegConfig, value, strict)
        elif cls is Profile and key == "cls" and isinstance(value, Mapping):
            value = from_dict(ClsConfig, value, strict)
        elif cls is Profile and key == "cells" and isinstance(value, Mapping):
            value = from_dict(CellConfig, value, strict)
        elif isinstance(value, list) and _is_tuple_type(tp):
            value = tuple(value)
        kwargs[key] = value
    return cls(**kwargs)


def _allows_none(tp: Any) -> bool:
    return tp is type(None) or (
        typing.get_origin(tp) in (typing.Union, types.UnionType) and type(None) in typing.get_args(tp)
    )


def apply_overrides(cfg: T, overrides: Mapping[str, Any] | None) -> T:
    """A copy of the stage config ``cfg`` with ``overrides`` applied, checked.

    ``None`` is a value like any other: ``{"early_stopping_patience": None}`` switches early
    stopping off. Lists become tuples where the field is a tuple.

    Raises:
        TypeError: an override names no field of ``cfg`` (the message lists the valid ones), or
            sets ``None`` on a field that cannot be ``None``.
    """
    hints = typing.get_type_hints(type(cfg))
    names = {f.name for f in dataclasses.fields(cfg)}  # type: ignore[arg-type]
    ov = dict(overrides or {})
    unknown = sorted(set(ov) - names)
    if unknown:
        kinds = {"SegConfig": "segmentation", "ClsConfig": "classifier", "CellConfig": "cell head"}
        stage = kinds.get(type(cfg).__name__, type(cfg).__name__)
        raise TypeError(f"unknown {stage} setting(s) {unknown}; valid: {sorted(names)}")
    for key, value in list(ov.items()):
        if value is None and not _allows_none(hints[key]):
            raise TypeError(f"{type(cfg).__name__}.{key} cannot be None (leave it out to keep the profile's value)")
        if isinstance(value, list) and _is_tuple_type(hints[key]):
            ov[key] = tuple(value)
    return dataclasses.replace(cfg, **ov)


def stage_config(
    profile: str | Profile | SegConfig | ClsConfig | CellConfig | None,
    kind: type[T],
    overrides: Mapping[str, Any] | None = None,
) -> T:
    """The :class:`SegConfig`, :class:`ClsConfig` or :class:`CellConfig` (``kind``) of a profile, with ``overrides``.

    Args:
        profile: a profile name (None = ``$CERVIX_PROFILE`` or ``cpu``), a :class:`Profile`, or a
            config of ``kind`` used as is.
        kind: ``SegConfig``, ``ClsConfig`` or ``CellConfig``.
        overrides: fields to change (see :func:`apply_overrides`).
    """
    if isinstance(profile, kind):
        cfg = profile
    else:
        prof = profile if isinstance(profile, Profile) else get_profile(profile)  # type: ignore[arg-type]
        cfg = {SegConfig: prof.seg, ClsConfig: prof.cls, CellConfig: prof.cells}[kind]
    return apply_overrides(cfg, overrides)


@dataclass
class TrainConfig(LoopConfig):
    """Knobs of the generic loop: the shared :class:`cervix.core.config.LoopConfig` plus the loop's own
    switches below."""

    progress: bool = True  # tqdm progress bars (rank 0 only)
    tensorboard: bool = True  # write TensorBoard events to out_dir
    log_every: int = 10  # TensorBoard train-loss logging interval in steps

    @classmethod
    def from_config(cls, cfg: Any = None, **overrides: Any) -> TrainConfig:
        """Pick the fields of this class from a stage config (dataclass or dict), then overrides."""
        src = to_dict(cfg) if cfg is not None else {}
        names = {f.name for f in dataclasses.fields(cls)}
        kw = {k: v for k, v in src.items() if k in names}
        unknown = sorted(set(overrides) - names)
        if unknown:
            raise TypeError(f"unknown TrainConfig field(s) {unknown}")
        kw.update(overrides)
        return cls(**kw)

    def __post_init__(self) -> None:
        if self.amp not in AMP_CHOICES:
            raise ValueError(f"amp must be one of {AMP_CHOICES}, got {self.amp!r}")
        if self.mode not in ("min", "max"):
            raise ValueError(f"mode must be 'min' or 'max', got {self.mode!r}")
        if self.epochs < 1:
            raise ValueError(f"epochs must be >= 1, got {self.epochs}")
        if self.early_stopping_window < 1:
            raise ValueError(f"early_stopping_window must be >= 1, got {self.early_stopping_window}")
        if self.early_stopping_min_delta < 0:
            raise ValueError(f"early_stopping_min_delta must be >= 0, got {self.early_stopping_min_delta}")
