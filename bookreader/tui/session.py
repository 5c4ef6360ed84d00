"""What a chat about one book holds, without Textual: the book, the engine, the cache and the
conversation's history.

The chat screen drives a `ChatSession` from its worker thread (opening and reading) and from the
UI thread (recording turns); the session knows nothing of screens, so it can be tested and used
on its own. Reading goes through `engines.registry.read_book` when there is a cache, the same
path the command line takes.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from bookreader.book import Book
from bookreader.engines.base import BookState, Engine, ProgressCallback
from bookreader.engines.cache import StateCache
from bookreader.engines.registry import load_book, read_book
from bookreader.tui.history import History, HistoryStore, Turn

EngineSource = Engine | Callable[[], Engine]
Loader = Callable[[Path], Book]


@dataclass
class ChatSession:
    """The book's path and how to get its engine (built lazily: loading a model is slow), the
    cache (None: read the book every time, e.g. with a scripted engine), the history store;
    then, once opened, the engine, the book, its state and the conversation."""

    book_path: Path
    engine_source: EngineSource
    history_store: HistoryStore = field(default_factory=HistoryStore)
    fresh: bool = False  # start a new conversation: the saved one is dropped
    loader: Loader | None = None  # None: the loaders' `load`
    cache: StateCache | None = None
    engine: Engine | None = None
    book: Book | None = None
    state: BookState | None = None
    history: History | None = None

    def build_engine(self) -> Engine:
        """The engine, built now when the session was given a function that builds one."""
        source = self.engine_source
        self.engine = source if hasattr(source, "ask") else source()  # type: ignore[operator]
        return self.engine  # type: ignore[return-value]

    def read(
        self,
        engine: Engine,
        on_book: Callable[[Book], None],
        progress: ProgressCallback | None = None,
    ) -> BookState:
        """The book read by `engine`: from the cache when it holds a valid state, else loaded
        and read (and cached). `on_book` gets the book as soon as it is known, before a long
        read begins."""
        if self.cache is None:
            book = (self.loader or load_book)(self.book_path)
            on_book(book)
            state = engine.read(book, progress=progress)
        else:
            state = read_book(
                self.book_path,
                engine,
                progress=progress,
                cache=self.cache,
                loader=self.loader,
                on_book=on_book,
            )
        self.state = state
        return state

    def open_history(self, book: Book) -> History:
        """The saved conversation about `book` (none with `fresh`)."""
        self.book = book
        if self.fresh:
            self.history_store.delete(book.sha256)
        self.history = self.history_store.load(book.sha256)
        self.history.book_title = book.title
        return self.history

    def record(self, request: str, answer: Turn) -> None:
        """A question or summary request and its answer, saved at once."""
        if self.history is None:
            return
        self.history.turns += [Turn("question", request), answer]
        self.history_store.save(self.history)

    def clear_history(self) -> None:
        if self.history is not None:
            self.history.turns = []
            self.history_store.delete(self.history.sha256)
