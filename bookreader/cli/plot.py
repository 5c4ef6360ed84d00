"""`bookreader plot RUN_DIR [--out FILE]`: loss and tokens per second of a training run, drawn
from its `metrics.jsonl` (what `bookreader train` writes), into `RUN_DIR/metrics.png` unless
`--out` names another .png, .svg or .pdf file. Needs `pip install 'bookreader[plot]'`.

Prints one line on stdout: the image's path, the steps drawn, the last loss and the median
tokens per second. Exit codes: 0, 2 (no such run folder, no metrics, a bad --out, no
matplotlib).
"""

from __future__ import annotations

import statistics
from pathlib import Path

import typer

from bookreader.cli.checks import input_folder, output_file
from bookreader.cli.common import guarded


def plot_command(
    run_dir: Path = typer.Argument(..., help="A training run's folder (holds metrics.jsonl)."),
    out: Path | None = typer.Option(
        None, "--out", help="Image to write (.png, .svg or .pdf); default RUN_DIR/metrics.png."
    ),
) -> None:
    """Draw a training run's loss and tokens per second."""
    from bookreader.plots import check_image_path, draw_training, read_metrics, require_matplotlib

    input_folder(run_dir, "run")
    path = out if out is not None else run_dir / "metrics.png"
    output_file(path)
    check_image_path(path)
    require_matplotlib()
    records = read_metrics(run_dir)
    draw_training(records, f"training run {run_dir.resolve().name}", path)
    speeds = [r["tokens_per_s"] for r in records if "tokens_per_s" in r]
    speed = f", median {statistics.median(speeds):,.0f} tokens/s" if speeds else ""
    typer.echo(
        f"{path}: {len(records)} logged steps to step {records[-1]['step']}, "
        f"last loss {records[-1]['loss']:.4f}{speed}"
    )


def register(app: typer.Typer) -> None:
    app.command("plot")(guarded(plot_command))
