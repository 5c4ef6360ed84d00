"""Rotary position embedding (RoPE) for segment-local attention.

Infini-attention applies RoPE to local attention only, with positions restarting at 0 in every
segment; memory reads and writes use the un-rotated queries and keys. The convention is the
"rotate half" one of GPT-NeoX and Llama (dimension i pairs with i + d/2), so that weights of
those families keep their meaning.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn


def rotate_half(x: Tensor) -> Tensor:
    half = x.shape[-1] // 2
    return torch.cat((-x[..., half:], x[..., :half]), dim=-1)


def apply_rope(x: Tensor, cos: Tensor, sin: Tensor) -> Tensor:
    """x: (B, heads, t, d); cos, sin: (t, d). Rotates each pair (i, i + d/2) by its angle."""
    return x * cos.to(x.dtype) + rotate_half(x) * sin.to(x.dtype)


class RotaryEmbedding(nn.Module):
    """cos/sin tables for positions 0..max_positions-1 (one segment), computed in fp32."""

    def __init__(self, head_dim: int, max_positions: int, theta: float = 10000.0) -> None:
        super().__init__()
        if head_dim % 2:
            raise ValueError(f"RoPE needs an even head dimension, got {head_dim}")
        inv_freq = 1.0 / theta ** (torch.arange(0, head_dim, 2, dtype=torch.float32) / head_dim)
        angles = torch.outer(torch.arange(max_positions, dtype=torch.float32), inv_freq)
        angles = torch.cat((angles, angles), dim=-1)  # (max_positions, head_dim)
        self.register_buffer("cos", angles.cos(), persistent=False)
        self.register_buffer("sin", angles.sin(), persistent=False)

    def forward(self, x: Tensor, start: int) -> Tensor:
        """Rotate x (B, heads, t, d) as positions start..start+t-1 of the segment."""
        t = x.shape[-2]
        return apply_rope(x, self.cos[start : start + t], self.sin[start : start + t])
