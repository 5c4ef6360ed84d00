"""What every command shares: the stderr console, one-line errors with documented exit codes,
and JSON output. Data goes to stdout; progress, warnings and errors go to stderr."""

from __future__ import annotations

import functools
import json
import os
import sys
from collections.abc import Callable
from typing import Any, TypeVar

import typer
from rich.console import Console

from bookreader.errors import BookreaderError

F = TypeVar("F", bound=Callable[..., Any])

EXIT_OK = 0
EXIT_RUNTIME = 1
EXIT_USAGE = 2
EXIT_BATCH_FAILURES = 3
EXIT_UNREADABLE = 4


def stderr_console() -> Console:
    """Rich on stderr; plain (no colour, no live bars) when stderr is not a TTY or NO_COLOR."""
    is_tty = sys.stderr.isatty()
    return Console(
        stderr=True,
        no_color=bool(os.environ.get("NO_COLOR")) or not is_tty,
        force_terminal=None if is_tty else False,
        highlight=False,
        soft_wrap=True,
    )


def error_line(message: str) -> None:
    """One line on stderr, whatever the message contains."""
    one_line = " ".join(str(message).split())
    sys.stderr.write(f"bookreader: error: {one_line}\n")
    sys.stderr.flush()


def warning_lines(warnings: list[str], source: str | None = None) -> None:
    """One stderr line per loader warning (what was skipped, guessed or repaired), whatever
    --quiet says: it changes what the output can be trusted for."""
    prefix = f"{source}: " if source else ""
    for warning in warnings:
        sys.stderr.write(f"bookreader: warning: {prefix}{' '.join(str(warning).split())}\n")
    sys.stderr.flush()


def guarded(func: F) -> F:
    """Turn the project's errors into one stderr line and their exit code, never a traceback."""

    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return func(*args, **kwargs)
        except BookreaderError as error:
            error_line(str(error))
            raise typer.Exit(error.exit_code) from None
        except KeyboardInterrupt:
            error_line("interrupted")
            raise typer.Exit(130) from None

    return wrapper  # type: ignore[return-value]


def print_json(data: Any) -> None:
    sys.stdout.write(json.dumps(data, ensure_ascii=False, indent=2) + "\n")
    sys.stdout.flush()
