"""User defaults from `config.toml` in the platformdirs config folder (`paths.config_dir()`).

Command-line flags override the file; the file overrides the built-in defaults. Example:

    engine = "infini"            # extractive | infini
    model = "models/infini-tiny" # hub id, local folder or bookreader.infini checkpoint
    device = "cuda"              # cpu | cuda | cuda:1 | mps
    dtype = "bfloat16"           # float32 | bfloat16 | float16
    length = "short"             # short | medium | long
    strategy = "hierarchical"    # memory | hierarchical
    format = "markdown"          # text | markdown | json

A file that is not valid TOML, names an unknown key or gives a bad value is a usage error
(exit code 2, one line naming the file and the problem).
"""

from __future__ import annotations

import sys
from dataclasses import dataclass, fields, replace
from pathlib import Path
from typing import Any

from bookreader import paths
from bookreader.errors import UsageError

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - Python 3.10
    import tomli as tomllib

CONFIG_FILE = "config.toml"
CHOICES: dict[str, tuple[str, ...]] = {
    "engine": ("extractive", "infini"),
    "length": ("short", "medium", "long"),
    "strategy": ("memory", "hierarchical"),
    "format": ("text", "markdown", "json"),
    "dtype": ("float32", "bfloat16", "float16"),
}


@dataclass(frozen=True)
class Settings:
    engine: str = "extractive"
    model: str | None = None
    device: str | None = None
    dtype: str | None = None
    length: str = "medium"
    strategy: str = "hierarchical"
    format: str = "text"

    def override(self, **flags: Any) -> Settings:
        """These settings with every flag that was given (not None) taking precedence."""
        given = {k: v for k, v in flags.items() if v is not None}
        for key, value in given.items():
            _check(key, value, None)
        return replace(self, **given)


def config_path() -> Path:
    return paths.config_dir() / CONFIG_FILE


def _check(key: str, value: Any, where: str | None) -> None:
    """`where` is the config file, or None for a command-line flag."""
    setting = f"--{key} {value}" if where is None else f"{where}: {key} = {value!r}"
    if not isinstance(value, str):
        raise UsageError(f"{setting}: must be a string, not {type(value).__name__}")
    if key in CHOICES and value not in CHOICES[key]:
        raise UsageError(f"{setting}: not one of {', '.join(CHOICES[key])}")


def load_settings(path: Path | None = None) -> Settings:
    """Built-in defaults updated by the config file, when there is one."""
    path = path or config_path()
    if not path.is_file():
        return Settings()
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as error:
        raise UsageError(f"{path}: not valid TOML ({error})") from None
    except OSError as error:
        raise UsageError(f"{path}: cannot be read ({error.strerror})") from None
    known = {f.name for f in fields(Settings)}
    for key, value in data.items():
        if key not in known:
            raise UsageError(f"{path}: unknown setting {key!r} (known: {', '.join(sorted(known))})")
        _check(key, value, str(path))
    return replace(Settings(), **data)
