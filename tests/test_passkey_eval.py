"""The streamed passkey evaluation computes what a naive full read computes, scores digits and
keys correctly, honours --no-memory, and the command prints the table and its JSON."""

from __future__ import annotations

import json
import random
from pathlib import Path

import pytest
import torch
from typer.testing import CliRunner

from bookreader.cli.app import app
from bookreader.evals.passkey import answer_logits, run_passkey
from bookreader.infini import InfiniConfig, InfiniTransformer
from bookreader.training.data import passkey_sample, random_key


def tiny_model() -> InfiniTransformer:
    torch.manual_seed(0)
    model = InfiniTransformer(InfiniConfig(d_model=32, n_layers=2, n_heads=2, segment_len=128))
    for block in model.blocks:  # open gates so that the memory shapes the logits
        block.attn.beta.data.fill_(2.0)
    return model.eval()


def assert_streamed_equals_full_reads(model: InfiniTransformer, samples: list) -> None:
    """Reference: each trial read alone in one call; its logits before the five key digits."""
    streamed = answer_logits(model, samples, chunk_tokens=200)
    for row, sample in enumerate(samples):
        with torch.no_grad():
            logits, _ = model(sample.tokens()[None])
        reference = logits[0, sample.length - 6 : sample.length - 1].float()
        torch.testing.assert_close(streamed[row], reference, rtol=1e-4, atol=1e-4)


@pytest.mark.parametrize("depth", [0.0, 0.5, 1.0])
def test_streamed_answer_logits_equal_a_full_read_of_each_trial(depth: float) -> None:
    model = tiny_model()
    rng = random.Random(1)
    samples = [passkey_sample(1500, depth, random_key(rng), 128) for _ in range(3)]
    assert_streamed_equals_full_reads(model, samples)


@pytest.mark.parametrize("intro", [True, False])
def test_random_layouts_in_one_batch_equal_a_full_read_of_each_trial(intro: bool) -> None:
    """Trials of different lengths, starting sentences and haystacks (filler or book text)
    read as one padded batch: each trial's answer logits are those of reading it alone."""
    from bookreader.evals.passkey import make_trials
    from bookreader.training.data import INTRO, text_haystack

    model = tiny_model()
    rng = random.Random(2)
    book = text_haystack("The keeper lit the lamp. Fog came in at nine! Who rang? " * 40, "b")
    samples = []
    for haystack, position in ((book, "start"), (book, "middle"), (None, "end")):
        keys = [random_key(rng) for _ in range(2)]
        kwargs = {"haystack": haystack} if haystack is not None else {}
        samples += make_trials(
            1500, position, keys, 128, rng, intro=INTRO if intro else "", **kwargs
        )
    assert len({s.length for s in samples}) > 1
    assert_streamed_equals_full_reads(model, samples)


def test_accuracy_counts_digits_and_whole_keys(monkeypatch: pytest.MonkeyPatch) -> None:
    """With answers forced (3 of 5 digits right in every trial), the scores are 0.6 and 0."""
    import bookreader.evals.passkey as passkey_eval

    def fake_logits(model: object, samples: list, chunk_tokens: int) -> torch.Tensor:
        out = torch.zeros(len(samples), 5, 259)
        for row, sample in enumerate(samples):
            for i, digit in enumerate(sample.key):
                wrong = str((int(digit) + 1) % 10)
                out[row, i, ord(digit if i < 3 else wrong)] = 1.0
        return out

    monkeypatch.setattr(passkey_eval, "answer_logits", fake_logits)
    cells = run_passkey(tiny_model(), [2048], ["start", "end"], trials=5)
    assert [(c.position, c.token_accuracy, c.exact_match) for c in cells] == [
        ("start", 0.6, 0.0),
        ("end", 0.6, 0.0),
    ]


def test_passkey_command_json_and_errors(tmp_path: Path) -> None:
    tiny_model().save(tmp_path / "m")
    args = ["passkey", "--model", str(tmp_path / "m"), "--lengths", "1K,2K", "--trials", "2"]
    result = CliRunner().invoke(app, [*args, "--positions", "start,end", "--json"])
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert data["schema"] == "bookreader.passkey/1" and data["memory"] is True
    assert data["haystack"] == "filler" and data["exact_length"] is False and data["intro"]
    assert [(c["length"], c["position"]) for c in data["cells"]] == [
        (1024, "start"), (1024, "end"), (2048, "start"), (2048, "end"),
    ]  # fmt: skip
    table = CliRunner().invoke(app, [*args, "--no-memory"])
    assert table.exit_code == 0 and "start/middle/end" in table.stdout
    for bad in (["--lengths", "1G"], ["--lengths", "100"], ["--positions", "top"]):
        bad_args = ["passkey", "--model", str(tmp_path / "m"), *bad]
        result = CliRunner().invoke(app, bad_args)
        assert result.exit_code == 2, (bad, result.output)
        assert "Traceback" not in result.output
    missing = CliRunner().invoke(app, ["passkey", "--model", str(tmp_path / "none")])
    assert missing.exit_code == 1
    no_book = CliRunner().invoke(app, [*args, "--haystack", str(tmp_path / "none.txt")])
    assert no_book.exit_code == 2 and "Traceback" not in no_book.output
    broken = tmp_path / "broken.epub"
    broken.write_bytes(b"not a zip")
    unreadable = CliRunner().invoke(app, [*args, "--haystack", str(broken)])
    assert unreadable.exit_code == 4 and "Traceback" not in unreadable.output


def test_passkey_command_haystack_and_exact_length(tmp_path: Path, samples: Path) -> None:
    tiny_model().save(tmp_path / "m")
    args = ["passkey", "--model", str(tmp_path / "m"), "--lengths", "1500", "--trials", "2"]
    book = samples / "the-lighthouse-keepers-ledger.txt"
    result = CliRunner().invoke(app, [*args, "--haystack", str(book), "--exact-length", "--json"])
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert data["haystack"] == book.name and data["exact_length"] is True
    assert [c["length"] for c in data["cells"]] == [1500, 1500, 1500]
