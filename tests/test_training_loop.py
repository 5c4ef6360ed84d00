"""The training loop: a short run lowers the loss, resuming gives the same next loss as never
stopping, the schedule and the memory amplification do what they say, and bad recipes are
one-line usage errors."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import pytest
import torch
from typer.testing import CliRunner

from bookreader.cli.app import app
from bookreader.errors import UsageError
from bookreader.infini import InfiniConfig, InfiniTransformer
from bookreader.training.config import Recipe, TrainConfig, load_recipe
from bookreader.training.loop import lr_factor, train
from bookreader.training.steps import amplify_memory

TINY_MODEL = {"d_model": 32, "n_layers": 2, "n_heads": 2, "segment_len": 128}


def tiny_recipe(out_dir: Path, steps: int, **train: object) -> Recipe:
    raw = {
        "model": dict(TINY_MODEL),
        "data": {"segments_min": 3, "segments_max": 4, "amplify_prob": 0.5, "amplify_max": 50.0},
        "train": {
            "steps": steps,
            "batch_size": 4,
            "lr": 3e-3,
            "warmup_steps": 3,
            "out_dir": str(out_dir),
            "checkpoint_every": 1000,
            "log_every": 1,
            "threads": 1,
            **train,
        },
    }
    return Recipe.from_dict(raw)


def test_a_short_run_lowers_the_loss(tmp_path: Path) -> None:
    result = train(tiny_recipe(tmp_path / "run", steps=40))
    first, last = sum(result.losses[:5]) / 5, sum(result.losses[-5:]) / 5
    assert last < first - 0.5, (first, last)
    lines = (tmp_path / "run" / "metrics.jsonl").read_text().splitlines()
    assert len(lines) == 40
    record = json.loads(lines[-1])
    assert record["step"] == 40 and record["tokens_per_s"] > 0 and len(record["gates"]) == 2
    model = InfiniTransformer.load(tmp_path / "run" / "model")
    assert model.config.d_model == 32


def test_resume_gives_the_same_next_loss(tmp_path: Path) -> None:
    straight = train(tiny_recipe(tmp_path / "a", steps=6))
    stopped = train(tiny_recipe(tmp_path / "b", steps=6), stop_after=3)
    assert stopped.step == 3
    torch.testing.assert_close(stopped.losses, straight.losses[:3], rtol=0, atol=0)
    resumed = train(tiny_recipe(tmp_path / "b", steps=6), resume=tmp_path / "b")
    assert resumed.step == 6
    torch.testing.assert_close(resumed.losses, straight.losses[3:], rtol=1e-6, atol=1e-6)


def test_warmup_then_cosine_down_to_the_floor() -> None:
    cfg = TrainConfig(steps=110, warmup_steps=10, min_lr_ratio=0.1)
    assert lr_factor(0, cfg) == pytest.approx(0.1)
    assert lr_factor(9, cfg) == pytest.approx(1.0)
    assert lr_factor(10, cfg) == pytest.approx(1.0)
    assert lr_factor(60, cfg) == pytest.approx(0.55)  # half way down the cosine
    assert lr_factor(110, cfg) == pytest.approx(0.1)


def test_amplification_counts_one_segment_increment_f_times() -> None:
    torch.manual_seed(0)
    cfg = InfiniConfig(d_model=32, n_layers=2, n_heads=2, segment_len=16)
    model = InfiniTransformer(cfg)
    ids = torch.randint(0, 256, (3, 48))
    _, before = model(ids[:, :32])
    _, after = model(ids[:, 32:], before)
    factors = torch.tensor([1.0, 2.0, 1000.0])
    amplified = amplify_memory(after, before, factors)
    for layer_a, layer_b, layer_c in zip(
        amplified.layers, after.layers, before.layers, strict=True
    ):
        for row, f in enumerate(factors.tolist()):
            dz = layer_b.memory.z[row] - layer_c.memory.z[row]
            dM = layer_b.memory.M[row] - layer_c.memory.M[row]
            torch.testing.assert_close(layer_a.memory.z[row], layer_c.memory.z[row] + f * dz)
            torch.testing.assert_close(layer_a.memory.M[row], layer_c.memory.M[row] + f * dM)


def test_recipe_errors_are_usage_errors(tmp_path: Path) -> None:
    bad = tmp_path / "bad.toml"
    bad.write_text("[train]\nstepz = 3\n")
    with pytest.raises(UsageError, match="unknown keys"):
        load_recipe(bad)
    bad.write_text('[train]\nsteps = "many"\n')
    with pytest.raises(UsageError, match="steps"):
        load_recipe(bad)
    bad.write_text("[model]\nd_modle = 3\n")
    with pytest.raises(UsageError, match="model"):
        load_recipe(bad)
    bad.write_text("[model\n")
    with pytest.raises(UsageError, match="TOML"):
        load_recipe(bad)
    result = CliRunner().invoke(app, ["train", str(bad)])
    assert result.exit_code == 2
    assert "TOML" in result.output and "Traceback" not in result.output
    result = CliRunner().invoke(app, ["train", str(tmp_path / "missing.toml")])
    assert result.exit_code == 2


def test_train_command_runs_a_recipe(tmp_path: Path) -> None:
    recipe = tmp_path / "r.toml"
    recipe.write_text(
        "[model]\nd_model = 32\nn_layers = 1\nn_heads = 2\nsegment_len = 128\n"
        "[data]\nsegments_min = 3\nsegments_max = 3\n"
        f'[train]\nsteps = 2\nbatch_size = 2\nout_dir = "{tmp_path / "run"}"\nthreads = 1\n'
    )
    result = CliRunner().invoke(app, ["train", str(recipe), "--json"])
    assert result.exit_code == 0, result.output
    summary = json.loads(result.stdout)
    assert summary["step"] == 2 and Path(summary["model"]).is_dir()
    assert (tmp_path / "run" / "checkpoints" / "latest.pt").is_file()


def test_init_from_starts_where_the_last_stage_ended(tmp_path: Path) -> None:
    first = train(tiny_recipe(tmp_path / "one", steps=3))
    saved = InfiniTransformer.load(first.model_dir)
    stage_two = dict(lr=1e-12, beta_lr=1e-12, init_from=str(first.model_dir))
    second = train(tiny_recipe(tmp_path / "two", steps=1, **stage_two))
    after = InfiniTransformer.load(second.model_dir)
    for name, weight in saved.state_dict().items():  # lr ~ 0: the weights are the first run's
        torch.testing.assert_close(after.state_dict()[name], weight, atol=1e-6, rtol=0)
    with pytest.raises(UsageError, match="unlike"):
        other = tiny_recipe(tmp_path / "three", steps=1, init_from=str(first.model_dir))
        other.model["d_model"] = 64
        train(other)
    with pytest.raises(UsageError, match="init_from"):
        train(tiny_recipe(tmp_path / "four", steps=1, init_from=str(tmp_path / "nowhere")))


def test_end_prob_puts_that_share_of_needles_as_late_as_allowed(tmp_path: Path) -> None:
    from bookreader.training.data import passkey_sample
    from bookreader.training.steps import make_batch

    recipe = tiny_recipe(tmp_path, steps=1, batch_size=64)
    recipe.data.amplify_prob = 0.0

    def late_share(end_prob: float) -> float:
        recipe.data.end_prob = end_prob
        batch = make_batch(recipe, 0, 0, [], 128)
        late = 0
        for s in batch.samples:  # each trial against the latest needle its own layout allows
            latest = passkey_sample(
                s.length, 1.0, s.key, 128, s.spacer, s.intro, s.haystack, s.hay_start
            )
            late += s.needle_start == latest.needle_start
        return late / len(batch.samples)

    assert late_share(0.0) < 0.2
    assert 0.35 < late_share(0.5) < 0.75
    assert late_share(1.0) == 1.0


def test_a_bad_file_in_the_books_folder_is_skipped_with_a_warning(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    from bookreader.training.loop import _load_books

    folder = tmp_path / "books"
    folder.mkdir()
    (folder / "a.txt").write_text("The keeper lit the lamp at dusk. " * 200)
    (folder / "b.epub").write_bytes(b"not a zip at all")
    data = replace(tiny_recipe(tmp_path / "run", steps=1).data, books=[str(folder)], books_weight=1)
    with caplog.at_level("WARNING"):
        books = _load_books(data)
    assert len(books) == 1
    assert "b.epub" in caplog.text and "skips" in caplog.text
    (folder / "a.txt").unlink()  # nothing readable left: a usage error, not an empty run
    with pytest.raises(UsageError, match="no readable book"):
        _load_books(data)
