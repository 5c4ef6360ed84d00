"""Shared fixtures: isolated bookreader folders per test, the shared corpus (skipped when a fresh
clone has no ../shared), the project's samples, and auto-skipping of `cuda` tests."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

ROOT = Path(__file__).resolve().parents[1]
CORPUS = ROOT.parent / "shared" / "corpus"
SAMPLES = ROOT / "samples"


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if torch.cuda.is_available():
        return
    skip_cuda = pytest.mark.skip(reason="needs a CUDA GPU")
    for item in items:
        if "cuda" in item.keywords:
            item.add_marker(skip_cuda)


@pytest.fixture(autouse=True)
def isolated_dirs(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Every test gets its own cache, data and config folders."""
    base = tmp_path / "bookreader-home"
    for name in ("CACHE", "DATA", "CONFIG"):
        folder = base / name.lower()
        folder.mkdir(parents=True)
        monkeypatch.setenv(f"BOOKREADER_{name}_DIR", str(folder))
    monkeypatch.setenv("NO_COLOR", "1")
    return base


@pytest.fixture(scope="session")
def corpus() -> Path:
    if not CORPUS.is_dir():
        pytest.skip(f"shared corpus not found at {CORPUS} (fresh clone without ../shared)")
    return CORPUS


@pytest.fixture(scope="session")
def samples() -> Path:
    """The committed sample books: never skipped, a missing one fails the test that needs it."""
    assert SAMPLES.is_dir(), f"committed samples folder {SAMPLES} is missing"
    return SAMPLES
