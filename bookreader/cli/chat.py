"""`bookreader chat BOOK`: the terminal app for exploring one book.

Exit codes: 0 after a normal quit, 2 for bad options (unknown engine, infini without a model,
a model that follows no instructions, missing file), 4 when the book cannot be read (the app shows the loader's message first, then
the same message is repeated on stderr once the screen is restored), 1 for other errors.
"""

from __future__ import annotations

from pathlib import Path

import typer

from bookreader.cli.common import error_line, guarded
from bookreader.cli.output import (
    build_engine,
    device_option,
    engine_option,
    model_option,
    require_before_loading,
    settings_from,
)
from bookreader.errors import UsageError


def chat(
    book: Path = typer.Argument(..., help="The book: PDF, EPUB, TXT or Markdown."),
    engine: str | None = engine_option(),
    model: str | None = model_option(),
    device: str | None = device_option(),
    fresh: bool = typer.Option(
        False, "--fresh", help="Start a new conversation; the saved one for this book is dropped."
    ),
) -> None:
    """Chat about a book in a terminal app: chapters, questions, summaries, cited passages."""
    code = run_chat(book, engine=engine, model=model, device=device, fresh=fresh)
    raise typer.Exit(code)


@guarded
def run_chat(
    book: Path,
    engine: str | None = None,
    model: str | None = None,
    device: str | None = None,
    fresh: bool = False,
) -> int:
    from bookreader.engines.cache import StateCache
    from bookreader.tui.app import BookreaderApp

    if not book.is_file():
        raise UsageError(f"{book}: no such file")
    settings = settings_from(engine=engine, model=model, device=device)
    require_before_loading(settings, "chat about a book")  # before the app starts
    app = BookreaderApp(
        book,
        # Built inside the app's reading worker: loading a model must not delay the first frame.
        lambda: build_engine(settings),
        fresh=fresh,
        cache=StateCache(),
    )
    app.run()
    if app.fatal_error is not None:
        error_line(str(app.fatal_error))
        return app.fatal_error.exit_code
    return app.return_code or 0


def register(app: typer.Typer) -> None:
    app.command("chat")(chat)
