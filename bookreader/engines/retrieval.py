"""Passage retrieval shared by both engines: the BM25 index of a book's passages and the search
that answers a question from it.

The extractive engine quotes what `lookup` finds; the infini engine shows the same passages to
its model and cites them. Neither engine imports the other: both import this module.

- `PassageIndex` (in `index.py`): BM25 (bm25s) over passages, saved next to a cached state.
- `lookup`: BM25 recalls `CANDIDATES` passages; `ranking` reorders them on the question's focus
  and on how near each other its words stand, and judges whether the best ones answer it
  (else returns why not). `lookup(..., chapter=i)`, or a question naming a chapter (`scope`),
  searches chapter i only (a word the chapter never uses counts as unknown there); a question
  that names nothing but the chapter ("What happens in chapter 3?") gets the chapter's most
  central passages, one about the book's end or beginning its last or first ones
  (`central_hits`).
"""

from __future__ import annotations

from bisect import bisect_right
from collections.abc import Sequence
from dataclasses import dataclass, replace

import numpy as np

from bookreader.book import Book, Chapter, Citation, Passage
from bookreader.engines.base import BookState
from bookreader.engines.index import PassageIndex
from bookreader.engines.passages import terms
from bookreader.engines.ranking import (
    CANDIDATES,
    Question,
    Weights,
    choose_passages,
    judge,
    never_mentioned,
    parse_question,
    rerank,
)
from bookreader.engines.scope import Scope, chapter_reference_terms, question_scope
from bookreader.engines.summaries import Sentence, chapter_sentences, clean, ranked
from bookreader.errors import UsageError

TOP_K = 3  # passages an answer quotes or a prompt starts from


@dataclass(frozen=True)
class Hit:
    passage: Passage
    score: float
    sentence: str


def passage_index(state: BookState) -> PassageIndex:
    """The BM25 index of a state: built by the engine's `read`, else loaded from the cache
    folder `StateCache.load` named (`state.index_path`), else built now; kept on the state."""
    if state.index is None:
        path = state.index_path
        state.index = (
            PassageIndex.load(path, state.passages) if path else PassageIndex.build(state.passages)
        )
    return state.index


def lookup(
    state: BookState, question: str, k: int = TOP_K, chapter: int | None = None
) -> tuple[list[Hit], str]:
    """(the passages that answer `question`, best first; "") or ([], why none does).

    A place the question names (or `chapter`) scopes the search; a question that only names
    the place ("What happens in chapter 3?", "How does it end?") gets its central or edge
    passages. Otherwise `search_passages` finds and judges the answer."""
    place = (
        Scope(chapter_of(state.book, chapter).index)
        if chapter is not None
        else question_scope(question, state.book)
    )
    if isinstance(place, str):  # it names a chapter the book does not have
        return [], place
    parsed = parse_question(question)
    if place is None:
        return search_passages(state, parsed, k)
    scope = chapter_of(state.book, place.chapter)
    query = set(parsed.terms) - chapter_reference_terms(scope) - place.words
    if not query - set(terms(scope.title)):  # only names the place: what happens there?
        return central_hits(state, scope, k, place.edge), ""
    parsed = replace(parsed, terms=tuple(t for t in parsed.terms if t in query))
    return search_passages(state, parsed, k, place.chapter)


def search_passages(
    state: BookState, parsed: Question, k: int, chapter: int | None = None
) -> tuple[list[Hit], str]:
    """BM25 recalls `CANDIDATES` passages (of chapter index `chapter` only, when given);
    `ranking` reorders them on the question's focus and on how close together its words are,
    and judges whether the best ones answer it."""
    index = passage_index(state)
    query = set(parsed.terms)
    allowed = None if chapter is None else index.chapters == chapter
    known = {t for t in query if index.knows(t)}
    # Most of the question's words must occur in the book at all: an off-topic question
    # shares a stray word or two with any long book, a nonsense one shares none.
    if not query or len(known) * 2 <= len(query):
        return [], "most of its words never occur in the book"
    # The book's title and author name it even where its text never does ("Melville's").
    about = set(terms(f"{state.book.title} {state.book.author or ''}"))
    absent = never_mentioned(parsed, lambda term: index.knows(term) or term in about)
    if absent:
        return [], absent
    scores = index.scores(sorted(known))
    if allowed is not None:
        scores = np.where(allowed, scores, np.float32(0.0))
    candidates = [int(i) for i in np.argsort(-scores, kind="stable")[:CANDIDATES]]
    candidates = [i for i in candidates if scores[i] > 0]
    if not candidates:
        return [], "no passage holds any of its key words"
    # Within a chapter, a word the chapter never uses weighs as an unknown word does.
    in_scope = known if allowed is None else {t for t in known if allowed[index.holding(t)].any()}
    weights = Weights(
        parsed,
        {t: index.idf(t) for t in in_scope},
        {t: index.idf(t) for t in known - in_scope},
    )
    texts = [index.passages[i].text for i in candidates]
    reranked = rerank(candidates, texts, scores[candidates], weights)
    chosen = choose_passages(reranked, weights, k)
    reason = judge(parsed, weights, chosen, reranked)
    if reason:
        return [], reason
    hits = []
    for scored in chosen:
        passage = index.passages[scored.passage_id]
        start, end = scored.sentence
        hits.append(Hit(passage, scored.score, passage.text[start:end]))
    return hits, ""


def search(
    state: BookState, question: str, k: int = TOP_K, chapter: int | None = None
) -> list[Hit]:
    """The passages that best answer `question` (within chapter index `chapter` when given),
    or [] when nothing answers it."""
    return lookup(state, question, k, chapter)[0]


def chapter_of(book: Book, index: int) -> Chapter:
    """The chapter with 0-based `index`, or a usage error naming the valid range."""
    for chapter in book.chapters:
        if chapter.index == index:
            return chapter
    raise UsageError(
        f"chapter {index + 1} is not in the book (it has chapters 1-{len(book.chapters)})"
    )


def chapter_label(book: Book, index: int) -> str:
    """How an answer names a chapter (see `Chapter.label`); a usage error for one not in it."""
    return chapter_of(book, index).label()


def central_hits(state: BookState, chapter: Chapter, k: int, edge: str | None = None) -> list[Hit]:
    """The chapter's k passages holding its most central sentences (LexRank), in reading
    order, each with that sentence marked: what a "what happens here" question is after.
    With `edge` "start" or "end", its first or last k passages instead ("How does it end?"),
    each with its most central sentence marked (or whole, when none of its sentences ranks)."""
    own = [p for p in state.passages if p.chapter_index == chapter.index]
    if not own:
        return []
    layouts = state.layouts or {}
    sentences, ranks, _ = ranked(
        chapter_sentences(chapter.index, chapter.text, layouts.get(chapter.index))
    )
    # Each passage's most central sentence, passages in the order of those sentences' ranks.
    locator = PassageLocator(own)
    best: dict[int, Hit] = {}
    for i in np.argsort(-ranks, kind="stable"):
        passage = locator.passage_of(sentences[i])
        best.setdefault(passage.id, Hit(passage, float(ranks[i]), sentences[i].text))
    if edge or not best:  # an edge, or nothing sentence-like to rank: the passages there
        chosen = own[-k:] if edge == "end" else own[:k]
        return [best.get(p.id, Hit(p, 0.0, p.text)) for p in chosen]
    return sorted(list(best.values())[:k], key=lambda hit: hit.passage.start)


class PassageLocator:
    """Finds the passage holding a sentence (passages are sorted by chapter, then start)."""

    def __init__(self, passages: Sequence[Passage]) -> None:
        self.passages = passages
        self.keys = [(p.chapter_index, p.start) for p in passages]

    def passage_of(self, sentence: Sentence) -> Passage:
        at = max(bisect_right(self.keys, (sentence.chapter_index, sentence.start)) - 1, 0)
        return self.passages[at]

    def cite(self, sentence: Sentence) -> Citation:
        return Citation.from_passage(self.passage_of(sentence), clean(sentence.text))
