"""Cutting a book into what engines retrieve and rank: passages, sentences and index terms.

Passages follow the book's own structure: whole paragraphs of one chapter, grouped until they
hold about `MIN_WORDS`..`MAX_WORDS` words. A paragraph longer than `MAX_WORDS` is split at
sentence boundaries, never inside a sentence. Every passage keeps its character span in the
chapter, so PDF chapters can cite page labels through `Chapter.page_span_of`.

Terms are lowercase word tokens without English stopwords, with a light suffix folding (plural
-s, -ed, -ing, final -e) so that "arrive", "arrived" and "arriving" meet, and English irregular
forms taken to their base form (`wordforms`: "kept" meets "keep"); no language model: simple
and predictable. `TERMS_VERSION` names these rules: cached indexes built by other rules are
rebuilt.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Iterator
from dataclasses import dataclass

from bookreader.book import PARAGRAPH_BREAK, Book, Chapter, Passage
from bookreader.engines.wordforms import BASE_FORM

MIN_WORDS = 80
MAX_WORDS = 200
TERMS_VERSION = 2  # 2: irregular forms folded to their base form

# Words that carry no topic: function words plus the question words people type.
_STOPWORD_LIST = """
    a about above after again against all also am an and any are as at be because been before
    being below between both but by can could did do does doing done down during each else ever
    every few for from further get got had has have having he her here hers herself him himself
    his how i if in into is it its itself just let like may me might more most much must my
    myself no nor not now of off on once one only or other ought our ours ourselves out over own
    per quite rather same shall she should so some such than that the their theirs them
    themselves then there these they this those through thus to too under until up upon us very
    was we were what when where whether which while who whom whose why will with within without
    would yet you your yours yourself yourselves s t d ll m re ve
"""
STOPWORDS = frozenset(_STOPWORD_LIST.split())

_TERM = re.compile(r"[^\W_]+(?:['’][^\W_]+)*")
# A sentence ends at . ! ? (optionally followed by closing quotes or brackets) before whitespace.
_SENTENCE_END = re.compile(r"[.!?…]+[\"'”’)\]]*(?=\s)")
_ABBREVIATION_LIST = (
    "mr mrs ms dr st mt prof rev sr jr vs etc e.g i.e no fig vol ch pp p gen col capt lt sgt"
)
_ABBREVIATIONS = frozenset(_ABBREVIATION_LIST.split())
_CONTRACTIONS = ("n't", "'m", "'re", "'ve", "'ll", "'d")


def fold(word: str) -> str:
    """Light suffix folding: drowned/drowning -> drown, arrive/arrived -> arriv, ships -> ship;
    irregular forms first go to their base form (took -> take -> tak, men -> man)."""
    word = BASE_FORM.get(word, word)
    if len(word) <= 3 or not word.isalpha():
        return word
    if word.endswith("ies") and len(word) > 4:
        return word[:-3] + "y"
    for suffix, keep in (("ing", 3), ("ed", 3)):
        if word.endswith(suffix) and len(word) - len(suffix) >= keep:
            word = word[: -len(suffix)]
            if len(word) > 3 and word[-1] == word[-2] and word[-1] not in "lsz":
                word = word[:-1]  # stopped -> stop
            break
    else:
        if word.endswith("s") and not word.endswith(("ss", "us", "is")):
            word = word[:-1]
    return word[:-1] if word.endswith("e") and len(word) > 3 else word


@functools.lru_cache(maxsize=1 << 18)
def _term(word: str) -> str:
    """The index term of one lowercase word, or "" for a stopword (cached: a book's vocabulary
    is small next to its length)."""
    if "'" in word or "’" in word:
        word = word.replace("’", "'")
        if word.endswith(_CONTRACTIONS):
            return ""  # "doesn't", "I'm", "they'll": function words, never search terms
        if word.endswith("'s"):
            word = word[:-2]
    return "" if word in STOPWORDS else fold(word)


def terms(text: str) -> list[str]:
    """Index terms of `text`: lowercase words, possessive 's dropped, stopwords removed,
    suffixes folded."""
    return list(filter(None, map(_term, _TERM.findall(text.lower()))))


def sentence_spans(text: str) -> list[tuple[int, int]]:
    """Character spans of the sentences in `text` (whitespace trimmed, none empty). A paragraph
    break always ends a sentence: a heading without a full stop stays apart from the next line."""
    spans: list[tuple[int, int]] = []
    for para_start, para_end in paragraph_spans(text):
        spans.extend(_paragraph_sentences(text, para_start, para_end))
    return spans


def _paragraph_sentences(text: str, start: int, stop: int) -> list[tuple[int, int]]:
    spans: list[tuple[int, int]] = []
    for match in _SENTENCE_END.finditer(text, start, stop):
        end = match.end()
        previous_word = text[max(start, match.start() - 12) : match.start()].rsplit(None, 1)
        if match.group() == "." and previous_word and previous_word[-1].lower() in _ABBREVIATIONS:
            continue  # "Mr. Darcy" is one sentence
        if not _next_starts_sentence(text, end):
            continue
        spans.append((start, end))
        start = end
    spans.append((start, stop))
    return [trimmed for span in spans if (trimmed := _trim(text, *span))]


def _next_starts_sentence(text: str, end: int) -> bool:
    rest = text[end : end + 8].lstrip()
    return not rest or not rest[0].islower()


def _trim(text: str, start: int, end: int) -> tuple[int, int] | None:
    while start < end and text[start].isspace():
        start += 1
    while end > start and text[end - 1].isspace():
        end -= 1
    return (start, end) if end > start else None


def sentences(text: str) -> list[str]:
    return [text[s:e] for s, e in sentence_spans(text)]


def paragraph_spans(text: str) -> Iterator[tuple[int, int]]:
    """Spans of the non-blank paragraphs of a chapter's text."""
    start = 0
    while start <= len(text):
        end = text.find(PARAGRAPH_BREAK, start)
        if end < 0:
            end = len(text)
        if trimmed := _trim(text, start, end):
            yield trimmed
        start = end + len(PARAGRAPH_BREAK)


@dataclass(frozen=True)
class SentenceInfo:
    """One sentence of a chapter: its span, its word count and its index terms."""

    start: int
    end: int
    words: int
    terms: tuple[str, ...]


def analyse_words(text: str) -> tuple[int, tuple[str, ...]]:
    """(word count, index terms) of a piece of text, from one regex pass."""
    words = _TERM.findall(text.lower())
    return len(words), tuple(filter(None, map(_term, words)))  # "" (a stopword) is dropped


def chapter_layout(text: str) -> list[list[SentenceInfo]]:
    """The chapter's paragraphs, each a list of its sentences with words and terms. Computed
    once per chapter and shared by passage building, indexing and summaries."""
    layout = []
    for para_start, para_end in paragraph_spans(text):
        paragraph = []
        for s, e in _paragraph_sentences(text, para_start, para_end):
            words, found = analyse_words(text[s:e])
            paragraph.append(SentenceInfo(s, e, words, found))
        if paragraph:
            layout.append(paragraph)
    return layout


def _pieces(paragraph: list[SentenceInfo]) -> Iterator[list[SentenceInfo]]:
    """A paragraph whole, or groups of its sentences when it is over-long."""
    if sum(s.words for s in paragraph) <= MAX_WORDS:
        yield paragraph
        return
    piece: list[SentenceInfo] = []
    for sentence in paragraph:
        if piece and sum(s.words for s in piece) + sentence.words > MAX_WORDS:
            yield piece
            piece = []
        piece.append(sentence)
    if piece:
        yield piece


def chapter_passages(
    chapter: Chapter, first_id: int, layout: list[list[SentenceInfo]] | None = None
) -> list[tuple[Passage, list[str]]]:
    """Whole paragraphs of `chapter` grouped into passages of about MIN..MAX words, each with
    its index terms."""
    text = chapter.text
    layout = chapter_layout(text) if layout is None else layout
    groups: list[list[SentenceInfo]] = []
    for paragraph in layout:
        for piece in _pieces(paragraph):
            words = sum(s.words for s in piece)
            current = sum(s.words for s in groups[-1]) if groups else None
            if current is not None and current < MIN_WORDS and current + words <= MAX_WORDS:
                groups[-1].extend(piece)
            else:
                groups.append(list(piece))
    # A short tail joins the passage before it rather than standing alone.
    if len(groups) > 1 and sum(s.words for s in groups[-1]) < MIN_WORDS // 2:
        groups[-2].extend(groups.pop())
    passages = []
    for i, group in enumerate(groups):
        start, end = group[0].start, group[-1].end
        passage = Passage(
            id=first_id + i,
            chapter_index=chapter.index,
            chapter_title=chapter.title,
            start=start,
            end=end,
            text=text[start:end],
            pages=chapter.page_span_of(start, end),
        )
        passages.append((passage, [t for s in group for t in s.terms]))
    return passages


def book_layouts(book: Book) -> dict[int, list[list[SentenceInfo]]]:
    return {c.index: chapter_layout(c.text) for c in book.chapters}


def book_passages_with_terms(
    book: Book, layouts: dict[int, list[list[SentenceInfo]]] | None = None
) -> tuple[list[Passage], list[list[str]]]:
    """Every passage of the book in reading order (ids are positions) and its index terms."""
    passages: list[Passage] = []
    passage_terms: list[list[str]] = []
    for chapter in book.chapters:
        layout = layouts.get(chapter.index) if layouts else None
        for passage, found in chapter_passages(chapter, len(passages), layout):
            passages.append(passage)
            passage_terms.append(found)
    return passages, passage_terms


def book_passages(book: Book) -> list[Passage]:
    """Every passage of the book in reading order; ids are positions in this list."""
    return book_passages_with_terms(book)[0]
