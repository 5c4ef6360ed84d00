"""`bookreader ask BOOK QUESTION`: an answer with citations (chapter, page span for PDFs).

The answer streams to stdout as it comes (extractive: quoted passages with the best sentence
marked; infini: generated tokens), then the sources. With --json (schema bookreader.answer/1)
or --out, the whole answer is collected first. A question the book does not answer gets a plain
"No good match" answer with a one-line reason and no citations (JSON: "found": false); the exit
code is still 0. With `--engine infini`, a model that follows no instructions (a passkey model)
is refused with exit 2 before the book is read; a base model without a chat template answers
with a labelled raw continuation, never "found": true.
--chapter N limits retrieval and citations to chapter N (1-based, as `info` prints it); a
number outside the book is a usage error (exit 2).
"""

from __future__ import annotations

import sys

import typer

from bookreader.book import Citation
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
    chapter_option,
)
from bookreader.errors import UsageError


def ask(
    book: BookArg,
    question: str = typer.Argument(..., help="The question, in quotes."),
    chapter: int | None = chapter_option(
        "Ask about chapter N only (1-based, as `info` numbers it): cite only its passages."
    ),
    engine: EngineOpt = None,
    model: ModelOpt = None,
    device: DeviceOpt = None,
    fmt: FormatOpt = None,
    as_json: JsonOpt = False,
    out: OutOpt = None,
    quiet: QuietOpt = False,
) -> None:
    """Ask a question about a book; the answer cites chapters (and pages for PDFs)."""
    input_file(book)
    output_file(out)
    if not question.strip():
        raise UsageError("the question is empty")
    settings = output.settings_from(engine, model, device, fmt, as_json)
    reader = output.build_engine(settings)
    output.require(reader, "answer questions")
    state = output.open_state(book, reader, quiet=quiet)
    chapter_index = output.chapter_index(state.book, chapter)
    stream = settings.format != "json" and out is None
    if stream and settings.format == "markdown":
        sys.stdout.write(f"## {question.strip()}\n\n")
    parts: list[str] = []
    citations: list[Citation] = []
    for chunk in reader.ask(state, question, chapter=chapter_index):
        if isinstance(chunk, Citation):
            citations.append(chunk)
            continue
        parts.append(chunk)
        if stream:
            sys.stdout.write(chunk)
            sys.stdout.flush()
    answer = "".join(parts)
    if settings.format == "json":
        output.emit(
            output.dumps(
                output.answer_document(
                    question,
                    answer,
                    citations,
                    state,
                    chapter_index,
                    found=bool(citations) and output.gives_answers(reader),
                )
            ),
            out,
        )
        return
    sources = output.sources_text(citations, settings.format)
    if stream:
        sys.stdout.write(("" if answer.endswith("\n") else "\n") + sources)
        sys.stdout.flush()
        return
    heading = f"## {question.strip()}\n\n" if settings.format == "markdown" else ""
    output.emit(heading + answer.rstrip("\n") + "\n" + sources, out)


def register(app: typer.Typer) -> None:
    app.command("ask")(guarded(ask))
