"""`bookreader eval perplexity --model PATH BOOK [--no-memory] [--reset-every N] [--max-tokens N]
[--json]`.

Token perplexity of a whole book (through bookreader.loaders) read segment by segment with the
memory carried across segments, or with every gate closed (`--no-memory`), so that the two runs
show what the memory adds. `--reset-every N` empties the memory every N segments instead: the
control for a model trained on windows of N segments, whose difference from the whole-book run
is the long-range part of the memory's gain. Streams: memory use does not grow with the book's
length.

`--json` prints {"schema": "bookreader.eval.perplexity/1", "model", "book", "memory",
"reset_every" (null: never), "tokens", "nll", "perplexity", "bits_per_token", "seconds"}. Exit codes: 0, 1 (model
unavailable), 2 (bad options; a book path that does not exist or is a folder),
4 (a book file that cannot be read).
"""

from __future__ import annotations

import sys
from pathlib import Path

import typer

from bookreader.cli.checks import input_file
from bookreader.cli.common import guarded, print_json, stderr_console
from bookreader.cli.options import BookArg
from bookreader.cli.passkey import load_infini_model
from bookreader.errors import UsageError

PERPLEXITY_SCHEMA = "bookreader.eval.perplexity/1"

eval_app = typer.Typer(
    name="eval",
    help="Evaluate a model: long-context perplexity of a book.",
    no_args_is_help=True,
    add_completion=False,
)


def perplexity(
    book: BookArg,
    model: Path = typer.Option(..., "--model", help="Model folder (config.json + weights)."),
    no_memory: bool = typer.Option(False, "--no-memory", help="Close every gate (control)."),
    reset_every: int | None = typer.Option(
        None, "--reset-every", help="Empty the memory every N segments (control)."
    ),
    max_tokens: int | None = typer.Option(None, "--max-tokens", help="Score only the first N."),
    threads: int = typer.Option(0, "--threads", help="CPU threads (0: torch's default)."),
    as_json: bool = typer.Option(False, "--json", help="Print JSON."),
) -> None:
    """Token perplexity of a whole book, read segment by segment."""
    import torch

    from bookreader.evals.perplexity import token_perplexity
    from bookreader.loaders import load
    from bookreader.training.data import BYTES

    input_file(book)
    if max_tokens is not None and max_tokens < 2:
        raise UsageError("--max-tokens must be >= 2")
    if reset_every is not None and (reset_every < 1 or no_memory):
        raise UsageError("--reset-every needs N >= 1 and the memory on")
    text = load(book).text  # an unreadable book fails first (exit 4), before any model loads
    net = load_infini_model(model, threads)
    codec = getattr(net, "codec", BYTES)  # bytes, or a Hugging Face model's tokenizer
    ids = torch.tensor(codec.encode(text), dtype=torch.long)
    if ids.numel() < 2:
        raise UsageError(f"{book} holds fewer than two tokens")
    console = stderr_console()
    result = token_perplexity(
        net, ids, memory=not no_memory, max_tokens=max_tokens, reset_every=reset_every
    )
    data = {
        "schema": PERPLEXITY_SCHEMA,
        "model": str(model),
        "book": str(book),
        **result.to_dict(),
    }
    if as_json:
        print_json(data)
        return
    console.print(f"{result.tokens:,} tokens in {result.seconds:.1f}s", markup=False)
    memory = "with memory" if result.memory else "without memory"
    if reset_every is not None:
        memory = f"with memory emptied every {reset_every} segments"
    sys.stdout.write(
        f"perplexity {result.perplexity:.4f} ({result.bits_per_token:.4f} bits/token, "
        f"{memory}) over {result.tokens:,} tokens\n"
    )


def register(app: typer.Typer) -> None:
    eval_app.command("perplexity")(guarded(perplexity))
    app.add_typer(eval_app, name="eval")
