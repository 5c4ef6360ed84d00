"""Plain text and Markdown books.

Encoding: UTF-8 (with or without BOM), else Windows-1252 (bytes it leaves undefined fall back to
Latin-1, so no replacement characters ever appear). Line endings: CRLF, CR or LF. Project
Gutenberg header, footer and licence are removed. Chapters come from `headings.find_sections`;
the text before the first chapter is front matter. Title and author come from the Gutenberg
header ("Title:", "Author:"), a Markdown title line ("**Title by Author**", "# Title"), a
"Title / by Author" opening, else the file name.
"""

from __future__ import annotations

import re
import unicodedata
from pathlib import Path

from bookreader.book import Book, Chapter, count_words
from bookreader.errors import EmptyBook, UnsupportedFormat
from bookreader.loaders.cleanup import (
    clean_inline,
    join_paragraphs,
    normalize_newlines,
    paragraphs_from_lines,
    strip_gutenberg,
)
from bookreader.loaders.headings import find_sections

_UTF8_BOM = b"\xef\xbb\xbf"
_HEADER_FIELD = re.compile(r"^(Title|Author|Language):[ \t]*(.*)$", re.MULTILINE)
_MD_TITLE_BY = re.compile(r"^\W{0,3}\*\*(?P<title>.+?)\s+by\s+(?P<author>.+?)\*\*\s*$")
_MD_H1 = re.compile(r"^#\s+(?P<title>.+?)\s*#*\s*$")
_BY_LINE = re.compile(r"^\s*(?:by|By|BY)\s+(?P<author>[A-Z][\w.’' -]{1,80})\s*$")
_LANGUAGES = {"english": "en", "french": "fr", "german": "de", "spanish": "es", "italian": "it"}


def decode(data: bytes, name: str) -> str:
    """Bytes -> str: UTF-16 with a BOM, UTF-8 (BOM optional), else Windows-1252. Binary data
    is refused."""
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):
        try:
            return data.decode("utf-16")
        except UnicodeDecodeError:
            raise UnsupportedFormat(f"{name}: damaged UTF-16 text") from None
    if data.startswith(_UTF8_BOM):
        data = data[len(_UTF8_BOM) :]
    if b"\x00" in data[:65536]:
        raise UnsupportedFormat(f"{name}: binary data, not a PDF, EPUB or text file")
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        text = _fix_cp1252_bom(_decode_cp1252(data))
    if _control_ratio(text) > 0.01:
        raise UnsupportedFormat(f"{name}: binary data, not a PDF, EPUB or text file")
    return text


def _decode_cp1252(data: bytes) -> str:
    # The five bytes Windows-1252 leaves undefined (0x81, 0x8D, ...) make it fail; Latin-1
    # maps every byte, so the text still decodes without replacement characters.
    try:
        return data.decode("cp1252")
    except UnicodeDecodeError:
        return data.decode("latin-1")


def _fix_cp1252_bom(text: str) -> str:
    # A UTF-8 BOM re-saved through a legacy code page becomes a literal "?" before the text.
    return text[1:] if text.startswith("?") and text[1:2].isalpha() else text


def _control_ratio(text: str) -> float:
    sample = text[:65536]
    if not sample:
        return 0.0
    controls = sum(
        1 for ch in sample if unicodedata.category(ch) == "Cc" and ch not in "\n\r\t\f\x1a"
    )
    return controls / len(sample)


def _header_metadata(text: str) -> dict[str, str]:
    """ "Title:", "Author:", "Language:" from a Gutenberg header (continuation lines included)."""
    found: dict[str, str] = {}
    lines = text[:20000].split("\n")
    for i, line in enumerate(lines):
        m = _HEADER_FIELD.match(line)
        if not m or m[1].lower() in found or not m[2].strip():
            continue
        value = m[2].strip()
        for cont in lines[i + 1 : i + 4]:
            if cont.startswith((" ", "\t")) and cont.strip():
                value += " " + cont.strip()
            else:
                break
        found[m[1].lower()] = value
    return found


def _opening_metadata(lines: list[str]) -> tuple[dict[str, str], int]:
    """Title (and author) from the opening lines; returns them and how many lines they used."""
    content = [(i, line.strip()) for i, line in enumerate(lines[:40]) if line.strip()]
    if not content:
        return {}, 0
    first_i, first = content[0]
    m = _MD_TITLE_BY.match(first)
    if m:
        used = first_i + 1
        # The "*Public domain. Text from [Project Gutenberg](...)*" credit line that follows.
        if (
            len(content) > 1
            and "gutenberg" in content[1][1].lower()
            and content[1][1].startswith("*")
        ):
            used = content[1][0] + 1
        return {"title": clean_inline(m["title"]), "author": clean_inline(m["author"])}, used
    m = _MD_H1.match(first)
    # "# Title" names the book only when no other level-1 heading follows (else it is chapter 1).
    if m and sum(1 for line in lines if _MD_H1.match(line)) == 1:
        return {"title": clean_inline(m["title"].strip("*_"))}, first_i + 1
    if len(content) > 1 and len(first.split()) <= 12:
        by = _BY_LINE.match(content[1][1])
        if by:
            return {"title": clean_inline(first), "author": clean_inline(by["author"])}, 0
    return {}, 0


def _language_code(value: str | None) -> str | None:
    if not value:
        return None
    return _LANGUAGES.get(value.strip().lower(), value.strip().lower()[:8] or None)


def load_text(path: Path, data: bytes, sha256: str) -> Book:
    name = path.name
    fmt = "md" if path.suffix.lower() in (".md", ".markdown") else "txt"
    text = normalize_newlines(decode(data, name))
    warnings: list[str] = []
    source_words = count_words(text)
    header = _header_metadata(text)
    text, stripped = strip_gutenberg(text)
    if stripped:
        warnings.append("stripped Project Gutenberg header/licence")
    lines = text.split("\n")
    opening, used = _opening_metadata(lines)
    lines = lines[used:]
    meta = {**opening, **header}
    chapters, front = _chapters(
        lines, fallback_title=meta.get("title") or path.stem, markdown=fmt == "md"
    )
    if not any(c.text.strip() for c in chapters):
        raise EmptyBook(f"{name}: no readable text")
    if len(chapters) == 1 and len(lines) > 400:
        warnings.append("no chapter headings found: the whole text is one chapter")
    return Book(
        path=path,
        title=meta.get("title") or path.stem,
        author=meta.get("author"),
        language=_language_code(header.get("language")),
        format=fmt,
        chapters=chapters,
        sha256=sha256,
        front_matter=front,
        warnings=warnings,
        source_words=source_words,
    )


_MD_IMAGE_OR_LINK = re.compile(r"!?\[([^\]]*)\]\([^)]*\)")
_MD_STRONG = re.compile(r"(\*\*|__)(?=\S)(.+?)(?<=\S)\1")
_MD_EMPHASIS = re.compile(r"(?<![\w*])\*(?=\S)([^*]+?)(?<=\S)\*(?![\w*])")
_MD_CODE = re.compile(r"`([^`]+)`")
_MD_QUOTE = re.compile(r"^(?:>\s?)+")


def markdown_to_text(paragraph: str) -> str:
    """Inline Markdown to plain text: links and images keep their text, emphasis and code
    marks and block-quote markers go."""
    paragraph = _MD_QUOTE.sub("", paragraph)
    paragraph = _MD_IMAGE_OR_LINK.sub(r"\1", paragraph)
    paragraph = _MD_STRONG.sub(r"\2", paragraph)
    paragraph = _MD_EMPHASIS.sub(r"\1", paragraph)
    return _MD_CODE.sub(r"\1", paragraph).strip()


def _text_of(lines: list[str], markdown: bool) -> str:
    paragraphs = paragraphs_from_lines(lines)
    if markdown:
        paragraphs = [markdown_to_text(p) for p in paragraphs]
    return join_paragraphs(paragraphs)


def _chapters(
    lines: list[str], fallback_title: str, markdown: bool = False
) -> tuple[list[Chapter], list[Chapter]]:
    sections = find_sections(lines)
    if not sections:
        text = _text_of(lines, markdown)
        return [Chapter(index=0, title=fallback_title, text=text, source="whole text")], []
    chapters = [
        Chapter(
            index=k,
            title=markdown_to_text(s.title) if markdown else s.title,
            text=_text_of(lines[s.body : s.end], markdown),
            source=f"lines {s.heading + 1}-{s.end}",
        )
        for k, s in enumerate(sections)
    ]
    front: list[Chapter] = []
    before = _text_of(lines[: sections[0].heading], markdown)
    if before:
        front.append(Chapter(index=0, title="Front matter", text=before, front_matter=True))
    return chapters, front
