"""Pilot tests of the chat app driven by a scripted engine: streaming, queueing, citations, the
passage viewer, summaries, history, keys, and the error modal with its exit code."""

from __future__ import annotations

import json
import threading
import time
from pathlib import Path

import pytest
from textual.pilot import Pilot
from textual.widgets import Input, ProgressBar, Static
from tui_fakes import CHAPTERS, ScriptedEngine, click, error_shown, make_book, ready, wait_for

from bookreader import paths
from bookreader.book import Book
from bookreader.errors import CorruptBook, ModelUnavailable
from bookreader.tui.app import BookreaderApp
from bookreader.tui.history import HistoryStore
from bookreader.tui.screens.chat import ChatScreen
from bookreader.tui.screens.help import HelpScreen
from bookreader.tui.screens.passage import PassageScreen
from bookreader.tui.widgets.chapter_list import ChapterList
from bookreader.tui.widgets.conversation import (
    AnswerMessage,
    CitationLink,
    Conversation,
    QuestionMessage,
)

pytestmark = pytest.mark.anyio

QUESTION = "Who rows the supply boat?"
ROWER_SENTENCE = "Ada Quill rowed the supply boat out to the light every Tuesday."
ANSWER_CHUNKS = ["Ada ", "Quill ", "rows ", "it ", "every Tuesday."]
SIZE = (100, 32)


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


def make_app(engine: ScriptedEngine, book: Book | None = None, **options: object) -> BookreaderApp:
    book = book or make_book()
    return BookreaderApp(book.path, engine, loader=lambda _path: book, **options)  # type: ignore[arg-type]


def answers(app: BookreaderApp) -> list[AnswerMessage]:
    return list(app.screen.query(AnswerMessage))


def body_text(answer: AnswerMessage) -> str:
    return str(answer.query_one(".answer--body", Static).content)


def header_text(answer: AnswerMessage) -> str:
    return str(answer.query_one(".answer--header", Static).content)


async def ask(pilot: Pilot, question: str) -> None:
    pilot.app.screen.query_one("#question", Input).focus()
    await pilot.press(*question)
    await pilot.press("enter")


async def test_answer_streams_chunk_by_chunk_in_order() -> None:
    gate = threading.Semaphore(0)
    script = {QUESTION: [*ANSWER_CHUNKS, (1, ROWER_SENTENCE)]}
    engine = ScriptedEngine(script, gate=gate)
    app = make_app(engine)
    async with app.run_test(size=SIZE) as pilot:
        await ready(pilot)
        await ask(pilot, QUESTION)
        await wait_for(pilot, lambda: len(answers(app)) == 1 and answers(app)[0].text != "")
        answer = answers(app)[0]
        # Each released chunk shows up on screen before the next one is produced.
        for count in range(1, len(ANSWER_CHUNKS) + 1):
            expected = "".join(ANSWER_CHUNKS[:count])
            await wait_for(pilot, lambda expected=expected: answer.text == expected)
            assert body_text(answer) == expected
            assert not answer.citations
            gate.release()
        await wait_for(pilot, lambda: answer.done)
        assert body_text(answer) == "".join(ANSWER_CHUNKS)
        assert [c.sentence for c in answer.citations] == [ROWER_SENTENCE]
        links = list(answer.query(CitationLink))
        assert len(links) == 1 and 'ch. 1 "The Harbour"' in str(links[0].content)
        assert [str(q.content) for q in app.screen.query(QuestionMessage)] == [QUESTION]
        assert engine.questions == [QUESTION]


async def test_second_question_waits_for_the_first_never_interleaves() -> None:
    gate = threading.Semaphore(0)
    first, second = "First question?", "Second question?"
    script = {first: ["one ", "two ", "three"], second: ["four ", "five"]}
    engine = ScriptedEngine(script, gate=gate)
    app = make_app(engine)
    async with app.run_test(size=SIZE) as pilot:
        await ready(pilot)
        await ask(pilot, first)
        await wait_for(pilot, lambda: answers(app) and answers(app)[0].text == "one ")
        await ask(pilot, second)
        await wait_for(pilot, lambda: len(answers(app)) == 2)
        a1, a2 = answers(app)
        await pilot.pause(0.05)
        # The second question is on screen, marked queued, and not yet sent to the engine.
        assert "queued" in header_text(a2)
        assert engine.questions == [first]
        assert a2.text == ""
        for _ in range(3):
            gate.release()
        await wait_for(pilot, lambda: a1.done and a2.done)
        assert a1.text == "one two three"
        assert a2.text == "four five"
        assert engine.questions == [first, second]
        order = [type(w).__name__ for w in app.screen.query_one(Conversation).children]
        assert order == ["QuestionMessage", "AnswerMessage", "QuestionMessage", "AnswerMessage"]


async def test_ui_stays_responsive_while_the_book_is_read() -> None:
    read_gate = threading.Event()
    engine = ScriptedEngine({QUESTION: ["Ada."]}, read_gate=read_gate)
    app = make_app(engine)
    async with app.run_test(size=SIZE) as pilot:
        screen = app.screen
        assert isinstance(screen, ChatScreen)
        # The book is loaded (chapters listed) while the engine is still reading it.
        await wait_for(pilot, lambda: screen.book is not None)
        assert screen.state is None
        # Reading progress is on show where the engine holds: half of the book's passages.
        total = sum(len(c.paragraphs) for c in screen.book.chapters)
        bar = app.screen.query_one("#reading-progress", ProgressBar)
        await wait_for(pilot, lambda: bar.has_class("-active") and bar.progress == total // 2)
        assert bar.total == total
        status = str(app.screen.query_one("#status-text", Static).content)
        assert f"reading {total // 2}/{total} passages" in status
        chapters = app.screen.query_one(ChapterList)
        assert chapters.option_count == 1 + len(CHAPTERS)
        # Keys work meanwhile: the help opens and closes, a question can be asked.
        await pilot.press("f1")
        assert isinstance(app.screen, HelpScreen)
        await pilot.press("escape")
        assert isinstance(app.screen, ChatScreen)
        await ask(pilot, QUESTION)
        await wait_for(pilot, lambda: len(answers(app)) == 1)
        assert "waiting for the book" in header_text(answers(app)[0])
        assert engine.questions == []
        read_gate.set()
        await wait_for(pilot, lambda: answers(app)[0].done)
        assert answers(app)[0].text == "Ada."
        assert engine.reads == 1
        assert not bar.has_class("-active")


async def test_quitting_mid_read_stops_the_reading_thread() -> None:
    stopped = threading.Event()

    class EndlessReader(ScriptedEngine):
        def read(self, book, progress=None):  # type: ignore[no-untyped-def, override]
            try:
                done = 0
                while done < 10_000_000:  # far longer than the test: only quitting ends it
                    done += 1
                    progress(done, 10_000_000, "tokens")
                    time.sleep(0.001)
            finally:
                stopped.set()

    app = make_app(EndlessReader())
    async with app.run_test(size=SIZE) as pilot:
        bar = app.screen.query_one("#reading-progress", ProgressBar)
        await wait_for(pilot, lambda: bar.has_class("-active"))
        await pilot.press("ctrl+q")
    assert stopped.wait(timeout=5)


async def test_status_bar_shows_engine_and_state() -> None:
    app = make_app(ScriptedEngine())
    async with app.run_test(size=SIZE) as pilot:
        await ready(pilot)
        status = str(app.screen.query_one("#status-text", Static).content)
        for part in ("ready", "scripted", "script-v1", "cpu", "1,234 tokens", "2.0 KiB", "miss"):
            assert part in status
        assert "Keeper's Ledger" in app.sub_title


async def test_clicking_a_citation_opens_the_passage_viewer() -> None:
    engine = ScriptedEngine({QUESTION: ["Ada Quill.", (1, ROWER_SENTENCE)]})
    book = make_book()
    app = make_app(engine, book)
    async with app.run_test(size=SIZE) as pilot:
        await ready(pilot)
        await ask(pilot, QUESTION)
        await wait_for(pilot, lambda: answers(app) and answers(app)[0].done)
        await click(pilot, app.screen.query_one(CitationLink))
        await wait_for(pilot, lambda: isinstance(app.screen, PassageScreen))
        viewer = app.screen
        heading = str(viewer.query_one("#passage-heading", Static).content)
        assert heading == 'ch. 1 "The Harbour"'
        cited = viewer.query_one("#passage-cited", Static).content
        chapter_text = book.chapters[0].text
        paragraphs = chapter_text.split("\n\n")
        assert str(cited) == paragraphs[1]
        # The cited sentence, exactly, is the highlighted span.
        highlighted = [str(cited)[span.start : span.end] for span in cited.spans]
        assert highlighted == [ROWER_SENTENCE]
        # The passage stands in its chapter: the paragraphs around it are shown too.
        context = [str(s.content) for s in viewer.query(".passage--context")]
        assert context == [paragraphs[0], paragraphs[2]]
        await pilot.press("escape")
        assert isinstance(app.screen, ChatScreen)


async def test_keyboard_opens_a_citation_from_the_conversation() -> None:
    engine = ScriptedEngine({QUESTION: ["Two places.", 1, (4, "The ledger was bound")]})
    app = make_app(engine)
    async with app.run_test(size=SIZE) as pilot:
        await ready(pilot)
        await ask(pilot, QUESTION)
        await wait_for(pilot, lambda: answers(app) and answers(app)[0].done)
        app.screen.query_one(Conversation).focus()
        await pilot.press("right")  # the newest citation first
        await pilot.press("enter")
        assert isinstance(app.screen, PassageScreen)
        assert str(app.screen.query_one("#passage-heading", Static).content).startswith("ch. 2")
        await pilot.press("escape")
        await pilot.press("left", "enter")
        assert str(app.screen.query_one("#passage-heading", Static).content).startswith("ch. 1")


async def test_ctrl_s_summarizes_the_book_then_the_highlighted_chapter() -> None:
    engine = ScriptedEngine()
    book = make_book()
    app = make_app(engine, book)
    async with app.run_test(size=SIZE) as pilot:
        await ready(pilot)
        await pilot.press("ctrl+s")
        await wait_for(pilot, lambda: answers(app) and answers(app)[0].done)
        whole = answers(app)[0]
        assert engine.summaries == [None]
        expected = " ".join(f"Summary of {c.title}: {c.paragraphs[0]}" for c in book.chapters)
        assert whole.text == expected
        assert whole.role == "summary" and "Summary of the book" in header_text(whole)
        assert [c.chapter_index for c in whole.citations] == [0, 1, 2]

        app.screen.query_one(ChapterList).focus()
        await pilot.press("down", "down")  # whole book -> ch. 1 -> ch. 2
        await pilot.press("ctrl+s")
        await wait_for(pilot, lambda: len(answers(app)) == 2 and answers(app)[1].done)
        part = answers(app)[1]
        assert engine.summaries == [None, 1]
        assert part.text == f"Summary of The Ledger: {book.chapters[1].paragraphs[0]}"
        assert 'Summary of chapter 2, "The Ledger"' in header_text(part)
        assert [c.chapter_index for c in part.citations] == [1]


async def test_enter_in_chapter_list_asks_about_that_chapter() -> None:
    engine = ScriptedEngine()
    app = make_app(engine)
    async with app.run_test(size=SIZE) as pilot:
        await ready(pilot)
        app.screen.query_one(ChapterList).focus()
        await pilot.press("down", "down", "down", "enter")
        await wait_for(pilot, lambda: answers(app) and answers(app)[0].done)
        assert engine.questions == ['What happens in chapter 3, "The Return"?']
        assert engine.chapters == [2]  # the engine is told to keep to that chapter
        await pilot.press("home", "enter")  # the whole-book row: no chapter
        await ask(pilot, QUESTION)  # a typed question: no chapter
        await wait_for(pilot, lambda: len(answers(app)) == 3 and answers(app)[2].done)
        assert engine.questions[1:] == ["What is this book about?", QUESTION]
        assert engine.chapters == [2, None, None]


async def test_history_reappears_on_reopen_and_fresh_starts_anew() -> None:
    book = make_book()
    script = {QUESTION: ["Ada Quill.", (1, ROWER_SENTENCE)]}
    app = make_app(ScriptedEngine(script), book)
    async with app.run_test(size=SIZE) as pilot:
        await ready(pilot)
        await ask(pilot, QUESTION)
        await wait_for(pilot, lambda: answers(app) and answers(app)[0].done)
        await pilot.press("ctrl+q")

    saved = paths.data_dir() / "history" / f"{book.sha256}.json"
    data = json.loads(saved.read_text(encoding="utf-8"))
    assert [t["role"] for t in data["turns"]] == ["question", "answer"]

    reopened_engine = ScriptedEngine()
    reopened = make_app(reopened_engine, book)
    async with reopened.run_test(size=SIZE) as pilot:
        await ready(pilot)
        # Saved messages are mounted, then composed: wait for the last piece, the citation row.
        await wait_for(pilot, lambda: len(reopened.screen.query(CitationLink)) == 1)
        questions = [str(q.content) for q in reopened.screen.query(QuestionMessage)]
        assert questions == [QUESTION]
        (answer,) = answers(reopened)
        assert body_text(answer) == "Ada Quill."
        assert [c.sentence for c in answer.citations] == [ROWER_SENTENCE]
        assert len(answer.query(CitationLink)) == 1
        assert reopened_engine.questions == []  # shown from history, not asked again
        # A saved citation still opens its passage.
        await click(pilot, reopened.screen.query_one(CitationLink))
        await wait_for(pilot, lambda: isinstance(reopened.screen, PassageScreen))

    fresh = make_app(ScriptedEngine(), book, fresh=True)
    async with fresh.run_test(size=SIZE) as pilot:
        await ready(pilot)
        assert answers(fresh) == []
        assert not saved.exists()


async def test_ctrl_l_clears_the_conversation_and_its_history() -> None:
    book = make_book()
    store = HistoryStore()
    app = make_app(ScriptedEngine({QUESTION: ["Ada."]}), book, history=store)
    async with app.run_test(size=SIZE) as pilot:
        await ready(pilot)
        await ask(pilot, QUESTION)
        await wait_for(pilot, lambda: answers(app) and answers(app)[0].done)
        assert store.load(book.sha256).turns
        await pilot.press("ctrl+l")
        await pilot.pause()
        assert answers(app) == []
        assert store.load(book.sha256).turns == []


async def test_ctrl_l_mid_answer_drops_the_rest_and_the_queue() -> None:
    gate = threading.Semaphore(0)
    script = {"First?": ["one ", "two"], "Second?": ["three"], "Third?": ["four"]}
    engine = ScriptedEngine(script, gate=gate)
    book = make_book()
    app = make_app(engine, book)
    async with app.run_test(size=SIZE) as pilot:
        screen = await ready(pilot)
        await ask(pilot, "First?")
        await wait_for(pilot, lambda: answers(app) and answers(app)[0].text == "one ")
        await ask(pilot, "Second?")
        await pilot.press("ctrl+l")
        gate.release()
        await wait_for(pilot, lambda: screen.idle)
        assert answers(app) == []
        assert engine.questions == ["First?"]  # the queued question went with the conversation
        await ask(pilot, "Third?")
        await wait_for(pilot, lambda: answers(app) and answers(app)[0].done)
        assert [a.text for a in answers(app)] == ["four"]
        saved = HistoryStore().load(book.sha256).turns
        assert [t.text for t in saved] == ["Third?", "four"]


async def test_escape_stops_a_streaming_answer_and_keeps_what_was_shown() -> None:
    gate = threading.Semaphore(0)
    script = {"Long?": ["one ", "two ", "three ", 1], "Next?": ["four"]}
    engine = ScriptedEngine(script, gate=gate)
    app = make_app(engine)
    async with app.run_test(size=SIZE) as pilot:
        screen = await ready(pilot)
        await pilot.press("escape")  # nothing to stop yet: harmless
        await ask(pilot, "Long?")
        await wait_for(pilot, lambda: answers(app) and answers(app)[0].text == "one ")
        await pilot.press("escape")
        gate.release()  # the engine produces "two ", which must not be shown
        await wait_for(pilot, lambda: answers(app)[0].done and screen.idle)
        (stopped,) = answers(app)
        assert stopped.text == "one " and stopped.citations == []
        assert "stopped" in header_text(stopped)
        # The next question is answered in full.
        await ask(pilot, "Next?")
        await wait_for(pilot, lambda: len(answers(app)) == 2 and answers(app)[1].done)
        assert answers(app)[1].text == "four"


async def test_help_keys_and_tab_between_panes() -> None:
    app = make_app(ScriptedEngine())
    async with app.run_test(size=SIZE) as pilot:
        await ready(pilot)
        question = app.screen.query_one("#question", Input)
        assert app.focused is question
        # "?" typed in the input is text, not the help key.
        await pilot.press("w", "h", "y", "question_mark")
        assert question.value == "why?"
        assert isinstance(app.screen, ChatScreen)
        await pilot.press("tab")
        assert isinstance(app.focused, ChapterList)
        await pilot.press("question_mark")
        assert isinstance(app.screen, HelpScreen)
        await pilot.press("escape")
        await pilot.press("tab")
        assert isinstance(app.focused, Conversation)
        await pilot.press("tab")
        assert app.focused is question
        await pilot.press("f1")
        assert isinstance(app.screen, HelpScreen)
        await pilot.press("escape")
        footer_keys = {key for key, b in app.screen.active_bindings.items() if b.binding.show}
        assert {"ctrl+q", "ctrl+s", "ctrl+l", "tab", "f1"} <= footer_keys
        app.screen.query_one(ChapterList).focus()
        await pilot.pause()
        shown = {key: b.binding.description for key, b in app.screen.active_bindings.items()}
        assert shown["enter"] == "Ask about it"
        await pilot.press("f1")
        assert app.screen.active_bindings["escape"].binding.show  # each modal shows its way out


async def test_engine_error_while_answering_shows_in_the_answer_and_app_goes_on() -> None:
    class FailingEngine(ScriptedEngine):
        def ask(self, state, question, chapter=None):  # type: ignore[no-untyped-def, override]
            raise CorruptBook("index damaged")
            yield  # pragma: no cover - makes this a generator

    app = make_app(FailingEngine())
    async with app.run_test(size=SIZE) as pilot:
        await ready(pilot)
        await ask(pilot, QUESTION)
        await wait_for(pilot, lambda: answers(app) and answers(app)[0].done)
        assert body_text(answers(app)[0]) == "index damaged"
        assert isinstance(app.screen, ChatScreen)
        assert app.return_code is None


async def test_unreadable_book_shows_error_modal_and_exits_with_code_4() -> None:
    def broken_loader(path: Path) -> Book:
        raise CorruptBook(f"{path.name}: not a valid EPUB (bad zip file)")

    engine = ScriptedEngine()
    app = BookreaderApp("broken.epub", engine, loader=broken_loader)
    async with app.run_test(size=SIZE) as pilot:
        await wait_for(pilot, lambda: error_shown(app))
        message = str(app.screen.query_one("#error-message", Static).content)
        assert message == "broken.epub: not a valid EPUB (bad zip file)"
        assert engine.reads == 0
        await pilot.press("enter")
        await wait_for(pilot, lambda: app.return_code is not None)
    assert app.return_code == 4
    assert isinstance(app.fatal_error, CorruptBook)


async def test_unavailable_model_shows_error_modal_and_exits_with_its_code() -> None:
    def no_model() -> ScriptedEngine:
        raise ModelUnavailable("no local copy of tiny-model and no network")

    book = make_book()
    app = BookreaderApp(book.path, no_model, loader=lambda _path: book)
    async with app.run_test(size=SIZE) as pilot:
        await wait_for(pilot, lambda: error_shown(app))
        message = str(app.screen.query_one("#error-message", Static).content)
        assert message == "no local copy of tiny-model and no network"
        await pilot.press("escape")
        await wait_for(pilot, lambda: app.return_code is not None)
    assert app.return_code == ModelUnavailable.exit_code == 1


def test_status_bar_shows_the_loader_warnings() -> None:
    from bookreader.tui.widgets.status_bar import StatusInfo

    plain = StatusInfo(engine="extractive").render().plain
    assert "warning" not in plain
    warned = StatusInfo(engine="extractive", warnings=("skipped 3 spine images (no text)",))
    text = warned.render().plain
    assert "⚠ 1 warning " in text and text.endswith("skipped 3 spine images (no text)")
    assert text.index("⚠") < text.index("engine")
