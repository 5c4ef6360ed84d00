"""Building engines by name, and reading a book through the cache.

Front ends (CLI, TUI, batch) call `create_engine(...)` then `read_book(path, engine)`: the book
is loaded and read only when no valid cached state exists for (file sha256, engine, model id,
model revision, cache format); otherwise the cached state comes back without touching the loader
or the engine's `read`.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from bookreader.book import Book
from bookreader.engines.base import BookState, Engine, ProgressCallback, Strategy
from bookreader.engines.cache import CacheKey, StateCache, file_sha256
from bookreader.errors import UnreadableBook, UsageError

ENGINES = ("extractive", "infini")


def create_engine(
    name: str = "extractive",
    model: str | None = None,
    device: str | None = None,
    dtype: str | None = None,
    strategy: Strategy | None = None,
    **options: object,
) -> Engine:
    """The engine called `name`. `infini` needs `model`: a hub id, a local Hugging Face folder
    or a bookreader.infini checkpoint folder; `strategy` chooses how it summarizes (the
    extractive engine has one way only and ignores it)."""
    if name == "extractive":
        from bookreader.engines.extractive import ExtractiveEngine

        return ExtractiveEngine()
    if name == "infini":
        if not model:
            raise UsageError("the infini engine needs --model (a hub id or a model folder)")
        from bookreader.engines.infini import InfiniEngine

        if strategy is not None:
            options["strategy"] = strategy
        return InfiniEngine.from_name(model, device=device, dtype=dtype, **options)
    raise UsageError(f"unknown engine {name!r}: choose one of {', '.join(ENGINES)}")


def cache_key(engine: Engine, book_sha256: str) -> CacheKey:
    return CacheKey(
        book_sha256=book_sha256,
        engine=engine.name,
        model_id=engine.model_id,
        model_revision=getattr(engine, "model_revision", None),
    )


def load_book(path: Path) -> Book:
    """The loaders' `load`, imported late so that a cached ask never imports a parser."""
    from bookreader.loaders import load

    return load(Path(path))


def read_book(
    path: Path,
    engine: Engine,
    force: bool = False,
    progress: ProgressCallback | None = None,
    cache: StateCache | None = None,
    *,
    loader: Callable[[Path], Book] | None = None,
    on_book: Callable[[Book], None] | None = None,
) -> BookState:
    """The book's state for `engine`: from the cache when valid, else loaded (by `loader`,
    default the loaders' `load`), read and cached. `on_book` gets the book as soon as it is
    known, before a long read begins (the TUI shows its chapters meanwhile)."""
    path = Path(path)
    if not path.is_file():
        raise UsageError(f"{path}: no such file")
    cache = cache or StateCache()
    try:
        key = cache_key(engine, file_sha256(path))
    except OSError as error:  # e.g. no permission to read it
        raise UnreadableBook(f"{path}: {error.strerror or error}") from None
    if not force:
        state = cache.load(key, device=getattr(engine, "device", None))
        if state is not None:
            if on_book is not None:
                on_book(state.book)
            return state
    book = (loader or load_book)(path)
    if on_book is not None:
        on_book(book)
    state = engine.read(book, progress=progress)
    cache.save(key, state)
    state.cache_hit = False
    return state
