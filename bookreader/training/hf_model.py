"""A converted Hugging Face causal LM behind the interface that the training loop and the
passkey test use for the standalone model: `config.segment_len`, `init_state`, `model(ids,
state) -> (logits, state)`, `read`, `gates`, `param_groups`, the memory switch, `save` and
`load`, and a `codec` (its tokenizer) that turns the passkey task's texts into its tokens.

The model itself comes from `bookreader.hf` (the only package that imports transformers): a
recipe's `[model] hf = "folder or hub id"` names a plain checkpoint of a supported family
(converted on load) or one already converted; `segment_len`, `memory_update` and `gate_init` are
the conversion's options (`update`, the older name, is still read). `save` writes `save_pretrained` plus the tokenizer, so the folder loads
back with `bookreader.hf.load_model` and with `bookreader passkey --model FOLDER`.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import torch
from torch import Tensor, nn

from bookreader.errors import UsageError
from bookreader.infini import InfiniState
from bookreader.infini.config import LEGACY_NAMES
from bookreader.training.data import TokenizerCodec

CONVERSION_OPTIONS = ("segment_len", "memory_update", "gate_init")


@dataclass(frozen=True)
class HFModelConfig:
    """What the loop reads of a model's configuration, and what a checkpoint records."""

    name_or_path: str
    model_type: str
    segment_len: int
    memory_update: str

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


class HFInfiniModel(nn.Module):
    def __init__(self, model: nn.Module, tokenizer: Any, name_or_path: str) -> None:
        super().__init__()
        self.model = model
        self.tokenizer = tokenizer
        self.codec = TokenizerCodec(tokenizer, Path(name_or_path).name or name_or_path)
        self.config = HFModelConfig(
            name_or_path=name_or_path,
            model_type=str(model.config.model_type),
            segment_len=int(model.config.segment_len),
            memory_update=str(model.config.memory_update),
        )

    # -- construction -------------------------------------------------------------------------

    @classmethod
    def from_spec(cls, spec: dict[str, Any]) -> HFInfiniModel:
        """From a recipe's [model] table: hf = "folder or id", plus conversion options."""
        spec = {LEGACY_NAMES.get(key, key): value for key, value in spec.items()}
        unknown = set(spec) - {"hf", *CONVERSION_OPTIONS}
        if unknown:
            allowed = ", ".join(CONVERSION_OPTIONS)
            raise UsageError(f"[model] with hf takes only {allowed}; not {sorted(unknown)}")
        options = {key: spec[key] for key in CONVERSION_OPTIONS if key in spec}
        return cls.load(spec["hf"], **options)

    @classmethod
    def load(cls, name_or_path: str | Path, device: str = "cpu", **options: Any) -> HFInfiniModel:
        """A plain or converted checkpoint and its tokenizer, in fp32 (training and the
        passkey test want full precision on CPU; CUDA runs use autocast)."""
        from bookreader.hf import load_model, load_tokenizer

        model = load_model(name_or_path, device=device, dtype="float32", **options)
        return cls(model, load_tokenizer(name_or_path), str(name_or_path))

    # -- what the loop and the passkey test use ---------------------------------------------

    @property
    def device(self) -> torch.device:
        return next(self.model.parameters()).device

    def init_state(
        self, batch_size: int = 1, device: torch.device | str | None = None
    ) -> InfiniState:
        return self.model.init_state(batch_size, device)

    def forward(
        self, ids: Tensor, state: InfiniState | None = None, *, return_logits: bool = True
    ) -> tuple[Tensor | None, InfiniState]:
        out = self.model(input_ids=ids, state=state, return_logits=return_logits)
        return out.logits, out.state

    @torch.no_grad()
    def read(self, ids: Tensor, state: InfiniState | None = None) -> InfiniState:
        return self.model.read(ids, state)

    def gates(self) -> Tensor:
        return self.model.gates()

    def param_groups(
        self, lr: float, beta_lr: float = 1e-2, weight_decay: float = 0.01
    ) -> list[dict[str, Any]]:
        """As the standalone model's: matrices decayed, norms and biases not, the gates β in
        their own group with their own learning rate and no weight decay."""
        gate_ids = {id(p) for p in self.model.gate_parameters()}
        decay, no_decay = [], []
        for p in self.model.parameters():
            if not p.requires_grad or id(p) in gate_ids:
                continue
            (decay if p.dim() >= 2 else no_decay).append(p)
        return [
            {"params": decay, "lr": lr, "weight_decay": weight_decay, "name": "decay"},
            {"params": no_decay, "lr": lr, "weight_decay": 0.0, "name": "no_decay"},
            {
                "params": list(self.model.gate_parameters()),
                "lr": beta_lr,
                "weight_decay": 0.0,
                "name": "gates",
            },
        ]

    def set_memory_enabled(self, enabled: bool) -> None:
        self.model.set_memory_enabled(enabled)

    @property
    def memory_enabled(self) -> bool:
        from bookreader.hf.attention import infini_attention_modules

        return all(module.read_memory for module in infini_attention_modules(self.model))

    def save(self, path: str | Path) -> None:
        """save_pretrained (converted config and weights) and the tokenizer."""
        folder = Path(path)
        folder.mkdir(parents=True, exist_ok=True)
        self.model.save_pretrained(folder)
        self.tokenizer.save_pretrained(folder)


def is_hf_folder(path: Path) -> bool:
    """Whether a model folder holds a Hugging Face checkpoint (its config names a model_type)
    rather than a standalone InfiniTransformer."""
    import json

    config = path / "config.json"
    try:
        return "model_type" in json.loads(config.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return False
