"""What the book commands share: common options, settings resolution (flags over config file
over defaults), progress bars on stderr, atomic `--out` files, and the output formats.

JSON schemas (stable; the "schema" field names the document type and its version):

bookreader.summary/1 (`summarize --json`, and every `batch` OUT/<name>.json):
    {"schema": "bookreader.summary/1",
     "book": BOOK, "engine": str, "model": str | null, "length": "short"|"medium"|"long",
     "strategy": str | null, "notice": str | null,
     "summary": str,                       # whole-book summary
     "chapters": [{"index": int, "number": int, "title": str, "summary": str,
                   "citations": [CITATION]}],
     "citations": [CITATION],              # where the whole-book summary's sentences come from
     "cache": CACHE}

bookreader.answer/1 (`ask --json`):
    {"schema": "bookreader.answer/1", "book": BOOK, "engine": str, "model": str | null,
     "question": str, "chapter": int (1-based, the --chapter asked about) | null,
     "found": bool, "answer": str, "citations": [CITATION], "cache": CACHE}

bookreader.read/1 (`read --json`):
    {"schema": "bookreader.read/1", "book": BOOK, "engine": str, "model": str | null,
     "passages": int, "tokens_read": int, "memory_bytes": int, "cache": CACHE}

where
    BOOK     = {"title": str, "author": str | null, "path": str, "format": str,
                "sha256": str, "chapters": int, "words": int,
                "warnings": [str] (the loader's: what it skipped, guessed or repaired)}
    CITATION = {"chapter_index": int (0-based), "chapter_title": str, "passage_id": int,
                "pages": [first, last] | null (PDFs), "sentence": str | null,
                "text": str (the passage), "score": float | null}
    CACHE    = {"hit": bool, "memory_bytes": int}
"""

from __future__ import annotations

import sys
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    ProgressColumn,
    Task,
    TextColumn,
    TimeElapsedColumn,
)
from rich.text import Text

from bookreader.book import Book, Citation
from bookreader.cli.checks import input_file, write_output
from bookreader.cli.options import plain
from bookreader.config import Settings, load_settings
from bookreader.engines.base import BookState, Engine, ProgressCallback, Summary
from bookreader.engines.cache import StateCache
from bookreader.engines.extractive import SUMMARY_NOTICE
from bookreader.errors import UsageError

SUMMARY_SCHEMA = "bookreader.summary/1"
ANSWER_SCHEMA = "bookreader.answer/1"
READ_SCHEMA = "bookreader.read/1"
SUMMARY_NOTICES = {"extractive": SUMMARY_NOTICE}


def chapter_index(book: Book, chapter: int | None) -> int | None:
    """The 0-based index of --chapter N (1-based, as `info` numbers chapters), or None."""
    if chapter is None:
        return None
    numbers = [c.index + 1 for c in book.chapters]
    if chapter not in numbers:
        raise UsageError(f"--chapter {chapter}: the book has chapters 1 to {len(numbers)}")
    return chapter - 1


def settings_from(
    engine: Any = None,
    model: str | None = None,
    device: str | None = None,
    fmt: Any = None,
    as_json: bool = False,
    length: Any = None,
    strategy: Any = None,
) -> Settings:
    """Built-in defaults, then config.toml, then the flags that were given (or their
    environment variables). `--model` names a neural model, so it implies `--engine infini`;
    asking for both `--engine extractive` and a model is a usage error, never silently
    ignored. A device that is absent is refused here, in one line, before anything loads."""
    engine, fmt, length, strategy = (plain(v) for v in (engine, fmt, length, strategy))
    if model and engine is None:
        engine = "infini"
    elif model and engine == "extractive":
        raise UsageError(
            f"--model {model} needs the infini engine; the extractive engine reads without a model"
        )
    settings = load_settings().override(
        engine=engine,
        model=model,
        device=device,
        format="json" if as_json else fmt,
        length=length,
        strategy=strategy,
    )
    if settings.engine == "infini" and not settings.model:
        raise UsageError("the infini engine needs --model (or `model` in config.toml)")
    if settings.engine == "infini" and settings.device:
        check_device(settings.device)
    return settings


def check_device(device: str) -> None:
    """A usage error (exit 2) for a device torch cannot use here: `cuda` on a machine without a
    GPU would otherwise fail deep inside torch (pin_memory) with a traceback."""
    name = device.strip().lower()
    if name in ("auto", "cpu"):
        return
    import torch

    where = f"device {device!r} (from --device, BOOKREADER_DEVICE or config.toml)"
    if name.startswith("cuda"):
        if not torch.cuda.is_available():
            raise UsageError(f"{where}: no CUDA GPU is available here; use --device cpu")
        index = name.partition(":")[2]
        count = torch.cuda.device_count()
        if index and (not index.isdigit() or int(index) >= count):
            raise UsageError(f"{where}: this machine has CUDA devices 0 to {count - 1}")
        return
    if name == "mps":
        if not torch.backends.mps.is_available():
            raise UsageError(f"{where}: MPS (Apple GPU) is not available here; use --device cpu")
        return
    try:
        torch.device(name)
    except RuntimeError:
        raise UsageError(f"{where}: not a device (cpu, cuda, cuda:N or mps)") from None


def build_engine(settings: Settings) -> Engine:
    from bookreader.engines.registry import create_engine

    return create_engine(
        settings.engine,
        model=settings.model,
        device=settings.device,
        dtype=settings.dtype,
        strategy=settings.strategy,  # type: ignore[arg-type]  (checked by Settings)
    )


def require(engine: Engine, task: str) -> None:
    """Refuse (exit 2) before the book is read a task the engine's model cannot do: a model
    that follows no instructions cannot answer or summarize."""
    check = getattr(engine, "require", None)
    if check is not None:
        check(task)


def require_before_loading(settings: Settings, task: str) -> None:
    """The same refusal as `require`, for commands that load the model later (chat, batch):
    a local model folder says what it can do without being loaded."""
    if settings.engine == "infini" and settings.model:
        from bookreader.engines.capabilities import require_generation, static_capabilities

        capabilities = static_capabilities(settings.model)
        if capabilities is not None:
            require_generation(settings.model, capabilities, task)


def gives_answers(engine: Engine) -> bool:
    """False for a model whose output only continues a prompt: never `found`."""
    return bool(getattr(engine, "answers", True))


# -- progress -------------------------------------------------------------------------------------


class RateColumn(ProgressColumn):
    """Throughput in the task's own unit, e.g. `5120 tokens/s`."""

    def render(self, task: Task) -> Text:
        unit = task.fields.get("unit", "")
        if not task.speed:
            return Text(f"- {unit}/s")
        return Text(f"{task.speed:,.0f} {unit}/s")


def progress_enabled(quiet: bool) -> bool:
    return not quiet and sys.stderr.isatty()


def stderr_progress(*columns: str | ProgressColumn, transient: bool = False) -> Progress:
    """The one way a command builds a Rich progress display: on the stderr console."""
    from bookreader.cli.common import stderr_console

    return Progress(*columns, console=stderr_console(), transient=transient)


@contextmanager
def progress_bar(description: str, quiet: bool = False) -> Iterator[ProgressCallback | None]:
    """A Rich bar on stderr fed by an engine's progress callback; None when stderr is not a
    terminal or --quiet (no bar, no escape codes in logs)."""
    if not progress_enabled(quiet):
        yield None
        return
    columns = (
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("{task.fields[unit]}"),
        RateColumn(),
        TimeElapsedColumn(),
    )
    with stderr_progress(*columns, transient=True) as bar:
        task = bar.add_task(description, total=None, unit="")

        def report(done: int, total: int, unit: str) -> None:
            bar.update(task, completed=done, total=total, unit=unit)

        yield report


def note(message: str, quiet: bool = False) -> None:
    """A status line on stderr (never stdout)."""
    if not quiet:
        sys.stderr.write(message + "\n")
        sys.stderr.flush()


class BestEffortCache(StateCache):
    """The state cache, or none at all: a cache folder that cannot be read or written (read-only,
    under a file, full) costs a second read later, never the answer. One warning says so."""

    def __init__(self, root: Path | None = None, warn: bool = True) -> None:
        super().__init__(root)
        self.warn = warn
        self.failed = False

    @classmethod
    def checked(cls) -> BestEffortCache:
        """A cache whose folder was tried now (the terminal app cannot show a warning later:
        it owns the screen); unusable, it warns once here and is never used."""
        cache = cls()
        try:
            cache.root.mkdir(parents=True, exist_ok=True)
            with tempfile.TemporaryFile(dir=cache.root):
                pass
        except OSError as error:
            cache._give_up(error)
        cache.warn = False
        return cache

    def _give_up(self, error: OSError) -> None:
        if not self.failed and self.warn:
            from bookreader.cli.common import warning_lines
            from bookreader.cli.errors import os_error_message

            warning_lines([f"cache not used: {os_error_message(error)}"])
        self.failed = True

    def load(self, key: Any, device: str | None = None) -> BookState | None:
        if self.failed:
            return None
        try:
            return super().load(key, device=device)
        except OSError as error:
            self._give_up(error)
            return None

    def save(self, key: Any, state: BookState) -> Path | None:  # type: ignore[override]
        if self.failed:
            return None
        try:
            return super().save(key, state)
        except OSError as error:
            self._give_up(error)
            return None


def open_state(book: Path, engine: Engine, force: bool = False, quiet: bool = False) -> BookState:
    """The book read by `engine`, through the cache, with a progress bar while reading."""
    from bookreader.cli.common import warning_lines
    from bookreader.engines.registry import read_book

    input_file(Path(book))
    with progress_bar(f"Reading {Path(book).name}", quiet) as report:
        state = read_book(Path(book), engine, force=force, progress=report, cache=BestEffortCache())
    warning_lines(state.book.warnings)
    return state


# -- writing --------------------------------------------------------------------------------------


def emit(text: str, out: str | Path | None) -> None:
    """The command's data: to stdout, or atomically to --out."""
    if not text.endswith("\n"):
        text += "\n"
    if out is None:
        sys.stdout.write(text)
        sys.stdout.flush()
    else:
        write_output(Path(out), text)


def dumps(data: Any) -> str:
    import json

    return json.dumps(data, ensure_ascii=False, indent=2) + "\n"


# -- documents ------------------------------------------------------------------------------------


def book_info(book: Book) -> dict[str, Any]:
    return {
        "title": book.title,
        "author": book.author,
        "path": str(book.path),
        "format": book.format,
        "sha256": book.sha256,
        "chapters": len(book.chapters),
        "words": book.word_count,
        "warnings": list(book.warnings),
    }


def cache_info(state: BookState) -> dict[str, Any]:
    return {"hit": state.cache_hit, "memory_bytes": state.memory_bytes}


def summary_document(summary: Summary, state: BookState) -> dict[str, Any]:
    return {
        "schema": SUMMARY_SCHEMA,
        "book": book_info(state.book),
        "engine": summary.engine,
        "model": state.model_id,
        "length": summary.length,
        "strategy": summary.strategy,
        "notice": summary.notice or SUMMARY_NOTICES.get(summary.engine),
        "summary": summary.text,
        "chapters": [
            {
                "index": c.chapter_index,
                "number": c.chapter_index + 1,
                "title": c.chapter_title,
                "summary": c.text,
                "citations": [x.to_dict() for x in c.citations],
            }
            for c in summary.chapters
        ],
        "citations": [x.to_dict() for x in summary.citations],
        "cache": cache_info(state),
    }


def render_summary(summary: Summary, state: BookState, fmt: str) -> str:
    if fmt == "json":
        return dumps(summary_document(summary, state))
    book = state.book
    notice = summary.notice or SUMMARY_NOTICES.get(summary.engine)
    byline = f" by {book.author}" if book.author else ""
    about = f"engine: {summary.engine}" + (f" ({state.model_id})" if state.model_id else "")
    about += f", length: {summary.length}"
    if summary.strategy:
        about += f", strategy: {summary.strategy}"
    if fmt == "markdown":
        lines = [f"# {book.title}{byline}", "", f"*Summary; {about}.*", ""]
        if notice:
            lines += [f"> {notice}", ""]
        lines += ["## Summary", "", summary.text, "", "## Chapters", ""]
        for c in summary.chapters:
            lines += [f"### {c.heading()}", "", c.text, ""]
        return "\n".join(lines)
    lines = [f"{book.title}{byline}", f"Summary ({about})", ""]
    if notice:
        lines += [notice, ""]
    lines += [summary.text, "", "Chapters", ""]
    for c in summary.chapters:
        lines += [c.heading(), f"   {c.text}", ""]
    return "\n".join(lines)


def answer_document(
    question: str,
    answer: str,
    citations: list[Citation],
    state: BookState,
    chapter: int | None = None,
    found: bool | None = None,
) -> dict[str, Any]:
    """`chapter`: the 0-based index the question was limited to; the document numbers it from 1
    as `info` does (null: the whole book). `found`: whether the answer is one, by default
    whether it cites anything."""
    return {
        "schema": ANSWER_SCHEMA,
        "book": book_info(state.book),
        "engine": state.engine,
        "model": state.model_id,
        "question": question,
        "chapter": None if chapter is None else chapter + 1,
        "found": bool(citations) if found is None else found,
        "answer": answer,
        "citations": [c.to_dict() for c in citations],
        "cache": cache_info(state),
    }


def sources_text(citations: list[Citation], fmt: str) -> str:
    if not citations:
        return ""
    if fmt == "markdown":
        items = [f"{n}. {c.label()}" for n, c in enumerate(citations, 1)]
        return "\n### Sources\n\n" + "\n".join(items) + "\n"
    items = [f"  [{n}] {c.label()}" for n, c in enumerate(citations, 1)]
    return "\nSources:\n" + "\n".join(items) + "\n"


def read_document(state: BookState) -> dict[str, Any]:
    return {
        "schema": READ_SCHEMA,
        "book": book_info(state.book),
        "engine": state.engine,
        "model": state.model_id,
        "passages": len(state.passages),
        "tokens_read": state.tokens_read,
        "memory_bytes": state.memory_bytes,
        "cache": cache_info(state),
    }
