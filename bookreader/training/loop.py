"""The training loop: AdamW (β in its own group), warmup then cosine, gradient clipping,
backpropagation through memory across segments, checkpoints with exact resume, metrics to JSON
Lines, a Rich progress bar, bf16 autocast on CUDA, and data parallelism under torchrun.

Every batch is a pure function of (seed, step, rank): a resumed run sees exactly the batches
the uninterrupted run would have seen, so its next loss is the same.

Data parallel: `torchrun --nproc_per_node N -m bookreader.cli.app train RECIPE.toml` starts N
processes; each draws its own batches (rank in the seed); the whole step runs inside
`torch.nn.parallel.DistributedDataParallel` (NCCL on CUDA, Gloo on CPU), which averages the
gradients during backward; rank 0 alone logs and writes checkpoints.

The batches and the loss of one step are in `steps.py`.
"""

from __future__ import annotations

import json
import logging
import math
import os
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch import Tensor

from bookreader.devices import resolve_device
from bookreader.errors import BookreaderError, UsageError
from bookreader.infini import InfiniConfig, InfiniTransformer
from bookreader.training.checkpoint import Checkpoint, load_checkpoint, save_checkpoint
from bookreader.training.config import DataConfig, Recipe, TrainConfig
from bookreader.training.data import (
    BYTES,
    INTRO,
    Codec,
    Haystack,
    book_haystack,
    book_token_ids,
    min_passkey_length,
)
from bookreader.training.hf_model import HFInfiniModel
from bookreader.training.steps import (
    BookBatch,
    PasskeyBatch,
    book_step,
    make_batch,
    passkey_step,
)

METRICS_FILE = "metrics.jsonl"
MODEL_DIR = "model"

LOG = logging.getLogger(__name__)


# -- schedule -------------------------------------------------------------------------------


def lr_factor(step: int, train: TrainConfig) -> float:
    """Linear warmup to 1, then cosine down to min_lr_ratio at the last step."""
    if step < train.warmup_steps:
        return (step + 1) / train.warmup_steps
    span = max(1, train.steps - train.warmup_steps)
    progress = min(1.0, (step - train.warmup_steps) / span)
    cosine = 0.5 * (1.0 + math.cos(math.pi * progress))
    return train.min_lr_ratio + (1.0 - train.min_lr_ratio) * cosine


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
        except (BookreaderError, OSError) as error:  # one bad file in a folder is no reason to stop
            LOG.warning("bookreader: warning: training skips %s: %s", path, error)
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
    model, optimizer = _model_and_optimizer(recipe, device)
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
                _append_metrics(out_dir, metrics)
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


def _model_and_optimizer(
    recipe: Recipe, device: torch.device
) -> tuple[InfiniTransformer | HFInfiniModel, torch.optim.Optimizer]:
    """The recipe's model on `device` (from `init_from`'s weights for a curriculum's next
    stage) and its AdamW, each group remembering its base learning rate for the schedule."""
    cfg = recipe.train
    model = build_model(recipe).to(device)
    if cfg.init_from:  # the next stage of a curriculum starts from the last one's weights
        model.load_state_dict(load_init_weights(cfg.init_from, model))
    optimizer = torch.optim.AdamW(
        model.param_groups(cfg.lr, beta_lr=cfg.beta_lr, weight_decay=cfg.weight_decay),
        betas=cfg.adam_betas,
    )
    for group in optimizer.param_groups:
        group["base_lr"] = group["lr"]
    return model, optimizer


def _append_metrics(out_dir: Path, metrics: dict[str, Any]) -> None:
    with (out_dir / METRICS_FILE).open("a", encoding="utf-8") as handle:
        handle.write(json.dumps(metrics) + "\n")


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
