"""Numbers as people read them, shared by the command line and the TUI."""

from __future__ import annotations


def human_bytes(size: int) -> str:
    """1536 -> "1.5 KiB"; bytes are whole, larger units have one decimal."""
    value = float(size)
    for unit in ("B", "KiB", "MiB", "GiB"):
        if value < 1024 or unit == "GiB":
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    return f"{size} B"  # unreachable: the loop returns at GiB
