"""Engines: read a book once into a cached `BookState`, then summarize it or answer questions.

    from bookreader.engines import create_engine, read_book
    engine = create_engine("extractive")            # or "infini", model="path/or/hub-id"
    state = read_book(Path("book.epub"), engine)    # from the cache when valid
    summary = engine.summarize(state, length="short")
    for chunk in engine.ask(state, "Who found the tin?"): ...   # str pieces, then Citations
    engine.ask(state, "What happens here?", chapter=2)   # the third chapter's passages only

Engines are imported lazily: `bookreader.engines` itself pulls in neither bm25s nor torch.
"""

from bookreader.engines.base import (
    AnswerChunk,
    BookState,
    ChapterSummary,
    Engine,
    Length,
    ProgressCallback,
    Strategy,
    Summary,
)
from bookreader.engines.registry import ENGINES, cache_key, create_engine, read_book

__all__ = [
    "ENGINES",
    "AnswerChunk",
    "BookState",
    "ChapterSummary",
    "Engine",
    "Length",
    "ProgressCallback",
    "Strategy",
    "Summary",
    "cache_key",
    "create_engine",
    "read_book",
]
