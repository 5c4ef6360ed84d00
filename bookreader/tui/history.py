"""Conversation history, one JSON file per book in the data folder, keyed by the book's sha256.

The same book reopened (even renamed or moved) finds its conversation again; a changed file is a
different book and starts a new one. Files are written atomically (temp file, then rename) so a
crash mid-save never leaves half a history behind.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from bookreader import paths
from bookreader.book import Citation
from bookreader.fileio import atomic_write_text

FORMAT_VERSION = 1
Role = Literal["question", "answer", "summary"]


@dataclass(frozen=True)
class Turn:
    """One message in the conversation: a question, an answer or summary with its citations."""

    role: Role
    text: str
    citations: tuple[Citation, ...] = ()
    engine: str | None = None
    title: str | None = None  # e.g. 'Summary of ch. 2 "The Harbour"'

    def to_dict(self) -> dict[str, Any]:
        return {
            "role": self.role,
            "text": self.text,
            "citations": [c.to_dict() for c in self.citations],
            "engine": self.engine,
            "title": self.title,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Turn:
        return cls(
            role=data["role"],
            text=data.get("text", ""),
            citations=tuple(citation_from_dict(c) for c in data.get("citations") or ()),
            engine=data.get("engine"),
            title=data.get("title"),
        )


def citation_from_dict(data: dict[str, Any]) -> Citation:
    """Inverse of `Citation.to_dict`."""
    pages = data.get("pages")
    return Citation(
        chapter_index=int(data["chapter_index"]),
        chapter_title=str(data["chapter_title"]),
        passage_id=int(data["passage_id"]),
        text=str(data["text"]),
        sentence=data.get("sentence"),
        pages=(str(pages[0]), str(pages[1])) if pages else None,
        score=data.get("score"),
    )


@dataclass
class History:
    """The saved conversation about one book."""

    sha256: str
    book_title: str = ""
    turns: list[Turn] = field(default_factory=list)


class HistoryStore:
    """Reads and writes `History` files under `root` (default: `<data dir>/history`)."""

    def __init__(self, root: Path | None = None) -> None:
        self.root = root if root is not None else paths.data_dir() / "history"

    def path_for(self, sha256: str) -> Path:
        return self.root / f"{sha256}.json"

    def load(self, sha256: str) -> History:
        """The saved history, or an empty one when there is none or it cannot be parsed."""
        path = self.path_for(sha256)
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
            turns = [Turn.from_dict(t) for t in data.get("turns", [])]
        except (OSError, ValueError, KeyError, TypeError, IndexError):
            # A missing or damaged history must never stop the book from opening.
            return History(sha256=sha256)
        return History(sha256=sha256, book_title=data.get("book_title", ""), turns=turns)

    def save(self, history: History) -> None:
        self.root.mkdir(parents=True, exist_ok=True)
        payload = {
            "version": FORMAT_VERSION,
            "sha256": history.sha256,
            "book_title": history.book_title,
            "turns": [t.to_dict() for t in history.turns],
        }
        text = json.dumps(payload, ensure_ascii=False, indent=1)
        atomic_write_text(self.path_for(history.sha256), text)

    def delete(self, sha256: str) -> None:
        self.path_for(sha256).unlink(missing_ok=True)
