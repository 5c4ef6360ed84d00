"""Cold `summarize` and cold `ask` of Moby-Dick and a cached `ask`, against just loading the book;
then the length of `summarize --length short` on every corpus book.

Each figure is a multiple of the time `loaders.load` takes on the same file in the same process
(medians over interleaved rounds). "Cold" means an empty cache: load, read into passages, write
the cache entry, then summarize (or answer). "Cached ask" opens the cached state (no loader, no
read) and answers a question. Targets: cold summarize and cold ask <= 10x load; cached ask
<= 0.5 s; a short summary, as printed, <= 300 words.

Usage: python benchmarks/summarize.py [--book PATH] [--length medium] [--no-lengths]
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
CORPUS = ROOT.parent / "shared" / "corpus"
BOOKS = [CORPUS / "txt" / "homehome_mobydick.txt", CORPUS / "epub" / "epubjs_moby-dick.epub"]
QUESTION = "Why does Captain Ahab hunt the white whale?"


def short_lengths() -> None:
    """Words of `summarize --length short` as printed (text format), on every corpus book."""
    from bookreader.cli.output import render_summary
    from bookreader.engines.extractive import ExtractiveEngine
    from bookreader.engines.registry import read_book
    from bookreader.errors import BookreaderError

    engine = ExtractiveEngine()
    worst = 0
    for book in sorted(p for folder in ("txt", "epub", "pdf") for p in (CORPUS / folder).glob("*")):
        try:
            state = read_book(book, engine)
        except BookreaderError as error:  # a book the loaders refuse: not a summary length
            print(f"  {book.name:<48} skipped ({error})")
            continue
        words = len(render_summary(engine.summarize(state, "short"), state, "text").split())
        worst = max(worst, words)
        print(f"  {book.name:<48} {words:5d} words, {len(state.book.chapters):4d} chapters")
    print(f"  longest short summary: {worst} words (target <= 300)")


def timed(func: Callable[[], Any]) -> tuple[float, Any]:
    start = time.perf_counter()
    result = func()
    return time.perf_counter() - start, result


def bench(book: Path, length: str, rounds: int) -> None:
    from bookreader.book import Citation
    from bookreader.engines.extractive import ExtractiveEngine
    from bookreader.engines.registry import read_book
    from bookreader.loaders import load

    engine = ExtractiveEngine()

    def cold() -> Any:
        state = read_book(book, engine, force=True)
        return engine.summarize(state, length=length)

    def cold_ask() -> list:
        reader = ExtractiveEngine()
        state = read_book(book, reader, force=True)
        return list(reader.ask(state, QUESTION))

    def cached_ask() -> list:
        reader = ExtractiveEngine()
        state = read_book(book, reader)
        assert state.cache_hit
        return list(reader.ask(state, QUESTION))

    # Rounds interleave the three measurements, so that load on a shared machine affects
    # the baseline and the figures alike; each figure is the median over the rounds.
    loads, colds, cold_asks, asks = [], [], [], []
    for _ in range(rounds):
        loads.append(timed(lambda: load(book))[0])
        cold_s, summary = timed(cold)
        colds.append(cold_s)
        cold_asks.append(timed(cold_ask)[0])
        ask_s, chunks = timed(cached_ask)
        asks.append(ask_s)
    load_s, cold_s, cold_ask_s, ask_s = (
        statistics.median(x) for x in (loads, colds, cold_asks, asks)
    )
    loaded = load(book)
    cited = sum(isinstance(c, Citation) for c in chunks)
    print(f"{book.name}: {loaded.word_count:,} words, {len(loaded.chapters)} chapters")
    print(f"  load                 {load_s:7.3f} s   1.00x")
    print(f"  cold summarize       {cold_s:7.3f} s   {cold_s / load_s:5.2f}x load (target <= 10x)")
    print(
        f"  cold ask             {cold_ask_s:7.3f} s   {cold_ask_s / load_s:5.2f}x load (target <= 10x)"
    )
    print(f"  cached ask           {ask_s:7.3f} s   {ask_s / load_s:5.2f}x load (target <= 0.5 s)")
    print(
        f"  summary: {len(summary.text.split())} words, {len(summary.chapters)} chapters; answer cites {cited}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--book", type=Path, action="append")
    parser.add_argument("--length", default="medium", choices=("short", "medium", "long"))
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--no-lengths", action="store_true", help="skip the short summaries")
    args = parser.parse_args()
    books = args.book or [b for b in BOOKS if b.is_file()]
    if not books:
        print(f"skipped: no book given and {CORPUS} not found")
        return
    with tempfile.TemporaryDirectory() as cache:
        os.environ["BOOKREADER_CACHE_DIR"] = cache  # cold: nothing cached yet
        for book in books:
            bench(book, args.length, args.rounds)
        if not args.no_lengths and CORPUS.is_dir():
            print("summarize --length short, as printed:")
            short_lengths()
    sys.stdout.flush()


if __name__ == "__main__":
    main()
