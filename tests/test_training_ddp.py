"""Data-parallel training under torchrun (Gloo on CPU): two processes, gradients averaged each
step, rank 0 logs twice the tokens of one process and writes the model."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest


@pytest.mark.slow
def test_torchrun_two_processes(tmp_path: Path) -> None:
    if shutil.which("torchrun") is None and not Path(sys.executable).with_name("torchrun").exists():
        pytest.skip("torchrun not installed")
    recipe = tmp_path / "r.toml"
    recipe.write_text(
        "[model]\nd_model = 32\nn_layers = 1\nn_heads = 2\nsegment_len = 128\n"
        "[data]\nsegments_min = 3\nsegments_max = 3\nexact_length = true\n"
        f'[train]\nsteps = 2\nbatch_size = 2\nout_dir = "{tmp_path / "run"}"\n'
        "threads = 1\nlog_every = 1\n"
    )
    torchrun = str(Path(sys.executable).with_name("torchrun"))
    done = subprocess.run(
        [torchrun, "--nproc_per_node", "2", "-m", "bookreader.cli.train", str(recipe)],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    records = [json.loads(line) for line in (tmp_path / "run" / "metrics.jsonl").open()]
    assert [r["step"] for r in records] == [1, 2]
    assert records[-1]["tokens"] == 2 * 2 * 2 * 3 * 128  # steps x ranks x batch x tokens
    assert (tmp_path / "run" / "model" / "model.safetensors").is_file()
