"""How words are counted (README, "Words"): whitespace-separated tokens that hold a letter or a
digit; in scripts written without spaces, one word per character. Checked against counts made
by construction over random texts."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from bookreader.book import count_words

LATIN_WORDS = st.text(alphabet="abcdefghijklmnopqrstuvwxyzÉéß0123456789'’-", min_size=1).filter(
    lambda w: any(c.isalnum() for c in w)
)
SPACES = st.sampled_from([" ", "\n", "\t", "  ", "\u00a0", " — ", "\n\n"])
IDEOGRAPHS = st.text(alphabet="吾輩猫名前無いはのまだ", min_size=1, max_size=30)


@given(words=st.lists(LATIN_WORDS, max_size=40), gaps=st.lists(SPACES, min_size=41, max_size=41))
def test_spaced_scripts_count_tokens_with_letters(words: list[str], gaps: list[str]) -> None:
    text = "".join(gap + word for gap, word in zip(gaps, words, strict=False))
    assert count_words(text) == len(words)


@given(han=IDEOGRAPHS, latin=st.lists(st.sampled_from(["EPUB", "3", "Haruko"]), max_size=5))
def test_unspaced_scripts_count_characters(han: str, latin: list[str]) -> None:
    text = han + "。" + " ".join(latin)
    assert count_words(text) == len(han) + len(latin)


def test_examples() -> None:
    assert count_words("Don't stop — it's 3 o'clock.") == 5
    assert count_words("well-known end.—Then") == 2
    assert count_words("吾輩は猫である。名前はまだ無い。") == 14
    assert count_words("안녕하세요 세계") == 2  # Korean is written with spaces
    assert count_words("مرحبا بالعالم") == 2
    assert count_words(" — … ") == 0
