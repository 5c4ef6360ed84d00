"""The standalone Infini-Transformer: constant state size (proof 6), gradients through memory and
the truncation window (proof 7), numerical stability over long inputs (proof 8), state and model
persistence, and the training-facing API (parameter groups, gates, memory-off control)."""

from __future__ import annotations

import json

import pytest
import torch
from infini_reference import one_thread  # noqa: F401 (fixture)

from bookreader.infini import InfiniConfig, InfiniState, InfiniTransformer, iter_chunks, read_stream

pytestmark = pytest.mark.usefixtures("one_thread")
SMALL = dict(vocab_size=256, d_model=64, n_layers=2, n_heads=4, n_kv_heads=2, segment_len=32)


def make_model(**overrides: object) -> InfiniTransformer:
    torch.manual_seed(0)
    return InfiniTransformer(InfiniConfig(**{**SMALL, **overrides})).eval()


# -- proof 6: fixed-size state -------------------------------------------------------------


@torch.no_grad()
def test_state_bytes_constant_and_equal_to_formula() -> None:
    model = make_model(d_model=48, n_heads=6, n_kv_heads=3, n_layers=3, segment_len=16)
    d_k = d_v = 48 // 6
    formula = 3 * 3 * d_k * (d_v + 1) * 4  # layers x kv_heads x d_k x (d_v + 1) x 4 bytes
    state = model.init_state(1)
    assert state.nbytes == formula
    after_one = model.read(torch.randint(0, 256, (1, 16)), state)
    ids = torch.randint(0, 256, (1, 499 * 16))
    after_500 = read_stream(model, iter_chunks(ids, 16 * 50), after_one)
    assert after_500.tokens_read == 500 * 16
    assert after_one.nbytes == after_500.nbytes == formula
    assert after_500.layers[0].memory.M.shape == (1, 3, d_k, d_v)


# -- proof 7: backpropagation through memory, truncation window ------------------------------


def segment_one_gradient(split_calls: bool = False, **overrides: object) -> torch.Tensor:
    """Gradient of a loss on segment 3 alone w.r.t. segment 1's input embeddings, reading the
    3 segments in one call or (split_calls) one call per segment, as a training loop may."""
    model = make_model(segment_len=8, **overrides).train()
    with torch.no_grad():  # O(1) activations, so that a gradient > 1e-6 means something
        for block in model.blocks:
            attn = block.attn
            for proj in (attn.q_proj, attn.k_proj, attn.v_proj, attn.o_proj):
                proj.weight.normal_(0.0, 0.3)
    embeds = torch.randn(2, 24, 64, requires_grad=True)
    state = model.init_state(2)
    if split_calls:
        for start in (0, 8, 16):
            logits, state = model(None, state, inputs_embeds=embeds[:, start : start + 8])
        logits.float().pow(2).mean().backward()  # the last call's logits: segment 3
    else:
        logits, _ = model(None, state, inputs_embeds=embeds)
        logits[:, 16:24].float().pow(2).mean().backward()
    return embeds.grad[:, :8]


def test_loss_on_segment_three_reaches_segment_one_through_memory() -> None:
    assert segment_one_gradient().abs().max() > 1e-6
    assert segment_one_gradient(bptt_segments=3).abs().max() > 1e-6


@pytest.mark.parametrize("split_calls", [False, True])
def test_gradient_is_exactly_zero_beyond_the_truncation_window(split_calls: bool) -> None:
    assert segment_one_gradient(split_calls, bptt_segments=3).abs().max() > 1e-6
    assert torch.count_nonzero(segment_one_gradient(split_calls, bptt_segments=2)) == 0
    assert torch.count_nonzero(segment_one_gradient(split_calls, bptt_segments=1)) == 0


def test_only_memory_connects_segments() -> None:
    """Control: with memory reads off the same gradient is exactly zero."""
    model = make_model(segment_len=8).train()
    model.set_memory_enabled(False)
    embeds = torch.randn(1, 24, 64, requires_grad=True)
    logits, _ = model(None, None, inputs_embeds=embeds)
    logits[:, 16:24].float().pow(2).mean().backward()
    assert torch.count_nonzero(embeds.grad[:, :8]) == 0
    assert torch.count_nonzero(embeds.grad[:, 16:]) > 0


def test_activation_checkpointing_gives_the_same_gradients() -> None:
    plain = segment_one_gradient()
    checkpointed = segment_one_gradient(checkpoint_segments=True)
    torch.testing.assert_close(checkpointed, plain, atol=1e-6, rtol=1e-5)


@pytest.mark.parametrize("checkpointed", [False, True])
def test_checkpointing_recomputes_each_segment_in_backward(checkpointed: bool) -> None:
    """Evidence that activations were dropped: every block runs again during backward."""
    model = make_model(segment_len=8, checkpoint_segments=checkpointed).train()
    calls = []
    model.blocks[0].register_forward_hook(lambda *_: calls.append(torch.is_grad_enabled()))
    logits, _ = model(torch.randint(0, 256, (1, 24)))
    assert len(calls) == 3  # one per segment
    logits.float().mean().backward()
    assert len(calls) == (6 if checkpointed else 3)


# -- proof 8: long inputs --------------------------------------------------------------------


def read_random_tokens(n_tokens: int, update: str) -> None:
    cfg = dict(
        vocab_size=256, d_model=32, n_layers=2, n_heads=2, segment_len=512, memory_update=update
    )
    model = make_model(**cfg)
    gen = torch.Generator().manual_seed(0)
    chunks = (torch.randint(0, 256, (1, 16384), generator=gen) for _ in range(n_tokens // 16384))
    state = read_stream(model, chunks)
    assert state.tokens_read == n_tokens
    for layer in state.layers:
        assert torch.isfinite(layer.memory.M).all() and torch.isfinite(layer.memory.z).all()
    with torch.no_grad():
        logits, _ = model(torch.randint(0, 256, (1, 2048)), state)
    assert torch.isfinite(logits).all()


@pytest.mark.parametrize("update", ["linear", "delta"])
def test_no_nan_after_256k_tokens(update: str) -> None:
    read_random_tokens(256 * 1024, update)


@pytest.mark.slow
@pytest.mark.parametrize("update", ["linear", "delta"])
def test_no_nan_after_1m_tokens(update: str) -> None:
    read_random_tokens(1024 * 1024, update)


# -- persistence ------------------------------------------------------------------------------


@torch.no_grad()
def test_state_save_load_round_trip(tmp_path) -> None:
    model = make_model()
    state = model.read(torch.randint(0, 256, (2, 3 * 32 + 5)), model.init_state(2))
    path = tmp_path / "book.safetensors"
    state.save(path, metadata={"book_sha256": "abc", "model": "tiny"})
    loaded = InfiniState.load(path)
    assert loaded.tokens_read == state.tokens_read == 101
    assert loaded.meta == state.meta and loaded.meta["config"]["segment_len"] == 32
    assert InfiniState.read_metadata(path) == {"book_sha256": "abc", "model": "tiny"}
    for a, b in zip(loaded.layers, state.layers, strict=True):
        assert a.memory.written and b.memory.written
        for name in ("M", "z"):
            assert torch.equal(getattr(a.memory, name), getattr(b.memory, name))
        for name in ("k_seg", "v_seg", "k_rot_seg"):
            assert torch.equal(getattr(a, name), getattr(b, name))


def test_model_save_load_round_trip(tmp_path) -> None:
    model = make_model(memory_update="linear", positions="learned", gate_init=-3.0)
    model.save(tmp_path / "m")
    assert json.loads((tmp_path / "m" / "config.json").read_text())["memory_update"] == "linear"
    loaded = InfiniTransformer.load(tmp_path / "m").eval()
    assert loaded.config == model.config
    assert loaded.lm_head.weight is loaded.embed.weight  # tied after loading too
    ids = torch.randint(0, 256, (1, 70))
    with torch.no_grad():
        assert torch.equal(loaded(ids)[0], model(ids)[0])


def test_load_missing_folder_says_what_is_missing(tmp_path) -> None:
    with pytest.raises(FileNotFoundError, match=r"config\.json"):
        InfiniTransformer.load(tmp_path)


# -- training-facing API ----------------------------------------------------------------------


def test_param_groups_put_gates_alone_without_weight_decay() -> None:
    model = make_model(positions="learned")
    groups = {g["name"]: g for g in model.param_groups(lr=3e-4, beta_lr=2e-2, weight_decay=0.1)}
    betas = {id(b.attn.beta) for b in model.blocks}
    assert {id(p) for p in groups["gates"]["params"]} == betas
    assert groups["gates"]["lr"] == 2e-2 and groups["gates"]["weight_decay"] == 0.0
    assert groups["decay"]["weight_decay"] == 0.1 and groups["decay"]["lr"] == 3e-4
    assert all(p.dim() >= 2 for p in groups["decay"]["params"])
    assert id(model.pos_embed.weight) in {id(p) for p in groups["no_decay"]["params"]}
    every = [p for g in groups.values() for p in g["params"]]
    assert len(every) == len({id(p) for p in every}) == len(list(model.parameters()))
    torch.optim.AdamW(model.param_groups(1e-3))  # accepted as is


def test_gates_report_sigmoid_of_beta() -> None:
    model = make_model(gate_init=-3.0)
    assert model.gates().shape == (2, 4)
    torch.testing.assert_close(model.gates(), torch.full((2, 4), 1 / (1 + torch.e**3)))


@torch.no_grad()
def test_memory_off_equals_closed_gates_and_is_restored() -> None:
    ids = torch.randint(0, 256, (1, 100))
    closed = make_model(gate_init=-30.0)(ids)[0]
    model = make_model()
    with model.memory_disabled():
        off = model(ids)[0]
        assert not model.memory_enabled
    assert model.memory_enabled
    torch.testing.assert_close(off, closed, atol=1e-6, rtol=1e-6)
    assert (model(ids)[0] - off)[:, 32:].abs().max() > 1e-4


@torch.no_grad()
def test_any_length_including_empty() -> None:
    model = make_model()
    logits, state = model(torch.zeros(3, 0, dtype=torch.long), model.init_state(3))
    assert logits.shape == (3, 0, 256) and state.tokens_read == 0
    logits, state = model(torch.randint(0, 256, (3, 1)), state)
    assert logits.shape == (3, 1, 256) and state.layers[0].seg_len == 1


def test_config_validation() -> None:
    with pytest.raises(ValueError, match="multiple"):
        InfiniConfig(n_heads=4, n_kv_heads=3)
    with pytest.raises(ValueError, match="update"):
        InfiniConfig(memory_update="sum")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="unknown"):
        InfiniConfig.from_dict({"d_model": 8, "colour": "red"})


def test_configs_that_say_update_still_load() -> None:
    # models/*/config.json and the training recipes were written before `memory_update`.
    old = InfiniConfig.from_dict({"d_model": 32, "n_heads": 2, "update": "linear"})
    assert old.memory_update == "linear"
    assert old.head_dim == 16  # resolved once: one name, no `dim_head`
    assert InfiniConfig.from_dict(old.to_dict()) == old
    with pytest.raises(ValueError, match="unknown InfiniConfig fields"):
        InfiniConfig.from_dict({"d_model": 32, "memory_rule": "delta"})
