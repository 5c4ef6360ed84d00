"""The extractive engine on a hand-built book: answers quote and cite the right passages, decline
questions the book does not answer, and summaries rank by centrality (checked against an
independent eigenvector computation) with length control and reading order."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from bookreader.book import Book, Chapter, Citation
from bookreader.engines import registry
from bookreader.engines.base import BookState, Summary
from bookreader.engines.extractive import EXTRACTIVE_NOTICE, TOP_K, ExtractiveEngine
from bookreader.engines.passages import terms
from bookreader.engines.summaries import (
    WORDS,
    Sentence,
    chapter_sentences,
    cosine_similarity,
    lexrank,
    rank_sentences,
)
from bookreader.errors import UsageError

CHAPTERS = [
    (
        "The Mill",
        [
            "Orla Venn came to the mill at Ashcombe in the wet spring of 1902. The miller, a "
            "silent man called Tobias Crane, showed her the grinding floor and the sack hoist.",
            "The millstones were French burr, shipped from La Ferté in forty pieces and set in "
            "plaster. Crane said that the runner stone turned one hundred and twenty times a minute.",
            "That night Orla hid her mother's brass compass behind the loose brick above the "
            "bread oven, because she trusted nobody at the mill yet.",
        ],
    ),
    (
        "The Flood",
        [
            "In October the river Wend rose nine feet in a single night. The water came through "
            "the wheel pit and carried away the footbridge and two hundred sacks of barley.",
            "Crane and the carter, a cheerful boy named Alfie Dunn, worked until dawn moving the "
            "flour to the upper floor. The damage was paid for by the parish.",
            "After the flood the mill stood idle for six weeks while the wheel was rebuilt with "
            "oak from the Hadley estate.",
        ],
    ),
    (
        "The Letter",
        [
            "A letter came in December from a solicitor in Exeter. It said that the mill had "
            "been left to Orla by her great-aunt, Marian Venn, who had died in the autumn.",
            "Crane read the letter twice and said nothing. He went out to the wheel and stayed "
            "there until the lamps were lit.",
        ],
    ),
    (
        "The Brick",
        [
            "In the new year Alfie Dunn was sweeping soot from the bread oven when a loose brick "
            "fell into his hands. Behind it he found a small brass instrument wrapped in a rag.",
            "He gave it to Orla at supper. She laughed, the first time anyone at the mill had "
            "heard her laugh, and told him it had belonged to her mother.",
        ],
    ),
]


def make_book(chapters: list[tuple[str, list[str]]] = CHAPTERS) -> Book:
    built = [Chapter(i, title, "\n\n".join(paras)) for i, (title, paras) in enumerate(chapters)]
    return Book(Path("mill.txt"), "The Mill", "A. Writer", "en", "txt", built, "ab" * 32)


@pytest.fixture
def engine() -> ExtractiveEngine:
    return ExtractiveEngine()


def answer(engine: ExtractiveEngine, book: Book, question: str) -> tuple[str, list[Citation]]:
    state = engine.read(book)
    chunks = list(engine.ask(state, question))
    texts = [c for c in chunks if isinstance(c, str)]
    citations = [c for c in chunks if isinstance(c, Citation)]
    # Text first, then citations: a stream ends with its sources.
    assert chunks == texts + citations
    return "".join(texts), citations


def test_answer_quotes_and_cites_the_passage_holding_the_fact(engine: ExtractiveEngine) -> None:
    text, citations = answer(engine, make_book(), "How far did the river Wend rise in one night?")
    assert text.startswith(EXTRACTIVE_NOTICE)
    assert citations[0].chapter_index == 1 and citations[0].chapter_title == "The Flood"
    assert "nine feet" in citations[0].sentence
    assert f"**{citations[0].sentence}**" in text  # the best sentence is marked in the quote
    assert citations[0].text in text.replace("**", "")
    assert 'ch. 2 "The Flood"' in text


def test_best_sentence_is_the_one_with_most_question_weight(engine: ExtractiveEngine) -> None:
    _, citations = answer(engine, make_book(), "Who paid for the damage?")
    assert citations[0].sentence == "The damage was paid for by the parish."


def test_cross_chapter_question_cites_both_chapters(engine: ExtractiveEngine) -> None:
    # Chapter 1 says where the compass was hidden; chapter 4 says who found the brass thing.
    question = "Who found the compass that Orla hid behind the loose brick above the bread oven?"
    _, citations = answer(engine, make_book(), question)
    cited = {c.chapter_index for c in citations}
    assert {0, 3} <= cited
    assert any("Alfie Dunn" in c.text for c in citations if c.chapter_index == 3)


@pytest.mark.parametrize(
    "question",
    [
        "Xylophone quibbled zorbs frangulate?",  # nonsense: no word of it is in the book
        "What is the boiling point of mercury on the planet Mars?",  # off-topic
        "Which football team won the 1998 World Cup final in Paris?",  # off-topic
    ],
)
def test_questions_the_book_does_not_answer_are_declined(
    engine: ExtractiveEngine, question: str
) -> None:
    text, citations = answer(engine, make_book(), question)
    assert citations == []
    assert text.startswith("No good match")


def test_search_threshold_is_relative_to_the_question(engine: ExtractiveEngine) -> None:
    state = engine.read(make_book())
    # The same off-topic words, once joined by two words of the book, still do not match...
    assert engine.search(state, "mercury planet Mars boiling Crane") == []
    # ...while the book's own words do, with every content word of the question present.
    hits = engine.search(state, "mercury Crane wheel rebuilt oak")
    assert hits and hits[0].passage.chapter_index == 1


# -- questions about one chapter ----------------------------------------------------------------


def ask_chapter(
    engine: ExtractiveEngine, state: BookState, question: str, chapter: int
) -> tuple[str, list[Citation]]:
    chunks = list(engine.ask(state, question, chapter=chapter))
    texts = [c for c in chunks if isinstance(c, str)]
    citations = [c for c in chunks if isinstance(c, Citation)]
    assert chunks == texts + citations
    return "".join(texts), citations


def test_a_question_scoped_to_a_chapter_cites_only_that_chapter(engine: ExtractiveEngine) -> None:
    state = engine.read(make_book())
    # Unscoped, this question draws on chapters 1 and 4 (see the cross-chapter test above).
    question = "Who found the compass that Orla hid behind the loose brick above the bread oven?"
    _, brick = ask_chapter(engine, state, question, chapter=3)
    assert brick and {c.chapter_index for c in brick} == {3}
    assert "Alfie Dunn" in brick[0].text
    _, mill = ask_chapter(engine, state, question, chapter=0)
    assert mill and {c.chapter_index for c in mill} == {0}
    assert "brass compass" in mill[0].sentence


def test_a_scoped_question_the_chapter_does_not_answer_is_declined(
    engine: ExtractiveEngine,
) -> None:
    state = engine.read(make_book())
    assert engine.search(state, "How far did the river Wend rise in one night?")  # chapter 2 does
    text, citations = ask_chapter(
        engine, state, "How far did the river Wend rise in one night?", chapter=2
    )
    assert citations == []
    assert text.startswith('No good match: chapter 3, "The Letter" does not seem to answer')


def test_what_happens_in_a_chapter_quotes_its_most_central_passages(
    engine: ExtractiveEngine,
) -> None:
    book = make_book()
    state = engine.read(book)
    for chapter in book.chapters:
        question = f'What happens in chapter {chapter.index + 1}, "{chapter.title}"?'
        text, citations = ask_chapter(engine, state, question, chapter.index)
        assert citations and {c.chapter_index for c in citations} == {chapter.index}
        assert text.startswith(EXTRACTIVE_NOTICE)
        # Reference: the chapter's most central sentence by the eigenvector computation.
        sentences = chapter_sentences(chapter.index, chapter.text)
        similarity = naive_similarity(sentences)
        reference = dict(zip((s.text for s in sentences), naive_lexrank(similarity), strict=True))
        # A most central sentence (ties are possible) is quoted and marked.
        cited = [c.sentence for c in citations]
        assert np.isclose(max(reference[s] for s in cited), max(reference.values()))
        assert all(f"**{s}**" in text for s in cited)
        # Passages are quoted in reading order.
        assert [c.passage_id for c in citations] == sorted(c.passage_id for c in citations)


def test_an_unknown_chapter_is_a_usage_error(engine: ExtractiveEngine) -> None:
    state = engine.read(make_book())
    with pytest.raises(UsageError, match="chapter 5 is not in the book"):
        list(engine.ask(state, "Who paid for the damage?", chapter=4))


def ledger_questions(samples: Path) -> list[dict]:
    lines = (samples / "questions.jsonl").read_text(encoding="utf-8").splitlines()
    return [json.loads(line) for line in lines if line.strip()]


def test_sample_book_chapter_questions_cite_only_that_chapter(samples: Path) -> None:
    engine = ExtractiveEngine()
    book = registry.load_book(samples / "the-lighthouse-keepers-ledger.epub")
    state = engine.read(book)
    assert len(book.chapters) >= 4
    for chapter in book.chapters:
        question = f'What happens in "{chapter.title}"?'
        _, citations = ask_chapter(engine, state, question, chapter.index)
        assert len(citations) == TOP_K, chapter.title
        assert all(c.chapter_index == chapter.index for c in citations), chapter.title
        # The chapter's most central sentence (the same centrality) is among the quotes.
        (top,) = rank_sentences(chapter_sentences(chapter.index, chapter.text), 1)
        assert " ".join(top.text.split()) in {" ".join(c.sentence.split()) for c in citations}
    # The sample questions, each scoped to the chapter holding its evidence: answered there.
    for q in ledger_questions(samples):
        if q["kind"] != "single":
            continue
        evidence = q["evidence_chapters"][0] - 1
        _, citations = ask_chapter(engine, state, q["question"], evidence)
        assert citations and all(c.chapter_index == evidence for c in citations), q
        assert any(q["answer"].lower() in " ".join(c.text.split()).lower() for c in citations), q


# -- summaries ----------------------------------------------------------------------------------


def naive_lexrank(similarity: np.ndarray, damping: float = 0.85) -> np.ndarray:
    """Reference: the stationary distribution as the principal eigenvector of the Google matrix."""
    n = len(similarity)
    weights = similarity.copy()
    np.fill_diagonal(weights, 0.0)
    rows = []
    for i in range(n):
        total = weights[i].sum()
        rows.append(weights[i] / total if total > 0 else np.full(n, 1.0 / n))
    google = damping * np.array(rows) + (1 - damping) / n
    values, vectors = np.linalg.eig(google.T)
    principal = np.real(vectors[:, np.argmax(np.real(values))])
    return principal / principal.sum()


def naive_cosine(a: list[str], b: list[str], idf: dict[str, float]) -> float:
    va = {t: a.count(t) * idf[t] for t in set(a)}
    vb = {t: b.count(t) * idf[t] for t in set(b)}
    dot = sum(va[t] * vb.get(t, 0.0) for t in va)
    return dot / (
        np.sqrt(sum(v * v for v in va.values())) * np.sqrt(sum(v * v for v in vb.values()))
    )


def naive_similarity(sentences: list[Sentence]) -> np.ndarray:
    """Cosine of every sentence pair over tf x smoothed idf, computed term by term."""
    n = len(sentences)
    df: dict[str, int] = {}
    for s in sentences:
        for t in set(s.terms):
            df[t] = df.get(t, 0) + 1
    idf = {t: np.log((1 + n) / (1 + d)) + 1.0 for t, d in df.items()}
    return np.array(
        [[naive_cosine(list(a.terms), list(b.terms), idf) for b in sentences] for a in sentences]
    )


def test_lexrank_matches_the_eigenvector_reference() -> None:
    rng = np.random.default_rng(0)
    raw = rng.random((12, 12))
    similarity = (raw + raw.T) / 2
    similarity[3, :] = similarity[:, 3] = 0.0  # an isolated sentence jumps uniformly
    np.testing.assert_allclose(lexrank(similarity), naive_lexrank(similarity), atol=1e-5)


def test_cosine_similarity_matches_a_naive_computation() -> None:
    texts = [
        "The keeper lit the lamp at dusk.",
        "The lamp burned colza oil all night.",
        "At dusk the keeper climbed to the lamp room.",
        "Fog came in from the sea.",
    ]
    sentences = [Sentence(0, i, i + 1, t, tuple(terms(t))) for i, t in enumerate(texts)]
    expected = naive_similarity(sentences)
    np.testing.assert_allclose(cosine_similarity(sentences), expected, atol=1e-9)


def test_the_central_sentence_wins() -> None:
    hub = "Keeper lamp fog bell ledger rock."
    spokes = [
        "Keeper gulls nested noisily.",
        "Lamp wicks smoked badly.",
        "Fog horns moaned somewhere.",
        "Bell ropes frayed quickly.",
        "Ledger pages yellowed slowly.",
        "Rock pools glittered brightly.",
    ]
    texts = [*spokes[:3], hub, *spokes[3:]]
    sentences = [Sentence(0, i, i + 1, t, tuple(terms(t))) for i, t in enumerate(texts)]
    assert [s.text for s in rank_sentences(sentences, 1)] == [hub]


def long_book() -> Book:
    topics = ["lamp", "fog", "bell", "ledger", "boat", "rock"]
    chapters = []
    for c in range(3):
        sentences = [
            f"In chapter {c} the keeper spoke about the {topics[(c + i) % 6]} and the "
            f"{topics[(c + 2 * i) % 6]} for the {i + 1}th time that season."
            for i in range(20)
        ]
        paragraphs = [" ".join(sentences[i : i + 5]) for i in range(0, 20, 5)]
        chapters.append((f"Part {c}", paragraphs))
    return make_book(chapters)


def test_summary_length_control_and_reading_order(engine: ExtractiveEngine) -> None:
    rng = np.random.default_rng(1)
    chapters = [(f"Part {c}", [varied_sentences(rng, 5) for _ in range(8)]) for c in range(3)]
    state = engine.read(make_book(chapters))
    counts = {}
    for length in ("short", "medium", "long"):
        summary = engine.summarize(state, length=length)
        assert [c.chapter_index for c in summary.chapters] == [0, 1, 2]  # few: one by one
        for chapter in summary.chapters:
            assert chapter.citations
            offsets = [
                state.book.chapters[chapter.chapter_index].text.index(c.sentence)
                for c in chapter.citations
            ]
            assert offsets == sorted(offsets)  # reading order
        keys = [
            (c.chapter_index, c.passage_id, c.text.index(c.sentence)) for c in summary.citations
        ]
        assert keys == sorted(keys)
        for citation in summary.citations:
            assert citation.sentence in summary.text and citation.sentence in citation.text
        counts[length] = output_words(summary)
        assert counts[length] <= WORDS[length]
    assert counts["short"] < counts["medium"] < counts["long"]


def output_words(summary: Summary) -> int:
    """Words of a summary as printed: the book paragraph, each entry's heading and text."""
    entries = sum(len(f"{c.chapter_title} {c.text}".split()) + 1 for c in summary.chapters)
    return len(summary.text.split()) + entries


def varied_sentences(rng: np.random.Generator, count: int) -> str:
    """`count` plain statements of 10-14 made-up words each, few words shared between any
    two (a vocabulary of 400 words), so none is a near-duplicate of another."""
    vocabulary = [a + b + c for a in "bdkmt" for b in "aeiou" for c in ["l", "n", "r", "s"] * 4]
    vocabulary = [f"{w}{i}" for i, w in enumerate(vocabulary)]
    out = []
    for _ in range(count):
        chosen = rng.choice(vocabulary, size=int(rng.integers(10, 15)), replace=False)
        out.append(" ".join(chosen).capitalize().replace("0", "o") + ".")
    return " ".join(out)


def many_chapter_book(chapters: int = 150) -> Book:
    """A book of `chapters` chapters, each a paragraph of a few distinct sentences."""
    rng = np.random.default_rng(0)
    built = [(f"Week {c + 1}", [varied_sentences(rng, 4)]) for c in range(chapters)]
    return make_book(built)


@pytest.mark.parametrize("length", ["short", "medium", "long"])
def test_a_book_with_150_chapters_keeps_the_asked_length(
    engine: ExtractiveEngine, length: str
) -> None:
    state = engine.read(many_chapter_book())
    summary = engine.summarize(state, length=length)
    assert output_words(summary) <= WORDS[length]
    # Too many chapters to list one by one: runs of consecutive chapters, covering them all,
    # each titled by its range and quoting only its own chapters.
    assert 1 < len(summary.chapters) < 150
    starts = [c.chapter_index for c in summary.chapters]
    assert starts[0] == 0 and starts == sorted(starts)
    ends = [*(s - 1 for s in starts[1:]), 149]
    for entry, start, end in zip(summary.chapters, starts, ends, strict=True):
        assert entry.chapter_title == (
            f"Chapters {start + 1}-{end + 1}" if end > start else f"Week {start + 1}"
        )
        assert all(start <= c.chapter_index <= end for c in entry.citations)
    # The book paragraph draws on the beginning, the middle and the end.
    cited = [c.chapter_index for c in summary.citations]
    assert min(cited) < 50 and max(cited) >= 100 and any(37 <= c < 113 for c in cited)


def test_summaries_skip_dialogue_leaning_sentences_and_near_duplicates(
    engine: ExtractiveEngine,
) -> None:
    paragraphs = [
        "The harbour wall was rebuilt in granite after the great storm of 1850.",
        "“Nobody will ever mend it,” said the harbourmaster to the crowd.",
        "He said it twice, and then walked home along the quay.",
        "The harbour wall was rebuilt in granite after the great storm of 1850, they say.",
        "Fishing boats from three villages sheltered behind the new wall every winter.",
    ]
    state = engine.read(make_book([("The Wall", paragraphs)]))
    summary = engine.summarize(state, length="short", chapter=0)
    quoted = [c.sentence for c in summary.chapters[0].citations]
    assert not any("“" in q or q.startswith("He ") for q in quoted)
    # The two near-identical sentences about the rebuilt wall: at most one is quoted.
    assert sum("rebuilt in granite" in q for q in quoted) == 1
    assert any("Fishing boats" in q for q in quoted)


def test_summary_of_one_chapter(engine: ExtractiveEngine) -> None:
    state = engine.read(long_book())
    summary = engine.summarize(state, length="medium", chapter=2)
    assert [c.chapter_index for c in summary.chapters] == [2]
    assert summary.text == summary.chapters[0].text
    assert all("chapter 2" in c.sentence for c in summary.citations)


def test_summary_progress_reports_every_chapter(engine: ExtractiveEngine) -> None:
    state = engine.read(long_book())
    calls: list[tuple[int, int, str]] = []
    engine.summarize(state, progress=lambda done, total, unit: calls.append((done, total, unit)))
    assert calls == [(1, 3, "chapters"), (2, 3, "chapters"), (3, 3, "chapters")]
