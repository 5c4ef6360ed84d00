"""One book, three containers: the project's sample book built as EPUB, PDF (with outline,
running headers and page numbers) and TXT must load to the same chapters and word counts."""

from __future__ import annotations

from pathlib import Path

import pytest

from bookreader.loaders import load

STEM = "the-lighthouse-keepers-ledger"


@pytest.fixture(scope="module")
def sample_books(samples: Path) -> dict[str, object]:
    paths = {fmt: samples / f"{STEM}.{fmt}" for fmt in ("epub", "pdf", "txt")}
    missing = [p.name for p in paths.values() if not p.exists()]
    # Committed samples (samples/build.py makes them): missing means a broken checkout.
    assert not missing, f"committed samples missing: {', '.join(missing)}"
    return {fmt: load(path) for fmt, path in paths.items()}


def test_same_chapters_in_every_format(sample_books: dict) -> None:
    titles = {fmt: [c.title for c in book.chapters] for fmt, book in sample_books.items()}
    assert titles["epub"] == titles["pdf"] == titles["txt"]
    assert len(titles["txt"]) >= 6


def test_same_words_in_every_format(sample_books: dict) -> None:
    # Header/footer removal and dehyphenation in the PDF must neither lose nor invent words.
    counts = {fmt: [c.word_count for c in book.chapters] for fmt, book in sample_books.items()}
    assert counts["epub"] == counts["pdf"] == counts["txt"]


def test_same_metadata_and_pdf_page_spans(sample_books: dict) -> None:
    epub, pdf, txt = sample_books["epub"], sample_books["pdf"], sample_books["txt"]
    assert epub.title == pdf.title == txt.title
    assert epub.author == pdf.author == txt.author
    spans = [c.page_span for c in pdf.chapters]
    assert all(spans) and all(int(a) <= int(b) for a, b in spans)
    assert all(int(spans[k][1]) < int(spans[k + 1][0]) for k in range(len(spans) - 1))
