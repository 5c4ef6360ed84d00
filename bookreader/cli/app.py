"""The Typer application. Each command lives in its own module and is registered here."""

from __future__ import annotations

import typer

from bookreader import __version__
from bookreader.cli.errors import OneLineErrors, guard_app, run

app = typer.Typer(
    name="bookreader",
    help="Whole-book analysis: summaries, questions across chapters, and chat about a book.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,
    cls=OneLineErrors,
)


def _version(value: bool) -> None:
    if value:
        typer.echo(f"bookreader {__version__}")
        raise typer.Exit()


@app.callback()
def root(
    version: bool = typer.Option(
        False, "--version", callback=_version, is_eager=True, help="Print the version and exit."
    ),
) -> None:
    """Whole-book analysis: summaries, questions across chapters, and chat about a book."""


def _register() -> None:
    # Command modules, one per command; each exposes `register(app)`. Add yours to the tuple.
    from bookreader.cli import ask, batch, cache, chat, info, passkey, read, summarize, train
    from bookreader.cli import eval as eval_cmd
    from bookreader.cli import map as map_cmd
    from bookreader.cli import plot as plot_cmd
    from bookreader.cli import serve as serve_cmd

    modules: tuple = (info, chat, summarize, ask, read, batch, cache, train, passkey, eval_cmd)
    modules += (map_cmd, plot_cmd, serve_cmd)
    for module in modules:
        module.register(app)


_register()
# One error boundary for every command, including those registered by modules added later.
guard_app(app)


def main() -> None:
    run(app)


if __name__ == "__main__":  # `python -m bookreader.cli.app` (torchrun, subprocesses)
    main()
