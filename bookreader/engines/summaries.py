"""Extractive summaries of a bounded length: LexRank centrality, chosen for coverage.

`--length` bounds the whole output, whatever the number of chapters: about `WORDS[length]`
words for the book paragraph, the chapter headings and the chapter summaries together. A share
`BOOK_SHARE` goes to the book paragraph, the rest to the chapter list; each entry of that list
costs about `ENTRY_WORDS`, so a book with more chapters than fit is listed in runs of
consecutive chapters of about equal length ("Chapters 1-27") instead of chapter by chapter.

Sentences:
- fit to quote on their own (`fit`): a full sentence of `MIN_SENTENCE_WORDS` to
  `MAX_SENTENCE_WORDS` words, not dialogue (no quotation marks), not opening with a word that
  points back at the previous sentence ("He", "But", "This"); a chapter with none keeps its
  plain sentences rather than say nothing;
- ranked by LexRank (Erkan & Radev 2004: cosine similarity of TF-IDF vectors, PageRank by power
  iteration) within each chapter, then the chapters' best compete within their run;
- chosen by maximal marginal relevance (Carbonell & Goldstein 1998): centrality minus
  similarity to what is already chosen, so near-duplicates are skipped;
- the book paragraph takes one sentence from each of as many equal sections of the book as its
  budget allows, so it covers the beginning, the middle and the end.
Graphs are capped at `MAX_CANDIDATES` sentences (pre-filtered by mean TF-IDF weight), so the
cost stays linear in the book's length.
"""

from __future__ import annotations

import math
import re
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from bookreader.book import Chapter
from bookreader.engines.passages import SentenceInfo, chapter_layout

WORDS: dict[str, int] = {"short": 250, "medium": 800, "long": 2500}
BOOK_SHARE = 0.4
ENTRY_WORDS = 30  # a chapter entry: its heading and one sentence
PER_CHAPTER_POOL = 3  # a chapter's best sentences that compete within its run
BOOK_POOL = 5  # at least this many of each run's sentences are offered to the book paragraph
SENTENCE_WORDS = 25  # a typical quoted sentence
MIN_SENTENCE_WORDS, MAX_SENTENCE_WORDS = 8, 40
MAX_CANDIDATES = 100  # sentences per LexRank graph
DAMPING = 0.85
MMR_LAMBDA = 0.7  # centrality against novelty
DUPLICATE = 0.5  # cosine similarity above which a sentence repeats one already chosen
# Openings that make a sentence lean on the one before it.
_LEANING = (
    "he she it they his her its their him them this that these those such thus hence "
    "but and or so yet then also however therefore meanwhile besides afterwards still"
)
LEANING_OPENINGS = frozenset(_LEANING.split())
# Double quotes anywhere, or a single quote opening or closing a word (not "ship’s").
_QUOTES = re.compile(r"[\"“”]|(?:^|\s)['‘]|['’](?:\s|$)")
_FIRST_WORD = re.compile(r"[^\W\d_]+")


@dataclass(frozen=True)
class Sentence:
    chapter_index: int
    start: int
    end: int
    text: str
    terms: tuple[str, ...]


def chapter_sentences(
    chapter_index: int, text: str, layout: list[list[SentenceInfo]] | None = None
) -> list[Sentence]:
    """Sentences of a sensible length for a summary: not fragments, not walls of text."""
    layout = chapter_layout(text) if layout is None else layout
    return [
        Sentence(chapter_index, info.start, info.end, text[info.start : info.end], info.terms)
        for paragraph in layout
        for info in paragraph
        if MIN_SENTENCE_WORDS <= info.words <= MAX_SENTENCE_WORDS
    ]


def fit(sentence: Sentence) -> bool:
    """Whether a sentence reads well on its own: not dialogue, not leaning on the previous
    sentence, and a statement (a question or an exclamation in a novel is nearly always
    speech)."""
    text = sentence.text.strip()
    first = _FIRST_WORD.search(text)
    if first is None or first.group().lower() in LEANING_OPENINGS or not text[0].isupper():
        return False
    return not _QUOTES.search(text) and text.endswith(".")  # questions, cries: speech


def clean(sentence: str) -> str:
    """A sentence on one line, as summaries show it."""
    return " ".join(sentence.split())


def words(text: str) -> int:
    return len(text.split())


# -- grouping ---------------------------------------------------------------------------------


def plan_runs(chapters: Sequence[Chapter], budget: int) -> list[list[Chapter]]:
    """The chapters one by one when their entries fit the budget, else runs of consecutive
    chapters of about equal word count, as many as fit."""
    slots = max(1, budget // ENTRY_WORDS)
    if len(chapters) <= slots:
        return [[c] for c in chapters]
    sizes = np.array([max(words(c.text), 1) for c in chapters], dtype=float)
    ends = np.cumsum(sizes) / sizes.sum()
    runs: list[list[Chapter]] = [[] for _ in range(slots)]
    for chapter, end in zip(chapters, ends, strict=True):
        runs[min(math.ceil(end * slots) - 1, slots - 1)].append(chapter)
    return [run for run in runs if run]


def run_title(run: Sequence[Chapter]) -> str:
    if len(run) == 1:
        return run[0].title
    return f"Chapters {run[0].index + 1}-{run[-1].index + 1}"


# -- ranking and choosing ---------------------------------------------------------------------


def ranked(sentences: list[Sentence]) -> tuple[list[Sentence], np.ndarray, np.ndarray]:
    """The candidates (at most MAX_CANDIDATES, reading order), their LexRank centrality scaled
    to a maximum of 1, and their similarity matrix."""
    candidates = _prefilter(sentences, MAX_CANDIDATES)
    if not candidates:
        return [], np.zeros(0), np.zeros((0, 0))
    similarity = cosine_similarity(candidates)
    scores = lexrank(similarity)
    return candidates, scores / scores.max(), similarity


def choose(
    candidates: list[Sentence],
    centrality: np.ndarray,
    similarity: np.ndarray,
    budget: int,
    at_least_one: bool = True,
) -> list[Sentence]:
    """Maximal marginal relevance under a word budget, in reading order."""
    chosen: list[int] = []
    used = 0
    left = set(range(len(candidates)))
    while left:
        redundancy = similarity[:, chosen].max(axis=1) if chosen else np.zeros(len(candidates))
        gain = MMR_LAMBDA * centrality - (1 - MMR_LAMBDA) * redundancy
        fitting = [
            i
            for i in left
            if used + words(candidates[i].text) <= budget and redundancy[i] < DUPLICATE
        ]
        if not fitting:
            if chosen or not at_least_one:
                break
            fitting = [min(left, key=lambda i: words(candidates[i].text))]  # one, however long
        best = max(fitting, key=lambda i: gain[i])
        chosen.append(best)
        used += words(candidates[best].text)
        left.discard(best)
    return [candidates[i] for i in sorted(chosen, key=lambda i: candidates[i].start)]


def preferred(sentences: list[Sentence]) -> list[Sentence]:
    """The sentences fit to quote alone, or all of them when none is."""
    good = [s for s in sentences if fit(s)]
    return good or sentences


def chapter_pool(sentences: list[Sentence], size: int) -> list[Sentence]:
    """A chapter's `size` most central sentences, the ones fit to quote alone first."""
    candidates, centrality, _ = ranked(preferred(sentences))
    order = np.argsort(-centrality, kind="stable")[:size]
    return [candidates[i] for i in order]


def run_candidates(chapter_lists: list[list[Sentence]]) -> list[Sentence]:
    """What a run's summary is chosen from: a lone chapter's sentences (fit ones first), or the
    `PER_CHAPTER_POOL` most central of each chapter of a longer run."""
    if len(chapter_lists) == 1:
        return preferred(chapter_lists[0])
    return [s for sentences in chapter_lists for s in chapter_pool(sentences, PER_CHAPTER_POOL)]


def rank_sentences(sentences: list[Sentence], k: int) -> list[Sentence]:
    """The k most central sentences (LexRank), in no particular order."""
    if len(sentences) <= k:
        return list(sentences)
    candidates, scores, _ = ranked(sentences)
    return [candidates[i] for i in np.argsort(-scores, kind="stable")[:k]]


def book_pool(
    candidates: list[Sentence],
    centrality: np.ndarray,
    picks: Sequence[Sentence],
    book_budget: int,
    runs: int,
) -> list[Sentence]:
    """A run's offer to the book paragraph: its most central sentences that its entry does not
    quote yet (twice its share of the paragraph), topped up with quoted ones when it has few."""
    size = max(BOOK_POOL, 2 * book_budget // (SENTENCE_WORDS * max(runs, 1)))
    quoted = {(s.chapter_index, s.start) for s in picks}
    order = [candidates[i] for i in np.argsort(-centrality, kind="stable")]
    fresh = [s for s in order if (s.chapter_index, s.start) not in quoted]
    return (fresh + [s for s in order if s not in fresh])[:size]


def positions(sentences: Sequence[Sentence]) -> list[float]:
    """Where each sentence stands in the book, from 0 to 1: its chapter's place among the
    chapters seen, plus its place in that chapter (as far as the sentences seen tell)."""
    chapters = sorted({s.chapter_index for s in sentences})
    rank = {c: n for n, c in enumerate(chapters)}
    extent: dict[int, int] = {}
    for s in sentences:
        extent[s.chapter_index] = max(extent.get(s.chapter_index, 0), s.end)
    return [
        (rank[s.chapter_index] + s.start / (extent[s.chapter_index] + 1)) / len(chapters)
        for s in sentences
    ]


def reading_order(sentence: Sentence) -> tuple[int, int]:
    return sentence.chapter_index, sentence.start


def spread(
    pools: list[list[Sentence]], budget: int, used: Sequence[Sentence] = ()
) -> list[Sentence]:
    """The book paragraph: the runs split into equal sections, one sentence from each as long
    as the budget lasts, each the most central and least redundant of its section; none of the
    sentences `used` already (by the chapter entries)."""
    taken = {(s.chapter_index, s.start) for s in used}
    every = sorted((s for pool in pools for s in pool), key=reading_order)
    # A short book whose chapter entries quote everything central shares their sentences.
    flat = [s for s in every if (s.chapter_index, s.start) not in taken] or every
    if not flat:
        return []
    candidates, centrality, similarity = ranked(flat)
    sections = max(1, min(len(candidates), budget // SENTENCE_WORDS))
    # Sections of the book by position (chapter, then place in it), not by count of candidates.
    position = np.array([positions(candidates)]).ravel()
    section_of = np.minimum((position * sections).astype(int), sections - 1)
    chosen: list[int] = []
    used_words = 0
    for section in range(sections):
        span = np.flatnonzero(section_of == section)
        if not len(span):
            continue
        redundancy = similarity[np.ix_(span, chosen)].max(axis=1) if chosen else 0.0
        gain = MMR_LAMBDA * centrality[span] - (1 - MMR_LAMBDA) * redundancy
        for i in span[np.argsort(-gain, kind="stable")]:
            duplicate = chosen and similarity[i, chosen].max() >= DUPLICATE
            if used_words + words(candidates[i].text) <= budget and not duplicate:
                chosen.append(int(i))
                used_words += words(candidates[i].text)
                break
    return [candidates[i] for i in sorted(chosen)]


# -- LexRank ----------------------------------------------------------------------------------


def _idf(sentences: list[Sentence]) -> dict[str, float]:
    df = Counter(t for s in sentences for t in set(s.terms))
    n = len(sentences)
    return {t: math.log((1 + n) / (1 + d)) + 1.0 for t, d in df.items()}


def _prefilter(sentences: list[Sentence], limit: int) -> list[Sentence]:
    """Keep the `limit` sentences with the highest mean TF-IDF weight, in reading order."""
    if len(sentences) <= limit:
        return sentences
    idf = _idf(sentences)
    weights = [sum(idf[t] for t in s.terms) / (len(s.terms) + 1) for s in sentences]
    keep = sorted(np.argsort(weights, kind="stable")[::-1][:limit])
    return [sentences[i] for i in keep]


def cosine_similarity(sentences: list[Sentence]) -> np.ndarray:
    """Cosine similarity of the sentences' TF-IDF vectors (n x n), idf = ln((1+n)/(1+df)) + 1.

    Vectorised: (sentence, term) pairs are counted with numpy, then the normalised vectors'
    dot products are summed term by term (`_sparse_gram`)."""
    n = len(sentences)
    every_term = [t for s in sentences for t in s.terms]
    if not every_term:
        return np.zeros((n, n))
    vocab, term_ids = np.unique(np.array(every_term), return_inverse=True)
    v = len(vocab)
    rows = np.repeat(np.arange(n), [len(s.terms) for s in sentences])
    pairs, counts = np.unique(rows * v + term_ids, return_counts=True)
    row, col = pairs // v, pairs % v
    df = np.bincount(col, minlength=v)
    weight = counts * (np.log((1 + n) / (1 + df)) + 1.0)[col]
    norms = np.sqrt(np.bincount(row, weights=weight * weight, minlength=n))
    unit = weight / np.maximum(norms, 1e-12)[row]  # entries of the L2-normalised rows
    return _sparse_gram(row, col, unit, n, norms > 0)


def _sparse_gram(
    row: np.ndarray, col: np.ndarray, value: np.ndarray, n: int, nonempty: np.ndarray
) -> np.ndarray:
    """X @ X.T for the sparse X given as (row, col, value) entries, without BLAS.

    Every pair of entries sharing a column adds value * value to (row, row'). Summing these
    products with bincount is exact and fast on sparse text vectors, and avoids a multithreaded
    BLAS call whose thread start-up dominates on matrices this small."""
    order = np.argsort(col, kind="stable")
    row, col, value = row[order], col[order], value[order]
    _, starts, sizes = np.unique(col, return_index=True, return_counts=True)
    group_size = np.repeat(sizes, sizes)  # for each entry, the size of its column group
    group_start = np.repeat(starts, sizes)
    left = np.repeat(np.arange(len(row)), group_size)
    # right: for each left entry, every entry of its column group in turn
    block_start = np.repeat(np.cumsum(group_size) - group_size, group_size)
    right = np.repeat(group_start, group_size) + (np.arange(len(left)) - block_start)
    flat = row[left] * n + row[right]
    similarity = np.bincount(flat, weights=value[left] * value[right], minlength=n * n)
    similarity = similarity.reshape(n, n)
    np.fill_diagonal(similarity, nonempty.astype(float))  # self-similarity: 1 unless empty
    return similarity


def lexrank(similarity: np.ndarray, damping: float = DAMPING, tol: float = 1e-6) -> np.ndarray:
    """Stationary distribution of the random walk on the similarity graph (power iteration).

    Continuous LexRank: edge weights are cosine similarities; each row is normalised into
    transition probabilities; a sentence similar to nothing jumps uniformly.
    """
    n = similarity.shape[0]
    weights = similarity.astype(np.float64).copy()
    np.fill_diagonal(weights, 0.0)
    row_sums = weights.sum(axis=1, keepdims=True)
    transition = np.where(row_sums > 0, weights / np.where(row_sums > 0, row_sums, 1), 1.0 / n)
    rank = np.full(n, 1.0 / n)
    for _ in range(200):
        updated = (1 - damping) / n + damping * (rank @ transition)
        if np.abs(updated - rank).sum() < tol:
            return updated
        rank = updated
    return rank
