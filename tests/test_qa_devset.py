"""The question set of benchmarks/qa is what issue-level claims rest on: it must keep its size
and its splits, and every evidence quote must really be in its book (else a question could never
count as answered, or would count for the wrong passage)."""

from __future__ import annotations

import json
from collections import Counter
from functools import cache
from pathlib import Path

import pytest

from bookreader.book import Book
from bookreader.loaders import load

DEV = Path(__file__).resolve().parents[1] / "benchmarks" / "qa"


def rows(name: str) -> list[dict]:
    return [json.loads(line) for line in (DEV / name).open(encoding="utf-8")]


def normalise(text: str) -> str:
    """As benchmarks/qa.py compares: lowercase, one kind of quote mark, single spaces."""
    for mark in '“”"’‘':
        text = text.replace(mark, "'")
    return " ".join(text.lower().split())


def test_the_set_keeps_its_size_books_kinds_and_splits() -> None:
    answerable, declines = rows("dev.jsonl"), rows("decline.jsonl")
    assert len(answerable) >= 80 and len(declines) >= 25
    assert len({q["book"] for q in answerable}) >= 8
    assert {q["kind"] for q in answerable} == {"factoid", "cross"}
    assert {q["kind"] for q in declines} == {"off-topic", "false-premise"}
    for questions in (answerable, declines):
        splits = Counter(q["split"] for q in questions)
        assert set(splits) == {"tune", "test"}
        assert min(splits.values()) >= len(questions) // 3  # neither half is a token one
    assert all(q["evidence"] and all(e.strip() for e in q["evidence"]) for q in answerable)
    questions = [q["question"] for q in answerable + declines]
    assert len(set(questions)) == len(questions)


@cache
def book_text(path: Path) -> str:
    book: Book = load(path)
    return normalise(book.text)


def test_every_evidence_quote_is_in_its_book(corpus: Path) -> None:
    missing = [
        (q["book"], e)
        for q in rows("dev.jsonl")
        for e in q["evidence"]
        if normalise(e) not in book_text(corpus / q["book"])
    ]
    assert not missing


@pytest.mark.parametrize("name", ["dev.jsonl", "decline.jsonl"])
def test_every_book_named_exists_in_the_corpus(corpus: Path, name: str) -> None:
    assert all((corpus / q["book"]).is_file() for q in rows(name))
