"""The command line's one error boundary: every failure becomes one stderr line and an exit code.

Exit codes (README, "Exit codes"):

    0    success (also when stdout is a pipe closed early, as in `bookreader info BOOK | head -1`)
    1    runtime error: a model that cannot be loaded, a Ray cluster that cannot be reached, the
         system refusing a write midway (disk full, permission, read-only file system)
    2    usage error: bad option or config file, a book path that does not exist or is a
         folder, a folder path that is a file, an `--out` that cannot be written, a requested
         CUDA device that is absent
    3    `batch` finished, but some books failed (see OUT/failures.jsonl)
    4    unreadable input: a file that exists but cannot be read as a book
    130  interrupted (Ctrl-C)

The boundary is applied to every registered command by `guard_app` (so a command added later
is covered without remembering to), and `run` covers what happens outside a command (Click's
own output, the final flush of stdout).
"""

from __future__ import annotations

import errno
import functools
import os
import sys
from collections.abc import Callable
from typing import Any, TypeVar

import typer
from typer.core import TyperGroup

from bookreader.errors import BookreaderError

F = TypeVar("F", bound=Callable[..., Any])

EXIT_OK = 0
EXIT_RUNTIME = 1
EXIT_USAGE = 2
EXIT_BATCH_FAILURES = 3
EXIT_UNREADABLE = 4
EXIT_INTERRUPTED = 130

_GUARDED = "__bookreader_guarded__"


def error_line(message: str) -> None:
    """One line on stderr, whatever the message contains."""
    one_line = " ".join(str(message).split())
    sys.stderr.write(f"bookreader: error: {one_line}\n")
    sys.stderr.flush()


def os_error_message(error: OSError) -> str:
    """`PATH: reason` in words (no errno numbers, no Python class names)."""
    reason = error.strerror or (errno.errorcode.get(error.errno or 0) if error.errno else None)
    reason = reason or str(error) or type(error).__name__
    path = error.filename
    if path is not None and error.filename2 is not None:
        return f"{path} -> {error.filename2}: {reason}"
    return f"{path}: {reason}" if path is not None else reason


def quiet_broken_pipe() -> None:
    """The reader of stdout went away (`| head -1`): stop quietly, like other command-line
    tools. stdout is pointed at /dev/null so that Python's final flush cannot fail again."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    except (OSError, ValueError):  # no real file descriptor (a test runner's buffer)
        pass


def guarded(func: F) -> F:
    """Turn the project's errors and the system's (OSError) into one stderr line and their
    documented exit code, never a traceback. Applying it twice is harmless."""
    if getattr(func, _GUARDED, False):
        return func

    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return func(*args, **kwargs)
        except BookreaderError as error:
            error_line(str(error))
            raise typer.Exit(error.exit_code) from None
        except BrokenPipeError:
            quiet_broken_pipe()
            raise typer.Exit(EXIT_OK) from None
        except OSError as error:  # permission, read-only file system, no space, ...
            error_line(os_error_message(error))
            raise typer.Exit(EXIT_RUNTIME) from None
        except KeyboardInterrupt:
            error_line("interrupted")
            raise typer.Exit(EXIT_INTERRUPTED) from None

    setattr(wrapper, _GUARDED, True)
    return wrapper  # type: ignore[return-value]


def guard_app(app: typer.Typer) -> None:
    """Put every command of `app` and of its sub-apps (cache, eval, ...) behind `guarded`."""
    for command in app.registered_commands:
        if command.callback is not None:
            command.callback = guarded(command.callback)
    for group in app.registered_groups:
        if group.typer_instance is not None:
            guard_app(group.typer_instance)


# Click's exception classes, whether Typer vendors Click (0.2x) or uses it directly.
_USAGE_ERROR: type[Exception] = typer.BadParameter.__base__  # type: ignore[assignment]
_CLICK_EXCEPTION: type[Exception] = _USAGE_ERROR.__base__  # type: ignore[assignment]


class OneLineErrors(TyperGroup):
    """The root command group: Click's own usage errors (unknown option, a value not among the
    choices, a missing argument) become one `bookreader: error:` line naming the command's
    --help, exit 2, like every other error; help itself is unchanged."""

    def main(self, *args: Any, standalone_mode: bool = True, **kwargs: Any) -> Any:
        if not standalone_mode:
            return super().main(*args, standalone_mode=False, **kwargs)
        try:
            code = super().main(*args, standalone_mode=False, **kwargs)
        except _USAGE_ERROR as error:
            if type(error).__name__ == "NoArgsIsHelpError":  # `bookreader` alone: the help
                error.show()  # type: ignore[attr-defined]
                sys.exit(error.exit_code)  # type: ignore[attr-defined]
            ctx = getattr(error, "ctx", None)
            command = ctx.command_path if ctx is not None else "bookreader"
            error_line(f"{error.format_message()} (see `{command} --help`)")  # type: ignore[attr-defined]
            sys.exit(error.exit_code)  # type: ignore[attr-defined]
        except _CLICK_EXCEPTION as error:
            error_line(error.format_message())  # type: ignore[attr-defined]
            sys.exit(error.exit_code)  # type: ignore[attr-defined]
        except typer.Abort:
            error_line("aborted")
            sys.exit(EXIT_INTERRUPTED)
        sys.exit(code if isinstance(code, int) else EXIT_OK)


def run(app: typer.Typer) -> None:
    """The console script: the app, with a closed stdout pipe ending quietly (exit 0) even when
    it is only noticed at the final flush."""
    try:
        app()
    except BrokenPipeError:
        quiet_broken_pipe()
        sys.exit(EXIT_OK)
    except KeyboardInterrupt:
        error_line("interrupted")
        sys.exit(EXIT_INTERRUPTED)
    finally:
        try:
            sys.stdout.flush()
        except BrokenPipeError:
            quiet_broken_pipe()
