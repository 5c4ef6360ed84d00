"""`bookreader serve`: the chat app in a real browser (the system's headless Chromium, driven by
tests/browser_chat.py), and the command's guards: loopback by default, a remote host only with
--allow-remote and a warning, one-line usage errors."""

from __future__ import annotations

import importlib.util
import re
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
from typer.testing import CliRunner

from bookreader.cli.app import app
from bookreader.cli.serve import chat_command, is_loopback

ROOT = Path(__file__).resolve().parents[1]
SAMPLE = ROOT / "samples" / "the-lighthouse-keepers-ledger.epub"
QUESTION = "Who found the tin hidden under the third stair?"
ANSWER = "It was Wenna who found it"


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def wait_listening(port: int, process: subprocess.Popen, timeout_s: float = 20.0) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise AssertionError(f"serve exited early: {process.stderr.read()}")  # type: ignore[union-attr]
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.2)
    raise AssertionError("serve never listened")


def test_chat_in_a_real_browser(tmp_path: Path) -> None:
    from browser_chat import ask_in_browser, chromium_path

    if chromium_path() is None or importlib.util.find_spec("playwright") is None:
        pytest.skip("needs the system Chromium (apt-get install chromium) and playwright")
    started = time.monotonic()
    port = free_port()
    command = [
        sys.executable,
        "-m",
        "bookreader.cli.app",
        "serve",
        str(SAMPLE),
        "--port",
        str(port),
    ]
    server = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    try:
        wait_listening(port, server)
        shot = tmp_path / "served-chat.png"
        text = ask_in_browser(f"http://127.0.0.1:{port}/", QUESTION, ANSWER, shot)
    finally:
        server.terminate()
        server.wait(timeout=10)
    # The page shows the question's answer with its citations, as the terminal app does.
    assert "The Lighthouse Keeper's Ledger" in text
    assert re.search(r'\[\d\] ch\. 7 "Chapter 7: The Thimble and the Tin"', text)
    assert ANSWER in text and "engine extractive" in text
    assert shot.stat().st_size > 20_000 and shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    # The same history as the terminal app: the turn is saved for the book.
    from bookreader.engines.cache import file_sha256
    from bookreader.tui.history import HistoryStore

    turns = HistoryStore().load(file_sha256(SAMPLE)).turns
    assert [t.text for t in turns][:1] == [QUESTION]
    assert time.monotonic() - started < 60


def test_loopback_only_unless_allowed(monkeypatch: pytest.MonkeyPatch) -> None:
    from textual_serve.server import Server

    served: list[Server] = []
    monkeypatch.setattr(Server, "serve", lambda self, debug=False: served.append(self))
    port = str(free_port())
    refused = CliRunner().invoke(app, ["serve", str(SAMPLE), "--host", "0.0.0.0", "--port", port])
    assert refused.exit_code == 2 and "--allow-remote" in refused.output
    assert "Traceback" not in refused.output and not served
    allowed = CliRunner().invoke(
        app, ["serve", str(SAMPLE), "--host", "0.0.0.0", "--port", port, "--allow-remote"]
    )
    assert allowed.exit_code == 0, allowed.output
    assert "warning: serving on 0.0.0.0: anyone who can reach port" in allowed.output
    assert len(served) == 1 and "chat" in served[0].command
    local = CliRunner().invoke(app, ["serve", str(SAMPLE), "--port", port])
    assert local.exit_code == 0 and "warning" not in local.output
    assert served[1].host == "127.0.0.1"
    assert is_loopback("localhost") and is_loopback("::1") and not is_loopback("example.org")


def test_serve_errors(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def run(*args: str):
        result = CliRunner().invoke(app, ["serve", *args])
        assert result.exit_code == 2, result.output
        assert "Traceback" not in result.output and len(result.output.strip().splitlines()) == 1
        return result

    run(str(tmp_path / "none.epub"))
    run(str(SAMPLE), "--port", "0")
    run(str(SAMPLE), "--port", "70000")
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        assert "cannot listen" in run(str(SAMPLE), "--port", str(busy.getsockname()[1])).output
    run(str(SAMPLE), "--engine", "infini")  # no model: refused before serving
    monkeypatch.setitem(sys.modules, "textual_serve", None)
    monkeypatch.setitem(sys.modules, "textual_serve.server", None)
    assert "pip install 'bookreader[serve]'" in run(str(SAMPLE)).output


def test_each_tab_runs_bookreader_chat() -> None:
    command = chat_command(SAMPLE, "infini", "models/x", None, fresh=True)
    assert command.startswith(sys.executable) and " -m bookreader.cli.app chat " in command
    assert command.endswith("--engine infini --model models/x --fresh")
