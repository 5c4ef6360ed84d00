"""`bookreader read` and `bookreader cache list|clear`."""

from __future__ import annotations

import json
from pathlib import Path

from typer.testing import CliRunner

from bookreader import paths
from bookreader.cli.app import app
from bookreader.engines.cache import file_sha256

runner = CliRunner()
LEDGER = "the-lighthouse-keepers-ledger"


def invoke(*args: str) -> object:
    result = runner.invoke(app, list(args))
    return result


def test_read_caches_then_reports_a_hit_and_force_reads_again(samples: Path) -> None:
    book = str(samples / f"{LEDGER}.epub")
    first = invoke("read", book)
    assert first.exit_code == 0
    assert first.stdout.splitlines()[0] == "The Lighthouse Keeper's Ledger: read and cached"
    assert "chapters: 8, passages: " in first.stdout
    again = json.loads(invoke("read", book, "--json").stdout)
    assert again["schema"] == "bookreader.read/1" and again["cache"]["hit"] is True
    assert set(again) == {
        "schema", "book", "engine", "model", "passages", "tokens_read", "memory_bytes", "cache",
    }  # fmt: skip
    forced = json.loads(invoke("read", book, "--json", "--force").stdout)
    assert forced["cache"]["hit"] is False and forced["passages"] == again["passages"]


def test_cache_list_and_clear(samples: Path) -> None:
    assert invoke("cache", "list").stdout.startswith("The cache is empty")
    for name in (f"{LEDGER}.txt", f"{LEDGER}.pdf", "harbour-notes.txt"):
        assert invoke("read", str(samples / name)).exit_code == 0
    listing = json.loads(invoke("cache", "list", "--json").stdout)
    assert listing["schema"] == "bookreader.cache/1"
    assert listing["folder"] == str(paths.cache_dir() / "states")
    shas = {e["book_sha256"] for e in listing["entries"]}
    assert shas == {
        file_sha256(samples / n) for n in (f"{LEDGER}.txt", f"{LEDGER}.pdf", "harbour-notes.txt")
    }
    assert all(e["engine"] == "extractive" and e["disk_bytes"] > 0 for e in listing["entries"])
    table = invoke("cache", "list").stdout
    assert "HARBOUR NOTES" in table and "The Lighthouse Keeper's Ledger" in table
    assert "\x1b[" not in table  # not a terminal (and NO_COLOR): no escape codes

    cleared = invoke("cache", "clear", str(samples / "harbour-notes.txt"))
    assert cleared.exit_code == 0 and cleared.stdout == "Removed 1 cached state.\n"
    remaining = json.loads(invoke("cache", "list", "--json").stdout)["entries"]
    assert len(remaining) == 2
    by_prefix = invoke("cache", "clear", remaining[0]["book_sha256"][:10])
    assert by_prefix.stdout == "Removed 1 cached state.\n"
    assert invoke("cache", "clear").stdout == "Removed 1 cached state.\n"
    assert json.loads(invoke("cache", "list", "--json").stdout)["entries"] == []


def test_cache_clear_rejects_a_bad_argument() -> None:
    result = invoke("cache", "clear", "not-a-book")
    assert result.exit_code == 2
    assert result.stderr == (
        "bookreader: error: not-a-book: neither a file nor a sha256 prefix (8+ hex digits)\n"
    )
