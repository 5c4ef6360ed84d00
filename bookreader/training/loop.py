"""The training loop: AdamW (β in its own group), warmup then cosine, gradient clipping,
backpropagation through memory across segments, checkpoints with exact resume, metrics to JSON
Lines, a Rich progress bar, bf16 autocast on CUDA, and data parallelism under torchrun.

Every batch is a pure function of (seed, step, rank): a resumed run sees exactly the batches
the uninterrupted run would have seen, so its next loss is the same.

Data parallel: `torchrun --nproc_per_node N -m bookreader.cli.app train RECIPE.toml` starts N
processes; each draws its own batches (rank in the seed); the whole step runs inside
`torch.nn.parallel.DistributedDataParallel` (NCCL on CUDA, Gloo on CPU), which averages the
gradients during backward; rank 0 alone logs and writes checkpoints.

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

import json
import math
import os
import random
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor

from bookreader.devices import resolve_device
from bookreader.errors import BookreaderError, UsageError
from bookreader.infini import InfiniConfig, InfiniState, InfiniTransformer, LayerMemory, LayerState
from bookreader.training.checkpoint import Checkpoint, load_checkpoint, save_checkpoint
from bookreader.training.config import DataConfig, Recipe, TrainConfig
from bookreader.training.data import (
    BYTES,
    INTRO,
    Codec,
    Haystack,
    PasskeySample,
    book_haystack,
    book_token_ids,
    filler_haystack_for,
    local_passkey_sample,
    min_passkey_length,
    random_length,
    random_passkey_sample,
    random_spacer,
    recall_drill,
    stack_tokens,
)
from bookreader.training.hf_model import HFInfiniModel

METRICS_FILE = "metrics.jsonl"
MODEL_DIR = "model"


# -- schedule -------------------------------------------------------------------------------


def lr_factor(step: int, train: TrainConfig) -> float:
    """Linear warmup to 1, then cosine down to min_lr_ratio at the last step."""
    if step < train.warmup_steps:
        return (step + 1) / train.warmup_steps
    span = max(1, train.steps - train.warmup_steps)
    progress = min(1.0, (step - train.warmup_steps) / span)
    cosine = 0.5 * (1.0 + math.cos(math.pi * progress))
    return train.min_lr_ratio + (1.0 - train.min_lr_ratio) * cosine


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


# -- the loop -------------------------------------------------------------------------------


@dataclass
class TrainResult:
    step: int
    out_dir: Path
    model_dir: Path | None
    last_metrics: dict[str, Any]
    losses: list[float]  # loss of each step run in this call, in order


def build_model(recipe: Recipe) -> InfiniTransformer | HFInfiniModel:
    if "hf" in recipe.model:  # a pretrained causal LM converted to Infini-attention
        return HFInfiniModel.from_spec(recipe.model)
    return InfiniTransformer(InfiniConfig.from_dict(recipe.model))


def load_init_weights(folder: str, model: torch.nn.Module) -> dict[str, Tensor]:
    """The weights of a saved InfiniTransformer folder, checked against the recipe's model."""
    path = Path(folder)
    if not isinstance(model, InfiniTransformer):
        raise UsageError("[train] init_from needs a standalone [model]; hf models bring weights")
    try:
        source = InfiniTransformer.load(path)
    except (FileNotFoundError, ValueError, TypeError) as error:
        raise UsageError(f"[train] init_from: {error}") from None
    if source.config != model.config:
        raise UsageError(f"[train] init_from: {path} holds a model unlike the recipe's [model]")
    return source.state_dict()


def _check_data_for(data: DataConfig, segment_len: int, codec: Codec) -> None:
    """Recall drills and local trials are byte-level; every trial must fit its segments."""
    if codec is not BYTES and (data.recall_weight > 0 or data.local_prob > 0):
        raise UsageError("[data] recall_weight and local_prob need a byte-level [model]")
    shortest = min_passkey_length(segment_len, INTRO if data.intro else "", codec)
    if data.passkey_weight > 0 and data.segments_min * segment_len < shortest:
        raise UsageError(
            f"[data] segments_min {data.segments_min} x segment_len {segment_len} is shorter "
            f"than the shortest passkey trial ({shortest} tokens)"
        )


def _book_paths(entries: list[str], key: str) -> list[Path]:
    paths: list[Path] = []
    for entry in entries:
        path = Path(entry)
        if path.is_dir():
            paths.extend(sorted(p for p in path.rglob("*") if p.is_file()))
        elif path.is_file():
            paths.append(path)
        else:
            raise UsageError(f"[data] {key}: {path} does not exist")
    return paths


def _load_books(data: DataConfig, codec: Codec = BYTES) -> list[Tensor]:
    if data.books_weight <= 0:
        return []
    books = []
    for path in _book_paths(data.books, "books"):
        try:
            books.append(book_token_ids(path, codec))
        except UsageError:
            raise
        except Exception:  # an unreadable file in a folder of books is skipped, not fatal
            continue
    if not books:
        raise UsageError("[data] books: no readable book found")
    return books


def _load_haystacks(data: DataConfig, codec: Codec = BYTES) -> list[Haystack]:
    """The haystack books, each read once; any that cannot be read is a usage error (a
    recipe's evaluation split depends on exactly which books were trained on)."""
    if data.haystack_prob <= 0:
        return []
    haystacks = []
    for path in _book_paths(data.haystack_books, "haystack_books"):
        try:
            haystacks.append(book_haystack(path, codec))
        except (BookreaderError, ValueError) as error:
            raise UsageError(f"[data] haystack_books: {path}: {error}") from None
    if not haystacks:
        raise UsageError("[data] haystack_books: no book found")
    return haystacks


class _Distributed:
    """Rank, world size and gradient averaging under torchrun; a no-op for one process."""

    def __init__(self, device: torch.device) -> None:
        self.world = int(os.environ.get("WORLD_SIZE", "1"))
        self.rank = int(os.environ.get("RANK", "0"))
        if self.world > 1:
            import torch.distributed as dist

            if not dist.is_initialized():
                dist.init_process_group("nccl" if device.type == "cuda" else "gloo")

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    def wrap(self, step: TrainStep) -> torch.nn.Module:
        """DistributedDataParallel around the whole step under torchrun (it broadcasts rank 0's
        weights at construction and averages gradients during backward); the step itself for
        one process. Unused parameters are allowed: a step may not read every gate."""
        if self.world == 1:
            return step
        from torch.nn.parallel import DistributedDataParallel

        device_ids = [step.model.device.index] if step.model.device.type == "cuda" else None
        return DistributedDataParallel(step, device_ids=device_ids, find_unused_parameters=True)


class TrainStep(torch.nn.Module):
    """One step's forward, every segment of the batch, as a single module call: the unit
    that DistributedDataParallel needs (one forward per backward), although the model itself
    is called once per segment."""

    def __init__(self, model: torch.nn.Module, data: DataConfig) -> None:
        super().__init__()
        self.model, self.data = model, data

    def forward(
        self, batch: PasskeyBatch | BookBatch, device: torch.device
    ) -> tuple[Tensor, dict[str, Any], int]:
        if isinstance(batch, PasskeyBatch):
            result = passkey_step(self.model, batch, self.data, device)
        else:
            result = book_step(self.model, batch, device)
        return result.loss, result.metrics, result.tokens


def train(
    recipe: Recipe,
    resume: str | Path | None = None,
    on_step: Callable[[int, dict[str, Any]], None] | None = None,
    stop_after: int | None = None,
) -> TrainResult:
    """Run (or continue) a recipe. `on_step(step, metrics)` is called after every step (the CLI
    draws its progress bar with it); `stop_after` ends early after that many steps in total,
    writing a checkpoint (used to test resume)."""
    cfg = recipe.train
    if cfg.threads > 0:
        torch.set_num_threads(cfg.threads)
    device = resolve_device(cfg.device)
    dist = _Distributed(device)
    torch.manual_seed(cfg.seed)
    model = build_model(recipe).to(device)
    if cfg.init_from:  # the next stage of a curriculum starts from the last one's weights
        model.load_state_dict(load_init_weights(cfg.init_from, model))
    optimizer = torch.optim.AdamW(
        model.param_groups(cfg.lr, beta_lr=cfg.beta_lr, weight_decay=cfg.weight_decay),
        betas=cfg.adam_betas,
    )
    for group in optimizer.param_groups:
        group["base_lr"] = group["lr"]
    start_step, elapsed_before, tokens_total = 0, 0.0, 0
    if resume is not None:
        ckpt = load_checkpoint(resume)
        model.load_state_dict(ckpt.model)
        optimizer.load_state_dict(ckpt.optimizer)
        start_step, elapsed_before, tokens_total = ckpt.step, ckpt.elapsed_s, ckpt.tokens
    codec = getattr(model, "codec", BYTES)
    _check_data_for(recipe.data, model.config.segment_len, codec)
    books = _load_books(recipe.data, codec)
    haystacks = _load_haystacks(recipe.data, codec)
    out_dir = Path(cfg.out_dir)
    if dist.is_main:
        out_dir.mkdir(parents=True, exist_ok=True)
        (out_dir / "recipe.json").write_text(json.dumps(recipe.to_dict(), indent=2) + "\n")
    autocast = (
        torch.autocast("cuda", dtype=torch.bfloat16) if device.type == "cuda" else _nullcontext()
    )
    runner = dist.wrap(TrainStep(model, recipe.data))
    last_step = cfg.steps if stop_after is None else min(cfg.steps, stop_after)
    losses: list[float] = []
    metrics: dict[str, Any] = {}
    started = time.perf_counter()
    model.train()
    step, timed_out = start_step, False
    for step in range(start_step, last_step):
        t0 = time.perf_counter()
        factor = lr_factor(step, cfg)
        for group in optimizer.param_groups:
            group["lr"] = group["base_lr"] * factor
        batch = make_batch(
            recipe, step, dist.rank, books, model.config.segment_len, haystacks, codec
        )
        with autocast:
            loss, step_metrics, tokens = runner(batch, device)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()  # under DDP, gradients are averaged across processes here
        grad_norm = torch.nn.utils.clip_grad_norm_(model.parameters(), cfg.grad_clip)
        optimizer.step()
        seconds = time.perf_counter() - t0
        tokens_total += tokens * dist.world
        losses.append(loss.item())
        metrics = {
            "step": step + 1,
            "loss": loss.item(),
            **step_metrics,
            "grad_norm": float(grad_norm),
            "lr": cfg.lr * factor,
            "tokens_per_s": tokens * dist.world / max(seconds, 1e-9),
            "tokens": tokens_total,
            "elapsed_s": elapsed_before + time.perf_counter() - started,
            "gates": [[round(g, 4) for g in row] for row in model.gates().tolist()],
        }
        if dist.is_main:
            if (step + 1) % cfg.log_every == 0 or step == start_step:
                with (out_dir / METRICS_FILE).open("a", encoding="utf-8") as handle:
                    handle.write(json.dumps(metrics) + "\n")
            if on_step is not None:
                on_step(step + 1, metrics)
            if (step + 1) % cfg.checkpoint_every == 0 or step + 1 == last_step:
                _save(out_dir, step + 1, model, optimizer, recipe, metrics, tokens_total)
        if cfg.max_minutes > 0 and time.perf_counter() - started > 60 * cfg.max_minutes:
            timed_out = True
            if dist.is_main:
                _save(out_dir, step + 1, model, optimizer, recipe, metrics, tokens_total)
            break
    done = step + 1 if losses else start_step
    model_dir = None
    if dist.is_main and (done >= cfg.steps or timed_out):  # the final model, ready to load
        model_dir = out_dir / MODEL_DIR
        model.save(model_dir)
    return TrainResult(done, out_dir, model_dir, metrics, losses)


def _save(
    out_dir: Path,
    step: int,
    model: InfiniTransformer,
    optimizer: torch.optim.Optimizer,
    recipe: Recipe,
    metrics: dict[str, Any],
    tokens: int,
) -> None:
    save_checkpoint(
        out_dir,
        Checkpoint(
            step=step,
            model=model.state_dict(),
            optimizer=optimizer.state_dict(),
            recipe=recipe.to_dict(),
            model_config=model.config.to_dict(),
            elapsed_s=float(metrics.get("elapsed_s", 0.0)),
            tokens=tokens,
        ),
    )


class _nullcontext:
    def __enter__(self) -> None:
        return None

    def __exit__(self, *exc: object) -> None:
        return None
