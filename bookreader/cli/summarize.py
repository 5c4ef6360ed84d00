"""`bookreader summarize BOOK`: a summary of the whole book (or one chapter), in reading order.

The extractive engine quotes the most central sentences of the book and of each chapter (or run
of chapters), within about 250 / 800 / 2,500 words in all for `--length short|medium|long`; the
infini engine generates one (`--strategy hierarchical|memory`); a model that follows no
instructions is refused with exit 2. Output: text, markdown or JSON
(schema bookreader.summary/1, see bookreader.cli.output).
"""

from __future__ import annotations

from pathlib import Path

import typer

from bookreader.cli import output
from bookreader.cli.common import guarded


def summarize(
    book: Path = typer.Argument(..., help="PDF, EPUB, TXT or MD file."),
    chapter: int | None = output.chapter_option(
        "Summarize only chapter N (1-based, as `info` numbers it)."
    ),
    length: str | None = output.length_option(),
    strategy: str | None = output.strategy_option(),
    engine: str | None = output.engine_option(),
    model: str | None = output.model_option(),
    device: str | None = output.device_option(),
    fmt: str | None = output.format_option(),
    as_json: bool = output.json_option(),
    out: Path | None = output.out_option(),
    quiet: bool = output.quiet_option(),
) -> None:
    """Summarize a book, chapter by chapter and as a whole."""
    settings = output.settings_from(engine, model, device, fmt, as_json, length, strategy)
    reader = output.build_engine(settings)
    output.require(reader, "summarize")
    state = output.open_state(book, reader, quiet=quiet)
    chapter_index = output.chapter_index(state.book, chapter)
    with output.progress_bar("Summarizing", quiet) as report:
        summary = reader.summarize(
            state, length=settings.length, chapter=chapter_index, progress=report
        )
    output.emit(output.render_summary(summary, state, settings.format), out)


def register(app: typer.Typer) -> None:
    app.command("summarize")(guarded(summarize))
