"""A deliberately naive Infini-attention, written from the paper's equations for the tests.

One batch element, a Python loop over segments and heads, explicit softmax with a mask, RoPE
rotated pair by pair, ELU+1 written out, and the memory as plain per-KV-head matrices. It shares
no code with bookreader.infini (no import of memory.retrieve/update or attention).
"""

from __future__ import annotations

import math
from collections.abc import Iterator

import pytest
import torch
from torch import Tensor


def elu_plus_one(x: Tensor) -> Tensor:
    return torch.where(x > 0, x + 1.0, torch.exp(x))


def rope_naive(x: Tensor, theta: float) -> Tensor:
    """x: (T, d) at positions 0..T-1; dimension i is paired with i + d/2 (rotate-half)."""
    T, d = x.shape
    half = d // 2
    out = x.clone()
    for i in range(half):
        freq = theta ** (-2.0 * i / d)
        for p in range(T):
            c, s = math.cos(p * freq), math.sin(p * freq)
            a, b = x[p, i], x[p, i + half]
            out[p, i] = a * c - b * s
            out[p, i + half] = a * s + b * c
    return out


def causal_softmax_attention(q: Tensor, k: Tensor, v: Tensor) -> Tensor:
    """q, k, v: (T, d). Query t sees keys 0..t."""
    T, d = q.shape
    scores = (q @ k.T) / math.sqrt(d)
    mask = torch.ones(T, T, dtype=torch.bool).triu(1)
    scores = scores.masked_fill(mask, float("-inf"))
    return torch.softmax(scores, dim=-1) @ v


def naive_infini_attention(
    x: Tensor,
    wq: Tensor,
    wk: Tensor,
    wv: Tensor,
    wo: Tensor,
    beta: Tensor,
    n_heads: int,
    n_kv_heads: int,
    segment_len: int,
    rule: str,
    rope_theta: float | None = 10000.0,
    use_memory: bool = True,
) -> tuple[Tensor, list[Tensor], list[Tensor]]:
    """x: (T, D) one sequence. Returns the output (T, D) and per-KV-head M, z after the last
    *full* segment. Eq. numbers from arXiv 2404.07143."""
    T, _ = x.shape
    d = wq.shape[0] // n_heads
    group = n_heads // n_kv_heads
    M = [torch.zeros(d, d, dtype=x.dtype) for _ in range(n_kv_heads)]
    z = [torch.zeros(d, dtype=x.dtype) for _ in range(n_kv_heads)]
    outputs = []
    for s, start in enumerate(range(0, T, segment_len)):
        xs = x[start : start + segment_len]
        K = [xs @ wk[g * d : (g + 1) * d].T for g in range(n_kv_heads)]
        V = [xs @ wv[g * d : (g + 1) * d].T for g in range(n_kv_heads)]
        heads = []
        for h in range(n_heads):
            g = h // group  # query head h reads KV head h // group
            Q = xs @ wq[h * d : (h + 1) * d].T
            if rope_theta is None:
                a_dot = causal_softmax_attention(Q, K[g], V[g])
            else:  # positions restart at 0 in every segment
                a_dot = causal_softmax_attention(
                    rope_naive(Q, rope_theta), rope_naive(K[g], rope_theta), V[g]
                )
            if s == 0 or not use_memory:  # nothing written yet: local attention only
                heads.append(a_dot)
                continue
            sq = elu_plus_one(Q)  # pre-RoPE query
            a_mem = (sq @ M[g]) / (sq @ z[g]).unsqueeze(1)  # eq. 7
            g_h = torch.sigmoid(beta[h])
            heads.append(g_h * a_mem + (1 - g_h) * a_dot)  # eq. 10
        outputs.append(torch.cat(heads, dim=1) @ wo.T)
        if xs.shape[0] < segment_len:
            break  # an unfinished segment is not written yet
        for g in range(n_kv_heads):
            sk = elu_plus_one(K[g])  # pre-RoPE key
            values = V[g]
            if rule == "delta" and s > 0:  # eq. 9
                values = values - (sk @ M[g]) / (sk @ z[g]).unsqueeze(1)
            M[g] = M[g] + sk.T @ values  # eqs. 8-9
            z[g] = z[g] + sk.sum(dim=0)
    return torch.cat(outputs, dim=0), M, z


@pytest.fixture
def one_thread() -> Iterator[None]:
    """The tests' models are tiny: one thread is faster than two, and much faster on a busy
    machine where a second thread waits for a core."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)
