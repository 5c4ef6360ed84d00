"""The command line's error contract, over every registered command (found by introspecting the
Typer app, so a command added later is held to it too): hostile paths and options end with one
`bookreader: error:` line on stderr, no traceback, and the documented exit code.

- a book path that does not exist or is a folder: 2; a file that is no book: 4 (2 for a recipe);
- a folder path that is a file: 2;
- `--out` empty, a folder (or a file, for an output folder), under /proc, under a regular file,
  in a read-only folder: 2, before any work, and nothing written;
- a cache folder that cannot be written: the command still answers, with one warning;
- a closed stdout pipe: exit 0, nothing on stderr; an absent CUDA device: 2; `--model` implies
  the infini engine; options list their choices and environment variables in --help."""

from __future__ import annotations

import inspect
import os
import re
import shutil
import subprocess
import sys
import typing
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import torch
import typer
from typer.testing import CliRunner

from bookreader import paths
from bookreader.cli.app import app

ROOT = Path(__file__).resolve().parents[1]
SAMPLES = ROOT / "samples"
BOOK = SAMPLES / "harbour-notes.txt"
MODEL = ROOT / "models" / "passkey-tiny"
RECIPE = MODEL / "stage1.toml"
DOCUMENTED_EXIT_CODES = {0, 1, 2, 3, 4}
FOLDER_ARGUMENTS = {"folder", "run_dir"}  # positional paths that name a folder, not a file
OUT_FOLDER_COMMANDS = {"batch", "train"}  # whose --out names a folder
IS_ROOT = hasattr(os, "geteuid") and os.geteuid() == 0

runner = CliRunner()


# -- introspection --------------------------------------------------------------------------------


def callbacks(typer_app: typer.Typer, prefix: tuple[str, ...] = ()) -> Iterator[tuple]:
    """(command path, Python callback) for every command, sub-apps included."""
    for info in typer_app.registered_commands:
        name = info.name or info.callback.__name__.replace("_", "-")
        yield (*prefix, name), info.callback
    for group in typer_app.registered_groups:
        sub = group.typer_instance
        yield from callbacks(sub, (*prefix, group.name or sub.info.name))


def path_parameters(callback: Callable[..., Any]) -> set[str]:
    """The names of the callback's parameters typed Path (or Path | None)."""
    hints = typing.get_type_hints(inspect.unwrap(callback))
    return {
        name
        for name, hint in hints.items()
        if hint is Path or Path in typing.get_args(hint)  # Path | None
    }


def click_commands() -> dict[tuple[str, ...], Any]:
    found: dict[tuple[str, ...], Any] = {}

    def walk(group: Any, prefix: tuple[str, ...]) -> None:
        for name, command in group.commands.items():
            if hasattr(command, "commands"):
                walk(command, (*prefix, name))
            else:
                found[(*prefix, name)] = command

    walk(typer.main.get_command(app), ())
    return found


COMMANDS = click_commands()
CALLBACKS = dict(callbacks(app))


def test_introspection_sees_every_command() -> None:
    assert set(COMMANDS) == set(CALLBACKS)
    assert {("info",), ("ask",), ("batch",), ("cache", "list"), ("eval", "perplexity")} <= set(
        COMMANDS
    )


def base_arguments(command: tuple[str, ...], tmp_path: Path) -> dict[str, list[str]]:
    """Valid values for every positional argument and required option, by parameter name."""
    values: dict[str, list[str]] = {}
    paths_of = path_parameters(CALLBACKS[command])
    for param in COMMANDS[command].params:
        if param.param_type_name == "argument":
            if param.name in FOLDER_ARGUMENTS:
                library = tmp_path / "library"
                library.mkdir(exist_ok=True)
                shutil.copy(BOOK, library / BOOK.name)
                values[param.name] = [str(library)]
            elif param.name == "recipe":
                values[param.name] = [str(RECIPE)]
            elif param.name in paths_of:
                values[param.name] = [str(BOOK)]
            elif param.required:
                values[param.name] = ["Who keeps the harbour light?"]
        elif param.required:
            flag = param.opts[0]
            if flag == "--model":
                values[param.name] = [flag, str(MODEL)]
            elif flag == "--out":
                values[param.name] = [flag, str(tmp_path / "out")]
            else:
                pytest.fail(f"{' '.join(command)}: teach this test a value for {flag}")
    return values


def invoke(command: tuple[str, ...], values: dict[str, list[str]]) -> Any:
    """The command with positionals in declaration order, then options."""
    params = COMMANDS[command].params
    positional = [
        values[p.name][0] for p in params if p.param_type_name == "argument" and p.name in values
    ]
    options = [v for p in params if p.param_type_name == "option" for v in values.get(p.name, [])]
    return runner.invoke(app, [*command, *positional, *options])


def ident(value: Any) -> str:
    return "-".join(value) if isinstance(value, tuple) else str(value)


def assert_one_error_line(result: Any, code: int | set[int], *words: str) -> None:
    codes = {code} if isinstance(code, int) else code
    output = result.stdout + result.stderr
    assert "Traceback" not in output, output[-2000:]
    assert result.exit_code in codes, (result.exit_code, result.stderr)
    lines = result.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("bookreader: error: "), result.stderr
    for word in words:
        assert word in lines[0], (word, lines[0])


# -- hostile paths --------------------------------------------------------------------------------

PATH_TARGETS = [
    (command, name)
    for command, click_command in COMMANDS.items()
    for param in click_command.params
    if param.param_type_name == "argument"
    and (name := param.name) in path_parameters(CALLBACKS[command])
]


def test_every_book_command_has_a_path_target() -> None:
    targets = {command for command, _ in PATH_TARGETS}
    assert {("info",), ("summarize",), ("ask",), ("read",), ("chat",), ("batch",)} <= targets
    assert {("train",), ("eval", "perplexity")} <= targets


@pytest.mark.parametrize(("command", "name"), PATH_TARGETS, ids=ident)
def test_a_path_that_does_not_exist_is_a_usage_error(
    command: tuple[str, ...], name: str, tmp_path: Path
) -> None:
    values = base_arguments(command, tmp_path)
    missing = tmp_path / "absent" / "nothing.epub"
    values[name] = [str(missing)]
    result = invoke(command, values)
    kind = "folder" if name in FOLDER_ARGUMENTS else "file"
    assert_one_error_line(result, 2, str(missing), f"no such {kind}")


@pytest.mark.parametrize(("command", "name"), PATH_TARGETS, ids=ident)
def test_a_path_of_the_wrong_kind_is_a_usage_error(
    command: tuple[str, ...], name: str, tmp_path: Path
) -> None:
    values = base_arguments(command, tmp_path)
    if name in FOLDER_ARGUMENTS:
        values[name] = [str(BOOK)]
        assert_one_error_line(invoke(command, values), 2, "not a folder")
    else:
        values[name] = [str(tmp_path)]
        assert_one_error_line(invoke(command, values), 2, str(tmp_path), "is a folder")


@pytest.mark.parametrize(
    ("command", "name"),
    [t for t in PATH_TARGETS if t[1] not in FOLDER_ARGUMENTS],
    ids=ident,
)
def test_a_file_that_is_no_book_is_unreadable(
    command: tuple[str, ...], name: str, tmp_path: Path
) -> None:
    if command == ("chat",):
        pytest.skip("the terminal app shows the loader's error on screen first (test_tui_real)")
    values = base_arguments(command, tmp_path)
    junk = tmp_path / "junk.epub"
    junk.write_bytes(b"\x00\x01 not a zip, not TOML \xff" * 20)
    values[name] = [str(junk)]
    result = invoke(command, values)
    expected = 4 if name == "book" else 2  # a recipe that is not TOML is a usage error
    assert_one_error_line(result, expected, "junk.epub")


# -- hostile --out --------------------------------------------------------------------------------

OUT_COMMANDS = [
    command
    for command, click_command in COMMANDS.items()
    if any("--out" in p.opts for p in click_command.params)
]


def hostile_outs(tmp_path: Path, folder: bool) -> list[tuple[str, str]]:
    """(value, words in the error) for an --out that names a file, or a folder."""
    a_file = tmp_path / "plain-file"
    a_file.write_text("not a folder")
    outs = [
        ("", "--out"),
        ("/proc/version", "/proc"),
        (str(a_file / "sub" / "x"), str(a_file)),
        (str(tmp_path / "no" / "such" / "x"), "no such folder"),
    ]
    outs.append((str(a_file), "not a folder") if folder else (str(tmp_path), "is a folder"))
    if not IS_ROOT:  # root writes into a chmod 0555 folder regardless
        read_only = tmp_path / "read-only"
        read_only.mkdir()
        read_only.chmod(0o555)
        outs.append((str(read_only / "x"), "cannot write"))
    return outs


def test_out_commands_are_known() -> None:
    assert {("summarize",), ("ask",), ("read",), ("batch",), ("train",)} <= set(OUT_COMMANDS)


@pytest.mark.parametrize("command", OUT_COMMANDS, ids=ident)
def test_an_unwritable_out_is_a_usage_error_before_any_work(
    command: tuple[str, ...], tmp_path: Path
) -> None:
    folder = command[-1] in OUT_FOLDER_COMMANDS
    for value, words in hostile_outs(tmp_path, folder):
        values = base_arguments(command, tmp_path)
        out_param = next(p.name for p in COMMANDS[command].params if "--out" in p.opts)
        values[out_param] = ["--out", value]
        if command == ("train",):
            values["steps"] = ["--steps", "1"]  # bounded, should the check ever let it through
        before = sorted(p.name for p in Path.cwd().iterdir())
        result = invoke(command, values)
        assert_one_error_line(result, 2, words)
        assert result.stdout == ""
        assert sorted(p.name for p in Path.cwd().iterdir()) == before  # `--out ""` wrote nothing
        assert not list(paths.cache_dir().rglob("*")), "the book was read before the check"


def test_out_to_a_device_is_refused(tmp_path: Path) -> None:
    result = runner.invoke(app, ["summarize", str(BOOK), "--out", os.devnull])
    assert_one_error_line(result, 2, "not a regular file")
    assert Path(os.devnull).is_char_device()


# -- the cache folder -----------------------------------------------------------------------------


def unusable_cache_dirs(tmp_path: Path) -> list[Path]:
    a_file = tmp_path / "cache-is-a-file"
    a_file.write_text("")
    found = [a_file / "sub"]
    if not IS_ROOT:
        read_only = tmp_path / "read-only-cache"
        read_only.mkdir()
        read_only.chmod(0o555)
        found.append(read_only)
    return found


@pytest.mark.parametrize(
    "args",
    [
        ["ask", str(BOOK), "Who keeps the harbour light?"],
        ["summarize", str(BOOK), "--length", "short"],
        ["read", str(BOOK)],
    ],
    ids=lambda a: a[0],
)
def test_an_unwritable_cache_costs_one_warning_not_the_answer(
    args: list[str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    for cache in unusable_cache_dirs(tmp_path):
        monkeypatch.setenv("BOOKREADER_CACHE_DIR", str(cache))
        result = runner.invoke(app, args)
        assert result.exit_code == 0, result.stderr
        assert result.stdout.strip()
        lines = result.stderr.splitlines()
        assert len(lines) == 1 and lines[0].startswith("bookreader: warning: cache not used:")
        assert str(cache) in lines[0] or str(cache.parent) in lines[0]


def test_batch_with_an_unwritable_cache_warns_once(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    library = tmp_path / "library"
    library.mkdir()
    for name in ("harbour-notes.txt", "the-lighthouse-keepers-ledger.txt"):
        shutil.copy(SAMPLES / name, library / name)
    monkeypatch.setenv("BOOKREADER_CACHE_DIR", str(unusable_cache_dirs(tmp_path)[0]))
    result = runner.invoke(app, ["batch", str(library), "--out", str(tmp_path / "out"), "-q"])
    assert result.exit_code == 0, result.stderr
    assert result.stderr.count("cache not used") == 1
    assert len(list((tmp_path / "out").glob("*.json"))) == 2


# -- engine, model and device ---------------------------------------------------------------------


def test_model_implies_the_neural_engine(monkeypatch: pytest.MonkeyPatch) -> None:
    # a passkey-only model asked to answer is refused by the infini engine: proof it was chosen
    result = runner.invoke(app, ["ask", str(BOOK), "Who?", "--model", str(MODEL)])
    assert_one_error_line(result, 2, "passkey")
    monkeypatch.setenv("BOOKREADER_MODEL", str(MODEL))
    assert_one_error_line(runner.invoke(app, ["ask", str(BOOK), "Who?"]), 2, "passkey")
    both = runner.invoke(app, ["ask", str(BOOK), "Who?", "--engine", "extractive"])
    assert_one_error_line(both, 2, "needs the infini engine")


def test_engine_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("BOOKREADER_ENGINE", "infini")
    result = runner.invoke(app, ["ask", str(BOOK), "Who?"])
    assert_one_error_line(result, 2, "the infini engine needs --model")
    monkeypatch.setenv("BOOKREADER_ENGINE", "neural")
    assert_one_error_line(runner.invoke(app, ["ask", str(BOOK), "Who?"]), 2, "'neural'")


@pytest.mark.skipif(torch.cuda.is_available(), reason="needs a machine without CUDA")
def test_readme_config_example_on_a_cpu_machine_is_one_line() -> None:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    example = re.search(r"```toml\n(.*?)```", readme, re.S)
    assert example and 'device = "cuda"' in example.group(1)
    (paths.config_dir() / "config.toml").write_text(example.group(1))
    result = runner.invoke(app, ["ask", str(BOOK), "Who keeps the harbour light?"])
    assert_one_error_line(result, 2, "device 'cuda'", "no CUDA GPU")
    flag = runner.invoke(app, ["summarize", str(BOOK), "-m", str(MODEL), "--device", "cuda:3"])
    assert_one_error_line(flag, 2, "cuda:3")


def test_help_lists_choices_and_environment_variables() -> None:
    text = runner.invoke(app, ["summarize", "--help"], env={"COLUMNS": "200"}).stdout
    for expected in (
        "extractive|infini",
        "short|medium|long",
        "hierarchical|memory",
        "text|markdown|json",
        "BOOKREADER_ENGINE",
        "BOOKREADER_MODEL",
        "BOOKREADER_DEVICE",
    ):
        assert expected in text, expected


def test_a_recipe_with_a_mistyped_value_is_a_usage_error(tmp_path: Path) -> None:
    recipe = tmp_path / "big.toml"
    text = RECIPE.read_text(encoding="utf-8")
    recipe.write_text(re.sub(r"(?m)^d_model = \d+", 'd_model = "big"', text))
    result = runner.invoke(app, ["train", str(recipe), "--out", str(tmp_path / "run")])
    assert_one_error_line(result, 2, "d_model must be int")
    assert not (tmp_path / "run").exists() or not any((tmp_path / "run").iterdir())


def test_unknown_options_are_one_line_too() -> None:
    result = runner.invoke(app, ["info", str(BOOK), "--bogus"])
    assert_one_error_line(result, 2, "--bogus", "--help")


# -- real processes: pipes ------------------------------------------------------------------------


def shell(command: str) -> subprocess.CompletedProcess[str]:
    """`command` in bash; its status is the first command's of the pipe."""
    env = dict(os.environ, PYTHONPATH=str(ROOT), OMP_NUM_THREADS="1")
    script = f"{command}; exit ${{PIPESTATUS[0]}}"
    return subprocess.run(
        ["bash", "-c", script], capture_output=True, text=True, env=env, timeout=120
    )


@pytest.mark.parametrize("json_flag", ["", "--json"])
@pytest.mark.parametrize("reader", ["head -1", "true"])
def test_a_closed_pipe_exits_0_quietly(json_flag: str, reader: str) -> None:
    book = SAMPLES / "the-lighthouse-keepers-ledger.epub"
    cli = f"{sys.executable} -m bookreader.cli.app"
    result = shell(f"{cli} info {book} {json_flag} | {reader}")
    assert result.returncode == 0, result.stderr
    assert result.stderr == ""
    if reader == "head -1":
        assert len(result.stdout.splitlines()) == 1


def test_a_real_process_error_is_one_line(tmp_path: Path) -> None:
    cli = f"{sys.executable} -m bookreader.cli.app"
    result = shell(f"{cli} summarize {BOOK} --out /proc/version")
    assert result.returncode == 2
    assert result.stderr.splitlines() == [
        "bookreader: error: --out /proc/version: cannot write in /proc (No such file or directory)"
    ] or (len(result.stderr.splitlines()) == 1 and "/proc" in result.stderr)
