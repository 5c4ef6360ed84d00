"""Infini-attention in pure PyTorch (arXiv 2404.07143): compressive memory, segment streaming,
and a small standalone Infini-Transformer language model. No transformers import here."""

from bookreader.infini.attention import (
    InfiniAttention,
    infini_attention_step,
    local_attention,
    repeat_kv,
    segment_pieces,
)
from bookreader.infini.config import InfiniConfig
from bookreader.infini.memory import LayerMemory, retrieve, sigma, update
from bookreader.infini.model import InfiniTransformer
from bookreader.infini.state import InfiniState, LayerState
from bookreader.infini.stream import TokenStream, generate, iter_chunks, read_stream, sample_next
from bookreader.infini.tokenizer import ByteStreamDecoder, ByteTokenizer

__all__ = [
    "ByteStreamDecoder",
    "ByteTokenizer",
    "InfiniAttention",
    "InfiniConfig",
    "InfiniState",
    "InfiniTransformer",
    "LayerMemory",
    "LayerState",
    "TokenStream",
    "generate",
    "infini_attention_step",
    "iter_chunks",
    "local_attention",
    "read_stream",
    "repeat_kv",
    "retrieve",
    "sample_next",
    "segment_pieces",
    "sigma",
    "update",
]
