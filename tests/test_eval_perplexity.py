"""Long-context perplexity: streamed in chunks it equals a naive one-call computation; memory
off really closes the gates; the command's output and errors."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F
from typer.testing import CliRunner

from bookreader.cli.app import app
from bookreader.evals.perplexity import token_perplexity
from bookreader.infini import InfiniConfig, InfiniTransformer


def tiny_model(seed: int = 0) -> InfiniTransformer:
    torch.manual_seed(seed)
    model = InfiniTransformer(InfiniConfig(d_model=32, n_layers=2, n_heads=2, segment_len=16))
    for block in model.blocks:  # open the gates: memory must matter for these tests
        block.attn.beta.data.fill_(2.0)
    return model.eval()


def naive_nll(model: InfiniTransformer, ids: torch.Tensor) -> float:
    with torch.no_grad():
        logits, _ = model(ids[None])
    return F.cross_entropy(logits[0, :-1].float(), ids[1:]).item()


@pytest.mark.parametrize("chunk_segments", [1, 3])
def test_streamed_perplexity_equals_one_call(chunk_segments: int) -> None:
    model = tiny_model()
    ids = torch.randint(0, 256, (16 * 7 + 5,))
    result = token_perplexity(model, ids, chunk_segments=chunk_segments)
    assert result.tokens == ids.numel() - 1
    assert result.nll == pytest.approx(naive_nll(model, ids), rel=1e-5)
    assert result.perplexity == pytest.approx(math.exp(result.nll))


def test_no_memory_is_the_closed_gate_model_and_differs() -> None:
    model = tiny_model()
    ids = torch.randint(0, 256, (16 * 6,))
    with_memory = token_perplexity(model, ids)
    without = token_perplexity(model, ids, memory=False)
    for block in model.blocks:  # reference: gates closed by β = -30 (sigmoid ≈ 1e-13)
        block.attn.beta.data.fill_(-30.0)
    assert without.nll == pytest.approx(naive_nll(model, ids), rel=1e-5)
    assert without.nll != pytest.approx(with_memory.nll, rel=1e-4)
    assert model.memory_enabled  # the control leaves the model as it found it


@pytest.mark.parametrize("window", [1, 2, 3])
def test_reset_every_equals_windows_read_one_by_one(window: int) -> None:
    """Reference: each window of `window` segments read alone from an empty memory; the first
    token of a window is predicted by the previous window's last logits (read with its own
    memory), as in the streamed run."""
    model = tiny_model()
    ids = torch.randint(0, 256, (16 * 7 + 5,))
    size = window * 16
    total, previous_last = 0.0, None
    with torch.no_grad():
        for start in range(0, ids.numel(), size):
            piece = ids[start : start + size]
            logits, _ = model(piece[None])
            logits = logits[0].float()
            if previous_last is not None:
                total += F.cross_entropy(previous_last[None], piece[:1], reduction="sum").item()
            total += F.cross_entropy(logits[:-1], piece[1:], reduction="sum").item()
            previous_last = logits[-1]
    reset = token_perplexity(model, ids, reset_every=window)
    assert reset.reset_every == window
    assert reset.nll == pytest.approx(total / (ids.numel() - 1), rel=1e-5)
    whole = token_perplexity(model, ids)
    assert whole.nll != pytest.approx(reset.nll, rel=1e-4)  # resetting changes what is read
    with pytest.raises(ValueError, match="reset_every"):
        token_perplexity(model, ids, reset_every=0)


def test_perplexity_command(tmp_path: Path, samples: Path) -> None:
    model = tiny_model()
    model.save(tmp_path / "model")
    book = samples / "the-lighthouse-keepers-ledger.txt"
    args = ["eval", "perplexity", str(book), "--model", str(tmp_path / "model")]
    result = CliRunner().invoke(app, [*args, "--max-tokens", "800", "--json"])
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert data["schema"] == "bookreader.eval.perplexity/1"
    assert data["tokens"] == 799 and data["memory"] is True
    assert data["perplexity"] == pytest.approx(math.exp(data["nll"]))
    reset = CliRunner().invoke(app, [*args, "--max-tokens", "800", "--reset-every", "2", "--json"])
    assert reset.exit_code == 0, reset.output
    reset_data = json.loads(reset.stdout)
    assert reset_data["reset_every"] == 2 and data["reset_every"] is None
    assert reset_data["nll"] != pytest.approx(data["nll"], rel=1e-5)
    bad = CliRunner().invoke(app, [*args, "--reset-every", "0"])
    assert bad.exit_code == 2 and "Traceback" not in bad.output
    missing = CliRunner().invoke(app, ["eval", "perplexity", str(book), "--model", "/nowhere"])
    assert missing.exit_code == 1 and "Traceback" not in missing.output
    absent = CliRunner().invoke(
        app, ["eval", "perplexity", str(tmp_path / "none.epub"), "--model", str(tmp_path / "model")]
    )
    assert absent.exit_code == 2 and "none.epub: no such file" in absent.stderr
    broken = tmp_path / "broken.epub"
    broken.write_bytes(b"not a zip")
    unreadable = CliRunner().invoke(
        app, ["eval", "perplexity", str(broken), "--model", str(tmp_path / "model")]
    )
    assert unreadable.exit_code == 4
