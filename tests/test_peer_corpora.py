"""The loading contract on every file of the peer test corpora (../shared/peer: IDPF EPUB 3
samples, W3C EPUB conformance tests, py-pdf sample PDFs), each checked against an independent
reference extraction (tests/peer_reference.py):

- nothing but the project's own errors, and no load over 60 s;
- no control characters and no binary decoded as text, in text or titles;
- letters and digits of chapters plus front matter (PDF: and titles, where printed headings
  go) within 10% of the reference's, for every book whose reference has at least 500 of them;
- PDF: the book's word 8-gram shingles and poppler's agree to 90% both ways (what the
  reference has is in the book, and what the book has is in the reference), except where
  SHINGLES_UNFIT says why the reference cannot judge;
- no two chapters with the same body;
- refused (exit code 4) only when the reference has fewer than 200 words;
- EPUB with a nav: the chapters follow its chapter level (the top level, descended while it
  holds one entry): nearly every entry names a chapter or front-matter section, and no
  chapter is named by a deeper entry.

Skips cleanly where ../shared/peer is absent (a fresh clone); the PDF checks need poppler's
pdftotext (`.ci/run` installs poppler-utils).
"""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from peer_reference import (
    epub_reference,
    letters,
    pdf_reference,
    pdftotext,
    shingles,
)

from bookreader.book import Book, count_words
from bookreader.errors import BookreaderError, UnreadableBook
from bookreader.loaders import load

PEER = Path(__file__).resolve().parents[2] / "shared" / "peer"
FILES = sorted(p for p in PEER.rglob("*") if p.suffix in (".epub", ".pdf")) if PEER.is_dir() else []
MAX_SECONDS = 60
LETTER_TOLERANCE = 0.10
MIN_LETTERS = 500
MIN_WORDS_TO_LOAD = 200
MIN_SHINGLE_AGREEMENT = 0.90
MIN_TOC_FOLLOWED = 0.90

# Files where the reference cannot judge the shingle check, and why (file name -> reason).
SHINGLES_UNFIT: dict[str, str] = {
    "009-GeoTopo-komprimiert.pdf": (
        "a formula-dense lecture script: poppler and PDFium order the pieces of formulas "
        "(sub- and superscripts, big operators, aligned environments) differently, so raw "
        "PDFium text, before any loader step, shares only 70% of poppler's 8-gram shingles; "
        "its letters and digits are still checked (within 10%)"
    ),
}


def _control_free(text: str) -> bool:
    return not any((ord(ch) < 32 and ch not in "\n\t") or 0x7F <= ord(ch) < 0xA0 for ch in text)


def _looks_decoded_binary(text: str) -> bool:
    """Image or archive bytes decoded as text leave markers and replacement characters."""
    markers = ("JFIF", "IHDR", "Exif\x00", "\x89PNG")
    replacement = text.count("\ufffd")
    return any(m in text for m in markers) or replacement > max(3, len(text) // 1000)


def _all_text(book: Book) -> str:
    return "\n".join(c.text for c in [*book.front_matter, *book.chapters])


def _titled_text(book: Book) -> str:
    """Titles with their text: a PDF chapter's printed heading becomes its title."""
    return "\n".join(f"{c.title}\n{c.text}" for c in [*book.front_matter, *book.chapters])


@pytest.mark.skipif(not FILES, reason=f"peer corpora not found at {PEER}")
def test_peer_corpora_are_all_here() -> None:
    assert len(FILES) >= 257


@pytest.mark.parametrize("path", FILES, ids=lambda p: f"{p.parent.name}/{p.name}")
def test_loading_contract(path: Path) -> None:
    if path.suffix == ".pdf" and pdftotext() is None:
        pytest.skip("poppler's pdftotext is not installed")
    started = time.monotonic()
    try:
        book: Book | None = load(path)
        error: BookreaderError | None = None
    except BookreaderError as raised:  # anything else fails the test with its traceback
        book, error = None, raised
    assert time.monotonic() - started < MAX_SECONDS
    if path.suffix == ".epub":
        _check_epub(path, book, error)
    else:
        _check_pdf(path, book, error)


def _check_common(book: Book) -> None:
    texts = [c.text for c in book.chapters]
    assert len(set(texts)) == len(texts), "two chapters have the same body"
    for chapter in [*book.chapters, *book.front_matter]:
        assert _control_free(chapter.text) and _control_free(chapter.title)
        assert not _looks_decoded_binary(chapter.text)
    assert all(t.strip() for t in texts)


def _check_refusal(path: Path, error: BookreaderError | None, reference_words: int) -> None:
    assert error is None or isinstance(error, UnreadableBook)
    if error is not None:
        assert reference_words < MIN_WORDS_TO_LOAD, f"refused with {reference_words} words: {error}"


def _check_epub(path: Path, book: Book | None, error: BookreaderError | None) -> None:
    reference = epub_reference(path)
    _check_refusal(path, error, count_words(reference.text))
    if book is None:
        return
    _check_common(book)
    _check_letters(_all_text(book), reference.text)
    if any("table of contents does not match" in w for w in book.warnings):
        # Giving up on the nav is for navs whose links mostly lead nowhere readable.
        assert len(reference.toc_titles) < 0.5 * reference.toc_entries
    elif reference.toc_titles:
        _check_toc(book, reference.toc_titles)


def _check_letters(text: str, reference: str) -> None:
    expected = letters(reference)
    if expected >= MIN_LETTERS:
        got = letters(text)
        assert abs(got - expected) <= LETTER_TOLERANCE * expected, (got, expected)


def _check_toc(book: Book, toc_titles: list[str]) -> None:
    """Nearly every entry of the chapter level names a chapter or a front-matter section; from
    the first chapter the nav names on, every chapter is named by that level (none by a
    deeper entry, none by a heading of its own)."""
    named = {c.title for c in [*book.chapters, *book.front_matter]}
    followed = sum(1 for title in toc_titles if title in named)
    assert followed >= MIN_TOC_FOLLOWED * len(toc_titles), (followed, toc_titles)
    level = set(toc_titles)
    titles = [c.title for c in book.chapters]
    first = next((k for k, title in enumerate(titles) if title in level), len(titles))
    strays = [title for title in titles[first:] if title not in level]
    assert not strays, f"chapters the nav's chapter level does not name: {strays[:5]}"


def _check_pdf(path: Path, book: Book | None, error: BookreaderError | None) -> None:
    reference = pdf_reference(path)
    if reference is None:  # poppler cannot open it either (a user password)
        assert error is not None and isinstance(error, UnreadableBook)
        return
    _check_refusal(path, error, count_words(reference))
    if book is None:
        return
    _check_common(book)
    _check_letters(_titled_text(book), reference)
    ours, theirs = shingles(_titled_text(book)), shingles(reference)
    if len(theirs) >= MIN_WORDS_TO_LOAD and path.name not in SHINGLES_UNFIT:
        found = len(ours & theirs)
        assert found >= MIN_SHINGLE_AGREEMENT * len(theirs), ("missing", found, len(theirs))
        assert found >= MIN_SHINGLE_AGREEMENT * len(ours), ("extra", found, len(ours))
