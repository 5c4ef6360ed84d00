"""The extractive engine: no model weights, runs anywhere in seconds.

- `ask`: the shared search (`retrieval.lookup`: BM25 recall, `ranking` reorder and judgement)
  finds the passages; the answer quotes them, each with its best sentence marked, followed by
  their `Citation`s; a question that spans two places gets the second place cited second. A
  question the book does not answer gets "No good match" and the one-line reason
  (`found: false`), never the nearest words. `ask(..., chapter=i)` retrieves and cites only
  chapter i's passages; a question that names nothing but the chapter itself ("What happens in
  chapter 3?") gets the chapter's most central passages, in reading order.
- `summarize`: see `summaries`: about 250 / 800 / 2,500 words in all for short / medium / long,
  chapters listed in runs when there are too many, LexRank centrality with maximal marginal
  relevance, no dialogue, no sentence that leans on the one before.

Every answer and summary says plainly that it is extractive: quoted, not generated.
"""

from __future__ import annotations

from collections.abc import Iterator

from bookreader.book import Book, Citation
from bookreader.engines.base import (
    AnswerChunk,
    BookState,
    ChapterSummary,
    Length,
    ProgressCallback,
    Summary,
)
from bookreader.engines.passages import book_layouts, book_passages_with_terms
from bookreader.engines.retrieval import (  # Hit, PassageIndex, chapter_*: re-exported
    TOP_K,
    Hit,
    PassageIndex,
    PassageLocator,
    chapter_label,
    chapter_of,
    lookup,
    passage_index,
)
from bookreader.engines.summaries import (
    BOOK_SHARE,
    WORDS,
    Sentence,
    book_pool,
    chapter_sentences,
    choose,
    clean,
    plan_runs,
    ranked,
    run_candidates,
    run_title,
    spread,
    words,
)

__all__ = ["TOP_K", "ExtractiveEngine", "Hit", "PassageIndex", "chapter_label", "chapter_of"]

ENGINE_NAME = "extractive"
EXTRACTIVE_NOTICE = "Extractive answer: quoted passages from the book, not generated text."
SUMMARY_NOTICE = "Extractive summary: sentences quoted from the book, not generated text."
NO_MATCH = "No good match: {where} does not seem to answer this question."


class ExtractiveEngine:
    name = ENGINE_NAME
    model_id: str | None = None
    model_revision: str | None = None

    def __init__(self, top_k: int = TOP_K) -> None:
        self.top_k = top_k

    # -- reading --------------------------------------------------------------------------------

    def read(self, book: Book, progress: ProgressCallback | None = None) -> BookState:
        """Cut the book into passages and index them (the index is cached with the state)."""
        layouts = book_layouts(book)  # sentences and terms, computed once for everything
        passages, passage_terms = book_passages_with_terms(book, layouts)
        state = BookState(
            book=book,
            engine=self.name,
            model_id=None,
            passages=passages,
            index=PassageIndex.build(passages, passage_terms),
            layouts=layouts,
        )
        if progress:
            progress(len(passages), len(passages), "passages")
        return state

    # -- questions ------------------------------------------------------------------------------

    def search(
        self, state: BookState, question: str, k: int | None = None, chapter: int | None = None
    ) -> list[Hit]:
        """The passages that best answer `question` (within chapter index `chapter` when given),
        or [] when nothing answers it."""
        return self.lookup(state, question, k, chapter)[0]

    def lookup(
        self, state: BookState, question: str, k: int | None = None, chapter: int | None = None
    ) -> tuple[list[Hit], str]:
        """(the passages that answer `question`, best first; "") or ([], why none does)."""
        return lookup(state, question, k or self.top_k, chapter)

    @staticmethod
    def index(state: BookState) -> PassageIndex:
        """The state's passage index (see `retrieval.passage_index`)."""
        return passage_index(state)

    def ask(
        self, state: BookState, question: str, chapter: int | None = None
    ) -> Iterator[AnswerChunk]:
        hits, reason = self.lookup(state, question, chapter=chapter)
        if not hits:
            where = "the book" if chapter is None else chapter_label(state.book, chapter)
            yield f"{NO_MATCH.format(where=where)} (Extractive search: {reason}.)"
            return
        yield EXTRACTIVE_NOTICE + " The best-matching sentence of each is marked **like this**.\n"
        citations = []
        for number, hit in enumerate(hits, 1):
            citation = Citation.from_passage(hit.passage, hit.sentence, hit.score)
            citations.append(citation)
            yield f"\n[{number}] {citation.label()}\n{_mark(hit.passage.text, hit.sentence)}\n"
        yield from citations

    # -- summaries ------------------------------------------------------------------------------

    def summarize(
        self,
        state: BookState,
        length: Length = "medium",
        chapter: int | None = None,
        progress: ProgressCallback | None = None,
    ) -> Summary:
        """About WORDS[length] words in all (see `summaries`): the book paragraph, then each
        chapter, or each run of chapters when there are too many to list one by one."""
        budget = WORDS[length]
        chapters = state.book.chapters if chapter is None else [chapter_of(state.book, chapter)]
        book_budget = 0 if chapter is not None else int(budget * BOOK_SHARE)
        runs = plan_runs(chapters, budget - book_budget)
        per_run = (budget - book_budget) // max(len(runs), 1)
        locator = PassageLocator(state.passages)
        layouts = state.layouts or {}  # kept in memory by `read` in this run
        entries: list[ChapterSummary] = []
        best_of_runs: list[list[Sentence]] = []
        entry_picks: list[list[Sentence]] = []
        done = 0
        for run in runs:
            chapter_lists = [chapter_sentences(c.index, c.text, layouts.get(c.index)) for c in run]
            candidates, centrality, similarity = ranked(run_candidates(chapter_lists))
            title = run_title(run)
            picks = choose(candidates, centrality, similarity, per_run - words(title) - 1)
            entry_picks.append(picks)
            best_of_runs.append(book_pool(candidates, centrality, picks, book_budget, len(runs)))
            entries.append(
                ChapterSummary(
                    run[0].index,
                    title,
                    " ".join(clean(s.text) for s in picks),
                    tuple(locator.cite(s) for s in picks),
                    run[-1].index,
                )
            )
            done += len(run)
            if progress:
                progress(done, len(chapters), "chapters")
        if chapter is not None:
            text, citations = entries[0].text, entries[0].citations
        else:
            quoted = [s for entry in entry_picks for s in entry]
            book_picks = spread(best_of_runs, book_budget, used=quoted)
            text = " ".join(clean(s.text) for s in book_picks)
            citations = tuple(locator.cite(s) for s in book_picks)
        return Summary(
            text=text,
            chapters=tuple(entries),
            engine=self.name,
            length=length,
            strategy=None,
            citations=citations,
        )


# -- helpers --------------------------------------------------------------------------------------


def _mark(text: str, sentence: str) -> str:
    at = text.find(sentence)
    if at < 0 or not sentence:
        return text
    return f"{text[:at]}**{sentence}**{text[at + len(sentence) :]}"
