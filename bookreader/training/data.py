"""Training and evaluation data: the passkey task, token streams from books, and their mix.

The passkey task is the paper's (arXiv 2404.07143, section 4.1, after Mohtashami & Jaggi 2023):
a fixed introduction, the filler "The grass is green. ..." repeated, one needle sentence holding
a five-digit key, more filler, then the question. The text the needle hides in is a `Haystack`:
the paper's filler, or the text of a real book (the BABILong idea: a test in natural text,
where retrieval cannot lean on a repeated pattern), digits removed so that the key's digits are
the only ones. Text is handled as UTF-8 bytes, the byte-level tokenizer's ids: positions in
bytes are positions in tokens (the paper's texts are ASCII: one character, one token).

No fixed layout: a trial may have any length (not a whole number of segments), open with the
introduction or not, and start its haystack at any sentence, so the question can sit at any
offset of its segment and a model cannot learn where to look instead of what to look for.

A sample is described, not materialised: `PasskeySample.tokens(start, end)` builds any slice on
demand, so a 1M-token trial streams through the model without ever existing as one tensor.
"""

from __future__ import annotations

import functools
import itertools
import random
import re
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch import Tensor

INTRO = (
    "There is an important info hidden inside a lot of irrelevant text. "
    "Find it and memorize them. I will quiz you about the important information there. "
)
FILLER = (
    "The grass is green. The sky is blue. The sun is yellow. Here we go. There and back again. "
)
NEEDLE = "The pass key is {key}. Remember it. {key} is the pass key. "
QUESTION = "What is the pass key? The pass key is "
KEY_DIGITS = 5

POSITIONS: dict[str, float] = {"start": 0.0, "middle": 0.5, "end": 1.0}

# Every place in the filler where a sentence ends: the needle goes in at one of them, so it
# never cuts a filler word in two.
_FILLER_BOUNDARIES = [i + 2 for i in range(len(FILLER)) if FILLER.startswith(". ", i)]
_FILLER_SENTENCES = [
    FILLER[a:b] for a, b in zip([0, *_FILLER_BOUNDARIES[:-1]], _FILLER_BOUNDARIES, strict=True)
]


def needle_text(key: str, spacer: str = "") -> str:
    """The paper's needle; a spacer (training only) moves its second copy of the key by a
    varying distance, so that predicting that copy needs a lookup by content, not by offset."""
    first, second = NEEDLE.split("{key} is", 1)
    return first.format(key=key) + spacer + key + " is" + second


def random_spacer(rng: random.Random, most: int = 4) -> str:
    start = rng.randrange(len(_FILLER_SENTENCES))
    count = rng.randint(0, most)
    return "".join(_FILLER_SENTENCES[(start + i) % len(_FILLER_SENTENCES)] for i in range(count))


def random_key(rng: random.Random) -> str:
    return "".join(rng.choice("0123456789") for _ in range(KEY_DIGITS))


def _ascii_tensor(text: str) -> Tensor:
    return torch.tensor(list(text.encode("ascii")), dtype=torch.long)


# -- codecs: text to token ids ---------------------------------------------------------------


class Codec:
    """Text to token ids: UTF-8 bytes for the standalone byte-level models (`BYTES`), or a
    Hugging Face tokenizer (`TokenizerCodec`). Trials are laid out in token positions, so the
    rule "the needle ends before the question's segment" holds whatever the codec."""

    name = "bytes"

    def encode(self, text: str) -> list[int]:
        return list(text.encode("utf-8"))

    def decode(self, ids: list[int]) -> str:
        return bytes(ids).decode("utf-8", errors="replace")

    @functools.lru_cache(maxsize=256)  # noqa: B019 - codecs live as long as the process
    def ids(self, text: str) -> Tensor:
        """The ids of a short fixed text (introduction, needle parts, question), cached."""
        return torch.tensor(self.encode(text), dtype=torch.long)

    def key_ids(self, key: str) -> Tensor:
        """A key's ids digit by digit: one token per digit, whatever merges the tokenizer
        knows, so every key has KEY_DIGITS answer positions."""
        ids = [self.encode(digit) for digit in key]
        if any(len(one) != 1 for one in ids):
            raise ValueError(f"the {self.name} codec does not encode each digit as one token")
        return torch.tensor([one[0] for one in ids], dtype=torch.long)


BYTES = Codec()


class TokenizerCodec(Codec):
    """A Hugging Face tokenizer, without special tokens."""

    def __init__(self, tokenizer: Any, name: str = "tokenizer") -> None:
        self.tokenizer, self.name = tokenizer, name

    def encode(self, text: str) -> list[int]:
        return list(self.tokenizer(text, add_special_tokens=False)["input_ids"])

    def decode(self, ids: list[int]) -> str:
        return str(self.tokenizer.decode(ids))


_FILLER_IDS = _ascii_tensor(FILLER)


def _filler_slice(phase: int, start: int, end: int) -> Tensor:
    """Tokens [start, end) of the filler repeated forever from character `phase`."""
    index = (torch.arange(start, end) + phase) % len(FILLER)
    return _FILLER_IDS[index]


# -- haystacks ------------------------------------------------------------------------------

# Where a sentence begins in UTF-8 text: after . ! or ? (and closing quotes or brackets, ASCII
# or typographic) and white space, or after a blank line.
_SENTENCE_END = re.compile(r"""[.!?](?:["')\]\u2019\u201d])*\s+|\n[ \t]*\n\s*""")
_DIGITS = re.compile(r"\d")  # every Unicode digit: none may compete with the key's


@dataclass(frozen=True, eq=False)
class Haystack:
    """The endless text a needle hides in: `ids` repeated forever, and `starts`, the sorted
    offsets in [0, len(ids)) where a sentence begins (0 among them). Needles go in at a
    sentence start, so they never cut a word of the haystack in two."""

    name: str
    ids: Tensor  # (n,) token ids
    starts: Tensor  # (k,) sorted sentence starts, starts[0] == 0
    codec: Codec = BYTES  # what turned the text into `ids`

    def __post_init__(self) -> None:
        if self.ids.numel() == 0:
            raise ValueError(f"haystack {self.name!r} holds no text")

    def __len__(self) -> int:
        return self.ids.numel()

    def slice(self, start: int, end: int) -> Tensor:
        """Tokens [start, end) of the endless repetition."""
        return self.ids[torch.arange(start, end) % len(self)]

    def snap(self, position: int) -> int:
        """The last sentence start at or before `position` (of the endless repetition)."""
        period, within = divmod(position, len(self))
        index = int(torch.searchsorted(self.starts, torch.tensor(within), right=True)) - 1
        return period * len(self) + int(self.starts[index])

    def random_start(self, rng: random.Random) -> int:
        return int(self.starts[rng.randrange(self.starts.numel())])


def _sentence_haystack(name: str, sentences: list[str], codec: Codec) -> Haystack:
    """Each sentence encoded alone, then joined: a sentence start is a token boundary
    whatever the codec (with bytes, the same ids as encoding the whole text)."""
    ids: list[int] = []
    starts: list[int] = []
    for sentence in sentences:
        encoded = codec.encode(sentence)
        if encoded:
            starts.append(len(ids))
            ids.extend(encoded)
    if not ids:
        raise ValueError(f"{name} has no text to hide a needle in")
    return Haystack(name, torch.tensor(ids, dtype=torch.long), torch.tensor(starts), codec)


def filler_haystack(codec: Codec = BYTES) -> Haystack:
    """The paper's filler: five sentences, repeated."""
    return _sentence_haystack("filler", _FILLER_SENTENCES, codec)


FILLER_HAYSTACK = filler_haystack()


@functools.lru_cache(maxsize=8)
def filler_haystack_for(codec: Codec) -> Haystack:
    """The filler in a codec's tokens (one haystack per codec)."""
    return FILLER_HAYSTACK if codec is BYTES else filler_haystack(codec)


def text_haystack(text: str, name: str = "text", codec: Codec = BYTES) -> Haystack:
    """A haystack of any text, such as a whole book: its digits are removed (the key's digits
    must be the only ones); sentences start after . ! ? or a blank line (after any white
    space when the text has no such ends)."""
    text = _DIGITS.sub("", text).strip()
    if not text:
        raise ValueError(f"{name} has no text to hide a needle in")
    text += "\n\n"  # the repetition starts a new paragraph, not the last word's next letter
    ends = [m.end() for m in _SENTENCE_END.finditer(text) if m.end() < len(text)]
    if not ends:
        ends = [m.end() for m in re.finditer(r"\s+", text) if m.end() < len(text)]
    bounds = [0, *ends, len(text)]
    sentences = [text[a:b] for a, b in itertools.pairwise(bounds)]
    return _sentence_haystack(name, sentences, codec)


def book_haystack(path: Path, codec: Codec = BYTES) -> Haystack:
    """A book read through the loaders (any format they read) as a haystack."""
    from bookreader.loaders import load

    return text_haystack(load(path).text, Path(path).name, codec)


# -- trials ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class PasskeySample:
    """One passkey trial of exactly `length` tokens, laid out as

    INTRO | haystack (`filler_before` tokens from `hay_start`) | NEEDLE | haystack (continues)
    | QUESTION KEY

    `needle_start`..`needle_end` is where the needle sits; the key's digits are the last five
    tokens and `answer_positions` are their indices (the model predicts token t from t - 1).
    Tokens past `length` (asked for when trials of different lengths share a batch) continue
    the haystack; they come after the answer, so they change no prediction of it.
    """

    length: int
    key: str
    filler_before: int
    spacer: str = ""  # training only: filler sentences between the needle's two copies of the key
    intro: str = INTRO  # "" leaves the introduction out
    haystack: Haystack = FILLER_HAYSTACK
    hay_start: int = 0  # where in the haystack the trial's text begins (a sentence start)

    @property
    def codec(self) -> Codec:
        return self.haystack.codec

    @property
    def needle(self) -> str:
        return needle_text(self.key, self.spacer)

    def _needle_parts(self) -> list[Tensor]:
        """The needle's ids, its two keys encoded digit by digit."""
        first, middle, last = NEEDLE.split("{key}")
        key, codec = self.codec.key_ids(self.key), self.codec
        return [codec.ids(first), key, codec.ids(middle + self.spacer), key, codec.ids(last)]

    @property
    def needle_ids(self) -> Tensor:
        return torch.cat(self._needle_parts())

    @property
    def intro_ids(self) -> Tensor:
        return self.codec.ids(self.intro)

    @property
    def needle_start(self) -> int:
        return self.intro_ids.numel() + self.filler_before

    @property
    def needle_end(self) -> int:
        return self.needle_start + self.needle_ids.numel()

    @property
    def question_start(self) -> int:
        return self.length - self.codec.ids(QUESTION).numel() - KEY_DIGITS

    @property
    def answer_positions(self) -> range:
        return range(self.length - KEY_DIGITS, self.length)

    @property
    def copy_positions(self) -> range:
        """Where the needle repeats the key ("Remember it. NNNNN is ..."): predicting these
        digits is a lookup within the segment, the local twin of the task."""
        parts = self._needle_parts()
        second = self.needle_start + sum(part.numel() for part in parts[:3])
        return range(second, second + KEY_DIGITS)

    @property
    def answer_ids(self) -> Tensor:
        return self.codec.key_ids(self.key)

    def through_memory(self, segment_len: int) -> bool:
        """Whether the needle ends before the question's segment begins."""
        return self.needle_end <= (self.question_start // segment_len) * segment_len

    def _pieces(self) -> list[tuple[int, int, Tensor | None, int]]:
        """(start, end, fixed tokens or None for haystack, haystack offset) in reading order;
        the last piece, the haystack after the answer, has no end."""
        after = self.hay_start + self.filler_before
        tail = after + self.question_start - self.needle_end
        question = torch.cat([self.codec.ids(QUESTION), self.answer_ids])
        return [
            (0, self.needle_start - self.filler_before, self.intro_ids, 0),
            (self.needle_start - self.filler_before, self.needle_start, None, self.hay_start),
            (self.needle_start, self.needle_end, self.needle_ids, 0),
            (self.needle_end, self.question_start, None, after),
            (self.question_start, self.length, question, 0),
            (self.length, sys.maxsize, None, tail),
        ]

    def tokens(self, start: int = 0, end: int | None = None) -> Tensor:
        """Token ids [start, end) as a 1-D long tensor, built without the rest of the sample;
        `end` may pass `length` (the haystack continues)."""
        end = self.length if end is None else end
        parts = []
        for lo, hi, fixed, offset in self._pieces():
            a, b = max(start, lo), min(end, hi)
            if a >= b:
                continue
            if fixed is None:
                parts.append(self.haystack.slice(offset + a - lo, offset + b - lo))
            else:
                parts.append(fixed[a - lo : b - lo])
        return torch.cat(parts) if parts else torch.empty(0, dtype=torch.long)

    def text(self) -> str:
        return self.codec.decode(self.tokens().tolist())


def min_passkey_length(segment_len: int, intro: str = INTRO, codec: Codec = BYTES) -> int:
    """The shortest trial that puts the needle in an earlier segment than the question."""
    probe = PasskeySample(0, "0" * KEY_DIGITS, 0, "", intro, filler_haystack_for(codec))
    body = probe.intro_ids.numel() + probe.needle_ids.numel()
    question = codec.ids(QUESTION).numel() + KEY_DIGITS
    # the needle must end where the question's segment begins
    first_boundary = -(-body // segment_len) * segment_len
    return max(first_boundary + question, 2 * segment_len)


def passkey_sample(
    length: int,
    depth: float,
    key: str,
    segment_len: int,
    spacer: str = "",
    intro: str = INTRO,
    haystack: Haystack = FILLER_HAYSTACK,
    hay_start: int = 0,
) -> PasskeySample:
    """A trial of `length` tokens with the needle at `depth` (0 = right after the introduction,
    1 = as late as possible) of the room before the question's segment, at the last sentence
    start of the haystack at or before that point.

    The needle always ends before the segment that holds the question starts, so a model can
    only answer through its compressive memory, never through local attention.
    """
    if len(key) != KEY_DIGITS or not key.isdigit():
        raise ValueError(f"a pass key is {KEY_DIGITS} digits, not {key!r}")
    if not 0.0 <= depth <= 1.0:
        raise ValueError(f"depth must be within [0, 1], not {depth}")
    if length < min_passkey_length(segment_len, intro, haystack.codec):
        raise ValueError(
            f"{length} tokens is too short for a passkey trial with {segment_len}-token segments "
            f"(at least {min_passkey_length(segment_len, intro, haystack.codec)})"
        )
    probe = PasskeySample(length, key, 0, spacer, intro, haystack, hay_start)
    question_segment_start = (probe.question_start // segment_len) * segment_len
    room = question_segment_start - probe.needle_end  # haystack tokens allowed before
    if room < 0:
        raise ValueError(f"no room for a needle of {probe.needle_ids.numel()} tokens in {length}")
    wanted = round(depth * room)
    before = max(0, haystack.snap(hay_start + wanted) - hay_start)
    return PasskeySample(length, key, before, spacer, intro, haystack, hay_start)


def random_passkey_sample(
    length: int,
    segment_len: int,
    rng: random.Random,
    depth: float | None = None,
    spacer: str = "",
    intro: str = INTRO,
    haystack: Haystack = FILLER_HAYSTACK,
) -> PasskeySample:
    """A trial with a random key, depth (unless given) and haystack start sentence."""
    depth = rng.random() if depth is None else depth
    key, hay_start = random_key(rng), haystack.random_start(rng)
    try:
        return passkey_sample(length, depth, key, segment_len, spacer, intro, haystack, hay_start)
    except ValueError:  # the spacer leaves no room in so short a trial: the paper's needle
        return passkey_sample(length, depth, key, segment_len, "", intro, haystack, hay_start)


def random_length(rng: random.Random, longest: int, segment_len: int, shortest: int) -> int:
    """A length drawn uniformly from [longest - segment_len, longest] (at least `shortest`):
    the question then starts at any offset of its segment."""
    return rng.randint(max(shortest, longest - segment_len), max(shortest, longest))


def local_passkey_sample(
    length: int, segment_len: int, rng: random.Random, spacer: str = "", intro: str = INTRO
) -> PasskeySample:
    """A training trial whose needle sits in the question's own segment, where local attention
    can reach it. Retrieval through memory reuses the same projections (W_Q, W_K, W_V), so
    learning the easy local lookup first bootstraps the lookup through memory. Never used by
    the evaluation, whose needles are always in an earlier segment."""
    key = random_key(rng)
    needle_len = len(needle_text(key, spacer))
    question_start = length - len(QUESTION) - KEY_DIGITS
    lo = max((question_start // segment_len) * segment_len, len(intro)) - len(intro)
    hi = question_start - needle_len - len(intro)
    choices = _boundaries_between(lo, hi)
    if not choices and spacer:
        return local_passkey_sample(length, segment_len, rng, intro=intro)
    if not choices:
        raise ValueError(f"no room for the needle in the question's segment of {segment_len}")
    return PasskeySample(length, key, rng.choice(choices), spacer, intro)


def _boundaries_between(lo: int, hi: int) -> list[int]:
    """Filler sentence boundaries (filler token counts) within [lo, hi]."""
    period = len(FILLER)
    found = []
    for start in range((lo // period) * period, hi + 1, period):
        found.extend(start + b for b in [0, *_FILLER_BOUNDARIES] if lo <= start + b <= hi)
    return found


def stack_tokens(samples: list[PasskeySample], start: int = 0, end: int | None = None) -> Tensor:
    """(B, end - start) ids; `end` defaults to the longest sample's length, shorter samples
    continuing their haystack after their answer."""
    end = max(sample.length for sample in samples) if end is None else end
    return torch.stack([sample.tokens(start, end) for sample in samples])


# -- recall drills -------------------------------------------------------------------------

RECALL_ALPHABET = torch.tensor(list(b"abcdefghijklmnopqrstuvwxyz0123456789"), dtype=torch.long)


def recall_drill(
    batch_size: int, n_segments: int, segment_len: int, rng: random.Random, local_prob: float = 0.5
) -> tuple[Tensor, Tensor]:
    """Induction drills in the filler: a random string of 8-16 characters, then the same string
    again later, either in the same segment (local attention can see it) or in the last segment
    (only memory can). Returns ids (B, n_segments * segment_len) and a boolean mask of the
    tokens to score: the repeat after its first character, predictable only by looking back.
    The passkey's answer is such a lookup; here every row carries 7-15 scored tokens."""
    length = n_segments * segment_len
    ids = torch.empty(batch_size, length, dtype=torch.long)
    mask = torch.zeros(batch_size, length, dtype=torch.bool)
    last = (n_segments - 1) * segment_len
    for row in range(batch_size):
        ids[row] = _filler_slice(rng.randrange(len(FILLER)), 0, length)
        m = rng.randint(8, 16)
        chars = RECALL_ALPHABET[torch.tensor([rng.randrange(36) for _ in range(m)])]
        if rng.random() < local_prob:  # both copies in one segment
            segment = rng.randrange(n_segments) * segment_len
            first = segment + rng.randrange(0, segment_len - 2 * m)
            second = rng.randrange(first + m, segment + segment_len - m + 1)
        else:  # the first copy in an earlier segment, the repeat in the last one
            first = rng.randrange(0, last - m + 1)
            second = rng.randrange(last, length - m + 1)
        ids[row, first : first + m] = chars
        ids[row, second : second + m] = chars
        mask[row, second + 1 : second + m] = True
    return ids, mask


# -- books ----------------------------------------------------------------------------------


def book_token_ids(path: Path, codec: Codec = BYTES) -> Tensor:
    """A whole book as token ids (bytes by default), chapters in reading order, through the
    loaders."""
    from bookreader.loaders import load

    return torch.tensor(codec.encode(load(path).text), dtype=torch.long)


def book_windows(ids: Tensor, length: int, batch_size: int, rng: random.Random) -> Iterator[Tensor]:
    """Endless batches of random `length`-token windows of one token stream."""
    if ids.numel() < length + 1:
        raise ValueError(f"a book of {ids.numel()} tokens is shorter than {length + 1}")
    while True:
        starts = [rng.randrange(0, ids.numel() - length) for _ in range(batch_size)]
        yield torch.stack([ids[s : s + length] for s in starts])
