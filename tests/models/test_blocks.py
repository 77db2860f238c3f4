"""Models and blocks: shapes, size errors, gradient flow per head, local weight loading."""

from __future__ import annotations

import pytest
import torch

from cervix.models.blocks import CBAM, AttentionGate, MultiHeadSelfAttention, SEBlock

torch.manual_seed(0)


# --------------------------------------------------------------------------- blocks
def _changes(block, *inputs):
    out1 = block(*inputs)
    out2 = block(*(t + torch.randn_like(t) for t in inputs))
    return out1, not torch.allclose(out1, out2)


def test_cbam_shape_and_response():
    block = CBAM(32).eval()
    x = torch.randn(2, 32, 8, 8)
    out, changed = _changes(block, x)
    assert out.shape == x.shape and changed
    assert block.channel.mlp[0].out_channels == 8  # 32 // 16 = 2, floored at 8
    assert CBAM(256).channel.mlp[0].out_channels == 16


def test_attention_gate_shape_and_gating():
    gate = AttentionGate(gate_channels=16, skip_channels=8).eval()
    g, x = torch.randn(2, 16, 4, 4), torch.randn(2, 8, 8, 8)
    out = gate(g, x)
    assert out.shape == x.shape
    alpha = gate.attention(g, x)
    assert alpha.shape == (2, 1, 8, 8) and (alpha > 0).all() and (alpha < 1).all()
    torch.testing.assert_close(out, x * alpha)
    out2 = gate(g + torch.randn_like(g), x)  # a different gating signal changes the output
    assert not torch.allclose(out, out2)


def test_se_block_shape_and_response():
    block = SEBlock(64).eval()
    x = torch.randn(2, 64, 4, 4)
    out, changed = _changes(block, x)
    assert out.shape == x.shape and changed


def test_self_attention_matches_torch_multihead_attention():
    ours = MultiHeadSelfAttention(32, heads=4).eval()
    ref = torch.nn.MultiheadAttention(32, 4, batch_first=True).eval()
    with torch.no_grad():
        ref.in_proj_weight.copy_(ours.in_proj.weight)
        ref.in_proj_bias.copy_(ours.in_proj.bias)
        ref.out_proj.weight.copy_(ours.out_proj.weight)
        ref.out_proj.bias.copy_(ours.out_proj.bias)
        t = torch.randn(2, 6, 32)
        torch.testing.assert_close(ours(t), ref(t, t, t, need_weights=False)[0], rtol=1e-5, atol=1e-5)
    with pytest.raises(ValueError, match="divisible"):
        MultiHeadSelfAttention(30, heads=4)
