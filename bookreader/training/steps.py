"""What one training step sees and computes: its batch (passkey trials or book windows, a pure
function of seed, step and rank) and its loss, for the loop in `loop.py`.

Filler memory amplification (passkey batches only). The memory of the paper is a running sum:
M and z grow with every segment, and a needle written once is divided by σ(Q) z, which keeps
growing with the filler read after it. A model trained on a few segments never sees z as large
as after a million tokens. So, for a random share of trials, the memory increment of one pure
filler segment (before the needle, and again after it) is counted `f` times, f log-uniform in
[1, amplify_max]: M ← M_j + (f − 1)(M_j − M_{j−1}), likewise z. For the repeated filler this is
what f − 1 more copies of that segment would add once the memory is in its steady regime (the
increments of M and z per filler segment are then constant), so a 6-segment input carries the
memory load of thousands of segments. Gradients flow through the scaled increment. Evaluation
never uses it: the passkey test reads every real token.
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor

from bookreader.infini import InfiniState, InfiniTransformer, LayerMemory, LayerState
from bookreader.training.config import DataConfig, Recipe
from bookreader.training.data import (
    BYTES,
    INTRO,
    Codec,
    Haystack,
    PasskeySample,
    filler_haystack_for,
    local_passkey_sample,
    min_passkey_length,
    random_length,
    random_passkey_sample,
    random_spacer,
    recall_drill,
    stack_tokens,
)


def curriculum(step: int, data: DataConfig) -> tuple[int, float]:
    """(largest number of segments, largest amplification) allowed at this step: both grow
    from their easiest value (segments_min, 1) to the final one over curriculum_steps."""
    frac = 1.0 if data.curriculum_steps <= 0 else min(1.0, step / data.curriculum_steps)
    max_segments = data.segments_min + round(frac * (data.segments_max - data.segments_min))
    max_amplify = math.exp(frac * math.log(data.amplify_max))
    return max_segments, max_amplify


# -- batches --------------------------------------------------------------------------------


@dataclass
class PasskeyBatch:
    samples: list[PasskeySample]
    n_segments: int
    factors: list[tuple[float, float]]  # per trial: amplification before and after the needle


@dataclass
class BookBatch:
    ids: Tensor  # (B, T)
    mask: Tensor | None = None  # (B, T) tokens to score (recall drills); None: all


def batch_rng(seed: int, step: int, rank: int) -> random.Random:
    return random.Random(f"{seed}:{step}:{rank}")


def make_batch(
    recipe: Recipe,
    step: int,
    rank: int,
    books: list[Tensor],
    segment_len: int,
    haystacks: list[Haystack] | None = None,
    codec: Codec = BYTES,
) -> PasskeyBatch | BookBatch:
    data, train = recipe.data, recipe.train
    rng = batch_rng(train.seed, step, rank)
    max_segments, max_amplify = curriculum(step, data)
    n_segments = rng.randint(data.segments_min, max_segments)
    books_weight = data.books_weight if books else 0.0
    draw = rng.random() * (data.passkey_weight + books_weight + data.recall_weight)
    if draw >= data.passkey_weight + books_weight:
        ids, mask = recall_drill(train.batch_size, max(2, n_segments), segment_len, rng)
        return BookBatch(ids, mask=mask)
    if draw >= data.passkey_weight:
        return BookBatch(_book_windows(books, n_segments * segment_len, train.batch_size, rng))
    samples, factors = [], []
    local_prob = data.local_prob if data.local_until <= 0 or step < data.local_until else 0.0
    for _ in range(train.batch_size):
        trial = _passkey_trial(
            data, rng, n_segments, segment_len, local_prob, haystacks or [], codec
        )
        samples.append(trial)
        if rng.random() < data.amplify_prob:
            log_max = math.log(max_amplify)
            factors.append((math.exp(rng.uniform(0, log_max)), math.exp(rng.uniform(0, log_max))))
        else:
            factors.append((1.0, 1.0))
    return PasskeyBatch(samples, n_segments, factors)


def _passkey_trial(
    data: DataConfig,
    rng: random.Random,
    n_segments: int,
    segment_len: int,
    local_prob: float,
    haystacks: list[Haystack],
    codec: Codec = BYTES,
) -> PasskeySample:
    """One trial of at most n_segments segments, its layout drawn: length (unless
    exact_length), introduction or not, haystack and the sentence it starts at, depth."""
    spacer = random_spacer(rng) if rng.random() < data.spacer_prob else ""
    intro = INTRO if data.intro and rng.random() < data.intro_prob else ""
    longest = n_segments * segment_len
    length = longest
    if not data.exact_length:
        shortest = min_passkey_length(segment_len, intro, codec)
        length = random_length(rng, longest, segment_len, shortest)
    if rng.random() < local_prob:
        return local_passkey_sample(length, segment_len, rng, spacer, intro)
    haystack = filler_haystack_for(codec)
    if haystacks and rng.random() < data.haystack_prob:
        haystack = haystacks[rng.randrange(len(haystacks))]
    late = data.end_prob > 0 and rng.random() < data.end_prob
    depth = 1.0 if late else None  # None: uniform
    return random_passkey_sample(length, segment_len, rng, depth, spacer, intro, haystack)


def _book_windows(books: list[Tensor], length: int, batch_size: int, rng: random.Random) -> Tensor:
    rows = []
    for _ in range(batch_size):
        ids = books[rng.randrange(len(books))]
        if ids.numel() <= length:  # a short book is repeated: every window has one length
            ids = ids.repeat(length // max(1, ids.numel()) + 2)
        start = rng.randrange(0, ids.numel() - length)
        rows.append(ids[start : start + length])
    return torch.stack(rows)


def amplification_segments(sample: PasskeySample, segment_len: int) -> tuple[int, int]:
    """Indices of the last whole-filler segment before the needle and of the last one between
    the needle and the question (-1 where there is none). Segment 0 is never one: its
    increment is that of an empty memory, not the steady regime."""
    n = sample.length // segment_len
    before = [
        j
        for j in range(1, n)
        if j * segment_len >= sample.intro_ids.numel()
        and (j + 1) * segment_len <= sample.needle_start
    ]
    after = [
        j
        for j in range(1, n)
        if j * segment_len >= sample.needle_end and (j + 1) * segment_len <= sample.question_start
    ]
    return (before[-1] if before else -1), (after[-1] if after else -1)


def amplify_memory(state: InfiniState, before: InfiniState, factors: Tensor) -> InfiniState:
    """Count the memory increment from `before` to `state` factors[b] times for trial b:
    M ← M + (f − 1)(M − M_before), z likewise. Needs segment-aligned states."""
    extra = factors.to(torch.float32) - 1.0
    layers = []
    for new, old in zip(state.layers, before.layers, strict=True):
        if new.seg_len:
            raise ValueError("amplification needs a state at a segment boundary")
        M = new.memory.M + extra.view(-1, 1, 1, 1) * (new.memory.M - old.memory.M)
        z = new.memory.z + extra.view(-1, 1, 1) * (new.memory.z - old.memory.z)
        layers.append(LayerState(LayerMemory(M, z, new.memory.written)))
    return InfiniState(layers, state.tokens_read, state.meta)


# -- losses ---------------------------------------------------------------------------------


@dataclass
class StepResult:
    loss: Tensor
    metrics: dict[str, float]
    tokens: int


def passkey_step(
    model: InfiniTransformer, batch: PasskeyBatch, data: DataConfig, device: torch.device
) -> StepResult:
    """Read the trials segment by segment (amplifying where drawn), then score the key digits
    and, with weight lm_weight, every next token."""
    segment_len = model.config.segment_len
    ids = stack_tokens(batch.samples).to(device)  # (B, T): T the longest trial's length
    B, T = ids.shape
    plan = [amplification_segments(s, segment_len) for s in batch.samples]
    state = model.init_state(B, device=device)
    logits_per_segment = []
    for j in range(-(-T // segment_len)):
        before = state
        logits, state = model(ids[:, j * segment_len : (j + 1) * segment_len], state)
        logits_per_segment.append(logits)
        factors = torch.ones(B)
        for b, (seg_before, seg_after) in enumerate(plan):
            if j == seg_before:
                factors[b] = batch.factors[b][0]
            elif j == seg_after:
                factors[b] = batch.factors[b][1]
        if bool((factors != 1.0).any()):
            state = amplify_memory(state, before, factors.to(device))
    logits = torch.cat(logits_per_segment, dim=1).float()  # (B, T, V)
    rows = torch.arange(B, device=device)[:, None]
    answers = torch.tensor([list(s.answer_positions) for s in batch.samples], device=device)
    key_logits = logits[rows, answers - 1]  # (B, 5, V): each trial's answer where it ends
    key_targets = ids[rows, answers]
    key_loss = F.cross_entropy(key_logits.reshape(-1, logits.shape[-1]), key_targets.reshape(-1))
    lm_loss = F.cross_entropy(logits[:, :-1].reshape(-1, logits.shape[-1]), ids[:, 1:].reshape(-1))
    hits = (key_logits.argmax(-1) == key_targets).float()  # (B, 5)
    key_acc = hits.mean()
    through_memory = torch.tensor(
        [s.through_memory(segment_len) for s in batch.samples], device=device
    )
    loss = key_loss + data.lm_weight * lm_loss
    if data.copy_weight > 0:  # the needle's repeat of its key: a lookup within the segment
        where = torch.tensor([list(s.copy_positions) for s in batch.samples], device=device)
        copy_logits = logits[rows, where - 1]  # (B, 5, V)
        copy_loss = F.cross_entropy(
            copy_logits.reshape(-1, logits.shape[-1]), ids[rows, where].reshape(-1)
        )
        loss = loss + data.copy_weight * copy_loss
    metrics = {
        "key_loss": key_loss.item(),
        "lm_loss": lm_loss.item(),
        "key_acc": key_acc.item(),
        "key_acc_memory": hits[through_memory].mean().item() if through_memory.any() else None,
        "segments": float(batch.n_segments),
    }
    if data.copy_weight > 0:
        metrics["copy_loss"] = copy_loss.item()
    return StepResult(loss, metrics, ids.numel())


def book_step(model: InfiniTransformer, batch: BookBatch, device: torch.device) -> StepResult:
    """Next-token loss over book windows read segment by segment (the model segments)."""
    ids = batch.ids.to(device)
    logits, _ = model(ids, model.init_state(ids.shape[0], device=device))
    logits = logits.float()
    losses = F.cross_entropy(
        logits[:, :-1].reshape(-1, logits.shape[-1]), ids[:, 1:].reshape(-1), reduction="none"
    )
    if batch.mask is None:
        lm_loss, name = losses.mean(), "lm_loss"
    else:
        scored = batch.mask[:, 1:].reshape(-1).to(device)
        lm_loss, name = losses[scored].mean(), "recall_loss"
    return StepResult(lm_loss, {name: lm_loss.item()}, ids.numel())
