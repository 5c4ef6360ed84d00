"""The `bookreader` command line (Typer + Rich): one module per command, wired in app.py."""
