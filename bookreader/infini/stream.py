"""Feeding token streams to an Infini-Transformer, and generating from it.

Reading: a stream of any length, in chunks of any sizes, is read segment by segment (the model
splits chunks at segment boundaries and keeps the unfinished segment's keys and values in the
state), so `read_stream` over chunks equals one call over the whole sequence.

Generation keeps a KV cache for the current segment only (the state's segment cache); when the
segment fills it is folded into memory, so a token is written to memory once and generation
memory stays constant however long the output.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from typing import TYPE_CHECKING

import torch
from torch import Tensor

from bookreader.infini.state import InfiniState

if TYPE_CHECKING:
    from bookreader.infini.model import InfiniTransformer


def iter_chunks(ids: Tensor, size: int) -> Iterator[Tensor]:
    """Slices of ids (B, T) along T, each `size` long (the last may be shorter)."""
    for start in range(0, ids.shape[1], size):
        yield ids[:, start : start + size]


@torch.no_grad()
def read_stream(
    model: InfiniTransformer,
    chunks: Iterable[Tensor | Sequence[int]],
    state: InfiniState | None = None,
) -> InfiniState:
    """Read chunks (each (B, t) tensors, or lists of ids for a batch of one) into memory without
    computing logits: peak memory is that of one chunk, whatever the stream's length."""
    for chunk in chunks:
        ids = chunk if isinstance(chunk, Tensor) else torch.tensor([list(chunk)], dtype=torch.long)
        state = model.read(ids.to(model.device), state)
    return state if state is not None else model.init_state(1)


def sample_next(
    logits: Tensor,
    temperature: float = 0.0,
    top_p: float = 1.0,
    top_k: int | None = None,
    generator: torch.Generator | None = None,
) -> Tensor:
    """logits (B, V) -> next ids (B,). temperature <= 0: greedy (argmax); else softmax of
    logits / temperature restricted to the top_k ids and to the smallest set whose
    probability reaches top_p (nucleus sampling)."""
    if temperature <= 0:
        return logits.argmax(dim=-1)
    logits = logits.float() / temperature
    if top_k is not None and top_k < logits.shape[-1]:
        kth = logits.topk(top_k, dim=-1).values[:, -1:]
        logits = logits.masked_fill(logits < kth, float("-inf"))
    if top_p < 1.0:
        sorted_logits, order = logits.sort(dim=-1, descending=True)
        probs = sorted_logits.softmax(dim=-1)
        before = probs.cumsum(dim=-1) - probs  # mass strictly above each id
        sorted_logits = sorted_logits.masked_fill(before >= top_p, float("-inf"))
        logits = torch.full_like(logits, float("-inf")).scatter(-1, order, sorted_logits)
    probs = logits.softmax(dim=-1)
    return torch.multinomial(probs, 1, generator=generator).squeeze(-1)


def _generate_steps(
    model: InfiniTransformer,
    ids: Tensor,
    state: InfiniState | None,
    max_new_tokens: int,
    temperature: float = 0.0,
    top_p: float = 1.0,
    top_k: int | None = None,
    eos_id: int | None = None,
    generator: torch.Generator | None = None,
) -> Iterator[tuple[Tensor, InfiniState]]:
    """Yields (next ids (B,), state after reading them) for each generated token.

    The last generated token is read too (its keys/values enter the segment cache), so the
    final state has read prompt + output and a later call continues the conversation."""
    if ids.dim() != 2 or ids.shape[1] == 0:
        raise ValueError("generate needs a prompt of shape (B, T) with T >= 1")
    logits, state = model(ids, state)
    last = logits[:, -1]
    finished = torch.zeros(ids.shape[0], dtype=torch.bool, device=ids.device)
    for _ in range(max_new_tokens):
        token = sample_next(last, temperature, top_p, top_k, generator)
        if eos_id is not None:
            token = token.masked_fill(finished, eos_id)
            finished |= token == eos_id
        logits, state = model(token[:, None], state)  # one token: segment cache, no recompute
        last = logits[:, -1]
        yield token, state
        if eos_id is not None and bool(finished.all()):
            return


@torch.no_grad()
def generate(
    model: InfiniTransformer,
    ids: Tensor,
    state: InfiniState | None = None,
    max_new_tokens: int = 64,
    **sampling: object,
) -> tuple[Tensor, InfiniState]:
    """Continue ids (B, T); returns (new ids (B, n), the state after reading them)."""
    tokens: list[Tensor] = []
    final = state
    for token, final in _generate_steps(model, ids, state, max_new_tokens, **sampling):  # noqa: B007
        tokens.append(token)
    if not tokens:
        _, final = model(ids, state)
        return ids.new_zeros(ids.shape[0], 0), final
    return torch.stack(tokens, dim=1), final


class TokenStream:
    """Token ids (batch of one) as they are generated, for the CLI and TUI. After (or during)
    iteration, `.state` is the state that has read the prompt and every token yielded."""

    def __init__(
        self,
        model: InfiniTransformer,
        ids: Tensor,
        state: InfiniState | None = None,
        max_new_tokens: int = 64,
        **sampling: object,
    ) -> None:
        if ids.shape[0] != 1:
            raise ValueError("a token stream generates for a batch of one")
        self.state = state
        self._steps = _generate_steps(model, ids, state, max_new_tokens, **sampling)

    def __iter__(self) -> Iterator[int]:
        return self

    def __next__(self) -> int:
        with torch.no_grad():
            token, self.state = next(self._steps)
        return int(token[0])
