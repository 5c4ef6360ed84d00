"""`bookreader cache list|clear`: what the cache holds, and removing it.

`cache list --json` prints {"schema": "bookreader.cache/1", "folder": str, "entries": [ENTRY]},
ENTRY = {"book_sha256", "engine", "model_id", "model_revision", "format_version", "title",
"book_path", "created", "passages", "tokens_read", "memory_bytes", "disk_bytes", "folder"}.
`cache clear` removes every entry; `cache clear BOOK` only that book's (BOOK is a file, whose
sha256 is computed, or a sha256 prefix of at least 8 hex digits as `cache list` shows it).
"""

from __future__ import annotations

import re
from pathlib import Path

import typer

from bookreader.cli import output
from bookreader.cli.common import guarded
from bookreader.cli.options import JsonOpt
from bookreader.engines.cache import StateCache, file_sha256
from bookreader.errors import UsageError
from bookreader.humanize import human_bytes

CACHE_SCHEMA = "bookreader.cache/1"

cache_app = typer.Typer(help="List or clear cached book states.", no_args_is_help=True)


def list_entries(
    as_json: JsonOpt = False,
) -> None:
    """List cached book states."""
    cache = StateCache()
    entries = cache.entries()
    if as_json:
        document = {
            "schema": CACHE_SCHEMA,
            "folder": str(cache.root),
            "entries": [e.to_dict() for e in entries],
        }
        output.emit(output.dumps(document), None)
        return
    if not entries:
        output.emit(f"The cache is empty ({cache.root}).", None)
        return
    from rich.table import Table

    from bookreader.cli.common import stdout_console

    table = Table(title=f"Cached book states in {cache.root}", title_justify="left")
    for column in ("book", "sha256", "engine", "model", "passages", "memory", "disk", "created"):
        table.add_column(column, justify="right" if column in ("passages",) else "left")
    for e in entries:
        table.add_row(
            e.title,
            e.key.book_sha256[:12],
            e.key.engine,
            e.key.model_id or "-",
            str(e.passages),
            human_bytes(e.memory_bytes) if e.memory_bytes else "-",
            human_bytes(e.disk_bytes),
            e.created,
        )
    stdout_console(highlight=False, soft_wrap=True, width=200).print(table)


def clear(
    book: str | None = typer.Argument(None, help="A book file or sha256 prefix; all if absent."),
) -> None:
    """Remove cached states: all of them, or one book's."""
    cache = StateCache()
    sha = None
    if book is not None:
        if Path(book).is_file():
            sha = file_sha256(Path(book))
        elif re.fullmatch(r"[0-9a-fA-F]{8,64}", book):
            sha = book.lower()
        else:
            raise UsageError(f"{book}: neither a file nor a sha256 prefix (8+ hex digits)")
    removed = cache.clear(sha)
    output.emit(f"Removed {removed} cached state{'s' if removed != 1 else ''}.", None)


def register(app: typer.Typer) -> None:
    cache_app.command("list")(guarded(list_entries))
    cache_app.command("clear")(guarded(clear))
    app.add_typer(cache_app, name="cache")
