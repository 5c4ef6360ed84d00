"""Pictures of the memory and of training: `passkey --plot` and `plot RUN_DIR` write valid images
from short runs made here, and without matplotlib both exit 2 with the install hint."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest
import torch
from PIL import Image
from typer.testing import CliRunner

from bookreader.cli.app import app
from bookreader.infini import InfiniConfig, InfiniTransformer
from bookreader.training.config import Recipe
from bookreader.training.loop import METRICS_FILE, train

HINT = "pip install 'bookreader[plot]'"


def tiny_model_folder(path: Path) -> Path:
    torch.manual_seed(0)
    model = InfiniTransformer(InfiniConfig(d_model=32, n_layers=2, n_heads=2, segment_len=128))
    model.save(path)
    return path


def short_run(out_dir: Path, steps: int = 4) -> Path:
    """A real training run of a tiny model: its metrics.jsonl is what the logger writes."""
    recipe = Recipe.from_dict(
        {
            "model": {"d_model": 32, "n_layers": 2, "n_heads": 2, "segment_len": 128},
            "data": {"segments_min": 3, "segments_max": 3},
            "train": {
                "steps": steps, "batch_size": 2, "warmup_steps": 1, "out_dir": str(out_dir),
                "checkpoint_every": 1000, "log_every": 1, "threads": 1,
            },
        }
    )  # fmt: skip
    train(recipe)
    return out_dir


def assert_drawn_png(path: Path, min_width: int = 500) -> None:
    with Image.open(path) as image:
        image.verify()
    with Image.open(path) as image:
        assert image.format == "PNG" and image.width >= min_width and image.height >= 200
        colours = image.convert("RGB").getcolors(maxcolors=1_000_000)
        assert colours is not None and len(colours) > 30  # lines and text, not a blank canvas


def test_passkey_plot_draws_memory_on_and_off(tmp_path: Path) -> None:
    model = tiny_model_folder(tmp_path / "m")
    out = tmp_path / "passkey.png"
    args = ["passkey", "--model", str(model), "--lengths", "1K,2K", "--positions", "start,end"]
    result = CliRunner().invoke(app, [*args, "--trials", "2", "--plot", str(out), "--json"])
    assert result.exit_code == 0, result.output
    document = json.loads(result.stdout)
    assert document["memory"] is True  # the JSON is the memory-on run's, with its control
    control_cells = document["control"]
    assert [(c["length"], c["position"]) for c in control_cells] == [
        (c["length"], c["position"]) for c in document["cells"]
    ]
    assert all(0 <= c["token_accuracy"] <= 1 and c["trials"] == 2 for c in control_cells)
    assert_drawn_png(out, min_width=700)  # two panels side by side
    svg = tmp_path / "passkey.svg"
    control = CliRunner().invoke(app, [*args, "--trials", "1", "--no-memory", "--plot", str(svg)])
    assert control.exit_code == 0, control.output
    text = svg.read_text(encoding="utf-8")
    assert "memory off (control)" in text and "memory on" not in text
    assert "needle depth" in text and "input length" in text


def test_plot_draws_a_training_run(tmp_path: Path) -> None:
    run = short_run(tmp_path / "run")
    records = [json.loads(line) for line in (run / METRICS_FILE).read_text().splitlines()]
    assert len(records) == 4 and {"loss", "tokens_per_s", "step"} <= set(records[0])
    result = CliRunner().invoke(app, ["plot", str(run)])
    assert result.exit_code == 0, result.output
    assert "4 logged steps" in result.stdout
    assert_drawn_png(run / "metrics.png")
    svg = tmp_path / "run.svg"
    assert CliRunner().invoke(app, ["plot", str(run), "--out", str(svg)]).exit_code == 0
    text = svg.read_text(encoding="utf-8")
    assert "tokens / s" in text and "loss" in text


def test_plot_errors(tmp_path: Path) -> None:
    def run(*args: str):
        result = CliRunner().invoke(app, ["plot", *args])
        assert "Traceback" not in result.output
        return result

    assert run(str(tmp_path / "none")).exit_code == 2
    assert "metrics.jsonl" in run(str(tmp_path)).output  # a folder that is not a run
    (tmp_path / METRICS_FILE).write_text('{"step": 1, "lo')  # a torn line only
    assert run(str(tmp_path)).exit_code == 2
    assert run(str(tmp_path), "--out", str(tmp_path / "x.jpg")).exit_code == 2


def test_without_matplotlib_both_exit_2_with_the_hint(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    run = tmp_path / "run"
    run.mkdir()
    (run / METRICS_FILE).write_text(json.dumps({"step": 1, "loss": 1.0, "tokens_per_s": 9}) + "\n")
    model = tiny_model_folder(tmp_path / "m")
    monkeypatch.setitem(sys.modules, "matplotlib", None)  # as if not installed
    plotted = CliRunner().invoke(app, ["plot", str(run)])
    passkey_args = ["passkey", "--model", str(model), "--lengths", "1K", "--trials", "1"]
    passkey = CliRunner().invoke(app, [*passkey_args, "--plot", str(tmp_path / "p.png")])
    for result in (plotted, passkey):
        assert result.exit_code == 2, result.output
        assert HINT in result.output and "Traceback" not in result.output
        assert result.output.startswith("bookreader: error:")
    assert not (run / "metrics.png").exists() and not (tmp_path / "p.png").exists()
