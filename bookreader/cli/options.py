"""The options the book commands share, as `Annotated` aliases: one definition each, with their
choices as Enums (so `--help` and shell completion list them) and the environment variables a
user would expect (`BOOKREADER_ENGINE`, `BOOKREADER_MODEL`, `BOOKREADER_DEVICE`).

Precedence: a flag, then its environment variable, then `config.toml`, then the built-in default.
"""

from __future__ import annotations

from enum import Enum
from pathlib import Path
from typing import Annotated, Any

import typer


class EngineName(str, Enum):
    extractive = "extractive"
    infini = "infini"


class Length(str, Enum):
    short = "short"
    medium = "medium"
    long = "long"


class Strategy(str, Enum):
    hierarchical = "hierarchical"
    memory = "memory"


class Format(str, Enum):
    text = "text"
    markdown = "markdown"
    json = "json"


def plain(value: Any) -> Any:
    """An Enum choice as its string (what Settings, JSON and config.toml hold)."""
    return value.value if isinstance(value, Enum) else value


BookArg = Annotated[Path, typer.Argument(help="PDF, EPUB, TXT or MD file.", show_default=False)]

EngineOpt = Annotated[
    EngineName | None,
    typer.Option(
        "--engine",
        "-e",
        envvar="BOOKREADER_ENGINE",
        help="extractive (default, no model) or infini (neural; --model implies it).",
        show_default=False,
    ),
]
ModelOpt = Annotated[
    str | None,
    typer.Option(
        "--model",
        "-m",
        envvar="BOOKREADER_MODEL",
        help="Neural model: hub id, local folder or checkpoint folder (implies --engine infini).",
        show_default=False,
    ),
]
DeviceOpt = Annotated[
    str | None,
    typer.Option(
        "--device",
        envvar="BOOKREADER_DEVICE",
        help="infini engine: cpu, cuda, cuda:N or mps (default: cuda when present).",
        show_default=False,
    ),
]
FormatOpt = Annotated[
    Format | None,
    typer.Option("--format", "-f", help="Output format (default text).", show_default=False),
]
JsonOpt = Annotated[bool, typer.Option("--json", help="Same as --format json.")]
# A string, not a Path: Path("") is ".", and `--out ""` must be refused, not write into the
# current folder.
OutOpt = Annotated[
    str | None,
    typer.Option(
        "--out",
        "-o",
        metavar="FILE",
        help="Write the result to this file (atomically; its folder must exist).",
        show_default=False,
    ),
]
LengthOpt = Annotated[
    Length | None,
    typer.Option("--length", "-l", help="Summary length (default medium).", show_default=False),
]
StrategyOpt = Annotated[
    Strategy | None,
    typer.Option("--strategy", help="infini summaries (default hierarchical).", show_default=False),
]
QuietOpt = Annotated[bool, typer.Option("--quiet", "-q", help="No progress on stderr.")]


def chapter_option(help_text: str) -> Any:
    """`--chapter N`: each command says in its own words what the chapter limits."""
    return typer.Option(None, "--chapter", "-c", help=help_text)
