"""`bookreader ask` on the samples: answers appear in the cited passages, every format, questions
the book cannot answer, a second ask served from the cache, and one-line errors with their exit
codes for every error class."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from bookreader import errors
from bookreader.cli.app import app
from bookreader.engines import registry
from bookreader.engines.extractive import ExtractiveEngine

runner = CliRunner()
LEDGER = "the-lighthouse-keepers-ledger"


def questions(samples: Path) -> list[dict]:
    return [json.loads(line) for line in (samples / "questions.jsonl").open(encoding="utf-8")]


def ask_json(book: Path, question: str) -> dict:
    result = runner.invoke(app, ["ask", str(book), question, "--json"])
    assert result.exit_code == 0, result.stderr
    return json.loads(result.stdout)


def in_citations(answer: str, doc: dict) -> bool:
    cited = " ".join(" ".join(c["text"].split()) for c in doc["citations"]).lower()
    return answer.lower() in cited


@pytest.mark.parametrize("ext", ["txt", "epub", "pdf"])
def test_sample_answers_appear_in_the_cited_passages(samples: Path, ext: str) -> None:
    book = samples / f"{LEDGER}.{ext}"
    found = []
    for q in questions(samples):
        doc = ask_json(book, q["question"])
        assert doc["found"] and 1 <= len(doc["citations"]) <= 3
        found.append(in_citations(q["answer"], doc))
        if q["kind"] == "single" and found[-1]:
            # The cited passage holding the answer comes from the chapter that gives it.
            holding = [c for c in doc["citations"] if q["answer"].lower() in c["text"].lower()]
            assert q["evidence_chapters"][0] - 1 in {c["chapter_index"] for c in holding}
    assert sum(found) / len(found) >= 0.8, found


def test_cross_chapter_questions_cite_several_chapters(samples: Path) -> None:
    for q in questions(samples):
        if q["kind"] == "cross":
            doc = ask_json(samples / f"{LEDGER}.txt", q["question"])
            assert len({c["chapter_index"] for c in doc["citations"]}) >= 2, q["question"]


def test_answer_json_schema(samples: Path) -> None:
    question = "What kind of oil did the lamp at Skerrow Light burn?"
    doc = ask_json(samples / f"{LEDGER}.pdf", question)
    assert set(doc) == {
        "schema", "book", "engine", "model", "question", "chapter", "found", "answer",
        "citations", "cache",
    }  # fmt: skip
    assert doc["schema"] == "bookreader.answer/1" and doc["question"] == question
    assert doc["chapter"] is None  # the whole book
    assert doc["answer"].startswith("Extractive answer: quoted passages from the book")
    best = doc["citations"][0]
    assert set(best) == {
        "chapter_index", "chapter_title", "passage_id", "pages", "sentence", "text", "score",
    }  # fmt: skip
    assert "colza" in best["sentence"].lower() and best["chapter_index"] == 1
    assert f"**{best['sentence']}**" in doc["answer"]
    first, last = best["pages"]
    assert first.isdigit() and last.isdigit() and int(first) <= int(last) <= 24


def test_text_and_markdown_answers_stream_then_list_sources(samples: Path) -> None:
    book = str(samples / f"{LEDGER}.txt")
    question = "In which city was the Skerrow Light fog bell cast?"
    text = runner.invoke(app, ["ask", book, question])
    assert text.exit_code == 0
    assert text.stdout.startswith("Extractive answer:")
    assert "Bristol" in text.stdout
    body, sources = text.stdout.split("\nSources:\n")
    labels = [line.split("] ", 1)[1] for line in sources.splitlines()]
    assert 'ch. 2 "Chapter 2: The Green Ledger"' in labels
    for number, label in enumerate(labels, 1):
        assert f"[{number}] {label}\n" in body  # each quoted passage is headed by its source
    markdown = runner.invoke(app, ["ask", book, question, "--format", "markdown"])
    assert markdown.stdout.startswith(f"## {question}\n\n")
    assert "\n### Sources\n\n1. ch. " in markdown.stdout


def ask_chapter_json(book: Path, question: str, chapter: int) -> dict:
    result = runner.invoke(app, ["ask", str(book), question, "--chapter", str(chapter), "--json"])
    assert result.exit_code == 0, result.stderr
    return json.loads(result.stdout)


def test_chapter_option_cites_only_that_chapter(samples: Path) -> None:
    book = samples / f"{LEDGER}.epub"
    for number in (1, 4, 8):
        doc = ask_chapter_json(book, "What happens in this chapter?", number)
        assert doc["chapter"] == number and doc["found"]
        assert doc["citations"] and {c["chapter_index"] for c in doc["citations"]} == {number - 1}
        assert doc["cache"]["hit"] is (number != 1)  # later asks are served from the cache
    # Unscoped, the fog question is answered from chapter 6; scoped there, still answered, and
    # scoped to chapter 1 it finds nothing.
    question = "How many days did the long fog of 1889 last?"
    fog = ask_chapter_json(book, question, 6)
    assert in_citations("nineteen", fog) and {c["chapter_index"] for c in fog["citations"]} == {5}
    elsewhere = ask_chapter_json(book, question, 1)
    assert elsewhere["found"] is False and elsewhere["citations"] == []
    assert elsewhere["answer"].startswith('No good match: "Chapter 1: One Hundred')
    text = runner.invoke(app, ["ask", str(book), question, "-c", "6"])
    sources = text.stdout.split("\nSources:\n")[1].splitlines()
    assert sources and all('] ch. 6 "Chapter 6: Nineteen Days of Fog"' in s for s in sources)


@pytest.mark.parametrize("number", ["0", "9", "-1"])
def test_chapter_outside_the_book_is_a_usage_error(samples: Path, number: str) -> None:
    result = runner.invoke(
        app, ["ask", str(samples / f"{LEDGER}.txt"), "Who rang the bell?", "--chapter", number]
    )
    assert result.exit_code == 2
    assert result.stderr.strip().splitlines() == [
        f"bookreader: error: --chapter {number}: the book has chapters 1 to 8"
    ]
    assert result.stdout == ""


def test_out_file_holds_the_whole_answer(samples: Path, tmp_path: Path) -> None:
    out = tmp_path / "answer.json"
    question = "Who was the Collector of Customs at Carrick Wells?"
    result = runner.invoke(
        app, ["ask", str(samples / f"{LEDGER}.txt"), question, "--json", "-o", str(out)]
    )
    assert result.exit_code == 0 and result.stdout == ""
    doc = json.loads(out.read_text(encoding="utf-8"))
    assert doc["question"] == question and in_citations("Bartholomew Sleeman", doc)


@pytest.mark.parametrize(
    "question",
    ["Zorblax quindle frimp?", "What is the boiling point of mercury on the planet Mars?"],
)
def test_unanswerable_questions_say_so(samples: Path, question: str) -> None:
    doc = ask_json(samples / f"{LEDGER}.txt", question)
    assert doc["found"] is False and doc["citations"] == []
    assert doc["answer"].startswith("No good match")
    text = runner.invoke(app, ["ask", str(samples / f"{LEDGER}.txt"), question])
    assert text.exit_code == 0 and "Sources" not in text.stdout


def test_second_ask_reads_nothing_again(samples: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    loads: list[Path] = []
    reads: list[str] = []
    real_load, real_read = registry.load_book, ExtractiveEngine.read

    def counting_load(path: Path):  # type: ignore[no-untyped-def]
        loads.append(path)
        return real_load(path)

    def counting_read(self, book, progress=None):  # type: ignore[no-untyped-def]
        reads.append(book.title)
        return real_read(self, book, progress)

    monkeypatch.setattr(registry, "load_book", counting_load)
    monkeypatch.setattr(ExtractiveEngine, "read", counting_read)
    book = samples / f"{LEDGER}.epub"
    first = ask_json(book, "Who was the Collector of Customs at Carrick Wells?")
    second = ask_json(book, "How many days did the long fog of 1889 last?")
    assert (first["cache"]["hit"], second["cache"]["hit"]) == (False, True)
    assert len(loads) == 1 and len(reads) == 1
    assert in_citations("nineteen", second)


def test_changing_the_file_invalidates_the_cache(samples: Path, tmp_path: Path) -> None:
    book = tmp_path / "notes.txt"
    book.write_bytes((samples / "harbour-notes.txt").read_bytes())
    question = "What is the name of the pilot cutter?"
    assert ask_json(book, question)["cache"]["hit"] is False
    assert ask_json(book, question)["cache"]["hit"] is True
    original = book.read_text(encoding="utf-8")
    book.write_text(original.replace("Good Intent", "Morning Star"), encoding="utf-8")
    doc = ask_json(book, question)
    assert doc["cache"]["hit"] is False
    assert in_citations("Morning Star", doc) and not in_citations("Good Intent", doc)


# -- errors --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "error",
    [
        errors.UnsupportedFormat,
        errors.CorruptBook,
        errors.EncryptedBook,
        errors.DRMProtected,
        errors.NoTextLayer,
        errors.EmptyBook,
        errors.ModelUnavailable,
        errors.BookreaderError,
    ],
)
def test_each_error_class_gives_one_line_and_its_exit_code(
    samples: Path, monkeypatch: pytest.MonkeyPatch, error: type[errors.BookreaderError]
) -> None:
    def failing_load(path: Path):  # type: ignore[no-untyped-def]
        raise error(f"{path.name}: the {error.__name__} message")

    monkeypatch.setattr(registry, "load_book", failing_load)
    result = runner.invoke(app, ["ask", str(samples / "harbour-notes.txt"), "Who?"])
    assert result.exit_code == error.exit_code
    assert result.stderr == f"bookreader: error: harbour-notes.txt: the {error.__name__} message\n"
    assert result.stdout == ""


def test_real_unreadable_files_exit_4(tmp_path: Path) -> None:
    cases = {
        "broken.epub": b"this is not a zip archive",
        "broken.pdf": b"%PDF-1.4\n%%garbage with no objects",
        "empty.txt": b"   \n\n  ",
        "notes.docx": b"PK\x03\x04 not really a document",
    }
    for name, data in cases.items():
        path = tmp_path / name
        path.write_bytes(data)
        result = runner.invoke(app, ["ask", str(path), "What happens?"])
        assert result.exit_code == 4, (name, result.stderr)
        assert result.stderr.count("\n") == 1 and name in result.stderr


def test_usage_errors_exit_2(samples: Path, tmp_path: Path) -> None:
    missing = runner.invoke(app, ["ask", str(tmp_path / "nope.epub"), "Who?"])
    assert missing.exit_code == 2 and missing.stderr.endswith("nope.epub: no such file\n")
    empty = runner.invoke(app, ["ask", str(samples / "harbour-notes.txt"), "  "])
    assert empty.exit_code == 2 and empty.stderr == "bookreader: error: the question is empty\n"
