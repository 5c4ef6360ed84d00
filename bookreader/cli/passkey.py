"""`bookreader passkey --model PATH [--lengths 8K,32K,128K,1M] [--positions start,middle,end]
[--trials N] [--no-memory] [--haystack BOOK] [--exact-length] [--no-intro] [--json]`: the
paper's passkey test (arXiv 2404.07143, Table 3).

A five-digit key hidden at the start, middle or end of inputs of each length, always in an
earlier segment than the question, so that only the compressive memory can bring it back. The
haystack is the paper's repeated filler, or with `--haystack BOOK` the text of a real book (any
format the loaders read; its digits removed), the needle at a sentence start. No fixed layout:
each trial's length is drawn uniformly from [L - segment_len, L] and its haystack starts at a
random sentence; `--exact-length` gives every trial length L and the haystack from its start
(the single layout of earlier versions). Prints token accuracy (and exact-match rate) per length
and position; `--no-memory` closes every gate, the control that shows what local attention
alone retrieves (chance: 10%). Inputs are streamed: memory use is the same at 1M tokens as at 8K.

`--json` prints {"schema": "bookreader.passkey/1", "model": str, "memory": bool, "trials": int,
"segment_len": int, "haystack": "filler" or the book's file name, "exact_length": bool,
"intro": bool, "seed": int, "cells": [{"length", "position", "trials", "token_accuracy",
"exact_match", "seconds"}]}. Exit codes: 0, 1 (model unavailable), 2 (bad options),
4 (a haystack book that cannot be read).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import typer
from rich.console import Console
from rich.table import Table

from bookreader.cli.checks import input_file, output_file
from bookreader.cli.common import guarded, print_json, stderr_console, stdout_console
from bookreader.errors import ModelUnavailable, UsageError

PASSKEY_SCHEMA = "bookreader.passkey/1"


def load_infini_model(path: Path, threads: int = 0) -> Any:
    """A model folder saved by this project: a standalone InfiniTransformer (config.json +
    model.safetensors) or a converted Hugging Face model with its tokenizer (what `train`
    writes for a recipe with `[model] hf`)."""
    import torch

    from bookreader.infini import InfiniTransformer
    from bookreader.training.hf_model import HFInfiniModel, is_hf_folder

    if threads > 0:
        torch.set_num_threads(threads)
    if not path.is_dir():
        raise ModelUnavailable(f"no model folder at {path}")
    try:
        model = HFInfiniModel.load(path) if is_hf_folder(path) else InfiniTransformer.load(path)
    except (FileNotFoundError, ValueError, RuntimeError, OSError) as error:
        raise ModelUnavailable(f"cannot load a model from {path}: {error}") from None
    if torch.cuda.is_available():
        model = model.to("cuda")
    return model.eval()


def _haystack(path: Path | None, codec: Any) -> Any:
    """The filler, or a book's text, in the model's tokens (a file the loaders cannot read
    raises their error, exit code 4)."""
    from bookreader.training.data import BYTES, book_haystack, filler_haystack_for

    codec = codec or BYTES
    if path is None:
        return filler_haystack_for(codec)
    try:
        return book_haystack(path, codec)
    except ValueError as error:
        raise UsageError(f"--haystack: {error}") from None


def _split(text: str) -> list[str]:
    return [part.strip() for part in text.split(",") if part.strip()]


def render_table(cells: list[dict[str, Any]], console: Console) -> None:
    """Rows: lengths; columns: positions; cells: token accuracy % (exact match %)."""
    from bookreader.evals.passkey import format_length

    positions = list(dict.fromkeys(c["position"] for c in cells))
    lengths = list(dict.fromkeys(c["length"] for c in cells))
    table = Table(show_edge=False, header_style="bold")
    table.add_column("length", justify="right")
    for position in positions:
        table.add_column(position, justify="right")
    table.add_column("start/middle/end", justify="right")
    by_key = {(c["length"], c["position"]): c for c in cells}
    for length in lengths:
        row = [format_length(length)]
        for position in positions:
            c = by_key[(length, position)]
            row.append(f"{100 * c['token_accuracy']:.1f}% ({100 * c['exact_match']:.0f}%)")
        row.append(
            "/".join(f"{100 * by_key[(length, p)]['token_accuracy']:.0f}" for p in positions)
        )
        table.add_row(*row)
    console.print(table)
    console.print("token accuracy over the key's digits (exact-match rate of whole keys)")


def passkey(
    model: Path = typer.Option(..., "--model", help="Model folder (config.json + weights)."),
    lengths: str = typer.Option("8K,32K,128K,1M", "--lengths", help="Input lengths, tokens."),
    positions: str = typer.Option("start,middle,end", "--positions", help="Needle positions."),
    trials: int = typer.Option(20, "--trials", help="Keys per length and position."),
    no_memory: bool = typer.Option(False, "--no-memory", help="Close every gate (control)."),
    haystack: Path | None = typer.Option(
        None, "--haystack", help="Hide the key in this book's text instead of the filler."
    ),
    exact_length: bool = typer.Option(
        False, "--exact-length", help="Every trial exactly L tokens, one layout (no random draw)."
    ),
    intro: bool = typer.Option(True, "--intro/--no-intro", help="Open with the introduction."),
    seed: int = typer.Option(0, "--seed", help="Seed of the random keys."),
    batch_size: int = typer.Option(16, "--batch-size", help="Trials read together."),
    threads: int = typer.Option(0, "--threads", help="CPU threads (0: torch's default)."),
    as_json: bool = typer.Option(False, "--json", help="Print JSON (bookreader.passkey/1)."),
    plot: Path | None = typer.Option(
        None,
        "--plot",
        help="Also draw accuracy per length and depth (.png/.svg/.pdf), memory on and off side "
        "by side: runs the --no-memory control too.",
    ),
) -> None:
    """Passkey retrieval accuracy per input length and needle position."""
    from bookreader.evals.passkey import format_length, parse_length, run_passkey

    try:
        length_list = [parse_length(part) for part in _split(lengths)]
    except ValueError as error:
        raise UsageError(f"--lengths: {error}") from None
    position_list = _split(positions)
    if not length_list or not position_list:
        raise UsageError("--lengths and --positions need at least one value each")
    if trials < 1 or batch_size < 1:
        raise UsageError("--trials and --batch-size must be >= 1")
    if haystack is not None:
        input_file(haystack, "--haystack")
    if plot is not None:
        from bookreader.plots import check_image_path, require_matplotlib

        output_file(plot, "--plot")
        check_image_path(plot, "--plot")
        require_matplotlib()  # before the run, not after it
    net = load_infini_model(model, threads)
    hay = _haystack(haystack, getattr(net, "codec", None))
    console = stderr_console()

    def on_cell(cell: Any) -> None:
        console.print(
            f"{format_length(cell.length):>5} {cell.position:<6} "
            f"token accuracy {100 * cell.token_accuracy:5.1f}% "
            f"exact {100 * cell.exact_match:5.1f}% ({cell.seconds:.0f}s)",
            markup=False,
        )

    def run(memory: bool) -> list[Any]:
        try:
            return run_passkey(
                net, length_list, position_list, trials,
                memory=memory, seed=seed, batch_size=batch_size, on_cell=on_cell,
                haystack=hay, exact_length=exact_length, intro=intro,
            )  # fmt: skip
        except ValueError as error:
            raise UsageError(str(error)) from None

    cells = run(not no_memory)
    data = {
        "schema": PASSKEY_SCHEMA,
        "model": str(model),
        "memory": not no_memory,
        "trials": trials,
        "segment_len": net.config.segment_len,
        "haystack": hay.name,
        "exact_length": exact_length,
        "intro": intro,
        "seed": seed,
        "cells": [cell.to_dict() for cell in cells],
        "control": None,  # the memory-off cells, when --plot runs them beside memory on
    }
    if plot is not None:
        from bookreader.plots import draw_passkey

        panels = [("memory off (control)" if no_memory else "memory on", data["cells"])]
        if not no_memory:  # the same keys and layouts (same seed), every gate closed
            console.print("memory off (control):", markup=False)
            data["control"] = [c.to_dict() for c in run(False)]
            panels.append(("memory off (control)", data["control"]))
        draw_passkey(panels, f"passkey retrieval: {model.name}, haystack {hay.name}", plot)
        console.print(f"wrote {plot}", markup=False)
    if as_json:
        print_json(data)
        return
    render_table(data["cells"], stdout_console(highlight=False))


def register(app: typer.Typer) -> None:
    app.command("passkey")(guarded(passkey))
