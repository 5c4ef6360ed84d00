"""`bookreader train RECIPE.toml [--resume RUN_OR_CHECKPOINT] [--steps N]`: run a training recipe.

The recipe (see bookreader.training.config) names the model, the data (passkey trials, books
through the loaders, or a mix) and the optimisation. Progress goes to stderr (a Rich bar with
loss and tokens per second on a terminal, a line every log_every steps otherwise); metrics go to
OUT_DIR/metrics.jsonl, checkpoints to OUT_DIR/checkpoints/, the final model to OUT_DIR/model/
(config.json + model.safetensors, loadable by `--model`). `--resume` continues from a checkpoint
(or a run folder's latest): the next step's loss is the one the uninterrupted run would have had.

`--json` prints {"schema": "bookreader.train/1", "step", "out_dir", "model", "metrics"}.

Several GPUs: `torchrun --nproc_per_node N -m bookreader.cli.train RECIPE.toml` (data
parallel; gradients averaged each step; rank 0 logs and checkpoints). Exit codes: 0 done,
2 bad recipe or options, 1 runtime error.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import typer
from rich.progress import BarColumn, TextColumn, TimeElapsedColumn

from bookreader.cli import output
from bookreader.cli.checks import input_file, output_folder
from bookreader.cli.common import guarded, print_json, stderr_console
from bookreader.errors import UsageError
from bookreader.training.config import load_recipe

TRAIN_SCHEMA = "bookreader.train/1"


def train(
    recipe: Path = typer.Argument(..., help="Training recipe (TOML)."),
    resume: Path | None = typer.Option(
        None, "--resume", help="Checkpoint file or run folder to continue from."
    ),
    steps: int | None = typer.Option(None, "--steps", help="Override [train] steps."),
    out_dir: str | None = typer.Option(  # a string: Path("") would be the current folder
        None, "--out", metavar="FOLDER", help="Override [train] out_dir."
    ),
    as_json: bool = typer.Option(False, "--json", help="Print the final metrics as JSON."),
) -> None:
    """Train (or continue training) a model from a TOML recipe."""
    from bookreader.training.loop import train as run_training

    plan = load_recipe(input_file(recipe, "recipe"))
    if steps is not None:
        if steps < 1:
            raise UsageError("--steps must be >= 1")
        plan.train.steps = steps
    if out_dir is not None:
        plan.train.out_dir = str(output_folder(out_dir))
    console = stderr_console()
    total = plan.train.steps
    if console.is_terminal:
        progress = output.stderr_progress(
            TextColumn("train"),
            BarColumn(),
            TextColumn("{task.completed}/{task.total}"),
            TextColumn("loss {task.fields[loss]}"),
            TextColumn("{task.fields[speed]} tok/s"),
            TimeElapsedColumn(),
        )
        task = progress.add_task("train", total=total, loss="-", speed="-")

        def on_step(step: int, metrics: dict[str, Any]) -> None:
            progress.update(
                task,
                completed=step,
                loss=f"{metrics['loss']:.4f}",
                speed=f"{metrics['tokens_per_s']:,.0f}",
            )

        with progress:
            result = run_training(plan, resume=resume, on_step=on_step)
    else:
        every = plan.train.log_every

        def on_step(step: int, metrics: dict[str, Any]) -> None:
            if step % every == 0 or step == total:
                extra = f" key_acc {metrics['key_acc']:.3f}" if "key_acc" in metrics else ""
                console.print(
                    f"step {step}/{total} loss {metrics['loss']:.4f}{extra} "
                    f"{metrics['tokens_per_s']:,.0f} tok/s {metrics['elapsed_s']:.0f}s",
                    markup=False,
                )

        result = run_training(plan, resume=resume, on_step=on_step)
    summary = {
        "schema": TRAIN_SCHEMA,
        "step": result.step,
        "out_dir": str(result.out_dir),
        "model": str(result.model_dir) if result.model_dir else None,
        "metrics": result.last_metrics,
    }
    if as_json:
        print_json(summary)
    else:
        where = f"model in {result.model_dir}" if result.model_dir else f"run in {result.out_dir}"
        sys.stdout.write(f"trained to step {result.step}; {where}\n")


def register(app: typer.Typer) -> None:
    app.command("train")(guarded(train))


if __name__ == "__main__":  # torchrun -m bookreader.cli.train RECIPE.toml
    cli = typer.Typer(add_completion=False, pretty_exceptions_enable=False)
    register(cli)
    cli()
