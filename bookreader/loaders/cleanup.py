"""Text clean-up shared by the loaders: paragraph joining, Project Gutenberg boilerplate,
NFKC for PDF text, running headers/footers and a conservative dehyphenator.

Everything here is a pure function of strings so that each step can be tested on its own.
"""

from __future__ import annotations

import re
import unicodedata
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Sequence

from bookreader.book import PARAGRAPH_BREAK

# Project Gutenberg markers (`strip_gutenberg` cuts plain text at them, the EPUB loader its
# blocks): "*** START OF THE PROJECT GUTENBERG EBOOK X ***", the older
# "*** START OF THIS PROJECT GUTENBERG EBOOK X ***" and "*END*THE SMALL PRINT!" variants.
GUTENBERG_START = re.compile(
    r"^\W*(?:\*{3}|\*)\s*START OF (?:THE|THIS) PROJECT GUTENBERG.*$|^\*END\*THE SMALL PRINT.*$",
    re.IGNORECASE | re.MULTILINE,
)
GUTENBERG_END = re.compile(
    r"^\W*(?:\*{3}|\*)?\s*END OF (?:THE|THIS) PROJECT GUTENBERG.*$"
    r"|^\s*End of (?:the )?Project Gutenberg'?s? .*$",
    re.IGNORECASE | re.MULTILINE,
)
# The licence that follows the end marker, when a file kept the licence but lost the marker.
_PG_LICENCE = re.compile(
    r"^\s*(?:START: FULL LICENSE|THE FULL PROJECT GUTENBERG LICENSE"
    r"|PLEASE READ THIS BEFORE YOU DISTRIBUTE OR USE THIS WORK)\s*$",
    re.IGNORECASE | re.MULTILINE,
)


def normalize_newlines(text: str) -> str:
    return text.replace("\r\n", "\n").replace("\r", "\n")


# C0 and C1 control characters other than the whitespace ones: a font's private encoding
# (PDF "\x01".."\x05") or stray bytes; no book means them as text.
_CONTROL = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\ufffe\uffff]")
# Those, soft hyphens and zero-width marks: removed from inline text in one pass.
_INVISIBLE = re.compile(
    "[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\ufffe\uffff\u00ad\u200b-\u200d\u2060\ufeff]"
)


def remove_controls(text: str) -> str:
    """Control characters out; tabs, newlines and carriage returns stay."""
    return _CONTROL.sub("", text) if _CONTROL.search(text) else text


def clean_inline(text: str) -> str:
    """One paragraph on one line: control characters, soft hyphens and zero-width marks gone,
    every run of whitespace (newlines and no-break spaces included) one space."""
    if _INVISIBLE.search(text):
        text = _INVISIBLE.sub("", text)
    return " ".join(text.split())


def paragraphs_from_lines(lines: Iterable[str]) -> list[str]:
    """Blank-line separated blocks of wrapped lines -> one string per paragraph."""
    paragraphs: list[str] = []
    current: list[str] = []
    for line in lines:
        if line.strip():
            current.append(line.strip())
        elif current:
            paragraphs.append(clean_inline(" ".join(current)))
            current = []
    if current:
        paragraphs.append(clean_inline(" ".join(current)))
    return [p for p in paragraphs if p]


def join_paragraphs(paragraphs: Iterable[str]) -> str:
    return PARAGRAPH_BREAK.join(p for p in paragraphs if p.strip())


def strip_gutenberg(text: str) -> tuple[str, bool]:
    """Remove a Project Gutenberg header (up to the START marker) and everything from the END
    marker or the licence heading on. Returns (text, whether anything was removed)."""
    stripped = False
    start = GUTENBERG_START.search(text)
    if start:
        text = text[start.end() :]
        stripped = True
    end = GUTENBERG_END.search(text)
    licence = _PG_LICENCE.search(text)
    cut = min((m.start() for m in (end, licence) if m), default=None)
    if cut is not None:
        text = text[:cut]
        stripped = True
    return text, stripped


# ---------------------------------------------------------------------------------------------
# PDF text


def nfkc(text: str) -> str:
    """Compatibility forms to plain ones: ligatures (ﬁ -> fi), full-width letters, etc."""
    return unicodedata.normalize("NFKC", text)


# A bare page number: digits, or a well-formed roman numeral below 90 as front matter numbers
# its pages ("xiv"); never a word that is only made of roman letters ("mix", "civil", "dim").
_ROMAN_PAGE = r"(?=[ivxl])(?:xl|l?x{0,3})(?:ix|iv|v?i{0,3})"
_PAGE_NUMBER = re.compile(rf"^\s*(?:page\s+)?(?:\d+|{_ROMAN_PAGE})(?:\s*(?:/|of)\s*\d+)?\s*$", re.I)


def _line_key(line: str, page_tokens: set[str]) -> str:
    """A running header keeps its words while its page number changes: compare lines with the
    page's own number (or label) masked, and nothing else."""
    words = [("#" if w.lower() in page_tokens else w.lower()) for w in line.split()]
    return " ".join(words)


def page_tokens(number: int, label: str | None = None) -> set[str]:
    """How a page can print its own number: its physical number and its label."""
    return {str(number), (label or str(number)).lower()}


def running_keys(edges: Iterable[tuple[list[str], set[str]]], page_count: int) -> set[str]:
    """The header/footer lines (page number masked) that repeat across pages, from each
    page's edge lines and number tokens. A line carrying the page's own number ("Chapter 3:
    Objects 15") is running from 2 pages on (a short chapter's header repeats only a few
    times); any other needs max(3, 30%) of the pages."""
    counts: Counter[str] = Counter()
    for lines, tokens in edges:
        counts.update({_line_key(line, tokens) for line in lines})
    threshold = max(3, int(0.3 * page_count))
    return {
        key
        for key, n in counts.items()
        if key.strip("# ") and (n >= threshold or (n >= 2 and "#" in key.split()))
    }


def strip_running(
    lines: list[str], tokens: set[str], running: set[str], edge: int = 2
) -> tuple[list[str], int]:
    """One page without its running lines and bare page numbers (edge lines only). A page that
    this would leave without text keeps its lines, less bare page numbers: a line on every
    page of a one-line-per-page document is the text, not a header."""
    edge_ids = {id(line) for line in edge_lines(lines, edge)}
    kept = []
    for line in lines:
        if id(line) in edge_ids and (
            _line_key(line, tokens) in running or _PAGE_NUMBER.match(line)
        ):
            continue
        kept.append(line)
    if not any(line.strip() and not _PAGE_NUMBER.match(line) for line in kept):
        kept = [line for line in lines if not _PAGE_NUMBER.match(line)]
    return kept, len(lines) - len(kept)


def without_running_lines(
    pages: Callable[[], Iterable[list[str]]], tokens: Sequence[set[str]], edge: int = 2
) -> Iterator[tuple[list[str], int]]:
    """Each page's lines without page numbers and the header/footer lines that repeat across
    pages (see `running_keys`), with how many went; only the first and last `edge` non-blank
    lines of a page are candidates. `pages()` is called twice (once to find the running lines,
    once to strip them) so that a caller can hold one page's lines in memory at a time."""
    running = running_keys(
        ((edge_lines(lines, edge), t) for lines, t in zip(pages(), tokens, strict=True)),
        len(tokens),
    )
    for lines, t in zip(pages(), tokens, strict=True):
        yield strip_running(lines, t, running, edge)


def remove_running_lines(
    pages: Sequence[list[str]], labels: Sequence[str] | None = None, edge: int = 2
) -> tuple[list[list[str]], int]:
    """`without_running_lines` over pages held in a list, numbered from 1 (`labels`: their
    printed labels). Returns the cleaned pages and how many lines were removed."""
    tokens = [page_tokens(k + 1, labels[k] if labels else None) for k in range(len(pages))]
    cleaned: list[list[str]] = []
    removed = 0
    for kept, n in without_running_lines(lambda: pages, tokens, edge):
        cleaned.append(kept)
        removed += n
    return cleaned, removed


def edge_lines(lines: list[str], edge: int = 2) -> list[str]:
    """The first and last `edge` non-blank lines of a page: where headers and footers sit."""
    content = [line for line in lines if line.strip()]
    if len(content) <= 2 * edge:
        return content
    return content[:edge] + content[-edge:]


_HYPHENATED = re.compile(r"(\w+)-\n(\w+)")
_WORDS = re.compile(r"\w+")


def dehyphenate(text: str, vocabulary: set[str]) -> str:
    """Join "exam-\\nple" into "example" only when "example" occurs elsewhere in the book
    (`vocabulary`, lower-case). Otherwise keep the hyphen: "well-\\nknown" stays "well-known"."""

    def join(match: re.Match[str]) -> str:
        head, tail = match.group(1), match.group(2)
        if (head + tail).lower() in vocabulary:
            return head + tail
        return f"{head}-{tail}"

    return _HYPHENATED.sub(join, text)


def vocabulary_of(texts: Iterable[str]) -> set[str]:
    """Lower-case words that occur whole somewhere (line-end fragments split by "-\\n" are not
    joined here, so a hyphenated break never vouches for itself)."""
    words: set[str] = set()
    for text in texts:
        words.update(_WORDS.findall(_HYPHENATED.sub(" ", text).lower()))
    return words
