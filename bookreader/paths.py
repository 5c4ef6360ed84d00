"""Where bookreader keeps its files: platformdirs locations, each overridable by an environment
variable (tests point them at a temporary folder)."""

from __future__ import annotations

import os
from pathlib import Path

import platformdirs

APP = "bookreader"


def _dir(env_var: str, default: str) -> Path:
    override = os.environ.get(env_var)
    return Path(override) if override else Path(default)


def cache_dir() -> Path:
    """Book states (passage indexes, memory tensors). BOOKREADER_CACHE_DIR overrides."""
    return _dir("BOOKREADER_CACHE_DIR", platformdirs.user_cache_dir(APP))


def data_dir() -> Path:
    """Conversation histories. BOOKREADER_DATA_DIR overrides."""
    return _dir("BOOKREADER_DATA_DIR", platformdirs.user_data_dir(APP))


def config_dir() -> Path:
    """config.toml with user defaults. BOOKREADER_CONFIG_DIR overrides."""
    return _dir("BOOKREADER_CONFIG_DIR", platformdirs.user_config_dir(APP))
