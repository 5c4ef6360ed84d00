"""`batch --ray-address HOST:PORT` against a real Ray cluster started on loopback for the test
(`ray start --head --block`, stopped afterwards by its process id), and an address nothing answers (one line, exit 1).

The cluster test is marked `slow` (about a minute: a cluster starts, then two batch runs);
`.ci/run` installs the `ray` extra and runs this file's slow test after `make test`. Without
Ray installed both tests skip."""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from bookreader.engines.cache import file_sha256

ROOT = Path(__file__).resolve().parents[1]
LEDGER = "the-lighthouse-keepers-ledger"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def cli(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    command = [sys.executable, "-m", "bookreader.cli.app", *args]
    return subprocess.run(command, capture_output=True, text=True, env=env, timeout=600)


def child_env(tmp_path: Path) -> dict[str, str]:
    """The test's environment (its isolated cache folder), with the package importable by Ray's
    workers, which the raylet starts from the cluster's own environment. HOME is the test's own:
    Ray keeps an authentication token in ~/.ray, and one left there by another Ray instance
    makes the head refuse this test's driver."""
    env = dict(os.environ)
    home = tmp_path / "home"
    home.mkdir(exist_ok=True)
    env["HOME"] = str(home)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH")]))
    env.setdefault("RAY_ENABLE_UV_RUN_RUNTIME_ENV", "0")
    env.setdefault("OMP_NUM_THREADS", "1")
    return env


@pytest.fixture
def cluster(tmp_path: Path) -> Iterator[str]:
    pytest.importorskip("ray", reason="the optional `ray` extra is not installed")
    ray_cli = Path(sys.executable).with_name("ray")
    if not ray_cli.exists():
        pytest.skip("the `ray` command is not installed beside this Python")
    port = free_port()
    start = [str(ray_cli), "start", "--head", "--block", "--node-ip-address", "127.0.0.1"]
    start += ["--port", str(port), "--num-cpus", "2", "--include-dashboard", "false"]
    # --block keeps the cluster a child of this test in its own process group, so that it is
    # stopped by its id afterwards (`ray stop` would stop every Ray cluster of this user).
    log = (tmp_path / "ray.log").open("w")
    head = subprocess.Popen(start, stdout=log, stderr=subprocess.STDOUT, env=child_env(tmp_path),
                            start_new_session=True)  # fmt: skip
    try:
        deadline = time.monotonic() + 180
        while not answers(port):
            assert head.poll() is None, (tmp_path / "ray.log").read_text()[-2000:]
            assert time.monotonic() < deadline, "the Ray head did not start in 180 s"
            time.sleep(0.5)
        yield f"127.0.0.1:{port}"
    finally:
        os.killpg(head.pid, signal.SIGTERM)
        try:
            head.wait(timeout=60)
        except subprocess.TimeoutExpired:
            os.killpg(head.pid, signal.SIGKILL)
            head.wait()
        log.close()


def answers(port: int) -> bool:
    try:
        socket.create_connection(("127.0.0.1", port), timeout=1).close()
    except OSError:
        return False
    return True


@pytest.fixture
def library(samples: Path, tmp_path: Path) -> Path:
    """Three books and a corrupt one."""
    folder = tmp_path / "library"
    folder.mkdir()
    for name in (f"{LEDGER}.txt", f"{LEDGER}.epub", "harbour-notes.txt"):
        shutil.copy(samples / name, folder / name)
    (folder / "broken.epub").write_bytes(b"not a zip at all")
    return folder


@pytest.mark.slow
def test_batch_on_a_local_ray_cluster(cluster: str, library: Path, tmp_path: Path) -> None:
    out = tmp_path / "out"
    result = cli("batch", str(library), "--out", str(out), "--ray-address", cluster, "--json",
                 env=child_env(tmp_path))  # fmt: skip
    assert result.returncode == 3, result.stderr[-3000:]
    assert "Traceback" not in result.stderr
    report = json.loads(result.stdout)
    assert (report["total"], report["done"], report["failed"]) == (4, 3, 1)
    for book, name in ((f"{LEDGER}.txt", f"{LEDGER}_txt"), (f"{LEDGER}.epub", f"{LEDGER}_epub"),
                       ("harbour-notes.txt", "harbour-notes")):  # fmt: skip
        doc = json.loads((out / f"{name}.json").read_text(encoding="utf-8"))
        assert doc["book"]["sha256"] == file_sha256(library / book)
        assert (out / f"{name}.md").read_text(encoding="utf-8").startswith("# ")
    failures = [json.loads(line) for line in (out / "failures.jsonl").read_text().splitlines()]
    assert [Path(f["path"]).name for f in failures] == ["broken.epub"]
    assert failures[0]["exit_code"] == 4
    # resumed on the same cluster: nothing redone, the same single failure, not appended
    again = cli("batch", str(library), "--out", str(out), "--ray-address", cluster, "--json",
                env=child_env(tmp_path))  # fmt: skip
    assert again.returncode == 3, again.stderr[-3000:]
    assert json.loads(again.stdout)["skipped"] == 3
    assert len((out / "failures.jsonl").read_text().splitlines()) == 1


def test_an_address_nothing_answers_is_one_line(library: Path, tmp_path: Path) -> None:
    pytest.importorskip("ray", reason="the optional `ray` extra is not installed")
    address = f"127.0.0.1:{free_port()}"  # bound and released: nothing listens there now
    result = cli("batch", str(library), "--out", str(tmp_path / "out"), "--ray-address", address,
                 env=child_env(tmp_path))  # fmt: skip
    assert result.returncode == 1
    assert result.stderr.splitlines() == [
        f"bookreader: error: --ray-address {address}: no Ray cluster answers (Connection refused)"
    ]
