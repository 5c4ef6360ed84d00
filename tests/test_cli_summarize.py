"""`bookreader summarize` on the samples, in every format; options, config defaults and errors."""

from __future__ import annotations

import json
import os
import stat
from pathlib import Path

import pytest
from typer.testing import CliRunner

from bookreader import paths
from bookreader.cli.app import app

runner = CliRunner()
LEDGER = "the-lighthouse-keepers-ledger"


def chapter_titles(samples: Path) -> list[str]:
    """The chapter names as the sample's Markdown source spells them (`## Chapter N: Name`)."""
    source = (samples / "src" / "lighthouse.md").read_text(encoding="utf-8")
    return [line.split(":", 1)[1].strip() for line in source.splitlines() if line.startswith("## ")]


def summarize(*args: str) -> object:
    return runner.invoke(app, ["summarize", *args])


@pytest.mark.parametrize("ext", ["txt", "md", "epub", "pdf"])
def test_json_summary_follows_the_schema(samples: Path, ext: str) -> None:
    result = summarize(str(samples / f"{LEDGER}.{ext}"), "--json")
    assert result.exit_code == 0, result.stderr
    doc = json.loads(result.stdout)
    assert doc["schema"] == "bookreader.summary/1"
    assert set(doc) == {
        "schema", "book", "engine", "model", "length", "strategy", "notice", "summary",
        "chapters", "citations", "cache",
    }  # fmt: skip
    assert doc["book"]["title"] == "The Lighthouse Keeper's Ledger"
    assert doc["book"]["chapters"] == 8 and doc["book"]["format"] == ext
    assert (doc["engine"], doc["model"], doc["length"]) == ("extractive", None, "medium")
    assert doc["notice"].startswith("Extractive summary")
    assert [c["number"] for c in doc["chapters"]] == list(range(1, 9))
    for chapter, title in zip(doc["chapters"], chapter_titles(samples), strict=True):
        assert title in chapter["title"]
        assert (
            1 <= len(chapter["citations"]) == len(set(c["sentence"] for c in chapter["citations"]))
        )
        for citation in chapter["citations"]:
            # Every summary sentence is quoted from its chapter and cited there.
            assert citation["chapter_index"] == chapter["index"]
            assert citation["sentence"] in chapter["summary"]
            assert " ".join(citation["sentence"].split()) in " ".join(citation["text"].split())
            assert (citation["pages"] is not None) == (ext == "pdf")
    assert doc["citations"] and all(c["sentence"] in doc["summary"] for c in doc["citations"])
    # --length medium bounds the whole output: the book paragraph, the headings, the chapters.
    printed = doc["summary"] + " ".join(f"{c['title']} {c['summary']}" for c in doc["chapters"])
    assert len(printed.split()) + len(doc["chapters"]) <= 800


def test_text_and_markdown_formats(samples: Path) -> None:
    book = str(samples / f"{LEDGER}.txt")
    text = summarize(book)
    markdown = summarize(book, "--format", "markdown")
    assert text.exit_code == markdown.exit_code == 0
    assert text.stdout.startswith("The Lighthouse Keeper's Ledger by Tamsin Greavey\n")
    assert "Extractive summary: sentences quoted from the book" in text.stdout
    assert markdown.stdout.startswith("# The Lighthouse Keeper's Ledger by Tamsin Greavey\n")
    assert "## Chapters" in markdown.stdout
    assert "### 3. " in markdown.stdout and "The Wreck of the Corrant Star" in markdown.stdout
    assert text.stderr == ""  # not a terminal: no progress bars, nothing on stderr


def test_length_and_chapter_options(samples: Path) -> None:
    book = str(samples / f"{LEDGER}.txt")
    sizes = {}
    for length in ("short", "medium", "long"):
        result = summarize(book, "--length", length, "--json")
        doc = json.loads(result.stdout)
        assert doc["length"] == length
        sizes[length] = len(doc["summary"].split())
    assert sizes["short"] < sizes["medium"] < sizes["long"]
    one = json.loads(summarize(book, "--chapter", "6", "--json").stdout)
    assert [c["number"] for c in one["chapters"]] == [6]
    assert all(c["chapter_index"] == 5 for c in one["citations"])


def test_out_writes_the_file_and_nothing_to_stdout(samples: Path, tmp_path: Path) -> None:
    out = tmp_path / "sub" / "summary.md"
    out.parent.mkdir()
    result = summarize(str(samples / "harbour-notes.txt"), "-f", "markdown", "--out", str(out))
    assert result.exit_code == 0 and result.stdout == ""
    assert out.read_text().startswith("# ")
    assert [p.name for p in out.parent.iterdir()] == ["summary.md"]  # no temporary file left
    umask = os.umask(0o022)
    os.umask(umask)
    assert stat.S_IMODE(out.stat().st_mode) == 0o666 & ~umask  # as `>` would make it, not 0600


def test_out_creates_no_parent_folders(samples: Path, tmp_path: Path) -> None:
    out = tmp_path / "missing" / "summary.md"
    result = summarize(str(samples / "harbour-notes.txt"), "--out", str(out))
    assert result.exit_code == 2 and result.stdout == ""
    assert result.stderr == (
        f"bookreader: error: --out {out}: no such folder {out.parent} (create it first)\n"
    )
    assert not out.parent.exists()


def write_config(text: str) -> None:
    (paths.config_dir() / "config.toml").write_text(text)


def test_config_sets_defaults_and_flags_override(samples: Path) -> None:
    write_config('length = "short"\nformat = "json"\n')
    book = str(samples / "harbour-notes.txt")
    doc = json.loads(summarize(book).stdout)
    assert doc["length"] == "short"
    assert json.loads(summarize(book, "--length", "long").stdout)["length"] == "long"
    assert summarize(book, "--format", "text").stdout.startswith("HARBOUR NOTES")


@pytest.mark.parametrize(
    ("config", "message"),
    [
        ("length = ", "not valid TOML"),
        ('colour = "blue"\n', "unknown setting 'colour'"),
        ('length = "huge"\n', "length = 'huge': not one of short, medium, long"),
        ("length = 3\n", "must be a string"),
    ],
)
def test_malformed_config_is_a_usage_error(samples: Path, config: str, message: str) -> None:
    write_config(config)
    result = summarize(str(samples / "harbour-notes.txt"))
    assert result.exit_code == 2
    assert result.stderr.count("\n") == 1 and message in result.stderr
    assert "config.toml" in result.stderr


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--length", "huge"], "'huge' is not one of 'short', 'medium', 'long'"),
        (["--engine", "neural"], "'neural' is not one of 'extractive', 'infini'"),
        (["--format", "pdf"], "'pdf' is not one of 'text', 'markdown', 'json'"),
        (["--engine", "extractive", "--model", "m"], "--model m needs the infini engine"),
        (["--engine", "infini"], "the infini engine needs --model"),
        (["--chapter", "9"], "--chapter 9: the book has chapters 1 to 8"),
    ],
)
def test_bad_options_exit_2_with_one_line(samples: Path, args: list[str], message: str) -> None:
    result = summarize(str(samples / f"{LEDGER}.txt"), *args)
    assert result.exit_code == 2
    assert result.stderr == f"bookreader: error: {message}\n" or (
        result.stderr.count("\n") == 1 and message in result.stderr
    )
