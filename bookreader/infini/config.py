"""The configuration of the standalone Infini-Transformer (`InfiniConfig`).

The bottom of the package: it imports only the memory's constants and the byte tokenizer's
vocabulary size, and every other module of `bookreader.infini` may import it.

Field names are the ones the Hugging Face side uses too (`memory_update`, `memory_eps`,
`head_dim`, `segment_len`, `gate_init`). Saved configs and training recipes written before
the update rule was called `memory_update` say `update`: `from_dict` still reads it
(`LEGACY_NAMES`).
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, fields
from typing import Any, Literal

from bookreader.infini.memory import DEFAULT_EPS, UpdateRule
from bookreader.infini.tokenizer import ByteTokenizer

# Older key -> current field, accepted when reading a config or a recipe's [model] table.
LEGACY_NAMES = {"update": "memory_update"}


@dataclass
class InfiniConfig:
    vocab_size: int = ByteTokenizer.vocab_size
    d_model: int = 256
    n_layers: int = 4
    n_heads: int = 4
    n_kv_heads: int | None = None  # None: n_heads (no grouped-query attention)
    head_dim: int | None = None  # None: d_model // n_heads (filled in at construction)
    d_ff: int | None = None  # SwiGLU hidden size; None: 8/3 d_model rounded up to 8
    segment_len: int = 512
    memory_update: UpdateRule = "delta"  # "linear" (eq. 8) or "delta" (eq. 9)
    gate_init: float = 0.0  # β at init: 0 from scratch; -3..-5 to adapt; -30 closes the gate
    positions: Literal["rope", "learned"] = "rope"  # both restart at 0 in every segment
    rope_theta: float = 10000.0
    bptt_segments: int | None = None  # gradient through memory within windows of this many
    checkpoint_segments: bool = False  # recompute each segment's activations in backward
    dropout: float = 0.0
    tie_embeddings: bool = True
    norm_eps: float = 1e-5
    memory_eps: float = DEFAULT_EPS  # clamp of the memory denominators σ(Q) z

    def __post_init__(self) -> None:
        if self.head_dim is None:
            self.head_dim = self.d_model // self.n_heads
        if self.n_heads % self.kv_heads:
            raise ValueError(
                f"n_heads {self.n_heads} is not a multiple of n_kv_heads {self.kv_heads}"
            )
        if self.memory_update not in ("linear", "delta"):
            raise ValueError(
                f"memory_update must be 'linear' or 'delta', not {self.memory_update!r}"
            )
        if self.positions not in ("rope", "learned"):
            raise ValueError(f"positions must be 'rope' or 'learned', not {self.positions!r}")
        if self.segment_len < 1:
            raise ValueError("segment_len must be at least 1")
        if self.bptt_segments is not None and self.bptt_segments < 1:
            raise ValueError("bptt_segments must be None or at least 1")

    @property
    def kv_heads(self) -> int:
        return self.n_kv_heads or self.n_heads

    @property
    def ff_hidden(self) -> int:
        return self.d_ff or 8 * math.ceil(8 * self.d_model / 3 / 8)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> InfiniConfig:
        data = {LEGACY_NAMES.get(key, key): value for key, value in data.items()}
        known = {f.name for f in fields(cls)}
        unknown = set(data) - known
        if unknown:
            raise ValueError(f"unknown InfiniConfig fields: {sorted(unknown)}")
        return cls(**data)
