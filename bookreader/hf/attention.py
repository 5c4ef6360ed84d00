"""The attention module that replaces a Hugging Face decoder layer's `self_attn`.

`InfiniHFAttention` keeps the layer's own q/k/v/o projections (and Qwen3's q_norm/k_norm) under
their original names and adds one gate logit β per query head (`self_attn.beta`). Memory reads
and writes use q and k *before* RoPE; local attention uses them after RoPE at positions that
restart at 0 in every segment. The step itself (local SDPA, eq. 7 retrieve, eq. 10 gate, eqs.
8-9 fold) is `bookreader.infini.attention.infini_attention_step`, shared with the standalone
model. `modeling.py` runs the decoder stack piece by piece and hands every module a
`PieceContext`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import Tensor, nn
from transformers import PretrainedConfig, PreTrainedModel

from bookreader.infini.attention import infini_attention_step
from bookreader.infini.memory import UpdateRule
from bookreader.infini.rope import apply_rope
from bookreader.infini.state import LayerState


@dataclass
class PieceContext:
    """What every Infini attention module needs for one piece of input (at most one segment).

    The modules read `layers_in` and write `layers_out` (never the reverse), so re-running a
    layer (activation checkpointing) recomputes the same output and writes the same state.
    """

    layers_in: list[LayerState]
    cos: Tensor  # (segment_len, d) RoPE table for positions 0..segment_len-1 of a segment
    sin: Tensor
    segment_len: int
    memory_update: UpdateRule
    memory_eps: float
    layers_out: list[LayerState | None] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.layers_out = [None] * len(self.layers_in)


class InfiniHFAttention(nn.Module):
    """Drop-in `self_attn` of a Llama-family decoder layer, with a compressive memory."""

    def __init__(self, original: nn.Module, config: PretrainedConfig, layer_idx: int) -> None:
        super().__init__()
        # Same submodules under the same names: checkpoints load into them unchanged.
        for name, child in original.named_children():
            self.add_module(name, child)
        self.layer_idx = layer_idx
        self.n_heads = config.num_attention_heads
        self.n_kv_heads = config.num_key_value_heads
        self.head_dim = original.head_dim
        self.scaling = float(original.scaling)
        self.attention_dropout = float(getattr(original, "attention_dropout", 0.0) or 0.0)
        # Qwen2/3 set this per layer (None when the layer is global); Mistral only in its config.
        window = getattr(original, "sliding_window", getattr(config, "sliding_window", None))
        self.sliding_window: int | None = window
        weight = self.q_proj.weight
        beta = torch.full((self.n_heads,), float(config.gate_init), dtype=weight.dtype)
        self.beta = nn.Parameter(beta.to(weight.device))  # eq. 10, one gate logit per head
        self.read_memory = True  # False closes every gate (memory-off control)
        self.bound_context: PieceContext | None = None  # fallback when kwargs do not reach us

    def _heads(self, x: Tensor, norm: nn.Module | None) -> Tensor:
        B, T, _ = x.shape
        x = x.view(B, T, -1, self.head_dim)  # (B, T, heads, d)
        if norm is not None:  # Qwen3: RMSNorm per head, before RoPE (so memory sees it too)
            x = norm(x)
        return x.transpose(1, 2)  # (B, heads, T, d)

    def forward(
        self,
        hidden_states: Tensor,
        *args: Any,
        infini_ctx: PieceContext | None = None,
        **kwargs: Any,
    ) -> tuple[Tensor, None]:
        ctx = infini_ctx if infini_ctx is not None else self.bound_context
        if ctx is None:
            raise RuntimeError("Infini-attention layers run through the converted model only")
        B, T, _ = hidden_states.shape
        q = self._heads(self.q_proj(hidden_states), getattr(self, "q_norm", None))  # (B,H,T,d)
        k = self._heads(self.k_proj(hidden_states), getattr(self, "k_norm", None))  # (B,Hkv,T,d)
        v = self._heads(self.v_proj(hidden_states), None)  # (B, H_kv, T, d)

        layer = ctx.layers_in[self.layer_idx]
        start = layer.seg_len  # positions restart at 0 in every segment
        cos, sin = ctx.cos[start : start + T], ctx.sin[start : start + T]
        q_rot, k_rot = apply_rope(q, cos, sin), apply_rope(k, cos, sin)
        if not math.isclose(self.scaling, self.head_dim**-0.5):  # SDPA scales by d^-0.5
            q_rot = q_rot * (self.scaling * self.head_dim**0.5)

        out, new_layer = infini_attention_step(
            q, k, v, q_rot, k_rot, layer, self.beta,
            segment_len=ctx.segment_len, memory_update=ctx.memory_update,
            read_memory=self.read_memory, memory_eps=ctx.memory_eps,
            dropout_p=self.attention_dropout if self.training else 0.0,
        )  # fmt: skip
        ctx.layers_out[self.layer_idx] = new_layer
        out = out.transpose(1, 2).reshape(B, T, self.n_heads * self.head_dim)
        return self.o_proj(out), None


def swap_attention(model: PreTrainedModel, config: PretrainedConfig) -> None:
    """Replace every decoder layer's self_attn by an InfiniHFAttention sharing its weights."""
    for index, layer in enumerate(model.model.layers):
        if not isinstance(layer.self_attn, InfiniHFAttention):
            layer.self_attn = InfiniHFAttention(layer.self_attn, config, index)


def infini_attention_modules(model: nn.Module) -> list[InfiniHFAttention]:
    return [m for m in model.modules() if isinstance(m, InfiniHFAttention)]
