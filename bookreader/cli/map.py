"""`bookreader map BOOK [--terms "Ahab,whale"] [--top N] [--out map.png|map.svg] [--json]`:
the book's main characters and recurring terms, chapter by chapter, found without a model
(`bookreader.bookmap` gives the rule).

Human output (stdout): a table, one row per name: mentions, chapters it appears in, first and
last chapter, and a sparkline of its mentions per chapter. `--out` also draws a chapter x name
heatmap (PNG, SVG or PDF; needs `pip install 'bookreader[plot]'`).

`--json` prints {"schema": "bookreader.map/1", "book": {...}, "source": "names" | "terms",
"chapters": [{"number", "title"}], "entries": [{"name", "forms", "total", "chapters",
"first_chapter", "last_chapter" (1-based, null if absent), "counts" (one per chapter)}]}.

Exit codes: 0, 2 (bad options, no matplotlib for --out), 4 (unreadable book).
"""

from __future__ import annotations

import sys
from pathlib import Path

import typer
from rich.console import Console
from rich.table import Table

from bookreader.bookmap import BookMap, book_map, sparkline
from bookreader.cli.checks import input_file, output_file
from bookreader.cli.common import guarded, print_json, warning_lines
from bookreader.cli.options import BookArg
from bookreader.cli.output import book_info
from bookreader.errors import UsageError


def parse_terms(terms: str | None) -> list[str]:
    """ "Ahab, whale,Starbuck" -> ["Ahab", "whale", "Starbuck"] (duplicates dropped)."""
    if terms is None:
        return []
    parts = list(dict.fromkeys(" ".join(p.split()) for p in terms.split(",") if p.strip()))
    if not parts:
        raise UsageError("--terms: give at least one word or phrase, separated by commas")
    return parts


def render_map(data: BookMap, console: Console) -> None:
    chapters = len(data.chapter_titles)
    table = Table(show_edge=False, header_style="bold", title=f"{data.title}: {chapters} chapters")
    table.add_column("name")
    table.add_column("mentions", justify="right")
    table.add_column("chapters", justify="right")
    table.add_column("first", justify="right")
    table.add_column("last", justify="right")
    table.add_column("per chapter" if chapters <= 60 else "per run of chapters", no_wrap=True)
    for entry in data.entries:
        first = "-" if entry.first is None else str(entry.first + 1)
        last = "-" if entry.last is None else str(entry.last + 1)
        table.add_row(
            entry.name, str(entry.total), str(entry.chapters), first, last, sparkline(entry.counts)
        )
    console.print(table)
    if not data.entries:
        console.print("no recurring names found")


def map_command(
    book: BookArg,
    terms: str | None = typer.Option(
        None, "--terms", help='Count these words or phrases instead, e.g. "Ahab,whale,Starbuck".'
    ),
    top: int = typer.Option(20, "--top", help="How many names to show (most mentioned first)."),
    out: Path | None = typer.Option(
        None, "--out", help="Also draw a chapter x name heatmap: .png, .svg or .pdf."
    ),
    as_json: bool = typer.Option(False, "--json", help="Print JSON (bookreader.map/1)."),
) -> None:
    """The main characters and recurring terms, with their mentions per chapter."""
    from bookreader.loaders import load

    input_file(book)
    term_list = parse_terms(terms)
    if top < 1:
        raise UsageError("--top must be >= 1")
    if out is not None:
        from bookreader.plots import check_image_path, require_matplotlib

        output_file(out)
        check_image_path(out)
        require_matplotlib()  # before reading the book: fail fast
    loaded = load(book)
    warning_lines(loaded.warnings)
    if not loaded.chapters:
        raise UsageError(f"{book}: no chapters to map")
    data = book_map(loaded, term_list, top)
    if out is not None:
        from bookreader.plots import draw_map

        draw_map(data, out)
        sys.stderr.write(f"bookreader: wrote {out}\n")
    if as_json:
        print_json(data.to_dict(book_info(loaded)))
        return
    render_map(data, Console(highlight=False, soft_wrap=False, width=max(100, _width())))


def _width() -> int:
    # A sparkline of 60 chapters plus the columns: wider than a default 80-column pipe.
    import shutil

    return shutil.get_terminal_size((120, 24)).columns


def register(app: typer.Typer) -> None:
    app.command("map")(guarded(map_command))
