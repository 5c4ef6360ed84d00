"""The passkey task's generator: exact lengths, the paper's texts, where the needle sits, digits
only where the key is, and slices built on demand equal to the whole sample."""

from __future__ import annotations

import random
import re

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from bookreader.evals.passkey import format_length, parse_length
from bookreader.training.data import (
    FILLER,
    INTRO,
    KEY_DIGITS,
    NEEDLE,
    QUESTION,
    min_passkey_length,
    passkey_sample,
    random_key,
)

SEGMENT = 256


@pytest.mark.parametrize("length", [min_passkey_length(SEGMENT), 1000, 4096, 8192, 12345])
@pytest.mark.parametrize("depth", [0.0, 0.37, 0.5, 1.0])
def test_layout_length_texts_and_needle_before_question_segment(length: int, depth: float) -> None:
    sample = passkey_sample(length, depth, "40719", SEGMENT)
    text = sample.text()
    assert len(text) == length == sample.tokens().numel()
    assert text.startswith(INTRO)
    assert text.endswith(QUESTION + "40719")
    needle = NEEDLE.format(key="40719")
    assert text[sample.needle_start : sample.needle_end] == needle
    assert text.count(needle) == 1
    # the needle ends before the segment that holds the question begins
    question_segment = (sample.question_start // SEGMENT) * SEGMENT
    assert sample.needle_end <= question_segment
    assert list(sample.answer_positions) == list(range(length - KEY_DIGITS, length))
    assert bytes(sample.answer_ids.tolist()).decode() == "40719"


def test_filler_is_the_paper_sentence_repeated_around_the_needle() -> None:
    sample = passkey_sample(6000, 0.5, "12345", SEGMENT)
    text = sample.text()
    before = text[len(INTRO) : sample.needle_start]
    after = text[sample.needle_end : sample.question_start]
    repeated = FILLER * (len(text) // len(FILLER) + 2)
    assert repeated.startswith(before)
    # after the needle the filler continues where it stopped
    assert (before + after) == repeated[: len(before) + len(after)]
    assert before.endswith(". ")  # the needle never cuts a filler sentence


def test_digits_appear_only_in_the_needle_and_the_answer() -> None:
    rng = random.Random(3)
    for _ in range(20):
        length = rng.randrange(min_passkey_length(SEGMENT), 20000)
        sample = passkey_sample(length, rng.random(), random_key(rng), SEGMENT)
        text = sample.text()
        outside = text[: sample.needle_start] + text[sample.needle_end : sample.question_start]
        assert not re.search(r"\d", outside + QUESTION)
        assert re.findall(r"\d+", text) == [sample.key, sample.key, sample.key]


@pytest.mark.parametrize("length", [8192, 32768])
def test_positions_start_middle_end(length: int) -> None:
    start = passkey_sample(length, 0.0, "00000", SEGMENT)
    middle = passkey_sample(length, 0.5, "00000", SEGMENT)
    end = passkey_sample(length, 1.0, "00000", SEGMENT)
    assert start.needle_start == len(INTRO)
    question_segment = (end.question_start // SEGMENT) * SEGMENT
    # end: as late as the rule allows, give or take one filler sentence
    assert question_segment - len(FILLER) // 3 <= end.needle_end <= question_segment
    room = question_segment - len(NEEDLE.format(key="00000")) - len(INTRO)
    assert abs((middle.needle_start - len(INTRO)) - room / 2) < len(FILLER) // 3


def test_slices_equal_the_whole_sample() -> None:
    sample = passkey_sample(5000, 0.61, "98765", SEGMENT)
    whole = sample.tokens()
    rng = random.Random(0)
    for _ in range(50):
        a = rng.randrange(0, 5000)
        b = rng.randrange(a, 5001)
        assert torch.equal(sample.tokens(a, b), whole[a:b])


def test_bad_arguments_are_refused() -> None:
    with pytest.raises(ValueError, match="too short"):
        passkey_sample(min_passkey_length(SEGMENT) - 1, 0.5, "12345", SEGMENT)
    with pytest.raises(ValueError, match="digits"):
        passkey_sample(4096, 0.5, "12a45", SEGMENT)
    with pytest.raises(ValueError, match="depth"):
        passkey_sample(4096, 1.5, "12345", SEGMENT)


def test_lengths_parse_and_format() -> None:
    assert parse_length("8K") == 8192
    assert parse_length("128k") == 131072
    assert parse_length("1M") == 1048576
    assert parse_length("5000") == 5000
    assert format_length(1048576) == "1M" and format_length(32768) == "32K"
    with pytest.raises(ValueError):
        parse_length("1G")


def test_training_variants_keep_digits_to_the_key() -> None:
    from bookreader.training.data import (
        local_passkey_sample,
        random_spacer,
        recall_drill,
    )

    rng = random.Random(4)
    for _ in range(20):
        sample = random_passkey_sample_with_spacer(rng)
        text = sample.text()
        copy = text[sample.copy_positions.start : sample.copy_positions.stop]
        assert copy == sample.key and re.findall(r"\d+", text) == [sample.key] * 3
    local = local_passkey_sample(768, 256, rng, random_spacer(rng))
    assert local.needle_start >= (local.question_start // 256) * 256  # same segment
    no_intro = passkey_sample(512, 0.0, "55555", 128, intro="")
    assert no_intro.needle_start == 0 and no_intro.text().startswith("The pass key is 55555.")
    ids, mask = recall_drill(4, 3, 128, rng)
    for row in range(4):
        scored = mask[row].nonzero().flatten()
        first, count = int(scored[0]) - 1, len(scored) + 1  # the repeat starts one before
        repeat = ids[row, first : first + count]
        text = bytes(ids[row].tolist()).decode()
        assert text.count(bytes(repeat.tolist()).decode()) == 2


def random_passkey_sample_with_spacer(rng: random.Random):
    from bookreader.training.data import random_passkey_sample, random_spacer

    return random_passkey_sample(2048, 256, rng, spacer=random_spacer(rng))


# -- random layouts and book haystacks -------------------------------------------------------

BOOK_TEXT = (
    "Chapter 1. The ship left port in 1851, with 33 hands aboard!\n\n"
    "\u201cWhere to?\u201d asked the boy. Nobody answered him for a while... "
    "The mate, a tall man, pointed west; the sea was grey and calm.\n\n"
    "Chapter 2\nIt rained for 12 days. Was it the 3rd or the 4th week? Nobody knew."
)


def naive_sentence_starts(data: bytes) -> set[int]:
    """Independent reference: walk the bytes; a sentence starts after white space that follows
    . ! or ? (closing quotes between them allowed) or after a blank line."""
    text = data.decode("utf-8")
    starts, i = {0}, 0
    while i < len(text):
        ch = text[i]
        if ch in ".!?" or (ch == "\n" and re.match(r"\n[ \t]*\n", text[i:])):
            j = i + 1
            while ch in ".!?" and j < len(text) and text[j] in "\"')]\u2019\u201d":
                j += 1
            k = j
            while k < len(text) and text[k].isspace():
                k += 1
            if (k > j or ch == "\n") and k < len(text):
                starts.add(len(text[:k].encode("utf-8")))
            i = max(k, i + 1)
        else:
            i += 1
    return starts


def test_book_haystack_drops_digits_and_starts_needles_at_sentences() -> None:
    from bookreader.training.data import text_haystack

    hay = text_haystack(BOOK_TEXT, "sea")
    data = bytes(hay.ids.tolist())
    text = data.decode("utf-8")
    assert not re.search(r"\d", text)
    assert text.strip() == re.sub(r"\d", "", BOOK_TEXT).strip()
    assert set(hay.starts.tolist()) == naive_sentence_starts(data.rstrip()) | {0}
    # the endless repetition: slices past the end wrap around, snap finds the sentence start
    n = len(hay)
    assert torch.equal(hay.slice(n - 3, n + 4), torch.cat([hay.ids[-3:], hay.ids[:4]]))
    for start in hay.starts.tolist():
        assert hay.snap(start) == start and hay.snap(2 * n + start) == 2 * n + start
        assert hay.snap(start + 1) == start or start + 1 in set(hay.starts.tolist())


@settings(max_examples=150, deadline=None)
@given(
    length=st.integers(min_value=304, max_value=6000),
    depth=st.floats(min_value=0.0, max_value=1.0),
    use_book=st.booleans(),
    intro=st.booleans(),
    start_index=st.integers(min_value=0, max_value=10_000),
    seed=st.integers(min_value=0, max_value=2**16),
)
def test_any_layout_keeps_the_contract(
    length: int, depth: float, use_book: bool, intro: bool, start_index: int, seed: int
) -> None:
    """Any length, depth, haystack, starting sentence, with or without the introduction: the
    text is the introduction, the haystack's endless text from its start with the needle
    inserted at a sentence start, then the question; digits only in the key's three places;
    the needle ends before the question's segment."""
    from bookreader.training.data import FILLER_HAYSTACK, text_haystack

    hay = text_haystack(BOOK_TEXT * 3, "sea") if use_book else FILLER_HAYSTACK
    hay_start = int(hay.starts[start_index % hay.starts.numel()])
    key = random_key(random.Random(seed))
    prefix = INTRO if intro else ""
    segment = 64
    length = max(length, min_passkey_length(segment, prefix))
    sample = passkey_sample(length, depth, key, segment, "", prefix, hay, hay_start)
    ids = sample.tokens()
    assert ids.numel() == length
    needle = torch.tensor(list(NEEDLE.format(key=key).encode()))
    assert torch.equal(ids[sample.needle_start : sample.needle_end], needle)
    assert torch.equal(ids[: len(prefix)], torch.tensor(list(prefix.encode()), dtype=torch.long))
    tail = torch.tensor(list((QUESTION + key).encode()))
    assert torch.equal(ids[-len(tail) :], tail)
    hay_part = torch.cat(
        [ids[len(prefix) : sample.needle_start], ids[sample.needle_end : -len(tail)]]
    )
    assert torch.equal(hay_part, hay.slice(hay_start, hay_start + hay_part.numel()))
    # the needle begins where a haystack sentence begins
    assert (hay_start + sample.filler_before) % len(hay) in set(hay.starts.tolist())
    assert sample.needle_end <= (sample.question_start // segment) * segment
    text = bytes(ids.tolist()).decode("utf-8", errors="replace")
    assert re.findall(r"\d+", text) == [key, key, key]
    more = sample.tokens(0, length + 100)  # past the answer the haystack continues
    assert torch.equal(more[:length], ids)
    assert not re.search(rb"\d", bytes(more[length:].tolist()))


def test_random_layouts_move_the_question_within_its_segment() -> None:
    from bookreader.evals.passkey import make_trials

    rng = random.Random(5)
    keys = [random_key(rng) for _ in range(40)]
    trials = make_trials(8192, "middle", keys, 64, rng)
    lengths = [t.length for t in trials]
    assert all(8192 - 64 <= n <= 8192 for n in lengths)
    offsets = {t.question_start % 64 for t in trials}
    assert len(offsets) >= 20  # 40 draws over 65 lengths: a fixed layout would give 1
    assert len({t.hay_start for t in trials}) >= 3  # the filler starts at different sentences
    for trial in trials:  # the key never in the question's segment (start and middle)
        assert trial.through_memory(64)
    fixed = make_trials(8192, "middle", keys, 64, rng, exact_length=True)
    assert {(t.length, t.hay_start, t.needle_start) for t in fixed} == {
        (8192, 0, fixed[0].needle_start)
    }
