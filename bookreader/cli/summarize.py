"""`bookreader summarize BOOK`: a summary of the whole book (or one chapter), in reading order.

The extractive engine quotes the most central sentences of the book and of each chapter (or run
of chapters), within about 250 / 800 / 2,500 words in all for `--length short|medium|long`; the
infini engine generates one (`--strategy hierarchical|memory`); a model that follows no
instructions is refused with exit 2. Output: text, markdown or JSON
(schema bookreader.summary/1, see bookreader.cli.output).
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
    LengthOpt,
    ModelOpt,
    OutOpt,
    QuietOpt,
    StrategyOpt,
    chapter_option,
)


def summarize(
    book: BookArg,
    chapter: int | None = chapter_option(
        "Summarize only chapter N (1-based, as `info` numbers it)."
    ),
    length: LengthOpt = None,
    strategy: StrategyOpt = None,
    engine: EngineOpt = None,
    model: ModelOpt = None,
    device: DeviceOpt = None,
    fmt: FormatOpt = None,
    as_json: JsonOpt = False,
    out: OutOpt = None,
    quiet: QuietOpt = False,
) -> None:
    """Summarize a book, chapter by chapter and as a whole."""
    input_file(book)
    output_file(out)
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
