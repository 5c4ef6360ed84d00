"""Long-context perplexity: a whole book read segment by segment, every token scored.

The model reads the book in chunks, carrying its state (memory and segment cache) from one to
the next exactly as a single pass would; each chunk's logits are scored and dropped, so memory
stays flat whatever the book's length. Token i is predicted from tokens < i, including the
first token of each chunk (predicted by the previous chunk's last logits). With memory off
(every gate closed) each segment sees only itself: the difference is what memory brings.

`reset_every=N` empties the memory every N segments (counted from the book's start): the
control for a model trained on windows of N segments. What whole-book memory gains over it is
the long-range part of the gain, what it recalls from further back than a training window.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor

from bookreader.infini import InfiniTransformer


@dataclass
class PerplexityResult:
    tokens: int  # tokens scored (the book's length minus the first)
    nll: float  # mean negative log-likelihood per token, nats
    memory: bool
    seconds: float
    reset_every: int | None = None  # memory emptied every this many segments (None: never)

    @property
    def perplexity(self) -> float:
        return math.exp(self.nll)

    @property
    def bits_per_token(self) -> float:
        return self.nll / math.log(2)

    def to_dict(self) -> dict[str, Any]:
        return {
            **asdict(self),
            "perplexity": self.perplexity,
            "bits_per_token": self.bits_per_token,
        }


@torch.inference_mode()
def token_perplexity(
    model: InfiniTransformer,
    ids: Tensor,
    *,
    memory: bool = True,
    chunk_segments: int = 8,
    max_tokens: int | None = None,
    reset_every: int | None = None,
    on_progress: Callable[[int, int], None] | None = None,
) -> PerplexityResult:
    """Perplexity of the 1-D token sequence `ids` (optionally its first max_tokens); with
    reset_every, the memory is emptied every that many segments."""
    if ids.dim() != 1:
        raise ValueError("ids must be one token sequence (1-D)")
    if max_tokens is not None:
        ids = ids[:max_tokens]
    if ids.numel() < 2:
        raise ValueError("perplexity needs at least two tokens")
    if reset_every is not None and reset_every < 1:
        raise ValueError("reset_every must be at least 1 segment")
    started = time.perf_counter()
    model.eval()
    device = model.device
    # one chunk per reset window, so that every reset falls on a chunk's start
    chunk = (reset_every or chunk_segments) * model.config.segment_len
    previous = model.memory_enabled
    model.set_memory_enabled(memory)
    total_nll, scored = 0.0, 0
    state = model.init_state(1, device=device)
    carry: Tensor | None = None  # last logits of the previous chunk: they predict this one's first
    try:
        for start in range(0, ids.numel(), chunk):
            piece = ids[start : start + chunk].to(device)
            if reset_every is not None and start > 0:
                state = model.init_state(1, device=device)  # forget all earlier windows
            logits, state = model(piece[None], state)
            logits = logits[0].float()  # (t, V)
            if carry is not None:
                logits = torch.cat([carry[None], logits])
                targets = piece
            else:
                targets = piece[1:]
            predicting = logits[: targets.numel()]
            total_nll += float(F.cross_entropy(predicting, targets, reduction="sum"))
            scored += targets.numel()
            carry = logits[-1]
            if on_progress is not None:
                on_progress(min(start + chunk, ids.numel()), ids.numel())
    finally:
        model.set_memory_enabled(previous)
    seconds = time.perf_counter() - started
    return PerplexityResult(scored, total_nll / scored, memory, seconds, reset_every)
