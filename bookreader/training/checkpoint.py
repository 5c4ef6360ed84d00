"""Training checkpoints: everything needed to continue a run exactly where it stopped.

A checkpoint holds the model weights, the optimizer state (AdamW moments), the step reached,
the recipe and the model config. Batches are a pure function of (seed, step, rank) (see
loop.py), so resuming from step k gives the same step k + 1 loss as a run that never stopped.
Files are written to a temporary name and renamed, so a killed run never leaves half a file.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from bookreader.errors import UsageError
from bookreader.fileio import atomic_write

CHECKPOINT_DIR = "checkpoints"
LATEST = "latest.pt"


@dataclass
class Checkpoint:
    step: int  # optimizer steps completed
    model: dict[str, Any]  # state_dict
    optimizer: dict[str, Any]
    recipe: dict[str, Any]
    model_config: dict[str, Any]
    elapsed_s: float = 0.0  # training wall time so far, carried across resumes
    tokens: int = 0  # training tokens so far


def checkpoint_path(out_dir: str | Path, step: int) -> Path:
    return Path(out_dir) / CHECKPOINT_DIR / f"step-{step:07d}.pt"


def save_checkpoint(out_dir: str | Path, checkpoint: Checkpoint) -> Path:
    """Write step-NNNNNNN.pt and point latest.pt at it (a copy; links are not portable)."""
    path = checkpoint_path(out_dir, checkpoint.step)
    path.parent.mkdir(parents=True, exist_ok=True)
    payload = {
        "step": checkpoint.step,
        "model": checkpoint.model,
        "optimizer": checkpoint.optimizer,
        "recipe": checkpoint.recipe,
        "model_config": checkpoint.model_config,
        "elapsed_s": checkpoint.elapsed_s,
        "tokens": checkpoint.tokens,
    }
    for target in (path, path.parent / LATEST):
        atomic_write(target, lambda temporary: torch.save(payload, temporary))
    return path


def find_checkpoint(where: str | Path) -> Path:
    """A checkpoint file, or a run folder (its latest checkpoint)."""
    where = Path(where)
    if where.is_file():
        return where
    for candidate in (where / CHECKPOINT_DIR / LATEST, where / LATEST):
        if candidate.is_file():
            return candidate
    raise UsageError(f"no checkpoint found at {where}")


def load_checkpoint(where: str | Path) -> Checkpoint:
    path = find_checkpoint(where)
    try:
        payload = torch.load(path, map_location="cpu", weights_only=False)
    except Exception as error:  # a truncated or foreign file: one line, not a traceback
        raise UsageError(f"{path} is not a readable checkpoint: {error}") from None
    if not isinstance(payload, dict) or "step" not in payload or "model" not in payload:
        raise UsageError(f"{path} is not a bookreader training checkpoint")
    return Checkpoint(
        step=int(payload["step"]),
        model=payload["model"],
        optimizer=payload["optimizer"],
        recipe=payload["recipe"],
        model_config=payload["model_config"],
        elapsed_s=float(payload.get("elapsed_s", 0.0)),
        tokens=int(payload.get("tokens", 0)),
    )
