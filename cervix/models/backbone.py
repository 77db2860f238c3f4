"""Timm backbones and their weights, offline: local state dicts, the synthetic pretraining, ImageNet.

``pretrained=False`` works offline; ``True`` downloads timm's ImageNet weights; ``"synthetic"``
loads the backbone pretrained offline on synthetic cells (:mod:`cervix.stages.pretrain`); a path
loads a local state dict of the timm backbone (``torch.load(weights_only=True)``). 3-channel
weights loaded into a model with more input channels keep the RGB filters exactly and initialise
each extra channel's filters from the mean of the RGB filters (:func:`adapt_first_conv`).
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass, field
from pathlib import Path

import timm
import torch
from torch import nn

__all__ = [
    "LoadReport",
    "create_backbone",
    "resolve_pretrained",
    "load_weights_file",
    "adapt_first_conv",
    "load_backbone_state_dict",
]


PretrainedArg = bool | str | Path


# --------------------------------------------------------------------------------------------
# Weight loading
# --------------------------------------------------------------------------------------------
@dataclass
class LoadReport:
    """What happened when a state dict was loaded into a backbone."""

    source: str  # "hub" or the file path
    adapted: list[str] = field(default_factory=list)  # first-conv weights whose input channels were adapted
    skipped: list[str] = field(default_factory=list)  # classifier keys not loaded (absent or other num_classes)
    unexpected: list[str] = field(default_factory=list)  # keys in the file the model does not have

    def __str__(self) -> str:
        return (
            f"loaded {self.source}: adapted stem {self.adapted or 'no'}, "
            f"{len(self.skipped)} classifier keys skipped, {len(self.unexpected)} unexpected keys ignored"
        )


def _as_list(value: str | list[str] | tuple[str, ...] | None) -> list[str]:
    if value is None:
        return []
    return [value] if isinstance(value, str) else list(value)


def load_weights_file(path: str | Path) -> dict[str, torch.Tensor]:
    """Read a state dict with ``torch.load(weights_only=True)``.

    Accepts a bare state dict or a checkpoint dict holding it under ``state_dict``, ``model``
    or ``state_dict_ema``; a ``module.`` prefix (DataParallel/DDP) is removed.

    Raises:
        FileNotFoundError: The file does not exist.
        ValueError: The file cannot be read safely or holds no tensors.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"weights file not found: {path}")
    try:
        obj = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # pickle with arbitrary objects, truncated file, ...
        raise ValueError(f"cannot read weights from {path} with weights_only=True: {exc}") from exc
    if isinstance(obj, dict):
        for key in ("state_dict", "model", "state_dict_ema"):
            if isinstance(obj.get(key), dict):
                obj = obj[key]
                break
    if not isinstance(obj, dict) or not any(isinstance(v, torch.Tensor) for v in obj.values()):
        raise ValueError(f"{path} does not hold a state dict of tensors")
    return {k.removeprefix("module."): v for k, v in obj.items() if isinstance(v, torch.Tensor)}


def adapt_first_conv(weight: torch.Tensor, in_chans: int) -> torch.Tensor:
    """Adapt a first-conv weight ``(O, 3, k, k)`` to ``in_chans`` input channels.

    The first three (RGB) filters are kept exactly; every extra channel's filter is the mean of
    the RGB filters (so a mask channel starts as a "grey" view). timm's own ``in_chans``
    adaptation instead repeats and rescales all filters by ``3 / in_chans``, which changes RGB.

    Args:
        weight: Pretrained weight ``(O, C_src, k, k)``.
        in_chans: Target number of input channels, ``>= C_src``.

    Returns:
        Weight ``(O, in_chans, k, k)``.
    """
    c_src = weight.shape[1]
    if in_chans == c_src:
        return weight
    if in_chans < c_src:
        raise ValueError(
            f"cannot adapt a {c_src}-channel first conv to {in_chans} channels (only adding channels is supported)"
        )
    extra = weight.mean(1, keepdim=True).expand(-1, in_chans - c_src, -1, -1)  # (O, extra, k, k)
    return torch.cat([weight, extra], 1).contiguous()


def load_backbone_state_dict(model: nn.Module, state_dict: dict[str, torch.Tensor], source: str = "file") -> LoadReport:
    """Load a timm backbone state dict, adapting the stem and tolerating classifier mismatch.

    The first conv is found through ``model.pretrained_cfg["first_conv"]``; classifier keys
    (``pretrained_cfg["classifier"]``) are skipped when the model has none or a different
    ``num_classes``. Every other key must match: missing backbone keys raise.

    Raises:
        RuntimeError: Backbone keys are missing or have the wrong shape (wrong architecture).
    """
    cfg = getattr(model, "pretrained_cfg", {}) or {}
    own = model.state_dict()
    state = dict(state_dict)
    report = LoadReport(source=source)
    in_chans = None
    for conv in _as_list(cfg.get("first_conv")):
        key = f"{conv}.weight"
        if key in state and key in own and state[key].shape[1] != own[key].shape[1]:
            in_chans = own[key].shape[1]
            state[key] = adapt_first_conv(state[key], in_chans)
            report.adapted.append(key)
    cls_prefixes = tuple(f"{c}." for c in _as_list(cfg.get("classifier")))
    bad_shape = []
    for key in list(state):
        if key.startswith(cls_prefixes) and (key not in own or own[key].shape != state[key].shape):
            report.skipped.append(key)
            del state[key]
        elif key in own and own[key].shape != state[key].shape:
            bad_shape.append(f"{key}: file {tuple(state[key].shape)} vs model {tuple(own[key].shape)}")
    if bad_shape:
        raise RuntimeError(f"weights from {source} do not fit the backbone: " + "; ".join(bad_shape[:10]))
    result = model.load_state_dict(state, strict=False)
    missing = [k for k in result.missing_keys if not k.startswith(cls_prefixes)]
    if missing:
        raise RuntimeError(
            f"weights from {source} lack {len(missing)} backbone keys (another architecture?), e.g. {missing[:8]}"
        )
    report.skipped += [k for k in result.missing_keys if k.startswith(cls_prefixes)]
    report.unexpected = list(result.unexpected_keys)
    if report.unexpected:
        warnings.warn(
            f"{source}: ignored {len(report.unexpected)} unexpected keys, e.g. {report.unexpected[:5]}", stacklevel=2
        )
    return report


def resolve_pretrained(pretrained: PretrainedArg, encoder: str) -> PretrainedArg:
    """``"synthetic"`` -> the local file of ``python -m cervix pretrain`` for ``encoder``
    (:func:`cervix.core.paths.pretrained_path`); anything else is returned as is.

    Raises:
        FileNotFoundError: that file does not exist yet (the message says how to make it).
    """
    if not (isinstance(pretrained, str) and pretrained.lower() == "synthetic"):
        return pretrained
    from cervix.core.paths import pretrained_path

    path = pretrained_path(encoder)
    if not path.is_file():
        raise FileNotFoundError(
            f"no synthetic-pretrained weights for {encoder} at {path}; make them once (about 20 minutes on "
            f"2 CPU cores) with: python -m cervix pretrain --encoder {encoder}"
        )
    return str(path)


def create_backbone(
    name: str, in_chans: int = 3, pretrained: PretrainedArg = False, **kwargs
) -> tuple[nn.Module, LoadReport | None]:
    """Create a timm model with ``in_chans`` inputs and optionally load 3-channel weights.

    Args:
        name: timm model name, e.g. ``"convnext_tiny"``.
        in_chans: Input channels of the created model.
        pretrained: ``False`` (random init), ``True`` (timm hub, needs internet), ``"synthetic"``
            (the file of ``python -m cervix pretrain``, :func:`resolve_pretrained`) or a path to a
            local state dict of the same timm model.
        **kwargs: Passed to ``timm.create_model`` (e.g. ``num_classes=0, global_pool=""``).

    Returns:
        The model and a :class:`LoadReport` (``None`` when nothing was loaded).
    """
    model = timm.create_model(name, pretrained=False, in_chans=in_chans, **kwargs)
    if pretrained is False or pretrained is None:
        return model, None
    pretrained = resolve_pretrained(pretrained, name)
    if pretrained is True:
        state = timm.create_model(name, pretrained=True, **kwargs).state_dict()
        source = "hub"
    else:
        state = load_weights_file(pretrained)
        source = str(pretrained)
    return model, load_backbone_state_dict(model, state, source)
