"""The passage index both engines search: BM25 (bm25s) over a book's passages.

A module of its own so that `BookState` can name its type without importing the search.

bm25s keeps its scores as a CSC sparse matrix in `bm25.scores` ("data", "indices",
"indptr"); `holding` reads it as an inverted index. That layout is bm25s' own, not a documented
API: pyproject pins bm25s to the minor versions it was tested with.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from bookreader.book import Passage
from bookreader.engines.passages import terms


class PassageIndex:
    """BM25 (bm25s) over passages. Its CSC matrix doubles as an inverted index: the passages
    holding a term give document frequencies (IDF weights for coverage) and term membership.
    `save`/`load` persist it next to the cached state, so a cached ask tokenizes nothing."""

    def __init__(self, passages: Sequence[Passage], bm25: Any) -> None:
        self.passages = list(passages)
        self.bm25 = bm25
        self.vocab: dict[str, int] = bm25.vocab_dict
        self.chapters = np.array([p.chapter_index for p in self.passages], dtype=np.int64)

    @classmethod
    def build(
        cls, passages: Sequence[Passage], passage_terms: Sequence[list[str]] | None = None
    ) -> PassageIndex:
        import bm25s  # imported here: engines load lazily, the CLI starts fast

        if passage_terms is None:
            passage_terms = [terms(p.text) for p in passages]
        bm25 = bm25s.BM25()
        bm25.index(list(passage_terms) or [[]], show_progress=False)
        return cls(passages, bm25)

    def save(self, folder: Path) -> None:
        self.bm25.save(str(folder))

    @classmethod
    def load(cls, folder: Path, passages: Sequence[Passage]) -> PassageIndex:
        import bm25s

        return cls(passages, bm25s.BM25.load(str(folder)))

    def holding(self, term: str) -> np.ndarray:
        """Ids of the passages that contain `term`."""
        column = self.vocab.get(term)
        indptr = self.bm25.scores["indptr"]
        if column is None or column + 1 >= len(indptr):
            return np.zeros(0, dtype=np.int64)
        return self.bm25.scores["indices"][indptr[column] : indptr[column + 1]]

    def knows(self, term: str) -> bool:
        return len(self.holding(term)) > 0

    def idf(self, term: str) -> float:
        n = max(len(self.passages), 1)
        df = len(self.holding(term))
        return math.log(1.0 + (n - df + 0.5) / (df + 0.5))

    def scores(self, query_terms: Iterable[str]) -> np.ndarray:
        known = [t for t in query_terms if self.knows(t)]
        if not known:
            return np.zeros(len(self.passages), dtype=np.float32)
        return np.asarray(self.bm25.get_scores(known), dtype=np.float32)
