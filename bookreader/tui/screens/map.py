"""The map screen (F2 in the chat): the book's main names by chapter, one row per name, one
column per chapter, each cell its mentions shaded by how many. Selecting a cell (enter or a
click) closes the map and asks the engine about that name in that chapter; selecting the name
asks about it in the whole book. The map is made by `bookreader.bookmap` in a worker thread.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import DataTable, Static

from bookreader.book import Book
from bookreader.bookmap import BookMap, book_map
from bookreader.tui.widgets.footer import Footer

TOP = 20
# Background shades, pale to strong, for 1 mention up to the busiest cell (square-root scale:
# one chapter with fifty mentions must not wash out the rest).
SHADES = ("#3a3320", "#5c4a1c", "#82631a", "#ab7c17", "#d69612")
FIXED_COLUMNS = 2  # the name and its total stay in view while the chapters scroll


@dataclass(frozen=True)
class MapChoice:
    """What the reader picked: a name, and a chapter (0-based) or None for the whole book."""

    name: str
    chapter: int | None

    @property
    def question(self) -> str:
        if self.chapter is None:
            return f"What about {self.name}?"
        return f"What about {self.name} in chapter {self.chapter + 1}?"


def shade(count: int, peak: int) -> str:
    if count <= 0 or peak <= 0:
        return ""
    level = math.sqrt(count / peak) * len(SHADES)
    return f"on {SHADES[min(len(SHADES) - 1, int(level))]}"


# The last map made, by (book sha256, names shown): F2 again shows it at once.
_LAST_MAP: dict[tuple[str, int], BookMap] = {}


class MapScreen(ModalScreen[MapChoice | None]):
    CSS_PATH = "map.tcss"
    BINDINGS = [  # noqa: RUF012
        Binding("escape", "dismiss_map", "Close"),
        Binding("f2", "dismiss_map", "Close", show=False),
    ]

    def __init__(self, book: Book, top: int = TOP) -> None:
        super().__init__()
        self.book = book
        self.top = top
        self.map: BookMap | None = None

    def compose(self) -> ComposeResult:
        with Vertical(id="map-dialog") as dialog:
            dialog.border_title = f"Map · {self.book.title}"
            dialog.border_subtitle = "enter asks about a cell · esc to close"
            yield Static("Finding the main names…", id="map-caption")
            table: DataTable[Text] = DataTable(
                id="map-table", cursor_type="cell", zebra_stripes=False
            )
            table.fixed_columns = FIXED_COLUMNS
            yield table
        yield Footer()

    def on_mount(self) -> None:
        self._make_map()

    @work(thread=True, exclusive=True, group="map")
    def _make_map(self) -> None:
        key = (self.book.sha256, self.top)
        data = _LAST_MAP.get(key) or book_map(self.book, top=self.top)  # seconds at most
        _LAST_MAP.clear()
        _LAST_MAP[key] = data
        self.app.call_from_thread(self._show, data)

    def _show(self, data: BookMap) -> None:
        self.map = data
        table = self.query_one("#map-table", DataTable)
        table.add_column("name", key="name")
        table.add_column("all", key="total")
        for number in range(1, len(data.chapter_titles) + 1):
            table.add_column(str(number), key=f"ch{number}", width=3)
        peak = max((max(e.counts, default=0) for e in data.entries), default=0)
        for entry in data.entries:
            cells = [Text(entry.name, style="bold"), Text(str(entry.total), justify="right")]
            cells += [
                Text(str(n) if n else "·", style=shade(n, peak), justify="right")
                for n in entry.counts
            ]
            table.add_row(*cells, key=entry.name)
        caption = self.query_one("#map-caption", Static)
        if not data.entries:
            caption.update("No recurring names found in this book.")
            return
        caption.update(
            f"{len(data.entries)} most mentioned names by chapter ({len(data.chapter_titles)} "
            "chapters): mentions per chapter, capitalised names found without a model."
        )
        table.focus()
        table.move_cursor(row=0, column=FIXED_COLUMNS)

    @on(DataTable.CellSelected, "#map-table")
    def _cell_selected(self, event: DataTable.CellSelected) -> None:
        if self.map is None or not self.map.entries:
            return
        entry = self.map.entries[event.coordinate.row]
        column = event.coordinate.column
        chapter = column - FIXED_COLUMNS if column >= FIXED_COLUMNS else None
        self.dismiss(MapChoice(entry.name, chapter))

    def action_dismiss_map(self) -> None:
        self.dismiss(None)
