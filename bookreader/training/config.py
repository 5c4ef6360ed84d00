"""A training recipe: one TOML file with [model], [data] and [train] tables.

    [model]                    # InfiniConfig fields (standalone model), or `hf = "path or id"`
    d_model = 64
    n_layers = 3
    segment_len = 256
    memory_update = "delta"   # ("update" in older recipes: still read)

    [data]
    passkey_weight = 1.0       # share of batches that are passkey trials
    books = []                 # folders or files read through bookreader.loaders
    books_weight = 0.0         # share of batches that are windows of those books
    segments_min = 2           # training inputs hold segments_min .. segments_max segments
    segments_max = 6
    curriculum_steps = 300     # segments_max and amplify_max grow to their final value by then
    amplify_prob = 0.7         # see data.py: filler memory amplification
    amplify_max = 4096.0
    lm_weight = 0.2            # next-token loss weight beside the key-digit loss
    copy_weight = 0.0          # loss on the needle's own repeat of its key (a local lookup)
    spacer_prob = 0.0          # share of trials with 0-4 filler sentences between the copies
    local_prob = 0.0           # share of trials with the needle in the question's segment ...
    local_until = 0            # ... during the first local_until steps (0: all along)
    end_prob = 0.0             # share of trials with the needle as late as allowed
    recall_weight = 0.0        # share of batches that are recall drills (data.recall_drill)
    intro = true               # false: no trial opens with the paper's introduction
    intro_prob = 1.0           # with intro = true, the share of trials that open with it
    exact_length = false       # true: every trial is a whole number of segments (one layout)
    haystack_books = []        # books whose text (digits removed) hides needles ...
    haystack_prob = 0.0        # ... in this share of the trials (the others: the filler)

    [train]
    steps = 1000
    batch_size = 16
    lr = 2e-3
    init_from = ""             # a saved model folder to start from: the next curriculum stage
    ...

Unknown keys and wrong types are usage errors (exit code 2), reported in one line.
"""

from __future__ import annotations

import sys
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any

from bookreader.errors import UsageError

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - Python 3.10 (tomli is a dependency there)
    import tomli as tomllib


@dataclass
class DataConfig:
    passkey_weight: float = 1.0
    books: list[str] = field(default_factory=list)
    books_weight: float = 0.0
    segments_min: int = 2
    segments_max: int = 6
    curriculum_steps: int = 0  # 0: no curriculum, the final values from the first step
    amplify_prob: float = 0.0
    amplify_max: float = 1.0
    lm_weight: float = 0.2
    copy_weight: float = 0.0  # loss weight of the needle's own repeat of the key (local lookup)
    intro: bool = True  # trials open with the paper's introduction (false: filler only)
    intro_prob: float = 1.0  # with intro: the share of trials that open with it
    # False: a trial of n segments has any length in [(n - 1) * segment_len, n * segment_len],
    # so the question starts at any offset of its segment; true: exactly n segments.
    exact_length: bool = False
    haystack_books: list[str] = field(default_factory=list)  # real text to hide needles in
    haystack_prob: float = 0.0  # share of passkey trials whose haystack is one of those books
    recall_weight: float = 0.0  # share of batches that are recall drills (see data.py)
    spacer_prob: float = 0.0  # share of trials whose needle repeats its key after 0-4 sentences
    local_prob: float = 0.0  # share of trials with the needle in the question's segment
    local_until: int = 0  # ... during the first local_until steps only (0: all along)
    # Share of trials with the needle as late as allowed (it ends just before the question's
    # segment), a place that uniform depths rarely draw in long trials.
    end_prob: float = 0.0

    def validate(self) -> None:
        if self.passkey_weight < 0 or self.books_weight < 0:
            raise UsageError("[data] weights must be >= 0")
        if self.recall_weight < 0:
            raise UsageError("[data] recall_weight must be >= 0")
        if self.passkey_weight + self.books_weight + self.recall_weight <= 0:
            raise UsageError("[data] needs passkey_weight or books_weight above 0")
        if self.books_weight > 0 and not self.books:
            raise UsageError("[data] books_weight > 0 needs a list of books")
        if not 1 <= self.segments_min <= self.segments_max:
            raise UsageError("[data] needs 1 <= segments_min <= segments_max")
        if self.passkey_weight > 0 and self.segments_min < 2:
            raise UsageError("[data] passkey trials need segments_min >= 2")
        if not 0.0 <= self.local_prob <= 1.0 or self.local_until < 0:
            raise UsageError("[data] needs 0 <= local_prob <= 1 and local_until >= 0")
        if not 0.0 <= self.end_prob <= 1.0:
            raise UsageError("[data] needs 0 <= end_prob <= 1")
        if not 0.0 <= self.intro_prob <= 1.0 or not 0.0 <= self.haystack_prob <= 1.0:
            raise UsageError("[data] needs 0 <= intro_prob <= 1 and 0 <= haystack_prob <= 1")
        if self.haystack_prob > 0 and not self.haystack_books:
            raise UsageError("[data] haystack_prob > 0 needs a list of haystack_books")
        if not 0.0 <= self.amplify_prob <= 1.0 or self.amplify_max < 1.0:
            raise UsageError("[data] needs 0 <= amplify_prob <= 1 and amplify_max >= 1")


@dataclass
class TrainConfig:
    steps: int = 1000
    batch_size: int = 16
    lr: float = 2e-3
    beta_lr: float = 1e-2  # the gates β: own group, own learning rate, no weight decay
    weight_decay: float = 0.01
    adam_betas: tuple[float, float] = (0.9, 0.95)
    warmup_steps: int = 50
    min_lr_ratio: float = 0.1  # cosine decays to lr * min_lr_ratio
    grad_clip: float = 1.0
    seed: int = 0
    out_dir: str = "runs/train"
    checkpoint_every: int = 100
    log_every: int = 10
    threads: int = 0  # CPU threads for torch; 0 leaves torch's default
    device: str = "auto"  # auto: CUDA when present, else CPU
    max_minutes: float = 0.0  # stop (and checkpoint) after this wall time; 0: no limit
    init_from: str = ""  # a saved model folder whose weights start the run (curriculum stages)

    def validate(self) -> None:
        if self.steps < 1 or self.batch_size < 1:
            raise UsageError("[train] steps and batch_size must be >= 1")
        if self.lr <= 0 or self.beta_lr <= 0:
            raise UsageError("[train] lr and beta_lr must be > 0")
        if self.warmup_steps < 0 or not 0.0 <= self.min_lr_ratio <= 1.0:
            raise UsageError("[train] needs warmup_steps >= 0 and 0 <= min_lr_ratio <= 1")
        if self.checkpoint_every < 1 or self.log_every < 1:
            raise UsageError("[train] checkpoint_every and log_every must be >= 1")


@dataclass
class Recipe:
    model: dict[str, Any]  # InfiniConfig fields, or {"hf": ..., "gate_init": ...}
    data: DataConfig
    train: TrainConfig
    source: str = ""  # the recipe file, for the record

    def to_dict(self) -> dict[str, Any]:
        return {"model": dict(self.model), "data": asdict(self.data), "train": asdict(self.train)}

    @classmethod
    def from_dict(cls, raw: dict[str, Any], source: str = "") -> Recipe:
        unknown = set(raw) - {"model", "data", "train"}
        if unknown:
            raise UsageError(f"{source or 'recipe'}: unknown tables {sorted(unknown)}")
        data = _section(DataConfig, raw.get("data", {}), "data")
        train = _section(TrainConfig, raw.get("train", {}), "train")
        data.validate()
        train.validate()
        model = dict(raw.get("model", {}))
        _check_model(model)
        return cls(model, data, train, source)


def load_recipe(path: str | Path) -> Recipe:
    path = Path(path)
    if not path.is_file():
        raise UsageError(f"no recipe file at {path}")
    try:
        raw = tomllib.loads(path.read_text(encoding="utf-8"))
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as error:
        raise UsageError(f"{path} is not valid TOML: {error}") from None
    return Recipe.from_dict(raw, str(path))


def _section(kind: type, raw: Any, name: str) -> Any:
    if not isinstance(raw, dict):
        raise UsageError(f"[{name}] must be a table")
    known = {f.name: f for f in fields(kind)}
    unknown = set(raw) - set(known)
    if unknown:
        raise UsageError(f"[{name}] has unknown keys {sorted(unknown)}")
    values = {}
    default = kind()
    for key, value in raw.items():
        expected = getattr(default, key)
        values[key] = _coerce(value, expected, f"[{name}] {key}")
    return kind(**values)


def _coerce(value: Any, expected: Any, where: str) -> Any:
    """The TOML value in the type of the field's default (int accepted where float is)."""
    if isinstance(expected, bool):
        if not isinstance(value, bool):
            raise UsageError(f"{where} must be true or false")
        return value
    if (
        isinstance(expected, float)
        and isinstance(value, (int, float))
        and not isinstance(value, bool)
    ):
        return float(value)
    if isinstance(expected, tuple):
        if not isinstance(value, list) or len(value) != len(expected):
            raise UsageError(f"{where} must be a list of {len(expected)} numbers")
        return tuple(float(v) for v in value)
    if isinstance(expected, list):
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            raise UsageError(f"{where} must be a list of strings")
        return list(value)
    if type(value) is not type(expected):
        raise UsageError(f"{where} must be {type(expected).__name__}, not {value!r}")
    return value


def _check_model(model: dict[str, Any]) -> None:
    if "hf" in model:
        if not isinstance(model["hf"], str) or not model["hf"]:
            raise UsageError("[model] hf must name a folder or model id")
        return
    from bookreader.infini.config import LEGACY_NAMES, InfiniConfig

    # Types first: the dataclass takes any value, and `d_model = "big"` must fail here (exit 2),
    # not in the arithmetic of its own set-up or in torch.
    defaults = asdict(InfiniConfig())
    for key, value in model.items():
        name = LEGACY_NAMES.get(key, key)
        if name not in defaults:
            continue  # reported by from_dict below, with every unknown name
        expected = defaults[name]
        if expected is None:  # optional sizes (n_kv_heads, d_ff, ...): an int when given
            expected = 0
        _coerce(value, expected, f"[model] {key}")
    try:
        InfiniConfig.from_dict(model)
    except (TypeError, ValueError) as error:
        raise UsageError(f"[model] {error}") from None
