"""The shipped model (models/passkey-tiny) finds the passkey at 8K tokens through its memory:
above 90% at start, middle and end with the needle in an earlier segment than the question, and
at chance at start and middle once every gate is closed (its card gives the full table)."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from bookreader.evals.passkey import CHANCE_TOKEN_ACCURACY, run_passkey
from bookreader.infini import InfiniTransformer

MODEL = Path(__file__).resolve().parents[1] / "models" / "passkey-tiny"
TRIALS = 10


@pytest.fixture(scope="module")
def shipped() -> InfiniTransformer:
    torch.set_num_threads(1)  # small matrices: one thread is as fast and shares the machine
    model = InfiniTransformer.load(MODEL)
    size = sum(p.stat().st_size for p in MODEL.iterdir())
    assert size <= 10 * 1024 * 1024
    return model


def test_passkey_at_8k_through_memory(shipped: InfiniTransformer) -> None:
    cells = run_passkey(shipped, [8192], ["start", "middle", "end"], TRIALS, seed=7)
    for cell in cells:
        assert cell.token_accuracy > 0.9, cell


def test_passkey_at_8k_without_memory_is_chance(shipped: InfiniTransformer) -> None:
    cells = run_passkey(shipped, [8192], ["start", "middle"], TRIALS, seed=7, memory=False)
    for cell in cells:
        # 50 digits per cell; chance is 10%: 30% is far outside what luck gives
        assert cell.token_accuracy < 3 * CHANCE_TOKEN_ACCURACY, cell
    assert shipped.memory_enabled
