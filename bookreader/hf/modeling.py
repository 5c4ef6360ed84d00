"""Infini-attention inside Hugging Face causal LMs (arXiv 2404.07143, eqs. 6-10).

Two pieces:
- `InfiniHFAttention` (in `attention.py`) replaces one decoder layer's `self_attn`: memory and
  gate around the layer's own projections.
- `InfiniCausalLMMixin` in front of the family's `...ForCausalLM` (the classes
  `InfiniLlamaForCausalLM` ... `InfiniGraniteForCausalLM` below): its forward splits any
  input at segment boundaries, runs the unchanged decoder stack on each piece and carries the
  `InfiniState` (memory + current-segment cache) from piece to piece.

The decoder layers, norms, MLPs and the LM head are the pretrained ones, untouched; with every
gate closed (β = -30) the model is the original run separately on each segment.
"""

from __future__ import annotations

import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from transformers import (
    AutoConfig,
    AutoModelForCausalLM,
    GemmaForCausalLM,
    GraniteForCausalLM,
    LlamaForCausalLM,
    MistralForCausalLM,
    PretrainedConfig,
    PreTrainedModel,
    Qwen2ForCausalLM,
    Qwen3ForCausalLM,
)
from transformers.utils import ModelOutput

from bookreader.hf import configuration
from bookreader.hf.attention import (
    InfiniHFAttention,
    PieceContext,
    infini_attention_modules,
    swap_attention,
)
from bookreader.hf.configuration import CONFIG_CLASSES, FAMILIES
from bookreader.infini.attention import segment_pieces
from bookreader.infini.state import InfiniState

try:  # transformers >= 5: initialisers that skip tensors loaded from a checkpoint
    from transformers import initialization as _hf_init

    _constant_init = _hf_init.constant_
except ImportError:  # pragma: no cover - transformers 4
    _constant_init = nn.init.constant_


@dataclass
class InfiniCausalLMOutput(ModelOutput):
    """loss (with labels), logits (B, kept positions, vocab) and the state after the input."""

    loss: Tensor | None = None
    logits: Tensor | None = None
    state: InfiniState | None = None


class InfiniCausalLMMixin:
    """Segment-by-segment forward over the family's pretrained decoder stack.

    Put in front of a `...ForCausalLM` class (see `MODEL_CLASSES`). The input state is never
    modified: every call returns a new `InfiniState`, so one state read from a book can serve
    many questions.
    """

    config: PretrainedConfig
    model: nn.Module
    lm_head: nn.Module

    def __init__(self, config: PretrainedConfig) -> None:
        super().__init__(config)  # type: ignore[call-arg]
        swap_attention(self, config)  # type: ignore[arg-type]

    # Gates missing from a checkpoint (a plain model converted on load) start at gate_init.
    # transformers 4 initialises missing weights through the outer model's _init_weights;
    # transformers 5 dispatches to the inner decoder model's, so the gates are set here after.
    def _init_weights(self, module: nn.Module) -> None:
        if isinstance(module, InfiniHFAttention):
            _constant_init(module.beta, float(self.config.gate_init))
            return
        super()._init_weights(module)  # type: ignore[misc]

    def initialize_weights(self) -> None:
        super().initialize_weights()  # type: ignore[misc]
        for module in infini_attention_modules(self):
            _constant_init(module.beta, float(self.config.gate_init))  # skips loaded gates

    # -- state --------------------------------------------------------------------------------

    @property
    def segment_len(self) -> int:
        return int(self.config.segment_len)

    def init_state(
        self, batch_size: int = 1, device: torch.device | str | None = None
    ) -> InfiniState:
        """An empty memory for every layer and KV head (fp32), on the model's device."""
        head_dim = self.model.layers[0].self_attn.head_dim
        return InfiniState.empty(
            self.config.num_hidden_layers,
            batch_size,
            self.config.num_key_value_heads,
            head_dim,
            head_dim,
            device=device if device is not None else self.lm_head.weight.device,
            meta={
                "model_type": self.config.model_type,
                "segment_len": self.segment_len,
                "memory_update": self.config.memory_update,
                "name_or_path": getattr(self.config, "_name_or_path", ""),
            },
        )

    def _rope_table(self, like: Tensor) -> tuple[Tensor, Tensor]:
        """cos, sin (segment_len, d) from the model's own rotary embedding (its scaling too)."""
        positions = torch.arange(self.segment_len, device=like.device)[None]  # (1, L)
        cos, sin = self.model.rotary_emb(like, positions)  # (1, L, d) each, in like's dtype
        return cos[0], sin[0]

    # -- forward --------------------------------------------------------------------------------

    def forward(
        self,
        input_ids: Tensor | None = None,
        state: InfiniState | None = None,
        labels: Tensor | None = None,
        inputs_embeds: Tensor | None = None,
        attention_mask: Tensor | None = None,
        logits_to_keep: int = 0,
        return_logits: bool = True,
        bptt_segments: int | None = None,
        **_: Any,
    ) -> InfiniCausalLMOutput:
        """Read input_ids (B, T) or inputs_embeds (B, T, D), any T, after `state`.

        logits_to_keep: 0 keeps all T positions, k > 0 the last k (what generation needs);
        return_logits=False computes none (reading a book). labels (B, T): next-token loss
        over the whole input, the shift crossing segment boundaries. bptt_segments: detach
        the memory every that many completed segments (truncated backpropagation through
        memory); None backpropagates through all of it.
        """
        if (input_ids is None) == (inputs_embeds is None):
            raise ValueError("pass exactly one of input_ids and inputs_embeds")
        if attention_mask is not None and not bool(attention_mask.all()):
            raise ValueError("padding is not supported: read sequences of equal length")
        embeds = inputs_embeds if inputs_embeds is not None else self.model.embed_tokens(input_ids)
        B, T = embeds.shape[:2]
        if state is None:
            state = self.init_state(B, embeds.device)
        cos, sin = self._rope_table(embeds)
        keep_from = 0 if logits_to_keep <= 0 else max(T - logits_to_keep, 0)

        logits_parts: list[Tensor] = []
        loss_sum, loss_count = embeds.new_zeros((), dtype=torch.float32), 0
        start = 0
        for n in segment_pieces(state.layers[0].seg_len, T, self.segment_len):
            hidden, state = self._run_piece(embeds[:, start : start + n], state, cos, sin)
            need_logits = return_logits and start + n > keep_from
            if need_logits or labels is not None:
                logits = self._logits(hidden)  # (B, n, vocab)
                if labels is not None:
                    total, count = _shifted_loss(logits, labels, start)
                    loss_sum, loss_count = loss_sum + total, loss_count + count
                if need_logits:
                    logits_parts.append(logits[:, max(keep_from - start, 0) :])
            state = self._truncate_bptt(state, bptt_segments)
            start += n

        logits_out = None
        if return_logits:
            logits_out = (
                torch.cat(logits_parts, dim=1)
                if logits_parts
                else embeds.new_zeros(B, 0, self.config.vocab_size)
            )
        loss = loss_sum / max(loss_count, 1) if labels is not None else None
        return InfiniCausalLMOutput(loss=loss, logits=logits_out, state=state)

    def _logits(self, hidden: Tensor) -> Tensor:
        """The LM head plus what the family's own forward does after it (Granite divides
        the logits by logits_scaling)."""
        logits = self.lm_head(hidden)
        scaling = getattr(self.config, "logits_scaling", None)
        return logits / scaling if scaling else logits

    def _run_piece(
        self, embeds: Tensor, state: InfiniState, cos: Tensor, sin: Tensor
    ) -> tuple[Tensor, InfiniState]:
        """One piece (B, n, D) that stays inside the current segment -> last hidden states."""
        start = state.layers[0].seg_len
        ctx = PieceContext(
            state.layers,
            cos,
            sin,
            self.segment_len,
            self.config.memory_update,
            self.config.memory_eps,
        )
        positions = torch.arange(start, start + embeds.shape[1], device=embeds.device)[None]
        with self._bound(ctx):
            out = self.model(
                inputs_embeds=embeds, position_ids=positions, use_cache=False, infini_ctx=ctx
            )
        if any(layer is None for layer in ctx.layers_out):
            raise RuntimeError("a decoder layer did not run its Infini attention")
        layers = [layer for layer in ctx.layers_out if layer is not None]
        return out.last_hidden_state, InfiniState(
            layers, state.tokens_read + embeds.shape[1], state.meta
        )

    @contextmanager
    def _bound(self, ctx: PieceContext) -> Iterator[None]:
        """Also hand the context to the modules directly, for transformers versions whose
        decoder layers do not pass extra keyword arguments down to self_attn."""
        modules = infini_attention_modules(self.model)
        for module in modules:
            module.bound_context = ctx
        try:
            yield
        finally:
            for module in modules:
                module.bound_context = None

    def _truncate_bptt(self, state: InfiniState, bptt_segments: int | None) -> InfiniState:
        if bptt_segments is None or not torch.is_grad_enabled():
            return state
        completed, in_segment = divmod(state.tokens_read, self.segment_len)
        if in_segment == 0 and completed % bptt_segments == 0:
            return state.detach()
        return state

    @torch.no_grad()
    def read(self, input_ids: Tensor, state: InfiniState | None = None) -> InfiniState:
        """Read input_ids (B, T) into memory without computing logits."""
        return self(input_ids, state=state, return_logits=False).state

    # -- gates ----------------------------------------------------------------------------------

    def gates(self) -> Tensor:
        """sigmoid(β): (layers, heads), the weight of memory in every head."""
        return torch.stack(
            [torch.sigmoid(m.beta.detach().float()) for m in infini_attention_modules(self)]
        )

    def gate_parameters(self) -> list[nn.Parameter]:
        """The β parameters, for an optimizer group of their own (higher lr, no decay)."""
        return [m.beta for m in infini_attention_modules(self)]

    def set_memory_enabled(self, enabled: bool) -> None:
        for module in infini_attention_modules(self):
            module.read_memory = enabled

    def gradient_checkpointing_enable(
        self, gradient_checkpointing_kwargs: dict[str, Any] | None = None, **kwargs: Any
    ) -> None:
        """Activation checkpointing per decoder layer, always non-reentrant: reentrant
        checkpointing runs each layer under no_grad and would cut the gradient through memory
        (transformers 4 defaults to it). transformers 5's activation_checkpointing_enable
        comes here too."""
        options = dict(gradient_checkpointing_kwargs or {})
        if options.get("use_reentrant"):
            raise ValueError("reentrant checkpointing cuts gradients through the memory")
        options["use_reentrant"] = False
        with warnings.catch_warnings():  # transformers 5 renamed the method; both work
            warnings.simplefilter("ignore", FutureWarning)
            super().gradient_checkpointing_enable(  # type: ignore[misc]
                gradient_checkpointing_kwargs=options, **kwargs
            )

    def generate(self, *args: Any, **kwargs: Any) -> Any:
        raise NotImplementedError(
            "Infini-attention models generate with bookreader.hf.generation "
            "(generate_text / stream_text / GenerationStream), which carry the compressive memory"
        )


def _shifted_loss(logits: Tensor, labels: Tensor, start: int) -> tuple[Tensor, int]:
    """Summed next-token cross-entropy of positions start.. start+n-1 (label at p+1)."""
    n = logits.shape[1]
    targets = labels[:, start + 1 : start + n + 1]  # shorter than n at the very end
    logits = logits[:, : targets.shape[1]]
    valid = int((targets != -100).sum())
    if valid == 0:
        return logits.new_zeros((), dtype=torch.float32), 0
    total = F.cross_entropy(
        logits.float().reshape(-1, logits.shape[-1]),
        targets.reshape(-1),
        ignore_index=-100,
        reduction="sum",
    )
    return total, valid


class InfiniLlamaForCausalLM(InfiniCausalLMMixin, LlamaForCausalLM):
    """LlamaForCausalLM with Infini-attention in every layer."""

    config_class = configuration.InfiniLlamaConfig


class InfiniMistralForCausalLM(InfiniCausalLMMixin, MistralForCausalLM):
    """MistralForCausalLM with Infini-attention in every layer."""

    config_class = configuration.InfiniMistralConfig


class InfiniQwen2ForCausalLM(InfiniCausalLMMixin, Qwen2ForCausalLM):
    """Qwen2ForCausalLM with Infini-attention in every layer."""

    config_class = configuration.InfiniQwen2Config


class InfiniQwen3ForCausalLM(InfiniCausalLMMixin, Qwen3ForCausalLM):
    """Qwen3ForCausalLM with Infini-attention in every layer."""

    config_class = configuration.InfiniQwen3Config


class InfiniGemmaForCausalLM(InfiniCausalLMMixin, GemmaForCausalLM):
    """GemmaForCausalLM with Infini-attention in every layer."""

    config_class = configuration.InfiniGemmaConfig


class InfiniGraniteForCausalLM(InfiniCausalLMMixin, GraniteForCausalLM):
    """GraniteForCausalLM with Infini-attention in every layer."""

    config_class = configuration.InfiniGraniteConfig


# Family base type ("llama") -> its Infini model class.
MODEL_CLASSES: dict[str, type[PreTrainedModel]] = {
    cls.config_class.model_type.removeprefix("infini_"): cls
    for cls in (
        InfiniLlamaForCausalLM,
        InfiniMistralForCausalLM,
        InfiniQwen2ForCausalLM,
        InfiniQwen3ForCausalLM,
        InfiniGemmaForCausalLM,
        InfiniGraniteForCausalLM,
    )
}
assert set(MODEL_CLASSES) == set(FAMILIES), "every family needs its Infini model class"


def register() -> None:
    """Make AutoConfig / AutoModelForCausalLM know the infini_* model types (idempotent)."""
    for base_type, family in FAMILIES.items():
        config_cls = CONFIG_CLASSES[base_type]
        AutoConfig.register(family.infini_type, config_cls, exist_ok=True)
        AutoModelForCausalLM.register(config_cls, MODEL_CLASSES[base_type], exist_ok=True)


register()
