"""Where in the book a question points, read from its words: a chapter it names ("What happens
in chapter 3?", "in Chapter VII", "in Stave Three", "the third chapter", "the last chapter"), or
the book's beginning or end ("How does the book end?", "What happens at the beginning?").

A named chapter is found by its heading first ("Stave Three", "Chapter 1" after four "Letter"
chapters), then, for "chapter N", by position (the Nth chapter, as `--chapter N` counts). A
unit the book's headings do not use ("her first letter" in a book without letters) names no
place; "chapter" always does. The end of a book is the end of its last chapter; its beginning,
the beginning of its first numbered chapter (not a preface). A question asks about the end or
the beginning only when nothing else is left in it ("How does Ahab die at the end?" is a search
for Ahab's death, not a summary).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from bookreader.book import Book, Chapter
from bookreader.engines.passages import terms
from bookreader.loaders.headings import heading_number, parse_number

_UNITS = "chapter|chap\\.?|ch\\.|stave|letter|canto|episode"
_NUMBER = r"\d{1,3}|[ivxlc]+|[a-z]+"
_ORDINAL = (
    r"first|second|third|fourth|fifth|sixth|seventh|eighth|ninth|tenth|eleventh|twelfth|"
    r"\d{1,3}(?:st|nd|rd|th)|last|final|opening|closing"
)
_NAMED = re.compile(rf"\b(?P<unit>{_UNITS})\s+(?P<num>{_NUMBER})\b", re.IGNORECASE)
_ORDERED = re.compile(rf"\b(?P<ord>{_ORDINAL})\s+(?P<unit>chapter|stave|letter)\b", re.IGNORECASE)
END_WORDS = frozenset(
    terms("end ending ends ended conclude concludes conclusion finish last final")
)
START_WORDS = frozenset(terms("begin beginning begins start starts opening opens first"))
# Words that only point at the book or at what happens in it.
_POINTING = "book novel story tale text plot happen happens happened events finally"
POINTING_WORDS = frozenset(terms(_POINTING))
# Words that, in a question scoped to a chapter, only point at the chapter as a whole.
CHAPTER_WORDS = frozenset(
    terms(
        "chapter chapters happen happens happened happening summary summarize summarise plot "
        "story events event tell describe overview gist goes going occur occurs occurred part "
        "section"
    )
)


@dataclass(frozen=True)
class Scope:
    """A chapter (its index), which end of it is meant ("start", "end", or None for all of
    it), and the question's terms that only point at the place ("chapter", "3", "end")."""

    chapter: int
    edge: str | None = None
    words: frozenset[str] = frozenset()


def question_scope(question: str, book: Book) -> Scope | str | None:
    """The place `question` points at; None when it names none; a one-line reason when it
    names a chapter the book does not have."""
    if not book.chapters:
        return None
    for named in [*_NAMED.finditer(question), *_ORDERED.finditer(question)]:
        unit = _unit_of(named)
        number = _number_of(named)
        own = [c for c in book.chapters if (heading_number(c.title) or ("",))[0] == unit]
        if number is None or (unit != "chapter" and not own):
            continue  # "the letter to Jane", "her first letter": no place of the book named
        found = _named_chapter(unit, number, own, book)
        if found is None:
            label = named.group().strip()
            return f'there is no "{label}" in the book: it has chapters 1-{len(book.chapters)}'
        return Scope(found.index, words=frozenset(terms(named.group())))
    return _book_part(question, book)


def _unit_of(match: re.Match[str]) -> str:
    unit = match.group("unit").lower().rstrip(".")
    return "chapter" if unit in {"chap", "ch"} else unit


def _number_of(match: re.Match[str]) -> int | None:
    """The number a match names: 3 for "chapter 3", "chapter III", "chapter three", "the third
    chapter"; -1 for the last chapter. A lone "I" names a number only after "chapter"."""
    if "ord" in match.groupdict():
        ordinal = match.group("ord").lower()
        if ordinal in {"last", "final", "closing"}:
            return -1
        if ordinal == "opening":
            return 1
        return int(ordinal[:-2]) if ordinal[0].isdigit() else parse_number(ordinal)  # "3rd"
    word = match.group("num")
    if word.lower() == "i" and not match.group("unit").lower().startswith("ch"):
        return None  # "the letter I sent"
    return parse_number(word)


def _named_chapter(unit: str, number: int, own: list[Chapter], book: Book) -> Chapter | None:
    """The chapter a unit and number name: by heading ("Stave 3" among the staves, "the last
    letter" the last of the letters), else, for chapters, by position (the Nth chapter)."""
    if number == -1:
        return own[-1] if own and unit != "chapter" else book.chapters[-1]
    for chapter in own:
        if heading_number(chapter.title) == (unit, number):
            return chapter
    if unit == "chapter" and 1 <= number <= len(book.chapters):
        return book.chapters[number - 1]
    return None


def _book_part(question: str, book: Book) -> Scope | None:
    asked = set(terms(question))
    about = set(terms(f"{book.title} {book.author or ''}"))
    rest = asked - END_WORDS - START_WORDS - POINTING_WORDS - about
    end, start = bool(asked & END_WORDS), bool(asked & START_WORDS)
    if rest or end == start:  # other words to search for, or no (or both) ends named
        return None
    words = frozenset(asked - rest)
    if end:
        return Scope(book.chapters[-1].index, "end", words)
    # The story begins at its first numbered chapter ("Letter 1", "Chapter 1"), not at a preface
    # or an etymology the loader kept as a chapter.
    numbered = [c for c in book.chapters if heading_number(c.title)]
    first = numbered[0] if numbered else book.chapters[0]
    return Scope(first.index, "start", words)


def chapter_reference_terms(chapter: Chapter) -> set[str]:
    """Terms of a scoped question that point at the chapter rather than at something in it:
    "chapter", "happens", its number as the user sees it (1-based)."""
    return set(CHAPTER_WORDS) | {str(chapter.index + 1)}
