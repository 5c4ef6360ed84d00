"""The passkey task's generator: exact lengths, the paper's texts, where the needle sits, digits
only where the key is, and slices built on demand equal to the whole sample."""

from __future__ import annotations

import random
import re

import pytest
import torch

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
