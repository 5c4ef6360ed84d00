"""Passages follow paragraphs and chapters; sentences and terms behave as documented."""

from __future__ import annotations

from pathlib import Path

import pytest

from bookreader.book import Book, Chapter, PageMark, count_words
from bookreader.engines.passages import (
    MAX_WORDS,
    MIN_WORDS,
    STOPWORDS,
    book_passages,
    chapter_passages,
    fold,
    paragraph_spans,
    sentences,
    terms,
)
from bookreader.engines.wordforms import BASE_FORM


def words(n: int, tag: str) -> str:
    """A paragraph of n words made of sentences of 10 words, each word tagged for tracing
    (capitalised: a sentence starts with a capital)."""
    out = []
    for i in range(n):
        out.append(f"{tag.capitalize()}{i}" + ("." if i % 10 == 9 else ""))
    text = " ".join(out)
    return text if text.endswith(".") else text + "."


def test_passages_are_whole_paragraphs_within_bounds() -> None:
    paragraphs = [words(n, f"p{k}x") for k, n in enumerate([30, 40, 50, 120, 10, 90, 60, 20])]
    chapter = Chapter(0, "One", "\n\n".join(paragraphs))
    passages = [p for p, _ in chapter_passages(chapter, 0)]
    spans = list(paragraph_spans(chapter.text))
    starts = {s for s, _ in spans}
    ends = {e for _, e in spans}
    for p in passages:
        assert p.start in starts and p.end in ends  # never cut inside a paragraph
        assert p.text == chapter.text[p.start : p.end]
        assert count_words(p.text) <= MAX_WORDS
    # The index terms that come with each passage are exactly the terms of its text.
    assert all(found == terms(p.text) for p, found in chapter_passages(chapter, 0))
    # Every paragraph is in exactly one passage, in order.
    assert "\n\n".join(p.text for p in passages) == chapter.text
    assert all(count_words(p.text) >= MIN_WORDS // 2 for p in passages)


def test_overlong_paragraph_splits_at_sentence_boundaries() -> None:
    paragraph = words(530, "w")
    chapter = Chapter(0, "Long", paragraph)
    passages = [p for p, _ in chapter_passages(chapter, 0)]
    assert len(passages) == 3  # 530 words in pieces of at most 200, sentences of 10 words
    for p in passages:
        assert p.text.endswith(".")
        assert count_words(p.text) <= MAX_WORDS
    assert " ".join(p.text for p in passages) == paragraph


def test_passages_never_cross_chapters_and_ids_are_positions() -> None:
    chapters = [
        Chapter(i, f"C{i}", "\n\n".join(words(70, f"c{i}p{k}x") for k in range(4)))
        for i in range(3)
    ]
    book = Book(Path("b.txt"), "B", None, "en", "txt", chapters, "0" * 64)
    passages = book_passages(book)
    assert [p.id for p in passages] == list(range(len(passages)))
    for p in passages:
        assert f"C{p.chapter_index}p" in p.text
        assert all(f"C{j}p" not in p.text for j in range(3) if j != p.chapter_index)


def test_pdf_passages_carry_page_spans() -> None:
    paragraphs = [words(100, f"q{k}x") for k in range(4)]
    text = "\n\n".join(paragraphs)
    third = text.index("Q2x0")
    marks = (PageMark(0, 5, "3"), PageMark(third, 6, "4"))
    chapter = Chapter(0, "Paged", text, pages=marks)
    passages = [p for p, _ in chapter_passages(chapter, 0)]
    assert [p.pages for p in passages] == [("3", "3"), ("3", "3"), ("4", "4"), ("4", "4")]


def test_sentences_keep_abbreviations_and_quotes() -> None:
    text = 'Mr. Darcy bowed. "Is it far?" she asked. It was not. Dr. Penn arrived at 6.11 p.m. on Monday.'
    assert sentences(text) == [
        "Mr. Darcy bowed.",
        '"Is it far?" she asked.',
        "It was not.",
        "Dr. Penn arrived at 6.11 p.m. on Monday.",
    ]


def test_terms_drop_stopwords_and_fold_suffixes() -> None:
    assert terms("What did the Keeper's lamps burn when it was arriving?") == [
        "keeper",
        "lamp",
        "burn",
        "arriv",
    ]
    assert fold("drowned") == fold("drown") == "drown"
    assert fold("stopped") == "stop"
    assert fold("cities") == "city"
    assert fold("glass") == "glass"


@pytest.mark.parametrize(
    ("told", "asked"),
    [
        ("The keeper kept the logbook.", "Does the keeper keep the logbook?"),
        (
            "She took the lantern and wrote a letter.",
            "Will she take the lantern and write a letter?",
        ),
        ("Men and children sank.", "A man and a child sink."),
        (
            "He brought the key; they sought it and found it.",
            "He brings the key; they seek it and find it.",
        ),
    ],
)
def test_irregular_forms_meet_their_base_form(told: str, asked: str) -> None:
    """A book tells in the past what a question asks in the present: the same terms."""
    assert terms(told) == terms(asked)


def test_every_irregular_form_folds_with_its_base_and_none_is_a_stopword() -> None:
    for form, base in BASE_FORM.items():
        assert fold(form) == fold(base), form
        assert form not in STOPWORDS and base not in STOPWORDS, form
    # Forms with another common reading stay themselves.
    assert {"rose", "wound", "ground", "bit", "bound"}.isdisjoint(BASE_FORM)
