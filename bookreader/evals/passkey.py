"""The passkey test (arXiv 2404.07143, section 4.1, Table 3), streamed so memory stays flat.

For each length and position, `trials` random keys are hidden at the same depth (one layout,
so the trials run as one batch). Every token is read by the model: the part before the needle,
identical in every trial, is read once and its state copied to each trial (the same numbers as
reading it per trial, at a fraction of the cost); the rest is read in chunks with
`torch.inference_mode` and no logits; logits are computed only for the six last tokens, whose
predictions are the key's five digits. The needle always ends in an earlier segment than the
question (see bookreader.training.data.passkey_sample): only the memory can bring it back.

Scores: token accuracy (share of key digits whose teacher-forced prediction is right, the
paper's measure) and exact match (share of trials with all five right: exactly the trials that
greedy decoding answers correctly). Chance is 10% token accuracy, 0.001% exact match.
"""

from __future__ import annotations

import random
import re
import time
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass
from typing import Any

import torch

from bookreader.infini import InfiniState, InfiniTransformer, LayerMemory, LayerState
from bookreader.training.data import (
    KEY_DIGITS,
    POSITIONS,
    PasskeySample,
    min_passkey_length,
    passkey_sample,
    random_key,
    stack_tokens,
)

CHANCE_TOKEN_ACCURACY = 0.1


@dataclass
class PasskeyCell:
    length: int
    position: str
    trials: int
    token_accuracy: float
    exact_match: float
    seconds: float

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def parse_length(text: str) -> int:
    """'32K' -> 32768, '1M' -> 1048576, '5000' -> 5000 (K and M are powers of two)."""
    match = re.fullmatch(r"\s*(\d+)\s*([kKmM]?)\s*", text)
    if not match:
        raise ValueError(f"not a length: {text!r} (examples: 8K, 32K, 1M, 5000)")
    scale = {"": 1, "k": 1024, "m": 1024 * 1024}[match.group(2).lower()]
    return int(match.group(1)) * scale


def format_length(tokens: int) -> str:
    for unit, scale in (("M", 1024 * 1024), ("K", 1024)):
        if tokens >= scale and tokens % scale == 0:
            return f"{tokens // scale}{unit}"
    return str(tokens)


def expand_state(state: InfiniState, batch_size: int) -> InfiniState:
    """A batch-of-one state copied to `batch_size` rows (memory and segment cache)."""

    def grow(t: torch.Tensor | None) -> torch.Tensor | None:
        return None if t is None else t.expand(batch_size, *t.shape[1:]).contiguous()

    layers = [
        LayerState(
            LayerMemory(grow(layer.memory.M), grow(layer.memory.z), layer.memory.written),
            grow(layer.k_seg),
            grow(layer.v_seg),
            grow(layer.k_rot_seg),
        )
        for layer in state.layers
    ]
    return InfiniState(layers, state.tokens_read, dict(state.meta))


def _spans(start: int, end: int, size: int) -> Iterator[tuple[int, int]]:
    for a in range(start, end, size):
        yield a, min(a + size, end)


@torch.inference_mode()
def answer_logits(
    model: InfiniTransformer,
    samples: list[PasskeySample],
    chunk_tokens: int,
) -> torch.Tensor:
    """Read trials that share one layout; returns the logits that predict the key's digits,
    (B, 5, vocab), computed without logits for any other token."""
    device = model.device
    first = samples[0]
    tail_start = first.answer_positions.start - 1  # logits from here on predict the digits
    shared = first.needle_start  # tokens before the needle are the same in every trial
    state = model.init_state(1, device=device)
    for a, b in _spans(0, shared, chunk_tokens):
        state = model.read(first.tokens(a, b)[None].to(device), state)
    state = expand_state(state, len(samples))
    for a, b in _spans(shared, tail_start, chunk_tokens):
        state = model.read(stack_tokens(samples, a, b).to(device), state)
    logits, _ = model(stack_tokens(samples, tail_start, first.length).to(device), state)
    return logits[:, :KEY_DIGITS].float().cpu()


def score_trials(
    model: InfiniTransformer,
    samples: list[PasskeySample],
    chunk_tokens: int,
) -> tuple[torch.Tensor, torch.Tensor]:
    """(predicted digits, true digits), both (B, 5): greedy = teacher-forced argmax."""
    predicted = answer_logits(model, samples, chunk_tokens).argmax(-1)
    first = samples[0]
    truth = stack_tokens(samples, first.answer_positions.start, first.length)
    return predicted, truth


def run_passkey(
    model: InfiniTransformer,
    lengths: list[int],
    positions: list[str],
    trials: int,
    *,
    memory: bool = True,
    seed: int = 0,
    batch_size: int = 16,
    chunk_segments: int = 16,
    on_cell: Callable[[PasskeyCell], None] | None = None,
) -> list[PasskeyCell]:
    """The passkey table: one cell per (length, position)."""
    segment_len = model.config.segment_len
    shortest = min_passkey_length(segment_len)
    for length in lengths:
        if length < shortest:
            raise ValueError(
                f"length {length} is below {shortest}, the shortest passkey trial for "
                f"{segment_len}-token segments"
            )
    for position in positions:
        if position not in POSITIONS:
            raise ValueError(f"unknown position {position!r}; choose from {', '.join(POSITIONS)}")
    rng = random.Random(seed)
    cells = []
    model.eval()
    previous = model.memory_enabled
    model.set_memory_enabled(memory)
    try:
        for length in lengths:
            for position in positions:
                keys = [random_key(rng) for _ in range(trials)]
                cell = _run_cell(
                    model, length, position, keys, batch_size, chunk_segments * segment_len
                )
                cells.append(cell)
                if on_cell is not None:
                    on_cell(cell)
    finally:
        model.set_memory_enabled(previous)
    return cells


def _run_cell(
    model: InfiniTransformer,
    length: int,
    position: str,
    keys: list[str],
    batch_size: int,
    chunk_tokens: int,
) -> PasskeyCell:
    started = time.perf_counter()
    segment_len = model.config.segment_len
    samples = [passkey_sample(length, POSITIONS[position], key, segment_len) for key in keys]
    correct_digits = correct_keys = 0
    for i in range(0, len(samples), batch_size):
        predicted, truth = score_trials(model, samples[i : i + batch_size], chunk_tokens)
        hits = predicted == truth
        correct_digits += int(hits.sum())
        correct_keys += int(hits.all(dim=1).sum())
    n = len(samples)
    return PasskeyCell(
        length=length,
        position=position,
        trials=n,
        token_accuracy=correct_digits / (n * KEY_DIGITS),
        exact_match=correct_keys / n,
        seconds=time.perf_counter() - started,
    )
