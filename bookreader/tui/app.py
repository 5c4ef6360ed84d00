"""The Textual app behind `bookreader chat BOOK`.

Its dependencies come in from outside (the book's path, an engine or a function that builds one,
the history store, the loader) so that tests drive it with a scripted engine and the command line
with a real one. Building the engine is deferred to the reading worker: loading a neural model
takes long enough that it must not hold up the first frame.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from textual.app import App
from textual.binding import Binding
from textual.screen import Screen

from bookreader.book import Book
from bookreader.engines.base import BookState, Engine
from bookreader.engines.cache import StateCache, file_sha256
from bookreader.engines.registry import cache_key
from bookreader.errors import BookreaderError, UnreadableBook
from bookreader.tui.history import HistoryStore
from bookreader.tui.screens.chat import ChatScreen
from bookreader.tui.screens.error import ErrorModal
from bookreader.tui.screens.help import HelpScreen

EngineSource = Engine | Callable[[], Engine]
Loader = Callable[[Path], Book]


def default_loader(path: Path) -> Book:
    from bookreader.loaders import load  # the loaders pull in pypdf/ebooklib: import when needed

    return load(path)


class BookreaderApp(App[None]):
    CSS_PATH = "bookreader.tcss"
    TITLE = "bookreader"
    BINDINGS = [  # noqa: RUF012
        Binding("ctrl+q", "quit", "Quit", priority=True),
        Binding("f1", "help", "Help"),
        Binding("question_mark", "help", "Help", show=False),
    ]

    def __init__(
        self,
        book_path: Path | str,
        engine: EngineSource,
        *,
        history: HistoryStore | None = None,
        fresh: bool = False,
        loader: Loader | None = None,
        cache: StateCache | None = None,
    ) -> None:
        super().__init__()
        self.book_path = Path(book_path)
        self._engine_source = engine
        self.history_store = history if history is not None else HistoryStore()
        self.fresh = fresh
        self._loader = loader if loader is not None else default_loader
        self.cache = cache  # None: read the book every time (tests, scripted engines)
        self.fatal_error: BookreaderError | None = None

    def get_default_screen(self) -> Screen:
        return ChatScreen()

    # Called from the reading worker thread.
    def load_book(self) -> Book:
        return self._loader(self.book_path)

    def cached_state(self, engine: Engine) -> BookState | None:
        """The engine's saved state for this exact file, if the cache has a valid one."""
        if self.cache is None:
            return None
        try:
            key = cache_key(engine, file_sha256(self.book_path))
        except OSError as error:
            raise UnreadableBook(f"{self.book_path}: {error.strerror or error}") from None
        return self.cache.load(key, device=getattr(engine, "device", None))

    def remember_state(self, engine: Engine, state: BookState) -> None:
        if self.cache is not None:
            self.cache.save(cache_key(engine, file_sha256(self.book_path)), state)
            state.cache_hit = False

    def build_engine(self) -> Engine:
        source = self._engine_source
        if hasattr(source, "ask"):  # already an engine
            return source  # type: ignore[return-value]
        return source()  # type: ignore[operator, return-value]

    # UI thread.
    def fail(self, error: BookreaderError) -> None:
        """A fatal error (unreadable book, unavailable model): show it, then exit with its code."""
        self.fatal_error = error
        title = "Cannot read this book" if isinstance(error, UnreadableBook) else "Cannot go on"
        self.push_screen(
            ErrorModal(title, str(error), button="Quit"),
            callback=lambda _: self.exit(return_code=error.exit_code),
        )

    def show_error(self, title: str, message: str) -> None:
        self.push_screen(ErrorModal(title, message))

    def action_help(self) -> None:
        if not isinstance(self.screen, HelpScreen):
            self.push_screen(HelpScreen())
