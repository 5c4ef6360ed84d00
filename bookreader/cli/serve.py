"""`bookreader serve BOOK [--port N] [--host ADDR] [--allow-remote]`: the chat app in a browser.

textual-serve (`pip install 'bookreader[serve]'`) runs `bookreader chat BOOK` once per browser
tab and draws it in the page: the same app, so the same keys, the same saved history, the same
citations and passage viewer. It listens on the loopback address by default. Anyone who can
reach the port can read the book and ask about it, so another address is refused unless
`--allow-remote` is given, and then a warning is printed.

Exit codes: 0 after ctrl+c, 2 for bad options (missing book, bad port or host, port in use,
a remote host without --allow-remote, textual-serve not installed, a model that cannot chat).
"""

from __future__ import annotations

import ipaddress
import shlex
import socket
import sys
from pathlib import Path

import typer

from bookreader.cli.checks import input_file
from bookreader.cli.common import guarded, warning_lines
from bookreader.cli.options import BookArg, DeviceOpt, EngineOpt, ModelOpt, plain
from bookreader.errors import UsageError

INSTALL_HINT = "pip install 'bookreader[serve]'"


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False  # a host name: it may resolve to anything


def check_port_free(host: str, port: int) -> None:
    """Fail now, in one line, rather than from inside the web server."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((host, port))
        except OSError as error:
            raise UsageError(f"cannot listen on {host}:{port}: {error.strerror or error}") from None


def public_url(host: str, port: int) -> str:
    """Where browsers reach the server: the page tells them where its websocket is."""
    if host in ("0.0.0.0", "::", ""):  # every interface: name the machine, not "0.0.0.0"
        host = socket.getfqdn()
    if ":" in host:
        host = f"[{host}]"
    return f"http://{host}:{port}"


def chat_command(
    book: Path, engine: str | None, model: str | None, device: str | None, fresh: bool
) -> str:
    """The command textual-serve runs for each browser tab: this Python, `bookreader chat`."""
    args = [sys.executable, "-m", "bookreader.cli.app", "chat", str(book.resolve())]
    for flag, value in (("--engine", engine), ("--model", model), ("--device", device)):
        if value is not None:
            args += [flag, value]
    if fresh:
        args.append("--fresh")
    return shlex.join(args)


def serve(
    book: BookArg,
    port: int = typer.Option(8000, "--port", help="TCP port to listen on."),
    host: str = typer.Option(
        "127.0.0.1", "--host", help="Address to listen on (loopback unless --allow-remote)."
    ),
    allow_remote: bool = typer.Option(
        False,
        "--allow-remote",
        help="Allow a non-loopback --host: anyone who can reach it can read the book.",
    ),
    engine: EngineOpt = None,
    model: ModelOpt = None,
    device: DeviceOpt = None,
    fresh: bool = typer.Option(
        False, "--fresh", help="Each tab starts a new conversation (the saved one is dropped)."
    ),
) -> None:
    """Serve the chat app to a web browser (textual-serve)."""
    from bookreader.cli.output import require_before_loading, settings_from

    try:
        from textual_serve.server import Server
    except ImportError:
        raise UsageError(f"serving to a browser needs textual-serve: {INSTALL_HINT}") from None
    input_file(book)
    if not 0 < port < 65536:
        raise UsageError(f"--port {port}: give a port from 1 to 65535")
    if not is_loopback(host):
        if not allow_remote:
            raise UsageError(
                f"--host {host} is not a loopback address: anyone who can reach it can read the "
                "book; add --allow-remote to serve it there anyway"
            )
        warning_lines([f"serving on {host}: anyone who can reach port {port} can read the book"])
    settings = settings_from(engine=engine, model=model, device=device)
    require_before_loading(settings, "chat about a book")  # before any browser connects
    check_port_free(host, port)
    from bookreader.loaders import load

    load(book)  # a file that is no book fails here (exit 4), not in every browser tab
    server = Server(
        chat_command(book, plain(engine), model, device, fresh),
        host=host,
        port=port,
        title=f"bookreader: {book.name}",
        public_url=public_url(host, port),
    )
    from rich.console import Console

    server.console = Console(stderr=True)  # its banner and log are not data: keep stdout clean
    sys.stderr.write(f"bookreader: serving {book.name} at {server.public_url} (ctrl+c stops)\n")
    sys.stderr.flush()
    server.serve()


def register(app: typer.Typer) -> None:
    app.command("serve")(guarded(serve))
