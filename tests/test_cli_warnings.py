"""Loader warnings reach the user from every command: one stderr line each in summarize, ask,
read and batch, and a `warnings` list in every JSON document (book.warnings; batch's report and
failures.jsonl). `info --json` also says what was skipped and how many words went where."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from loader_books import body_lines, make_epub, make_pdf, xhtml
from typer.testing import CliRunner

from bookreader.book import count_words
from bookreader.cli.app import app
from bookreader.loaders import load

RUNNER = CliRunner()
WARNING = "page 2 has no text layer"


@pytest.fixture()
def warned_pdf(tmp_path: Path) -> Path:
    """A PDF whose second page is a drawing without text: the loader warns about it."""
    folder = tmp_path / "books"  # batch reads a folder
    folder.mkdir()
    pages = [body_lines("Harbour", 12), None, body_lines("Lantern", 12)]
    return make_pdf(folder / "warned.pdf", pages)


def _warning_lines(stderr: str) -> list[str]:
    return [line for line in stderr.splitlines() if line.startswith("bookreader: warning:")]


@pytest.mark.parametrize(
    "args",
    [
        ["summarize", "--json"],
        ["ask", "--json"],
        ["read", "--json"],
    ],
)
def test_book_commands_print_each_warning_once_and_put_it_in_json(
    warned_pdf: Path, args: list[str]
) -> None:
    command = [args[0], str(warned_pdf), *(["Where is the harbour?"] if args[0] == "ask" else [])]
    result = RUNNER.invoke(app, [*command, *args[1:]])
    assert result.exit_code == 0, result.stderr
    assert load(warned_pdf).warnings == [WARNING]
    assert _warning_lines(result.stderr) == [f"bookreader: warning: {WARNING}"]
    assert json.loads(result.stdout)["book"]["warnings"] == [WARNING]


def test_cached_book_still_warns(warned_pdf: Path) -> None:
    first = RUNNER.invoke(app, ["read", str(warned_pdf)])
    second = RUNNER.invoke(app, ["ask", str(warned_pdf), "Where is the harbour?"])
    assert first.exit_code == second.exit_code == 0
    assert _warning_lines(second.stderr) == [f"bookreader: warning: {WARNING}"]


def test_batch_prints_and_reports_warnings(warned_pdf: Path, tmp_path: Path) -> None:
    out = tmp_path / "out"
    result = RUNNER.invoke(app, ["batch", str(warned_pdf.parent), "--out", str(out), "--json"])
    assert result.exit_code == 0, result.stderr
    assert _warning_lines(result.stderr) == [f"bookreader: warning: {warned_pdf}: {WARNING}"]
    report = json.loads(result.stdout)
    assert report["warnings"] == [{"path": str(warned_pdf), "warnings": [WARNING]}]
    summary = json.loads((out / "warned.json").read_text(encoding="utf-8"))
    assert summary["book"]["warnings"] == [WARNING]


def test_info_json_accounts_for_every_word_and_skipped_item(tmp_path: Path) -> None:
    chapter = xhtml("Alpha", [f"Alpha sentence {k} about the lamp." for k in range(40)])
    docs = [("a.xhtml", chapter), ("a2.xhtml", chapter.replace("Alpha", "Beta"))]
    image = b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 4
    path = make_epub(
        tmp_path / "img.epub",
        docs,
        nav_entries=[("a.xhtml", "Alpha"), ("a2.xhtml", "Beta")],
        extra_files={"OEBPS/p.png": image},
        extra_manifest='<item id="img" href="p.png" media-type="image/png"/>',
        extra_spine='<itemref idref="img"/><itemref idref="d0"/>',
    )
    data = json.loads(RUNNER.invoke(app, ["info", str(path), "--json"]).stdout)
    assert data["skipped"] == {"images": 1, "duplicates": 1}
    assert data["source_words"] == 2 * count_words(
        "Alpha " + " ".join(f"Alpha sentence {k} about the lamp." for k in range(40))
    )
    # The chapters hold the source's words less each heading that became a title.
    assert data["chapter_words"] + data["front_matter_words"] == data["source_words"] - 2
    assert "skipped 1 spine images (no text)" in data["warnings"]
