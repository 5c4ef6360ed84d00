"""Training and evaluation data: the passkey task, token streams from books, and their mix.

The passkey task is the paper's (arXiv 2404.07143, section 4.1, after Mohtashami & Jaggi 2023):
a fixed introduction, the filler "The grass is green. ..." repeated, one needle sentence holding
a five-digit key, more filler, then the question. Everything is ASCII, so with the byte-level
tokenizer one character is one token and positions in text are positions in tokens.

A sample is described, not materialised: `PasskeySample.tokens(start, end)` builds any slice on
demand, so a 1M-token trial streams through the model without ever existing as one tensor.
"""

from __future__ import annotations

import random
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

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


_FILLER_IDS = _ascii_tensor(FILLER)


def _filler_slice(phase: int, start: int, end: int) -> Tensor:
    """Tokens [start, end) of the filler repeated forever from character `phase`."""
    index = (torch.arange(start, end) + phase) % len(FILLER)
    return _FILLER_IDS[index]


@dataclass(frozen=True)
class PasskeySample:
    """One passkey trial of exactly `length` tokens, laid out as

    INTRO | filler (phase 0, `filler_before` tokens) | NEEDLE | filler (continues) | QUESTION KEY

    `needle_start`..`needle_end` is where the needle sits; the key's digits are the last five
    tokens and `answer_positions` are their indices (the model predicts token t from t - 1).
    """

    length: int
    key: str
    filler_before: int
    spacer: str = ""  # training only: filler sentences between the needle's two copies of the key
    intro: str = INTRO  # training may leave the introduction out ("")

    @property
    def needle(self) -> str:
        return needle_text(self.key, self.spacer)

    @property
    def needle_start(self) -> int:
        return len(self.intro) + self.filler_before

    @property
    def needle_end(self) -> int:
        return self.needle_start + len(self.needle)

    @property
    def question_start(self) -> int:
        return self.length - len(QUESTION) - KEY_DIGITS

    @property
    def answer_positions(self) -> range:
        return range(self.length - KEY_DIGITS, self.length)

    @property
    def copy_positions(self) -> range:
        """Where the needle repeats the key ("Remember it. NNNNN is ..."): predicting these
        digits is a lookup within the segment, the local twin of the task."""
        first = self.needle.index(self.key)
        second = self.needle.index(self.key, first + KEY_DIGITS)
        return range(self.needle_start + second, self.needle_start + second + KEY_DIGITS)

    @property
    def answer_ids(self) -> Tensor:
        return _ascii_tensor(self.key)

    def _pieces(self) -> list[tuple[int, int, Tensor | None, int]]:
        """(start, end, fixed tokens or None for filler, filler phase) in reading order."""
        after_phase = self.filler_before % len(FILLER)
        return [
            (0, len(self.intro), _ascii_tensor(self.intro), 0),
            (len(self.intro), self.needle_start, None, 0),
            (self.needle_start, self.needle_end, _ascii_tensor(self.needle), 0),
            (self.needle_end, self.question_start, None, after_phase),
            (self.question_start, self.length, _ascii_tensor(QUESTION + self.key), 0),
        ]

    def tokens(self, start: int = 0, end: int | None = None) -> Tensor:
        """Token ids [start, end) as a 1-D long tensor, built without the rest of the sample."""
        end = self.length if end is None else min(end, self.length)
        parts = []
        for lo, hi, fixed, phase in self._pieces():
            a, b = max(start, lo), min(end, hi)
            if a >= b:
                continue
            if fixed is None:
                parts.append(_filler_slice(phase, a - lo, b - lo))
            else:
                parts.append(fixed[a - lo : b - lo])
        return torch.cat(parts) if parts else torch.empty(0, dtype=torch.long)

    def text(self) -> str:
        return bytes(self.tokens().tolist()).decode("ascii")


def min_passkey_length(segment_len: int, intro: str = INTRO) -> int:
    """The shortest trial that puts the needle in an earlier segment than the question."""
    needle = len(NEEDLE.format(key="0" * KEY_DIGITS))
    body = len(intro) + needle
    question = len(QUESTION) + KEY_DIGITS
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
) -> PasskeySample:
    """A trial of `length` tokens with the needle at `depth` (0 = right after the introduction,
    1 = as late as possible) of the room before the question's segment.

    The needle always ends before the segment that holds the question starts, so a model can
    only answer through its compressive memory, never through local attention.
    """
    if len(key) != KEY_DIGITS or not key.isdigit():
        raise ValueError(f"a pass key is {KEY_DIGITS} digits, not {key!r}")
    if not 0.0 <= depth <= 1.0:
        raise ValueError(f"depth must be within [0, 1], not {depth}")
    if length < min_passkey_length(segment_len, intro):
        raise ValueError(
            f"{length} tokens is too short for a passkey trial with {segment_len}-token segments "
            f"(at least {min_passkey_length(segment_len, intro)})"
        )
    needle_len = len(needle_text(key, spacer))
    question_start = length - len(QUESTION) - KEY_DIGITS
    question_segment_start = (question_start // segment_len) * segment_len
    room = question_segment_start - needle_len - len(intro)  # filler tokens allowed before
    if room < 0:
        raise ValueError(f"no room for a needle of {needle_len} tokens in {length}")
    wanted = round(depth * room)
    return PasskeySample(length, key, _snap_to_sentence(wanted), spacer, intro)


def _snap_to_sentence(filler_tokens: int) -> int:
    """The largest sentence boundary of the repeated filler at or before `filler_tokens`."""
    period, within = divmod(filler_tokens, len(FILLER))
    best = max((b for b in [0, *_FILLER_BOUNDARIES] if b <= within), default=0)
    return period * len(FILLER) + best


def random_passkey_sample(
    length: int,
    segment_len: int,
    rng: random.Random,
    depth: float | None = None,
    spacer: str = "",
    intro: str = INTRO,
) -> PasskeySample:
    depth = rng.random() if depth is None else depth
    try:
        return passkey_sample(length, depth, random_key(rng), segment_len, spacer, intro)
    except ValueError:  # the spacer leaves no room in so short a trial: the paper's needle
        return passkey_sample(length, depth, random_key(rng), segment_len, intro=intro)


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
    """(B, end - start) ids of samples that share one length."""
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


def book_token_ids(path: Path) -> Tensor:
    """A whole book as byte-level token ids, chapters in reading order, through the loaders."""
    from bookreader.infini import ByteTokenizer
    from bookreader.loaders import load

    return torch.tensor(ByteTokenizer().encode(load(path).text), dtype=torch.long)


def book_windows(ids: Tensor, length: int, batch_size: int, rng: random.Random) -> Iterator[Tensor]:
    """Endless batches of random `length`-token windows of one token stream."""
    if ids.numel() < length + 1:
        raise ValueError(f"a book of {ids.numel()} tokens is shorter than {length + 1}")
    while True:
        starts = [rng.randrange(0, ids.numel() - length) for _ in range(batch_size)]
        yield torch.stack([ids[s : s + length] for s in starts])
