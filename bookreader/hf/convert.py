"""`infinify`: turn a pretrained Llama-family causal LM into an Infini-attention model in place.

Every pretrained weight is reused as is; each decoder layer's `self_attn` becomes an
`InfiniHFAttention` holding the same q/k/v/o projections plus one gate logit β per head. The
model object keeps its weights and device and becomes an instance of the matching
`Infini...ForCausalLM` class, whose forward reads any length segment by segment. Nothing global
is patched: other models of the same family are unaffected.
"""

from __future__ import annotations

from transformers import PreTrainedModel

from bookreader.hf.attention import swap_attention
from bookreader.hf.configuration import family_of, is_infini_config, to_infini_config
from bookreader.hf.modeling import MODEL_CLASSES
from bookreader.infini.memory import DEFAULT_EPS


def infinify(
    hf_model: PreTrainedModel,
    segment_len: int = 2048,
    memory_update: str = "delta",
    gate_init: float = 0.0,
    memory_eps: float = DEFAULT_EPS,
) -> PreTrainedModel:
    """Convert `hf_model` (a LlamaForCausalLM, MistralForCausalLM, Qwen2ForCausalLM,
    Qwen3ForCausalLM, GemmaForCausalLM or GraniteForCausalLM) in place and return it.

    segment_len: tokens per segment (local attention span; memory is written per segment).
    memory_update: "linear" (eq. 8) or "delta" (eq. 9). gate_init: initial β of every head: 0 to
    train from scratch, about -3 to -5 to adapt a pretrained model, -30 to close the gates
    (the converted model then equals the original run segment by segment).
    """
    if is_infini_config(hf_model.config):
        raise ValueError("this model already uses Infini-attention")
    family = family_of(hf_model.config)
    if type(hf_model) is not family.base_model:
        raise ValueError(
            f"infinify converts a {family.base_model.__name__}, not a {type(hf_model).__name__}"
        )
    config = to_infini_config(hf_model.config, segment_len, memory_update, gate_init, memory_eps)
    _check_sliding_window(hf_model, segment_len)
    config.name_or_path = hf_model.config.name_or_path
    hf_model.__class__ = MODEL_CLASSES[family.base_type]
    hf_model.config = config
    hf_model.model.config = config
    swap_attention(hf_model, config)
    return hf_model


def _check_sliding_window(hf_model: PreTrainedModel, segment_len: int) -> None:
    """Local attention covers a whole segment: a segment longer than a layer's sliding window
    would let tokens see further back than the model was trained for."""
    for layer in hf_model.model.layers:
        attention = layer.self_attn
        window = getattr(
            attention, "sliding_window", getattr(hf_model.config, "sliding_window", None)
        )
        if window is not None and segment_len > window:
            raise ValueError(
                f"segment_len {segment_len} exceeds the model's sliding window of {window} tokens"
            )
