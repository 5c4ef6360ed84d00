"""models/books-tiny: on a whole corpus book it never saw, perplexity with memory is below
perplexity with every gate closed (the numbers are in its model card)."""

from __future__ import annotations

from pathlib import Path

import torch

from bookreader.evals.perplexity import token_perplexity
from bookreader.infini import InfiniTransformer
from bookreader.training.data import book_token_ids

MODEL = Path(__file__).resolve().parents[1] / "models" / "books-tiny"


def test_memory_lowers_perplexity_of_a_whole_unseen_book(corpus: Path) -> None:
    torch.set_num_threads(1)
    model = InfiniTransformer.load(MODEL)
    ids = book_token_ids(corpus / "txt" / "homehome_timemachine.txt")
    with_memory = token_perplexity(model, ids)
    without = token_perplexity(model, ids, memory=False)
    print(f"perplexity with memory {with_memory.perplexity:.4f}, without {without.perplexity:.4f}")
    assert with_memory.tokens == without.tokens == ids.numel() - 1
    assert with_memory.perplexity < without.perplexity
