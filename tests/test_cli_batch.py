"""`bookreader batch`: good and corrupt books, resume, worker processes, SIGKILL midway, Ray."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from typer.testing import CliRunner

from bookreader.cli.app import app
from bookreader.engines.cache import file_sha256

runner = CliRunner()
LEDGER = "the-lighthouse-keepers-ledger"
GOOD = {
    f"{LEDGER}.txt": f"{LEDGER}_txt",
    f"{LEDGER}.epub": f"{LEDGER}_epub",
    f"{LEDGER}.pdf": f"{LEDGER}_pdf",
    "harbour-notes.txt": "harbour-notes",
}
BAD = {
    "broken.epub": b"not a zip at all",
    "empty.txt": b"\n\n   \n",
    "shelf/bad.pdf": b"%PDF-1.4 junk",
}


@pytest.fixture
def library(samples: Path, tmp_path: Path) -> Path:
    folder = tmp_path / "library"
    folder.mkdir()
    for name in GOOD:
        shutil.copy(samples / name, folder / name)
    (folder / "shelf").mkdir()
    shutil.copy(samples / f"{LEDGER}.md", folder / "shelf" / "ledger.md")
    for name, data in BAD.items():
        (folder / name).write_bytes(data)
    (folder / "notes.json").write_text("{}")  # not a book: ignored
    return folder


def expected_outputs() -> dict[str, str]:
    """book (relative path) -> output name."""
    return {**GOOD, "shelf/ledger.md": "shelf__ledger"}


def check_outputs(library: Path, out: Path) -> None:
    for book, name in expected_outputs().items():
        doc = json.loads((out / f"{name}.json").read_text(encoding="utf-8"))
        assert doc["schema"] == "bookreader.summary/1"
        assert doc["book"]["sha256"] == file_sha256(library / book)
        assert doc["summary"] and len(doc["chapters"]) == doc["book"]["chapters"]
        markdown = (out / f"{name}.md").read_text(encoding="utf-8")
        assert markdown.startswith(f"# {doc['book']['title']}")
        assert doc["summary"] in markdown


def failure_lines(out: Path) -> list[dict]:
    return [json.loads(line) for line in (out / "failures.jsonl").read_text().splitlines()]


def test_good_and_corrupt_books(library: Path, tmp_path: Path) -> None:
    out = tmp_path / "out"
    result = runner.invoke(app, ["batch", str(library), "--out", str(out), "--json"])
    assert result.exit_code == 3, result.stderr
    check_outputs(library, out)
    failures = failure_lines(out)
    assert sorted(Path(f["path"]).relative_to(library).as_posix() for f in failures) == sorted(BAD)
    assert all(f["exit_code"] == 4 and f["error"] and f["time"] for f in failures)
    report = json.loads(result.stdout)
    assert report["schema"] == "bookreader.batch/1"
    assert (report["total"], report["done"], report["skipped"], report["failed"]) == (8, 5, 0, 3)
    expected_files = {f"{n}.{ext}" for n in expected_outputs().values() for ext in ("md", "json")}
    assert {p.name for p in out.iterdir()} == expected_files | {"failures.jsonl"}
    assert "batch: 5 done, 0 skipped, 3 failed" in result.stderr


def test_rerun_skips_finished_books_and_redoes_changed_ones(library: Path, tmp_path: Path) -> None:
    out = tmp_path / "out"
    runner.invoke(app, ["batch", str(library), "--out", str(out)])
    stamps = {p.name: p.stat().st_mtime_ns for p in out.glob("*.json")}
    notes = library / "harbour-notes.txt"
    notes.write_text(
        notes.read_text(encoding="utf-8") + "\n\nA new closing line.\n", encoding="utf-8"
    )
    result = runner.invoke(app, ["batch", str(library), "--out", str(out), "--json"])
    report = json.loads(result.stdout)
    assert (report["done"], report["skipped"], report["failed"]) == (1, 4, 3)
    for name, stamp in stamps.items():
        changed = name == "harbour-notes.json"
        assert (
            (out / name).stat().st_mtime_ns != stamp
            if changed
            else (out / name).stat().st_mtime_ns == stamp
        )
    check_outputs(library, out)
    # this run's failures only, one line per bad file (not the first run's again)
    lines = failure_lines(out)
    assert sorted(Path(f["path"]).name for f in lines) == sorted(Path(b).name for b in BAD)
    # a run without failures leaves no stale list behind
    for name in BAD:
        (library / name).unlink()
    clean = runner.invoke(app, ["batch", str(library), "--out", str(out)])
    assert clean.exit_code == 0, clean.stderr
    assert not (out / "failures.jsonl").exists()


def test_worker_processes_give_the_same_outputs(library: Path, tmp_path: Path) -> None:
    serial, parallel = tmp_path / "serial", tmp_path / "parallel"
    runner.invoke(app, ["batch", str(library), "--out", str(serial)])
    result = runner.invoke(app, ["batch", str(library), "--out", str(parallel), "--jobs", "2"])
    assert result.exit_code == 3
    check_outputs(library, parallel)
    for name in expected_outputs().values():
        a = json.loads((serial / f"{name}.json").read_text())
        b = json.loads((parallel / f"{name}.json").read_text())
        assert a["summary"] == b["summary"] and a["chapters"] == b["chapters"]
    assert len(failure_lines(parallel)) == len(BAD)


def test_not_a_folder_is_a_usage_error(tmp_path: Path) -> None:
    result = runner.invoke(app, ["batch", str(tmp_path / "missing"), "--out", str(tmp_path / "o")])
    assert result.exit_code == 2 and result.stderr.endswith("missing: no such folder\n")
    a_file = tmp_path / "book.txt"
    a_file.write_text("words")
    result = runner.invoke(app, ["batch", str(a_file), "--out", str(tmp_path / "o")])
    assert result.exit_code == 2 and result.stderr.endswith("book.txt: not a folder\n")


def test_missing_ray_is_a_one_line_usage_error(
    library: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(sys.modules, "ray", None)  # import ray -> ImportError
    result = runner.invoke(
        app, ["batch", str(library), "--out", str(tmp_path / "o"), "--ray-address", "local"]
    )
    assert result.exit_code == 2
    assert result.stderr == (
        "bookreader: error: --ray-address needs Ray: pip install 'bookreader[ray]' (or pip install ray)\n"
    )


# -- killed midway ----------------------------------------------------------------------------


def make_many_books(samples: Path, folder: Path, count: int) -> None:
    """`count` distinct books of about 12K words each, made from the project's own sample."""
    notes = (samples / "harbour-notes.txt").read_text(encoding="utf-8")
    folder.mkdir()
    for k in range(count):
        copies = [notes.replace("Porthbryn", f"Porthbryn {k}-{j}") for j in range(10)]
        (folder / f"book-{k:02d}.txt").write_text("\n\n".join(copies), encoding="utf-8")


def batch_command(folder: Path, out: Path) -> list[str]:
    return [
        sys.executable,
        "-c",
        "from bookreader.cli.app import main; main()",
        "batch",
        str(folder),
        "--out",
        str(out),
    ]


def test_sigkill_midway_then_rerun_finishes_without_rewriting(
    samples: Path, tmp_path: Path
) -> None:
    folder, out = tmp_path / "many", tmp_path / "out"
    make_many_books(samples, folder, 12)
    process = subprocess.Popen(
        batch_command(folder, out), stderr=subprocess.DEVNULL, stdout=subprocess.DEVNULL
    )
    deadline = time.monotonic() + 120
    while not list(out.glob("*.json")) and time.monotonic() < deadline and process.poll() is None:
        time.sleep(0.005)
    process.send_signal(signal.SIGKILL)
    process.wait()
    assert process.returncode == -signal.SIGKILL, "the batch finished before it could be killed"
    finished = {p.stem for p in out.glob("*.json")}
    assert 1 <= len(finished) < 12
    stamps = {
        p.name: (p.stat().st_ino, p.stat().st_mtime_ns) for p in out.iterdir() if p.stem in finished
    }

    rerun = subprocess.run(batch_command(folder, out), capture_output=True, text=True, timeout=300)
    assert rerun.returncode == 0, rerun.stderr
    assert f"Skipping {len(finished)} finished book" in rerun.stderr
    for name, stamp in stamps.items():  # finished outputs were not written a second time
        path = out / name
        assert (path.stat().st_ino, path.stat().st_mtime_ns) == stamp
    names = sorted(p.name for p in out.iterdir())
    assert names == sorted(f"book-{k:02d}.{ext}" for k in range(12) for ext in ("md", "json"))
    for k in range(12):  # every output present, valid and complete
        doc = json.loads((out / f"book-{k:02d}.json").read_text(encoding="utf-8"))
        assert doc["book"]["sha256"] == file_sha256(folder / f"book-{k:02d}.txt")
        assert f"Porthbryn {k}-" in json.dumps(doc)
        assert (
            (out / f"book-{k:02d}.md")
            .read_text(encoding="utf-8")
            .rstrip()
            .endswith(doc["chapters"][-1]["summary"])
        )


# -- Ray ----------------------------------------------------------------------------------------


@pytest.mark.slow
def test_ray_local_instance(samples: Path, library: Path, tmp_path: Path) -> None:
    ray = pytest.importorskip("ray", reason="the optional `ray` extra is not installed")
    out = tmp_path / "out"
    os.environ.setdefault("RAY_ENABLE_UV_RUN_RUNTIME_ENV", "0")
    try:
        result = runner.invoke(
            app, ["batch", str(library), "--out", str(out), "--ray-address", "local"]
        )
    finally:
        ray.shutdown()
    assert result.exit_code == 3, result.stderr
    check_outputs(library, out)
    assert len(failure_lines(out)) == len(BAD)
