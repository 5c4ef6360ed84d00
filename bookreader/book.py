"""The one currency between layers: a `Book` of `Chapter`s, cut into `Passage`s, cited by
`Citation`s. Loaders produce books; engines index passages; the CLI and TUI print citations.

Chapter text keeps paragraphs separated by one blank line ("\\n\\n"). PDF chapters also carry
`pages`: where in the chapter text each physical page starts, so any character span can be cited
by page label.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

PARAGRAPH_BREAK = "\n\n"
# Words are what word processors count: whitespace-separated tokens that hold a letter or a
# digit ("don't", "well-known" and "end.—Then" are one word each; a lone "—" is none). In scripts
# written without spaces between words (Han ideographs, Japanese kana, Thai, Lao, Khmer,
# Myanmar, Tibetan) each character counts as one word.
_UNSPACED = (
    "\u0e00-\u0eff\u0f00-\u0fff\u1000-\u109f\u1780-\u17ff\u3040-\u30ff\u3400-\u4dbf"
    "\u4e00-\u9fff\uf900-\ufaff\uff66-\uff9f\U00020000-\U0003134f"
)
_ANY_UNSPACED = re.compile(f"[{_UNSPACED}]")
_UNSPACED_PIECES = re.compile(rf"[{_UNSPACED}]|[^\s{_UNSPACED}]+")


def _is_word(token: str) -> bool:
    return token[0].isalnum() or token[-1].isalnum() or any(c.isalnum() for c in token)


def count_words(text: str) -> int:
    """Words in `text`, in any script (see above): the unit of every word count shown."""
    if _ANY_UNSPACED.search(text):
        return sum(1 for piece in _UNSPACED_PIECES.findall(text) if _is_word(piece))
    return sum(1 for token in text.split() if _is_word(token))


def split_paragraphs(text: str) -> list[str]:
    """The non-blank paragraphs of chapter text (or of any slice of it)."""
    return [p for p in text.split(PARAGRAPH_BREAK) if p.strip()]


@dataclass(frozen=True)
class PageMark:
    """Physical page `number` (1-based) with printed `label` starts at `offset` in the chapter."""

    offset: int
    number: int
    label: str


@dataclass(frozen=True)
class Chapter:
    index: int  # 0-based position among the book's chapters (front matter excluded)
    title: str
    text: str  # paragraphs separated by PARAGRAPH_BREAK
    pages: tuple[PageMark, ...] = ()  # PDFs only, ascending offsets, first offset 0
    source: str | None = None  # EPUB spine href(s), or "pages 3-9" style hints
    front_matter: bool = False

    @property
    def word_count(self) -> int:
        return count_words(self.text)

    @property
    def paragraphs(self) -> list[str]:
        return split_paragraphs(self.text)

    @property
    def page_span(self) -> tuple[str, str] | None:
        """(first label, last label) of the pages the chapter covers, PDFs only."""
        if not self.pages:
            return None
        return self.pages[0].label, self.pages[-1].label

    def page_span_of(self, start: int, end: int) -> tuple[str, str] | None:
        """Page labels covering characters [start, end) of this chapter's text."""
        if not self.pages:
            return None
        first = last = self.pages[0]
        for mark in self.pages:
            if mark.offset <= start:
                first = mark
            if mark.offset < max(end, start + 1):
                last = mark
        return first.label, last.label

    def label(self) -> str:
        """How a sentence names the chapter: 'chapter 3, "The Wreck"', or just its title in
        quotes when that already says "Chapter 3"."""
        if self.title.lower().startswith("chapter"):
            return f'"{self.title}"'
        return f'chapter {self.index + 1}, "{self.title}"'


@dataclass
class Book:
    path: Path
    title: str
    author: str | None
    language: str | None
    format: str  # "pdf" | "epub" | "txt" | "md"
    chapters: list[Chapter]
    sha256: str
    front_matter: list[Chapter] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    # What the loader measured of its input, to check fidelity against: words in the source
    # documents before chapters were made (None: not measured), and what it left out on
    # purpose, by kind, e.g. {"images": 3, "duplicates": 1, "running lines": 40}.
    source_words: int | None = None
    skipped: dict[str, int] = field(default_factory=dict)

    @property
    def front_matter_words(self) -> int:
        return sum(c.word_count for c in self.front_matter)

    @property
    def word_count(self) -> int:
        return sum(c.word_count for c in self.chapters)

    @property
    def text(self) -> str:
        """The whole book in reading order, chapters separated by a paragraph break."""
        return PARAGRAPH_BREAK.join(c.text for c in self.chapters)


@dataclass(frozen=True)
class Passage:
    """A contiguous run of whole paragraphs inside one chapter: the unit engines retrieve."""

    id: int  # position in the book's passage list
    chapter_index: int
    chapter_title: str
    start: int  # character span in the chapter's text
    end: int
    text: str
    pages: tuple[str, str] | None = None  # (first, last) page labels, PDFs only


@dataclass(frozen=True)
class Citation:
    """Where an answer or a summary sentence comes from."""

    chapter_index: int
    chapter_title: str
    passage_id: int
    text: str  # the passage
    sentence: str | None = None  # the best-matching sentence inside it, highlighted by UIs
    pages: tuple[str, str] | None = None
    score: float | None = None

    @classmethod
    def from_passage(
        cls, passage: Passage, sentence: str | None = None, score: float | None = None
    ) -> Citation:
        return cls(
            chapter_index=passage.chapter_index,
            chapter_title=passage.chapter_title,
            passage_id=passage.id,
            text=passage.text,
            sentence=sentence,
            pages=passage.pages,
            score=score,
        )

    def label(self) -> str:
        """Short human reference, e.g. `ch. 3 "The Harbour", p. 41-42`."""
        ref = f'ch. {self.chapter_index + 1} "{self.chapter_title}"'
        if self.pages:
            first, last = self.pages
            ref += f", p. {first}" if first == last else f", p. {first}-{last}"
        return ref

    def to_dict(self) -> dict:
        return {
            "chapter_index": self.chapter_index,
            "chapter_title": self.chapter_title,
            "passage_id": self.passage_id,
            "pages": list(self.pages) if self.pages else None,
            "sentence": self.sentence,
            "text": self.text,
            "score": self.score,
        }
