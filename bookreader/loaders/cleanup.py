"""Text clean-up shared by the loaders: paragraph joining, Project Gutenberg boilerplate,
NFKC for PDF text, running headers/footers and a conservative dehyphenator.

Everything here is a pure function of strings so that each step can be tested on its own.
"""

from __future__ import annotations

import re
import unicodedata
from collections import Counter
from collections.abc import Iterable, Sequence

from bookreader.book import PARAGRAPH_BREAK

_SOFT_HYPHEN = "\u00ad"

# Project Gutenberg markers: "*** START OF THE PROJECT GUTENBERG EBOOK X ***", the older
# "*** START OF THIS PROJECT GUTENBERG EBOOK X ***" and "*END*THE SMALL PRINT!" variants.
_PG_START = re.compile(
    r"^\W*(?:\*{3}|\*)\s*START OF (?:THE|THIS) PROJECT GUTENBERG.*$|^\*END\*THE SMALL PRINT.*$",
    re.IGNORECASE | re.MULTILINE,
)
_PG_END = re.compile(
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


_INVISIBLE = (_SOFT_HYPHEN, "\u200b", "\u200c", "\u200d", "\u2060", "\ufeff")


def clean_inline(text: str) -> str:
    """One paragraph on one line: soft hyphens and zero-width marks gone, every run of
    whitespace (newlines and no-break spaces included) one space."""
    for mark in _INVISIBLE:
        if mark in text:  # `in` is a fast scan; str.translate on non-ASCII text is not
            text = text.replace(mark, "")
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
    start = _PG_START.search(text)
    if start:
        text = text[start.end() :]
        stripped = True
    end = _PG_END.search(text)
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


_PAGE_NUMBER = re.compile(r"^\s*(?:page\s+)?[\divxlcdm]+(?:\s*(?:/|of)\s*\d+)?\s*$", re.I)


def _line_key(line: str, page_tokens: set[str]) -> str:
    """A running header keeps its words while its page number changes: compare lines with the
    page's own number (or label) masked, and nothing else."""
    words = [("#" if w.lower() in page_tokens else w.lower()) for w in line.split()]
    return " ".join(words)


def remove_running_lines(
    pages: Sequence[list[str]], labels: Sequence[str] | None = None, edge: int = 2
) -> tuple[list[list[str]], int]:
    """Drop page numbers and the header/footer lines that repeat across pages.

    Only the first and last `edge` non-blank lines of each page are candidates; a line (its
    page number masked) counts as running when it appears at an edge of at least 2 pages if it
    carries the page number, else of at least max(3, 30%) of the pages. Returns the cleaned pages and how many lines were removed.
    """
    tokens = [
        {str(k + 1), (labels[k] if labels else str(k + 1)).lower()} for k in range(len(pages))
    ]
    counts: Counter[str] = Counter()
    for lines, page_tokens in zip(pages, tokens, strict=True):
        counts.update({_line_key(line, page_tokens) for line in _edges(lines, edge)})
    threshold = max(3, int(0.3 * len(pages)))
    # A line carrying the page's own number ("Chapter 3: Objects 15") is a running head from 2
    # pages on (a short chapter's own header repeats only a few times); others need 30%.
    running = {
        key
        for key, n in counts.items()
        if key.strip("# ") and (n >= threshold or (n >= 2 and "#" in key.split()))
    }
    cleaned: list[list[str]] = []
    removed = 0
    for lines, page_tokens in zip(pages, tokens, strict=True):
        edge_ids = {id(line) for line in _edges(lines, edge)}
        kept = []
        for line in lines:
            if id(line) in edge_ids and (
                _line_key(line, page_tokens) in running or _PAGE_NUMBER.match(line)
            ):
                removed += 1
                continue
            kept.append(line)
        cleaned.append(kept)
    return cleaned, removed


def _edges(lines: list[str], edge: int) -> list[str]:
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
        words.update(w.lower() for w in _WORDS.findall(_HYPHENATED.sub(" ", text)))
    return words
