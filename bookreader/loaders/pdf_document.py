"""A PDF as PDFium (pypdfium2) reads it: opening (empty-password decryption), printed page
labels, each page's text, the outline, the title, author and language.

PDFium extracts text 14-24x faster than pypdf and keeps the spaces between words that pypdf
loses on some fonts. Each page's text is extracted once and only its text is kept: the page is
closed at once, so memory grows with the book's text, not with its page objects. Its text is
normalised here: CRLF to newlines, PDFium's end-of-line hyphen mark to a hyphen and a line
break, NFKC (ligatures such as "ﬁ"), no control characters.
"""

from __future__ import annotations

import ctypes
import re
from dataclasses import dataclass
from pathlib import Path

import pypdfium2 as pdfium
import pypdfium2.raw as pdfium_c

from bookreader.errors import CorruptBook, EncryptedBook
from bookreader.loaders.cleanup import clean_inline, nfkc, remove_controls

_JUNK_TITLES = re.compile(r"^(untitled|microsoft word|.*\.(?:tex|dvi|docx?|pdf))", re.IGNORECASE)


@dataclass
class PageText:
    number: int  # 1-based physical page
    label: str
    text: str  # one string per page: far fewer objects than a list of lines

    @property
    def lines(self) -> list[str]:
        return self.text.split("\n")


def open_document(data: bytes, name: str) -> pdfium.PdfDocument:
    """PDFium opens the file; an owner-password-only file opens with the empty password."""
    try:
        return pdfium.PdfDocument(data, password="")
    except pdfium.PdfiumError as error:
        if getattr(error, "err_code", None) == pdfium_c.FPDF_ERR_PASSWORD:
            raise EncryptedBook(f"{name}: the PDF is password-protected") from None
        if getattr(error, "err_code", None) == pdfium_c.FPDF_ERR_SECURITY:
            raise EncryptedBook(f"{name}: the PDF uses an unsupported encryption") from None
        found = re.search(r"\((.*)\)", str(error))
        detail = found.group(1) if found else str(error)
        raise CorruptBook(f"{name}: damaged or truncated PDF ({detail})") from None


def page_labels(document: pdfium.PdfDocument, count: int) -> list[str]:
    """Printed page labels ("iv", "12"), physical numbers where the PDF defines none."""
    labels = []
    for index in range(count):
        try:
            label = clean_inline(document.get_page_label(index) or "")
        except pdfium.PdfiumError:
            label = ""
        labels.append(label or str(index + 1))
    return labels


def page_text(raw: str) -> str:
    """PDFium's page text as lines: CRLF to newlines, its end-of-line hyphen mark (U+FFFE) to
    a hyphen and a line break (the dehyphenator decides later), NFKC, no control characters."""
    text = raw.replace("\r\n", "\n").replace("\r", "\n").replace("\ufffe", "-\n")
    return remove_controls(nfkc(text).replace("\u00ad", ""))


def extract_pages(
    document: pdfium.PdfDocument, count: int, labels: list[str]
) -> tuple[list[PageText], list[int]]:
    """Text of every page (extracted once, each page closed at once), and the pages that had
    none."""
    pages: list[PageText] = []
    empty: list[int] = []
    for index in range(count):
        try:
            page = document[index]
            textpage = page.get_textpage()
            raw = textpage.get_text_range()
            textpage.close()
            page.close()
        except pdfium.PdfiumError:
            raw = ""
        text = page_text(raw)
        if not text.strip():
            empty.append(index + 1)
        pages.append(PageText(index + 1, labels[index], text))
    return pages, empty


def _flat_outline(document: pdfium.PdfDocument) -> list[tuple[int, str, int | None, bool]]:
    """(depth, title, 0-based page, has children) of every outline entry, in order."""
    flat = []
    for bookmark in document.get_toc(max_depth=4):
        destination = bookmark.get_dest()
        page = destination.get_index() if destination is not None else None
        title = nfkc(clean_inline(bookmark.get_title() or ""))
        flat.append((bookmark.level, title, page, bookmark.get_count() != 0))
    return flat


def outline_starts(document: pdfium.PdfDocument) -> list[tuple[int, str]]:
    """(0-based page, title) of the outline level that makes chapters: the top level, or,
    while a level holds fewer than 3 entries (a book title, two parts), the level below it
    (with the shallower entries that have no children)."""
    try:
        flat = _flat_outline(document)
    except Exception:  # a damaged outline is no reason to refuse the book
        return []
    level: list[tuple[int, str, int | None, bool]] = []
    for chosen in range(3):
        level = [e for e in flat if e[0] == chosen or (e[0] < chosen and not e[3])]
        if len(level) >= 3 or not any(e[0] > chosen for e in flat):
            break
    starts = [(page, title) for _, title, page, _ in level if page is not None and page >= 0]
    starts = [(page, title) for page, title in starts if title]
    starts.sort(key=lambda s: s[0])
    return starts


def document_title(
    document: pdfium.PdfDocument, pages: list[PageText], path: Path
) -> tuple[str, str | None]:
    try:
        meta = document.get_metadata_dict(skip_empty=True)
    except Exception:  # a broken /Info dictionary
        meta = {}
    title = clean_inline(remove_controls(meta.get("Title", "")))
    author = clean_inline(remove_controls(meta.get("Author", ""))) or None
    if not title or _JUNK_TITLES.match(title):
        first_lines = [
            line.strip() for page in pages[:1] for line in page.lines if len(line.strip()) > 3
        ]
        candidates = [
            line for line in first_lines[:6] if not line.lower().startswith(("preprint", "arxiv"))
        ]
        title = candidates[0] if candidates and len(candidates[0]) < 150 else path.stem
        if title.endswith((":", "-", "–", "—")) and len(candidates) > 1:
            title = f"{title} {candidates[1]}"  # "Leave No Context Behind:" / "Efficient ..."
    return clean_inline(title), author


def document_language(document: pdfium.PdfDocument) -> str | None:
    """The document catalog's /Lang (e.g. "en-US"), when the producer set one."""
    try:
        size = pdfium_c.FPDFCatalog_GetLanguage(document.raw, None, 0)  # bytes, UTF-16LE + NUL
        if size <= 2:
            return None
        buffer = (ctypes.c_ushort * (size // 2))()
        pdfium_c.FPDFCatalog_GetLanguage(document.raw, buffer, size)
        value = bytes(buffer).decode("utf-16-le", "replace")
    except Exception:  # a damaged catalog: the language is simply unknown
        return None
    text = clean_inline(remove_controls(value))
    return text[:35] or None
