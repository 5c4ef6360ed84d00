"""Proof 6 (generation with the segment KV cache + memory equals recomputation without any
cache) and proof 7 (a locally trained tokenizer, a tiny converted model, a whole sample book
read and an answer generated, with nothing downloaded)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from hf_helpers import (
    plain_and_converted,
    random_ids,
    single_thread,  # noqa: F401  (autouse fixture)
    tiny_model,
)
from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
from transformers import PreTrainedTokenizerFast

from bookreader.hf import (
    GenerationStream,
    generate_text,
    infinify,
    load_model,
    load_tokenizer,
    read_text,
    read_tokens,
    stream_text,
)
from bookreader.infini.state import InfiniState

SEGMENT = 8


def recompute_greedy(model: torch.nn.Module, ids: list[int], steps: int) -> tuple[list[int], list]:
    """Reference: every step re-reads the whole sequence from an empty state."""
    ids, tokens, all_logits = list(ids), [], []
    with torch.no_grad():
        for _ in range(steps):
            last = model(torch.tensor([ids])).logits[0, -1]
            token = int(last.argmax())
            tokens.append(token)
            all_logits.append(last)
            ids.append(token)
    return tokens, all_logits


@pytest.mark.parametrize("family", ["llama", "qwen3"])
def test_generation_with_memory_equals_recomputation(family: str) -> None:
    _, model = plain_and_converted(family, SEGMENT, memory_update="delta", gate_init=0.0)
    book = random_ids(1, 3 * SEGMENT + 3, seed=2)[0].tolist()
    prompt = random_ids(1, 6, seed=3)[0].tolist()
    state = read_tokens(model, book, chunk_len=5)  # pieces that straddle segments
    before = [layer.memory.M.clone() for layer in state.layers]

    stream = GenerationStream(model, state, prompt, max_new_tokens=20, eos_token_id=[])
    tokens, logits = [], []
    for token in stream:  # 20 tokens cross two segment boundaries (folds into memory)
        tokens.append(token)
        logits.append(stream.last_logits)
    expected_tokens, expected_logits = recompute_greedy(model, book + prompt, 20)

    assert tokens == expected_tokens
    torch.testing.assert_close(torch.stack(logits), torch.stack(expected_logits), atol=1e-4, rtol=0)
    assert stream.state.tokens_read == len(book) + len(prompt) + 20
    assert state.tokens_read == len(book)  # the caller's state is untouched
    for layer, M in zip(state.layers, before, strict=True):
        assert torch.equal(layer.memory.M, M)


def test_decode_cache_equals_full_forward_step_by_step() -> None:
    """One token at a time through the segment cache, logits compared position by position."""
    _, model = plain_and_converted("qwen2", SEGMENT, gate_init=0.0)
    ids = random_ids(1, 3 * SEGMENT + 2)
    with torch.no_grad():
        full = model(ids).logits
        state, steps = None, []
        for t in range(ids.shape[1]):
            out = model(ids[:, t : t + 1], state=state)
            state, steps = out.state, [*steps, out.logits]
    torch.testing.assert_close(torch.cat(steps, dim=1), full, atol=1e-5, rtol=0)
    assert state.layers[0].seg_len == 2 and state.layers[0].memory.written


def test_sampling_is_reproducible_with_a_seed_and_stops_at_eos() -> None:
    _, model = plain_and_converted("llama", SEGMENT, gate_init=0.0)
    prompt = random_ids(1, 5)[0].tolist()
    options = {"max_new_tokens": 15, "temperature": 1.0, "top_p": 0.9, "eos_token_id": []}
    first = list(GenerationStream(model, None, prompt, seed=7, **options))
    second = list(GenerationStream(model, None, prompt, seed=7, **options))
    assert first == second and len(first) == 15
    stop = first[3]
    stopped = list(
        GenerationStream(model, None, prompt, seed=7, **{**options, "eos_token_id": stop})
    )
    assert stopped == first[: first.index(stop) + 1]


def test_state_saved_and_loaded_generates_the_same(tmp_path: Path) -> None:
    _, model = plain_and_converted("llama", SEGMENT, gate_init=0.0)
    state = read_tokens(model, random_ids(1, 21)[0])
    state.save(tmp_path / "book.state")
    loaded = InfiniState.load(tmp_path / "book.state")
    prompt = [1, 2, 3]
    expected = list(GenerationStream(model, state, prompt, max_new_tokens=10, eos_token_id=[]))
    assert (
        list(GenerationStream(model, loaded, prompt, max_new_tokens=10, eos_token_id=[]))
        == expected
    )


# -- proof 7: end to end, nothing downloaded -------------------------------------------------------


def _generated_book() -> str:
    """A stand-in book (used when the sample is absent): chapters of varied sentences."""
    names = ["Elias", "Annis", "Morwenna", "the keeper", "the boatman"]
    things = ["the lamp", "the ledger", "the tide", "the fog bell", "the oil store"]
    lines = []
    for chapter in range(1, 9):
        lines.append(f"Chapter {chapter}\n")
        for i in range(60):
            who, what = names[(i + chapter) % 5], things[(i * 3 + chapter) % 5]
            lines.append(f"On day {i + chapter * 7}, {who} looked after {what} and wrote it down.")
    return "\n".join(lines)


def _train_tokenizer(text: str, vocab_size: int) -> PreTrainedTokenizerFast:
    tokenizer = Tokenizer(models.BPE(unk_token="<unk>"))
    tokenizer.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tokenizer.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size,
        special_tokens=["<unk>", "<s>", "</s>"],
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
    )
    tokenizer.train_from_iterator(text.split("\n\n"), trainer)
    return PreTrainedTokenizerFast(
        tokenizer_object=tokenizer, unk_token="<unk>", bos_token="<s>", eos_token="</s>"
    )


def _end_to_end(text: str, question: str, folder: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    tokenizer = _train_tokenizer(text, vocab_size=1000)
    plain = tiny_model("llama", vocab_size=len(tokenizer), eos_token_id=tokenizer.eos_token_id)
    infinify(plain, segment_len=64, memory_update="delta", gate_init=-3.0).save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")  # everything comes from the folder

    model, tokenizer = load_model(folder, device="cpu"), load_tokenizer(folder)
    ids = tokenizer.encode(text, add_special_tokens=False)
    assert tokenizer.decode(ids) == text  # byte-level BPE: the book survives the round trip
    seen: list[int] = []
    state = read_text(model, tokenizer, text, progress=seen.append)
    assert state.tokens_read == len(ids) > 10 * 64  # the whole book, many segments
    assert seen == sorted(seen) and seen[-1] == len(ids)
    assert all(layer.memory.written for layer in state.layers)
    assert state.layers[0].seg_len == len(ids) % 64
    one_segment = read_tokens(model, ids[:64])
    assert state.nbytes == one_segment.nbytes  # fixed-size memory, whatever the length

    pieces = list(stream_text(model, tokenizer, state, question, max_new_tokens=24))
    answer = "".join(pieces)
    assert all(isinstance(piece, str) and piece for piece in pieces)
    assert 0 < len(tokenizer.encode(answer, add_special_tokens=False)) <= 24 + 2
    assert generate_text(model, tokenizer, state, question, max_new_tokens=24) == answer
    assert state.tokens_read == len(ids)  # answering left the book state as it was


def test_end_to_end_on_the_sample_book(
    samples: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Committed samples: a missing one is a broken checkout, which must fail, not skip.
    book = samples / "the-lighthouse-keepers-ledger.txt"
    assert book.is_file(), f"committed sample {book} is missing"
    questions = samples / "questions.jsonl"
    question = json.loads(questions.read_text().splitlines()[0])["question"]
    _end_to_end(book.read_text(encoding="utf-8"), question, tmp_path / "model", monkeypatch)


def test_end_to_end_on_a_generated_book(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    _end_to_end(_generated_book(), "Who looked after the lamp?", tmp_path / "model", monkeypatch)
