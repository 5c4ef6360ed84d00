"""README cannot drift from the command line:

- its command reference is exactly what `python -m bookreader.cli.reference` generates from the
  Typer app (every command and option, choices, environment variables);
- every command is also shown in README's prose or examples as `bookreader COMMAND`, and every
  `--option` README names anywhere exists;
- every JSON schema README lists has exactly the keys of a real document of that schema."""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from bookreader.cli import reference
from bookreader.cli.app import app

ROOT = Path(__file__).resolve().parents[1]
README = (ROOT / "README.md").read_text(encoding="utf-8")
SAMPLES = ROOT / "samples"
MODEL = ROOT / "models" / "passkey-tiny"
NOT_OURS = {"--nproc_per_node", "--write"}  # torchrun's; the reference generator's

runner = CliRunner()


def outside_reference(text: str) -> str:
    block = reference.readme_block(text)
    assert block is not None, "README has no generated command reference"
    return text.replace(block, "")


def test_the_command_reference_is_generated_from_the_app() -> None:
    block = reference.readme_block(README)
    assert block == reference.render(app), (
        "README's command reference is stale: run `python -m bookreader.cli.reference --write`"
    )


def test_every_command_and_option_is_in_the_reference() -> None:
    block = reference.readme_block(README) or ""
    for path, command, _ in reference.commands(app):
        assert f"bookreader {' '.join(path)}" in block
        for param in command.params:
            if param.param_type_name == "option" and not param.hidden:
                assert any(f"`{o}" in block or f" {o}" in block for o in param.opts), param.opts


def test_every_command_is_shown_in_the_prose_too() -> None:
    prose = outside_reference(README)
    missing = [
        " ".join(path)
        for path, _, _ in reference.commands(app)
        if not re.search(rf"bookreader {re.escape(' '.join(path))}\b", prose)
    ]
    assert not missing, f"README shows no example of: {missing}"


def known_options() -> set[str]:
    import typer

    found = {"--help"}
    root = typer.main.get_command(app)
    for param in root.params:
        found.update(param.opts)
    for _, command, _ in reference.commands(app):
        for param in command.params:
            found.update(param.opts)
            found.update(param.secondary_opts)
    return found


def test_every_option_readme_names_exists() -> None:
    named = set(re.findall(r"(?<![\w-])--[a-z][a-z0-9_-]*", README))
    unknown = named - known_options() - NOT_OURS
    assert not unknown, f"README names options the command line does not have: {sorted(unknown)}"


def test_the_reference_names_the_choices_and_variables() -> None:
    block = reference.readme_block(README) or ""
    for text in ("extractive\\|infini", "short\\|medium\\|long", "text\\|markdown\\|json"):
        assert text in block
    for variable in ("BOOKREADER_ENGINE", "BOOKREADER_MODEL", "BOOKREADER_DEVICE"):
        assert f"`{variable}`" in block


# -- JSON schemas ---------------------------------------------------------------------------------


def split_top(spec: str) -> list[str]:
    """`a, b: [{c, d}], e` -> ['a', 'b: [{c, d}]', 'e'] (commas at depth 0 only)."""
    parts, depth, current = [], 0, ""
    for char in spec:
        if char in "[{(":
            depth += 1
        elif char in "]})":
            depth -= 1
        if char == "," and depth == 0:
            parts.append(current)
            current = ""
        else:
            current += char
    parts.append(current)
    return [p.strip() for p in parts if p.strip()]


def parse_keys(spec: str) -> dict[str, Any]:
    """README's `{schema, path, chapters: [{index, title}], ...}` as {key: nested keys | None}."""
    spec = spec.strip()
    assert spec.startswith("{") and spec.endswith("}"), spec
    keys: dict[str, Any] = {}
    for part in split_top(spec[1:-1]):
        match = re.match(r"([a-z_0-9]+)", part)
        assert match, part
        nested = re.search(r"\[(\{.*\})\]", part[match.end() :], re.S)
        keys[match.group(1)] = parse_keys(nested.group(1)) if nested else None
    return keys


def documented_schemas() -> dict[str, dict[str, Any]]:
    section = README[README.index("### JSON output") :]
    section = section[: section.index("\n### ", 5)]
    found = {
        name: parse_keys(spec)
        for name, spec in re.findall(
            r"`(bookreader\.[\w.]+/\d+)`(?:(?!`bookreader\.).)*?`(\{[^`]*\})`", section, re.S
        )
    }
    shared = re.search(r"where `book` is `(\{[^`]*\})`, a citation is\s*`(\{[^`]*\})`", section)
    assert shared, "README no longer says what `book` and a citation are"
    found["book"], found["citation"] = parse_keys(shared.group(1)), parse_keys(shared.group(2))
    found["cache"] = parse_keys(re.search(r"`cache` is `(\{[^`]*\})`", section).group(1))
    failure = re.search(r"a batch failure is `(\{[^`]*\})`", section)
    found["failure"] = parse_keys(failure.group(1))
    return found


SCHEMAS = documented_schemas()


def check(document: dict[str, Any], keys: dict[str, Any], where: str) -> None:
    assert set(document) == set(keys), (where, sorted(set(document) ^ set(keys)))
    for key, nested in keys.items():
        if nested is not None:
            assert isinstance(document[key], list), (where, key)
            for item in document[key]:
                check(item, nested, f"{where}.{key}[]")


def test_readme_lists_every_schema() -> None:
    expected = {
        "bookreader.info/1",
        "bookreader.summary/1",
        "bookreader.answer/1",
        "bookreader.read/1",
        "bookreader.cache/1",
        "bookreader.batch/1",
        "bookreader.passkey/1",
        "bookreader.eval.perplexity/1",
        "bookreader.train/1",
    }
    assert expected <= set(SCHEMAS)


def run_json(*args: str) -> dict[str, Any]:
    result = runner.invoke(app, [*args])
    assert result.exit_code in (0, 3), (args, result.stderr)
    return json.loads(result.stdout)


def check_book_parts(document: dict[str, Any]) -> None:
    check(document["book"], SCHEMAS["book"], "book")
    check(document["cache"], SCHEMAS["cache"], "cache")
    for citation in document["citations"]:
        check(citation, SCHEMAS["citation"], "citation")
        pages = citation["pages"]
        assert pages is None or all(isinstance(p, str) for p in pages)


@pytest.fixture(scope="module")
def pdf() -> Path:
    return SAMPLES / "the-lighthouse-keepers-ledger.pdf"


def test_info_schema(pdf: Path) -> None:
    document = run_json("info", str(pdf), "--json")
    assert document["schema"] == "bookreader.info/1"
    check(document, SCHEMAS["bookreader.info/1"], "info")
    pages = [c["pages"] for c in document["chapters"]]
    assert pages and all(isinstance(label, str) for span in pages for label in span)


def test_summary_answer_read_and_cache_schemas(pdf: Path) -> None:
    summary = run_json("summarize", str(pdf), "--length", "short", "--json")
    assert summary["schema"] == "bookreader.summary/1"
    check(summary, SCHEMAS["bookreader.summary/1"], "summary")
    check_book_parts(summary)
    for chapter in summary["chapters"]:
        for citation in chapter["citations"]:
            check(citation, SCHEMAS["citation"], "chapter citation")
    answer = run_json("ask", str(pdf), "Who found the tin hidden under the third stair?", "--json")
    assert answer["schema"] == "bookreader.answer/1" and answer["citations"]
    check(answer, SCHEMAS["bookreader.answer/1"], "answer")
    check_book_parts(answer)
    read = run_json("read", str(pdf), "--json")
    assert read["schema"] == "bookreader.read/1"
    check(read, SCHEMAS["bookreader.read/1"], "read")
    cache = run_json("cache", "list", "--json")
    assert cache["schema"] == "bookreader.cache/1" and cache["entries"]
    check(cache, SCHEMAS["bookreader.cache/1"], "cache list")


def test_batch_schema(tmp_path: Path) -> None:
    library = tmp_path / "library"
    library.mkdir()
    shutil.copy(SAMPLES / "harbour-notes.txt", library / "harbour-notes.txt")
    (library / "broken.epub").write_bytes(b"not a zip")
    report = run_json("batch", str(library), "--out", str(tmp_path / "out"), "--json")
    assert report["schema"] == "bookreader.batch/1" and report["failures"]
    check(report, SCHEMAS["bookreader.batch/1"], "batch")
    for failure in report["failures"]:
        check(failure, SCHEMAS["failure"], "failure")
    line = (tmp_path / "out" / "failures.jsonl").read_text().splitlines()[0]
    check(json.loads(line), SCHEMAS["failure"], "failures.jsonl")
    summary = json.loads((tmp_path / "out" / "harbour-notes.json").read_text())
    check(summary, SCHEMAS["bookreader.summary/1"], "batch summary")


def test_passkey_eval_and_train_schemas(tmp_path: Path) -> None:
    passkey = run_json(
        "passkey", "--model", str(MODEL), "--lengths", "512", "--positions", "start",
        "--trials", "1", "--json",
    )  # fmt: skip
    assert passkey["schema"] == "bookreader.passkey/1"
    check(passkey, SCHEMAS["bookreader.passkey/1"], "passkey")
    book = SAMPLES / "harbour-notes.txt"
    perplexity = run_json(
        "eval", "perplexity", str(book), "--model", str(MODEL), "--max-tokens", "300", "--json"
    )
    assert perplexity["schema"] == "bookreader.eval.perplexity/1"
    check(perplexity, SCHEMAS["bookreader.eval.perplexity/1"], "eval perplexity")
    recipe = MODEL / "stage1.toml"
    run = tmp_path / "run"
    trained = run_json("train", str(recipe), "--steps", "1", "--out", str(run), "--json")
    assert trained["schema"] == "bookreader.train/1"
    check(trained, SCHEMAS["bookreader.train/1"], "train")
