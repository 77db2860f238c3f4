"""The two cervix models: a dual-head attention U-Net and a 5-channel attention classifier.

* :class:`DualHeadAttConvNeXtUNet` -- segmentation of cytoplasm (whole cell) and nucleus. A
  shared timm encoder (ConvNeXt, Liu et al., "A ConvNet for the 2020s", CVPR 2022, by default)
  feeds two U-Net decoders (Ronneberger et al., MICCAI 2015) whose up-blocks gate the skip with an
  attention gate (Oktay et al., MIDL 2018) and refine with CBAM (Woo et al., ECCV 2018).
* :class:`ConvNeXtAttentionClassifier` -- cell classification from RGB + cytoplasm mask + nucleus
  mask (5 channels), with a Squeeze-and-Excitation block (Hu et al., CVPR 2018) on the last
  feature map and a self-attention MLP head (multi-head attention: Vaswani et al., NeurIPS 2017).

Weights (offline by default, local files, the synthetic pretraining, ImageNet) are loaded by
:mod:`cervix.models.backbone`.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path

import timm
import torch
import torch.nn.functional as F
from torch import nn

from cervix.core.labels import HEADS
from cervix.models.backbone import LoadReport, PretrainedArg, create_backbone, resolve_pretrained
from cervix.models.blocks import CBAM, AttentionGate, ConvBNReLU, MultiHeadSelfAttention, SEBlock

__all__ = [
    "SegModelConfig",
    "ClsModelConfig",
    "DualHeadAttConvNeXtUNet",
    "ConvNeXtAttentionClassifier",
    "count_parameters",
    "describe",
]


@dataclass
class SegModelConfig:
    """Constructor arguments of :class:`DualHeadAttConvNeXtUNet`."""

    encoder: str = "convnext_tiny"  # any timm backbone with feature_info (the original description: ConvNeXt-Tiny)
    pretrained: bool | str = False  # False: random init (offline); True: timm hub; str: local state-dict file
    decoder_channels: tuple[int, ...] = (256, 128, 64)  # up-block widths, deepest first (original: 256/128/64)
    in_chans: int = 3  # input channels (RGB)
    cbam_reduction: int = 16  # CBAM channel-MLP reduction ratio (Woo et al. 2018)


@dataclass
class ClsModelConfig:
    """Constructor arguments of :class:`ConvNeXtAttentionClassifier`."""

    encoder: str = "convnext_tiny"  # timm backbone (the original description: ConvNeXt-Tiny)
    num_classes: int = 5  # SIPaKMeD has 5 cell types; Herlev 7
    in_chans: int = 5  # RGB + cytoplasm mask + nucleus mask; 3 for the RGB-only ablation
    pretrained: bool | str = False  # False: random init (offline); True: timm hub; str: local state-dict file
    se_reduction: int = 16  # SE bottleneck ratio (Hu et al. 2018)
    hidden_dim: int = 512  # token projection width (original: 768 -> 512)
    attn_heads: int = 4  # heads of the self-attention over spatial tokens (original: 4)
    mlp_dim: int = 256  # second MLP width (original: 512 -> 256)
    dropout1: float = 0.4  # dropout after the 512-wide projection (original: 0.4)
    dropout2: float = 0.3  # dropout after the 256-wide layer (original: 0.3)
    drop_path_rate: float = 0.0  # stochastic depth inside the timm backbone (0 = off)


# --------------------------------------------------------------------------------------------
# Segmentation
# --------------------------------------------------------------------------------------------
# Nearest x2 upsampling followed by a 3x3 conv (padding 1) equals, for each output phase
# (row parity r, column parity s), a 2x2 conv on the coarse map: taps of the 3x3 kernel that land
# on the same coarse pixel are summed. _PHASE_TAPS[r] maps the 3 kernel rows to the 2 coarse
# offsets (r=0: offsets -1, 0; r=1: offsets 0, +1); _PHASE_MAP[(r, s), (k, l), (a, b)] combines both axes.
_PHASE_TAPS = torch.tensor([[[1.0, 0.0, 0.0], [0.0, 1.0, 1.0]], [[1.0, 1.0, 0.0], [0.0, 0.0, 1.0]]])  # (r, a, k)
_PHASE_MAP = torch.einsum("rak,sbl->rsklab", _PHASE_TAPS, _PHASE_TAPS).reshape(4, 9, 4)  # (rs, kl, ab)


def upsample2x_conv3x3(x: torch.Tensor, weight: torch.Tensor) -> torch.Tensor:
    """``conv2d(interpolate(x, scale_factor=2, mode="nearest"), weight, padding=1)`` without the upsampling.

    Computes all four output phases with one 2x2 convolution on the coarse map (4 taps instead of
    9 per output pixel, and the upsampled input is never materialised), then interleaves them.
    Exact, including the zero-padded borders.

    Args:
        x: ``(B, C, h, w)``.
        weight: ``(O, C, 3, 3)``.

    Returns:
        ``(B, O, 2h, 2w)``.
    """
    o, c = weight.shape[:2]
    h, w = x.shape[-2:]
    k = weight.reshape(o, 1, c, 9) @ _PHASE_MAP.to(weight)[None]  # (O, rs, C, ab), contiguous
    y = F.conv2d(F.pad(x, (1, 1, 1, 1)), k.reshape(4 * o, c, 2, 2))  # (B, O*4, h+1, w+1)
    y = y.unflatten(1, (o, 2, 2))  # (B, O, r, s, h+1, w+1); phase (r, s) sits at offset (r, s)
    rows = [torch.stack([y[:, :, r, s, r : r + h, s : s + w] for s in (0, 1)], -1) for r in (0, 1)]  # (B, O, h, w, 2)
    return torch.stack(rows, 3).flatten(4).flatten(2, 3)  # (B, O, h, 2, w, 2) -> (B, O, 2h, 2w)


# Below this many coarse positions (batch * h * w) the block is bound by weight handling, not
# by activations, and the literal path is faster (measured on CPU: 2 x 8 x 8 slower, 2 x 16 x 16 faster).
_FAST_UPCONV_MIN_POSITIONS = 256


class UpBlock(nn.Module):
    """Upsample x2 (nearest), attention-gate the skip, concatenate, 2x conv-BN-ReLU, CBAM.

    When the skip is exactly twice the size of ``x`` the first conv is split over the
    concatenation -- ``conv(cat[up(x), s]) = conv_x(up(x)) + conv_s(s)`` -- and ``conv_x(up(x))``
    runs on the coarse map (:func:`upsample2x_conv3x3`), so neither the upsampled ``x`` nor the
    concatenation is materialised; :meth:`forward_reference` is the literal version (same
    parameters, same result), used for other size ratios and tiny coarse maps.
    """

    def __init__(self, in_channels: int, skip_channels: int, out_channels: int, cbam_reduction: int = 16) -> None:
        super().__init__()
        self.in_channels = in_channels
        self.gate = AttentionGate(in_channels, skip_channels)
        self.conv1 = ConvBNReLU(in_channels + skip_channels, out_channels)
        self.conv2 = ConvBNReLU(out_channels, out_channels)
        self.cbam = CBAM(out_channels, cbam_reduction)

    def forward(self, x: torch.Tensor, skip: torch.Tensor) -> torch.Tensor:
        h, w = x.shape[-2:]
        if tuple(skip.shape[-2:]) != (2 * h, 2 * w) or x.shape[0] * h * w < _FAST_UPCONV_MIN_POSITIONS:
            return self.forward_reference(x, skip)
        skip = self.gate(x, skip)  # (B, Cskip, 2h, 2w); the gate upsamples its projection of x
        conv, bn, relu = self.conv1
        wx, ws = conv.weight[:, : self.in_channels], conv.weight[:, self.in_channels :]
        y = upsample2x_conv3x3(x, wx) + F.conv2d(skip, ws, padding=1)  # (B, Cout, 2h, 2w)
        return self.cbam(self.conv2(relu(bn(y))))

    def forward_reference(self, x: torch.Tensor, skip: torch.Tensor) -> torch.Tensor:
        """Literal block: interpolate to the skip's size, gate, concatenate, convolve."""
        x = F.interpolate(x, size=skip.shape[-2:], mode="nearest")  # (B, Cin, H, W)
        skip = self.gate(x, skip)  # (B, Cskip, H, W)
        x = self.conv2(self.conv1(torch.cat([x, skip], 1)))  # (B, Cout, H, W)
        return self.cbam(x)


class AttentionDecoder(nn.Module):
    """Attention U-Net decoder with a 1x1 one-logit head.

    Args:
        encoder_channels: Channels of the used encoder features, shallowest first; the last
            one is the bottleneck.
        decoder_channels: Up-block widths, deepest first (one per skip).
    """

    def __init__(
        self, encoder_channels: list[int], decoder_channels: tuple[int, ...], cbam_reduction: int = 16
    ) -> None:
        super().__init__()
        skips = list(reversed(encoder_channels[:-1]))  # deepest skip first
        ins = [encoder_channels[-1], *decoder_channels[:-1]]
        self.blocks = nn.ModuleList(UpBlock(i, s, o, cbam_reduction) for i, s, o in zip(ins, skips, decoder_channels))
        self.head = nn.Conv2d(decoder_channels[-1], 1, 1)

    def forward(self, features: list[torch.Tensor]) -> torch.Tensor:
        """Features shallowest first -> one logit map at the shallowest skip's resolution."""
        x = features[-1]
        for block, skip in zip(self.blocks, reversed(features[:-1])):
            x = block(x, skip)
        return self.head(x)  # (B, 1, H/s, W/s)


def _feature_encoder(name: str, in_chans: int, pretrained: PretrainedArg, n_features: int):
    """timm features-only encoder returning the deepest ``n_features`` feature maps.

    Built as timm does for ``features_only=True, feature_cls="getter"``: the full model (weights
    loaded and adapted first, so a plain backbone state dict fits) wrapped in ``FeatureGetterNet``,
    which prunes the head and returns ``forward_intermediates``.
    """
    from timm.models._features import FeatureGetterNet

    pretrained = resolve_pretrained(pretrained, name)
    base, report = create_backbone(name, in_chans=in_chans, pretrained=pretrained)
    n_all = len(base.feature_info)
    if n_all < n_features:
        raise ValueError(f"{name} has {n_all} feature stages; the decoder needs {n_features}")
    indices = list(range(n_all - n_features, n_all))
    if hasattr(base, "forward_intermediates"):
        return FeatureGetterNet(base, out_indices=indices), report
    # Older timm architectures without forward_intermediates: timm's own features_only wrapper.
    kwargs = dict(features_only=True, out_indices=indices, in_chans=in_chans)
    if pretrained is True:
        return timm.create_model(name, pretrained=True, **kwargs), LoadReport("hub")
    if pretrained:
        overlay = dict(file=str(pretrained))
        return timm.create_model(name, pretrained=True, pretrained_cfg_overlay=overlay, **kwargs), LoadReport(
            str(pretrained)
        )
    return timm.create_model(name, pretrained=False, **kwargs), None


class DualHeadAttConvNeXtUNet(nn.Module):
    """Dual-head attention U-Net on a shared timm encoder (cytoplasm + nucleus).

    The encoder is any timm backbone in features-only mode; its deepest feature map is the
    bottleneck and the ``len(decoder_channels)`` maps above it are the skips (ConvNeXt-Tiny:
    96/192/384/768 channels at strides 4/8/16/32; ResNet's stride-2 map is left unused). Channel
    counts come from the backbone's ``feature_info``. Two decoders (cytoplasm, nucleus) share it;
    each up-block upsamples x2 (nearest), gates the skip (Oktay et al. 2018), concatenates, applies
    two conv-BN-ReLU and CBAM (Woo et al. 2018). Each decoder ends in a 1x1 conv to one logit,
    upsampled bilinearly to the input size. (Applying the 1x1 head before the bilinear upsampling
    is exactly equal to applying it after -- both are linear and bilinear weights sum to 1 -- and
    saves a 64-channel full-resolution tensor.)

    Args:
        encoder: timm model name.
        pretrained: ``False``, ``True`` (timm hub) or a path to a local backbone state dict.
        decoder_channels: Up-block widths, deepest first.
        in_chans: Input channels.
        cbam_reduction: CBAM channel-MLP reduction ratio.

    Shape:
        ``(B, in_chans, H, W) -> (B, 2, H, W)`` logits, channel 0 cytoplasm, 1 nucleus; H and W
        must be multiples of the encoder's output stride (32). ``forward(x, heads=("cytoplasm",))``
        runs one decoder only: ``(B, 1, H, W)`` (the cell head's inference needs only the whole cell).
    """

    def __init__(
        self,
        encoder: str = "convnext_tiny",
        pretrained: PretrainedArg = False,
        decoder_channels: tuple[int, ...] = (256, 128, 64),
        in_chans: int = 3,
        cbam_reduction: int = 16,
    ) -> None:
        super().__init__()
        decoder_channels = tuple(int(c) for c in decoder_channels)
        self.config = SegModelConfig(
            encoder,
            str(pretrained) if isinstance(pretrained, Path) else pretrained,
            decoder_channels,
            in_chans,
            cbam_reduction,
        )
        self.encoder, self.load_report = _feature_encoder(encoder, in_chans, pretrained, len(decoder_channels) + 1)
        self.encoder_channels = list(self.encoder.feature_info.channels())
        self.encoder_reductions = list(self.encoder.feature_info.reduction())
        self.output_stride = max(self.encoder_reductions)
        self.decoders = nn.ModuleDict(
            {name: AttentionDecoder(self.encoder_channels, decoder_channels, cbam_reduction) for name in HEADS}
        )

    @classmethod
    def from_config(cls, cfg: SegModelConfig | dict) -> DualHeadAttConvNeXtUNet:
        """Build from a :class:`SegModelConfig` or its ``asdict`` form."""
        return cls(**(asdict(cfg) if isinstance(cfg, SegModelConfig) else cfg))

    def check_size(self, height: int, width: int) -> None:
        """Raise ``ValueError`` unless ``height`` and ``width`` are multiples of the output stride."""
        s = self.output_stride
        if height % s or width % s:
            raise ValueError(
                f"input height and width must be multiples of {s} for encoder {self.config.encoder}; "
                f"got {height}x{width} (pad or resize, e.g. to {-(-height // s) * s}x{-(-width // s) * s})"
            )

    def forward(self, x: torch.Tensor, heads: tuple[str, ...] = HEADS) -> torch.Tensor:
        """Logits of ``heads`` (default both, in :data:`HEADS` order); a decoder not asked for is not run."""
        self.check_size(*x.shape[-2:])
        if isinstance(heads, str) or not heads or len(set(heads)) < len(heads) or not set(heads) <= set(HEADS):
            raise ValueError(f"heads must be a non-empty tuple of distinct names from {HEADS}; got {heads!r}")
        features = self.encoder(x)  # shallowest first, e.g. strides 4, 8, 16, 32
        logits = torch.cat([self.decoders[name](features) for name in heads], 1)  # (B, len(heads), H/4, W/4)
        return F.interpolate(logits, size=x.shape[-2:], mode="bilinear", align_corners=False)  # (B, len(heads), H, W)


# --------------------------------------------------------------------------------------------
# Classification
# --------------------------------------------------------------------------------------------
class ConvNeXtAttentionClassifier(nn.Module):
    """timm backbone + SE block + self-attention MLP head, for RGB + mask inputs.

    The backbone (``num_classes=0, global_pool=""``) gives a feature map ``(B, C, h, w)`` (for
    ConvNeXt including its final LayerNorm), re-weighted by an SE block (Hu et al. 2018) --
    :attr:`target_layer` for Grad-CAM. The head follows the original description (README): C->512 (BatchNorm, ReLU,
    Dropout 0.4), 4-head self-attention, 512->256 (BatchNorm, ReLU, Dropout 0.3), ->num_classes.
    Self-attention over one pooled vector would be a plain linear map (softmax over a single key
    is 1), so here the C->512 projection is applied to every spatial token ``(B, h*w, C)``
    (BatchNorm over the 512 channels), multi-head self-attention runs over the tokens with a
    residual connection and LayerNorm, and only then are the tokens mean-pooled.

    With 3-channel weights (hub or local file) and ``in_chans > 3`` the first conv (found through
    ``pretrained_cfg["first_conv"]``) keeps the RGB filters exactly and the mask channels start
    from their mean.

    Args:
        encoder: timm model name.
        num_classes: Number of classes.
        in_chans: Input channels (5 = RGB + cytoplasm + nucleus masks).
        pretrained: ``False``, ``True`` (timm hub) or a path to a local backbone state dict.
        se_reduction, hidden_dim, attn_heads, mlp_dim, dropout1, dropout2, drop_path_rate:
            See :class:`ClsModelConfig`.

    Shape:
        ``(B, in_chans, S, S) -> (B, num_classes)`` logits. Training mode needs ``B > 1``
        (BatchNorm after pooling).
    """

    def __init__(
        self,
        encoder: str = "convnext_tiny",
        num_classes: int = 5,
        in_chans: int = 5,
        pretrained: PretrainedArg = False,
        se_reduction: int = 16,
        hidden_dim: int = 512,
        attn_heads: int = 4,
        mlp_dim: int = 256,
        dropout1: float = 0.4,
        dropout2: float = 0.3,
        drop_path_rate: float = 0.0,
    ) -> None:
        super().__init__()
        self.config = ClsModelConfig(
            encoder,
            num_classes,
            in_chans,
            str(pretrained) if isinstance(pretrained, Path) else pretrained,
            se_reduction,
            hidden_dim,
            attn_heads,
            mlp_dim,
            dropout1,
            dropout2,
            drop_path_rate,
        )
        kwargs = dict(num_classes=0, global_pool="")
        if drop_path_rate:
            kwargs["drop_path_rate"] = drop_path_rate
        self.backbone, self.load_report = create_backbone(encoder, in_chans=in_chans, pretrained=pretrained, **kwargs)
        c = self.backbone.num_features
        self.num_features = c
        self.se = SEBlock(c, se_reduction)
        self.proj = nn.Linear(c, hidden_dim)
        self.proj_bn = nn.BatchNorm1d(hidden_dim)
        self.drop1 = nn.Dropout(dropout1)
        self.attn = MultiHeadSelfAttention(hidden_dim, attn_heads)
        self.attn_norm = nn.LayerNorm(hidden_dim)
        self.mlp = nn.Sequential(
            nn.Linear(hidden_dim, mlp_dim), nn.BatchNorm1d(mlp_dim), nn.ReLU(inplace=True), nn.Dropout(dropout2)
        )
        self.classifier = nn.Linear(mlp_dim, num_classes)

    @classmethod
    def from_config(cls, cfg: ClsModelConfig | dict) -> ConvNeXtAttentionClassifier:
        """Build from a :class:`ClsModelConfig` or its ``asdict`` form."""
        return cls(**(asdict(cfg) if isinstance(cfg, ClsModelConfig) else cfg))

    @property
    def target_layer(self) -> nn.Module:
        """Module whose output is the last feature map (the SE block), for Grad-CAM."""
        return self.se

    def features(self, x: torch.Tensor) -> torch.Tensor:
        """SE-weighted last feature map ``(B, C, h, w)``."""
        f = self.backbone(x)  # (B, C, h, w)
        return self.se(f)

    def embed(self, x: torch.Tensor) -> torch.Tensor:
        """Penultimate embedding ``(B, mlp_dim)`` (input of the final linear layer)."""
        t = self.features(x).flatten(2).transpose(1, 2)  # (B, N, C) spatial tokens
        t = self.proj(t)  # (B, N, 512)
        t = self.proj_bn(t.transpose(1, 2)).transpose(1, 2)  # BatchNorm over the 512 channels
        t = self.drop1(F.relu(t))
        t = self.attn_norm(t + self.attn(t))  # (B, N, 512) self-attention over tokens, residual, LayerNorm
        return self.mlp(t.mean(1))  # (B, 256)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.classifier(self.embed(x))  # (B, num_classes)


# --------------------------------------------------------------------------------------------
# Introspection
# --------------------------------------------------------------------------------------------
def count_parameters(model: nn.Module, trainable_only: bool = False) -> int:
    """Number of parameters (only those with ``requires_grad`` when ``trainable_only``)."""
    return sum(p.numel() for p in model.parameters() if p.requires_grad or not trainable_only)


def _table(rows: list[tuple], header: tuple) -> str:
    cells = [tuple(str(c) for c in header)] + [tuple(str(c) for c in r) for r in rows]
    widths = [max(len(r[i]) for r in cells) for i in range(len(header))]
    line = lambda r: "  ".join(c.rjust(w) if i else c.ljust(w) for i, (c, w) in enumerate(zip(r, widths)))  # noqa: E731
    return "\n".join([line(cells[0]), "  ".join("-" * w for w in widths), *map(line, cells[1:])])


def _fmt(n: int) -> str:
    return f"{n:,}"


def describe(model: nn.Module) -> str:
    """Architecture at a glance: encoder stages, decoders/head, and parameters per part."""
    total = count_parameters(model)
    if isinstance(model, DualHeadAttConvNeXtUNet):
        cfg = model.config
        stages = _table(
            [(i, f"/{r}", c) for i, (r, c) in enumerate(zip(model.encoder_reductions, model.encoder_channels))],
            ("stage", "stride", "channels"),
        )
        dec = model.decoders[HEADS[0]]
        blocks = _table(
            [
                (
                    i,
                    b.conv1[0].in_channels - b.gate.w_x[0].in_channels,
                    b.gate.w_x[0].in_channels,
                    b.conv2[0].out_channels,
                )
                for i, b in enumerate(dec.blocks)
            ],
            ("up-block", "in", "skip", "out"),
        )
        parts = [("encoder", count_parameters(model.encoder))]
        parts += [(f"decoder {n}", count_parameters(d)) for n, d in model.decoders.items()]
        head = (
            f"heads: {', '.join(HEADS)} -- each 1x1 conv -> 1 logit, bilinear x{model.encoder_reductions[0]} "
            f"to input; output (B, 2, H, W), H, W multiples of {model.output_stride}"
        )
        title = f"DualHeadAttConvNeXtUNet(encoder={cfg.encoder}, in_chans={cfg.in_chans}, pretrained={cfg.pretrained})"
        body = [
            title,
            "encoder (timm, features only):",
            stages,
            "decoders (each: upsample x2, attention gate on skip, concat, 2x conv-BN-ReLU, CBAM):",
            blocks,
            head,
        ]
    elif isinstance(model, ConvNeXtAttentionClassifier):
        cfg = model.config
        title = (
            f"ConvNeXtAttentionClassifier(encoder={cfg.encoder}, in_chans={cfg.in_chans}, "
            f"num_classes={cfg.num_classes}, pretrained={cfg.pretrained})"
        )
        info = getattr(model.backbone, "feature_info", [])
        stages = _table(
            [(i, f"/{f['reduction']}", f["num_chs"]) for i, f in enumerate(info)], ("stage", "stride", "channels")
        )
        head = (
            f"SE(r={cfg.se_reduction}) on C={model.num_features} -> tokens: "
            f"Linear {model.num_features}->{cfg.hidden_dim} "
            f"(BN, ReLU, Dropout {cfg.dropout1}) -> {cfg.attn_heads}-head self-attention (+res, LN) -> mean pool -> "
            f"Linear {cfg.hidden_dim}->{cfg.mlp_dim} (BN, ReLU, Dropout {cfg.dropout2}) -> Linear -> {cfg.num_classes}"
        )
        parts = [
            ("backbone", count_parameters(model.backbone)),
            ("se", count_parameters(model.se)),
            ("head", total - count_parameters(model.backbone) - count_parameters(model.se)),
        ]
        body = [title, "backbone (timm):", stages, head]
    else:
        title = type(model).__name__
        parts = [(name, count_parameters(m)) for name, m in model.named_children()]
        body = [title]
    trainable = count_parameters(model, trainable_only=True)
    rows = [(name, _fmt(n), f"{100 * n / max(total, 1):.1f}%") for name, n in parts]
    rows.append(("total", _fmt(total), "100.0%"))
    body += ["parameters:", _table(rows, ("part", "params", "share"))]
    if trainable != total:
        body.append(f"trainable: {_fmt(trainable)}")
    return "\n".join(body)
