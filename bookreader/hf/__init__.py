"""Infini-attention inside pretrained Hugging Face causal LMs: the only package that imports
transformers.

    from bookreader.hf import infinify, load_model
    model = infinify(hf_model, segment_len=64, memory_update="delta", gate_init=0.0)
    out = model(input_ids)        # any length: read segment by segment, memory carried
    out.logits, out.state         # out.state: an InfiniState (memory + current segment cache)

Supported families: Llama, Mistral, Qwen2, Qwen3, Gemma, Granite (`FAMILIES`). Importing this
package registers their converted model types (infini_llama, infini_mistral, infini_qwen2,
infini_qwen3, infini_gemma, infini_granite) with AutoConfig and AutoModelForCausalLM, so a converted model saved with
`save_pretrained` reloads with `AutoModelForCausalLM.from_pretrained`. Reading and generation
with memory: see `bookreader.hf.generation`.
"""

from bookreader.hf.attention import InfiniHFAttention
from bookreader.hf.configuration import (
    CONFIG_CLASSES,
    FAMILIES,
    InfiniGemmaConfig,
    InfiniGraniteConfig,
    InfiniLlamaConfig,
    InfiniMistralConfig,
    InfiniQwen2Config,
    InfiniQwen3Config,
    to_infini_config,
)
from bookreader.hf.convert import infinify
from bookreader.hf.generation import (
    GenerationStream,
    generate_text,
    read_text,
    read_tokens,
    stream_text,
)
from bookreader.hf.loading import load_model, load_tokenizer
from bookreader.hf.modeling import (
    MODEL_CLASSES,
    InfiniCausalLMOutput,
    InfiniGemmaForCausalLM,
    InfiniGraniteForCausalLM,
    InfiniLlamaForCausalLM,
    InfiniMistralForCausalLM,
    InfiniQwen2ForCausalLM,
    InfiniQwen3ForCausalLM,
)

__all__ = [
    "CONFIG_CLASSES",
    "FAMILIES",
    "MODEL_CLASSES",
    "GenerationStream",
    "InfiniCausalLMOutput",
    "InfiniGemmaConfig",
    "InfiniGemmaForCausalLM",
    "InfiniGraniteConfig",
    "InfiniGraniteForCausalLM",
    "InfiniHFAttention",
    "InfiniLlamaConfig",
    "InfiniLlamaForCausalLM",
    "InfiniMistralConfig",
    "InfiniMistralForCausalLM",
    "InfiniQwen2Config",
    "InfiniQwen2ForCausalLM",
    "InfiniQwen3Config",
    "InfiniQwen3ForCausalLM",
    "generate_text",
    "infinify",
    "load_model",
    "load_tokenizer",
    "read_text",
    "read_tokens",
    "stream_text",
    "to_infini_config",
]
