"""Configurations of Infini-attention models converted from Hugging Face causal LMs.

Each supported family (Llama, Mistral, Qwen2, Qwen3, Gemma, Granite) has a config class,
written out below, that *is* the family's config plus four fields (`InfiniAttentionFields`:
segment_len, memory_update, gate_init, memory_eps) and its own `model_type` ("infini_llama", "infini_mistral", "infini_qwen2", "infini_qwen3",
"infini_gemma", "infini_granite"). Registered with `AutoConfig`, so a saved
converted model reloads through `AutoConfig` / `AutoModelForCausalLM` alone, and every
pretrained weight keeps its original name (only `...self_attn.beta` is new).
"""

from __future__ import annotations

from dataclasses import dataclass

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


@dataclass(init=False, repr=False, eq=False)
class InfiniAttentionFields:
    """The four fields every Infini config adds to its family's config.

    A dataclass without an `__init__` of its own: transformers 5 makes every config class a
    dataclass and collects these fields from here into each subclass's `__init__`;
    transformers 4's `PretrainedConfig.__init__` sets them from keyword arguments over these
    class defaults."""

    segment_len: int = 2048  # tokens per segment: local attention span, memory write unit
    memory_update: str = "delta"  # "linear" (eq. 8) or "delta" (eq. 9)
    gate_init: float = 0.0  # initial β of every head (eq. 10); trained afterwards
    memory_eps: float = DEFAULT_EPS  # clamp of the memory read/write denominators


class InfiniLlamaConfig(InfiniAttentionFields, LlamaConfig):
    """LlamaConfig plus the Infini-attention fields."""

    model_type = "infini_llama"


class InfiniMistralConfig(InfiniAttentionFields, MistralConfig):
    """MistralConfig plus the Infini-attention fields."""

    model_type = "infini_mistral"


class InfiniQwen2Config(InfiniAttentionFields, Qwen2Config):
    """Qwen2Config plus the Infini-attention fields."""

    model_type = "infini_qwen2"


class InfiniQwen3Config(InfiniAttentionFields, Qwen3Config):
    """Qwen3Config plus the Infini-attention fields."""

    model_type = "infini_qwen3"


class InfiniGemmaConfig(InfiniAttentionFields, GemmaConfig):
    """GemmaConfig plus the Infini-attention fields."""

    model_type = "infini_gemma"


class InfiniGraniteConfig(InfiniAttentionFields, GraniteConfig):
    """GraniteConfig plus the Infini-attention fields."""

    model_type = "infini_granite"


# Family base type ("llama") -> its Infini config class.
CONFIG_CLASSES: dict[str, type[PretrainedConfig]] = {
    cls.model_type.removeprefix("infini_"): cls
    for cls in (
        InfiniLlamaConfig,
        InfiniMistralConfig,
        InfiniQwen2Config,
        InfiniQwen3Config,
        InfiniGemmaConfig,
        InfiniGraniteConfig,
    )
}
assert set(CONFIG_CLASSES) == set(FAMILIES), "every family needs its Infini config class"


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
