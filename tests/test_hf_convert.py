"""Proofs 1-4 of the Hugging Face conversion: closed-gate equivalence with the original model,
GQA memory mapping against transformers' repeat_kv, and position-free memory keys."""

from __future__ import annotations

import copy

import pytest
import torch
import torch.nn.functional as F
from hf_helpers import (
    FAMILY_CLASSES,
    plain_and_converted,
    random_ids,
    single_thread,  # noqa: F401  (autouse fixture)
    tiny_model,
)
from transformers.models.llama.modeling_llama import apply_rotary_pos_emb, repeat_kv

from bookreader.hf import InfiniHFAttention, infinify
from bookreader.infini.memory import sigma

CLOSED = -30.0  # sigmoid(-30) ≈ 9e-14: memory weighs nothing
SEGMENT = 16


def logits(model: torch.nn.Module, ids: torch.Tensor) -> torch.Tensor:
    with torch.no_grad():
        return model(ids).logits


# -- proof 1: one segment, closed gate == the unconverted model ---------------------------------


@pytest.mark.parametrize("family", sorted(FAMILY_CLASSES))
@pytest.mark.parametrize("length", [1, 11, SEGMENT])
def test_closed_gate_within_one_segment_equals_original(family: str, length: int) -> None:
    plain, converted = plain_and_converted(family, SEGMENT, gate_init=CLOSED)
    ids = random_ids(2, length)
    expected = logits(plain, ids)
    got = logits(converted, ids)
    assert got.shape == expected.shape
    torch.testing.assert_close(got, expected, atol=1e-4, rtol=0)


def test_conversion_reuses_every_pretrained_weight() -> None:
    plain, converted = plain_and_converted("qwen3", SEGMENT)
    plain_weights = dict(plain.named_parameters())
    new_weights = dict(converted.named_parameters())
    assert set(new_weights) - set(plain_weights) == {
        f"model.layers.{i}.self_attn.beta" for i in range(plain.config.num_hidden_layers)
    }
    for name, weight in plain_weights.items():
        assert torch.equal(new_weights[name], weight), name
    assert all(isinstance(layer.self_attn, InfiniHFAttention) for layer in converted.model.layers)


def test_infinify_patches_nothing_global() -> None:
    _, converted = plain_and_converted("llama", SEGMENT)
    other = tiny_model("llama", seed=3)  # built after the conversion: still plain
    assert type(other).__name__ == "LlamaForCausalLM"
    assert not any(isinstance(m, InfiniHFAttention) for m in other.modules())
    assert type(converted).__name__ == "InfiniLlamaForCausalLM"


# -- proof 2: several segments, closed gate == the original model run on each segment -----------


@pytest.mark.parametrize("family", sorted(FAMILY_CLASSES))
def test_closed_gate_over_segments_equals_original_per_segment(family: str) -> None:
    plain, converted = plain_and_converted(family, SEGMENT, gate_init=CLOSED)
    ids = random_ids(2, 2 * SEGMENT + 7)
    expected = torch.cat(
        [logits(plain, ids[:, s : s + SEGMENT]) for s in range(0, ids.shape[1], SEGMENT)], dim=1
    )
    torch.testing.assert_close(logits(converted, ids), expected, atol=1e-4, rtol=0)


def test_open_gate_uses_memory_after_the_first_segment_only() -> None:
    """Control for proof 2: with β = 0 the memory changes later segments, never the first."""
    plain, converted = plain_and_converted("llama", SEGMENT, gate_init=0.0)
    ids = random_ids(1, 2 * SEGMENT)
    got = logits(converted, ids)
    torch.testing.assert_close(got[:, :SEGMENT], logits(plain, ids[:, :SEGMENT]), atol=1e-4, rtol=0)
    second = logits(plain, ids[:, SEGMENT:])
    assert (got[:, SEGMENT:] - second).abs().max() > 1e-2


def test_reading_in_pieces_equals_one_call() -> None:
    _, converted = plain_and_converted("qwen2", SEGMENT, gate_init=0.0)
    ids = random_ids(2, 3 * SEGMENT + 5)
    whole = converted(ids)
    state, parts = None, []
    with torch.no_grad():
        for start in range(0, ids.shape[1], 7):  # pieces that straddle segment boundaries
            out = converted(ids[:, start : start + 7], state=state)
            state, parts = out.state, [*parts, out.logits]
    torch.testing.assert_close(torch.cat(parts, dim=1), whole.logits, atol=1e-5, rtol=0)
    assert state.tokens_read == whole.state.tokens_read == ids.shape[1]
    for mine, reference in zip(state.layers, whole.state.layers, strict=True):
        torch.testing.assert_close(mine.memory.M, reference.memory.M, atol=1e-5, rtol=1e-5)
        torch.testing.assert_close(mine.memory.z, reference.memory.z, atol=1e-5, rtol=1e-5)
        assert mine.seg_len == reference.seg_len == 5


# -- proof 3: GQA, one memory per KV head, read with repeat_kv's mapping ------------------------


def _capture(module: torch.nn.Module, store: list) -> torch.utils.hooks.RemovableHandle:
    def hook(_m: torch.nn.Module, args: tuple, kwargs: dict, output: object) -> None:
        hidden = kwargs.get("hidden_states", args[0] if args else None)
        store.append((hidden.detach(), output[0].detach()))

    return module.register_forward_hook(hook, with_kwargs=True)


def test_gqa_memory_read_matches_repeat_kv_reference() -> None:
    """Layer 0 of an 8-head / 2-KV-head model, two segments, random per-head gates. The
    reference builds one memory per *query* head from repeat_kv'd keys and values (the
    transformers mapping) and mixes it with the original module's own attention."""
    torch.manual_seed(0)
    plain = tiny_model("llama", num_attention_heads=8, num_key_value_heads=2)
    original = copy.deepcopy(plain.model.layers[0].self_attn)
    model = infinify(plain, segment_len=SEGMENT, memory_update="linear", gate_init=0.0)
    attention = model.model.layers[0].self_attn
    with torch.no_grad():
        attention.beta.uniform_(-2.0, 2.0)
    seen: list = []
    handle = _capture(attention, seen)
    ids = random_ids(1, 2 * SEGMENT)
    with torch.no_grad():
        after_first = model(ids[:, :SEGMENT]).state  # memory = segment 1
        model(ids[:, SEGMENT:], state=after_first)
    handle.remove()
    (x1, _), (x2, got) = seen  # layer-0 inputs and outputs, one call per segment

    group, B, T, d = 4, 1, SEGMENT, original.head_dim
    with torch.no_grad():

        def heads(proj: torch.nn.Linear, x: torch.Tensor) -> torch.Tensor:
            return proj(x).view(B, T, -1, d).transpose(1, 2)

        k1 = repeat_kv(heads(original.k_proj, x1), group)  # (B, 8, T, d), pre-RoPE
        v1 = repeat_kv(heads(original.v_proj, x1), group)
        M = sigma(k1).transpose(-1, -2) @ v1  # eq. 8 per query head
        z = sigma(k1).sum(dim=-2)
        q2 = heads(original.q_proj, x2)  # pre-RoPE
        a_mem = (sigma(q2) @ M) / (sigma(q2) @ z.unsqueeze(-1))  # eq. 7

        dot_inputs: list = []
        hook = original.o_proj.register_forward_hook(lambda m, a, o: dot_inputs.append(a[0]))
        cos, sin = model.model.rotary_emb(x2, torch.arange(T)[None])
        original(x2, position_embeddings=(cos, sin), attention_mask=None)
        hook.remove()
        a_dot = dot_inputs[0].view(B, T, 8, d).transpose(1, 2)
        g = torch.sigmoid(attention.beta).view(1, 8, 1, 1)
        mixed = g * a_mem + (1 - g) * a_dot  # eq. 10
        expected = original.o_proj(mixed.transpose(1, 2).reshape(B, T, 8 * d))

    torch.testing.assert_close(got, expected, atol=1e-5, rtol=1e-4)
    # The state keeps one memory per KV head: query head h's memory is KV head h // group's.
    memory = after_first.layers[0].memory
    assert memory.M.shape == (1, 2, d, d)
    for h in range(8):
        torch.testing.assert_close(memory.M[0, h // group], M[0, h], atol=1e-5, rtol=1e-5)
    # Control: the other common mapping (h % n_kv) would give a different read.
    wrong = (sigma(q2) @ memory.M[:, [h % 2 for h in range(8)]]) / (
        sigma(q2) @ memory.z[:, [h % 2 for h in range(8)]].unsqueeze(-1)
    )
    assert (wrong - a_mem).abs().max() > 1e-3


# -- proof 4: memory keys are position-free ------------------------------------------------------


@pytest.mark.parametrize("rule", ["linear", "delta"])
def test_memory_write_does_not_depend_on_position(rule: str) -> None:
    """The same token at segment position 0 or 40 writes the same key: swapping two tokens of a
    segment leaves layer 0's memory unchanged (layer 0's inputs depend on tokens only)."""
    segment = 64
    _, model = plain_and_converted("llama", segment, memory_update=rule, gate_init=0.0)
    first = random_ids(1, segment, seed=5)  # a common earlier segment (delta reads memory)
    a = random_ids(1, segment, seed=6)
    b = a.clone()
    b[0, 0], b[0, 40] = a[0, 40], a[0, 0]
    assert a[0, 0] != a[0, 40]
    with torch.no_grad():
        state_a = model(torch.cat([first, a], dim=1)).state.layers[0].memory
        state_b = model(torch.cat([first, b], dim=1)).state.layers[0].memory
    torch.testing.assert_close(state_a.M, state_b.M, atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(state_a.z, state_b.z, atol=1e-5, rtol=1e-5)


def test_rotated_keys_would_depend_on_position() -> None:
    """Control for proof 4: the same key rotated at positions 0 and 40 writes differently."""
    _, model = plain_and_converted("llama", 64)
    attention = model.model.layers[0].self_attn
    torch.manual_seed(0)
    k = torch.randn(1, 2, 1, attention.head_dim)
    v = torch.randn(1, 2, 1, attention.head_dim)
    cos, sin = model.model.rotary_emb(k, torch.arange(64)[None])
    at0, _ = apply_rotary_pos_emb(k, k, cos[:, 0:1], sin[:, 0:1])
    at40, _ = apply_rotary_pos_emb(k, k, cos[:, 40:41], sin[:, 40:41])
    write0 = sigma(at0).transpose(-1, -2) @ v
    write40 = sigma(at40).transpose(-1, -2) @ v
    assert (write0 - write40).abs().max() > 1e-2


# -- conversion errors ----------------------------------------------------------------------------


def test_infinify_rejects_bad_arguments() -> None:
    with pytest.raises(ValueError, match="memory update"):
        infinify(tiny_model("llama"), segment_len=8, memory_update="hebbian")
    with pytest.raises(ValueError, match="segment_len"):
        infinify(tiny_model("llama"), segment_len=0)
    with pytest.raises(ValueError, match="sliding window"):
        infinify(tiny_model("mistral", sliding_window=32), segment_len=64)
    _, converted = plain_and_converted("llama", 8)
    with pytest.raises(ValueError, match="already"):
        infinify(converted)


def test_loss_over_segments_equals_cross_entropy_of_logits() -> None:
    _, model = plain_and_converted("llama", SEGMENT, gate_init=0.0)
    ids = random_ids(2, 2 * SEGMENT + 3)
    out = model(ids, labels=ids)
    reference = F.cross_entropy(
        out.logits[:, :-1].reshape(-1, out.logits.shape[-1]), ids[:, 1:].reshape(-1)
    )
    torch.testing.assert_close(out.loss, reference, atol=1e-5, rtol=1e-5)
    out.loss.backward()  # gradients reach the gates through memory across segments
    betas = model.gate_parameters()
    assert all(b.grad is not None and b.grad.abs().sum() > 0 for b in betas)


def test_truncated_backpropagation_detaches_memory_at_segment_ends() -> None:
    _, model = plain_and_converted("llama", SEGMENT, gate_init=0.0)
    ids = random_ids(1, 2 * SEGMENT)
    through = model(ids, labels=ids).state.layers[0].memory
    truncated = model(ids, labels=ids, bptt_segments=1).state.layers[0].memory
    assert through.M.requires_grad and not truncated.M.requires_grad


def test_activation_checkpointing_gives_the_same_gradients() -> None:
    """Re-running a layer in the backward pass must not fold its segment into memory twice."""
    _, model = plain_and_converted("qwen3", SEGMENT, gate_init=0.0)
    ids = random_ids(2, 3 * SEGMENT)
    model.train()

    def gradients() -> dict[str, torch.Tensor]:
        model.zero_grad()
        model(ids, labels=ids).loss.backward()
        return {n: p.grad.clone() for n, p in model.named_parameters() if p.grad is not None}

    calls: list[int] = []
    attention = model.model.layers[0].self_attn
    handle = attention.register_forward_hook(lambda *_: calls.append(1))
    plain_grads = gradients()
    ran_once = len(calls)
    enable = getattr(model, "activation_checkpointing_enable", None)
    (enable or model.gradient_checkpointing_enable)()  # the newer name where it exists
    checkpointed = gradients()
    handle.remove()
    assert len(calls) - ran_once == 2 * ran_once  # each segment's layer really ran twice
    assert plain_grads.keys() == checkpointed.keys()
    for name, grad in plain_grads.items():
        torch.testing.assert_close(checkpointed[name], grad, atol=1e-5, rtol=1e-4, msg=name)


def test_reentrant_checkpointing_is_refused() -> None:
    _, model = plain_and_converted("llama", SEGMENT)
    with pytest.raises(ValueError, match="reentrant"):
        model.gradient_checkpointing_enable({"use_reentrant": True})


def test_infini_classes_are_written_out_and_registered() -> None:
    import inspect

    from transformers import AutoConfig, AutoModelForCausalLM

    from bookreader.hf import configuration, modeling

    for base_type, config_cls in configuration.CONFIG_CLASSES.items():
        model_cls = modeling.MODEL_CLASSES[base_type]
        # Readers and IDEs find them: defined by a class statement in their module.
        assert f"class {config_cls.__name__}(" in inspect.getsource(configuration)
        assert f"class {model_cls.__name__}(" in inspect.getsource(modeling)
        assert model_cls.config_class is config_cls
        config = AutoConfig.for_model(config_cls.model_type, segment_len=8, memory_update="linear")
        assert type(config) is config_cls and (config.segment_len, config.memory_update) == (
            8,
            "linear",
        )
        assert AutoModelForCausalLM._model_mapping[config_cls] is model_cls


def test_generate_points_at_functions_that_exist() -> None:
    from bookreader.hf import generation

    _, model = plain_and_converted("llama", 8)
    with pytest.raises(NotImplementedError) as raised:
        model.generate()
    named = [w for w in str(raised.value).replace("(", " ").replace(")", " ").split() if "_" in w]
    assert named and all(hasattr(generation, name) for name in named)
