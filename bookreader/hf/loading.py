"""Load an Infini-attention model (and its tokenizer) from a local folder or a hub id.

A checkpoint saved by this project (model_type "infini_llama", ...) loads as is; a plain
checkpoint of a supported family (Llama, Mistral, Qwen2, Qwen3, Gemma, Granite) is loaded and converted (`infinify`). CUDA with bf16 when a
GPU is present, CPU with fp32 otherwise. A model that is neither a local folder nor in the
Hugging Face cache, when the hub cannot be reached (or offline mode is on), raises
`ModelUnavailable` with one line instead of a stack of HTTP errors and retries.
"""

from __future__ import annotations

import os
import socket
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

import torch
from transformers import AutoConfig, AutoModelForCausalLM, AutoTokenizer, PretrainedConfig
from transformers import __version__ as transformers_version

import bookreader.hf.modeling  # noqa: F401  (registers the infini_* model types)
from bookreader.devices import resolve_device
from bookreader.errors import ModelUnavailable, UsageError
from bookreader.hf.configuration import FAMILIES, is_infini_config, validate_infini_fields
from bookreader.hf.convert import infinify

DEFAULT_SEGMENT_LEN = 2048
# A converted but not yet adapted model: memory weighs sigmoid(-4) ≈ 1.8 %, close to the
# original model and still trainable (a gate at -30 could never be trained open).
DEFAULT_CONVERSION_GATE = -4.0
_TRUE = ("1", "true", "yes", "on")


def resolve_dtype(dtype: str | torch.dtype, device: torch.device) -> torch.dtype:
    """ "auto": bf16 on a GPU that supports it, fp16 on an older GPU, fp32 on CPU."""
    if isinstance(dtype, torch.dtype):
        return dtype
    if dtype == "auto":
        if device.type != "cuda":
            return torch.float32
        return torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
    names = {"bf16": torch.bfloat16, "fp16": torch.float16, "fp32": torch.float32}
    resolved = names.get(dtype, getattr(torch, dtype, None))
    if not isinstance(resolved, torch.dtype):
        raise ValueError(f"unknown dtype {dtype!r} (use auto, bfloat16, float16 or float32)")
    return resolved


def offline_mode() -> bool:
    """HF_HUB_OFFLINE / TRANSFORMERS_OFFLINE, read now (huggingface_hub reads them at import)."""
    return any(
        os.environ.get(name, "").lower() in _TRUE
        for name in ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE")
    )


def hub_reachable(timeout: float = 3.0) -> bool:
    """One TCP connection to the hub endpoint: a quick no instead of minutes of HTTP retries."""
    endpoint = urlparse(os.environ.get("HF_ENDPOINT", "https://huggingface.co"))
    port = endpoint.port or (443 if endpoint.scheme == "https" else 80)
    try:
        with socket.create_connection((endpoint.hostname or "", port), timeout=timeout):
            return True
    except OSError:
        return False


def _is_local(name_or_path: str | Path) -> bool:
    return Path(name_or_path).expanduser().is_dir()


def _first_line(error: Exception) -> str:
    text = str(error).strip()
    return text.splitlines()[0] if text else type(error).__name__


@dataclass(frozen=True)
class Source:
    """Where a model is read from: `local_only` forbids the network, `why` says why (for the
    error message): "folder", "offline" (HF_HUB_OFFLINE or the caller) or "no network"."""

    name: str
    local_only: bool
    why: str = ""

    def unavailable(self, what: str, error: Exception) -> ModelUnavailable:
        if self.why == "offline":
            reason = "offline mode is on (HF_HUB_OFFLINE)"
        elif self.why == "no network":
            reason = "the Hugging Face hub cannot be reached (no network)"
        else:
            return ModelUnavailable(f"{what} {self.name!r} cannot be loaded: {_first_line(error)}")
        return ModelUnavailable(
            f"{what} {self.name!r} is not a local folder nor in the Hugging Face cache, and {reason}"
        )


def resolve_source(name_or_path: str | Path, local_files_only: bool | None = None) -> Source:
    """Decide once whether the network may be used, so that a missing model fails at once."""
    name = str(name_or_path)
    if _is_local(name):
        return Source(name, True, "folder")
    if local_files_only or (local_files_only is None and offline_mode()):
        return Source(name, True, "offline")
    if not hub_reachable():
        return Source(name, True, "no network")
    return Source(name, False)


def _load_config(source: Source) -> PretrainedConfig:
    """The model's config, or ModelUnavailable with the reason in one line."""
    if source.why == "folder" and not (Path(source.name).expanduser() / "config.json").is_file():
        raise ModelUnavailable(f"model folder {source.name} has no config.json")
    try:
        return AutoConfig.from_pretrained(source.name, local_files_only=source.local_only)
    except (OSError, ValueError) as error:
        raise source.unavailable("model", error) from None


def _dtype_kwarg(dtype: torch.dtype) -> dict[str, Any]:
    # transformers 5 calls it dtype; 4.x torch_dtype (dtype only from 4.56 on).
    major = int(transformers_version.split(".")[0])
    return {"dtype": dtype} if major >= 5 else {"torch_dtype": dtype}


def load_model(
    name_or_path: str | Path,
    device: str | torch.device = "auto",
    dtype: str | torch.dtype = "auto",
    *,
    segment_len: int | None = None,
    memory_update: str | None = None,
    gate_init: float = DEFAULT_CONVERSION_GATE,
    local_files_only: bool | None = None,
) -> Any:
    """An Infini-attention causal LM in eval mode on `device`.

    A converted checkpoint keeps its saved segment length and update rule unless `segment_len`
    / `memory_update` override them (both are reading parameters, not weights). A plain checkpoint is
    converted with segment_len (default 2048), memory_update (default "delta") and gate_init.
    local_files_only (default: the HF_HUB_OFFLINE environment variable) forbids the network.
    Raises ModelUnavailable (no such model, no network, unsupported family) or UsageError (a
    segment length or update rule that cannot be used).
    """
    source = resolve_source(name_or_path, local_files_only)
    name = source.name
    config = _load_config(source)
    torch_device = resolve_device(device)
    torch_dtype = resolve_dtype(dtype, torch_device)
    load_kwargs = {"local_files_only": source.local_only, **_dtype_kwarg(torch_dtype)}
    try:
        if is_infini_config(config):
            config.segment_len = segment_len or config.segment_len
            config.memory_update = memory_update or config.memory_update
            validate_infini_fields(config.segment_len, config.memory_update, config.memory_eps)
            model = AutoModelForCausalLM.from_pretrained(name, config=config, **load_kwargs)
        elif config.model_type in FAMILIES:
            model = AutoModelForCausalLM.from_pretrained(name, **load_kwargs)
            model = infinify(
                model,
                segment_len=segment_len or DEFAULT_SEGMENT_LEN,
                memory_update=memory_update or "delta",
                gate_init=gate_init,
            )
        else:
            supported = ", ".join(sorted(FAMILIES))
            raise ModelUnavailable(
                f"model {name!r} is a {config.model_type!r} model; Infini-attention supports "
                f"{supported} and checkpoints converted from them"
            )
    except OSError as error:  # weights missing from a folder or the cache
        raise ModelUnavailable(f"model {name!r} cannot be loaded: {_first_line(error)}") from None
    except ValueError as error:  # segment length, update rule or sliding window
        raise UsageError(f"model {name!r}: {_first_line(error)}") from None
    return model.to(torch_device).eval()


def load_tokenizer(name_or_path: str | Path, local_files_only: bool | None = None) -> Any:
    """The tokenizer saved with the model (AutoTokenizer), under the same offline rules."""
    source = resolve_source(name_or_path, local_files_only)
    try:
        return AutoTokenizer.from_pretrained(source.name, local_files_only=source.local_only)
    except (OSError, ValueError) as error:
        raise source.unavailable("tokenizer of", error) from None
