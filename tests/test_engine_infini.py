"""The infini engine with tiny random models saved to a temporary folder (nothing downloaded):
reading into memory, streamed answers with citations, both summary strategies, the cache, and a
memory whose size does not depend on the book's length."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from hf_helpers import single_thread, tiny_model  # noqa: F401  (single_thread: autouse)
from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
from transformers import PreTrainedTokenizerFast

from bookreader.book import Book, Chapter, Citation
from bookreader.engines import registry
from bookreader.engines.backends import HFBackend, NativeBackend
from bookreader.engines.cache import StateCache
from bookreader.engines.capabilities import CAPABILITIES_FILE, is_native_checkpoint
from bookreader.engines.extractive import ExtractiveEngine
from bookreader.engines.infini import (
    MAX_CONTEXT_PASSAGES,
    MIN_CONTEXT_PASSAGES,
    PROMPT_RESERVE,
    RAW_LABEL,
    RAW_SUMMARY_NOTICE,
    RETRIEVAL_NOTE,
    InfiniEngine,
)
from bookreader.errors import ModelUnavailable, UsageError
from bookreader.infini.model import InfiniConfig, InfiniTransformer
from bookreader.infini.stream import generate

SEGMENT = 128
SMALL = {"answer_tokens": 6, "note_tokens": 3, "new_tokens": {"short": 4, "medium": 5, "long": 6}}


def save_native(
    folder: Path, seed: int = 0, capabilities: list[str] | None = None, segment_len: int = SEGMENT
) -> Path:
    """A random checkpoint. The engine's mechanics are tested with one that declares it follows
    instructions (`bookreader.json`); without the file it is a passkey/perplexity model."""
    torch.manual_seed(seed)
    config = InfiniConfig(d_model=32, n_layers=2, n_heads=2, n_kv_heads=1, segment_len=segment_len)
    InfiniTransformer(config).save(folder)
    if capabilities is not None:
        (folder / CAPABILITIES_FILE).write_text(json.dumps({"capabilities": capabilities}))
    return folder


@pytest.fixture
def native(tmp_path: Path) -> InfiniEngine:
    folder = save_native(tmp_path / "native", capabilities=["instructions"])
    return InfiniEngine(NativeBackend(folder, "cpu"), **SMALL)


def make_book(repeat: int = 1) -> Book:
    chapters = [
        Chapter(
            i,
            title,
            "\n\n".join(
                f"{text} (Part {k}.)" for k in range(repeat) for text in paragraphs
            ),
        )
        for i, (title, paragraphs) in enumerate(
            [
                ("Arrival", ["The keeper came to Skerrow by the boat Marigold in March.", "He counted one hundred and twelve steps to the lamp."]),
                ("Fog", ["The fog lasted nineteen days.", "They ate salt pollock twice a day until the stores came."]),
            ]
        )
    ]  # fmt: skip
    return Book(Path("keeper.txt"), "The Keeper", None, "en", "txt", chapters, "ee" * 32)


def test_read_fills_memory_with_the_whole_book(native: InfiniEngine) -> None:
    book = make_book(repeat=4)
    calls: list[tuple[int, int, str]] = []
    state = native.read(book, progress=lambda *call: calls.append(call))
    total = len(book.text.encode("utf-8"))  # byte tokenizer: one token per byte
    assert state.tokens_read == state.memory.tokens_read == total > 2 * SEGMENT
    assert calls[-1] == (total, total, "tokens") and [c[0] for c in calls] == sorted(
        c[0] for c in calls
    )
    assert all(layer.memory.written for layer in state.memory.layers)
    assert state.memory.layers[0].seg_len == total % SEGMENT  # the unfinished segment
    assert state.memory_bytes == state.memory.nbytes == 2 * 1 * (16 * 16 + 16) * 4
    # The same memory as reading the text directly with the model.
    model = native.backend.model
    direct = model.read(torch.tensor([list(book.text.encode("utf-8"))]))
    for mine, reference in zip(state.memory.layers, direct.layers, strict=True):
        torch.testing.assert_close(mine.memory.M, reference.memory.M)


def test_memory_size_does_not_depend_on_the_book_length(native: InfiniEngine) -> None:
    cache = StateCache()
    short, long = make_book(1), make_book(40)
    sizes, states = [], []
    for book in (short, long):
        book.sha256 = f"{len(book.text):064x}"
        state = native.read(book)
        folder = cache.save(registry.cache_key(native, book.sha256), state)
        sizes.append(next(folder.glob("memory-*.safetensors")).stat().st_size)
        states.append(state)
    assert states[1].tokens_read > 20 * states[0].tokens_read
    assert states[0].memory_bytes == states[1].memory_bytes
    # On disk: the fixed memory plus at most one unfinished segment of keys and values.
    one_segment_kv = 2 * 2 * 1 * SEGMENT * 16 * 4  # layers x (k, v) x kv heads x tokens x dim
    assert abs(sizes[0] - sizes[1]) <= one_segment_kv
    assert sizes[1] < 3 * (states[1].memory_bytes + one_segment_kv)


def test_ask_streams_text_then_citations(native: InfiniEngine) -> None:
    state = native.read(make_book(2))
    chunks = list(native.ask(state, "How many days did the fog last?"))
    texts = [c for c in chunks if isinstance(c, str)]
    citations = [c for c in chunks if isinstance(c, Citation)]
    assert chunks == texts + citations
    assert citations and citations[0].chapter_index == 1 and "nineteen days" in citations[0].text
    # Greedy generation from the book's memory, exactly as the model itself produces it.
    prompt, hits = native.answer_prompt(state, "How many days did the fog last?")
    assert [h.passage.id for h in hits] == [c.passage_id for c in citations]
    assert "nineteen days" in prompt  # the cited passages are shown to the model
    ids = torch.tensor([native.backend.encode(prompt)])
    eos = native.backend.tokenizer.eos_id
    expected, _ = generate(native.backend.model, ids, state.memory, max_new_tokens=6, eos_id=eos)
    generated = native.backend.tokenizer.decode(expected[0].tolist())
    assert "".join(texts) == generated + RETRIEVAL_NOTE  # the sources: keyword search
    assert state.memory.tokens_read == state.tokens_read  # answering leaves the book state as is


def test_ask_about_one_chapter_shows_and_cites_that_chapter_only(native: InfiniEngine) -> None:
    state = native.read(make_book(2))
    question = "What came?"  # "came" is in both chapters
    everywhere = {c.chapter_index for c in native.ask(state, question) if isinstance(c, Citation)}
    assert everywhere == {0, 1}
    for chapter in (0, 1):
        chunks = list(native.ask(state, question, chapter=chapter))
        citations = [c for c in chunks if isinstance(c, Citation)]
        assert citations and {c.chapter_index for c in citations} == {chapter}
        prompt, hits = native.answer_prompt(state, question, chapter=chapter)
        assert [h.passage.id for h in hits] == [c.passage_id for c in citations]
        title = state.book.chapters[chapter].title
        assert f'The question is about chapter {chapter + 1}, "{title}".' in prompt
        other = state.book.chapters[1 - chapter]
        assert all(p.text not in prompt for p in state.passages if p.chapter_index == other.index)
    with pytest.raises(UsageError):
        list(native.ask(state, question, chapter=2))


def test_hierarchical_summary_prompts_pieces_chapters_and_book(native: InfiniEngine) -> None:
    state = native.read(make_book(30))
    calls: list[tuple[int, int, str]] = []
    summary = native.summarize(
        state, "short", progress=lambda *c: calls.append(c), strategy="hierarchical"
    )
    pieces = [len(native._pieces(state.passages, c.index)) for c in state.book.chapters]
    expected_prompts = sum(pieces) + len(pieces) + 1
    assert all(p >= 2 for p in pieces)  # each chapter is longer than one segment
    assert (
        calls[-1] == (expected_prompts, expected_prompts, "prompts")
        and len(calls) == expected_prompts
    )
    assert (summary.engine, summary.strategy, summary.length) == ("infini", "hierarchical", "short")
    assert [c.chapter_index for c in summary.chapters] == [0, 1]
    for chapter in summary.chapters:
        assert all(c.chapter_index == chapter.chapter_index for c in chapter.citations)
    one = native.summarize(state, "short", chapter=1, strategy="hierarchical")
    assert [c.chapter_index for c in one.chapters] == [1] and one.text == one.chapters[0].text


def _greedy_from(native: InfiniEngine, memory: object, prompt: str, tokens: int) -> str:
    """The reference: the model's own greedy continuation of `prompt` after `memory`."""
    tokenizer = native.backend.tokenizer
    ids = torch.tensor([native.backend.encode(prompt)])
    new, _ = generate(
        native.backend.model, ids, memory, max_new_tokens=tokens, eos_id=tokenizer.eos_id
    )
    out = new[0].tolist()
    out = out[: out.index(tokenizer.eos_id)] if tokenizer.eos_id in out else out
    return tokenizer.decode(out).strip()


def test_memory_summary_generates_from_the_read_state(native: InfiniEngine) -> None:
    book = make_book(3)
    state = native.read(book)
    # What the model is given: a random test model's output barely depends on its memory, so
    # the memory handed to generation is checked itself, not only the text.
    given: list[object] = []
    stream = native.backend.stream
    native.backend.stream = lambda memory, *rest: given.append(memory) or stream(memory, *rest)
    summary = native.summarize(state, "short", strategy="memory")
    prompt = "Summarize what you have just read in two or three sentences.\nSummary:"
    tokens = SMALL["new_tokens"]["short"]
    assert summary.strategy == "memory" and summary.chapters == ()
    assert given == [state.memory]  # the whole book's memory, as read
    assert summary.text == _greedy_from(native, state.memory, prompt, tokens)
    # One chapter: generated from a memory that has read that chapter alone.
    chapter = book.chapters[1]
    alone = native.backend.model.read(torch.tensor([native.backend.encode(chapter.text)]))
    one = native.summarize(state, "short", chapter=1, strategy="memory")
    used = given[-1]
    assert used.tokens_read == alone.tokens_read < state.tokens_read
    for mine, reference in zip(used.layers, alone.layers, strict=True):
        assert torch.allclose(mine.memory.M, reference.memory.M, atol=1e-5)
    assert one.text == one.chapters[0].text == _greedy_from(native, alone, prompt, tokens)
    assert one.chapters[0].chapter_index == 1
    with pytest.raises(Exception, match="--strategy bogus"):
        native.summarize(state, "short", strategy="bogus")


def test_strategy_is_chosen_when_the_engine_is_built(native: InfiniEngine) -> None:
    state = native.read(make_book(1))
    by_memory = InfiniEngine(native.backend, strategy="memory", **SMALL)
    assert by_memory.summarize(state, "short").strategy == "memory"
    assert native.summarize(state, "short").strategy == "hierarchical"
    with pytest.raises(UsageError, match="--strategy sideways"):
        InfiniEngine(native.backend, strategy="sideways")  # type: ignore[arg-type]


def test_second_read_is_a_cache_hit_and_a_new_model_is_not(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    book_file = tmp_path / "keeper.txt"
    book_file.write_text(make_book(3).text)
    monkeypatch.setattr(
        registry, "load_book",
        lambda path: Book(path, "K", None, "en", "txt", [Chapter(0, "One", path.read_text())], "x"),
    )  # fmt: skip
    folder = save_native(tmp_path / "model")
    engine = InfiniEngine(NativeBackend(folder, "cpu"), **SMALL)
    reads: list[int] = []
    real_read = engine.backend.read
    engine.backend.read = lambda ids, state=None, progress=None: (
        reads.append(len(ids)) or real_read(ids, state, progress)
    )  # type: ignore[method-assign]
    first = registry.read_book(book_file, engine)
    second = registry.read_book(book_file, engine)
    assert (first.cache_hit, second.cache_hit, len(reads)) == (False, True, 1)
    for a, b in zip(first.memory.layers, second.memory.layers, strict=True):
        assert torch.equal(a.memory.M, b.memory.M) and torch.equal(a.memory.z, b.memory.z)
    assert second.memory_bytes == first.memory_bytes
    # New weights in the same folder: another revision, never the stale memory.
    save_native(folder, seed=1)
    retrained = InfiniEngine(NativeBackend(folder, "cpu"), **SMALL)
    assert retrained.model_revision != engine.model_revision
    assert not registry.read_book(book_file, retrained).cache_hit


def test_model_detection_and_errors(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    native = save_native(tmp_path / "native")
    assert is_native_checkpoint(native) and not is_native_checkpoint(tmp_path)
    with pytest.raises(ModelUnavailable, match="missing-model"):
        registry.create_engine("infini", model=str(tmp_path / "missing-model"), device="cpu")
    (native / "model.safetensors").write_bytes(b"not tensors")
    with pytest.raises(ModelUnavailable, match="cannot be loaded"):
        registry.create_engine("infini", model=str(native), device="cpu")


# -- a Hugging Face model ----------------------------------------------------------------------


def save_hf(folder: Path, text: str, chat_template: bool = True) -> Path:
    from bookreader.hf import infinify

    tokenizer = Tokenizer(models.BPE(unk_token="<unk>"))
    tokenizer.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tokenizer.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=300,
        special_tokens=["<unk>", "<s>", "</s>"],
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
    )
    tokenizer.train_from_iterator([text], trainer)
    fast = PreTrainedTokenizerFast(
        tokenizer_object=tokenizer, unk_token="<unk>", bos_token="<s>", eos_token="</s>"
    )
    if chat_template:
        fast.chat_template = (
            "{% for m in messages %}<s>user: {{ m['content'] }}</s>{% endfor %}"
            "{% if add_generation_prompt %}<s>assistant:{% endif %}"
        )
    plain = tiny_model("llama", vocab_size=len(fast), eos_token_id=fast.eos_token_id)
    infinify(plain, segment_len=32, memory_update="delta", gate_init=-3.0).save_pretrained(folder)
    fast.save_pretrained(folder)
    return folder


def test_hugging_face_model_reads_answers_and_summarizes(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    book = make_book(3)
    folder = save_hf(tmp_path / "hf", book.text)
    engine = registry.create_engine("infini", model=str(folder), device="cpu", **SMALL)
    assert isinstance(engine.backend, HFBackend) and engine.model_id == str(folder.resolve())
    state = engine.read(book)
    assert state.tokens_read == len(engine.backend.encode(book.text)) > 32
    wrapped = engine.backend.instruction("Hello")
    assert wrapped == "<s>user: Hello</s><s>assistant:"  # the chat template is used
    chunks = list(engine.ask(state, "What boat brought the keeper?"))
    citations = [c for c in chunks if isinstance(c, Citation)]
    assert citations and "Marigold" in citations[0].text
    summary = engine.summarize(state, "short", strategy="hierarchical")
    assert len(summary.chapters) == 2 and summary.strategy == "hierarchical"


# -- what a model can do -------------------------------------------------------------------------


def test_a_passkey_model_is_refused_for_questions_and_summaries(tmp_path: Path) -> None:
    engine = InfiniEngine(NativeBackend(save_native(tmp_path / "passkey"), "cpu"), **SMALL)
    assert engine.backend.capabilities == {"passkey", "perplexity"}  # no file: the default
    state = engine.read(make_book())
    for attempt in (
        lambda: list(engine.ask(state, "How many days did the fog last?")),
        lambda: engine.summarize(state, "short"),
    ):
        with pytest.raises(UsageError, match="cannot follow instructions") as refused:
            attempt()
        assert "passkey" in str(refused.value) and "eval perplexity" in str(refused.value)
    declared = save_native(tmp_path / "declared", capabilities=["perplexity"])
    with pytest.raises(UsageError, match="eval perplexity") as refused:
        InfiniEngine(NativeBackend(declared, "cpu")).require("summarize")
    assert "bookreader passkey" not in str(refused.value)
    (declared / CAPABILITIES_FILE).write_text('{"capabilities": ["telepathy"]}')
    with pytest.raises(UsageError, match="must be a list of"):
        NativeBackend(declared, "cpu")


def test_context_depth_follows_the_segment_budget(tmp_path: Path) -> None:
    book = make_book(repeat=30)  # many passages hold "fog" and "days"
    question = "How many days did the fog last?"
    for segment_len, name in ((64, "narrow"), (4096, "wide")):
        folder = save_native(
            tmp_path / name, capabilities=["instructions"], segment_len=segment_len
        )
        engine = InfiniEngine(NativeBackend(folder, "cpu"), **SMALL)
        state = engine.read(book)
        shown = engine.context_hits(state, question, None)
        ranked = ExtractiveEngine().search(state, question, k=MAX_CONTEXT_PASSAGES)
        # Reference: the best passages while their bytes fit the budget, at least the minimum.
        budget = int(segment_len * (1 - PROMPT_RESERVE))
        expected, used = [], 0
        for hit in ranked:
            size = len(hit.passage.text.encode("utf-8"))  # the byte tokenizer: a token a byte
            if len(expected) >= MIN_CONTEXT_PASSAGES and used + size > budget:
                break
            expected.append(hit.passage.id)
            used += size
        assert [h.passage.id for h in shown] == expected
        assert MIN_CONTEXT_PASSAGES <= len(shown) <= MAX_CONTEXT_PASSAGES
        if name == "narrow":
            assert len(shown) == MIN_CONTEXT_PASSAGES
        else:
            assert len(shown) > MIN_CONTEXT_PASSAGES


def test_a_base_model_without_chat_template_gives_a_labelled_raw_continuation(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    book = make_book(3)
    folder = save_hf(tmp_path / "base", book.text, chat_template=False)
    engine = registry.create_engine("infini", model=str(folder), device="cpu", **SMALL)
    assert engine.backend.capabilities == {"continuation", "perplexity"} and not engine.answers
    state = engine.read(book)
    chunks = list(engine.ask(state, "What boat brought the keeper?"))
    texts = [c for c in chunks if isinstance(c, str)]
    assert texts[0] == RAW_LABEL and texts[-1] == RETRIEVAL_NOTE
    assert any(isinstance(c, Citation) for c in chunks)
    summary = engine.summarize(state, "short", strategy="hierarchical")
    assert summary.notice == RAW_SUMMARY_NOTICE
