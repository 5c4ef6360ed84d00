"""The map screen (F2 in the chat): the sample novel's names by chapter, the counts the book map
gives, a selected cell asking the engine about that name in that chapter; and its snapshot.
Regenerate the SVG with `pytest tests/test_tui_map.py --snapshot-update` and look at it."""

from __future__ import annotations

from pathlib import Path

import pytest
from textual.pilot import Pilot
from textual.widgets import DataTable, Input
from tui_fakes import ScriptedEngine, ready, wait_for

from bookreader.bookmap import book_map
from bookreader.loaders import load
from bookreader.tui.app import BookreaderApp
from bookreader.tui.history import HistoryStore
from bookreader.tui.screens.chat import ChatScreen
from bookreader.tui.screens.map import FIXED_COLUMNS, MapChoice, MapScreen
from bookreader.tui.widgets.conversation import AnswerMessage

SAMPLE = Path(__file__).resolve().parents[1] / "samples" / "the-lighthouse-keepers-ledger.epub"
SIZE = (100, 32)
JORY_IN_3 = MapChoice("Jory", 2).question


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture(scope="module")
def sample_book():
    return load(SAMPLE)


def make_app(tmp_path: Path, book, engine: ScriptedEngine) -> BookreaderApp:
    return BookreaderApp(
        book.path, engine, history=HistoryStore(tmp_path / "history"), loader=lambda _p: book
    )


async def open_map(pilot: Pilot) -> MapScreen:
    await ready(pilot)
    pilot.app.screen.query_one("#question", Input).cursor_blink = False
    await pilot.press("f2")
    await wait_for(pilot, lambda: isinstance(pilot.app.screen, MapScreen))
    screen = pilot.app.screen
    assert isinstance(screen, MapScreen)
    await wait_for(pilot, lambda: screen.map is not None and screen.query_one(DataTable).row_count)
    await pilot.pause()
    return screen


@pytest.mark.anyio
async def test_a_cell_asks_about_that_name_in_that_chapter(tmp_path: Path, sample_book) -> None:
    engine = ScriptedEngine({JORY_IN_3: ["Jory saw the wreck [1].", (10, "He heard it.")]})
    app = make_app(tmp_path, sample_book, engine)
    async with app.run_test(size=SIZE) as pilot:
        screen = await open_map(pilot)
        table = screen.query_one(DataTable)
        expected = book_map(sample_book, top=20)
        assert table.row_count == len(expected.entries)
        assert len(table.columns) == FIXED_COLUMNS + len(sample_book.chapters)
        # The table shows the map's counts: row Jory, one column per chapter.
        jory = next(i for i, e in enumerate(expected.entries) if e.name == "Jory")
        row = table.get_row_at(jory)
        assert row[0].plain == "Jory" and int(row[1].plain) == expected.entries[jory].total
        assert [int(c.plain) if c.plain != "·" else 0 for c in row[FIXED_COLUMNS:]] == (
            expected.entries[jory].counts
        )
        # The cursor starts on the top name's first chapter; go to Jory, chapter 3, and select.
        assert table.cursor_coordinate == (0, FIXED_COLUMNS)
        for _ in range(jory):
            await pilot.press("down")
        await pilot.press("right", "right", "enter")
        await wait_for(pilot, lambda: isinstance(app.screen, ChatScreen))
        chat = app.screen
        await wait_for(pilot, lambda: chat.idle and any(a.done for a in chat.query(AnswerMessage)))
        assert engine.questions[-1] == "What about Jory in chapter 3?"
        assert engine.chapters[-1] == 2  # the answer is limited to that chapter


@pytest.mark.anyio
async def test_the_name_asks_about_the_whole_book_and_escape_asks_nothing(
    tmp_path: Path, sample_book, monkeypatch: pytest.MonkeyPatch
) -> None:
    made: list[int] = []

    def counted_map(book, top: int):  # the map is made once, then shown again at once
        made.append(top)
        return book_map(book, top=top)

    monkeypatch.setattr("bookreader.tui.screens.map.book_map", counted_map)
    monkeypatch.setattr("bookreader.tui.screens.map._LAST_MAP", {})
    engine = ScriptedEngine()
    app = make_app(tmp_path, sample_book, engine)
    async with app.run_test(size=SIZE) as pilot:
        await open_map(pilot)
        await pilot.press("escape")
        await wait_for(pilot, lambda: isinstance(app.screen, ChatScreen))
        assert engine.questions == []
        screen = await open_map(pilot)
        screen.query_one(DataTable).move_cursor(row=0, column=0)
        await pilot.press("enter")
        await wait_for(pilot, lambda: isinstance(app.screen, ChatScreen))
        await wait_for(pilot, lambda: bool(engine.questions) and app.screen.idle)
        assert engine.questions == ["What about Elias?"] and engine.chapters == [None]
        assert made == [20]  # opened twice, made once


def test_map_screen_snapshot(snap_compare, tmp_path: Path, sample_book) -> None:
    async def show_map(pilot: Pilot) -> None:
        await open_map(pilot)

    app = make_app(tmp_path, sample_book, ScriptedEngine())
    assert snap_compare(app, terminal_size=SIZE, run_before=show_map)
