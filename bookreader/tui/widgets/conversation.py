"""The conversation: questions, streamed answers and summaries, each with numbered citations.

Citations are clickable rows under an answer. With the conversation focused, left/right move a
citation cursor over every citation on screen and enter opens the one under it, so that the
keyboard reaches everything the mouse does without making each citation a tab stop.
"""

from __future__ import annotations

import contextlib
import re
from typing import TypeVar

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical, VerticalScroll
from textual.css.query import NoMatches
from textual.message import Message
from textual.widget import Widget
from textual.widgets import Static

from bookreader.book import Citation
from bookreader.tui.history import Turn

_SENTENCE_PREVIEW = 70
M = TypeVar("M", bound=Widget)


def citation_text(number: int, citation: Citation) -> Text:
    """`[1] ch. 3 "The Harbour" — “first words of the cited sentence…”`"""
    text = Text()
    text.append(f"[{number}] ", style="bold")
    text.append(citation.label(), style="underline")
    quote = " ".join((citation.sentence or citation.text).split())
    if len(quote) > _SENTENCE_PREVIEW:
        quote = quote[: _SENTENCE_PREVIEW - 1].rstrip() + "…"
    if quote:
        # Quote the sentence unless it opens with its own quotation mark (dialogue).
        quoted = quote if quote[0] in "\"“‘'«" else f"“{quote}”"
        text.append(f" — {quoted}", style="italic dim")
    return text


_BOLD = re.compile(r"\*\*(.+?)\*\*", re.DOTALL)


def render_answer(text: str) -> Text:
    """Answer text with `**marked**` spans in bold (engines mark the best sentence so); the
    rest is shown literally, never parsed as markup."""
    rendered = Text()
    position = 0
    for match in _BOLD.finditer(text):
        rendered.append(text[position : match.start()])
        rendered.append(match.group(1), style="bold")
        position = match.end()
    rendered.append(text[position:])
    return rendered


class CitationLink(Static):
    """One citation under an answer; clicking it (or enter on it) opens the passage viewer."""

    DEFAULT_CSS = """
    CitationLink {
        height: auto;
        color: $text-accent;
        padding: 0 1;
        &:hover { background: $boost; }
        &.-selected { background: $accent 30%; }
    }
    """

    class Opened(Message):
        def __init__(self, citation: Citation) -> None:
            super().__init__()
            self.citation = citation

    def __init__(self, number: int, citation: Citation) -> None:
        super().__init__(citation_text(number, citation))
        self.number = number
        self.citation = citation

    def on_click(self) -> None:
        self.post_message(self.Opened(self.citation))


class QuestionMessage(Static):
    """What the reader asked (or asked for: a summary)."""

    DEFAULT_CSS = """
    QuestionMessage {
        height: auto;
        margin: 1 1 0 6;
        padding: 0 1;
        background: $primary 15%;
        border-left: outer $primary;
    }
    """

    def __init__(self, text: str) -> None:
        super().__init__(Text(text))
        self.text = text


class AnswerMessage(Vertical):
    """An answer or summary: a header with its state, the text as it streams, then citations."""

    DEFAULT_CSS = """
    AnswerMessage {
        height: auto;
        margin: 1 6 0 1;
        padding: 0 1;
        border-left: outer $secondary;
        background: $surface;
        & > .answer--header { color: $text-muted; height: auto; }
        & > .answer--body { height: auto; }
        & > .answer--citations { height: auto; margin-top: 1; }
        &.-failed { border-left: outer $error; }
        &.-failed > .answer--body { color: $text-error; }
    }
    """

    def __init__(self, role: str = "answer", title: str | None = None) -> None:
        super().__init__()
        self.role = role
        self.title = title or ("Summary" if role == "summary" else "Answer")
        self.engine: str | None = None
        self.text = ""
        self.citations: list[Citation] = []
        self.done = False
        self._state = "queued"
        self._error: str | None = None

    def compose(self) -> ComposeResult:
        # Built from the current data: a message filled before it is mounted shows it all.
        yield Static(self._header(), classes="answer--header")
        yield Static(self._body(), classes="answer--body")
        with Vertical(classes="answer--citations"):
            for number, citation in enumerate(self.citations, start=1):
                yield CitationLink(number, citation)

    def _header(self) -> Text:
        header = Text(self.title, style="bold")
        if self.engine:
            header.append(f" · {self.engine}", style="dim")
        if self._state:
            header.append(f" · {self._state}", style="italic")
        return header

    def _body(self) -> Text:
        if self._error is not None:
            return Text(self._error)
        if not self.text and self.done:
            return Text("(no answer)", style="dim")
        return render_answer(self.text)

    def _refresh_part(self, selector: str, content: Text) -> None:
        # Not composed yet: compose() will show the current data.
        with contextlib.suppress(NoMatches):
            self.query_one(selector, Static).update(content)

    def set_state(self, state: str) -> None:
        """'queued', 'waiting for the book', 'thinking…', or '' once finished."""
        self._state = state
        self._refresh_part(".answer--header", self._header())

    def start(self, engine: str) -> None:
        self.engine = engine
        self.set_state("thinking…")

    def append(self, chunk: str) -> None:
        if not self.text and self._state:
            self.set_state("")
        self.text += chunk
        self._refresh_part(".answer--body", self._body())

    def add_citation(self, citation: Citation) -> None:
        self.citations.append(citation)
        try:
            box = self.query_one(".answer--citations", Vertical)
        except NoMatches:
            return
        box.mount(CitationLink(len(self.citations), citation))

    def finish(self, stopped: bool = False) -> None:
        self.done = True
        self._refresh_part(".answer--body", self._body())
        self.set_state("stopped" if stopped else "")

    def fail(self, message: str) -> None:
        self.done = True
        self._error = message
        self.add_class("-failed")
        self._refresh_part(".answer--body", self._body())
        self.set_state("failed")

    @classmethod
    def from_turn(cls, turn: Turn) -> AnswerMessage:
        """A finished message showing a saved answer or summary."""
        message = cls(turn.role, turn.title)
        message.engine = turn.engine
        message.text = turn.text
        message.citations = list(turn.citations)
        message.done = True
        message._state = ""
        return message

    def as_turn(self) -> Turn:
        role = "summary" if self.role == "summary" else "answer"
        return Turn(
            role=role,
            text=self.text,
            citations=tuple(self.citations),
            engine=self.engine,
            title=self.title,
        )


class Conversation(VerticalScroll, can_focus=True):
    """The scrolling conversation pane; it sticks to the bottom while answers stream."""

    DEFAULT_CSS = """
    Conversation {
        height: 1fr;
        border: round $primary 40%;
        border-title-color: $text-muted;
        &:focus { border: round $primary; }
        & > .conversation--empty { color: $text-muted; margin: 1 2; }
    }
    """

    BINDINGS = [  # noqa: RUF012 (Textual's convention)
        Binding("left", "move_citation(-1)", "Citation", key_display="←/→"),
        Binding("right", "move_citation(1)", "Next citation", show=False),
        Binding("enter", "open_citation", "Open"),
    ]

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.border_title = "Conversation"
        self._selected: CitationLink | None = None

    def on_mount(self) -> None:
        self.anchor()

    def add_question(self, text: str) -> QuestionMessage:
        return self._append(QuestionMessage(text))

    def add_answer(self, role: str = "answer", title: str | None = None) -> AnswerMessage:
        return self._append(AnswerMessage(role, title))

    def _append(self, message: M) -> M:
        self._remove_placeholder()
        self.mount(message)
        self.anchor()  # follow the new message even if the reader had scrolled up
        return message

    def show_turns(self, turns: list[Turn]) -> None:
        """Lay out a saved conversation again, citations included."""
        for turn in turns:
            if turn.role == "question":
                self.add_question(turn.text)
            else:
                self.mount(AnswerMessage.from_turn(turn))

    def clear(self) -> None:
        self._selected = None
        self.remove_children()

    def _remove_placeholder(self) -> None:
        for placeholder in self.query(".conversation--placeholder"):
            placeholder.remove()

    def show_placeholder(self, text: str) -> None:
        self.mount(Static(Text(text), classes="conversation--empty conversation--placeholder"))

    # Citation cursor -------------------------------------------------------------------------

    def _links(self) -> list[CitationLink]:
        return list(self.query(CitationLink))

    def action_move_citation(self, step: int) -> None:
        links = self._links()
        if not links:
            return
        # Without a current citation, start from the newest: the one a reader most likely wants.
        position = links.index(self._selected) + step if self._selected in links else len(links) - 1
        position = max(0, min(position, len(links) - 1))
        self._select(links[position])

    def _select(self, link: CitationLink) -> None:
        if self._selected is not None:
            self._selected.remove_class("-selected")
        self._selected = link
        link.add_class("-selected")
        self.release_anchor()
        self.scroll_to_widget(link, animate=False)

    def action_open_citation(self) -> None:
        if self._selected is None or self._selected not in self._links():
            self.action_move_citation(0)
        if self._selected is not None:
            self.post_message(CitationLink.Opened(self._selected.citation))
