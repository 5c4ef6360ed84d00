"""The BookState cache: round trips, keys that never reuse a stale entry, atomic writes, reading
through the cache without loading the book again, and a memory file whose size does not depend
on the book's length."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from bookreader import paths
from bookreader.book import Book, Chapter
from bookreader.engines import registry
from bookreader.engines.base import BookState
from bookreader.engines.cache import STATE_FILE, CacheKey, StateCache, file_sha256
from bookreader.engines.extractive import ExtractiveEngine
from bookreader.engines.passages import book_passages
from bookreader.infini.state import InfiniState


def make_book(n_paragraphs: int = 6, path: Path = Path("book.txt")) -> Book:
    paragraph = " ".join(f"Word{i} sits here." for i in range(30))
    chapters = [
        Chapter(
            c,
            f"Chapter {c + 1}",
            "\n\n".join(f"P{c}-{k}. {paragraph}" for k in range(n_paragraphs)),
        )
        for c in range(2)
    ]
    return Book(path, "A Book", "Someone", "en", "txt", chapters, "cd" * 32, warnings=["w"])


def test_round_trip_restores_book_and_passages() -> None:
    book = make_book()
    state = ExtractiveEngine().read(book)
    state.extra["note"] = "kept"
    state.segment_len = 64
    cache = StateCache()
    key = CacheKey(book.sha256, "extractive")
    cache.save(key, state)
    loaded = cache.load(key)
    assert loaded is not None and loaded.cache_hit
    assert loaded.book == book
    assert loaded.passages == state.passages == book_passages(book)
    assert loaded.extra == {"note": "kept"}
    assert loaded.segment_len == 64
    assert loaded.layouts is None  # in-memory only: rebuilt from the text when needed
    assert cache.folder(key).parent == paths.cache_dir() / "states"


@pytest.mark.parametrize(
    "other",
    [
        CacheKey("ef" * 32, "extractive"),  # another book (or the same file, changed)
        CacheKey("cd" * 32, "infini", "some/model"),  # another engine
        CacheKey("cd" * 32, "extractive", None, "rev2"),  # another model revision
        CacheKey("cd" * 32, "extractive", None, None, 999),  # another cache format
        CacheKey("cd" * 32, "extractive", terms_version=1),  # an index of older term rules
    ],
)
def test_a_different_key_never_reuses_an_entry(other: CacheKey) -> None:
    cache = StateCache()
    cache.save(CacheKey("cd" * 32, "extractive"), ExtractiveEngine().read(make_book()))
    assert cache.load(other) is None


def test_a_record_whose_key_disagrees_is_ignored() -> None:
    cache = StateCache()
    key = CacheKey("cd" * 32, "extractive")
    folder = cache.save(key, ExtractiveEngine().read(make_book()))
    record = json.loads((folder / STATE_FILE).read_text())
    record["key"]["model_revision"] = "tampered"
    (folder / STATE_FILE).write_text(json.dumps(record))
    assert cache.load(key) is None


def test_damaged_record_is_rebuilt_not_trusted() -> None:
    cache = StateCache()
    key = CacheKey("cd" * 32, "extractive")
    folder = cache.save(key, ExtractiveEngine().read(make_book()))
    (folder / STATE_FILE).write_text('{"format_version": 1, "key": ')  # truncated
    assert cache.load(key) is None


def test_writes_leave_no_temporary_files() -> None:
    cache = StateCache()
    key = CacheKey("cd" * 32, "extractive")
    folder = cache.save(key, ExtractiveEngine().read(make_book()))
    cache.save(key, ExtractiveEngine().read(make_book()))
    names = sorted(p.name for p in folder.iterdir())
    record = json.loads((folder / STATE_FILE).read_text())
    assert names == [record["index_dir"], STATE_FILE]  # the older index folder is gone
    assert not any(name.startswith(".") for name in names)


def test_a_loaded_state_answers_from_the_saved_index() -> None:
    cache = StateCache()
    key = CacheKey("cd" * 32, "extractive")
    engine = ExtractiveEngine()
    built = engine.read(make_book())
    cache.save(key, built)
    loaded = cache.load(key)
    assert loaded.index is None and loaded.index_path is not None and loaded.index_path.is_dir()
    question = "Where does Word7 sit?"
    assert [h.passage for h in engine.search(loaded, question)] == [
        h.passage for h in engine.search(built, question)
    ]
    assert engine.index(loaded).bm25.vocab_dict == engine.index(built).bm25.vocab_dict


def infini_state(book: Book, tokens: int) -> BookState:
    memory = InfiniState.empty(n_layers=2, batch_size=1, n_kv_heads=2, d_k=8, d_v=8)
    for layer in memory.layers:
        layer.memory.M.add_(float(tokens))  # contents vary with the book; the size must not
        layer.memory.written = True
    memory.tokens_read = tokens
    return BookState(
        book=book,
        engine="infini",
        model_id="tiny",
        passages=book_passages(book),
        tokens_read=tokens,
        memory=memory,
        memory_bytes=memory.nbytes,
    )


def test_memory_tensors_round_trip_with_a_size_independent_of_the_book() -> None:
    cache = StateCache()
    sizes = []
    for n_paragraphs, tokens in ((2, 500), (40, 90_000)):
        book = make_book(n_paragraphs)
        key = CacheKey(f"{n_paragraphs:02d}" * 32, "infini", "tiny", "r1")
        state = infini_state(book, tokens)
        folder = cache.save(key, state)
        memory_files = list(folder.glob("memory-*.safetensors"))
        assert len(memory_files) == 1
        sizes.append(memory_files[0].stat().st_size)
        loaded = cache.load(key)
        assert loaded is not None and loaded.memory_bytes == state.memory.nbytes
        assert loaded.memory.tokens_read == tokens
        assert float(loaded.memory.layers[0].memory.M[0, 0, 0, 0]) == float(tokens)
    assert sizes[0] == sizes[1]
    listed = {e.key.book_sha256: e for e in cache.entries()}
    assert {e.memory_bytes for e in listed.values()} == {2 * (2 * 8 * 8 + 2 * 8) * 4}


def test_rewriting_an_entry_replaces_its_memory_file() -> None:
    cache = StateCache()
    key = CacheKey("cd" * 32, "infini", "tiny")
    cache.save(key, infini_state(make_book(), 10))
    folder = cache.save(key, infini_state(make_book(), 20))
    assert len(list(folder.glob("memory-*"))) == 1
    assert cache.load(key).tokens_read == 20


def test_list_and_clear() -> None:
    cache = StateCache()
    cache.save(CacheKey("aa" * 32, "extractive"), ExtractiveEngine().read(make_book()))
    cache.save(CacheKey("bb" * 32, "extractive"), ExtractiveEngine().read(make_book()))
    assert sorted(e.key.book_sha256[:2] for e in cache.entries()) == ["aa", "bb"]
    assert cache.clear("aa" * 32) == 1
    assert [e.key.book_sha256[:2] for e in cache.entries()] == ["bb"]
    assert cache.clear() == 1 and cache.entries() == []


# -- reading through the cache -----------------------------------------------------------------


class CountingEngine(ExtractiveEngine):
    def __init__(self) -> None:
        super().__init__()
        self.reads = 0

    def read(self, book, progress=None):  # type: ignore[no-untyped-def]
        self.reads += 1
        return super().read(book, progress)


@pytest.fixture
def loads(monkeypatch: pytest.MonkeyPatch) -> list[Path]:
    """Spy on the loader: a fake `load` that records every call."""
    calls: list[Path] = []

    def fake_load(path: Path) -> Book:
        calls.append(path)
        text = path.read_text()
        return Book(path, "T", None, "en", "txt", [Chapter(0, "One", text)], file_sha256(path))

    monkeypatch.setattr(registry, "load_book", fake_load)
    return calls


def test_second_read_comes_from_the_cache_without_loading(
    tmp_path: Path, loads: list[Path]
) -> None:
    book = tmp_path / "b.txt"
    book.write_text("The lamp was lit at dusk by the keeper.\n\nThe fog came in.")
    engine = CountingEngine()
    first = registry.read_book(book, engine)
    second = registry.read_book(book, engine)
    assert (first.cache_hit, second.cache_hit) == (False, True)
    assert engine.reads == 1 and loads == [book]
    assert second.passages == first.passages
    forced = registry.read_book(book, engine, force=True)
    assert not forced.cache_hit and engine.reads == 2


def test_a_changed_file_is_read_again(tmp_path: Path, loads: list[Path]) -> None:
    book = tmp_path / "b.txt"
    book.write_text("The lamp was lit at dusk.")
    engine = CountingEngine()
    registry.read_book(book, engine)
    book.write_text("The lamp was lit at dawn.")
    state = registry.read_book(book, engine)
    assert engine.reads == 2 and not state.cache_hit
    assert "dawn" in state.passages[0].text
    assert len(StateCache().entries()) == 2  # the old entry stays keyed by the old sha256


def test_an_entry_from_before_the_typed_segment_len_still_loads() -> None:
    cache = StateCache()
    key = CacheKey("cd" * 32, "extractive")
    folder = cache.save(key, ExtractiveEngine().read(make_book()))
    record = json.loads((folder / "state.json").read_text())
    del record["segment_len"]
    record["extra"] = {"segment_len": 128}  # where older entries kept it
    (folder / "state.json").write_text(json.dumps(record))
    loaded = cache.load(key)
    assert loaded is not None and loaded.segment_len == 128 and loaded.extra == {}
