"""PDF books: the pages' text (from `pdf_document`, PDFium) made into chapters.

Over the whole book: removal of running headers, footers and page numbers (never a page's only
text), conservative dehyphenation ("exam-\\nple" -> "example" only if "example" occurs
elsewhere).

Chapters: the outline's top level (one level down when the top holds a single entry), else
numbered or named headings found in the text ("1 Introduction", "References"), else fixed
ranges of `PAGES_PER_CHUNK` pages. Every chapter carries `PageMark`s with the printed page
labels. A file with no text on any page, or with a text layer too thin to be a book (see
`_check_text_layer`), raises NoTextLayer; pages without text are named in a warning.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, replace
from pathlib import Path

from bookreader.book import PARAGRAPH_BREAK, Book, Chapter, PageMark, count_words
from bookreader.errors import CorruptBook, NoTextLayer
from bookreader.loaders.cleanup import (
    clean_inline,
    dehyphenate,
    page_tokens,
    vocabulary_of,
    without_running_lines,
)
from bookreader.loaders.headings import find_sections
from bookreader.loaders.pdf_document import (
    PageText,
    document_language,
    document_title,
    extract_pages,
    open_document,
    outline_starts,
    page_labels,
)

PAGES_PER_CHUNK = 10
THIN_WORDS_PER_PAGE = 20  # below this on average, and
TEXTLESS_WORDS = 5  # most pages below this: too thin to be a book (see _check_text_layer)
_SUBSECTION = re.compile(r"^\d{1,2}(?:\.\d{1,2}){1,3}\.?\s+[A-Z][^.!?]{0,80}$")
_SENTENCE_END = re.compile(r"[.!?:;\"”’)\]]$")


def _paragraphs(lines: list[str]) -> list[str]:
    """Lines of one page -> paragraphs. A blank line, or a short line that ends a sentence,
    closes a paragraph (extracted text has no blank lines between most paragraphs)."""
    stripped_lines = [line.strip() for line in lines]
    widths = sorted(len(line) for line in stripped_lines if len(line) > 20)
    short = 0.85 * (widths[len(widths) // 2] if widths else 60)  # shorter than a full line
    paragraphs: list[str] = []
    current: list[str] = []
    for stripped in stripped_lines:
        if not stripped:
            if current:
                paragraphs.append(" ".join(current))
                current = []
            continue
        is_short = len(stripped) < short
        if is_short and _SUBSECTION.match(stripped):
            # "2.1 Overview": a numbered heading stands alone, whatever surrounds it.
            paragraphs.extend([" ".join(current), stripped] if current else [stripped])
            current = []
            continue
        current.append(stripped)
        if is_short and _SENTENCE_END.search(stripped):
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


def _strip_running_lines(pages: list[PageText]) -> int:
    """Running headers, footers and page numbers out of every page, one page's lines in
    memory at a time; returns how many lines went."""
    tokens = [page_tokens(page.number, page.label) for page in pages]
    stripped = without_running_lines(lambda: (page.lines for page in pages), tokens)
    removed = 0
    for page, (kept, n) in zip(pages, stripped, strict=True):
        if n:
            page.text = "\n".join(kept)
            removed += n
    return removed


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
    document = open_document(data, name)
    try:
        count = len(document)
        if count == 0:
            raise CorruptBook(f"{name}: the PDF has no pages")
        labels = page_labels(document, count)
        pages, empty = extract_pages(document, count, labels)
        outline = outline_starts(document)
        title, author = document_title(document, pages, path)
        language = document_language(document)
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
