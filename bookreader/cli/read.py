"""`bookreader read BOOK`: read a book once and keep its state in the cache.

Later `ask`, `summarize` and `chat` on the same file (same sha256), engine and model start from
the cached state. `--force` reads again even when a valid entry exists. Prints what was cached
(text, or JSON with schema bookreader.read/1).
"""

from __future__ import annotations

import typer

from bookreader.cli import output
from bookreader.cli.checks import input_file, output_file
from bookreader.cli.common import guarded
from bookreader.cli.options import (
    BookArg,
    DeviceOpt,
    EngineOpt,
    FormatOpt,
    JsonOpt,
    ModelOpt,
    OutOpt,
    QuietOpt,
)
from bookreader.humanize import human_bytes


def read(
    book: BookArg,
    force: bool = typer.Option(False, "--force", help="Read again even if cached."),
    engine: EngineOpt = None,
    model: ModelOpt = None,
    device: DeviceOpt = None,
    fmt: FormatOpt = None,
    as_json: JsonOpt = False,
    out: OutOpt = None,
    quiet: QuietOpt = False,
) -> None:
    """Read a book into the cache (the passage index; for infini, the compressive memory)."""
    input_file(book)
    output_file(out)
    settings = output.settings_from(engine, model, device, fmt, as_json)
    reader = output.build_engine(settings)
    state = output.open_state(book, reader, force=force, quiet=quiet)
    if settings.format == "json":
        output.emit(output.dumps(output.read_document(state)), out)
        return
    status = "already cached" if state.cache_hit else "read and cached"
    model = f" ({state.model_id})" if state.model_id else ""
    lines = [
        f"{state.book.title}: {status}",
        f"engine: {state.engine}{model}",
        f"chapters: {len(state.book.chapters)}, passages: {len(state.passages)}, "
        f"words: {state.book.word_count}",
    ]
    if state.tokens_read:
        lines.append(f"tokens read: {state.tokens_read}")
    if state.memory is not None:
        lines.append(
            f"memory: {human_bytes(state.memory_bytes)} "
            "(fixed size, independent of the book's length)"
        )
    text = "\n".join(lines)
    if settings.format == "markdown":
        text = "\n".join(f"- {line}" for line in lines)
    output.emit(text, out)


def register(app: typer.Typer) -> None:
    app.command("read")(guarded(read))
