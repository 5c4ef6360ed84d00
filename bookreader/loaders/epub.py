"""EPUB 2 and 3 books: each text document of the spine once, in reading order, into chapters.

The package (rendition, spine, table of contents, landmarks) comes from `epub_package`; each
document's paragraphs from `xhtml`.

Chapters follow the table of contents' (the nav's, else the NCX's) chapter level (the top level, descended while it holds
a single entry; see `chapter_level`). Each entry starts a chapter where it points: at its
document's start, or at the anchor of its `#fragment`, so several entries pointing into one
file split it and each piece is its own chapter's text. Text no entry starts continues the
chapter before it (front matter in between is set aside). When fewer than half of the entries resolve to spine documents, chapters are
the spine's documents instead, each titled by its own first heading or `<title>`.

Front matter (kept in `Book.front_matter`, never dropped): the nav document, non-linear
documents, documents whose landmark, guide entry, epub:type or file name says cover, title
page, contents, copyright or colophon; sections titled so; short documents before the first
chapter (and short ones after the last). It is never most of a book: when it would hold more
words than the chapters, the pages only guessed from their length and name go back to the
chapters. The Project Gutenberg header and licence are stripped. Two chapters never have the
same body: a document identical to the chapter before it is joined to that chapter.
"""

from __future__ import annotations

import posixpath
import re
from dataclasses import dataclass
from pathlib import Path

from bookreader.book import Book, Chapter
from bookreader.errors import EmptyBook
from bookreader.loaders.cleanup import GUTENBERG_END, GUTENBERG_START, join_paragraphs
from bookreader.loaders.epub_package import (
    Package,
    SpineDoc,
    TocEntry,
    chapter_level,
    check_drm,
    open_zip,
    read_package,
    resolve_toc,
)
from bookreader.loaders.xhtml import Block, HtmlDoc, html_to_doc

FRONT_MATTER_TYPES = frozenset(
    [
        "cover",
        "titlepage",
        "halftitlepage",
        "title-page",
        "copyright-page",
        "toc",
        "landmarks",
        "loi",
        "lot",
        "imprint",
        "colophon",
        "frontmatter",
        "dedication",
        "epigraph",
        "acknowledgments",
        "acknowledgements",
        "license",
        "errata",
        "index",
    ]
)
BODY_TYPES = frozenset(["bodymatter", "chapter", "part", "division", "volume", "subchapter"])
FRONT_LANDMARKS = frozenset(
    ["cover", "title-page", "titlepage", "toc", "copyright-page", "colophon", "frontmatter"]
)
_FRONT_FILE = re.compile(
    r"(?:^|[-_/@.])(?:cover|title-?page|halftitle|copyright|uncopyright|imprint|colophon|toc|nav"
    r"|contents|licen[cs]e|wrap0000)(?:[-_.@\d]|$)",
    re.IGNORECASE,
)
_FRONT_TITLE = re.compile(
    r"^\s*(?:cover|title ?page|half ?title|contents|table of contents|copyright.*|imprint"
    r"|colophon|uncopyright|licen[cs]e|.*project gutenberg.*licen[cs]e.*|landmarks)\s*$",
    re.IGNORECASE,
)
SHORT_EDGE_WORDS = 40  # a title or edition page before the first chapter, an ad after the last
LEAD_FRONT_WORDS = 300  # a document before the first TOC entry is front matter up to this size
MIN_RESOLVED = 0.5  # fewer TOC entries than this share resolve: chapters follow the spine


@dataclass
class Segment:
    """A run of blocks under one title: a chapter or a front-matter section."""

    title: str | None
    blocks: list[Block]
    doc: SpineDoc
    front: bool = False  # marked by the package (landmark, type, file name)
    guessed: bool = False  # front matter only by its length or title: may go back

    def has_words(self, limit: int) -> bool:
        return _has_words(self.blocks, limit)

    def words(self) -> int:
        return sum(b.words for b in self.blocks)


# ---------------------------------------------------------------------------------------------
# Where chapters start


def _starts(
    package: Package, parsed: list[HtmlDoc]
) -> tuple[dict[int, list[tuple[int, str]]], str | None]:
    """Per spine document, the (block index, title) where chapters start, from the first table
    of contents (nav, then NCX) whose chapter level mostly resolves; and a warning when none
    could be followed."""
    paths = [doc.path for doc in package.spine]
    warning = None
    for toc in package.tocs:
        level = chapter_level(toc)
        resolved = resolve_toc(level, paths, package.aliases)
        if len(resolved) >= MIN_RESOLVED * len(level):
            return _positions(resolved, paths, parsed), None
        warning = warning or (
            f"the table of contents does not match the documents ({len(resolved)} of "
            f"{len(level)} entries found): chapters follow the spine"
        )
    return {}, warning


def _positions(
    resolved: list[TocEntry], paths: list[str], parsed: list[HtmlDoc]
) -> dict[int, list[tuple[int, str]]]:
    index_of = {path: k for k, path in enumerate(paths)}
    starts: dict[int, dict[int, str]] = {}
    for entry in resolved:
        doc = index_of[entry.path]
        block = _block_of(entry, parsed[doc])
        starts.setdefault(doc, {}).setdefault(block, entry.title)
    return {doc: sorted(blocks.items()) for doc, blocks in starts.items()}


def _block_of(entry: TocEntry, parsed: HtmlDoc) -> int:
    """The block an entry points at; its document's start when the anchor is missing, or when
    nothing but empty markup comes before the anchor."""
    block = parsed.anchors.get(entry.fragment, 0) if entry.fragment else 0
    return 0 if block <= parsed.first_text_block() else block


# ---------------------------------------------------------------------------------------------
# Segments


def _front_doc(doc: SpineDoc, parsed: HtmlDoc, package: Package) -> bool:
    if doc.path in package.nav_paths or "nav" in doc.properties or not doc.linear:
        return True
    if parsed.epub_types & FRONT_MATTER_TYPES and not parsed.inner_types & BODY_TYPES:
        return True
    if FRONT_LANDMARKS.intersection(package.landmarks.get(doc.path, "").split()):
        return True
    return bool(_FRONT_FILE.search(posixpath.basename(doc.path)))


def _doc_title(parsed: HtmlDoc) -> str | None:
    return parsed.first_heading or parsed.title


def _segments(package: Package, parsed: list[HtmlDoc], starts: dict[int, list]) -> list[Segment]:
    """Every block of every document, once, in reading order, cut into segments."""
    segments: list[Segment] = []
    body: Segment | None = None  # the last segment that is not front matter
    chapter_started = False
    for number, (doc, html) in enumerate(zip(package.spine, parsed, strict=True)):
        front = _front_doc(doc, html, package)
        doc_starts = starts.get(number, [])
        first = doc_starts[0][0] if doc_starts else len(html.blocks)
        lead = html.blocks[:first]
        new: list[Segment] = []
        if lead and starts and chapter_started and not front and body is not None:
            body.blocks.extend(lead)  # a chapter that runs over several files
        elif lead:
            limit = LEAD_FRONT_WORDS if starts else SHORT_EDGE_WORDS
            guessed = not front and not chapter_started and not _has_words(lead, limit)
            new.append(Segment(_doc_title(html), lead, doc, front, guessed))
            chapter_started = chapter_started or (not starts and not front and not guessed)
        for k, (index, title) in enumerate(doc_starts):
            end = doc_starts[k + 1][0] if k + 1 < len(doc_starts) else len(html.blocks)
            new.append(Segment(title, html.blocks[index:end], doc, front))
            chapter_started = True
        segments.extend(new)
        body = next((s for s in reversed(new) if not s.front), body)
    return segments


def _has_words(blocks: list[Block], limit: int) -> bool:
    """At least `limit` words (counting stops there: most chapters answer at once)."""
    total = 0
    for block in blocks:
        total += block.words
        if total >= limit:
            return True
    return False


def _strip_gutenberg_blocks(segments: list[Segment]) -> bool:
    """Drop everything up to "*** START OF THE PROJECT GUTENBERG ..." and from "*** END OF ..."."""
    flat = [(s, b) for s in segments for b in s.blocks]
    start = next((k for k, (_, b) in enumerate(flat) if GUTENBERG_START.search(b.text)), None)
    end = next((k for k, (_, b) in enumerate(flat) if GUTENBERG_END.search(b.text)), None)
    if start is None and end is None:
        return False
    keep = {
        id(b)
        for k, (_, b) in enumerate(flat)
        if (start is None or k > start) and (end is None or k < end)
    }
    for segment in segments:
        segment.blocks = [b for b in segment.blocks if id(b) in keep]
    return True


def _guess_front_matter(segments: list[Segment], book_title: str | None) -> None:
    """Front matter by title, and short pages before the first and after the last chapter."""
    for segment in segments:
        title = (segment.title or "").strip().lower()
        named = bool(_FRONT_TITLE.match(title))
        is_book_title = bool(book_title) and title == book_title.strip().lower()
        if named or (is_book_title and not segment.has_words(300)):
            segment.guessed = segment.guessed or not segment.front
    for run in (segments, segments[::-1]):
        for segment in run:
            if segment.front or segment.guessed:
                continue
            if segment.has_words(SHORT_EDGE_WORDS):
                break
            segment.guessed = True


def _split_front(
    segments: list[Segment], package: Package
) -> tuple[list[Segment], list[Segment], str | None]:
    """(chapters, front matter, warning). Front matter never outweighs the chapters: pages
    guessed from their length or title go back first, then every page but the nav document."""

    def is_front(s: Segment) -> bool:
        return s.front or s.guessed

    def weight(group: list[Segment]) -> int:
        return sum(s.words() for s in group)

    body = [s for s in segments if not is_front(s)]
    front = [s for s in segments if is_front(s)]
    if weight(front) <= weight(body) and body:
        return body, front, None
    for segment in segments:
        segment.guessed = False
    body = [s for s in segments if not s.front]
    front = [s for s in segments if s.front]
    if weight(front) <= weight(body) and body:
        return body, front, None
    body = [s for s in segments if s.doc.path not in package.nav_paths] or segments
    front = [s for s in segments if s not in body]
    return body, front, "most of the text is marked as front matter: its pages are chapters"


def _chapter_text(segment: Segment) -> str:
    """The segment's paragraphs, less a leading heading that only repeats its title."""
    blocks = list(segment.blocks)
    if blocks and blocks[0].heading and segment.title and _same(blocks[0].text, segment.title):
        blocks.pop(0)
    return join_paragraphs(b.text for b in blocks)


def _same(a: str, b: str) -> bool:
    return re.sub(r"\W+", "", a.lower()) == re.sub(r"\W+", "", b.lower())


def _title_of(segment: Segment, number: int) -> str:
    if segment.title:
        return segment.title
    heading = next((b.text for b in segment.blocks if b.heading), None)
    return " ".join(heading.split()) if heading else f"Section {number}"


def _chapters(segments: list[Segment], front: bool) -> list[Chapter]:
    """Chapters in order. A body identical to an earlier chapter's is joined to the chapter
    before it: both documents' text is kept, and no two chapters share a body."""
    chapters: list[Chapter] = []
    seen: set[str] = set()
    for segment in segments:
        text = _chapter_text(segment)
        if not text:
            continue
        if text in seen and chapters:
            last = chapters[-1]
            seen.discard(last.text)
            merged = join_paragraphs([last.text, text])
            chapters[-1] = Chapter(
                last.index, last.title, merged, source=last.source, front_matter=front
            )
            seen.add(merged)
            continue
        seen.add(text)
        number = len(chapters)
        chapters.append(
            Chapter(
                number,
                _title_of(segment, number + 1),
                text,
                source=segment.doc.path,
                front_matter=front,
            )
        )
    return chapters


def load_epub(path: Path, data: bytes, sha256: str) -> Book:
    name = path.name
    zf = open_zip(data, name)
    check_drm(zf, name)
    package = read_package(zf, name)
    if not package.spine and not package.skipped.get("images"):
        raise EmptyBook(f"{name}: the EPUB spine lists no documents")
    parsed = [html_to_doc(doc.content) for doc in package.spine]
    source_words = sum(doc.words() for doc in parsed)
    images = package.skipped.get("images", 0) + sum(doc.images for doc in parsed)
    if not source_words:
        raise EmptyBook(
            f"{name}: the EPUB's pages hold only images ({images}): no text to read (needs OCR)"
            if images
            else f"{name}: no readable text in the EPUB"
        )
    warnings_out: list[str] = []
    starts, toc_warning = _starts(package, parsed)
    if toc_warning:
        warnings_out.append(toc_warning)
    segments = _segments(package, parsed, starts)
    if _strip_gutenberg_blocks(segments):
        warnings_out.append("stripped Project Gutenberg header/licence")
    segments = [s for s in segments if s.has_words(1)]
    if not segments:
        raise EmptyBook(f"{name}: no readable text in the EPUB")
    _guess_front_matter(segments, package.title)
    body, front, front_warning = _split_front(segments, package)
    if front_warning:
        warnings_out.append(front_warning)
    warnings_out.extend(_skipped_warnings(package))
    return Book(
        path=path,
        title=package.title or path.stem,
        author=package.author,
        language=package.language,
        format="epub",
        chapters=_chapters(body, front=False),
        sha256=sha256,
        front_matter=_chapters(front, front=True),
        warnings=warnings_out,
        source_words=source_words,
        skipped=dict(package.skipped),
    )


def _skipped_warnings(package: Package) -> list[str]:
    return [
        f"skipped {count} spine {kind}"
        + (" (no text)" if kind in ("images", "other media") else "")
        for kind, count in sorted(package.skipped.items())
    ]
