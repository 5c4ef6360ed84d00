"""`load(path) -> Book`: PDF, EPUB, plain text and Markdown, chosen by the file's content.

The first bytes decide: `%PDF-` is a PDF, a zip archive is an EPUB, anything else is read as
text (Markdown when the name ends in .md). A name that promises a PDF or EPUB whose bytes are
something else is refused. Every failure is an `UnreadableBook` subclass with a one-line
message naming the file.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable
from pathlib import Path

from bookreader.book import Book
from bookreader.errors import (
    BookreaderError,
    CorruptBook,
    EmptyBook,
    UnreadableBook,
    UnsupportedFormat,
)

__all__ = ["LOADER_VERSION", "detect_format", "load"]

# Part of every cache key: bump it when a loader change alters the text or chapters of any
# book, so that states read from the old text are not reused.
LOADER_VERSION = 3  # 3: a word of roman letters at a page edge is text

_HAS_WORD = re.compile(r"\w")
_ZIP_MAGIC = (b"PK\x03\x04", b"PK\x05\x06")
_TEXT_SUFFIXES = frozenset({".txt", ".md", ".markdown", ".text"})
_BINARY_SUFFIXES = frozenset(
    [
        ".docx",
        ".doc",
        ".odt",
        ".rtf",
        ".mobi",
        ".azw",
        ".azw3",
        ".djvu",
        ".cbz",
        ".cbr",
        ".zip",
        ".gz",
        ".png",
        ".jpg",
        ".jpeg",
        ".gif",
    ]
)


def detect_format(data: bytes, path: Path) -> str:
    """ "pdf", "epub", "md" or "txt" from the content; raises when content and name disagree."""
    name = path.name
    suffix = path.suffix.lower()
    # PDF allows junk before the header within the first KiB; a text file that merely
    # mentions "%PDF-" early on must stay text.
    if data.lstrip()[:5] == b"%PDF-" or (b"%PDF-" in data[:1024] and suffix not in _TEXT_SUFFIXES):
        return "pdf"
    if data.startswith(_ZIP_MAGIC):
        if (
            suffix in (".epub", "")
            or b"mimetypeapplication/epub+zip" in data[:100]
            or b"META-INF/" in data
        ):
            return "epub"
        raise UnsupportedFormat(f"{name}: a zip archive that is not an EPUB")
    if suffix == ".pdf":
        raise CorruptBook(f"{name}: not a PDF (no %PDF header)")
    if suffix == ".epub":
        raise CorruptBook(f"{name}: not an EPUB (not a zip archive)")
    if suffix in _BINARY_SUFFIXES:
        raise UnsupportedFormat(f"{name}: {suffix} files are not supported (PDF, EPUB, TXT, MD)")
    return "md" if suffix in (".md", ".markdown") else "txt"


def _loader(fmt: str) -> Callable[[Path, bytes, str], Book]:
    if fmt == "pdf":
        from bookreader.loaders.pdf import load_pdf

        return load_pdf
    if fmt == "epub":
        from bookreader.loaders.epub import load_epub

        return load_epub
    from bookreader.loaders.text import load_text

    return load_text


def _read(path: Path) -> bytes:
    if not path.exists():
        raise UnreadableBook(f"{path}: no such file")
    if path.is_dir():
        raise UnreadableBook(f"{path}: is a directory, not a book file")
    try:
        return path.read_bytes()
    except OSError as error:
        raise UnreadableBook(f"{path}: cannot read ({error.strerror or error})") from None


def load(path: str | Path) -> Book:
    """Read a book file into chapters in reading order (see the loader modules for details)."""
    path = Path(path)
    data = _read(path)
    if not data.strip():
        raise EmptyBook(f"{path.name}: the file is empty")
    fmt = detect_format(data, path)
    sha256 = hashlib.sha256(data).hexdigest()
    try:
        book = _loader(fmt)(path, data, sha256)
    except BookreaderError:
        raise
    except (MemoryError, KeyboardInterrupt):
        raise
    except Exception as error:  # a damaged file can break a parser anywhere
        detail = " ".join(str(error).split())[:120]
        raise CorruptBook(
            f"{path.name}: damaged {fmt.upper()} file ({type(error).__name__}: {detail})"
        ) from None
    if not any(_HAS_WORD.search(chapter.text) for chapter in book.chapters):
        raise EmptyBook(f"{path.name}: no readable text")
    return book
