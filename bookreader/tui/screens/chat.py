"""The chat screen: chapters on the left, the conversation and the input on the right, a status
bar below.

All engine work (opening and reading the book, answering, summarizing) runs in thread workers,
one job at a time from a queue: a question asked while the book is read or while another answer
streams waits its turn, so answers never interleave and the engine is never used from two threads.
Workers talk back to the UI only through `call_from_thread`, which also keeps chunks in order.
"""

from __future__ import annotations

import contextlib
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass

from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.message import Message
from textual.screen import Screen
from textual.widgets import Header, Input, OptionList
from textual.worker import Worker, WorkerState, get_current_worker

from bookreader.book import Book, Citation
from bookreader.engines.base import BookState, Engine, Summary
from bookreader.errors import BookreaderError
from bookreader.tui.history import History
from bookreader.tui.screens.error import ErrorModal
from bookreader.tui.screens.map import MapChoice, MapScreen
from bookreader.tui.screens.passage import PassageScreen
from bookreader.tui.session import ChatSession
from bookreader.tui.widgets.chapter_list import ChapterList, chapter_index_of, chapter_name
from bookreader.tui.widgets.conversation import AnswerMessage, CitationLink, Conversation
from bookreader.tui.widgets.footer import Footer
from bookreader.tui.widgets.status_bar import StatusBar

PROGRESS_INTERVAL_S = 0.1  # at most ten progress redraws a second, whatever the engine reports


class _Stopped(Exception):
    """Raised inside a worker when its results are no longer wanted (app closing, cleared)."""


class _StopRequested(_Stopped):
    """The reader pressed escape: stop the answer or summary being produced."""


@dataclass
class _Job:
    run: Callable[[], None]  # runs in a worker thread
    kind: str  # "read" | "ask" | "summarize"


def summary_for(summary: Summary, chapter: int | None) -> tuple[str, tuple[Citation, ...]]:
    """The text and citations to show for a book summary or for one chapter's summary."""
    if chapter is not None:
        for part in summary.chapters:
            if part.chapter_index == chapter:
                return part.text or summary.text, part.citations or summary.citations
    citations = summary.citations or tuple(c for part in summary.chapters for c in part.citations)
    return summary.text, citations


class ChatScreen(Screen[None]):
    BINDINGS = [  # noqa: RUF012
        Binding("escape", "stop", "Stop"),  # the answer or summary being written
        Binding("ctrl+s", "summarize", "Summarize"),
        Binding("ctrl+l", "clear", "Clear"),
        Binding("f2", "map", "Map"),  # the names-by-chapter map; a cell asks about it
        Binding("tab", "app.focus_next", "Pane"),
        Binding("shift+tab", "app.focus_previous", "Previous pane", show=False),
    ]

    class Fatal(Message):
        """Nothing more can be done (the book cannot be read, the model cannot be loaded): the
        app shows the error and exits with its code."""

        def __init__(self, error: BookreaderError) -> None:
            super().__init__()
            self.error = error

    def __init__(self, session: ChatSession) -> None:
        super().__init__()
        self.session = session
        # What the widgets show, set on the UI thread when they show it (the session's own
        # fields are set earlier, in the worker).
        self.book: Book | None = None
        self.engine: Engine | None = None
        self.state: BookState | None = None
        self._jobs: deque[_Job] = deque()
        self._busy = False
        self._running: str | None = None  # kind of the job in the worker
        self._stop = threading.Event()  # set by escape; cleared when the next job starts
        self._generation = 0  # bumped by clear: work for an older conversation is dropped

    @property
    def idle(self) -> bool:
        """No engine job running or waiting."""
        return not self._busy and not self._jobs

    @property
    def history(self) -> History | None:
        return self.session.history

    def compose(self) -> ComposeResult:
        yield Header()
        with Horizontal(id="main"):
            yield ChapterList(id="chapters")
            with Vertical(id="chat"):
                yield Conversation(id="conversation")
                yield Input(placeholder="Ask about the book, then enter", id="question")
        yield StatusBar(id="status")
        yield Footer()

    def on_mount(self) -> None:
        path = self.session.book_path
        self.query_one(ChapterList).show_loading()
        self.query_one(Conversation).show_placeholder(f"Opening {path.name}…")
        self.query_one(StatusBar).update_info(phase="opening")
        self.query_one(Input).focus()
        self._enqueue(_Job(self._open_and_read, "read"))

    # The job queue -----------------------------------------------------------------------------

    def _enqueue(self, job: _Job) -> None:
        self._jobs.append(job)
        self._pump()

    def _pump(self) -> None:
        if self._busy or not self._jobs:
            return
        job = self._jobs.popleft()
        self._busy, self._running = True, job.kind
        self._stop.clear()
        self._run_job(job)

    @work(thread=True, group="engine", exit_on_error=False)
    def _run_job(self, job: _Job) -> None:
        with contextlib.suppress(_Stopped):
            job.run()

    def on_worker_state_changed(self, event: Worker.StateChanged) -> None:
        if event.worker.group != "engine" or event.state not in (
            WorkerState.SUCCESS,
            WorkerState.ERROR,
            WorkerState.CANCELLED,
        ):
            return
        if event.state == WorkerState.ERROR:
            # A bug, not a bad book: say so plainly, in one message, never a traceback.
            error = event.worker.error
            message = f"{type(error).__name__}: {error}"
            if self.state is None:  # without the book's state there is nothing left to do
                self.post_message(self.Fatal(BookreaderError(f"unexpected error: {message}")))
            else:
                self.app.push_screen(ErrorModal("Unexpected error", message))
        self._busy, self._running = False, None
        if not self._jobs and self.state is not None:
            self._set_phase("ready")
        self._pump()

    def _ui(self, callback: Callable[..., object], *args: object) -> None:
        """Run `callback` on the UI thread from a worker, or stop the worker if nobody listens."""
        if get_current_worker().is_cancelled:
            raise _Stopped
        try:
            self.app.call_from_thread(callback, *args)
        except RuntimeError as error:  # the app has closed
            raise _Stopped from error

    def _progress(self, verb: str) -> Callable[[int, int, str], None]:
        """A throttled progress callback for the engine, drawing the status bar's progress bar."""
        last_drawn = 0.0

        def report(done: int, total: int, unit: str) -> None:
            nonlocal last_drawn
            if self._stop.is_set():
                raise _StopRequested
            now = time.monotonic()
            if now - last_drawn < PROGRESS_INTERVAL_S and done < total:
                if get_current_worker().is_cancelled:
                    raise _Stopped  # lets a long read stop when the app quits
                return
            last_drawn = now
            self._ui(self._show_progress, verb, done, total, unit)

        return report

    def _show_progress(self, verb: str, done: int, total: int, unit: str) -> None:
        status = self.query_one(StatusBar)
        status.show_progress(done, total)
        status.update_info(phase=f"{verb} {done:,}/{total:,} {unit}")

    def _set_phase(self, phase: str) -> None:
        if not self.is_attached:  # a worker finishing while the app closes
            return
        status = self.query_one(StatusBar)
        status.hide_progress()
        status.update_info(phase=phase)

    # Opening and reading the book (worker thread) ------------------------------------------------

    def _open_and_read(self) -> None:
        try:
            self._ui(self._set_phase, "loading engine")
            engine = self.session.build_engine()
            self._ui(self._engine_ready, engine)
            state = self.session.read(engine, self._show_book, progress=self._progress("reading"))
        except BookreaderError as error:
            self.post_message(self.Fatal(error))  # thread-safe; the app shows it and exits
            return
        self._ui(self._book_read, engine, state)

    def _show_book(self, book: Book) -> None:
        """From the worker: the book is known (cached or loaded), its reading may go on."""
        self._ui(self._book_loaded, book)

    def _book_loaded(self, book: Book) -> None:
        self.book = book
        self.app.sub_title = book.title
        self.query_one(ChapterList).show_book(book)
        self.query_one(StatusBar).update_info(phase="reading", warnings=tuple(book.warnings))
        conversation = self.query_one(Conversation)
        conversation.clear()
        history = self.session.open_history(book)
        if history.turns:
            conversation.show_turns(history.turns)
        else:
            conversation.show_placeholder(self._introduction())

    def _introduction(self) -> str:
        book = self.book
        if book is None:
            return ""
        return (
            f"{book.title}: {len(book.chapters)} chapters, {book.word_count:,} words.\n"
            "Ask a question below; ctrl+s summarizes, F1 shows every key."
        )

    def _engine_ready(self, engine: Engine) -> None:
        self.query_one(StatusBar).update_info(
            phase="opening", engine=engine.name, model=engine.model_id, device=engine_device(engine)
        )

    def _book_read(self, engine: Engine, state: BookState) -> None:
        self.engine, self.state = engine, state
        status = self.query_one(StatusBar)
        status.hide_progress()
        status.update_info(
            phase="ready",
            tokens_read=state.tokens_read,
            passages=len(state.passages),
            memory_bytes=state.memory_bytes,
            cache_hit=state.cache_hit,
        )

    # Asking ----------------------------------------------------------------------------------

    @on(Input.Submitted, "#question")
    def _question_submitted(self, event: Input.Submitted) -> None:
        question = event.value.strip()
        if not question:
            return
        event.input.clear()
        self.ask(question)

    @on(OptionList.OptionSelected, "#chapters")
    def _chapter_chosen(self, event: OptionList.OptionSelected) -> None:
        if self.book is None:
            return
        index = chapter_index_of(event.option.id)
        if index is None:
            self.ask("What is this book about?")
        else:
            self.ask(f"What happens in {chapter_name(self.book, index)}?", chapter=index)

    def ask(self, question: str, chapter: int | None = None) -> AnswerMessage:
        """Show the question at once; answer it when its turn comes. `chapter` (a 0-based
        index) limits the answer and its citations to that chapter."""
        conversation = self.query_one(Conversation)
        conversation.add_question(question)
        answer = conversation.add_answer("answer")
        self._mark_waiting(answer)
        generation = self._generation

        def run() -> None:
            engine, state = self._ready(generation)
            # A model that only continues text gives no answers: its header says so.
            raw = not getattr(engine, "answers", True)
            self._ui(answer.start, f"{engine.name} · raw continuation" if raw else engine.name)
            self._ui(self._set_phase, "answering")
            stopped = False
            try:
                for chunk in engine.ask(state, question, chapter=chapter):
                    self._check_current(generation)
                    if self._stop.is_set():  # keep what was shown, drop the rest
                        stopped = True
                        break
                    if isinstance(chunk, str):
                        self._ui(answer.append, chunk)
                    else:
                        self._ui(answer.add_citation, chunk)
            except BookreaderError as error:
                self._ui(answer.fail, str(error))
                return
            self._ui(self._finished, generation, question, answer, stopped)

        self._enqueue(_Job(run, "ask"))
        return answer

    def action_summarize(self) -> None:
        if self.book is None:
            self.notify("The book is still being opened.", severity="warning")
            return
        chapter = self.query_one(ChapterList).selected_chapter
        if chapter is None:
            request, title = "Summarize the book.", "Summary of the book"
        else:
            name = chapter_name(self.book, chapter)
            request, title = f"Summarize {name}.", f"Summary of {name}"
        conversation = self.query_one(Conversation)
        conversation.add_question(request)
        answer = conversation.add_answer("summary", title)
        self._mark_waiting(answer)
        generation = self._generation

        def run() -> None:
            engine, state = self._ready(generation)
            self._ui(answer.start, engine.name)
            self._ui(self._set_phase, "summarizing")
            try:
                summary = engine.summarize(
                    state, chapter=chapter, progress=self._progress("summarizing")
                )
            except BookreaderError as error:
                self._ui(answer.fail, str(error))
                return
            except _StopRequested:
                self._ui(answer.fail, "Stopped before the summary was finished.")
                return
            self._check_current(generation)
            text, citations = summary_for(summary, chapter)
            self._ui(answer.append, text)
            for citation in citations:
                self._ui(answer.add_citation, citation)
            self._ui(self._finished, generation, request, answer)

        self._enqueue(_Job(run, "summarize"))

    def _mark_waiting(self, answer: AnswerMessage) -> None:
        if self.state is None:
            answer.set_state("waiting for the book to be read")
        elif self._busy:
            answer.set_state("queued")

    def _ready(self, generation: int) -> tuple[Engine, BookState]:
        """Engine and state for a job (worker thread); stops it if it is no longer wanted."""
        self._check_current(generation)
        if self.engine is None or self.state is None:  # reading failed; the app is closing
            raise _Stopped
        return self.engine, self.state

    def _check_current(self, generation: int) -> None:
        if generation != self._generation:
            raise _Stopped

    def _finished(
        self, generation: int, request: str, answer: AnswerMessage, stopped: bool = False
    ) -> None:
        answer.finish(stopped)
        if generation != self._generation or self.book is None:
            return
        self.session.record(request, answer.as_turn())

    # Other actions ----------------------------------------------------------------------------

    def action_stop(self) -> None:
        if self._running in ("ask", "summarize"):  # reading the book is not stopped this way
            self._stop.set()

    def action_clear(self) -> None:
        self._generation += 1
        # Queued questions belong to the conversation being cleared; reading goes on.
        self._jobs = deque(job for job in self._jobs if job.kind == "read")
        conversation = self.query_one(Conversation)
        conversation.clear()
        conversation.show_placeholder(self._introduction())
        self.session.clear_history()
        self.notify("Conversation cleared.")

    def action_map(self) -> None:
        if self.book is None:
            self.notify("The book is still being opened.", severity="warning")
            return
        self.app.push_screen(MapScreen(self.book), callback=self._ask_from_map)

    def _ask_from_map(self, choice: MapChoice | None) -> None:
        if choice is not None:
            self.ask(choice.question, chapter=choice.chapter)

    @on(CitationLink.Opened)
    def _open_citation(self, event: CitationLink.Opened) -> None:
        if self.book is None:
            return
        passages = self.state.passages if self.state is not None else ()
        self.app.push_screen(PassageScreen(self.book, event.citation, passages))


def engine_device(engine: Engine) -> str:
    """The engine's device if it has one (the neural engine); lexical engines run on the CPU."""
    device = getattr(engine, "device", None)
    return str(device) if device is not None else "cpu"
