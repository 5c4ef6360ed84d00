"""What every command shares: the stderr console, warning lines and JSON output. Data goes to
stdout; progress, warnings and errors go to stderr."""

from __future__ import annotations

import errno
import json
import os
import sys
from typing import Any

from rich.console import Console

from bookreader.cli.errors import (
    EXIT_BATCH_FAILURES,
    EXIT_OK,
    EXIT_RUNTIME,
    EXIT_UNREADABLE,
    EXIT_USAGE,
    error_line,
    guarded,
)

# The exit codes and the error boundary live in bookreader.cli.errors; re-exported here for the
# command modules that import them from common.
__all__ = [
    "EXIT_BATCH_FAILURES",
    "EXIT_OK",
    "EXIT_RUNTIME",
    "EXIT_UNREADABLE",
    "EXIT_USAGE",
    "error_line",
    "guarded",
    "print_json",
    "stderr_console",
    "stdout_console",
    "warning_lines",
]


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


class _StdoutConsole(Console):
    """Rich on stdout, whose closed pipe raises BrokenPipeError for the error boundary (exit 0)
    instead of Rich's own SystemExit(1)."""

    def on_broken_pipe(self) -> None:
        raise BrokenPipeError(errno.EPIPE, "stdout was closed")


def stdout_console(**options: Any) -> Console:
    """A Rich console for a command's data on stdout (tables); `options` as for Console."""
    return _StdoutConsole(**options)


def warning_lines(warnings: list[str], source: str | None = None) -> None:
    """One stderr line per loader warning (what was skipped, guessed or repaired), whatever
    --quiet says: it changes what the output can be trusted for."""
    prefix = f"{source}: " if source else ""
    for warning in warnings:
        sys.stderr.write(f"bookreader: warning: {prefix}{' '.join(str(warning).split())}\n")
    sys.stderr.flush()


def print_json(data: Any) -> None:
    sys.stdout.write(json.dumps(data, ensure_ascii=False, indent=2) + "\n")
    sys.stdout.flush()
