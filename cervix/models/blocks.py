"""Attention building blocks used by the cervix models.

* :class:`CBAM` -- Convolutional Block Attention Module. Woo, Park, Lee, Kweon,
  "CBAM: Convolutional Block Attention Module", ECCV 2018.
* :class:`AttentionGate` -- additive attention gate on a U-Net skip connection. Oktay et al.,
  "Attention U-Net: Learning Where to Look for the Pancreas", MIDL 2018.
* :class:`SEBlock` -- Squeeze-and-Excitation. Hu, Shen, Sun, "Squeeze-and-Excitation
  Networks", CVPR 2018.
* :class:`MultiHeadSelfAttention` -- multi-head scaled dot-product self-attention. Vaswani et
  al., "Attention Is All You Need", NeurIPS 2017.
* :class:`ConvBNReLU` -- 3x3 conv, BatchNorm, ReLU.

The convolutional blocks map ``(B, C, H, W)`` to a tensor of the same shape as the features they
re-weight.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

__all__ = [
    "CBAM",
    "ChannelAttention",
    "SpatialAttention",
    "AttentionGate",
    "SEBlock",
    "MultiHeadSelfAttention",
    "ConvBNReLU",
]


def _hidden(channels: int, reduction: int, floor: int = 8) -> int:
    """Bottleneck width ``channels // reduction``, never below ``min(floor, channels)``."""
    return max(channels // reduction, min(floor, channels))


class ConvBNReLU(nn.Sequential):
    """``Conv2d(k, padding=k//2, bias=False) -> BatchNorm2d -> ReLU``."""

    def __init__(self, in_channels: int, out_channels: int, kernel_size: int = 3) -> None:
        super().__init__(
            nn.Conv2d(in_channels, out_channels, kernel_size, padding=kernel_size // 2, bias=False),
            nn.BatchNorm2d(out_channels),
            nn.ReLU(inplace=True),
        )


class ChannelAttention(nn.Module):
    """CBAM channel attention (Woo et al. 2018, eq. 2).

    ``sigmoid(MLP(avgpool(x)) + MLP(maxpool(x)))`` with one MLP shared by both pooled vectors.

    Args:
        channels: Number of input channels ``C``.
        reduction: MLP bottleneck ratio (16 in the paper); the hidden width never drops below
            8 channels (or ``C`` when ``C < 8``).
    """

    def __init__(self, channels: int, reduction: int = 16) -> None:
        super().__init__()
        hidden = _hidden(channels, reduction)
        self.mlp = nn.Sequential(
            nn.Conv2d(channels, hidden, 1, bias=True),
            nn.ReLU(inplace=True),
            nn.Conv2d(hidden, channels, 1, bias=True),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Return channel weights ``(B, C, 1, 1)`` in (0, 1)."""
        b, c = x.shape[:2]
        pooled = torch.cat([x.mean((2, 3), keepdim=True), x.amax((2, 3), keepdim=True)], 0)  # (2B, C, 1, 1)
        logits = self.mlp(pooled)  # one MLP pass for both poolings
        return torch.sigmoid(logits[:b] + logits[b:])  # (B, C, 1, 1)


class SpatialAttention(nn.Module):
    """CBAM spatial attention (Woo et al. 2018, eq. 3).

    ``sigmoid(conv7x7([mean_c(x); max_c(x)]))``.
    """

    def __init__(self, kernel_size: int = 7) -> None:
        super().__init__()
        self.conv = nn.Conv2d(2, 1, kernel_size, padding=kernel_size // 2, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Return spatial weights ``(B, 1, H, W)`` in (0, 1)."""
        desc = torch.cat([x.mean(1, keepdim=True), x.amax(1, keepdim=True)], 1)  # (B, 2, H, W)
        return torch.sigmoid(self.conv(desc))


class CBAM(nn.Module):
    """Convolutional Block Attention Module (Woo et al., ECCV 2018).

    Channel attention (avg- and max-pooled shared MLP, reduction 16) followed by spatial
    attention (7x7 conv over the channel-wise mean and max), applied sequentially:
    ``x' = Mc(x) * x``, ``x'' = Ms(x') * x'``.

    Args:
        channels: Number of channels ``C``.
        reduction: Channel-MLP reduction ratio.
        kernel_size: Spatial-attention kernel size.

    Shape:
        ``(B, C, H, W) -> (B, C, H, W)``.
    """

    def __init__(self, channels: int, reduction: int = 16, kernel_size: int = 7) -> None:
        super().__init__()
        self.channel = ChannelAttention(channels, reduction)
        self.spatial = SpatialAttention(kernel_size)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x * self.channel(x)  # (B, C, H, W)
        return x * self.spatial(x)  # (B, C, H, W)


class AttentionGate(nn.Module):
    """Additive attention gate on a skip connection (Oktay et al., MIDL 2018).

    ``alpha = sigmoid(psi(relu(W_g g + W_x x)))`` and the output is ``alpha * x``, where ``W_g``,
    ``W_x`` and ``psi`` are 1x1 convolutions (with BatchNorm, as in the reference
    implementation) and ``g`` is the decoder (gating) signal. When ``g`` is coarser than ``x``,
    ``W_g g`` is upsampled (nearest) to the skip's size, which equals gating with the
    nearest-upsampled ``g``.

    Args:
        gate_channels: Channels of the gating signal ``g``.
        skip_channels: Channels of the skip features ``x``.
        inter_channels: Intermediate width; defaults to ``max(skip_channels // 2, 8)``.

    Shape:
        ``g: (B, Cg, h, w)``, ``x: (B, Cx, H, W) -> (B, Cx, H, W)``.
    """

    def __init__(self, gate_channels: int, skip_channels: int, inter_channels: int | None = None) -> None:
        super().__init__()
        inter = inter_channels or max(skip_channels // 2, 8)
        self.w_g = nn.Sequential(nn.Conv2d(gate_channels, inter, 1, bias=False), nn.BatchNorm2d(inter))
        self.w_x = nn.Sequential(nn.Conv2d(skip_channels, inter, 1, bias=False), nn.BatchNorm2d(inter))
        self.psi = nn.Sequential(nn.Conv2d(inter, 1, 1, bias=True), nn.BatchNorm2d(1))
        self.relu = nn.ReLU(inplace=True)

    def attention(self, g: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
        """Return the attention coefficients ``(B, 1, H, W)`` in (0, 1)."""
        wg = self.w_g(g)  # (B, inter, h, w)
        if wg.shape[-2:] != x.shape[-2:]:
            # 1x1 conv and BatchNorm commute with nearest upsampling (repeating pixels keeps the
            # batch mean and variance), so projecting the coarse g first is exact and cheaper.
            wg = F.interpolate(wg, size=x.shape[-2:], mode="nearest")
        return torch.sigmoid(self.psi(self.relu(wg + self.w_x(x))))

    def forward(self, g: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
        return x * self.attention(g, x)  # (B, Cx, H, W)


class SEBlock(nn.Module):
    """Squeeze-and-Excitation block (Hu et al., CVPR 2018).

    ``x * sigmoid(W2 relu(W1 avgpool(x)))`` with a bottleneck of ``C // reduction`` (at least 8).

    Args:
        channels: Number of channels ``C``.
        reduction: Bottleneck ratio (16 in the paper).

    Shape:
        ``(B, C, H, W) -> (B, C, H, W)``.
    """

    def __init__(self, channels: int, reduction: int = 16) -> None:
        super().__init__()
        hidden = _hidden(channels, reduction)
        self.fc = nn.Sequential(
            nn.Linear(channels, hidden),
            nn.ReLU(inplace=True),
            nn.Linear(hidden, channels),
            nn.Sigmoid(),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        w = self.fc(x.mean((2, 3)))  # (B, C)
        return x * w[:, :, None, None]  # (B, C, H, W)


class MultiHeadSelfAttention(nn.Module):
    """Multi-head self-attention over tokens (Vaswani et al., NeurIPS 2017).

    The same computation and parameter layout as ``nn.MultiheadAttention(dim, heads,
    batch_first=True)`` with ``q = k = v`` (``in_proj`` holds the stacked q/k/v projections), run
    through ``F.scaled_dot_product_attention``. ``nn.MultiheadAttention``'s inference fast path
    is avoided on purpose: with bf16 inputs on CPU it is ~100x slower (torch 2.x).

    Args:
        dim: Token width (divisible by ``heads``).
        heads: Number of attention heads.
        dropout: Attention-weight dropout in training.

    Shape:
        ``(B, N, dim) -> (B, N, dim)``.
    """

    def __init__(self, dim: int, heads: int = 4, dropout: float = 0.0) -> None:
        super().__init__()
        if dim % heads:
            raise ValueError(f"dim {dim} is not divisible by heads {heads}")
        self.heads = heads
        self.dropout = dropout
        self.in_proj = nn.Linear(dim, 3 * dim)
        self.out_proj = nn.Linear(dim, dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, n, d = x.shape
        qkv = self.in_proj(x).view(b, n, 3, self.heads, d // self.heads).permute(2, 0, 3, 1, 4)  # (3, B, h, N, d/h)
        out = F.scaled_dot_product_attention(qkv[0], qkv[1], qkv[2], dropout_p=self.dropout if self.training else 0.0)
        return self.out_proj(out.transpose(1, 2).reshape(b, n, d))  # (B, N, dim)
