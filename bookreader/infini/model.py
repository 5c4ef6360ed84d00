"""A small standalone Infini-Transformer language model (arXiv 2404.07143).

Pre-norm decoder blocks (RMSNorm, Infini-attention, SwiGLU MLP), tied embeddings. A sequence of
any length is read segment by segment: for each segment every layer reads its compressive memory,
attends locally, and (when the segment is full) writes the segment into memory. The segment loop
is in Python; each segment is vectorised (SDPA for local attention, matmuls for the memory).

    cfg = InfiniConfig(vocab_size=256, d_model=64, n_layers=2, n_heads=4, n_kv_heads=2,
                       segment_len=32, memory_update="delta")
    model = InfiniTransformer(cfg)
    state = model.init_state(batch_size=1)
    logits, state = model(ids, state)   # ids (B, T), any T; memory carried across calls

Generation lives in `stream.py` (`generate(model, ...)`, `TokenStream(model, ...)`), which
imports this module; this module does not import it back.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torch.utils.checkpoint import checkpoint

from bookreader.infini.attention import InfiniAttention, segment_pieces
from bookreader.infini.config import InfiniConfig
from bookreader.infini.state import InfiniState, LayerState

CONFIG_FILE = "config.json"
WEIGHTS_FILE = "model.safetensors"


class RMSNorm(nn.Module):
    def __init__(self, dim: int, eps: float) -> None:
        super().__init__()
        self.eps = eps
        self.weight = nn.Parameter(torch.ones(dim))

    def forward(self, x: Tensor) -> Tensor:
        xf = x.float()
        xf = xf * torch.rsqrt(xf.pow(2).mean(-1, keepdim=True) + self.eps)
        return (xf * self.weight.float()).to(x.dtype)


class SwiGLU(nn.Module):
    def __init__(self, d_model: int, hidden: int) -> None:
        super().__init__()
        self.gate_proj = nn.Linear(d_model, hidden, bias=False)
        self.up_proj = nn.Linear(d_model, hidden, bias=False)
        self.down_proj = nn.Linear(hidden, d_model, bias=False)

    def forward(self, x: Tensor) -> Tensor:
        return self.down_proj(F.silu(self.gate_proj(x)) * self.up_proj(x))


class Block(nn.Module):
    def __init__(self, cfg: InfiniConfig) -> None:
        super().__init__()
        self.attn_norm = RMSNorm(cfg.d_model, cfg.norm_eps)
        self.attn = InfiniAttention(cfg)
        self.mlp_norm = RMSNorm(cfg.d_model, cfg.norm_eps)
        self.mlp = SwiGLU(cfg.d_model, cfg.ff_hidden)
        self.drop = nn.Dropout(cfg.dropout)

    def forward(self, x: Tensor, layer: LayerState) -> tuple[Tensor, LayerState]:
        a, layer = self.attn(self.attn_norm(x), layer)  # (B, t, d_model)
        x = x + self.drop(a)
        x = x + self.drop(self.mlp(self.mlp_norm(x)))
        return x, layer


class InfiniTransformer(nn.Module):
    def __init__(self, cfg: InfiniConfig) -> None:
        super().__init__()
        self.config = cfg
        self.embed = nn.Embedding(cfg.vocab_size, cfg.d_model)
        self.pos_embed = (
            nn.Embedding(cfg.segment_len, cfg.d_model) if cfg.positions == "learned" else None
        )
        self.drop = nn.Dropout(cfg.dropout)
        self.blocks = nn.ModuleList(Block(cfg) for _ in range(cfg.n_layers))
        self.norm = RMSNorm(cfg.d_model, cfg.norm_eps)
        self.lm_head = nn.Linear(cfg.d_model, cfg.vocab_size, bias=False)
        if cfg.tie_embeddings:
            self.lm_head.weight = self.embed.weight
        self.apply(self._init_weights)
        for name, p in self.named_parameters():  # GPT-2: residual writes scaled by depth
            if name.endswith(("o_proj.weight", "down_proj.weight")):
                nn.init.normal_(p, std=0.02 / math.sqrt(2 * cfg.n_layers))

    @staticmethod
    def _init_weights(module: nn.Module) -> None:
        if isinstance(module, (nn.Linear, nn.Embedding)):
            nn.init.normal_(module.weight, std=0.02)

    # -- state --------------------------------------------------------------------------------

    @property
    def device(self) -> torch.device:
        return self.embed.weight.device

    def init_state(
        self, batch_size: int = 1, device: torch.device | str | None = None
    ) -> InfiniState:
        cfg = self.config
        return InfiniState.empty(
            cfg.n_layers, batch_size, cfg.kv_heads, cfg.head_dim, cfg.head_dim,
            device=device or self.device, meta={"config": cfg.to_dict()},
        )  # fmt: skip

    # -- forward ------------------------------------------------------------------------------

    def forward(
        self,
        ids: Tensor | None,
        state: InfiniState | None = None,
        *,
        inputs_embeds: Tensor | None = None,
        return_logits: bool = True,
    ) -> tuple[Tensor | None, InfiniState]:
        """Read ids (B, T) (or inputs_embeds (B, T, d_model)) after what `state` has read.

        Returns logits (B, T, vocab) (None with return_logits=False, which keeps reading memory
        independent of T) and the new state; `state` itself is left unchanged.
        """
        if (ids is None) == (inputs_embeds is None):
            raise ValueError("pass exactly one of ids and inputs_embeds")
        source = ids if ids is not None else inputs_embeds
        B, T = source.shape[:2]
        if state is None:
            state = self.init_state(B)
        layers, tokens_read = list(state.layers), state.tokens_read
        logits, start = [], 0
        for n in segment_pieces(layers[0].seg_len, T, self.config.segment_len):
            layers = self._truncate_bptt(layers, tokens_read)
            x = self._embed_piece(ids, inputs_embeds, start, n, layers[0].seg_len)
            if self.config.checkpoint_segments and self.training and torch.is_grad_enabled():
                x, layers = checkpoint(self._run_layers, x, layers, use_reentrant=False)
            else:
                x, layers = self._run_layers(x, layers)
            if return_logits:
                logits.append(self.lm_head(self.norm(x)))  # (B, n, vocab)
            start += n
            tokens_read += n
        new_state = InfiniState(layers, tokens_read, dict(state.meta))
        if not return_logits:
            return None, new_state
        if not logits:  # T == 0
            return source.new_zeros(
                B, 0, self.config.vocab_size, dtype=self.embed.weight.dtype
            ), new_state
        return (torch.cat(logits, dim=1) if len(logits) > 1 else logits[0]), new_state

    def _truncate_bptt(self, layers: list[LayerState], tokens_read: int) -> list[LayerState]:
        """Cut the gradient through memory at the start of every window of bptt_segments
        segments (counted from the first token of the stream, so it does not depend on how
        the stream was split into calls)."""
        window, seg_len = self.config.bptt_segments, self.config.segment_len
        if window is None or tokens_read % seg_len:
            return layers
        segment_index = tokens_read // seg_len
        if segment_index == 0 or segment_index % window:
            return layers
        return [layer.detach() for layer in layers]

    def _embed_piece(
        self, ids: Tensor | None, inputs_embeds: Tensor | None, start: int, n: int, seg_pos: int
    ) -> Tensor:
        if inputs_embeds is not None:
            x = inputs_embeds[:, start : start + n]
        else:
            x = self.embed(ids[:, start : start + n])  # (B, n, d_model)
        if self.pos_embed is not None:  # learned positions within the segment
            x = x + self.pos_embed.weight[seg_pos : seg_pos + n]
        return self.drop(x)

    def _run_layers(self, x: Tensor, layers: list[LayerState]) -> tuple[Tensor, list[LayerState]]:
        new_layers = []
        for block, layer in zip(self.blocks, layers, strict=True):
            x, layer = block(x, layer)
            new_layers.append(layer)
        return x, new_layers

    @torch.no_grad()
    def read(self, ids: Tensor, state: InfiniState | None = None) -> InfiniState:
        """Read without logits or gradients: memory use does not grow with len(ids).

        no_grad rather than inference_mode: the state it returns may later feed a forward pass
        that trains (inference tensors cannot be saved for backward)."""
        return self(ids, state, return_logits=False)[1]

    # -- training support ---------------------------------------------------------------------

    def param_groups(
        self, lr: float, beta_lr: float = 1e-2, weight_decay: float = 0.01
    ) -> list[dict[str, Any]]:
        """AdamW groups: matrices decayed; norms and position tables not; the gates β in their
        own group with their own learning rate and no weight decay (else they stay near 0.5)."""
        decay, no_decay, betas = [], [], []
        for name, p in self.named_parameters():
            if not p.requires_grad:
                continue
            if name.endswith("attn.beta"):
                betas.append(p)
            elif p.dim() >= 2 and name != "pos_embed.weight":
                decay.append(p)
            else:
                no_decay.append(p)
        return [
            {"params": decay, "lr": lr, "weight_decay": weight_decay, "name": "decay"},
            {"params": no_decay, "lr": lr, "weight_decay": 0.0, "name": "no_decay"},
            {"params": betas, "lr": beta_lr, "weight_decay": 0.0, "name": "gates"},
        ]

    def gates(self) -> Tensor:
        """sigmoid(β): (n_layers, n_heads), the weight each head gives its memory."""
        return torch.stack([torch.sigmoid(b.attn.beta.detach().float()) for b in self.blocks])

    def set_memory_enabled(self, enabled: bool) -> None:
        """False closes every gate exactly (memory never read): the no-memory control."""
        for block in self.blocks:
            block.attn.read_memory = enabled

    @property
    def memory_enabled(self) -> bool:
        return all(block.attn.read_memory for block in self.blocks)

    @contextmanager
    def memory_disabled(self) -> Iterator[None]:
        previous = [block.attn.read_memory for block in self.blocks]
        self.set_memory_enabled(False)
        try:
            yield
        finally:
            for block, value in zip(self.blocks, previous, strict=True):
                block.attn.read_memory = value

    def num_parameters(self) -> int:
        return sum(p.numel() for p in self.parameters())

    # -- persistence --------------------------------------------------------------------------

    def save(self, path: str | Path) -> None:
        """A folder with config.json and model.safetensors."""
        from safetensors.torch import save_model

        folder = Path(path)
        folder.mkdir(parents=True, exist_ok=True)
        (folder / CONFIG_FILE).write_text(json.dumps(self.config.to_dict(), indent=2) + "\n")
        save_model(self, str(folder / WEIGHTS_FILE), metadata={"format": "pt"})

    @classmethod
    def load(cls, path: str | Path, device: torch.device | str = "cpu") -> InfiniTransformer:
        from safetensors.torch import load_model

        folder = Path(path)
        config_file, weights_file = folder / CONFIG_FILE, folder / WEIGHTS_FILE
        if not config_file.is_file() or not weights_file.is_file():
            raise FileNotFoundError(f"{folder} has no {CONFIG_FILE} and {WEIGHTS_FILE}")
        cfg = InfiniConfig.from_dict(json.loads(config_file.read_text()))
        model = cls(cfg)
        load_model(model, str(weights_file), device=str(device))
        return model.to(device)
