"""Compressive memory of Infini-attention (arXiv 2404.07143, section 2.1.2, eqs. 6-9).

One memory per layer and per KV head: an associative matrix M (d_k x d_v) and a normalisation
vector z (d_k), both fp32 whatever the model's dtype, so that summing millions of tokens into
them does not lose precision. Queries and keys reach the memory *before* RoPE: a memory has no
positions, and the same key must be stored the same way wherever it sat in its segment.

With grouped-query attention, query head i reads the memory of KV head i // (H / H_kv), the
mapping transformers' `repeat_kv` uses.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import torch
import torch.nn.functional as F
from torch import Tensor

UpdateRule = Literal["linear", "delta"]
DEFAULT_EPS = 1e-6


def sigma(x: Tensor) -> Tensor:
    """The paper's non-linearity for memory reads and writes: ELU + 1 (always > 0)."""
    return F.elu(x) + 1.0


@dataclass
class LayerMemory:
    """M: (B, H_kv, d_k, d_v) and z: (B, H_kv, d_k), fp32.

    `written` is False until a segment has been folded in. An unwritten memory is not read at
    all: the first segment's output is exactly the local attention output (no gate halving).
    """

    M: Tensor
    z: Tensor
    written: bool = False

    @classmethod
    def empty(
        cls,
        batch_size: int,
        n_kv_heads: int,
        d_k: int,
        d_v: int,
        device: torch.device | str | None = None,
    ) -> LayerMemory:
        M = torch.zeros(batch_size, n_kv_heads, d_k, d_v, dtype=torch.float32, device=device)
        z = torch.zeros(batch_size, n_kv_heads, d_k, dtype=torch.float32, device=device)
        return cls(M, z, False)

    @property
    def nbytes(self) -> int:
        return self.M.numel() * self.M.element_size() + self.z.numel() * self.z.element_size()

    def to(self, device: torch.device | str) -> LayerMemory:
        return LayerMemory(self.M.to(device), self.z.to(device), self.written)

    def detach(self) -> LayerMemory:
        return LayerMemory(self.M.detach(), self.z.detach(), self.written)


def retrieve(q: Tensor, memory: LayerMemory, memory_eps: float = DEFAULT_EPS) -> Tensor:
    """Eq. 7: A_mem = σ(Q) M / (σ(Q) z).

    q: (B, H, T, d_k), pre-RoPE, any dtype. Returns (B, H, T, d_v) in fp32.
    """
    B, H, T, d_k = q.shape
    n_kv = memory.M.shape[1]
    group = H // n_kv
    sq = sigma(q.float()).view(B, n_kv, group, T, d_k)  # head i -> KV head i // group
    num = sq @ memory.M.unsqueeze(2)  # (B, H_kv, g, T, d_v)
    den = sq @ memory.z[:, :, None, :, None]  # (B, H_kv, g, T, 1)
    return (num / den.clamp_min(memory_eps)).reshape(B, H, T, -1)


def update(
    k: Tensor,
    v: Tensor,
    memory: LayerMemory,
    memory_update: UpdateRule = "delta",
    memory_eps: float = DEFAULT_EPS,
) -> LayerMemory:
    """Fold one segment into memory. k: (B, H_kv, T, d_k) pre-RoPE, v: (B, H_kv, T, d_v).

    Eq. 8 (linear): M_s = M_{s-1} + σ(K)ᵀ V
    Eq. 9 (delta):  M_s = M_{s-1} + σ(K)ᵀ (V − σ(K) M_{s-1} / (σ(K) z_{s-1}))
    Both:           z_s = z_{s-1} + Σ_t σ(K_t)
    The delta rule only writes what the memory does not already return for that key.
    """
    sk = sigma(k.float())
    values = v.float()
    if memory_update == "delta" and memory.written:
        known = (sk @ memory.M) / (sk @ memory.z.unsqueeze(-1)).clamp_min(memory_eps)
        values = values - known
    elif memory_update not in ("linear", "delta"):
        raise ValueError(f"unknown memory update rule {memory_update!r}")
    M = memory.M + sk.transpose(-1, -2) @ values
    z = memory.z + sk.sum(dim=-2)
    return LayerMemory(M, z, True)


def gate(a_mem: Tensor, a_dot: Tensor, beta: Tensor, memory: LayerMemory) -> Tensor:
    """Eq. 10: A = sigmoid(β) ⊙ A_mem + (1 − sigmoid(β)) ⊙ A_dot, one β per head.

    a_mem: (B, H, T, d_v) fp32, a_dot: (B, H, T, d_v) model dtype, beta: (H,).
    Returns a_dot unchanged when the memory holds nothing yet.
    """
    if not memory.written:
        return a_dot
    g = torch.sigmoid(beta.float()).view(1, -1, 1, 1)
    return (g * a_mem + (1.0 - g) * a_dot.float()).to(a_dot.dtype)
