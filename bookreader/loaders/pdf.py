"""PDF books, read page by page with PDFium (pypdfium2): 14-24x faster than pypdf's text
extraction, and it keeps the spaces between words that pypdf loses on some fonts. PDFium also
gives the page labels, the outline, the metadata and the catalog's language.

Each page's text is extracted once and only its text is kept: the page is closed right away,
so memory grows with the book's text, not with its page objects. Then, over the whole book:
NFKC (ligatures such as "ﬁ"), no control characters, removal of running headers, footers and
page numbers (never a page's last lines), conservative dehyphenation ("exam-\\nple" ->
"example" only if "example" occurs elsewhere).

Chapters: the outline's top level (one level down when the top holds a single entry), else
numbered or named headings found in the text ("1 Introduction", "References"), else fixed
ranges of `PAGES_PER_CHUNK` pages. Every chapter carries `PageMark`s with the printed page
labels. Encrypted files are tried with the empty password. A file with no text on any page,
or with a text layer too thin to be a book (see `_check_text_layer`), raises NoTextLayer;
pages without text are named in a warning.
"""

from __future__ import annotations

import ctypes
import re
from dataclasses import dataclass, replace
from pathlib import Path

import pypdfium2 as pdfium
import pypdfium2.raw as pdfium_c

from bookreader.book import PARAGRAPH_BREAK, Book, Chapter, PageMark, count_words
from bookreader.errors import CorruptBook, EncryptedBook, NoTextLayer
from bookreader.loaders.cleanup import (
    clean_inline,
    dehyphenate,
    edge_lines,
    nfkc,
    page_tokens,
    remove_controls,
    running_keys,
    strip_running,
    vocabulary_of,
)
from bookreader.loaders.headings import find_sections

PAGES_PER_CHUNK = 10
THIN_WORDS_PER_PAGE = 20  # below this on average, and
TEXTLESS_WORDS = 5  # most pages below this: too thin to be a book (see _check_text_layer)
_SUBSECTION = re.compile(r"^\d{1,2}(?:\.\d{1,2}){1,3}\.?\s+[A-Z][^.!?]{0,80}$")
_SENTENCE_END = re.compile(r"[.!?:;\"”’)\]]$")
_JUNK_TITLES = re.compile(r"^(untitled|microsoft word|.*\.(?:tex|dvi|docx?|pdf))", re.IGNORECASE)


@dataclass
class PageText:
    number: int  # 1-based physical page
    label: str
    text: str  # one string per page: far fewer objects than a list of lines

    @property
    def lines(self) -> list[str]:
        return self.text.split("\n")


def _open(data: bytes, name: str) -> pdfium.PdfDocument:
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


def _labels(document: pdfium.PdfDocument, count: int) -> list[str]:
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


def _extract_pages(
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


def _outline_starts(document: pdfium.PdfDocument) -> list[tuple[int, str]]:
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


def _paragraphs(lines: list[str]) -> list[str]:
    """Lines of one page -> paragraphs. A blank line, or a short line that ends a sentence,
    closes a paragraph (pypdf gives no blank lines between most paragraphs)."""
    widths = sorted(len(line.strip()) for line in lines if len(line.strip()) > 20)
    typical = widths[len(widths) // 2] if widths else 60
    paragraphs: list[str] = []
    current: list[str] = []
    for line in lines:
        stripped = line.strip()
        if not stripped:
            if current:
                paragraphs.append(" ".join(current))
                current = []
            continue
        if _SUBSECTION.match(stripped) and len(stripped) < 0.85 * typical:
            # "2.1 Overview": a numbered heading stands alone, whatever surrounds it.
            paragraphs.extend([" ".join(current), stripped] if current else [stripped])
            current = []
            continue
        current.append(stripped)
        if _SENTENCE_END.search(stripped) and len(stripped) < 0.85 * typical:
            paragraphs.append(" ".join(current))
            current = []
    if current:
        paragraphs.append(" ".join(current))
    return [clean_inline(p) for p in paragraphs if p.strip()]


@dataclass(frozen=True)
class _Start:
    page: int  # 0-based
    line: int  # line within the page where the chapter begins
    title: str
    heading_lines: int = 0  # lines from `line` on that print the title (not chapter text)


def _norm(text: str) -> str:
    return re.sub(r"\W+", "", text.lower())


def _find_title(lines: list[str], title: str) -> tuple[int, int]:
    """(line, line count) where an outline title is printed on its page, following it over a
    wrap onto a second or third line; (0, 0) when it is not found."""
    wanted = _norm(title)
    if not wanted:
        return 0, 0
    for k, line in enumerate(lines):
        have = _norm(line)
        if not have or not (
            have.startswith(wanted[:30]) or (len(have) >= 8 and wanted.startswith(have))
        ):
            continue
        count = 1
        while len(have) < len(wanted) and k + count < len(lines) and count < 3:
            longer = have + _norm(lines[k + count])
            if not wanted.startswith(longer):
                break
            have, count = longer, count + 1
        return k, count
    return 0, 0


def _starts_from_outline(pages: list[PageText], outline: list[tuple[int, str]]) -> list[_Start]:
    starts = []
    for page, title in outline:
        if page < len(pages):
            line, count = _find_title(pages[page].lines, title)
            starts.append(_Start(page, line, title, count))
    return sorted(starts, key=lambda s: (s.page, s.line))  # two entries on one page


def _starts_from_headings(pages: list[PageText]) -> list[_Start]:
    where: list[tuple[int, int]] = []
    flat: list[str] = []
    for p, page in enumerate(pages):
        for k, line in enumerate(page.lines):
            where.append((p, k))
            flat.append(line)
    sections = find_sections(flat, strict_blank=False, pdf=True)
    return [_Start(*where[s.heading], s.title, s.body - s.heading) for s in sections]


def _starts_by_pages(pages: list[PageText]) -> list[_Start]:
    starts = []
    for first in range(0, len(pages), PAGES_PER_CHUNK):
        last = min(first + PAGES_PER_CHUNK, len(pages)) - 1
        starts.append(_Start(first, 0, f"Pages {pages[first].label}-{pages[last].label}"))
    return starts


def _continues(previous: str, following: str) -> bool:
    """A paragraph cut by a page break: no closing punctuation, the next page goes on in
    lower case (or the break fell inside a hyphenated word)."""
    return bool(previous) and (
        previous.endswith("-") or (not _SENTENCE_END.search(previous) and following[:1].islower())
    )


def _build_chapter(
    index: int, title: str, parts: list[tuple[PageText, list[str]]], front: bool
) -> Chapter:
    """Join the paragraphs of each page slice, remembering where each page's text starts
    (inside a paragraph when the page break cut one)."""
    text_parts: list[str] = []
    marks: list[PageMark] = []
    length = 0  # of PARAGRAPH_BREAK.join(text_parts)
    for page, lines in parts:
        paragraphs = _paragraphs(lines)
        if not paragraphs:
            continue
        if text_parts and _continues(text_parts[-1], paragraphs[0]):
            glue = "" if text_parts[-1].endswith("-") else " "
            marks.append(PageMark(length + len(glue), page.number, page.label))
            text_parts[-1] += glue + paragraphs[0]
            length += len(glue) + len(paragraphs[0])
            paragraphs = paragraphs[1:]
        else:
            offset = length + len(PARAGRAPH_BREAK) if text_parts else 0
            marks.append(PageMark(offset, page.number, page.label))
        for paragraph in paragraphs:
            length += (len(PARAGRAPH_BREAK) if text_parts else 0) + len(paragraph)
            text_parts.append(paragraph)
    first, last = (parts[0][0], parts[-1][0]) if parts else (None, None)
    source = f"pages {first.label}-{last.label}" if first and last else None
    return Chapter(
        index=index,
        title=title,
        text=PARAGRAPH_BREAK.join(text_parts),
        pages=tuple(marks),
        source=source,
        front_matter=front,
    )


def _slice(
    pages: list[PageText], start: _Start, end: _Start | None
) -> list[tuple[PageText, list[str]]]:
    """The lines from just after `start`'s heading up to `end`'s heading, page by page."""
    last_page = end.page if end else len(pages) - 1
    parts = []
    for p in range(start.page, last_page + 1):
        lines = pages[p].lines
        lo = start.line + start.heading_lines if p == start.page else 0
        hi = end.line if end and p == end.page else len(lines)
        if hi > lo:
            parts.append((pages[p], lines[lo:hi]))
    return parts


def _title(
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


def _strip_running_lines(pages: list[PageText]) -> int:
    """Running headers, footers and page numbers out of every page, one page's lines in
    memory at a time; returns how many lines went."""
    tokens = [page_tokens(page.number, page.label) for page in pages]
    running = running_keys(
        ((edge_lines(page.lines), t) for page, t in zip(pages, tokens, strict=True)), len(pages)
    )
    removed = 0
    for page, t in zip(pages, tokens, strict=True):
        kept, n = strip_running(page.lines, t, running)
        if n:
            page.text = "\n".join(kept)
            removed += n
    return removed


def _language(document: pdfium.PdfDocument) -> str | None:
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


def _check_text_layer(page_words: list[int], name: str) -> None:
    """Refuse a PDF whose text layer is too thin to be a book (`page_words`: each page's word
    count): fewer than THIN_WORDS_PER_PAGE words per page on average, with most pages (over
    half) holding fewer than TEXTLESS_WORDS words. A scan with a few stray words (URLs, page
    numbers) is that; a short memo or a slide deck, whose pages each carry some text, is not."""
    pages, total = len(page_words), sum(page_words)
    textless = sum(1 for n in page_words if n < TEXTLESS_WORDS)
    if total == 0:
        raise NoTextLayer(f"{name}: no text layer: this PDF needs OCR")
    if total < THIN_WORDS_PER_PAGE * pages and 2 * textless > pages:
        raise NoTextLayer(
            f"{name}: text layer too thin to be a book ({_count(total, 'word')} on "
            f"{_count(pages, 'page')}, {textless} with fewer than {TEXTLESS_WORDS} words): "
            "this PDF needs OCR"
        )


def _count(n: int, noun: str) -> str:
    return f"{n:,} {noun}" if n == 1 else f"{n:,} {noun}s"


def _pages_phrase(numbers: list[int]) -> str:
    shown = ", ".join(str(n) for n in numbers[:20]) + (" ..." if len(numbers) > 20 else "")
    return f"page {shown} has" if len(numbers) == 1 else f"pages {shown} have"


def load_pdf(path: Path, data: bytes, sha256: str) -> Book:
    name = path.name
    document = _open(data, name)
    try:
        count = len(document)
        if count == 0:
            raise CorruptBook(f"{name}: the PDF has no pages")
        labels = _labels(document, count)
        pages, empty = _extract_pages(document, count, labels)
        outline = _outline_starts(document)
        title, author = _title(document, pages, path)
        language = _language(document)
    finally:
        document.close()
    page_words = [count_words(page.text) for page in pages]
    _check_text_layer(page_words, name)
    warnings_out = []
    if empty:
        warnings_out.append(f"{_pages_phrase(empty)} no text layer")
    source_words = sum(page_words)
    removed = _strip_running_lines(pages)
    if removed:
        warnings_out.append(f"removed {removed} running header/footer and page-number lines")
    hyphenated = [page for page in pages if "-\n" in page.text]
    if hyphenated:  # most pages of most books have none: skip the vocabulary then
        vocabulary = vocabulary_of(page.text for page in pages)
        for page in hyphenated:
            page.text = dehyphenate(page.text, vocabulary)

    starts = _starts_from_outline(pages, outline)
    how = "outline"
    if len(starts) < 2:
        starts, how = _starts_from_headings(pages), "headings"
    if len(starts) < 2:
        starts, how = _starts_by_pages(pages), "pages"
        if len(pages) > PAGES_PER_CHUNK:
            warnings_out.append(
                f"no outline or headings: chapters are runs of {PAGES_PER_CHUNK} pages"
            )
    chapters, front = _assemble(pages, starts, how)
    return Book(
        path=path,
        title=title,
        author=author,
        language=language,
        format="pdf",
        chapters=chapters,
        sha256=sha256,
        front_matter=front,
        warnings=warnings_out,
        source_words=source_words,
        skipped={"running lines": removed} if removed else {},
    )


def _assemble(
    pages: list[PageText], starts: list[_Start], how: str
) -> tuple[list[Chapter], list[Chapter]]:
    """Chapters from `starts`; the pages before the first one are front matter, unless they
    outweigh the chapters (an outline that starts late): then they are the first chapter."""
    chapters: list[Chapter] = []
    for k, start in enumerate(starts):
        end = starts[k + 1] if k + 1 < len(starts) else None
        chapter = _build_chapter(len(chapters), start.title, _slice(pages, start, end), front=False)
        if chapter.text:
            chapters.append(chapter)
    first = starts[0]
    if how == "pages" or (first.page, first.line) == (0, 0):
        return chapters, []
    lead = _build_chapter(0, "Front matter", _slice(pages, _Start(0, 0, ""), first), front=True)
    if not lead.text:
        return chapters, []
    if lead.word_count <= sum(c.word_count for c in chapters):
        return chapters, [lead]
    span = lead.page_span or ("1", "1")
    title = f"Pages {span[0]}-{span[1]}" if span[0] != span[1] else f"Page {span[0]}"
    opening = replace(lead, title=title, front_matter=False)
    return [opening, *(replace(c, index=c.index + 1) for c in chapters)], []
