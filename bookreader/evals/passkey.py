"""The passkey test (arXiv 2404.07143, section 4.1, Table 3), streamed so memory stays flat.

For each length L and position, `trials` random keys are hidden at that depth. No fixed
layout by default: each trial's length is drawn uniformly from [L - segment_len, L] (so the
question starts at any offset of its segment) and its haystack starts at a random sentence;
`exact_length` restores the single layout of the paper (length L, haystack from its start).
The haystack is the paper's filler or the text of a real book (`haystack`).

Every token is read by the model, in batches of trials: a prefix that every trial of a batch
shares (in the single layout, all that comes before the needle) is read once and its state
copied to each trial; the rest is read in chunks with `torch.inference_mode` and no logits;
logits are computed only for the last tokens of the batch, among which each trial's five key
digits are predicted (trials shorter than the longest continue their haystack after their
answer, which changes no prediction of it). The needle always ends in an earlier segment than
the question (see bookreader.training.data.passkey_sample): only the memory can bring it back.

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

from bookreader.infini import InfiniState, LayerMemory, LayerState
from bookreader.training.data import (
    BYTES,
    FILLER_HAYSTACK,
    INTRO,
    KEY_DIGITS,
    POSITIONS,
    Haystack,
    PasskeySample,
    filler_haystack_for,
    min_passkey_length,
    passkey_sample,
    random_key,
    random_length,
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


def shared_prefix(samples: list[PasskeySample]) -> int:
    """How many first tokens every sample has in common, known from their layouts."""
    first = samples[0]
    same = all(
        s.intro == first.intro and s.haystack is first.haystack and s.hay_start == first.hay_start
        for s in samples
    )
    return min(s.needle_start for s in samples) if same else 0


@torch.inference_mode()
def answer_logits(
    model: Any,
    samples: list[PasskeySample],
    chunk_tokens: int,
) -> torch.Tensor:
    """Read a batch of trials; returns the logits that predict each trial's key digits,
    (B, 5, vocab), computed without logits for any token before the earliest answer."""
    device = model.device
    tail_start = min(s.answer_positions.start for s in samples) - 1  # logits from here on
    end = max(s.length for s in samples)
    shared = min(shared_prefix(samples), tail_start)
    state = model.init_state(1, device=device)
    for a, b in _spans(0, shared, chunk_tokens):
        state = model.read(samples[0].tokens(a, b)[None].to(device), state)
    state = expand_state(state, len(samples))
    for a, b in _spans(shared, tail_start, chunk_tokens):
        state = model.read(stack_tokens(samples, a, b).to(device), state)
    logits, _ = model(stack_tokens(samples, tail_start, end).to(device), state)
    rows = torch.arange(len(samples))[:, None]
    where = torch.tensor([list(s.answer_positions) for s in samples]) - 1 - tail_start
    return logits.float().cpu()[rows, where]


def score_trials(
    model: Any,
    samples: list[PasskeySample],
    chunk_tokens: int,
) -> tuple[torch.Tensor, torch.Tensor]:
    """(predicted digits, true digits), both (B, 5): greedy = teacher-forced argmax."""
    predicted = answer_logits(model, samples, chunk_tokens).argmax(-1)
    truth = torch.stack([s.answer_ids for s in samples])
    return predicted, truth


def make_trials(
    length: int,
    position: str,
    keys: list[str],
    segment_len: int,
    rng: random.Random,
    *,
    haystack: Haystack = FILLER_HAYSTACK,
    exact_length: bool = False,
    intro: str = INTRO,
) -> list[PasskeySample]:
    """The trials of one cell: the single layout with exact_length, else a drawn length in
    [length - segment_len, length] and a random haystack sentence to start from per trial."""
    shortest = min_passkey_length(segment_len, intro, haystack.codec)
    trials = []
    for key in keys:
        if exact_length:
            n, hay_start = length, 0
        else:
            n = random_length(rng, length, segment_len, shortest)
            hay_start = haystack.random_start(rng)
        depth = POSITIONS[position]
        trials.append(passkey_sample(n, depth, key, segment_len, "", intro, haystack, hay_start))
    return trials


def run_passkey(
    model: Any,
    lengths: list[int],
    positions: list[str],
    trials: int,
    *,
    memory: bool = True,
    seed: int = 0,
    batch_size: int = 16,
    chunk_segments: int = 16,
    haystack: Haystack | None = None,
    exact_length: bool = False,
    intro: bool = True,
    on_cell: Callable[[PasskeyCell], None] | None = None,
) -> list[PasskeyCell]:
    """The passkey table: one cell per (length, position). The haystack defaults to the
    filler in the model's tokens (bytes, or its tokenizer's for a Hugging Face model)."""
    segment_len = model.config.segment_len
    codec = getattr(model, "codec", BYTES)
    haystack = filler_haystack_for(codec) if haystack is None else haystack
    if haystack.codec is not codec:
        raise ValueError(
            f"the haystack is in {haystack.codec.name} tokens, the model reads {codec.name}"
        )
    intro_text = INTRO if intro else ""
    shortest = min_passkey_length(segment_len, intro_text, codec)
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
                samples = make_trials(
                    length, position, keys, segment_len, rng,
                    haystack=haystack, exact_length=exact_length, intro=intro_text,
                )  # fmt: skip
                cell = _run_cell(model, length, position, samples, batch_size, chunk_segments)
                cells.append(cell)
                if on_cell is not None:
                    on_cell(cell)
    finally:
        model.set_memory_enabled(previous)
    return cells


def _run_cell(
    model: Any,
    length: int,
    position: str,
    samples: list[PasskeySample],
    batch_size: int,
    chunk_segments: int,
) -> PasskeyCell:
    started = time.perf_counter()
    chunk_tokens = chunk_segments * model.config.segment_len
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
