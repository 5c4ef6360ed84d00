"""The engine interface every front end (CLI, TUI, batch) talks to.

An engine reads a `Book` once into a `BookState` (cached on disk), then summarizes it or answers
questions about it. `ask` is a stream: text chunks (str) as they come, then the `Citation`s that
support them. Progress goes through an optional callback so that the CLI can draw a Rich bar and
the TUI a progress widget without the engine knowing about either.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, Protocol, runtime_checkable

from bookreader.book import Book, Citation, Passage

if TYPE_CHECKING:
    from bookreader.engines.index import PassageIndex
    from bookreader.engines.passages import SentenceInfo

Length = Literal["short", "medium", "long"]
Strategy = Literal["memory", "hierarchical"]
STRATEGIES: tuple[Strategy, ...] = ("memory", "hierarchical")

# progress(done, total, unit): e.g. progress(4096, 250_000, "tokens")
ProgressCallback = Callable[[int, int, str], None]
AnswerChunk = str | Citation


@dataclass
class BookState:
    """Everything an engine keeps about a book after reading it.

    `StateCache` saves the book, the passages, the counts, `memory` (a file of its own),
    `index` (a folder of its own) and `segment_len`; `layouts` lives only as long as the run
    that read the book."""

    book: Book
    engine: str
    model_id: str | None
    passages: list[Passage]
    tokens_read: int = 0
    memory: Any = None  # infini engine: bookreader.infini state object; extractive: None
    memory_bytes: int = 0  # size of the memory tensors, independent of the book's length
    cache_hit: bool = False
    # The passage index both engines search (`retrieval.passage_index` builds or loads it).
    index: PassageIndex | None = None
    index_path: Path | None = None  # a cached state's saved index, loaded when first needed
    # Sentences and terms per chapter index, computed by the extractive `read` and reused by
    # its summaries in the same run (rebuilt from the text after a cache hit).
    layouts: dict[int, list[list[SentenceInfo]]] | None = None
    segment_len: int | None = None  # infini: segment length of the model that read the book
    extra: dict[str, Any] = field(default_factory=dict)  # JSON metadata, cached as it is


@dataclass(frozen=True)
class ChapterSummary:
    chapter_index: int
    chapter_title: str
    text: str
    citations: tuple[Citation, ...] = ()
    last_chapter_index: int | None = None  # a run of chapters: its last one (summaries)

    def heading(self) -> str:
        """How a summary lists it: "3. The Wreck", or a run's title ("Chapters 12-13")."""
        if self.last_chapter_index not in (None, self.chapter_index):
            return self.chapter_title
        return f"{self.chapter_index + 1}. {self.chapter_title}"


@dataclass(frozen=True)
class Summary:
    text: str  # the whole-book summary
    chapters: tuple[ChapterSummary, ...]
    engine: str
    length: Length = "medium"
    strategy: str | None = None
    citations: tuple[Citation, ...] = ()
    notice: str | None = None  # what the reader must know first (e.g. a raw continuation)


@runtime_checkable
class Engine(Protocol):
    name: str
    model_id: str | None

    def read(self, book: Book, progress: ProgressCallback | None = None) -> BookState: ...

    def summarize(
        self,
        state: BookState,
        length: Length = "medium",
        chapter: int | None = None,
        progress: ProgressCallback | None = None,
    ) -> Summary: ...

    def ask(
        self, state: BookState, question: str, chapter: int | None = None
    ) -> Iterator[AnswerChunk]:
        """Answer `question`; with `chapter` (a 0-based chapter index) retrieve and cite only
        that chapter's passages."""
        ...
