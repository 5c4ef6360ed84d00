"""The chapter list on the left: the whole book first, then every chapter with its word count.

Highlighting a row chooses what ctrl+s summarizes; enter (not a click) asks about it, so that
browsing with the mouse never sends a question by accident.
"""

from __future__ import annotations

import textwrap

from rich.text import Text
from textual import events
from textual.binding import Binding
from textual.widgets import OptionList
from textual.widgets.option_list import Option

from bookreader.book import Book

WHOLE_BOOK_ID = "book"


TITLE_WIDTH = 22  # inner width (32 - borders - padding - scrollbar) less the number gutter
INDENT = "    "


def _chapter_option(number: int, title: str, words: int) -> Option:
    # Wrapped by hand so that continuation lines hang under the title, not under the number.
    lines = textwrap.wrap(title or "(untitled)", TITLE_WIDTH) or ["(untitled)"]
    prompt = Text()
    prompt.append(f"{number:>2}. ", style="dim")
    prompt.append(lines[0])
    for line in lines[1:]:
        prompt.append(f"\n{INDENT}{line}")
    prompt.append(f"\n{INDENT}{words:,} words", style="dim")
    return Option(prompt, id=f"chapter-{number - 1}")


class ChapterList(OptionList):
    """Titles and word counts of a book's chapters, with a 'whole book' row on top."""

    DEFAULT_CSS = """
    ChapterList {
        width: 32;
        height: 1fr;
        border: round $primary 40%;
        border-title-color: $text-muted;
        padding: 0;
        scrollbar-size-vertical: 1;
        &:focus { border: round $primary; }
        & > .option-list--option { padding: 0 1; }
    }
    """

    BINDINGS = [Binding("enter", "select", "Ask about it")]  # noqa: RUF012 (shown in the footer)

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.border_title = "Chapters"

    def show_loading(self) -> None:
        self.clear_options()
        self.add_option(Option(Text("Opening the book…", style="dim"), disabled=True))

    def show_book(self, book: Book) -> None:
        self.clear_options()
        whole = Text()
        whole.append("Whole book", style="bold")
        whole.append(f"\n{INDENT}{len(book.chapters)} chapters", style="dim")
        whole.append(f"\n{INDENT}{book.word_count:,} words", style="dim")
        options = [Option(whole, id=WHOLE_BOOK_ID)]
        options += [
            _chapter_option(chapter.index + 1, chapter.title, chapter.word_count)
            for chapter in book.chapters
        ]
        self.add_options(options)
        self.highlighted = 0
        self.border_subtitle = f"{len(book.chapters)}"

    @property
    def selected_chapter(self) -> int | None:
        """Index of the highlighted chapter, None for the whole book (or nothing highlighted)."""
        if self.highlighted is None:
            return None
        return chapter_index_of(self.get_option_at_index(self.highlighted).id)

    async def _on_click(self, event: events.Click) -> None:
        # A click highlights only; asking is a deliberate enter.
        clicked = event.style.meta.get("option")
        if clicked is not None and not self._options[clicked].disabled:
            self.highlighted = clicked


def chapter_index_of(option_id: str | None) -> int | None:
    if option_id is None or option_id == WHOLE_BOOK_ID:
        return None
    return int(option_id.removeprefix("chapter-"))


def chapter_name(book: Book, index: int) -> str:
    """How to name a chapter in a sentence (see `Chapter.label`)."""
    return book.chapters[index].label()
