"""Proof 5 (save_pretrained / from_pretrained round trip through the Auto classes) and
load_model: converted or plain checkpoints, devices, and a clear error without network."""

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
from transformers import AutoConfig, AutoModelForCausalLM, GPT2Config, GPT2LMHeadModel

from bookreader.errors import ModelUnavailable, UsageError
from bookreader.hf import load_model, load_tokenizer, loading
from bookreader.hf.loading import resolve_dtype


@pytest.mark.parametrize("family", ["llama", "qwen3"])
def test_save_pretrained_round_trip(family: str, tmp_path: Path) -> None:
    _, model = plain_and_converted(family, segment_len=8, memory_update="linear", gate_init=-2.0)
    with torch.no_grad():  # gates that differ from gate_init, per layer and head
        for beta in model.gate_parameters():
            beta.uniform_(-4.0, 4.0)
    model.save_pretrained(tmp_path)
    saved = json.loads((tmp_path / "config.json").read_text())
    assert saved["model_type"] == f"infini_{family}"

    config = AutoConfig.from_pretrained(tmp_path)
    reloaded = AutoModelForCausalLM.from_pretrained(tmp_path).eval()
    assert type(reloaded) is type(model)
    assert type(config) is type(model.config)
    assert (reloaded.config.segment_len, reloaded.config.memory_update) == (8, "linear")
    assert reloaded.config.gate_init == -2.0
    assert torch.equal(reloaded.gates(), model.gates())
    ids = random_ids(2, 29)  # several segments: memory (and so the gates) matter
    with torch.no_grad():
        expected, got = model(ids), reloaded(ids)
    torch.testing.assert_close(got.logits, expected.logits, atol=0, rtol=0)
    for a, b in zip(got.state.layers, expected.state.layers, strict=True):
        assert torch.equal(a.memory.M, b.memory.M)


def test_load_model_reads_a_converted_checkpoint(tmp_path: Path) -> None:
    _, model = plain_and_converted("mistral", segment_len=8, memory_update="delta", gate_init=0.5)
    model.save_pretrained(tmp_path)
    loaded = load_model(tmp_path, device="cpu", dtype="float32")
    assert not loaded.training
    assert torch.equal(loaded.gates(), model.gates())
    overridden = load_model(tmp_path, device="cpu", segment_len=4, memory_update="linear")
    assert (overridden.config.segment_len, overridden.config.memory_update) == (4, "linear")
    with pytest.raises(UsageError, match="memory update"):
        load_model(tmp_path, device="cpu", memory_update="hebbian")


def test_load_model_converts_a_plain_checkpoint(tmp_path: Path) -> None:
    plain = tiny_model("qwen2")
    plain.save_pretrained(tmp_path)
    loaded = load_model(tmp_path, device="cpu", segment_len=16, gate_init=-30.0)
    assert type(loaded).__name__ == "InfiniQwen2ForCausalLM"
    ids = random_ids(1, 16)
    with torch.no_grad():
        torch.testing.assert_close(loaded(ids).logits, plain(ids).logits, atol=1e-4, rtol=0)
    default = load_model(tmp_path, device="cpu")
    assert default.config.segment_len == 2048
    torch.testing.assert_close(
        default.gates(), torch.full((2, 4), torch.sigmoid(torch.tensor(-4.0)).item())
    )


def test_load_model_in_bfloat16(tmp_path: Path) -> None:
    plain = tiny_model("llama")
    plain.save_pretrained(tmp_path)
    model = load_model(tmp_path, device="cpu", dtype="bfloat16", segment_len=8)
    assert model.lm_head.weight.dtype == torch.bfloat16
    out = model(random_ids(1, 20))
    assert out.logits.dtype == torch.bfloat16
    assert out.state.layers[0].memory.M.dtype == torch.float32  # memory stays fp32


def test_auto_dtype_is_fp32_on_cpu() -> None:
    assert resolve_dtype("auto", torch.device("cpu")) == torch.float32
    with pytest.raises(ValueError, match="unknown dtype"):
        resolve_dtype("float7", torch.device("cpu"))


def _one_line(error: pytest.ExceptionInfo[ModelUnavailable], name: str) -> str:
    message = str(error.value)
    assert "\n" not in message and name in message
    return message


def test_offline_and_not_cached_is_one_clear_line(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    name = "bookreader-tests/no-such-model"
    with pytest.raises(ModelUnavailable) as error:
        load_model(name)
    assert "offline" in _one_line(error, name)


def test_unknown_hub_id_is_one_clear_line(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    monkeypatch.delenv("TRANSFORMERS_OFFLINE", raising=False)
    name = "bookreader-tests/no-such-model-7f3a"
    with pytest.raises(ModelUnavailable) as error:  # no network: unreachable; else: not found
        load_model(name)
    _one_line(error, name)


def test_no_network_is_one_clear_line_for_model_and_tokenizer(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    monkeypatch.setattr(loading, "hub_reachable", lambda timeout=3.0: False)
    name = "bookreader-tests/no-such-model"
    with pytest.raises(ModelUnavailable) as error:
        load_model(name)
    assert "cannot be reached" in _one_line(error, name)
    with pytest.raises(ModelUnavailable) as error:
        load_tokenizer(name, local_files_only=True)
    assert "offline" in _one_line(error, name)


def test_folder_without_model_and_unsupported_family(tmp_path: Path) -> None:
    with pytest.raises(ModelUnavailable, match=r"no config\.json"):
        load_model(tmp_path)
    GPT2LMHeadModel(GPT2Config(n_layer=1, n_embd=32, n_head=2, vocab_size=50)).save_pretrained(
        tmp_path / "gpt2"
    )
    with pytest.raises(ModelUnavailable, match="'gpt2' model"):
        load_model(tmp_path / "gpt2")
