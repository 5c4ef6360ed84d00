"""The Textual app behind `bookreader chat BOOK`.

Its dependencies come in from outside (the book's path, an engine or a function that builds one,
the history store, the loader, the cache) and go into a `ChatSession`, which the chat screen is
given: screens never import the app. Tests drive it with a scripted engine and the command line
with a real one. Building the engine is deferred to the reading worker: loading a neural model
takes long enough that it must not hold up the first frame. A screen reports a fatal error with
a `ChatScreen.Fatal` message; the app shows it and exits with its code.
"""

from __future__ import annotations

from pathlib import Path

from textual import on
from textual.app import App
from textual.binding import Binding
from textual.screen import Screen

from bookreader.engines.cache import StateCache
from bookreader.errors import BookreaderError, UnreadableBook
from bookreader.tui.history import HistoryStore
from bookreader.tui.screens.chat import ChatScreen
from bookreader.tui.screens.error import ErrorModal
from bookreader.tui.screens.help import HelpScreen
from bookreader.tui.session import ChatSession, EngineSource, Loader


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
        self.session = ChatSession(
            Path(book_path),
            engine,
            history_store=history if history is not None else HistoryStore(),
            fresh=fresh,
            loader=loader,
            cache=cache,  # None: read the book every time (tests, scripted engines)
        )
        self.fatal_error: BookreaderError | None = None

    def get_default_screen(self) -> Screen:
        return ChatScreen(self.session)

    @on(ChatScreen.Fatal)
    def _fatal(self, message: ChatScreen.Fatal) -> None:
        self.fail(message.error)

    def fail(self, error: BookreaderError) -> None:
        """A fatal error (unreadable book, unavailable model): show it, then exit with its code."""
        self.fatal_error = error
        title = "Cannot read this book" if isinstance(error, UnreadableBook) else "Cannot go on"
        self.push_screen(
            ErrorModal(title, str(error), button="Quit"),
            callback=lambda _: self.exit(return_code=error.exit_code),
        )

    def action_help(self) -> None:
        if not isinstance(self.screen, HelpScreen):
            self.push_screen(HelpScreen())
