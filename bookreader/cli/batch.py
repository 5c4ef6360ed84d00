"""`bookreader batch DIR --out OUT`: summarize every book in a folder, resumably.

Every .pdf, .epub, .txt and .md under DIR (recursive, sorted) gets OUT/<name>.md and
OUT/<name>.json (schema bookreader.summary/1), where <name> is the book's path relative to DIR
without its suffix, folders joined by "__" (the suffix is kept, as "_epub", when two books would
share a name). Both files are written atomically: a temporary file inside OUT, then os.replace;
the JSON is replaced last, so it marks a finished book.

Resume (default): a book whose JSON is valid, was made from a file with the same sha256, and
whose Markdown exists is skipped, so a run killed at any moment and started again finishes the
rest without rewriting anything finished. `--force` redoes every book.

Failures do not stop the run: OUT/failures.jsonl holds one line per book that failed in this
run, {"path": str, "error": str, "exit_code": int, "warnings": [str], "time": ISO-8601 UTC},
rewritten atomically as each failure comes (a resumed run retries the failed books and
records them afresh; a run without failures removes the file); the exit code is then 3. Each book's loader warnings are one stderr line each ("bookreader:
warning: PATH: ..."), and in its JSON output (book.warnings).
`--jobs N` runs N local worker processes; `--ray-address ADDR` (the optional `ray` extra) sends
books to a Ray cluster instead ("local" starts a private local Ray instance); a cluster that
cannot be reached is one line naming the address (exit 1).

OUT is created when absent, but not its parent folders; OUT must be writable (checked before
any book is read). A cache folder that cannot be written is one warning; books are then read
without the cache.

`--json` prints a report on stdout: {"schema": "bookreader.batch/1", "out": str, "total": int,
"done": int, "skipped": int, "failed": int, "failures": [{"path", "error", "exit_code",
"warnings", "time"}], "warnings": [{"path": str, "warnings": [str]}] (books loaded with
warnings)}.
"""

from __future__ import annotations

import contextlib
import json
import os
import socket
import sys
from collections.abc import Callable, Iterator
from concurrent.futures import ProcessPoolExecutor, as_completed
from contextlib import contextmanager
from dataclasses import asdict
from datetime import datetime, timezone
from multiprocessing import get_context
from pathlib import Path
from typing import Any

import typer

from bookreader.cli import output
from bookreader.cli.checks import input_folder, output_folder, write_output
from bookreader.cli.common import EXIT_BATCH_FAILURES, guarded, warning_lines
from bookreader.cli.errors import os_error_message
from bookreader.cli.options import (
    DeviceOpt,
    EngineOpt,
    JsonOpt,
    LengthOpt,
    ModelOpt,
    QuietOpt,
    StrategyOpt,
)
from bookreader.config import Settings
from bookreader.engines.cache import file_sha256
from bookreader.errors import BookreaderError, UsageError

BOOK_SUFFIXES = (".pdf", ".epub", ".txt", ".md")
BATCH_SCHEMA = "bookreader.batch/1"
FAILURES_FILE = "failures.jsonl"

# -- planning -------------------------------------------------------------------------------------


def find_books(folder: Path, out: Path) -> list[Path]:
    """Every book under `folder`, sorted; nothing inside the output folder."""
    out = out.resolve()
    found = []
    for path in sorted(folder.rglob("*")):
        if path.suffix.lower() not in BOOK_SUFFIXES or not path.is_file():
            continue
        if out == path.resolve().parent or out in path.resolve().parents:
            continue
        found.append(path)
    return found


def output_names(books: list[Path], folder: Path) -> dict[Path, str]:
    """A unique output name per book: relative path, folders joined by '__', no suffix."""
    stems = {b: "__".join(b.relative_to(folder).with_suffix("").parts) for b in books}
    counts: dict[str, int] = {}
    for stem in stems.values():
        counts[stem] = counts.get(stem, 0) + 1
    return {
        b: stem if counts[stem] == 1 else f"{stem}_{b.suffix.lower().lstrip('.')}"
        for b, stem in stems.items()
    }


def is_finished(book: Path, out: Path, name: str) -> bool:
    """Both outputs exist and the JSON is valid and made from this very file."""
    markdown, document = out / f"{name}.md", out / f"{name}.json"
    if not markdown.is_file() or not document.is_file():
        return False
    try:
        data = json.loads(document.read_text(encoding="utf-8"))
        return data["book"]["sha256"] == file_sha256(book)
    except (OSError, ValueError, KeyError, TypeError):
        return False


def remove_stale_temporaries(out: Path) -> None:
    """Temporary files left by a run that was killed mid-write."""
    for path in out.glob(".*.tmp"):
        if path.is_file():
            path.unlink(missing_ok=True)


# -- one book (runs in a worker process) ---------------------------------------------------------

_ENGINES: dict[str, Any] = {}


def _engine(settings: Settings) -> Any:
    """One engine per worker process and settings: a neural model loads once, not per book."""
    key = json.dumps(asdict(settings), sort_keys=True)
    if key not in _ENGINES:
        _ENGINES[key] = output.build_engine(settings)
    return _ENGINES[key]


def summarize_book(book: str, out: str, name: str, settings: dict[str, Any]) -> dict[str, Any]:
    """Summarize one book into OUT/<name>.md and .json; never raises (spawn- and Ray-safe)."""
    from bookreader.engines.registry import read_book

    warnings: list[str] = []
    try:
        config = Settings(**settings)
        engine = _engine(config)
        # a cache that cannot be written costs a second read later, not this book; the main
        # process has already said so once
        state = read_book(Path(book), engine, cache=output.BestEffortCache(warn=False))
        warnings = list(state.book.warnings)
        summary = engine.summarize(state, length=config.length)
        document = output.summary_document(summary, state)
        document["book"]["sha256"] = file_sha256(Path(book))  # what resume compares against
        markdown = output.render_summary(summary, state, "markdown")
        write_output(Path(out) / f"{name}.md", markdown)
        write_output(Path(out) / f"{name}.json", output.dumps(document))  # the marker
        return {"path": book, "ok": True, "warnings": warnings}
    except BookreaderError as error:
        return {
            "path": book,
            "ok": False,
            "error": str(error),
            "exit_code": error.exit_code,
            "warnings": warnings,
        }
    except OSError as error:  # e.g. OUT filled up: this book failed, the others are kept
        return {
            "path": book,
            "ok": False,
            "error": os_error_message(error),
            "exit_code": 1,
            "warnings": warnings,
        }
    except Exception as error:  # one bad book must not end the run
        return {
            "path": book,
            "ok": False,
            "error": f"{type(error).__name__}: {error}",
            "exit_code": 1,
            "warnings": warnings,
        }


# -- running many ---------------------------------------------------------------------------------

Task = tuple[str, str, str, dict[str, Any]]


def run_serial(tasks: list[Task], jobs: int) -> Iterator[dict[str, Any]]:
    for task in tasks:
        yield summarize_book(*task)


def run_processes(tasks: list[Task], jobs: int) -> Iterator[dict[str, Any]]:
    # spawn: safe with torch and threads, and the same on Linux, macOS and Windows
    with ProcessPoolExecutor(max_workers=jobs, mp_context=get_context("spawn")) as pool:
        futures = [pool.submit(summarize_book, *task) for task in tasks]
        for future in as_completed(futures):
            yield future.result()


@contextlib.contextmanager
def native_stderr_muted() -> Iterator[None]:
    """Ray's C++ client writes a warning to file descriptor 2 for every failed connection retry
    (one a second while a port answers that is no Ray): hidden while connecting, since the one
    error line that follows says what failed."""
    sys.stderr.flush()
    saved = os.dup(2)
    try:
        with open(os.devnull, "wb") as null:
            os.dup2(null.fileno(), 2)
        yield
    finally:
        os.dup2(saved, 2)
        os.close(saved)


def run_ray(tasks: list[Task], address: str) -> Iterator[dict[str, Any]]:
    try:
        import ray
    except ImportError:
        raise UsageError(
            "--ray-address needs Ray: pip install 'bookreader[ray]' (or pip install ray)"
        ) from None
    if not ray.is_initialized():
        reachable_or_fail(address)
        try:
            with native_stderr_muted():
                if address == "local":
                    # address="local": a new private instance, never a cluster that a stale
                    # /tmp/ray/ray_current_cluster names (Ray would retry it for minutes)
                    ray.init(address="local", include_dashboard=False, log_to_driver=False)
                else:
                    ray.init(address=address, log_to_driver=False, logging_level="WARNING")
        except (ConnectionError, RuntimeError, ValueError) as error:
            # Ray's own message is many lines (and a traceback); the address is what matters
            reason = " ".join(str(error).split())[:200]
            raise BookreaderError(f"--ray-address {address}: cannot reach Ray ({reason})") from None
    remote = ray.remote(summarize_book)
    pending = [remote.remote(*task) for task in tasks]
    while pending:
        finished, pending = ray.wait(pending, num_returns=1)
        yield ray.get(finished[0])


def reachable_or_fail(address: str, timeout: float = 5.0) -> None:
    """A HOST:PORT address that nothing answers is one line at once: Ray itself retries for
    minutes, printing its own logs, before raising a ConnectionError with a traceback."""
    if address in ("local", "auto") or "://" in address:
        return
    host, _, port = address.rpartition(":")
    if not host or not port.isdigit():
        raise UsageError(f"--ray-address {address}: expected HOST:PORT or local")
    try:
        socket.create_connection((host.strip("[]"), int(port)), timeout=timeout).close()
    except OSError as error:
        reason = error.strerror or "timed out"
        raise BookreaderError(
            f"--ray-address {address}: no Ray cluster answers ({reason})"
        ) from None


def failure_record(result: dict[str, Any]) -> dict[str, Any]:
    return {
        "path": result["path"],
        "error": result["error"],
        "exit_code": result["exit_code"],
        "warnings": result.get("warnings", []),
        "time": datetime.now(timezone.utc).isoformat(timespec="seconds"),
    }


def write_failures(out: Path, failures: list[dict[str, Any]]) -> None:
    """OUT/failures.jsonl: exactly this run's failures, replaced atomically (a run killed midway
    leaves the previous complete file, never a torn one); no failures, no file."""
    path = out / FAILURES_FILE
    if not failures:
        path.unlink(missing_ok=True)
        return
    lines = "".join(json.dumps(record, ensure_ascii=False) + "\n" for record in failures)
    write_output(path, lines)


@contextmanager
def _book_progress(total: int, quiet: bool) -> Iterator[Callable[[dict[str, Any]], None]]:
    """Per-book progress: a Rich bar on a terminal, one plain line per book otherwise."""
    if output.progress_enabled(quiet):
        from rich.progress import BarColumn, MofNCompleteColumn, TextColumn

        columns = (
            TextColumn("Books"),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn("{task.description}"),
        )
        with output.stderr_progress(*columns) as bar:
            task = bar.add_task("", total=total)

            def advance(result: dict[str, Any]) -> None:
                bar.update(task, advance=1, description=Path(result["path"]).name)
                for warning in result.get("warnings", []):
                    bar.console.print(
                        f"bookreader: warning: {result['path']}: {warning}",
                        markup=False,
                        highlight=False,
                    )

            yield advance
        return
    count = 0

    def line(result: dict[str, Any]) -> None:
        nonlocal count
        count += 1
        status = "ok" if result["ok"] else f"failed: {result['error']}"
        output.note(f"[{count}/{total}] {result['path']}: {status}", quiet)
        warning_lines(result.get("warnings", []), result["path"])

    yield line


def batch(
    folder: Path = typer.Argument(
        ..., help="Folder of books (searched recursively).", show_default=False
    ),
    out_value: str = typer.Option(  # a string: Path("") would be the current folder
        ...,
        "--out",
        "-o",
        metavar="FOLDER",
        help="Output folder (created if absent; its parent must exist).",
        show_default=False,
    ),
    jobs: int = typer.Option(1, "--jobs", "-j", min=1, help="Local worker processes."),
    ray_address: str | None = typer.Option(
        None, "--ray-address", help="Ray cluster address, or 'local' (needs the ray extra)."
    ),
    force: bool = typer.Option(False, "--force", help="Redo books that are already finished."),
    length: LengthOpt = None,
    strategy: StrategyOpt = None,
    engine: EngineOpt = None,
    model: ModelOpt = None,
    device: DeviceOpt = None,
    as_json: JsonOpt = False,
    quiet: QuietOpt = False,
) -> None:
    """Summarize every PDF, EPUB, TXT and MD file under a folder into OUT (resumable)."""
    input_folder(folder)
    settings = output.settings_from(engine, model, device, None, False, length, strategy)
    output.require_before_loading(settings, "summarize")
    out = output_folder(out_value)
    output.BestEffortCache.checked()  # the one warning when the cache folder is unusable
    remove_stale_temporaries(out)
    books = find_books(folder, out)
    names = output_names(books, folder)
    todo = [b for b in books if force or not is_finished(b, out, names[b])]
    skipped = len(books) - len(todo)
    if skipped:
        output.note(f"Skipping {skipped} finished book{'s' if skipped != 1 else ''}.", quiet)
    tasks: list[Task] = [(str(b), str(out), names[b], asdict(settings)) for b in todo]
    if ray_address:
        results = run_ray(tasks, ray_address)
    elif jobs > 1 and len(tasks) > 1:
        results = run_processes(tasks, min(jobs, len(tasks)))
    else:
        results = run_serial(tasks, 1)
    failures: list[dict[str, Any]] = []
    warned: list[dict[str, Any]] = []
    with _book_progress(len(tasks), quiet) as show:
        for result in results:
            if not result["ok"]:
                failures.append(failure_record(result))
                write_failures(out, failures)
            if result.get("warnings"):
                warned.append({"path": result["path"], "warnings": result["warnings"]})
            show(result)
    write_failures(out, failures)  # also when none failed: the last run's list is stale
    done = len(tasks) - len(failures)
    if as_json:
        report = {
            "schema": BATCH_SCHEMA,
            "out": str(out),
            "total": len(books),
            "done": done,
            "skipped": skipped,
            "failed": len(failures),
            "failures": failures,
            "warnings": warned,
        }
        output.emit(output.dumps(report), None)
    summary = f"batch: {done} done, {skipped} skipped, {len(failures)} failed"
    if failures:
        summary += f" (see {out / FAILURES_FILE})"
    output.note(summary, quiet and not failures)
    sys.stderr.flush()
    if failures:
        raise typer.Exit(EXIT_BATCH_FAILURES)


def register(app: typer.Typer) -> None:
    app.command("batch")(guarded(batch))
