"""Tiny random Hugging Face models for the bookreader.hf tests (nothing is downloaded)."""

from __future__ import annotations

import copy
from collections.abc import Iterator

import pytest
import torch
from transformers import (
    GemmaConfig,
    GemmaForCausalLM,
    GraniteConfig,
    GraniteForCausalLM,
    LlamaConfig,
    LlamaForCausalLM,
    MistralConfig,
    MistralForCausalLM,
    PreTrainedModel,
    Qwen2Config,
    Qwen2ForCausalLM,
    Qwen3Config,
    Qwen3ForCausalLM,
)

VOCAB = 97
TINY = {
    "vocab_size": VOCAB,
    "hidden_size": 64,
    "intermediate_size": 128,
    "num_hidden_layers": 2,
    "num_attention_heads": 4,
    "num_key_value_heads": 2,
    "max_position_embeddings": 512,
}
FAMILY_CLASSES = {
    "llama": (LlamaConfig, LlamaForCausalLM),
    "mistral": (MistralConfig, MistralForCausalLM),
    "qwen2": (Qwen2Config, Qwen2ForCausalLM),
    "qwen3": (Qwen3Config, Qwen3ForCausalLM),
    "gemma": (GemmaConfig, GemmaForCausalLM),
    "granite": (GraniteConfig, GraniteForCausalLM),
}
# Per-family settings of the tiny models: Gemma's default head is 256 wide; Granite scales
# attention by its own multiplier (not head_dim^-0.5) and its residuals and logits too.
FAMILY_OVERRIDES: dict[str, dict[str, object]] = {
    "gemma": {"head_dim": 16},
    "granite": {"attention_multiplier": 0.1, "residual_multiplier": 0.5, "logits_scaling": 2.0},
}


def tiny_model(family: str = "llama", seed: int = 0, **overrides: object) -> PreTrainedModel:
    """A random plain model of `family` in eval mode. Norm weights and biases (Qwen2's q/k/v
    biases, Qwen3's q/k norms) are randomised too, so that a conversion that dropped them
    would show."""
    config_cls, model_cls = FAMILY_CLASSES[family]
    torch.manual_seed(seed)
    settings = {**TINY, **FAMILY_OVERRIDES.get(family, {}), **overrides}
    model = model_cls(config_cls(**settings)).eval()
    with torch.no_grad():
        for name, param in model.named_parameters():
            if name.endswith("norm.weight"):
                param.uniform_(0.5, 1.5)
            elif name.endswith(".bias"):
                param.uniform_(-0.2, 0.2)
    return model


def plain_and_converted(
    family: str = "llama", segment_len: int = 16, seed: int = 0, **infini: object
) -> tuple[PreTrainedModel, PreTrainedModel]:
    """(the original model, a converted deep copy of it)."""
    from bookreader.hf import infinify

    plain = tiny_model(family, seed)
    converted = infinify(copy.deepcopy(plain), segment_len=segment_len, **infini)
    return plain, converted


def random_ids(batch: int, length: int, seed: int = 1) -> torch.Tensor:
    generator = torch.Generator().manual_seed(seed)
    return torch.randint(0, VOCAB, (batch, length), generator=generator)


@pytest.fixture(autouse=True)
def single_thread() -> Iterator[None]:
    """Tiny matrices: one intra-op thread is many times faster than several on a shared CPU
    (thread contention). Restored afterwards, so other tests keep their setting."""
    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(previous)
