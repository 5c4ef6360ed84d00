"""Dispatch on content, and bad input of every kind: each failure is an `UnreadableBook`
subclass with a one-line message naming the file. Property tests mutate and truncate real
EPUB and PDF bytes (small generated books, plus the corpus when present)."""

from __future__ import annotations

import hashlib
import random
import zipfile
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from loader_books import body_lines, make_pdf, simple_epub

from bookreader.book import Book
from bookreader.errors import (
    CorruptBook,
    EmptyBook,
    UnreadableBook,
    UnsupportedFormat,
)
from bookreader.loaders import detect_format, load

NOISE = random.Random(2).randbytes(4096)  # fixed bytes: test ids must match across workers
CHAPTER_TEXT = "CHAPTER I.\n\n" + "The keeper wrote in the ledger every night. " * 20 + "\n"


def test_content_decides_not_the_name(tmp_path: Path) -> None:
    pdf = make_pdf(tmp_path / "x.pdf", [body_lines("Pdf")]).read_bytes()
    renamed = tmp_path / "actually-a-pdf.txt"
    renamed.write_bytes(pdf)
    assert load(renamed).format == "pdf"
    epub_bytes = simple_epub(tmp_path / "x.epub").read_bytes()
    odd = tmp_path / "book.bin"
    odd.write_bytes(epub_bytes)
    assert load(odd).format == "epub"
    notes = tmp_path / "notes.md"
    notes.write_text(CHAPTER_TEXT, encoding="utf-8")
    assert detect_format(notes.read_bytes(), notes) == "md"


def test_sha256_is_of_the_file_bytes(tmp_path: Path) -> None:
    path = tmp_path / "b.txt"
    path.write_text(CHAPTER_TEXT, encoding="utf-8")
    assert load(path).sha256 == hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.mark.parametrize(
    ("name", "content", "error", "phrase"),
    [
        ("random.epub", NOISE, CorruptBook, "not an EPUB"),
        ("random.pdf", NOISE, CorruptBook, "not a PDF"),
        ("random.txt", bytes(range(256)) * 16, UnsupportedFormat, "binary data"),
        ("empty.epub", b"", EmptyBook, "empty"),
        ("empty.txt", b"   \n", EmptyBook, "empty"),
        ("letter.docx", b"PK\x03\x04" + b"\x00" * 100, UnsupportedFormat, "not an EPUB"),
        ("photo.jpg", b"\xff\xd8\xff\xe0" + NOISE[:500], UnsupportedFormat, "not supported"),
        ("broken.pdf", b"%PDF-1.7\n" + NOISE[:2000], CorruptBook, "broken.pdf"),
        ("broken.epub", b"PK\x03\x04" + NOISE[:2000], CorruptBook, "broken.epub"),
    ],
    ids=lambda value: value if isinstance(value, str) else getattr(value, "__name__", "bytes"),
)
def test_bad_files_raise_one_line_typed_errors(
    tmp_path: Path, name: str, content: bytes, error: type[Exception], phrase: str
) -> None:
    path = tmp_path / name
    path.write_bytes(content)
    with pytest.raises(error) as caught:
        load(path)
    message = str(caught.value)
    assert "\n" not in message and name in message and phrase in message


def test_missing_file_and_directory(tmp_path: Path) -> None:
    with pytest.raises(UnreadableBook, match="no such file"):
        load(tmp_path / "nowhere.epub")
    with pytest.raises(UnreadableBook, match="is a directory"):
        load(tmp_path)


def test_epub_without_any_text_is_empty(tmp_path: Path) -> None:
    path = tmp_path / "blank.epub"
    simple_epub(path)
    blank_doc = '<html xmlns="http://www.w3.org/1999/xhtml"><body><p> </p></body></html>'
    with (
        zipfile.ZipFile(simple_epub(tmp_path / "src.epub")) as src,
        zipfile.ZipFile(path, "w") as dst,
    ):
        for info in src.infolist():
            data = src.read(info.filename)
            if info.filename.startswith("OEBPS/ch"):
                data = blank_doc.encode()
            dst.writestr(info, data)
    with pytest.raises(EmptyBook, match=r"blank\.epub"):
        load(path)


# --- property tests ------------------------------------------------------------------------


@st.composite
def mutations(draw: st.DrawFn, size: int) -> list[tuple[str, int, int]]:
    """A few edits: truncate at n, overwrite byte i with b, or zero a run of bytes."""
    kinds = st.sampled_from(["truncate", "flip", "zero"])
    edits = []
    for _ in range(draw(st.integers(1, 4))):
        kind = draw(kinds)
        at = draw(st.integers(0, max(size - 1, 0)))
        edits.append((kind, at, draw(st.integers(0, 255))))
    return edits


def mutate(data: bytes, edits: list[tuple[str, int, int]]) -> bytes:
    buffer = bytearray(data)
    for kind, at, value in edits:
        at = min(at, max(len(buffer) - 1, 0))
        if kind == "truncate":
            del buffer[at:]
        elif kind == "flip" and buffer:
            buffer[at] = value
        elif kind == "zero":
            buffer[at : at + value] = bytes(len(buffer[at : at + value]))
    return bytes(buffer)


def loads_or_refuses(path: Path) -> None:
    """The property: a Book, or one of the project's own errors, never anything else."""
    try:
        book = load(path)
    except UnreadableBook as error:
        assert "\n" not in str(error)
    else:
        assert isinstance(book, Book) and book.chapters


@pytest.fixture(scope="module")
def small_books(tmp_path_factory: pytest.TempPathFactory) -> dict[str, bytes]:
    folder = tmp_path_factory.mktemp("small")
    return {
        "epub": simple_epub(folder / "s.epub").read_bytes(),
        "pdf": make_pdf(
            folder / "s.pdf",
            [body_lines(f"P{k}", 3) for k in range(3)],
            outline=[("A", 0), ("B", 2)],
        ).read_bytes(),
    }


FUZZ = settings(
    max_examples=60, deadline=None, suppress_health_check=list(HealthCheck), database=None
)


@pytest.mark.parametrize("kind", ["epub", "pdf"])
@FUZZ
@given(data=st.data())
def test_mutated_small_books_raise_only_project_errors(
    kind: str,
    small_books: dict[str, bytes],
    tmp_path_factory: pytest.TempPathFactory,
    data: st.DataObject,
) -> None:
    original = small_books[kind]
    edits = data.draw(mutations(len(original)))
    path = tmp_path_factory.getbasetemp() / f"fuzz.{kind}"
    path.write_bytes(mutate(original, edits))
    loads_or_refuses(path)


CORPUS_SAMPLES = {
    "epub": ["epub/ebooklib_test01.epub", "epub/gutenberg_pg11-images_alice.epub"],
    "pdf": ["pdf/arxiv_2404.07143_infini-attention.pdf"],
}


@pytest.mark.parametrize("kind", ["epub", "pdf"])
@settings(max_examples=12, deadline=None, suppress_health_check=list(HealthCheck), database=None)
@given(data=st.data())
def test_mutated_corpus_books_raise_only_project_errors(
    kind: str, corpus: Path, tmp_path_factory: pytest.TempPathFactory, data: st.DataObject
) -> None:
    source = corpus / data.draw(st.sampled_from(CORPUS_SAMPLES[kind]))
    original = source.read_bytes()
    edits = data.draw(mutations(len(original)))
    path = tmp_path_factory.getbasetemp() / f"corpus-fuzz{source.suffix}"
    path.write_bytes(mutate(original, edits))
    loads_or_refuses(path)


def test_text_that_mentions_a_pdf_header_stays_text(tmp_path: Path) -> None:
    path = tmp_path / "notes.txt"
    path.write_text("A PDF file starts with %PDF-1.7 and a binary comment.\n\n" + CHAPTER_TEXT)
    assert load(path).format == "txt"
    junk_first = tmp_path / "junk.pdf"
    junk_first.write_bytes(
        b"garbage before the header\n"
        + make_pdf(tmp_path / "y.pdf", [body_lines("J")]).read_bytes()
    )
    assert load(junk_first).format == "pdf"
