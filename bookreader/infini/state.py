"""The reading state of an Infini-attention model: what it carries from one segment to the next.

Per layer: the compressive memory (fixed size, fp32) and the keys/values of the current,
unfinished segment (at most one segment long). When a segment fills it is folded into memory and
the segment cache is emptied, so a token is written to memory once, never again. `nbytes` counts
the memory only: it is the same after one segment or a million tokens.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from safetensors.torch import load_file, save_file
from torch import Tensor

from bookreader.infini.memory import LayerMemory

STATE_FORMAT_VERSION = 1


@dataclass
class LayerState:
    memory: LayerMemory
    # The current segment so far, needed by local attention and by the fold into memory.
    k_seg: Tensor | None = None  # (B, H_kv, t, d_k) keys before RoPE
    v_seg: Tensor | None = None  # (B, H_kv, t, d_v)
    # The same keys after RoPE (positions 0..t-1 of the segment), for local attention, so that
    # a step with new tokens never re-rotates the cached ones. None when no RoPE is used.
    k_rot_seg: Tensor | None = None  # (B, H_kv, t, d_k)

    @property
    def seg_len(self) -> int:
        return 0 if self.k_seg is None else self.k_seg.shape[2]

    def to(self, device: torch.device | str) -> LayerState:
        move = lambda t: None if t is None else t.to(device)  # noqa: E731
        return LayerState(
            self.memory.to(device), move(self.k_seg), move(self.v_seg), move(self.k_rot_seg)
        )

    def detach(self) -> LayerState:
        cut = lambda t: None if t is None else t.detach()  # noqa: E731
        return LayerState(
            self.memory.detach(), cut(self.k_seg), cut(self.v_seg), cut(self.k_rot_seg)
        )


@dataclass
class InfiniState:
    layers: list[LayerState]
    tokens_read: int = 0  # tokens seen, including those still in the segment cache
    meta: dict[str, Any] = field(default_factory=dict)  # e.g. the model config, for saving

    @classmethod
    def empty(
        cls,
        n_layers: int,
        batch_size: int,
        n_kv_heads: int,
        d_k: int,
        d_v: int,
        device: torch.device | str | None = None,
        meta: dict[str, Any] | None = None,
    ) -> InfiniState:
        layers = [
            LayerState(LayerMemory.empty(batch_size, n_kv_heads, d_k, d_v, device))
            for _ in range(n_layers)
        ]
        return cls(layers, 0, dict(meta or {}))

    @property
    def nbytes(self) -> int:
        """Bytes of compressive memory (M and z of every layer): independent of tokens read."""
        return sum(layer.memory.nbytes for layer in self.layers)

    @property
    def device(self) -> torch.device:
        return self.layers[0].memory.M.device

    def to(self, device: torch.device | str) -> InfiniState:
        return InfiniState([layer.to(device) for layer in self.layers], self.tokens_read, self.meta)

    def detach(self) -> InfiniState:
        return InfiniState([layer.detach() for layer in self.layers], self.tokens_read, self.meta)

    # -- persistence -------------------------------------------------------------------------

    def save(self, path: str | Path, metadata: dict[str, Any] | None = None) -> None:
        """Write every tensor to one safetensors file; metadata (format version, tokens read,
        config, caller's extras) goes into the safetensors header as JSON strings."""
        tensors: dict[str, Tensor] = {}
        written: list[bool] = []
        for i, layer in enumerate(self.layers):
            tensors[f"layers.{i}.M"] = layer.memory.M.detach().contiguous().cpu()
            tensors[f"layers.{i}.z"] = layer.memory.z.detach().contiguous().cpu()
            written.append(layer.memory.written)
            if layer.k_seg is not None and layer.v_seg is not None:
                tensors[f"layers.{i}.k_seg"] = layer.k_seg.detach().contiguous().cpu()
                tensors[f"layers.{i}.v_seg"] = layer.v_seg.detach().contiguous().cpu()
            if layer.k_rot_seg is not None:
                tensors[f"layers.{i}.k_rot_seg"] = layer.k_rot_seg.detach().contiguous().cpu()
        header = {
            "format_version": str(STATE_FORMAT_VERSION),
            "tokens_read": str(self.tokens_read),
            "n_layers": str(len(self.layers)),
            "written": json.dumps(written),
            "meta": json.dumps(self.meta),
            "extra": json.dumps(metadata or {}),
        }
        save_file(tensors, str(path), metadata=header)

    @classmethod
    def load(cls, path: str | Path, device: torch.device | str = "cpu") -> InfiniState:
        from safetensors import safe_open

        with safe_open(str(path), framework="pt") as handle:
            header = handle.metadata() or {}
        version = int(header.get("format_version", "0"))
        if version != STATE_FORMAT_VERSION:
            raise ValueError(
                f"state format {version} is not {STATE_FORMAT_VERSION}: re-read the book"
            )
        tensors = load_file(str(path), device=str(device))
        written = json.loads(header["written"])
        layers = []
        for i in range(int(header["n_layers"])):
            memory = LayerMemory(tensors[f"layers.{i}.M"], tensors[f"layers.{i}.z"], written[i])
            layers.append(
                LayerState(
                    memory,
                    tensors.get(f"layers.{i}.k_seg"),
                    tensors.get(f"layers.{i}.v_seg"),
                    tensors.get(f"layers.{i}.k_rot_seg"),
                )
            )
        return cls(layers, int(header["tokens_read"]), json.loads(header["meta"]))

    @staticmethod
    def read_metadata(path: str | Path) -> dict[str, Any]:
        """The caller's extras saved with `save(..., metadata=...)`, without loading tensors."""
        from safetensors import safe_open

        with safe_open(str(path), framework="pt") as handle:
            header = handle.metadata() or {}
        return json.loads(header.get("extra", "{}"))
