"""Streaming and generation of the standalone Infini-Transformer.

Proof 4: one call == pieces of any sizes (logits and final state). Proof 5: generation with the
segment KV cache == recomputing every step from scratch, across segment boundaries.
"""

from __future__ import annotations

import random

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from infini_reference import one_thread  # noqa: F401 (fixture)

from bookreader.infini import InfiniConfig, InfiniState, InfiniTransformer, iter_chunks, read_stream
from bookreader.infini.stream import TokenStream, generate, sample_next

pytestmark = pytest.mark.usefixtures("one_thread")
TOL = 1e-5


def make_model(**overrides: object) -> InfiniTransformer:
    params = dict(vocab_size=256, d_model=64, n_layers=2, n_heads=4, n_kv_heads=2, segment_len=32)
    params.update(overrides)
    torch.manual_seed(0)
    model = InfiniTransformer(InfiniConfig(**params)).eval()
    with torch.no_grad():  # open gates a little differently per head so memory matters
        for block in model.blocks:
            block.attn.beta.copy_(torch.linspace(-1.0, 1.5, block.attn.beta.numel()))
    return model


def assert_states_close(a: InfiniState, b: InfiniState) -> None:
    assert a.tokens_read == b.tokens_read
    for la, lb in zip(a.layers, b.layers, strict=True):
        assert la.memory.written == lb.memory.written
        torch.testing.assert_close(la.memory.M, lb.memory.M, atol=TOL, rtol=TOL)
        torch.testing.assert_close(la.memory.z, lb.memory.z, atol=TOL, rtol=TOL)
        assert la.seg_len == lb.seg_len
        for ta, tb in ((la.k_seg, lb.k_seg), (la.v_seg, lb.v_seg), (la.k_rot_seg, lb.k_rot_seg)):
            assert (ta is None) == (tb is None)
            if ta is not None:
                torch.testing.assert_close(ta, tb, atol=TOL, rtol=TOL)


def random_split(total: int, rng: random.Random) -> list[int]:
    sizes = []
    while total:
        n = min(total, rng.choice([1, 2, 3, 7, 31, 32, 33, 50]))
        sizes.append(n)
        total -= n
    return sizes


@pytest.mark.parametrize("update", ["linear", "delta"])
@pytest.mark.parametrize("positions", ["rope", "learned"])
@pytest.mark.parametrize("seed", [0, 1])
@torch.no_grad()
def test_one_call_equals_pieces_of_any_sizes(update: str, positions: str, seed: int) -> None:
    """Proof 4."""
    model = make_model(memory_update=update, positions=positions)
    ids = torch.randint(0, 256, (2, 7 * 32 + 11))
    whole_logits, whole_state = model(ids, model.init_state(2))
    sizes = random_split(ids.shape[1], random.Random(seed))
    state, parts, start = model.init_state(2), [], 0
    for n in sizes:
        logits, state = model(ids[:, start : start + n], state)
        parts.append(logits)
        start += n
    torch.testing.assert_close(torch.cat(parts, dim=1), whole_logits, atol=TOL, rtol=TOL)
    assert_states_close(state, whole_state)
    # The memory carries information: a different first segment changes the last logits.
    other = ids.clone()
    other[:, :32] = torch.randint(0, 256, (2, 32))
    other_logits, _ = model(other, model.init_state(2))
    assert (other_logits[:, -5:] - whole_logits[:, -5:]).abs().max() > 1e-4


STREAM_MODEL = make_model(memory_update="delta")
STREAM_IDS = torch.randint(0, 256, (1, 3 * 32 + 20), generator=torch.Generator().manual_seed(3))
with torch.no_grad():
    STREAM_WHOLE = STREAM_MODEL(STREAM_IDS, STREAM_MODEL.init_state(1))


@settings(max_examples=25, deadline=None)
@given(st.lists(st.integers(min_value=1, max_value=70), min_size=1, max_size=30))
@torch.no_grad()
def test_any_split_of_the_stream_gives_the_same_logits_and_state(sizes: list[int]) -> None:
    """Proof 4 as a property: cut points drawn by hypothesis (the rest in one last piece)."""
    total, cuts, start = STREAM_IDS.shape[1], [], 0
    for n in sizes:
        if start + n >= total:
            break
        cuts.append((start, start + n))
        start += n
    cuts.append((start, total))
    state, parts = STREAM_MODEL.init_state(1), []
    for a, b in cuts:
        logits, state = STREAM_MODEL(STREAM_IDS[:, a:b], state)
        parts.append(logits)
    torch.testing.assert_close(torch.cat(parts, dim=1), STREAM_WHOLE[0], atol=TOL, rtol=TOL)
    assert_states_close(state, STREAM_WHOLE[1])


@torch.no_grad()
def test_input_state_is_not_modified() -> None:
    model = make_model()
    state = model.init_state(1)
    _, after = model(torch.randint(0, 256, (1, 40)), state)
    assert state.tokens_read == 0 and state.layers[0].seg_len == 0
    assert not state.layers[0].memory.written and after.layers[0].memory.written


@torch.no_grad()
def test_read_stream_equals_one_call_and_saved_state_resumes(tmp_path) -> None:
    """Reading chunk by chunk (no logits), saving mid-segment and resuming == one call."""
    model = make_model()
    ids = torch.randint(0, 256, (1, 5 * 32 + 9))
    whole_logits, whole_state = model(ids)
    state = read_stream(model, iter_chunks(ids[:, :100], 13))  # stops mid-segment (100 % 32 = 4)
    state.save(tmp_path / "state.safetensors")
    resumed = InfiniState.load(tmp_path / "state.safetensors")
    logits, state = model(ids[:, 100:], resumed)
    torch.testing.assert_close(logits, whole_logits[:, 100:], atol=TOL, rtol=TOL)
    assert_states_close(state, whole_state)


def recompute_logits(model: InfiniTransformer, seq: torch.Tensor) -> torch.Tensor:
    """Last-position logits from a fresh state over the whole sequence: no cache reused."""
    logits, _ = model(seq, model.init_state(seq.shape[0]))
    return logits[:, -1]


@pytest.mark.parametrize("update", ["linear", "delta"])
@torch.no_grad()
def test_cached_generation_equals_recomputation(update: str) -> None:
    """Proof 5: prompt of 20, 50 new tokens: crosses the boundaries at 32 and 64."""
    model = make_model(memory_update=update)
    prompt = torch.randint(0, 256, (2, 20))
    new, final = generate(model, prompt, model.init_state(2), max_new_tokens=50)
    assert new.shape == (2, 50)
    seq = prompt
    state = model.init_state(2)
    logits, state = model(prompt, state)
    for step in range(50):
        expected = recompute_logits(model, seq)
        torch.testing.assert_close(logits[:, -1], expected, atol=TOL, rtol=TOL)
        assert torch.equal(expected.argmax(-1), new[:, step])
        seq = torch.cat([seq, new[:, step : step + 1]], dim=1)
        logits, state = model(new[:, step : step + 1], state)
    # generate's final state has read prompt + output, like one call over the whole sequence
    _, one_call = model(seq, model.init_state(2))
    assert_states_close(final, one_call)


@torch.no_grad()
def test_sampling_with_cache_equals_recomputation() -> None:
    model = make_model()
    prompt = torch.randint(0, 256, (1, 30))
    options = dict(temperature=0.9, top_p=0.8, top_k=50)
    new, _ = generate(
        model,
        prompt,
        None,
        max_new_tokens=40,
        generator=torch.Generator().manual_seed(7),
        **options,
    )
    gen, seq = torch.Generator().manual_seed(7), prompt
    for _ in range(40):
        token = sample_next(recompute_logits(model, seq), generator=gen, **options)
        seq = torch.cat([seq, token[:, None]], dim=1)
    assert torch.equal(new, seq[:, 30:])


@torch.no_grad()
def test_stream_yields_generate_tokens_and_keeps_state() -> None:
    model = make_model()
    prompt = torch.randint(0, 256, (1, 10))
    new, final = generate(model, prompt, None, max_new_tokens=30)
    stream = TokenStream(model, prompt, None, max_new_tokens=30)
    assert list(stream) == new[0].tolist()
    assert_states_close(stream.state, final)
    assert stream.state.tokens_read == 40


def test_eos_stops_generation() -> None:
    model = make_model()
    prompt = torch.randint(0, 256, (1, 10))
    first = generate(model, prompt, None, max_new_tokens=5)[0][0]
    eos = int(first[2])
    new, _ = generate(model, prompt, None, max_new_tokens=5, eos_id=eos)
    assert new[0].tolist() == first[: first.tolist().index(eos) + 1].tolist()


def test_top_p_keeps_the_nucleus_only() -> None:
    logits = torch.log(torch.tensor([[0.5, 0.3, 0.15, 0.05]]))
    gen = torch.Generator().manual_seed(0)
    draws = {int(sample_next(logits, 1.0, top_p=0.75, generator=gen)) for _ in range(300)}
    assert draws == {0, 1}  # 0.5 + 0.3 reaches 0.75; 2 and 3 are cut
    assert int(sample_next(logits, 0.0)) == 0


def test_generate_needs_a_prompt() -> None:
    model = make_model()
    with pytest.raises(ValueError):
        generate(model, torch.zeros(1, 0, dtype=torch.long), None, 3)
