"""Pictures: the book map as a heatmap, passkey accuracy per length and depth, a training run's
loss and throughput.

matplotlib is an optional extra (`pip install 'bookreader[plot]'`): it is imported inside the
functions, and a missing install is a usage error (exit 2) that names the extra. Figures are
drawn on `matplotlib.figure.Figure` objects, never pyplot: no global state, no display needed,
safe from any thread. SVGs keep their text as text, so names can be searched in the file.
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from bookreader.errors import UsageError
from bookreader.fileio import atomic_write

if TYPE_CHECKING:
    from matplotlib.figure import Figure

    from bookreader.bookmap import BookMap

IMAGE_SUFFIXES = (".png", ".svg", ".pdf")
INSTALL_HINT = "pip install 'bookreader[plot]'"


class PlotUnavailable(UsageError):
    """matplotlib is not installed."""


def require_matplotlib() -> None:
    try:
        import matplotlib  # noqa: F401
    except ImportError:
        raise PlotUnavailable(f"drawing needs matplotlib: {INSTALL_HINT}") from None


def check_image_path(path: Path, option: str = "--out") -> None:
    """An image file name: a known suffix (exit 2 else). Whether it can be written there is
    the command's check (`cli.checks.output_file`), made before this one."""
    if path.suffix.lower() not in IMAGE_SUFFIXES:
        raise UsageError(f"{option}: {path.name}: name a .png, .svg or .pdf file")


def save(figure: Figure, path: Path) -> None:
    """Write the figure atomically (`fileio.atomic_write`), in the format its suffix names."""
    import matplotlib

    def draw(temporary: Path) -> None:
        with matplotlib.rc_context({"svg.fonttype": "none", "svg.hashsalt": "bookreader"}):
            figure.savefig(
                temporary,
                format=path.suffix[1:].lower(),
                dpi=120,
                bbox_inches="tight",
                metadata=_metadata(path),
            )

    atomic_write(path, draw)


def _metadata(path: Path) -> dict[str, Any]:
    # Fixed metadata: the same input draws the same bytes (no creation date in SVG or PDF).
    suffix = path.suffix.lower()
    if suffix == ".svg":
        return {"Date": None}
    if suffix == ".pdf":
        return {"CreationDate": None}
    return {}


# The book map -------------------------------------------------------------------------------


def map_figure(book_map: BookMap) -> Figure:
    """A chapter x name heatmap: one row per name (most mentioned on top), one column per
    chapter, colour the mentions; wide enough for 100 chapters to stay legible."""
    import numpy as np
    from matplotlib import colormaps
    from matplotlib.colors import PowerNorm
    from matplotlib.figure import Figure

    entries = book_map.entries
    chapters = len(book_map.chapter_titles)
    width = min(24.0, max(8.0, 3.5 + 0.17 * chapters))
    height = max(3.0, 1.4 + 0.32 * len(entries))
    figure = Figure(figsize=(width, height), layout="constrained")
    axes = figure.add_subplot()
    grid = np.ma.masked_equal([entry.counts for entry in entries] or [[0] * chapters], 0)
    cmap = colormaps["magma_r"].with_extremes(bad="white")  # absent: blank, not "few"
    # A square-root scale: one chapter with 50 mentions must not wash out the rest.
    norm = PowerNorm(0.5, vmin=0, vmax=max(1, int(grid.max() or 1)))
    image = axes.imshow(grid, aspect="auto", cmap=cmap, norm=norm, interpolation="nearest")
    axes.set_yticks(range(len(entries)), [f"{e.name} ({e.total})" for e in entries])
    step = max(1, math.ceil(chapters / 25))  # at most about 25 chapter labels
    ticks = list(range(0, chapters, step))
    axes.set_xticks(ticks, [str(i + 1) for i in ticks])
    axes.set_xlabel("chapter")
    what = "terms" if book_map.source == "terms" else "names"
    axes.set_title(f"{book_map.title}: mentions of the main {what} per chapter")
    colorbar = figure.colorbar(image, ax=axes, shrink=0.8)
    colorbar.set_label("mentions in the chapter")
    return figure


def draw_map(book_map: BookMap, path: Path) -> None:
    require_matplotlib()
    save(map_figure(book_map), path)


# Passkey ------------------------------------------------------------------------------------


def passkey_figure(panels: Sequence[tuple[str, list[dict[str, Any]]]], title: str) -> Figure:
    """One heatmap per run (memory on, memory off), side by side: input length by needle depth,
    each cell its token accuracy in per cent, on the same colour scale."""
    from matplotlib.figure import Figure

    from bookreader.evals.passkey import format_length

    figure = Figure(figsize=(4.2 * len(panels) + 1.2, 4.0), layout="constrained")
    axes_list = figure.subplots(1, len(panels), squeeze=False)[0]
    image = None
    for axes, (label, cells) in zip(axes_list, panels, strict=True):
        positions = list(dict.fromkeys(c["position"] for c in cells))
        lengths = list(dict.fromkeys(c["length"] for c in cells))
        by_key = {(c["length"], c["position"]): c for c in cells}
        grid = [[100 * by_key[(n, p)]["token_accuracy"] for p in positions] for n in lengths]
        image = axes.imshow(grid, cmap="RdYlGn", vmin=0, vmax=100, aspect="auto", origin="lower")
        for row, values in enumerate(grid):
            for col, value in enumerate(values):
                # White on the dark ends of the scale, black in its pale middle.
                colour = "white" if value < 20 or value > 80 else "black"
                axes.text(col, row, f"{value:.0f}%", ha="center", va="center", color=colour)
        axes.set_xticks(range(len(positions)), positions)
        axes.set_yticks(range(len(lengths)), [format_length(n) for n in lengths])
        axes.set_xlabel("needle depth")
        axes.set_ylabel("input length (tokens)")
        axes.set_title(label)
    if image is not None:
        colorbar = figure.colorbar(image, ax=list(axes_list), shrink=0.85)
        colorbar.set_label("token accuracy (%)")
    figure.suptitle(title)
    return figure


def draw_passkey(
    panels: Sequence[tuple[str, list[dict[str, Any]]]], title: str, path: Path
) -> None:
    require_matplotlib()
    save(passkey_figure(panels, title), path)


# Training runs ------------------------------------------------------------------------------


def read_metrics(run_dir: Path) -> list[dict[str, Any]]:
    """The records of a run's metrics.jsonl (a torn last line, from a run still writing, is
    skipped); a folder without one is a usage error."""
    from bookreader.training.loop import METRICS_FILE

    path = run_dir / METRICS_FILE
    if not path.is_file():
        raise UsageError(f"{run_dir}: no {METRICS_FILE} (is it a training run's folder?)")
    records = []
    for line in path.read_text(encoding="utf-8").splitlines():
        try:
            record = json.loads(line)
        except json.JSONDecodeError:
            continue
        if isinstance(record, dict) and "step" in record and "loss" in record:
            records.append(record)
    if not records:
        raise UsageError(f"{path}: no metrics recorded yet")
    return records


def training_figure(records: list[dict[str, Any]], title: str) -> Figure:
    """Loss (and the task's parts of it, where logged) and tokens per second, against step."""
    from matplotlib.figure import Figure

    figure = Figure(figsize=(10, 4), layout="constrained")
    loss_axes, speed_axes = figure.subplots(1, 2)
    steps = [r["step"] for r in records]
    loss_axes.plot(steps, [r["loss"] for r in records], label="loss", color="black")
    for key in ("lm_loss", "key_loss"):  # the passkey recipe's parts, when logged
        if all(key in r for r in records):
            loss_axes.plot(steps, [r[key] for r in records], label=key, linewidth=1)
    loss_axes.set_xlabel("step")
    loss_axes.set_ylabel("loss (nats per token)")
    loss_axes.set_title("loss")
    loss_axes.legend()
    speeds = [r.get("tokens_per_s", float("nan")) for r in records]
    speed_axes.plot(steps, speeds, color="tab:blue")
    speed_axes.set_xlabel("step")
    speed_axes.set_ylabel("tokens / s")
    speed_axes.set_ylim(bottom=0)
    speed_axes.set_title("throughput")
    figure.suptitle(title)
    return figure


def draw_training(records: list[dict[str, Any]], title: str, path: Path) -> None:
    require_matplotlib()
    save(training_figure(records, title), path)
