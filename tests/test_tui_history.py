"""The pieces of the chat app that need no screen: the history store, locating a cited passage
and sentence, the answer renderer and picking a chapter's summary."""

from __future__ import annotations

import json

from tui_fakes import make_book, paragraph_passages

from bookreader import paths
from bookreader.book import Chapter, Citation, Passage
from bookreader.engines.base import ChapterSummary, Summary
from bookreader.engines.passages import book_passages
from bookreader.tui.history import History, HistoryStore, Turn
from bookreader.tui.screens.chat import summary_for
from bookreader.tui.screens.passage import find_sentence, locate_passage
from bookreader.tui.widgets.chapter_list import chapter_name
from bookreader.tui.widgets.conversation import render_answer
from bookreader.tui.widgets.status_bar import short_model_name

PDF_CITATION = Citation(
    chapter_index=2,
    chapter_title="The Return",
    passage_id=7,
    text="Ada read the missing page aloud.",
    sentence="Ada read the missing page aloud.",
    pages=("41", "42"),
    score=3.5,
)


def test_history_round_trips_turns_with_citations() -> None:
    store = HistoryStore()
    turns = [
        Turn("question", "Who read the page?"),
        Turn("answer", "Ada **did**.", (PDF_CITATION,), engine="extractive", title="Answer"),
        Turn("summary", "All of it.", (), engine="extractive", title="Summary of the book"),
    ]
    store.save(History("f" * 64, "The Keeper's Ledger", turns))
    loaded = store.load("f" * 64)
    assert loaded.turns == turns
    assert loaded.book_title == "The Keeper's Ledger"
    # One JSON file in the data folder, named by the sha256; no temporary files left behind.
    folder = paths.data_dir() / "history"
    assert [p.name for p in folder.iterdir()] == [f"{'f' * 64}.json"]
    assert json.loads((folder / f"{'f' * 64}.json").read_text())["version"] == 1


def test_history_of_another_book_is_separate_and_damage_is_survived() -> None:
    store = HistoryStore()
    store.save(History("a" * 64, "A", [Turn("question", "q")]))
    assert store.load("b" * 64).turns == []
    store.path_for("a" * 64).write_text("{ not json", encoding="utf-8")
    assert store.load("a" * 64).turns == []
    store.delete("a" * 64)
    assert not store.path_for("a" * 64).exists()
    store.delete("a" * 64)  # deleting twice is fine


def test_locate_passage_by_text_then_by_passage_id() -> None:
    book = make_book()
    passages = paragraph_passages(book)
    target = passages[4]  # chapter 2, second paragraph
    chapter = book.chapters[target.chapter_index]
    by_text = Citation.from_passage(target)
    assert locate_passage(chapter, by_text) == (target.start, target.end)
    # A citation whose text no longer matches falls back to the engine's passage list...
    stale = Citation(target.chapter_index, target.chapter_title, target.id, "changed text")
    assert locate_passage(chapter, stale, passages) == (target.start, target.end)
    # ...but never to a passage of another chapter.
    wrong = Citation(0, "The Harbour", target.id, "changed text")
    assert locate_passage(book.chapters[0], wrong, passages) is None


def test_find_sentence_tolerates_reflowed_whitespace() -> None:
    text = "First line.\nThe ledger was\nbound in green cloth.  Then more."
    start, end = find_sentence(text, "The ledger was bound in green cloth.")
    assert text[start:end] == "The ledger was\nbound in green cloth."
    assert find_sentence(text, "Not in the text.") is None
    assert find_sentence(text, None) is None


def test_render_answer_bolds_marked_spans_and_keeps_markup_literal() -> None:
    rendered = render_answer("Quote: **the [bold] part** and [red]not markup[/red].")
    assert rendered.plain == "Quote: the [bold] part and [red]not markup[/red]."
    bold = [rendered.plain[s.start : s.end] for s in rendered.spans if "bold" in str(s.style)]
    assert bold == ["the [bold] part"]


def test_summary_for_picks_the_chapter_or_the_book() -> None:
    cite = Citation.from_passage(Passage(0, 1, "Two", 0, 4, "text"))
    summary = Summary(
        text="Book summary.",
        chapters=(
            ChapterSummary(0, "One", "First.", ()),
            ChapterSummary(1, "Two", "Second.", (cite,)),
        ),
        engine="x",
        citations=(),
    )
    assert summary_for(summary, 1) == ("Second.", (cite,))
    # The whole book: its text, and the chapters' citations when it has none of its own.
    assert summary_for(summary, None) == ("Book summary.", (cite,))


def test_every_passage_the_engines_cite_opens_in_the_viewer() -> None:
    # The viewer relies on a cited passage being a slice of its chapter's text: checked on the
    # passages the engines really make (not the fake engine's), by text and by passage id.
    book = make_book()
    passages = book_passages(book)
    assert len(passages) >= len(book.chapters)
    for passage in passages:
        chapter: Chapter = book.chapters[passage.chapter_index]
        span = (passage.start, passage.end)
        assert chapter.text[passage.start : passage.end] == passage.text
        assert locate_passage(chapter, Citation.from_passage(passage)) == span
        stale = Citation(passage.chapter_index, passage.chapter_title, passage.id, "changed")
        assert locate_passage(chapter, stale, passages) == span


def test_chapter_name_does_not_repeat_the_word_chapter() -> None:
    book = make_book()
    assert chapter_name(book, 1) == 'chapter 2, "The Ledger"'
    titled = Chapter(index=0, title="Chapter 6: Nineteen Days of Fog", text="Fog.")
    book.chapters = [titled]
    assert chapter_name(book, 0) == '"Chapter 6: Nineteen Days of Fog"'


def test_status_bar_names_a_local_model_by_its_folder() -> None:
    assert short_model_name("/home/reader/models/passkey-tiny") == "passkey-tiny"
    assert short_model_name("Qwen/Qwen2.5-0.5B-Instruct") == "Qwen/Qwen2.5-0.5B-Instruct"[:23] + "…"
    assert short_model_name("org/small") == "org/small"
    assert short_model_name(None) == "—"
