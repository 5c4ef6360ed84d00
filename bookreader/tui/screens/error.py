"""The error modal: one clear message (a loader's or an engine's), never a traceback."""

from __future__ import annotations

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import Button, Static

from bookreader.tui.widgets.footer import Footer


class ErrorModal(ModalScreen[None]):
    """Shows `message` under `title`; escape, enter or the button dismisses it."""

    BINDINGS = [  # noqa: RUF012
        Binding("escape", "dismiss", "Close"),
        Binding("enter", "dismiss", "Close", show=False),  # also before the button has focus
    ]
    AUTO_FOCUS = "#error-close"

    DEFAULT_CSS = """
    ErrorModal {
        align: center middle;
        & > #error-dialog {
            width: 70;
            max-width: 95%;
            height: auto;
            border: thick $error 70%;
            background: $surface;
            padding: 1 2;
        }
        & #error-title { text-style: bold; color: $text-error; }
        & #error-message { margin: 1 0; }
        & Button { width: 100%; }
    }
    """

    def __init__(self, title: str, message: str, button: str = "OK") -> None:
        super().__init__()
        self.title_text = title
        self.message = message
        self.button_label = button

    def compose(self) -> ComposeResult:
        with Vertical(id="error-dialog"):
            yield Static(Text(self.title_text), id="error-title")
            yield Static(Text(self.message), id="error-message")
            yield Button(self.button_label, variant="error", id="error-close")
        yield Footer()

    def on_button_pressed(self, event: Button.Pressed) -> None:
        event.stop()
        self.dismiss()
