"""A byte-level tokenizer: the small standalone model needs no tokenizer files.

Ids 0-255 are the UTF-8 bytes; a few special ids follow. Decoding drops special ids and replaces
invalid UTF-8 (a model can emit any byte sequence).
"""

from __future__ import annotations

import codecs
from collections.abc import Iterable


class ByteTokenizer:
    n_bytes = 256
    pad_id = 256
    bos_id = 257
    eos_id = 258
    vocab_size = 259

    @property
    def special_ids(self) -> frozenset[int]:
        return frozenset((self.pad_id, self.bos_id, self.eos_id))

    def encode(self, text: str, add_bos: bool = False, add_eos: bool = False) -> list[int]:
        ids = list(text.encode("utf-8"))
        return ([self.bos_id] if add_bos else []) + ids + ([self.eos_id] if add_eos else [])

    def decode(self, ids: Iterable[int]) -> str:
        data = bytes(i for i in ids if 0 <= i < self.n_bytes)
        return data.decode("utf-8", errors="replace")

    def stream_decoder(self) -> ByteStreamDecoder:
        """For streaming output: turns ids into text as soon as whole characters are complete."""
        return ByteStreamDecoder(self.n_bytes)


class ByteStreamDecoder:
    """Incremental UTF-8 decoding of byte ids: `push(id)` returns the text completed so far
    (often '' in the middle of a multi-byte character); `flush()` returns what is left."""

    def __init__(self, n_bytes: int = 256) -> None:
        self._n_bytes = n_bytes
        self._decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")

    def push(self, token_id: int) -> str:
        if not 0 <= token_id < self._n_bytes:
            return ""
        return self._decoder.decode(bytes((token_id,)))

    def flush(self) -> str:
        return self._decoder.decode(b"", final=True)
