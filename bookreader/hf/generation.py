"""Reading with memory and generating from it, for converted Hugging Face models.

The functions the engines, CLI and TUI use (batch of one):

- `read_tokens(model, token_ids, state=None, chunk_len=None, progress=None) -> InfiniState`:
  read a token stream (a tensor, a list or any iterable of ids, consumed lazily) segment by
  segment into memory; no logits are computed, so peak memory is that of one chunk.
- `read_text(model, tokenizer, text, state=None, progress=None) -> InfiniState`: the same for
  text (tokenised without special tokens; pass a BOS yourself when the model wants one).
- `GenerationStream(model, state, prompt_ids, max_new_tokens=..., temperature=0.0, top_p=1.0,
  top_k=None, eos_token_id=..., seed=None)`: an iterator of generated token ids. The prompt
  (e.g. a question) is read after `state`, then every new token is decoded with the KV cache of
  the current segment plus the compressive memory; when a segment fills it is folded into
  memory. `stream.state` is the state after the prompt and every token yielded so far; the
  caller's state is never modified, so one book state answers many questions.
- `stream_text(model, tokenizer, state, prompt, ...) -> Iterator[str]`: the same as text
  pieces, safe for multi-byte characters split across tokens.
- `generate_text(...) -> str`: the whole answer at once.

An `InfiniState` is `bookreader.infini.state.InfiniState`: save it with the book cache
(`state.save(path)`, `InfiniState.load(path, device)`).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Sequence
from itertools import islice
from typing import Any

import torch
from torch import Tensor

from bookreader.infini.state import InfiniState
from bookreader.infini.stream import sample_next

ProgressCallback = Callable[[int], None]  # called with the number of tokens read so far


def _device(model: Any) -> torch.device:
    return model.lm_head.weight.device


def _as_batch(ids: Sequence[int] | Tensor, device: torch.device) -> Tensor:
    tensor = ids if isinstance(ids, Tensor) else torch.tensor(list(ids), dtype=torch.long)
    if tensor.dim() == 1:
        tensor = tensor[None]
    return tensor.to(device)


@torch.inference_mode()
def read_tokens(
    model: Any,
    token_ids: Iterable[int] | Tensor,
    state: InfiniState | None = None,
    chunk_len: int | None = None,
    progress: ProgressCallback | None = None,
) -> InfiniState:
    """Read token ids (batch of one) into memory, `chunk_len` tokens per call (default: one
    segment). Returns the new state; `state` itself is left as it was."""
    device = _device(model)
    state = state if state is not None else model.init_state(1, device)
    size = chunk_len or model.segment_len
    if isinstance(token_ids, Tensor):
        token_ids = token_ids.reshape(-1).tolist()
    iterator = iter(token_ids)
    while chunk := list(islice(iterator, size)):
        state = model.read(_as_batch(chunk, device), state)
        if progress is not None:
            progress(state.tokens_read)
    return state


def encode(tokenizer: Any, text: str) -> list[int]:
    """Token ids of text without special tokens (a whole book is one long stream)."""
    return list(tokenizer.encode(text, add_special_tokens=False))


def read_text(
    model: Any,
    tokenizer: Any,
    text: str,
    state: InfiniState | None = None,
    progress: ProgressCallback | None = None,
) -> InfiniState:
    return read_tokens(model, encode(tokenizer, text), state, progress=progress)


def _eos_ids(model: Any, eos_token_id: int | Sequence[int] | None) -> set[int]:
    if eos_token_id is None:
        eos_token_id = getattr(model.config, "eos_token_id", None)
    if eos_token_id is None:
        return set()
    return {int(eos_token_id)} if isinstance(eos_token_id, int) else {int(i) for i in eos_token_id}


class GenerationStream:
    """Token ids generated after `state` + `prompt_ids`, one at a time (see module docstring).

    `last_logits` (vocab,) are the logits the latest token was chosen from.
    """

    def __init__(
        self,
        model: Any,
        state: InfiniState | None,
        prompt_ids: Sequence[int] | Tensor,
        max_new_tokens: int = 256,
        temperature: float = 0.0,
        top_p: float = 1.0,
        top_k: int | None = None,
        eos_token_id: int | Sequence[int] | None = None,
        seed: int | None = None,
    ) -> None:
        prompt = _as_batch(prompt_ids, _device(model))
        if prompt.shape != (1, prompt.shape[1]) or prompt.shape[1] == 0:
            raise ValueError("generation needs a non-empty prompt for a batch of one")
        self.model = model
        self.state = state if state is not None else model.init_state(1, _device(model))
        self.max_new_tokens = max_new_tokens
        self.sampling = {"temperature": temperature, "top_p": top_p, "top_k": top_k}
        self.eos = _eos_ids(model, eos_token_id)
        self.generator: torch.Generator | None = None
        if seed is not None:
            self.generator = torch.Generator(device=prompt.device).manual_seed(seed)
        self.last_logits: Tensor | None = None
        self._steps = self._run(prompt)

    def __iter__(self) -> Iterator[int]:
        return self

    def __next__(self) -> int:
        return next(self._steps)

    @torch.inference_mode()
    def _step(self, ids: Tensor) -> Tensor:
        out = self.model(ids, state=self.state, logits_to_keep=1)
        self.state = out.state
        return out.logits[:, -1]  # (1, vocab)

    def _run(self, prompt: Tensor) -> Iterator[int]:
        logits = self._step(prompt)
        for _ in range(self.max_new_tokens):
            self.last_logits = logits[0]
            token = sample_next(logits, generator=self.generator, **self.sampling)  # (1,)
            yield int(token[0])
            # Read the token (segment KV cache + memory, no recomputation) so that the next
            # one can be chosen and the state holds the whole conversation.
            logits = self._step(token[:, None])
            if int(token[0]) in self.eos:
                return


def stream_text(
    model: Any,
    tokenizer: Any,
    state: InfiniState | None,
    prompt: str,
    max_new_tokens: int = 256,
    **sampling: Any,
) -> Iterator[str]:
    """Text pieces as the tokens come. Decodes the whole answer each time and yields what is
    new, holding back a trailing replacement character (a character split across tokens)."""
    prompt_ids = encode(tokenizer, prompt)
    stream = GenerationStream(model, state, prompt_ids, max_new_tokens, **sampling)
    ids: list[int] = []
    shown = ""
    for token in stream:
        if token in stream.eos:
            break
        ids.append(token)
        text = tokenizer.decode(ids, skip_special_tokens=True)
        if text.endswith("\ufffd"):
            continue
        if len(text) > len(shown) and text.startswith(shown):
            yield text[len(shown) :]
            shown = text
    final = tokenizer.decode(ids, skip_special_tokens=True)
    if len(final) > len(shown) and final.startswith(shown):
        yield final[len(shown) :]


def generate_text(
    model: Any,
    tokenizer: Any,
    state: InfiniState | None,
    prompt: str,
    max_new_tokens: int = 256,
    **sampling: Any,
) -> str:
    return "".join(stream_text(model, tokenizer, state, prompt, max_new_tokens, **sampling))
