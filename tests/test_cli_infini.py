"""The commands with `--engine infini` and a tiny random bookreader.infini checkpoint."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from hf_helpers import single_thread  # noqa: F401  (autouse fixture)
from typer.testing import CliRunner

from bookreader import paths
from bookreader.cli.app import app
from bookreader.infini.model import InfiniConfig, InfiniTransformer

runner = CliRunner()


@pytest.fixture
def model(tmp_path: Path) -> Path:
    torch.manual_seed(0)
    folder = tmp_path / "tiny-infini"
    InfiniTransformer(InfiniConfig(d_model=32, n_layers=2, n_heads=2, segment_len=1024)).save(
        folder
    )
    # A random model standing in for one that follows instructions: the commands' mechanics.
    (folder / "bookreader.json").write_text('{"capabilities": ["instructions", "perplexity"]}')
    return folder


@pytest.fixture
def passkey_model(model: Path) -> Path:
    """The same checkpoint without a declaration: a byte-level model trained here can do
    passkey retrieval and perplexity, nothing else."""
    (model / "bookreader.json").unlink()
    return model


def invoke(*args: str) -> object:
    return runner.invoke(app, list(args))


def test_read_then_ask_from_the_cached_memory(samples: Path, model: Path) -> None:
    book = str(samples / "harbour-notes.txt")
    first = json.loads(
        invoke("read", book, "--engine", "infini", "--model", str(model), "--json").stdout
    )
    assert first["engine"] == "infini" and first["model"] == str(model.resolve())
    byte_count = len((samples / "harbour-notes.txt").read_text(encoding="utf-8").encode())
    assert first["cache"]["hit"] is False and 0.9 * byte_count < first["tokens_read"] <= byte_count
    assert first["memory_bytes"] == first["cache"]["memory_bytes"] == 2 * 1 * 2 * (16 * 16 + 16) * 4
    plain = invoke("read", book, "--engine", "infini", "--model", str(model))
    assert "already cached" in plain.stdout
    assert "(fixed size, independent of the book's length)" in plain.stdout
    answer = json.loads(
        invoke(
            "ask",
            book,
            "What is the name of the pilot cutter?",
            "-e",
            "infini",
            "-m",
            str(model),
            "--json",
        ).stdout
    )
    assert answer["cache"]["hit"] is True and answer["engine"] == "infini"
    assert not answer["answer"].startswith("Extractive")
    assert any("Good Intent" in c["text"] for c in answer["citations"])


@pytest.mark.parametrize("strategy", ["memory", "hierarchical"])
def test_summarize_with_each_strategy(samples: Path, model: Path, strategy: str) -> None:
    result = invoke(
        "summarize", str(samples / "harbour-notes.txt"), "--engine", "infini", "--model", str(model),
        "--strategy", strategy, "--length", "short", "--json",
    )  # fmt: skip
    assert result.exit_code == 0, result.stderr
    doc = json.loads(result.stdout)
    assert (doc["engine"], doc["strategy"], doc["notice"]) == ("infini", strategy, None)
    assert len(doc["chapters"]) == (3 if strategy == "hierarchical" else 0)


def test_config_file_selects_the_engine(samples: Path, model: Path) -> None:
    (paths.config_dir() / "config.toml").write_text(f'engine = "infini"\nmodel = "{model}"\n')
    doc = json.loads(invoke("read", str(samples / "harbour-notes.txt"), "--json").stdout)
    assert doc["engine"] == "infini" and doc["memory_bytes"] > 0
    flag = json.loads(
        invoke("read", str(samples / "harbour-notes.txt"), "-e", "extractive", "--json").stdout
    )
    assert flag["engine"] == "extractive" and flag["memory_bytes"] == 0


def test_an_unloadable_model_exits_1_with_one_line(
    samples: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    result = invoke(
        "ask",
        str(samples / "harbour-notes.txt"),
        "Who?",
        "-e",
        "infini",
        "-m",
        str(tmp_path / "nothing"),
    )
    assert result.exit_code == 1
    assert result.stderr.count("\n") == 1 and "nothing" in result.stderr and result.stdout == ""


@pytest.mark.parametrize(
    ("command", "task"),
    [
        (["ask", "{book}", "What is the name of the pilot cutter?"], "answer questions"),
        (["summarize", "{book}"], "summarize"),
        (["chat", "{book}"], "chat about a book"),
    ],
)
def test_a_passkey_model_is_refused_with_exit_2_and_what_it_can_do(
    samples: Path, passkey_model: Path, command: list[str], task: str
) -> None:
    book = str(samples / "harbour-notes.txt")
    args = [a.format(book=book) for a in command]
    result = invoke(*args, "--engine", "infini", "--model", str(passkey_model))
    assert result.exit_code == 2 and result.stdout == ""
    assert result.stderr.count("\n") == 1
    assert f"cannot follow instructions, so it cannot {task}" in result.stderr
    assert "passkey" in result.stderr and "eval perplexity" in result.stderr
    # Refused before reading: nothing was cached for the book.
    assert not any(paths.cache_dir().rglob("state.json"))


def test_a_model_that_follows_instructions_answers_found(samples: Path, model: Path) -> None:
    answer = json.loads(
        invoke(
            "ask", str(samples / "harbour-notes.txt"), "What is the name of the pilot cutter?",
            "-e", "infini", "-m", str(model), "--json",
        ).stdout
    )  # fmt: skip
    assert answer["found"] is True
    assert "retrieved by keyword search" in answer["answer"]


def test_batch_refuses_a_passkey_model_before_any_book(
    samples: Path, passkey_model: Path, tmp_path: Path
) -> None:
    out = tmp_path / "out"
    result = invoke(
        "batch",
        str(samples),
        "--out",
        str(out),
        "--engine",
        "infini",
        "--model",
        str(passkey_model),
    )
    assert result.exit_code == 2 and result.stderr.count("\n") == 1
    assert "cannot follow instructions, so it cannot summarize" in result.stderr
    assert not out.exists() or not any(out.iterdir())  # no book was attempted
