"""The chat session without Textual: reading through the cache, the history it keeps."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from bookreader.book import Book
from bookreader.engines.cache import StateCache
from bookreader.engines.registry import create_engine
from bookreader.tui.history import HistoryStore, Turn
from bookreader.tui.session import ChatSession


def test_the_session_reads_through_the_cache_and_keeps_the_history(samples: Path) -> None:
    path = samples / "the-lighthouse-keepers-ledger.txt"
    shown: list[Book] = []
    session = ChatSession(path, lambda: create_engine("extractive"), cache=StateCache())
    engine = session.build_engine()
    first = session.read(engine, shown.append)
    assert not first.cache_hit and shown == [first.book] and session.state is first
    history = session.open_history(first.book)
    assert history.turns == [] and history.book_title == first.book.title
    session.record("Who keeps the light?", Turn("answer", "Ada."))

    again = ChatSession(path, engine, cache=StateCache(), history_store=HistoryStore())
    second = again.read(again.build_engine(), shown.append)
    assert second.cache_hit and shown[-1].title == first.book.title  # the book, before any read
    assert [t.role for t in again.open_history(second.book).turns] == ["question", "answer"]
    fresh = ChatSession(path, engine, fresh=True)
    assert fresh.open_history(second.book).turns == []


def test_the_session_module_needs_no_textual() -> None:
    # In a fresh interpreter: in this one, other tests have imported Textual already.
    code = "import sys, bookreader.tui.session; sys.exit('textual' in sys.modules)"
    assert subprocess.run([sys.executable, "-c", code], check=False).returncode == 0
