"""SVG snapshots (pytest-textual-snapshot) of the chat screen with an answer, the passage viewer
and the help screen, at 100x32, driven by the scripted engine so that every run draws the same
screen. Regenerate with `pytest tests/test_tui_snapshots.py --snapshot-update` and look at the
SVGs before committing them."""

from __future__ import annotations

from pathlib import Path

from textual.pilot import Pilot
from textual.widgets import Input
from tui_fakes import ScriptedEngine, click, make_book, ready, wait_for

from bookreader.tui.app import BookreaderApp
from bookreader.tui.history import HistoryStore
from bookreader.tui.screens.passage import PassageScreen
from bookreader.tui.widgets.conversation import AnswerMessage, CitationLink

SIZE = (100, 32)
QUESTION = "Who rows out to the light, and what happened to the ledger page?"
SCRIPT = {
    QUESTION: [
        "Ada Quill rows the supply boat out every Tuesday [1]. ",
        "The page about the schooner without lights was torn out in April [2], ",
        "and Ada later read it aloud to the harbour master [3].",
        (1, "Ada Quill rowed the supply boat out to the light every Tuesday."),
        (4, "On the ninth of March he wrote that a schooner without lights had run north."),
        (7, "Ada read the missing page aloud to the harbour master, who said nothing for a while."),
    ]
}


def make_app(tmp_path: Path) -> BookreaderApp:
    book = make_book()
    return BookreaderApp(
        book.path,
        ScriptedEngine(SCRIPT),
        history=HistoryStore(tmp_path / "history"),
        loader=lambda _path: book,
    )


def steady_cursor(pilot: Pilot) -> None:
    # A blinking cursor is drawn or not depending on when the screenshot falls: keep it on.
    pilot.app.screen.query_one("#question", Input).cursor_blink = False


async def answered(pilot: Pilot) -> None:
    await ready(pilot)
    steady_cursor(pilot)
    pilot.app.screen.query_one("#question", Input).value = QUESTION
    await pilot.press("enter")
    screen = pilot.app.screen
    # Done, and the worker's end processed too (the status bar is back to "ready").
    await wait_for(pilot, lambda: any(a.done for a in screen.query(AnswerMessage)) and screen.idle)
    await pilot.pause()


def test_chat_screen_with_an_answer(snap_compare, tmp_path: Path) -> None:
    assert snap_compare(make_app(tmp_path), terminal_size=SIZE, run_before=answered)


def test_passage_viewer(snap_compare, tmp_path: Path) -> None:
    async def open_second_citation(pilot: Pilot) -> None:
        await answered(pilot)
        links = list(pilot.app.screen.query(CitationLink))
        await click(pilot, links[1])
        await wait_for(pilot, lambda: isinstance(pilot.app.screen, PassageScreen))
        await pilot.pause()

    assert snap_compare(make_app(tmp_path), terminal_size=SIZE, run_before=open_second_citation)


def test_help_screen(snap_compare, tmp_path: Path) -> None:
    async def open_help(pilot: Pilot) -> None:
        await ready(pilot)
        steady_cursor(pilot)
        await pilot.press("f1")
        await pilot.pause()

    assert snap_compare(make_app(tmp_path), terminal_size=SIZE, run_before=open_help)
