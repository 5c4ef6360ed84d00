"""`bookreader info BOOK [--json]`: what the loader made of a book.

Human output (stdout): the title, author, language, format and words (in chapters, in front
matter, in the source documents), then a table of chapters (number, title, words, and the printed page span for PDFs), then the front matter that
was set aside, what was skipped, and the loader's warnings (pages with no text layer, repaired EPUB structure,
stripped Project Gutenberg boilerplate, ...).

`--json` prints one object with a stable schema (bookreader.info/1):

    {"schema": "bookreader.info/1",
     "path": str, "title": str, "author": str | null, "language": str | null,
     "format": "pdf" | "epub" | "txt" | "md", "sha256": str (of the file's bytes),
     "words": int (all chapters, front matter excluded),
     "chapter_words": int (the same: words in chapters),
     "front_matter_words": int (words set aside as front matter, kept in the book),
     "source_words": int | null (words in the source documents before chapters were made:
                                 EPUB spine documents, PDF pages, the text file),
     "skipped": {kind: count} (what was left out on purpose: "images" and "other media" in
                 an EPUB spine, "duplicates" (a document listed twice), "missing documents",
                 "running lines" (PDF headers, footers, page numbers)),
     "chapters": [{"index": int (0-based), "title": str, "words": int,
                   "pages": [first_label, last_label] | null (PDFs only)}],
     "front_matter": [str],                # titles of the pages set aside
     "warnings": [str]}

A path that does not exist or is a folder is a usage error (exit 2); a file that cannot be read
as a book (corrupt, encrypted, DRM, image-only, empty, unsupported) exits 4; both print one line
on stderr.
"""

from __future__ import annotations

from typing import Any

import typer
from rich.console import Console
from rich.table import Table

from bookreader.book import Book
from bookreader.cli.checks import input_file
from bookreader.cli.common import guarded, print_json, stdout_console
from bookreader.cli.options import BookArg
from bookreader.loaders import load

INFO_SCHEMA = "bookreader.info/1"


def book_info(book: Book) -> dict[str, Any]:
    """The `--json` document for a loaded book."""
    return {
        "schema": INFO_SCHEMA,
        "path": str(book.path),
        "title": book.title,
        "author": book.author,
        "language": book.language,
        "format": book.format,
        "sha256": book.sha256,
        "words": book.word_count,
        "chapter_words": book.word_count,
        "front_matter_words": book.front_matter_words,
        "source_words": book.source_words,
        "skipped": dict(book.skipped),
        "chapters": [
            {
                "index": chapter.index,
                "title": chapter.title,
                "words": chapter.word_count,
                "pages": list(chapter.page_span) if chapter.page_span else None,
            }
            for chapter in book.chapters
        ],
        "front_matter": [chapter.title for chapter in book.front_matter],
        "warnings": list(book.warnings),
    }


def _words_line(info: dict[str, Any]) -> str:
    """Chapter words, then what else the source held: front matter, and the source's total."""
    line = f"{info['words']:,}"
    extra = []
    if info["front_matter_words"]:
        extra.append(f"{info['front_matter_words']:,} in front matter")
    if info["source_words"] is not None:
        extra.append(f"{info['source_words']:,} in the source")
    return f"{line} ({'; '.join(extra)})" if extra else line


def _render(info: dict[str, Any], console: Console) -> None:
    console.print(f"[bold]{info['title']}[/bold]", highlight=False)
    details = [
        ("Author", info["author"] or "unknown"),
        ("Language", info["language"] or "unknown"),
        ("Format", info["format"].upper()),
        ("Chapters", str(len(info["chapters"]))),
        ("Words", _words_line(info)),
        ("SHA-256", info["sha256"][:16] + "…"),
    ]
    for label, value in details:
        console.print(f"{label + ':':<10} {value}", highlight=False, markup=False)
    has_pages = any(c["pages"] for c in info["chapters"])
    table = Table(show_edge=False, header_style="bold")
    table.add_column("#", justify="right")
    table.add_column("Title", overflow="fold")
    table.add_column("Words", justify="right")
    if has_pages:
        table.add_column("Pages", justify="right")
    for chapter in info["chapters"]:
        row = [str(chapter["index"] + 1), chapter["title"], f"{chapter['words']:,}"]
        if has_pages:
            first, last = chapter["pages"] or ("", "")
            row.append(first if first == last else f"{first}-{last}")
        table.add_row(*row)
    console.print(table)
    if info["front_matter"]:
        words = f"{info['front_matter_words']:,} words"
        console.print(f"Front matter ({words}): " + "; ".join(info["front_matter"]), markup=False)
    if info["skipped"]:
        skipped = ", ".join(f"{n:,} {kind}" for kind, n in sorted(info["skipped"].items()))
        console.print(f"Skipped: {skipped}", markup=False, highlight=False)
    for warning in info["warnings"]:
        console.print(f"warning: {warning}", markup=False, highlight=False)


def info(
    book: BookArg,
    as_json: bool = typer.Option(
        False, "--json", help="Print a JSON object (schema bookreader.info/1)."
    ),
) -> None:
    """Show a book's metadata, chapters, word counts and loader warnings."""
    data = book_info(load(input_file(book)))
    if as_json:
        print_json(data)
        return
    _render(data, stdout_console(highlight=False, soft_wrap=False))


def register(app: typer.Typer) -> None:
    app.command("info")(guarded(info))
