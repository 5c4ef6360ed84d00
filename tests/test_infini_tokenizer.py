"""The byte-level tokenizer of the standalone model."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from bookreader.infini import ByteTokenizer

tok = ByteTokenizer()


@given(st.text())
def test_round_trip_of_any_text(text: str) -> None:
    ids = tok.encode(text, add_bos=True, add_eos=True)
    assert ids[0] == tok.bos_id and ids[-1] == tok.eos_id
    assert all(0 <= i < tok.vocab_size for i in ids)
    assert tok.decode(ids) == text


def test_ids_are_utf8_bytes() -> None:
    assert tok.encode("é!") == [0xC3, 0xA9, 0x21]
    assert tok.special_ids == {256, 257, 258} and tok.vocab_size == 259


def test_invalid_bytes_are_replaced_not_raised() -> None:
    assert tok.decode([0x61, 0xFF, tok.pad_id, 0x62]) == "a\ufffdb"


@given(st.text())
def test_stream_decoder_emits_whole_characters(text: str) -> None:
    decoder = tok.stream_decoder()
    pieces = [decoder.push(i) for i in tok.encode(text)]
    assert "".join(pieces) + decoder.flush() == text
    if "\ufffd" not in text:  # never a replacement char for half a character
        assert not any("\ufffd" in piece for piece in pieces)
