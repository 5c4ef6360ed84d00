"""Questions that name a place in the book: a chapter by number (in any of its spellings), by its
heading or by its order, or the book's beginning or end. The reference is the book's own chapter
list and passages; asking about a chapter by name gives what `--chapter` gives. Checked on
hand-made books (random chapter counts and spellings), on every corpus book and on every
loadable file of the peer corpora."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bookreader.book import Book, Chapter, Citation
from bookreader.engines import registry
from bookreader.engines.base import BookState
from bookreader.engines.extractive import TOP_K, ExtractiveEngine
from bookreader.engines.scope import Scope, question_scope
from bookreader.errors import BookreaderError
from bookreader.loaders.headings import heading_number

ROMAN = ["I", "II", "III", "IV", "V", "VI", "VII", "VIII", "IX", "X", "XI", "XII"]
WORDS = [
    "one",
    "two",
    "three",
    "four",
    "five",
    "six",
    "seven",
    "eight",
    "nine",
    "ten",
    "eleven",
    "twelve",
]
ORDINALS = "first second third fourth fifth sixth seventh eighth ninth tenth eleventh twelfth"
PLACES = [
    "mill",
    "quay",
    "orchard",
    "tower",
    "chapel",
    "ferry",
    "market",
    "bridge",
    "forge",
    "harbour",
    "meadow",
    "barn",
]


def paragraph(chapter: int, n: int) -> str:
    """About 90 words, so that every paragraph is a passage of its own; its words name the
    chapter and the paragraph, so passages differ."""
    place = PLACES[chapter % len(PLACES)]
    sentences = [
        f"The keeper walked to the {place} on day {chapter}{n} and counted {n} lanterns there.",
        f"Rain fell on the {place} roof while the ledger for week {n} lay open on the table.",
        f"Nobody at the {place} spoke of the storm, the boats, or the letter from the town.",
        f"By evening the {place} was quiet, and the keeper wrote down {n} lines about the tide.",
        f"Then the lamps at the {place} were trimmed, the doors barred, and the fire banked low.",
        f"Gulls settled on the {place} wall, and the keeper slept until the bell rang {n} times.",
    ]
    return " ".join(sentences)


def book_of(titles: list[str], paragraphs: int = 1) -> Book:
    chapters = [
        Chapter(i, title, "\n\n".join(paragraph(i, n) for n in range(paragraphs)))
        for i, title in enumerate(titles)
    ]
    return Book(Path("places.txt"), "Places", "A. Writer", "en", "txt", chapters, "ef" * 32)


def spelled(k: int, form: str) -> str:
    if form == "digits":
        return f"What happens in chapter {k}?"
    if form == "roman":
        return f"What happens in Chapter {ROMAN[k - 1]}?"
    if form == "word":
        return f"What happens in chapter {WORDS[k - 1]}?"
    return f"What happens in the {ORDINALS.split()[k - 1]} chapter?"


@settings(max_examples=60, deadline=None)
@given(data=st.data(), n=st.integers(1, 12))
def test_chapter_k_in_any_spelling_is_the_kth_chapter(data: st.DataObject, n: int) -> None:
    book = book_of([f"The {PLACES[i].title()}" for i in range(n)])  # titles without numbers
    k = data.draw(st.integers(1, n))
    form = data.draw(st.sampled_from(["digits", "roman", "word", "ordinal"]))
    scope = question_scope(spelled(k, form), book)
    assert isinstance(scope, Scope) and scope.chapter == k - 1 and scope.edge is None
    assert isinstance(question_scope("Sum up the last chapter.", book), Scope)
    assert question_scope("Sum up the last chapter.", book).chapter == n - 1  # type: ignore[union-attr]


def test_a_numbered_heading_wins_over_the_position() -> None:
    titles = ["Preface", "Letter 1", "Letter 2", "Chapter 1", "Chapter 2", "Chapter 3"]
    book = book_of(titles)
    chapter_of = {q: question_scope(q, book) for q in ["x in chapter 2?", "x in Letter 2?"]}
    assert chapter_of["x in chapter 2?"] == Scope(4, None, frozenset({"chapter", "2"}))
    assert chapter_of["x in Letter 2?"] == Scope(2, None, frozenset({"letter", "2"}))
    assert question_scope("Sum up the last letter.", book) == Scope(
        2, None, frozenset({"last", "letter"})
    )
    assert 'no "Letter 7"' in str(question_scope("What is in Letter 7?", book))
    # No heading "Chapter 6": the sixth chapter by position, as --chapter 6 counts.
    assert question_scope("What happens in chapter 6?", book) == Scope(
        5, None, frozenset({"chapter", "6"})
    )


@pytest.mark.parametrize(
    "question",
    [
        "What did Wenna write in the letter I sent?",
        "Who is the letter to Jane from?",
        "Who wrote the chapter of accidents?",
        "What does Jane say in her first letter?",  # the book's headings have no letters
        "What is in the last letter?",
        "Who dies first?",
        "How does the keeper die at the end?",
        "Where does the book say the bell hangs?",
    ],
)
def test_words_that_only_look_like_a_place_name_none(question: str) -> None:
    assert question_scope(question, book_of(["Preface", "Chapter 1", "Chapter 2"])) is None


def citations_of(
    engine: ExtractiveEngine, book: Book, question: str, **options: int
) -> list[Citation]:
    return citations_of_state(engine, engine.read(book), question, **options)


@pytest.mark.parametrize("titles", [["Preface", "Chapter 1", "Chapter 2", "Chapter 3"], ["Whole"]])
def test_the_beginning_and_the_end_are_the_first_and_last_passages(titles: list[str]) -> None:
    engine = ExtractiveEngine()
    book = book_of(titles, paragraphs=6)
    state = engine.read(book)
    first = 1 if len(titles) > 1 else 0  # the story begins at Chapter 1, not at the preface
    last = len(titles) - 1
    opening = [p.id for p in state.passages if p.chapter_index == first][:TOP_K]
    ending = [p.id for p in state.passages if p.chapter_index == last][-TOP_K:]
    assert len(opening) == len(ending) == TOP_K
    for question in ["How does the book end?", "What happens at the end?", "How does it finish?"]:
        assert [c.passage_id for c in citations_of(engine, book, question)] == ending, question
    for question in ["How does the story begin?", "What happens at the beginning?"]:
        assert [c.passage_id for c in citations_of(engine, book, question)] == opening, question


def test_a_chapter_named_in_the_question_is_answered_as_with_the_option() -> None:
    engine = ExtractiveEngine()
    book = book_of([f"The {p.title()}" for p in PLACES[:5]], paragraphs=4)
    for k in range(1, 6):
        named = citations_of(engine, book, f"What happens in chapter {k}?")
        scoped = citations_of(engine, book, "What happens here?", chapter=k - 1)
        assert named and [c.passage_id for c in named] == [c.passage_id for c in scoped]
        # A question about something in the chapter searches that chapter only.
        found = citations_of(
            engine, book, f"How many lanterns did the keeper count in chapter {k}?"
        )
        assert found and {c.chapter_index for c in found} == {k - 1}


def test_a_chapter_the_book_lacks_is_declined_with_the_range_it_has() -> None:
    engine = ExtractiveEngine()
    book = book_of(["The Mill", "The Quay", "The Tower"])
    state = engine.read(book)
    answer = "".join(
        part for part in engine.ask(state, "What happens in chapter 9?") if isinstance(part, str)
    )
    assert answer.startswith("No good match") and 'no "chapter 9"' in answer
    assert "chapters 1-3" in answer


CORPUS = Path(__file__).resolve().parents[2] / "shared" / "corpus"
CORPUS_BOOKS = sorted(
    str(path.relative_to(CORPUS))
    for folder in ("epub", "pdf", "txt")
    for path in (CORPUS / folder).glob("*")
    if path.suffix in {".epub", ".pdf", ".txt"}
)


@pytest.mark.parametrize("name", CORPUS_BOOKS)
def test_places_in_real_books(corpus: Path, name: str) -> None:
    """On real books of every format: the end is the book's final passages, the beginning the
    first passages of one chapter, and "chapter k" cites chapter k's passages only."""
    engine = ExtractiveEngine()
    book = registry.load_book(corpus / name)
    state = engine.read(book)
    ending = citations_of_state(engine, state, "How does the book end?")
    assert ending and ending[-1].passage_id == state.passages[-1].id
    assert [c.passage_id for c in ending] == sorted(c.passage_id for c in ending)
    opening = citations_of_state(engine, state, "How does it begin?")
    assert opening and len({c.chapter_index for c in opening}) == 1
    first = [p.id for p in state.passages if p.chapter_index == opening[0].chapter_index]
    assert [c.passage_id for c in opening] == first[: len(opening)]
    n = len(book.chapters)
    for k in sorted({1, (n + 1) // 2, n}):
        scope = question_scope(f"What happens in chapter {k}?", book)
        assert isinstance(scope, Scope), (name, k)
        cited = citations_of_state(engine, state, f"What happens in chapter {k}?")
        assert cited and {c.chapter_index for c in cited} == {scope.chapter}, (name, k)
        # The chapter is the one headed "Chapter k" where the book has one, else the kth.
        headed = [c.index for c in book.chapters if heading_number(c.title) == ("chapter", k)]
        assert scope.chapter == (headed[0] if headed else book.chapters[k - 1].index)


def citations_of_state(
    engine: ExtractiveEngine, state: BookState, question: str, **options: int
) -> list[Citation]:
    return [c for c in engine.ask(state, question, **options) if isinstance(c, Citation)]


PEER = Path(__file__).resolve().parents[2] / "shared" / "peer"
PEER_FILES = (
    sorted(p for p in PEER.rglob("*") if p.suffix in (".epub", ".pdf")) if PEER.is_dir() else []
)


@pytest.mark.parametrize("path", PEER_FILES, ids=lambda p: f"{p.parent.name}/{p.name}")
def test_places_in_the_peer_corpora(path: Path) -> None:
    """Every loadable EPUB and PDF of the public test suites, however odd its structure: the
    end is its final passage, and a named chapter cites that chapter alone."""
    try:
        book = registry.load_book(path)
    except BookreaderError:
        pytest.skip("refused by the loader (checked in test_peer_corpora.py)")
    engine = ExtractiveEngine()
    state = engine.read(book)
    ending = citations_of_state(engine, state, "How does the book end?")
    assert ending and ending[-1].passage_id == state.passages[-1].id
    for question in ["What happens in chapter 1?", "What happens in the last chapter?"]:
        scope = question_scope(question, book)
        assert isinstance(scope, Scope)
        cited = citations_of_state(engine, state, question)
        assert cited and {c.chapter_index for c in cited} == {scope.chapter}, question
