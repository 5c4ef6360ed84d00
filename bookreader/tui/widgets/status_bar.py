"""The status bar: what reads the book (engine, model, device), how far it got, and the state.

While the book is being read it carries a progress bar; afterwards it shows tokens read, the size
of the memory the engine keeps (constant whatever the book's length, for the infini engine) and
whether the state came from the cache. A book the loader warned about (pages skipped, structure
guessed) shows its warnings last, with their count.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from rich.text import Text
from textual.app import ComposeResult
from textual.containers import Horizontal
from textual.widgets import ProgressBar, Static

from bookreader.humanize import human_bytes

MODEL_WIDTH = 24


def short_model_name(model: str | None) -> str:
    """A local model folder by its name (the full path would crowd out the rest), a hub id as
    it is; either cut to MODEL_WIDTH characters."""
    if not model:
        return "—"
    name = Path(model).name if Path(model).is_absolute() else model
    return name if len(name) <= MODEL_WIDTH else name[: MODEL_WIDTH - 1] + "…"


@dataclass
class StatusInfo:
    engine: str = "…"
    model: str | None = None
    device: str | None = None
    tokens_read: int | None = None
    passages: int | None = None
    memory_bytes: int | None = None
    cache_hit: bool | None = None
    phase: str = "starting"
    warnings: tuple[str, ...] = ()  # the loader's, about this book

    def render(self) -> Text:
        text = Text()
        text.append(f" {self.phase} ", style="reverse")
        if self.warnings:  # first, where a narrow terminal cannot cut it off
            count = len(self.warnings)
            text.append(f" ⚠ {count} warning{'s' if count != 1 else ''} ", style="bold yellow")
        parts = [
            ("engine", self.engine),
            ("model", short_model_name(self.model)),
            ("device", self.device or "—"),
        ]
        if self.tokens_read:
            parts.append(("read", f"{self.tokens_read:,} tokens"))
        elif self.passages is not None:  # lexical engines index passages, they read no tokens
            parts.append(("indexed", f"{self.passages:,} passages"))
        if self.memory_bytes is not None:
            memory = human_bytes(self.memory_bytes) if self.memory_bytes else "none"
            parts.append(("memory", memory))
        if self.cache_hit is not None:
            parts.append(("cache", "hit" if self.cache_hit else "miss"))
        for label, value in parts:
            text.append(f"  {label} ", style="dim")
            text.append(value)
        if self.warnings:
            text.append("  warnings ", style="dim")
            text.append(" / ".join(self.warnings))
        return text


class StatusBar(Horizontal):
    DEFAULT_CSS = """
    StatusBar {
        height: 1;
        background: $panel;
        color: $text;
        & > #status-text { width: 1fr; height: 1; }
        & > ProgressBar { width: auto; height: 1; display: none; }
        & > ProgressBar.-active { display: block; }
    }
    """

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.info = StatusInfo()

    def compose(self) -> ComposeResult:
        yield Static(self.info.render(), id="status-text")
        yield ProgressBar(total=None, show_eta=False, id="reading-progress")

    def update_info(self, **changes: object) -> None:
        for name, value in changes.items():
            setattr(self.info, name, value)
        self.query_one("#status-text", Static).update(self.info.render())

    def show_progress(self, done: int, total: int) -> None:
        bar = self.query_one("#reading-progress", ProgressBar)
        bar.add_class("-active")
        bar.update(total=max(total, 1), progress=min(done, total))

    def hide_progress(self) -> None:
        self.query_one("#reading-progress", ProgressBar).remove_class("-active")
