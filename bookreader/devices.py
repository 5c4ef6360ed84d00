"""Which torch device a `--device` value means: the one resolution every model loader uses."""

from __future__ import annotations

from typing import TYPE_CHECKING

from bookreader.errors import UsageError

if TYPE_CHECKING:
    import torch


def resolve_device(name: str | torch.device | None = "auto") -> torch.device:
    """ "auto" (or None): CUDA when a GPU is present, else the CPU. Asking for CUDA without a
    GPU is a usage error now, rather than a torch error at the first tensor."""
    import torch  # the command line starts without torch

    if name is None or str(name) == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    device = torch.device(name)
    if device.type == "cuda" and not torch.cuda.is_available():
        raise UsageError(f"device {name} asked for, but no CUDA GPU is available")
    return device
