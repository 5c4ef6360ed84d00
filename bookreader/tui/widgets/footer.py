"""Textual's footer, safe while the app closes.

A binding change late in shutdown (focus leaving the last screen) makes the footer recompose
after the screen stack is already empty; the stock footer then raises ScreenStackError looking
up `app.screen` for the `screen.*` bindings. This one shows nothing instead.
"""

from __future__ import annotations

from textual.app import ComposeResult, ScreenStackError
from textual.widgets import Footer as TextualFooter


class Footer(TextualFooter):
    def compose(self) -> ComposeResult:
        try:
            self.app.screen  # noqa: B018 - raises once the last screen is gone
        except ScreenStackError:
            return
        yield from super().compose()
