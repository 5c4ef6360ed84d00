"""Infini-attention (arXiv 2404.07143, section 2.1, eqs. 6-10).

Per layer and head, for the tokens of one segment:
- local:    A_dot = causal softmax attention within the segment (SDPA; flash kernels on CUDA)
- retrieve: A_mem = σ(Q) M_{s-1} / (σ(Q) z_{s-1})                             (eq. 7)
- gate:     A = sigmoid(β) ⊙ A_mem + (1 − sigmoid(β)) ⊙ A_dot                  (eq. 10)
- update:   when the segment is full, its keys and values are folded into M, z (eqs. 8-9)

A segment may arrive in pieces (streaming, token-by-token generation): its keys and values wait
in the LayerState's segment cache until it is full, and every query of the segment reads the
memory as it was before the segment. Feeding a sequence in one call or in pieces of any sizes is
therefore the same computation.

Functions for other model families (the Hugging Face plug-in) are `infini_attention_step`,
`local_attention`, `segment_pieces` and `repeat_kv`; `InfiniAttention` is this package's module.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from bookreader.infini.config import InfiniConfig
from bookreader.infini.memory import DEFAULT_EPS, UpdateRule, gate, retrieve, update
from bookreader.infini.rope import RotaryEmbedding
from bookreader.infini.state import LayerState

try:  # a causal mask aligned to the last key, understood by the fused kernels (torch >= 2.3)
    from torch.nn.attention.bias import causal_lower_right
except ImportError:  # pragma: no cover - older torch
    causal_lower_right = None


def repeat_kv(x: Tensor, group: int) -> Tensor:
    """(B, H_kv, T, d) -> (B, H_kv * group, T, d): query head i uses KV head i // group."""
    return x if group == 1 else x.repeat_interleave(group, dim=1)


def segment_pieces(seg_len: int, n_new: int, segment_len: int) -> list[int]:
    """Lengths of consecutive pieces of `n_new` tokens, none crossing a segment boundary, when
    the current segment already holds `seg_len` tokens. Example: (30, 40, 32) -> [2, 32, 6]."""
    if not 0 <= seg_len < segment_len:
        raise ValueError(f"segment cache holds {seg_len} tokens; segment_len is {segment_len}")
    pieces = []
    room = segment_len - seg_len
    while n_new > 0:
        take = min(room, n_new)
        pieces.append(take)
        n_new -= take
        room = segment_len
    return pieces


def local_attention(q_rot: Tensor, k_rot: Tensor, v: Tensor, dropout_p: float = 0.0) -> Tensor:
    """Causal softmax attention of t queries that are the *last* t of the S segment keys.

    q_rot: (B, H, t, d) after RoPE; k_rot: (B, H_kv, S, d) after RoPE; v: (B, H_kv, S, d_v).
    Returns (B, H, t, d_v). SDPA's `is_causal` aligns the mask top-left, which is only right
    when t == S, so a piece that continues a segment uses a bottom-right aligned mask.
    """
    t, S = q_rot.shape[2], k_rot.shape[2]
    group = q_rot.shape[1] // k_rot.shape[1]
    k_rot, v = repeat_kv(k_rot, group), repeat_kv(v, group)
    if t == S:
        return F.scaled_dot_product_attention(q_rot, k_rot, v, dropout_p=dropout_p, is_causal=True)
    if t == 1:  # the newest token sees every key of its segment
        return F.scaled_dot_product_attention(q_rot, k_rot, v, dropout_p=dropout_p)
    if causal_lower_right is not None:
        mask = causal_lower_right(t, S)
    else:  # pragma: no cover - older torch
        mask = torch.ones(t, S, dtype=torch.bool, device=q_rot.device).tril(S - t)
    return F.scaled_dot_product_attention(q_rot, k_rot, v, attn_mask=mask, dropout_p=dropout_p)


def _concat(cached: Tensor | None, new: Tensor) -> Tensor:
    return new if cached is None else torch.cat((cached, new), dim=2)


def infini_attention_step(
    q: Tensor,
    k: Tensor,
    v: Tensor,
    q_rot: Tensor,
    k_rot: Tensor,
    layer: LayerState,
    beta: Tensor,
    *,
    segment_len: int,
    memory_update: UpdateRule = "delta",
    read_memory: bool = True,
    memory_eps: float = DEFAULT_EPS,
    dropout_p: float = 0.0,
) -> tuple[Tensor, LayerState]:
    """One Infini-attention step for t new tokens that stay within the current segment.

    q: (B, H, t, d_k) and k: (B, H_kv, t, d_k) *before* RoPE (memory reads/writes);
    q_rot, k_rot: the same after RoPE at positions layer.seg_len .. layer.seg_len + t - 1 of the
    segment (positions restart at 0 every segment; pass q, k again when there is no RoPE);
    v: (B, H_kv, t, d_v); beta: (H,) gate logits; layer: this layer's state before the step.

    Returns the gated attention (B, H, t, d_v) in q's dtype, before W_O, and the new layer
    state: the segment cache grown by t tokens or, when the segment is now full, the memory
    updated with the whole segment (eq. 8 or 9) and an empty cache. The input state is not
    modified. `read_memory=False` closes every gate (memory-off control): output = A_dot.
    """
    t0, t = layer.seg_len, q.shape[2]
    if t0 + t > segment_len:
        raise ValueError(f"{t} new tokens overflow a segment holding {t0} of {segment_len}")
    k_seg, v_seg = _concat(layer.k_seg, k), _concat(layer.v_seg, v)
    rotated = k_rot is not k  # without RoPE the pre-RoPE cache serves local attention too
    if rotated and t0 > 0 and layer.k_rot_seg is None:
        raise ValueError("the segment cache holds no rotated keys: it was filled without RoPE")
    k_rot_seg = _concat(layer.k_rot_seg, k_rot) if rotated else k_seg

    a_dot = local_attention(q_rot, k_rot_seg, v_seg, dropout_p)  # (B, H, t, d_v)
    out = a_dot
    if read_memory and layer.memory.written:
        a_mem = retrieve(q, layer.memory, memory_eps)  # eq. 7, memory of the previous segments
        out = gate(a_mem, a_dot, beta, layer.memory)  # eq. 10

    if t0 + t == segment_len:  # segment full: fold it in once, start an empty one
        memory = update(k_seg, v_seg, layer.memory, memory_update, memory_eps)  # eqs. 8-9
        return out, LayerState(memory)
    return out, LayerState(layer.memory, k_seg, v_seg, k_rot_seg if rotated else None)


class InfiniAttention(nn.Module):
    """Projections + Infini-attention + W_O, for the standalone model.

    forward(x (B, T, d_model), layer) accepts any T: it is split at segment boundaries.
    """

    def __init__(self, cfg: InfiniConfig) -> None:
        super().__init__()
        self.n_heads, self.n_kv_heads, self.head_dim = cfg.n_heads, cfg.kv_heads, cfg.head_dim
        self.segment_len, self.memory_update = cfg.segment_len, cfg.memory_update
        self.memory_eps = cfg.memory_eps
        self.dropout = cfg.dropout
        self.q_proj = nn.Linear(cfg.d_model, self.n_heads * self.head_dim, bias=False)
        self.k_proj = nn.Linear(cfg.d_model, self.n_kv_heads * self.head_dim, bias=False)
        self.v_proj = nn.Linear(cfg.d_model, self.n_kv_heads * self.head_dim, bias=False)
        self.o_proj = nn.Linear(self.n_heads * self.head_dim, cfg.d_model, bias=False)
        self.beta = nn.Parameter(torch.full((self.n_heads,), float(cfg.gate_init)))  # eq. 10
        self.rope = (
            RotaryEmbedding(self.head_dim, cfg.segment_len, cfg.rope_theta)
            if cfg.positions == "rope"
            else None
        )
        self.read_memory = True  # False: every gate closed (memory-off control)

    def _heads(self, x: Tensor, n: int) -> Tensor:
        B, T, _ = x.shape
        return x.view(B, T, n, self.head_dim).transpose(1, 2)  # (B, n, T, d)

    def forward(self, x: Tensor, layer: LayerState) -> tuple[Tensor, LayerState]:
        B, T, _ = x.shape
        q = self._heads(self.q_proj(x), self.n_heads)  # (B, H, T, d)
        k = self._heads(self.k_proj(x), self.n_kv_heads)  # (B, H_kv, T, d)
        v = self._heads(self.v_proj(x), self.n_kv_heads)
        outputs, start = [], 0
        dropout_p = self.dropout if self.training else 0.0
        for n in segment_pieces(layer.seg_len, T, self.segment_len):
            qs, ks, vs = (
                q[:, :, start : start + n],
                k[:, :, start : start + n],
                v[:, :, start : start + n],
            )
            q_rot, k_rot = qs, ks
            if self.rope is not None:  # positions within the segment only
                q_rot, k_rot = self.rope(qs, layer.seg_len), self.rope(ks, layer.seg_len)
            out, layer = infini_attention_step(
                qs, ks, vs, q_rot, k_rot, layer, self.beta,
                segment_len=self.segment_len, memory_update=self.memory_update,
                read_memory=self.read_memory,
                memory_eps=self.memory_eps, dropout_p=dropout_p,
            )  # fmt: skip
            outputs.append(out)
            start += n
        if not outputs:  # T == 0
            return x.new_zeros(B, 0, x.shape[-1]), layer
        y = torch.cat(outputs, dim=2) if len(outputs) > 1 else outputs[0]
        y = y.transpose(1, 2).reshape(B, T, self.n_heads * self.head_dim)
        return self.o_proj(y), layer
