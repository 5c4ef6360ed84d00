"""Infini-attention layer against the naive reference (tests/infini_reference.py).

Proofs 1-3 of the mechanism: vectorised == naive loop over the equations (linear and delta rules,
GQA, several segments); closed gate == segment-local attention; one segment == full causal
attention; the first segment is exactly local attention whatever β.
"""

from __future__ import annotations

import pytest
import torch
from infini_reference import (
    causal_softmax_attention,
    naive_infini_attention,
    one_thread,  # noqa: F401 (fixture)
    rope_naive,
)

from bookreader.infini import InfiniAttention, InfiniConfig, LayerMemory, LayerState
from bookreader.infini.attention import local_attention, segment_pieces

H, H_KV, D_MODEL, SEG = 4, 2, 32, 8  # head_dim 8; query heads 0,1 -> KV 0; 2,3 -> KV 1
TOL = 1e-5
pytestmark = pytest.mark.usefixtures("one_thread")


def make_layer(
    rule: str = "delta", positions: str = "rope", beta: list[float] | None = None
) -> InfiniAttention:
    """A layer with O(1) outputs (large weights) so that a 1e-5 tolerance is demanding."""
    cfg = InfiniConfig(
        d_model=D_MODEL,
        n_heads=H,
        n_kv_heads=H_KV,
        segment_len=SEG,
        memory_update=rule,
        positions=positions,
    )
    torch.manual_seed(1)
    layer = InfiniAttention(cfg)
    with torch.no_grad():
        for proj in (layer.q_proj, layer.k_proj, layer.v_proj, layer.o_proj):
            proj.weight.normal_(0.0, 0.4)
        layer.beta.copy_(torch.tensor(beta if beta is not None else [-1.0, 0.0, 0.5, 2.0]))
    return layer


def empty_state(batch: int) -> LayerState:
    return LayerState(LayerMemory.empty(batch, H_KV, D_MODEL // H, D_MODEL // H))


def reference(layer: InfiniAttention, x: torch.Tensor, use_memory: bool = True, rope: bool = True):
    """Naive output, M, z for every batch element."""
    results = [
        naive_infini_attention(
            x[b],
            layer.q_proj.weight,
            layer.k_proj.weight,
            layer.v_proj.weight,
            layer.o_proj.weight,
            layer.beta,
            H,
            H_KV,
            SEG,
            layer.memory_update,
            rope_theta=10000.0 if rope else None,
            use_memory=use_memory,
        )
        for b in range(x.shape[0])
    ]
    out = torch.stack([r[0] for r in results])
    M = torch.stack([torch.stack(r[1]) for r in results])  # (B, H_kv, d, d)
    z = torch.stack([torch.stack(r[2]) for r in results])
    return out, M, z


@pytest.mark.parametrize("rule", ["linear", "delta"])
@pytest.mark.parametrize("positions", ["rope", "learned"])
@torch.no_grad()
def test_vectorised_layer_matches_naive_loop(rule: str, positions: str) -> None:
    """Proof 1: 4 full segments + a partial one, GQA, 2 sequences, fp32, to 1e-5."""
    layer = make_layer(rule, positions)
    x = torch.randn(2, 4 * SEG + 5, D_MODEL)
    out, state = layer(x, empty_state(2))
    ref_out, ref_M, ref_z = reference(layer, x, rope=positions == "rope")
    torch.testing.assert_close(out, ref_out, atol=TOL, rtol=TOL)
    torch.testing.assert_close(state.memory.M, ref_M, atol=TOL, rtol=TOL)
    torch.testing.assert_close(state.memory.z, ref_z, atol=TOL, rtol=TOL)
    assert state.seg_len == 5
    # The memory matters in this comparison: without it the later segments differ a lot.
    local_only, _, _ = reference(layer, x, use_memory=False, rope=positions == "rope")
    assert (out[:, SEG:] - local_only[:, SEG:]).abs().max() > 0.05


@torch.no_grad()
def test_delta_and_linear_rules_differ() -> None:
    """The two rules are not accidentally the same code path."""
    x = torch.randn(1, 3 * SEG, D_MODEL)
    _, linear = make_layer("linear")(x, empty_state(1))
    _, delta = make_layer("delta")(x, empty_state(1))
    assert (linear.memory.M - delta.memory.M).abs().max() > 1e-2


@torch.no_grad()
def test_closed_gate_is_segment_local_attention() -> None:
    """Proof 2a: β = -30 (gate weight ~1e-13) gives plain causal attention inside each segment."""
    layer = make_layer(beta=[-30.0] * H)
    x = torch.randn(2, 3 * SEG + 3, D_MODEL)
    out, _ = layer(x, empty_state(2))
    local_only, _, _ = reference(layer, x, use_memory=False)
    torch.testing.assert_close(out, local_only, atol=TOL, rtol=TOL)
    # Switching memory reads off is the exact version of the same control.
    layer.read_memory = False
    off, _ = layer(x, empty_state(2))
    torch.testing.assert_close(off, local_only, atol=TOL, rtol=TOL)


def full_causal_attention(layer: InfiniAttention, x: torch.Tensor) -> torch.Tensor:
    """Ordinary multi-head causal attention with RoPE over the whole of x (T, D)."""
    d = D_MODEL // H
    heads = []
    for h in range(H):
        g = h // (H // H_KV)
        q = rope_naive(x @ layer.q_proj.weight[h * d : (h + 1) * d].T, 10000.0)
        k = rope_naive(x @ layer.k_proj.weight[g * d : (g + 1) * d].T, 10000.0)
        v = x @ layer.v_proj.weight[g * d : (g + 1) * d].T
        heads.append(causal_softmax_attention(q, k, v))
    return torch.cat(heads, dim=1) @ layer.o_proj.weight.T


@pytest.mark.parametrize("length", [SEG, 5])
@torch.no_grad()
def test_one_segment_is_full_causal_attention(length: int) -> None:
    """Proof 2b: a sequence within one segment is ordinary causal attention (β irrelevant)."""
    layer = make_layer(beta=[3.0, -3.0, 10.0, 0.0])
    x = torch.randn(2, length, D_MODEL)
    out, _ = layer(x, empty_state(2))
    expected = torch.stack([full_causal_attention(layer, x[b]) for b in range(2)])
    torch.testing.assert_close(out, expected, atol=TOL, rtol=TOL)


@pytest.mark.parametrize("beta", [-30.0, -4.0, 0.0, 2.0, 30.0])
@torch.no_grad()
def test_first_segment_is_exactly_local_attention(beta: float) -> None:
    """Proof 3: nothing to read yet, so no gate halving: bit-identical to memory-off output."""
    layer = make_layer(beta=[beta] * H)
    x = torch.randn(1, 2 * SEG, D_MODEL)
    out, _ = layer(x, empty_state(1))
    layer.read_memory = False
    local, _ = layer(x, empty_state(1))
    assert torch.equal(out[:, :SEG], local[:, :SEG])
    expected = full_causal_attention(layer, x[0, :SEG])
    torch.testing.assert_close(out[0, :SEG], expected, atol=TOL, rtol=TOL)
    if abs(beta) < 30:  # the second segment does read the memory
        assert (out[:, SEG:] - local[:, SEG:]).abs().max() > 1e-3


@torch.no_grad()
def test_pieces_of_a_segment_equal_one_call() -> None:
    """The bottom-right causal mask: a segment fed as 3 + 1 + 4 tokens, then across a boundary."""
    layer = make_layer()
    x = torch.randn(2, 2 * SEG + 6, D_MODEL)
    whole, whole_state = layer(x, empty_state(2))
    state, parts, start = empty_state(2), [], 0
    for n in (3, 1, 4, 7, 1, 2, 4):
        out, state = layer(x[:, start : start + n], state)
        parts.append(out)
        start += n
    torch.testing.assert_close(torch.cat(parts, dim=1), whole, atol=TOL, rtol=TOL)
    torch.testing.assert_close(state.memory.M, whole_state.memory.M, atol=TOL, rtol=TOL)
    torch.testing.assert_close(state.k_seg, whole_state.k_seg, atol=TOL, rtol=TOL)


def test_local_attention_suffix_mask_against_explicit_softmax() -> None:
    q, k, v = torch.randn(1, 2, 3, 4), torch.randn(1, 1, 7, 4), torch.randn(1, 1, 7, 4)
    out = local_attention(q, k, v)
    for h in range(2):
        scores = (q[0, h] @ k[0, 0].T) / 2.0  # sqrt(4)
        scores = scores.masked_fill(torch.ones(3, 7, dtype=torch.bool).triu(5), float("-inf"))
        torch.testing.assert_close(out[0, h], scores.softmax(-1) @ v[0, 0])


def test_segment_pieces() -> None:
    assert segment_pieces(30, 40, 32) == [2, 32, 6]
    assert segment_pieces(0, 64, 32) == [32, 32]
    assert segment_pieces(5, 0, 32) == []
    with pytest.raises(ValueError):
        segment_pieces(32, 1, 32)
