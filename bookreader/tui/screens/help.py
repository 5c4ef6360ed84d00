"""The help screen (F1 or ?): what each key does and how the chat works."""

from __future__ import annotations

from rich.table import Table
from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Static

from bookreader.tui.widgets.footer import Footer

KEYS: tuple[tuple[str, str], ...] = (
    ("enter", "in the input: ask the question"),
    ("enter", "in the chapter list: ask what happens in that chapter"),
    ("ctrl+s", "summarize the book, or the chapter highlighted in the list"),
    ("ctrl+l", "clear the conversation (and its saved history)"),
    ("F2", "the map: main names by chapter; enter on a cell asks about it"),
    ("tab / shift+tab", "move between chapters, conversation and input"),
    ("← / →", "in the conversation: move between citations"),
    ("enter / click", "on a citation: open the passage it cites"),
    ("escape", "stop the answer or summary being written"),
    ("escape", "close the passage viewer, this help or an error"),
    ("F1 or ?", "this help"),
    ("ctrl+q", "quit"),
)

ABOUT = (
    "Questions asked while the book is still being read, or while another answer is streaming, "
    "wait their turn: answers never mix. The conversation is saved per book and shown again "
    "when the same book is reopened (`bookreader chat BOOK --fresh` starts anew)."
)


def keys_table() -> Table:
    table = Table.grid(padding=(0, 2))
    table.add_column(style="bold", no_wrap=True)
    table.add_column()
    for key, what in KEYS:
        table.add_row(key, what)
    return table


class HelpScreen(ModalScreen[None]):
    BINDINGS = [  # noqa: RUF012
        Binding("escape", "dismiss", "Close"),
        Binding("f1,question_mark,q", "dismiss", "Close", show=False),
    ]

    DEFAULT_CSS = """
    HelpScreen {
        align: center middle;
        & > #help-dialog {
            width: 80;
            max-width: 95%;
            height: auto;
            max-height: 90%;
            border: thick $primary 60%;
            background: $surface;
            padding: 1 2;
        }
        & #help-about { margin-top: 1; color: $text-muted; }
    }
    """

    def compose(self) -> ComposeResult:
        with VerticalScroll(id="help-dialog") as dialog:
            dialog.border_title = "bookreader · help"
            dialog.border_subtitle = "esc to close"
            yield Static(keys_table(), id="help-keys")
            yield Static(Text(ABOUT), id="help-about")
        yield Footer()
