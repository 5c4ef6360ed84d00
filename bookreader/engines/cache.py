"""The on-disk cache of `BookState`s: a book is read once per engine and model.

Layout, under `paths.cache_dir()/states/`, one folder per entry:

    <sha256[:16]>-<engine>-<key digest[:12]>/
        state.json                      the commit record (written last, atomically)
        index-<token>/                  the passage index (bm25s files), when the engine has one
        memory-<token>.safetensors      infini engine only: InfiniState.save output

The key is the book file's sha256, the engine name, the model id, the model revision,
`CACHE_FORMAT_VERSION`, the loaders' `LOADER_VERSION` and the index terms' `TERMS_VERSION`. `state.json` repeats the whole key and `load` checks it, so a changed
book (new sha256), another model or revision, or an older cache format never reuses an entry.

A state's passage index (`state.index`) is saved in a folder of its own; a loaded state names
that folder in `state.index_path` and the engine loads the index when it first needs it. Writes are atomic: the memory file and
the index folder get fresh names, `state.json` is written to a temporary file
in the same folder and renamed over the old one (`bookreader.fileio`), and only then are memory files that
the new record does not name removed. A reader sees the old entry or the new one, never a mix.

state.json schema (format 1):
    {"format_version": 1, "key": {"book_sha256", "engine", "model_id", "model_revision",
     "format_version", "loader_version", "terms_version"}, "created": ISO-8601 UTC, "book": {path, title, author,
     language, format, sha256, warnings, chapters: [{index, title, text, pages: [[offset,
     number, label]], source, front_matter}], front_matter: [...], source_words, skipped},
     "passages": [{id, chapter_index, chapter_title, start,
     end, pages}], "tokens_read", "memory_bytes", "memory_file": name | null,
     "index_dir": name | null, "segment_len": int | null (infini), "extra": {...}}
(Entries written before `segment_len` had its own field kept it in "extra"; both are read.)
Passage texts are not stored twice: they are slices of the chapter texts.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import secrets
import shutil
from dataclasses import asdict, dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from bookreader import paths
from bookreader.book import Book, Chapter, PageMark, Passage
from bookreader.engines.base import BookState
from bookreader.engines.passages import TERMS_VERSION
from bookreader.fileio import atomic_write, atomic_write_text, replace_durably
from bookreader.loaders import LOADER_VERSION

CACHE_FORMAT_VERSION = 1
STATE_FILE = "state.json"


@dataclass(frozen=True)
class CacheKey:
    book_sha256: str
    engine: str
    model_id: str | None = None
    model_revision: str | None = None
    format_version: int = CACHE_FORMAT_VERSION
    loader_version: int = LOADER_VERSION  # a book loaded by an older loader is read again
    terms_version: int = TERMS_VERSION  # an index of other term rules is built again

    @property
    def folder_name(self) -> str:
        digest = hashlib.sha256(json.dumps(asdict(self), sort_keys=True).encode()).hexdigest()
        return f"{self.book_sha256[:16]}-{self.engine}-{digest[:12]}"


@dataclass(frozen=True)
class CacheEntry:
    """What `cache list` shows about one entry."""

    folder: Path
    key: CacheKey
    title: str
    book_path: str
    created: str
    passages: int
    tokens_read: int
    memory_bytes: int
    disk_bytes: int

    def to_dict(self) -> dict[str, Any]:
        return {
            "book_sha256": self.key.book_sha256,
            "engine": self.key.engine,
            "model_id": self.key.model_id,
            "model_revision": self.key.model_revision,
            "format_version": self.key.format_version,
            "title": self.title,
            "book_path": self.book_path,
            "created": self.created,
            "passages": self.passages,
            "tokens_read": self.tokens_read,
            "memory_bytes": self.memory_bytes,
            "disk_bytes": self.disk_bytes,
            "folder": str(self.folder),
        }


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def states_dir() -> Path:
    return paths.cache_dir() / "states"


# -- (de)serialising a state ------------------------------------------------------------------


def _chapter_to_dict(chapter: Chapter) -> dict[str, Any]:
    return {
        "index": chapter.index,
        "title": chapter.title,
        "text": chapter.text,
        "pages": [[m.offset, m.number, m.label] for m in chapter.pages],
        "source": chapter.source,
        "front_matter": chapter.front_matter,
    }


def _chapter_from_dict(data: dict[str, Any]) -> Chapter:
    return Chapter(
        index=data["index"],
        title=data["title"],
        text=data["text"],
        pages=tuple(PageMark(o, n, label) for o, n, label in data["pages"]),
        source=data["source"],
        front_matter=data["front_matter"],
    )


def book_to_dict(book: Book) -> dict[str, Any]:
    return {
        "path": str(book.path),
        "title": book.title,
        "author": book.author,
        "language": book.language,
        "format": book.format,
        "sha256": book.sha256,
        "warnings": list(book.warnings),
        "chapters": [_chapter_to_dict(c) for c in book.chapters],
        "front_matter": [_chapter_to_dict(c) for c in book.front_matter],
        "source_words": book.source_words,
        "skipped": dict(book.skipped),
    }


def book_from_dict(data: dict[str, Any]) -> Book:
    return Book(
        path=Path(data["path"]),
        title=data["title"],
        author=data["author"],
        language=data["language"],
        format=data["format"],
        chapters=[_chapter_from_dict(c) for c in data["chapters"]],
        sha256=data["sha256"],
        front_matter=[_chapter_from_dict(c) for c in data["front_matter"]],
        warnings=list(data["warnings"]),
        source_words=data.get("source_words"),
        skipped=dict(data.get("skipped") or {}),
    )


def _passage_to_dict(passage: Passage) -> dict[str, Any]:
    return {
        "id": passage.id,
        "chapter_index": passage.chapter_index,
        "chapter_title": passage.chapter_title,
        "start": passage.start,
        "end": passage.end,
        "pages": list(passage.pages) if passage.pages else None,
    }


def _passages_from_dicts(items: list[dict[str, Any]], book: Book) -> list[Passage]:
    texts = {c.index: c.text for c in book.chapters}
    return [
        Passage(
            id=p["id"],
            chapter_index=p["chapter_index"],
            chapter_title=p["chapter_title"],
            start=p["start"],
            end=p["end"],
            text=texts[p["chapter_index"]][p["start"] : p["end"]],
            pages=tuple(p["pages"]) if p["pages"] else None,
        )
        for p in items
    ]


# -- the cache ----------------------------------------------------------------------------------


class StateCache:
    """Save, load, list and clear cached book states."""

    def __init__(self, root: Path | None = None) -> None:
        self.root = root if root is not None else states_dir()

    def folder(self, key: CacheKey) -> Path:
        return self.root / key.folder_name

    def save(self, key: CacheKey, state: BookState) -> Path:
        folder = self.folder(key)
        folder.mkdir(parents=True, exist_ok=True)
        token = secrets.token_hex(6)
        memory_file = index_dir = None
        if state.memory is not None:
            memory_file = f"memory-{token}.safetensors"
            metadata = {"book_sha256": key.book_sha256}
            atomic_write(
                folder / memory_file, lambda tmp: state.memory.save(tmp, metadata=metadata)
            )
        index = state.index
        if index is not None:
            index_dir = f"index-{token}"
            tmp = folder / f".{index_dir}.tmp"
            shutil.rmtree(tmp, ignore_errors=True)
            tmp.mkdir()
            index.save(tmp)
            replace_durably(tmp, folder / index_dir)
        record = {
            "format_version": CACHE_FORMAT_VERSION,
            "key": asdict(key),
            "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
            "book": book_to_dict(state.book),
            "passages": [_passage_to_dict(p) for p in state.passages],
            "tokens_read": state.tokens_read,
            "memory_bytes": state.memory_bytes,
            "memory_file": memory_file,
            "index_dir": index_dir,
            "segment_len": state.segment_len,
            "extra": state.extra,
        }
        atomic_write_text(folder / STATE_FILE, json.dumps(record, ensure_ascii=False))
        self._remove_unreferenced(folder, {STATE_FILE, memory_file, index_dir})
        return folder

    def _remove_unreferenced(self, folder: Path, keep: set[str | None]) -> None:
        for path in folder.iterdir():
            if path.name in keep:
                continue
            if path.is_dir():
                shutil.rmtree(path, ignore_errors=True)
            else:
                with contextlib.suppress(OSError):
                    path.unlink()

    def _record(self, folder: Path) -> dict[str, Any] | None:
        try:
            record = json.loads((folder / STATE_FILE).read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return None
        if not isinstance(record, dict) or record.get("format_version") != CACHE_FORMAT_VERSION:
            return None
        return record

    def load(self, key: CacheKey, device: str | None = None) -> BookState | None:
        """The cached state for `key`, or None when absent, stale or damaged."""
        folder = self.folder(key)
        record = self._record(folder)
        if record is None or record.get("key") != asdict(key):
            return None
        try:
            book = book_from_dict(record["book"])
            passages = _passages_from_dicts(record["passages"], book)
            memory = self._load_memory(folder, record.get("memory_file"), device)
        except (KeyError, TypeError, ValueError, OSError):
            return None  # a damaged entry is rebuilt, never trusted
        extra = dict(record.get("extra") or {})
        segment_len = record.get("segment_len", extra.pop("segment_len", None))
        index_dir = record.get("index_dir")
        index_path = folder / index_dir if index_dir and (folder / index_dir).is_dir() else None
        return BookState(
            book=book,
            engine=key.engine,
            model_id=key.model_id,
            passages=passages,
            tokens_read=record["tokens_read"],
            memory=memory,
            memory_bytes=record["memory_bytes"],
            cache_hit=True,
            index_path=index_path,
            segment_len=segment_len,
            extra=extra,
        )

    def _load_memory(self, folder: Path, name: str | None, device: str | None) -> Any:
        if not name:
            return None
        from bookreader.infini.state import InfiniState  # torch only when there is memory

        return InfiniState.load(folder / name, device=device or "cpu")

    def entries(self) -> list[CacheEntry]:
        if not self.root.is_dir():
            return []
        found = []
        for folder in sorted(self.root.iterdir()):
            record = self._record(folder) if folder.is_dir() else None
            if record is None:
                continue
            found.append(
                CacheEntry(
                    folder=folder,
                    key=CacheKey(**record["key"]),
                    title=record["book"]["title"],
                    book_path=record["book"]["path"],
                    created=record["created"],
                    passages=len(record["passages"]),
                    tokens_read=record["tokens_read"],
                    memory_bytes=record["memory_bytes"],
                    disk_bytes=sum(p.stat().st_size for p in folder.iterdir() if p.is_file()),
                )
            )
        return found

    def clear(self, book_sha256: str | None = None) -> int:
        """Remove every entry, or those of one book; return how many were removed."""
        if not self.root.is_dir():
            return 0
        removed = 0
        for folder in sorted(self.root.iterdir()):
            if not folder.is_dir():
                continue
            if book_sha256 is None or folder.name.startswith(book_sha256[:16]):
                shutil.rmtree(folder, ignore_errors=True)
                removed += 1
        return removed
