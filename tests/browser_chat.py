"""Drive `bookreader serve` in a real browser: open the page, type a question, wait for the cited
answer, save a screenshot, and return the text the page shows.

The browser is the system's Chromium (Debian's `chromium` package, /usr/bin/chromium; `.ci/run`
installs it), driven by Playwright over its own protocol; nothing is downloaded. The served
terminal draws on a canvas, so the page's text is rebuilt the way the page builds it: every
byte the server sends to the page's websocket is replayed into a terminal emulator (pyte) of
the size the page asked for.

Usage: python tests/browser_chat.py URL "QUESTION" "EXPECTED TEXT" [SCREENSHOT.png]
"""

from __future__ import annotations

import json
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path
from urllib.parse import parse_qs, urlparse

CHROMIUM_FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


def chromium_path() -> str | None:
    for candidate in (os.environ.get("CHROMIUM"), "/usr/bin/chromium", "/usr/bin/chromium-browser"):
        if candidate and Path(candidate).is_file():
            return candidate
    return shutil.which("chromium")


class TerminalScreen:
    """The served terminal's screen, rebuilt from the bytes the page receives."""

    def __init__(self) -> None:
        import pyte

        self.screen = pyte.Screen(80, 24)
        self.stream = pyte.ByteStream(self.screen)

    def connected(self, url: str) -> None:
        query = parse_qs(urlparse(url).query)
        self.resize(int(query.get("width", ["80"])[0]), int(query.get("height", ["24"])[0]))

    def resize(self, width: int, height: int) -> None:
        self.screen.resize(lines=height, columns=width)

    def sent(self, payload: str | bytes) -> None:
        # The page tells the server its size as ["resize", {"width": W, "height": H}].
        if isinstance(payload, bytes):
            return
        try:
            message = json.loads(payload)
        except ValueError:
            return
        if isinstance(message, list) and message and message[0] == "resize":
            self.resize(int(message[1]["width"]), int(message[1]["height"]))

    def received(self, payload: str | bytes) -> None:
        if isinstance(payload, bytes):  # terminal output; text frames are the server's notes
            self.stream.feed(payload)

    @property
    def text(self) -> str:
        return "\n".join(line.rstrip() for line in self.screen.display)


def ask_in_browser(
    url: str,
    question: str,
    expected: str,
    screenshot: Path | None = None,
    timeout_s: float = 40.0,
) -> str:
    """Open `url`, wait for the app to be ready, ask `question`, wait until the screen shows
    `expected` and a citation, save a screenshot, and return the screen's text."""
    from playwright.sync_api import sync_playwright

    executable = chromium_path()
    if executable is None:
        raise RuntimeError("no system Chromium (apt-get install chromium)")
    terminal = TerminalScreen()
    with (
        tempfile.TemporaryDirectory(prefix="bookreader-chromium-") as profile,
        sync_playwright() as p,
    ):
        browser = p.chromium.launch_persistent_context(
            profile,
            executable_path=executable,
            headless=True,
            args=[flag for flag in CHROMIUM_FLAGS if flag != "--headless"],
            viewport={"width": 1280, "height": 800},
        )
        try:
            page = browser.pages[0] if browser.pages else browser.new_page()

            def on_websocket(ws) -> None:  # type: ignore[no-untyped-def]
                terminal.connected(ws.url)
                ws.on("framereceived", terminal.received)
                ws.on("framesent", terminal.sent)

            page.on("websocket", on_websocket)
            page.goto(url)
            wait_for(page, lambda: "Ask a question below" in terminal.text, timeout_s, terminal)
            # Keyboard focus for the terminal without a click: a click would reach the app as a
            # mouse event and move its focus away from the question box.
            page.locator("textarea.xterm-helper-textarea").focus()
            page.keyboard.type(question)
            page.keyboard.press("Enter")

            def answered() -> bool:
                text = terminal.text
                return expected in text and "[1]" in text and "ch. " in text

            wait_for(page, answered, timeout_s, terminal)
            if screenshot is not None:
                page.screenshot(path=str(screenshot))
            return terminal.text
        finally:
            browser.close()


def wait_for(page, condition, timeout_s: float, terminal: TerminalScreen) -> None:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout_s
    while not condition():
        if time.monotonic() > deadline:
            raise TimeoutError(
                f"the page never showed what was awaited; it shows:\n{terminal.text}"
            )
        page.wait_for_timeout(100)  # lets Playwright deliver the websocket events


if __name__ == "__main__":
    if len(sys.argv) < 4:
        sys.exit(__doc__)
    shot = Path(sys.argv[4]) if len(sys.argv) > 4 else None
    print(ask_in_browser(sys.argv[1], sys.argv[2], sys.argv[3], shot))
