"""The package's shared pieces: errors carry the documented exit codes, citations print."""

from bookreader import errors
from bookreader.book import Chapter, Citation, PageMark, Passage, count_words


def test_exit_codes_are_documented_values() -> None:
    assert errors.UnreadableBook("x").exit_code == 4
    assert errors.NoTextLayer("x").exit_code == 4
    assert errors.UsageError("x").exit_code == 2
    assert errors.ModelUnavailable("x").exit_code == 1


def test_page_span_of_character_ranges() -> None:
    text = "a" * 100
    chapter = Chapter(
        0, "One", text, pages=(PageMark(0, 1, "i"), PageMark(40, 2, "ii"), PageMark(80, 3, "1"))
    )
    assert chapter.page_span == ("i", "1")
    assert chapter.page_span_of(0, 10) == ("i", "i")
    assert chapter.page_span_of(30, 50) == ("i", "ii")
    assert chapter.page_span_of(85, 100) == ("1", "1")


def test_citation_label_and_words() -> None:
    passage = Passage(3, 2, "The Harbour", 0, 10, "It was cold.", pages=("41", "42"))
    citation = Citation.from_passage(passage, sentence="It was cold.")
    assert citation.label() == 'ch. 3 "The Harbour", p. 41-42'
    assert count_words("Don't stop — it's 3 o'clock.") == 5
