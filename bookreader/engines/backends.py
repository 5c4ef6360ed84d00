"""The models behind the infini engine: what the engine needs from one (`Backend`), and the two
kinds it loads by name (`load_backend`).

- `NativeBackend`: a bookreader.infini checkpoint folder (`config.json` with InfiniConfig
  fields and `model.safetensors`) with the byte tokenizer.
- `HFBackend`: a Hugging Face causal LM, a local folder or a hub id, converted to
  Infini-attention by `bookreader.hf.load_model`.

torch and transformers are imported when a backend is built, not with this module.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any, Protocol

from bookreader.engines.base import ProgressCallback
from bookreader.engines.capabilities import (
    NATIVE_DEFAULT,
    declared_capabilities,
    hugging_face_default,
    is_native_checkpoint,
)
from bookreader.errors import ModelUnavailable, UsageError


class Backend(Protocol):
    """What the engine needs from a model: tokens in, memory state, text out."""

    model_id: str
    revision: str | None
    device: str
    segment_len: int
    capabilities: frozenset[str]  # INSTRUCTIONS, CONTINUATION, PASSKEY, PERPLEXITY

    def encode(self, text: str) -> list[int]: ...

    def read(
        self, ids: Sequence[int], state: Any = None, progress: ProgressCallback | None = None
    ) -> Any: ...

    def stream(self, state: Any, prompt: str, max_new_tokens: int) -> Iterator[str]: ...

    def instruction(self, text: str) -> str: ...


def _folder_revision(folder: Path) -> str:
    """A digest of the folder's files (names, sizes, modification times) and config: changes
    whenever the weights are replaced, without hashing gigabytes on every run."""
    digest = hashlib.sha256()
    for path in sorted(p for p in folder.rglob("*") if p.is_file()):
        stat = path.stat()
        digest.update(f"{path.relative_to(folder)}:{stat.st_size}:{stat.st_mtime_ns}\n".encode())
    config = folder / "config.json"
    if config.is_file():
        digest.update(config.read_bytes())
    return digest.hexdigest()[:16]


def _chunked(ids: Sequence[int], size: int) -> Iterator[Sequence[int]]:
    for start in range(0, len(ids), size):
        yield ids[start : start + size]


class NativeBackend:
    """A bookreader.infini InfiniTransformer checkpoint with its byte tokenizer."""

    def __init__(self, folder: Path, device: str | None = None) -> None:
        from bookreader.devices import resolve_device
        from bookreader.infini.model import InfiniTransformer
        from bookreader.infini.tokenizer import ByteTokenizer

        self.device = str(resolve_device(device))
        try:
            self.model = InfiniTransformer.load(folder, device=self.device).eval()
        except Exception as error:  # damaged weights raise safetensors' own error types
            reason = (
                str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
            )
            raise ModelUnavailable(f"model {str(folder)!r} cannot be loaded: {reason}") from None
        self.tokenizer = ByteTokenizer()
        self.model_id = str(folder.resolve())
        self.revision = _folder_revision(folder)
        self.segment_len = self.model.config.segment_len
        self.capabilities = declared_capabilities(folder) or NATIVE_DEFAULT

    def encode(self, text: str) -> list[int]:
        return self.tokenizer.encode(text)

    def read(
        self, ids: Sequence[int], state: Any = None, progress: ProgressCallback | None = None
    ) -> Any:
        import torch

        state = state if state is not None else self.model.init_state(1)
        for chunk in _chunked(ids, self.segment_len):
            batch = torch.tensor([list(chunk)], dtype=torch.long, device=self.device)
            state = self.model.read(batch, state)
            if progress:
                progress(state.tokens_read, len(ids), "tokens")
        return state

    def stream(self, state: Any, prompt: str, max_new_tokens: int) -> Iterator[str]:
        import torch

        from bookreader.infini.stream import TokenStream

        ids = torch.tensor([self.encode(prompt)], dtype=torch.long, device=self.device)
        decoder = self.tokenizer.stream_decoder()
        eos = self.tokenizer.eos_id
        for token in TokenStream(self.model, ids, state, max_new_tokens, eos_id=eos):
            if token == self.tokenizer.eos_id:
                break
            if text := decoder.push(token):
                yield text
        if rest := decoder.flush():
            yield rest

    def instruction(self, text: str) -> str:
        return text


class HFBackend:
    """A Hugging Face causal LM converted to Infini-attention (bookreader.hf)."""

    def __init__(self, name: str, device: str | None = None, dtype: str | None = None) -> None:
        from bookreader.hf import load_model, load_tokenizer

        self.model = load_model(name, device=device or "auto", dtype=dtype or "auto")
        self.tokenizer = load_tokenizer(name)
        self.device = str(self.model.lm_head.weight.device)
        local = Path(name).is_dir()
        self.model_id = str(Path(name).resolve()) if local else name
        commit = getattr(self.model.config, "_commit_hash", None)
        self.revision = _folder_revision(Path(name)) if local else commit
        self.segment_len = int(self.model.segment_len)
        declared = declared_capabilities(Path(name)) if local else None
        chat = bool(getattr(self.tokenizer, "chat_template", None))
        self.capabilities = declared or hugging_face_default(chat)

    def encode(self, text: str) -> list[int]:
        from bookreader.hf.generation import encode

        return encode(self.tokenizer, text)

    def read(
        self, ids: Sequence[int], state: Any = None, progress: ProgressCallback | None = None
    ) -> Any:
        from bookreader.hf import read_tokens

        total = len(ids)
        report = (lambda done: progress(done, total, "tokens")) if progress else None
        return read_tokens(self.model, list(ids), state, progress=report)

    def stream(self, state: Any, prompt: str, max_new_tokens: int) -> Iterator[str]:
        from bookreader.hf import stream_text

        return stream_text(self.model, self.tokenizer, state, prompt, max_new_tokens)

    def instruction(self, text: str) -> str:
        """The tokenizer's chat template around a user message, when it has one."""
        if getattr(self.tokenizer, "chat_template", None):
            return self.tokenizer.apply_chat_template(
                [{"role": "user", "content": text}], tokenize=False, add_generation_prompt=True
            )
        return text


def load_backend(name: str, device: str | None = None, dtype: str | None = None) -> Backend:
    path = Path(name).expanduser()
    if is_native_checkpoint(path):
        return NativeBackend(path, device)
    if path.exists() and not path.is_dir():
        raise UsageError(f"--model {name}: a model is a folder or a hub id, not a file")
    return HFBackend(str(path) if path.is_dir() else name, device, dtype)
