"""`bookreader chat BOOK`: the terminal app for exploring one book.

Exit codes: 0 after a normal quit, 2 for bad options (unknown engine, infini without a model,
a model that follows no instructions, a path that does not exist or is a folder), 4 when the
book cannot be read (the app shows the loader's message first, then the same message is
repeated on stderr once the screen is restored), 1 for other errors. A cache folder that cannot
be written is one warning before the app starts; the app then reads without the cache.
"""

from __future__ import annotations

from pathlib import Path

import typer

from bookreader.cli.checks import input_file
from bookreader.cli.common import error_line, guarded
from bookreader.cli.options import BookArg, DeviceOpt, EngineOpt, ModelOpt
from bookreader.cli.output import (
    BestEffortCache,
    build_engine,
    require_before_loading,
    settings_from,
)


def chat(
    book: BookArg,
    engine: EngineOpt = None,
    model: ModelOpt = None,
    device: DeviceOpt = None,
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
    engine: object = None,
    model: str | None = None,
    device: str | None = None,
    fresh: bool = False,
) -> int:
    from bookreader.tui.app import BookreaderApp

    input_file(book)
    settings = settings_from(engine=engine, model=model, device=device)
    require_before_loading(settings, "chat about a book")  # before the app starts
    app = BookreaderApp(
        book,
        # Built inside the app's reading worker: loading a model must not delay the first frame.
        lambda: build_engine(settings),
        fresh=fresh,
        cache=BestEffortCache.checked(),
    )
    app.run()
    if app.fatal_error is not None:
        error_line(str(app.fatal_error))
        return app.fatal_error.exit_code
    return app.return_code or 0


def register(app: typer.Typer) -> None:
    app.command("chat")(chat)
