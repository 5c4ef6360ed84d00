"""The passage viewer: a cited passage shown where it stands in its chapter, the cited sentence
highlighted. Opened from a citation; escape closes it.

Only a window of paragraphs around the passage is laid out (a PDF without an outline can make one
chapter of a whole book), with a note of how many paragraphs lie beyond it.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical, VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Static

from bookreader.book import PARAGRAPH_BREAK, Book, Chapter, Citation, Passage, split_paragraphs
from bookreader.tui.widgets.footer import Footer

CONTEXT_PARAGRAPHS = 12  # shown before and after the passage


def locate_passage(
    chapter: Chapter, citation: Citation, passages: Sequence[Passage] = ()
) -> tuple[int, int] | None:
    """Character span of the cited passage in its chapter's text, or None if it is not there.

    The passage text itself is the most reliable key (a saved conversation outlives the engine's
    passage numbering); the engine's passage list is the fallback.
    """
    if citation.text:
        start = chapter.text.find(citation.text)
        if start >= 0:
            return start, start + len(citation.text)
    if 0 <= citation.passage_id < len(passages):
        passage = passages[citation.passage_id]
        if passage.chapter_index == chapter.index:
            return passage.start, passage.end
    return None


def find_sentence(text: str, sentence: str | None) -> tuple[int, int] | None:
    """Span of `sentence` in `text`, tolerant of differences in whitespace."""
    if not sentence or not sentence.strip():
        return None
    start = text.find(sentence)
    if start >= 0:
        return start, start + len(sentence)
    pattern = r"\s+".join(re.escape(word) for word in sentence.split())
    match = re.search(pattern, text)
    return (match.start(), match.end()) if match else None


def _context(paragraphs: list[str], keep: int, *, before: bool) -> tuple[str, int]:
    """The `keep` paragraphs nearest the passage and how many were left out."""
    if len(paragraphs) <= keep:
        return PARAGRAPH_BREAK.join(paragraphs), 0
    kept = paragraphs[-keep:] if before else paragraphs[:keep]
    return PARAGRAPH_BREAK.join(kept), len(paragraphs) - keep


class PassageScreen(ModalScreen[None]):
    """The cited passage in its chapter."""

    BINDINGS = [  # noqa: RUF012
        Binding("escape", "dismiss", "Close"),
        Binding("q", "dismiss", "Close", show=False),
    ]

    DEFAULT_CSS = """
    PassageScreen {
        align: center middle;
        & > #passage-dialog {
            width: 90%;
            height: 90%;
            border: thick $accent 60%;
            background: $surface;
            padding: 0 1;
        }
        & #passage-heading { height: auto; text-style: bold; padding: 0 1; }
        & #passage-meta { height: auto; color: $text-muted; padding: 0 1; }
        & #passage-scroll { height: 1fr; margin-top: 1; }
        & .passage--context { color: $text-muted; padding: 0 1; }
        & .passage--elided { color: $text-muted; text-style: italic; padding: 0 1; }
        & #passage-cited {
            padding: 0 1;
            border-left: outer $accent;
            background: $accent 10%;
            margin: 1 0;
        }
    }
    """

    def __init__(self, book: Book, citation: Citation, passages: Sequence[Passage] = ()) -> None:
        super().__init__()
        self.book = book
        self.citation = citation
        self.passages = passages

    def compose(self) -> ComposeResult:
        citation = self.citation
        chapter = self._chapter()
        with Vertical(id="passage-dialog") as dialog:
            dialog.border_title = "Passage"
            dialog.border_subtitle = "esc to close"
            yield Static(Text(citation.label()), id="passage-heading")
            yield Static(self._meta(chapter), id="passage-meta")
            with VerticalScroll(id="passage-scroll"):
                yield from self._body(chapter)
        yield Footer()

    def _chapter(self) -> Chapter | None:
        index = self.citation.chapter_index
        return self.book.chapters[index] if 0 <= index < len(self.book.chapters) else None

    def _meta(self, chapter: Chapter | None) -> Text:
        meta = Text(self.book.title)
        if chapter is not None:
            meta.append(f" · chapter {chapter.index + 1} of {len(self.book.chapters)}")
            meta.append(f" · {chapter.word_count:,} words")
        return meta

    def _body(self, chapter: Chapter | None) -> ComposeResult:
        span = locate_passage(chapter, self.citation, self.passages) if chapter else None
        if chapter is None or span is None:
            # The book changed since the answer was given: show what the citation carries.
            yield Static(
                Text("(passage not found in the current text of the book)"),
                classes="passage--elided",
            )
            yield Static(self._highlighted(self.citation.text), id="passage-cited")
            return
        start, end = span
        before, hidden_before = _context(
            split_paragraphs(chapter.text[:start]), CONTEXT_PARAGRAPHS, before=True
        )
        after, hidden_after = _context(
            split_paragraphs(chapter.text[end:]), CONTEXT_PARAGRAPHS, before=False
        )
        if hidden_before:
            yield Static(f"… {hidden_before} earlier paragraphs", classes="passage--elided")
        if before:
            yield Static(Text(before), classes="passage--context")
        yield Static(self._highlighted(chapter.text[start:end]), id="passage-cited")
        if after:
            yield Static(Text(after), classes="passage--context")
        if hidden_after:
            yield Static(f"… {hidden_after} later paragraphs", classes="passage--elided")

    def _highlighted(self, passage_text: str) -> Text:
        text = Text(passage_text)
        span = find_sentence(passage_text, self.citation.sentence)
        if span is not None:
            text.stylize("bold reverse", *span)
        return text

    def on_mount(self) -> None:
        cited = self.query_one("#passage-cited", Static)
        # Lay out first, then bring the passage to the top of the view.
        self.call_after_refresh(
            self.query_one("#passage-scroll", VerticalScroll).scroll_to_widget,
            cited,
            animate=False,
            top=True,
        )
