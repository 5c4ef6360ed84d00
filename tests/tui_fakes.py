"""A small book and a scripted engine for the TUI tests: answers, citations and summaries are
whatever the test says, so the tests check what the app does with them."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path

from textual.app import App
from textual.pilot import Pilot
from textual.widget import Widget

from bookreader.book import Book, Chapter, Citation, Passage
from bookreader.engines.base import (
    AnswerChunk,
    BookState,
    ChapterSummary,
    Length,
    ProgressCallback,
    Summary,
)
from bookreader.tui.screens.chat import ChatScreen
from bookreader.tui.screens.error import ErrorModal

CHAPTERS = (
    (
        "The Harbour",
        "The harbour at Wrenmouth froze in the winter of the long storm.\n\n"
        "Ada Quill rowed the supply boat out to the light every Tuesday. "
        "She carried oil, bread and the post in a tin box.\n\n"
        "Nobody on the quay spoke of the keeper's ledger.",
    ),
    (
        "The Ledger",
        "The ledger was bound in green cloth and smelled of lamp oil.\n\n"
        "Each night the keeper wrote the wind, the weather and the ships that passed. "
        "On the ninth of March he wrote that a schooner without lights had run north.\n\n"
        "Ada found the page torn out in April.",
    ),
    (
        "The Return",
        "In May the schooner came back with its lamps lit.\n\n"
        "Ada read the missing page aloud to the harbour master, who said nothing for a while.\n\n"
        "The light still turns above Wrenmouth.",
    ),
)


def make_book(path: Path | str = "ledger.txt", sha256: str = "a" * 64) -> Book:
    chapters = [
        Chapter(index=i, title=title, text=text) for i, (title, text) in enumerate(CHAPTERS)
    ]
    return Book(
        path=Path(path),
        title="The Keeper's Ledger",
        author="Test Author",
        language="en",
        format="txt",
        chapters=chapters,
        sha256=sha256,
    )


def paragraph_passages(book: Book) -> list[Passage]:
    """One passage per paragraph, with its character span in the chapter."""
    passages: list[Passage] = []
    for chapter in book.chapters:
        offset = 0
        for paragraph in chapter.text.split("\n\n"):
            start = chapter.text.index(paragraph, offset)
            offset = start + len(paragraph)
            passages.append(
                Passage(len(passages), chapter.index, chapter.title, start, offset, paragraph)
            )
    return passages


def cite(state: BookState, passage_id: int, sentence: str | None = None) -> Citation:
    return Citation.from_passage(state.passages[passage_id], sentence=sentence)


class ScriptedEngine:
    """Answers each question with the chunks `script(state, question)` returns.

    `gate`, when given, is acquired before every chunk after the first: a test releases chunks
    one at a time, or holds an answer mid-stream and asks another question meanwhile.
    `read_gate`, when given, holds `read` until it is set: the book stays "being read".
    """

    name = "scripted"
    model_id = "script-v1"

    def __init__(
        self,
        script: dict[str, Sequence[str | int | tuple[int, str]]] | None = None,
        gate: threading.Semaphore | None = None,
        read_gate: threading.Event | None = None,
    ) -> None:
        self.script = script or {}
        self.gate = gate
        self.read_gate = read_gate
        self.questions: list[str] = []
        self.chapters: list[int | None] = []  # the `chapter` each question was asked with
        self.summaries: list[int | None] = []
        self.reads = 0

    def read(self, book: Book, progress: ProgressCallback | None = None) -> BookState:
        self.reads += 1
        passages = paragraph_passages(book)
        total = len(passages)
        if progress:
            progress(total // 2, total, "passages")
        if self.read_gate is not None:  # hold the read half-way
            self.read_gate.wait(timeout=10)
        if progress:
            progress(total, total, "passages")
        return BookState(
            book=book,
            engine=self.name,
            model_id=self.model_id,
            passages=passages,
            tokens_read=1234,
            memory_bytes=2048,
            cache_hit=False,
        )

    def ask(
        self, state: BookState, question: str, chapter: int | None = None
    ) -> Iterator[AnswerChunk]:
        self.questions.append(question)
        self.chapters.append(chapter)
        for position, item in enumerate(self.script.get(question, ["I do not know."])):
            if self.gate is not None and position > 0:
                self.gate.acquire(timeout=10)
            if isinstance(item, str):
                yield item
            elif isinstance(item, int):
                yield cite(state, item)
            else:
                yield cite(state, item[0], sentence=item[1])

    def summarize(
        self,
        state: BookState,
        length: Length = "medium",
        chapter: int | None = None,
        progress: ProgressCallback | None = None,
    ) -> Summary:
        self.summaries.append(chapter)
        if progress:
            progress(1, 1, "chapters")
        parts = tuple(
            ChapterSummary(
                c.index,
                c.title,
                f"Summary of {c.title}: {c.paragraphs[0]}",
                (
                    Citation.from_passage(
                        next(p for p in state.passages if p.chapter_index == c.index)
                    ),
                ),
            )
            for c in state.book.chapters
            if chapter is None or c.index == chapter
        )
        text = " ".join(part.text for part in parts)
        return Summary(text=text, chapters=parts, engine=self.name, length=length)


async def wait_for(pilot: Pilot, condition: Callable[[], bool], timeout: float = 10.0) -> None:
    """Let the app run until `condition` holds (worker threads post back asynchronously)."""
    deadline = asyncio.get_running_loop().time() + timeout
    while not condition():
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError("condition not reached in time")
        await pilot.pause(0.01)


async def ready(pilot: Pilot) -> ChatScreen:
    screen = pilot.app.screen
    assert isinstance(screen, ChatScreen)
    await wait_for(pilot, lambda: screen.state is not None and screen.idle)
    return screen


def error_shown(app: App) -> bool:
    """The error modal is up and composed (pushing it makes it current before it has children)."""
    return isinstance(app.screen, ErrorModal) and bool(app.screen.query("#error-message"))


async def click(pilot: Pilot, widget: Widget) -> None:
    """Click `widget` once it has been laid out (before that its region is empty and a click
    would land on whatever sits at the top left of the screen)."""
    await wait_for(pilot, lambda: widget.region.area > 0)
    await pilot.pause()
    await pilot.click(widget)
