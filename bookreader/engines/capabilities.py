"""What a model can do, read from its folder without loading it.

A model folder may hold `bookreader.json`: `{"capabilities": [...]}` with any of
"instructions" (follows a prompt: can answer and summarize), "continuation" (only continues
text: its output is labelled a raw continuation), "passkey" and "perplexity" (what the
`passkey` and `eval perplexity` commands measure). Without the file:
- a bookreader.infini checkpoint (a small byte-level model trained by this project) can do
  passkey retrieval and perplexity only;
- a Hugging Face model follows instructions when its tokenizer has a chat template, else it
  only continues text.
The file lives beside `config.json` rather than in it: the checkpoint's config holds exactly the
model's fields (`InfiniConfig` rejects unknown keys), and a card can change without retraining.
"""

from __future__ import annotations

import json
from pathlib import Path

from bookreader.errors import UsageError

CAPABILITIES_FILE = "bookreader.json"
INSTRUCTIONS, CONTINUATION, PASSKEY, PERPLEXITY = (
    "instructions",
    "continuation",
    "passkey",
    "perplexity",
)
KNOWN_CAPABILITIES = frozenset({INSTRUCTIONS, CONTINUATION, PASSKEY, PERPLEXITY})
NATIVE_DEFAULT = frozenset({PASSKEY, PERPLEXITY})  # byte-level, trained here: no instructions
COMMANDS = {
    PASSKEY: "passkey (`bookreader passkey`)",
    PERPLEXITY: "eval perplexity (`bookreader eval perplexity`)",
}


def declared_capabilities(folder: Path) -> frozenset[str] | None:
    """What the model folder's `bookreader.json` says the model can do, or None without one."""
    path = folder / CAPABILITIES_FILE
    if not path.is_file():
        return None
    try:
        listed = json.loads(path.read_text(encoding="utf-8")).get("capabilities")
    except (OSError, ValueError, AttributeError):
        listed = None
    if not isinstance(listed, list) or not set(listed) <= KNOWN_CAPABILITIES:
        known = ", ".join(sorted(KNOWN_CAPABILITIES))
        raise UsageError(f'{path}: "capabilities" must be a list of: {known}')
    return frozenset(listed)


def hugging_face_default(chat_template: bool) -> frozenset[str]:
    """What a Hugging Face model that declares nothing can do."""
    return frozenset({INSTRUCTIONS if chat_template else CONTINUATION, PERPLEXITY})


def has_chat_template(folder: Path) -> bool:
    """Whether a local Hugging Face folder's tokenizer carries a chat template."""
    if (folder / "chat_template.jinja").is_file() or (folder / "chat_template.json").is_file():
        return True
    config = folder / "tokenizer_config.json"
    try:
        return bool(json.loads(config.read_text(encoding="utf-8")).get("chat_template"))
    except (OSError, ValueError, AttributeError):
        return False


def static_capabilities(name: str) -> frozenset[str] | None:
    """What a local model folder can do, read without loading it; None for a hub id (known
    only once its tokenizer is loaded)."""
    folder = Path(name).expanduser()
    if not folder.is_dir():
        return None
    declared = declared_capabilities(folder)
    if declared is not None:
        return declared
    if is_native_checkpoint(folder):
        return NATIVE_DEFAULT
    return hugging_face_default(has_chat_template(folder))


def require_generation(model_id: str, capabilities: frozenset[str], task: str) -> None:
    """A usage error (exit 2) when the model can neither follow instructions nor continue
    text, naming what it can do instead."""
    if capabilities & {INSTRUCTIONS, CONTINUATION}:
        return
    can = ", ".join(COMMANDS[c] for c in sorted(capabilities) if c in COMMANDS) or "nothing"
    raise UsageError(
        f"model {model_id} cannot follow instructions, so it cannot {task}; it can do: {can}"
    )


def is_native_checkpoint(folder: Path) -> bool:
    """A bookreader.infini checkpoint: config.json holds InfiniConfig fields, no model_type."""
    config = folder / "config.json"
    if not folder.is_dir() or not config.is_file():
        return False
    try:
        data = json.loads(config.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return False
    return isinstance(data, dict) and "model_type" not in data and "d_model" in data
