"""`bookreader info`: the human table, the --json schema checked against the loader and the
file itself, and unreadable input as one stderr line with exit code 4."""

from __future__ import annotations

import hashlib
import json
import re
from pathlib import Path

from loader_books import body_lines, make_pdf, relabel
from typer.testing import CliRunner

from bookreader.cli.app import app
from bookreader.loaders import load

RUNNER = CliRunner()
TEXT = (
    "Title: The Ledger\nAuthor: Ada Keeper\n\n*** START OF THE PROJECT GUTENBERG EBOOK THE LEDGER ***\n\n"
    + "".join(
        f"CHAPTER {r}.\n{t}\n\n" + "The keeper wrote in the ledger every night. " * n + "\n\n"
        for r, t, n in [("I", "The Lamp", 30), ("II", "The Storm", 45)]
    )
    + "*** END OF THE PROJECT GUTENBERG EBOOK THE LEDGER ***\n"
)


def write_book(tmp_path: Path) -> Path:
    path = tmp_path / "ledger.txt"
    path.write_text(TEXT, encoding="utf-8")
    return path


def test_info_json_schema_and_values(tmp_path: Path) -> None:
    path = write_book(tmp_path)
    result = RUNNER.invoke(app, ["info", str(path), "--json"])
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert set(data) == {
        "schema",
        "path",
        "title",
        "author",
        "language",
        "format",
        "sha256",
        "words",
        "chapter_words",
        "front_matter_words",
        "source_words",
        "skipped",
        "chapters",
        "front_matter",
        "warnings",
    }
    assert data["schema"] == "bookreader.info/1"
    assert (data["title"], data["author"], data["format"]) == ("The Ledger", "Ada Keeper", "txt")
    assert data["sha256"] == hashlib.sha256(path.read_bytes()).hexdigest()
    # 8 words per sentence: counted by hand from TEXT.
    assert [(c["index"], c["title"], c["words"], c["pages"]) for c in data["chapters"]] == [
        (0, "CHAPTER I. The Lamp", 8 * 30, None),
        (1, "CHAPTER II. The Storm", 8 * 45, None),
    ]
    assert data["words"] == data["chapter_words"] == 8 * 75
    assert data["front_matter_words"] == 0 and data["skipped"] == {}
    # The source counted before anything was cut: the licence lines and headings are in it.
    assert data["source_words"] > data["words"]
    assert any("Gutenberg" in w for w in data["warnings"])


def test_info_json_page_spans_for_pdf(tmp_path: Path) -> None:
    pages = [["Front page of the book"]] + [body_lines(f"T{k}") for k in range(4)]
    path = relabel(make_pdf(tmp_path / "b.pdf", pages, outline=[("One", 1), ("Two", 3)]), 1)
    data = json.loads(RUNNER.invoke(app, ["info", str(path), "--json"]).stdout)
    assert [c["pages"] for c in data["chapters"]] == [["1", "2"], ["3", "4"]]
    assert data["front_matter"] == ["Front matter"]
    assert data["words"] == load(path).word_count


def test_info_human_table(tmp_path: Path) -> None:
    result = RUNNER.invoke(app, ["info", str(write_book(tmp_path))])
    assert result.exit_code == 0
    out = result.stdout
    assert "The Ledger" in out and "Ada Keeper" in out and "TXT" in out
    assert re.search(r"1 .*CHAPTER I\. The Lamp.*240", out)
    assert re.search(r"2 .*CHAPTER II\. The Storm.*360", out)
    assert "warning: stripped Project Gutenberg" in out


def test_unreadable_book_is_one_line_and_exit_4(tmp_path: Path) -> None:
    path = tmp_path / "broken.pdf"
    path.write_bytes(b"%PDF-1.4\n" + b"\x00garbage" * 50)
    result = RUNNER.invoke(app, ["info", str(path)])
    assert result.exit_code == 4
    lines = result.stderr.strip().splitlines()
    assert (
        len(lines) == 1 and lines[0].startswith("bookreader: error:") and "broken.pdf" in lines[0]
    )
    assert "Traceback" not in result.output and result.stdout == ""


def test_missing_file_or_folder_is_a_usage_error(tmp_path: Path) -> None:
    result = RUNNER.invoke(app, ["info", str(tmp_path / "absent.epub"), "--json"])
    assert result.exit_code == 2
    assert result.stderr == f"bookreader: error: {tmp_path / 'absent.epub'}: no such file\n"
    result = RUNNER.invoke(app, ["info", str(tmp_path)])
    assert result.exit_code == 2
    assert result.stderr == f"bookreader: error: {tmp_path}: is a folder, not a file\n"
