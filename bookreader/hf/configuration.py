"""Configurations of Infini-attention models converted from Hugging Face causal LMs.

Each supported family (Llama, Mistral, Qwen2, Qwen3, Gemma, Granite) gets a config class that
*is* the family's config plus four fields (segment_len, memory_update, gate_init, memory_eps)
and its own `model_type` ("infini_llama", "infini_mistral", "infini_qwen2", "infini_qwen3",
"infini_gemma", "infini_granite"). Registered with `AutoConfig`, so a saved
converted model reloads through `AutoConfig` / `AutoModelForCausalLM` alone, and every
pretrained weight keeps its original name (only `...self_attn.beta` is new).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from transformers import (
    GemmaConfig,
    GemmaForCausalLM,
    GraniteConfig,
    GraniteForCausalLM,
    LlamaConfig,
    LlamaForCausalLM,
    MistralConfig,
    MistralForCausalLM,
    PretrainedConfig,
    PreTrainedModel,
    Qwen2Config,
    Qwen2ForCausalLM,
    Qwen3Config,
    Qwen3ForCausalLM,
)

from bookreader.infini.memory import DEFAULT_EPS

UPDATE_RULES = ("linear", "delta")
# Fields a plain config's to_dict() carries that must not be copied into an Infini config.
_NOT_COPIED = ("model_type", "transformers_version", "architectures", "auto_map")


@dataclass(frozen=True)
class Family:
    """A model family whose attention module Infini-attention can replace."""

    base_type: str  # the plain model_type, e.g. "llama"
    base_config: type[PretrainedConfig]
    base_model: type[PreTrainedModel]

    @property
    def infini_type(self) -> str:
        return f"infini_{self.base_type}"


# Families with q/k/v/o projections (optionally q_norm/k_norm before RoPE, as in Qwen3) and
# RoPE cos/sin from the model's rotary embedding: the layout the attention swap relies on.
FAMILIES: dict[str, Family] = {
    f.base_type: f
    for f in (
        Family("llama", LlamaConfig, LlamaForCausalLM),
        Family("mistral", MistralConfig, MistralForCausalLM),
        Family("qwen2", Qwen2Config, Qwen2ForCausalLM),
        Family("qwen3", Qwen3Config, Qwen3ForCausalLM),
        Family("gemma", GemmaConfig, GemmaForCausalLM),
        Family("granite", GraniteConfig, GraniteForCausalLM),  # its own attention scaling
    )
}


def _make_config_class(family: Family) -> type[PretrainedConfig]:
    """Subclass of the family's config with the Infini-attention fields.

    Annotated class attributes become dataclass fields in transformers 5 (configs are
    dataclasses there) and plain defaults that `PretrainedConfig.__init__` overrides from
    keyword arguments in transformers 4.
    """
    name = "Infini" + family.base_config.__name__
    namespace: dict[str, Any] = {
        "__module__": __name__,
        "__qualname__": name,
        "__doc__": f"{family.base_config.__name__} + Infini-attention (segment, memory rule, gate).",
        "model_type": family.infini_type,
        "__annotations__": {
            "segment_len": int,
            "memory_update": str,
            "gate_init": float,
            "memory_eps": float,
        },
        "segment_len": 2048,  # tokens per segment: local attention span, memory write unit
        "memory_update": "delta",  # "linear" (eq. 8) or "delta" (eq. 9)
        "gate_init": 0.0,  # initial β of every head (eq. 10); trained afterwards
        "memory_eps": DEFAULT_EPS,  # clamp of the memory read/write denominators
    }
    return type(name, (family.base_config,), namespace)


CONFIG_CLASSES: dict[str, type[PretrainedConfig]] = {
    base_type: _make_config_class(family) for base_type, family in FAMILIES.items()
}
InfiniLlamaConfig = CONFIG_CLASSES["llama"]
InfiniMistralConfig = CONFIG_CLASSES["mistral"]
InfiniQwen2Config = CONFIG_CLASSES["qwen2"]
InfiniQwen3Config = CONFIG_CLASSES["qwen3"]
InfiniGemmaConfig = CONFIG_CLASSES["gemma"]
InfiniGraniteConfig = CONFIG_CLASSES["granite"]


def is_infini_config(config: PretrainedConfig) -> bool:
    return any(isinstance(config, cls) for cls in CONFIG_CLASSES.values())


def family_of(config: PretrainedConfig) -> Family:
    """The family of a plain or an Infini config; ValueError for an unsupported model type."""
    model_type = config.model_type.removeprefix("infini_")
    if model_type not in FAMILIES:
        supported = ", ".join(sorted(FAMILIES))
        raise ValueError(
            f"model type {config.model_type!r} cannot be converted to Infini-attention "
            f"(supported: {supported})"
        )
    return FAMILIES[model_type]


def validate_infini_fields(segment_len: int, memory_update: str, memory_eps: float) -> None:
    if not isinstance(segment_len, int) or segment_len < 1:
        raise ValueError(f"segment_len must be a positive integer, got {segment_len!r}")
    if memory_update not in UPDATE_RULES:
        raise ValueError(f"memory update must be one of {UPDATE_RULES}, got {memory_update!r}")
    if not memory_eps > 0:
        raise ValueError(f"memory_eps must be positive, got {memory_eps!r}")


def to_infini_config(
    config: PretrainedConfig,
    segment_len: int,
    memory_update: str = "delta",
    gate_init: float = 0.0,
    memory_eps: float = DEFAULT_EPS,
) -> PretrainedConfig:
    """The Infini config for a plain (or already Infini) config: every base field kept."""
    validate_infini_fields(segment_len, memory_update, memory_eps)
    family = family_of(config)
    fields = {k: v for k, v in config.to_dict().items() if k not in _NOT_COPIED}
    fields.update(
        segment_len=segment_len,
        memory_update=memory_update,
        gate_init=float(gate_init),
        memory_eps=float(memory_eps),
    )
    infini = CONFIG_CLASSES[family.base_type](**fields)
    # The attention backend is runtime state, not a saved field: keep the model's choice.
    implementation = getattr(config, "_attn_implementation", None)
    if implementation is not None:
        infini._attn_implementation = implementation
    return infini
