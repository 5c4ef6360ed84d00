"""Answer recall@3 of the extractive engine.

A question counts as answered when its answer, or every content word of it, appears in the text
of the top 3 cited passages. Sets:
- samples/questions.jsonl on each format of The Lighthouse Keeper's Ledger (target >= 0.8);
- the short-answer questions of ../shared/corpus/qa (skipped without the corpus), each mapped to
  its plain-text book; the corpus's `negative` questions (answers not in the book) are reported
  as the share the engine declines ("No good match").

Usage: python benchmarks/qa.py [--k 3]
"""

from __future__ import annotations

import argparse
import json
import re
import time
from collections import defaultdict
from pathlib import Path

from bookreader.engines.extractive import ExtractiveEngine
from bookreader.engines.passages import terms
from bookreader.loaders import load

ROOT = Path(__file__).resolve().parents[1]
SAMPLES = ROOT / "samples"
CORPUS = ROOT.parent / "shared" / "corpus"
SAMPLE_BOOKS = [
    SAMPLES / f"the-lighthouse-keepers-ledger.{ext}" for ext in ("txt", "md", "epub", "pdf")
]
CORPUS_BOOKS = {
    "Moby Dick": "txt/homehome_mobydick.txt",
    "Alice's Adventures in Wonderland": "txt/homehome_aliceinwonderland.txt",
    "A Christmas Carol": "txt/huffman_pg46_christmascarol_cp1252.txt",
    "Frankenstein": "txt/homehome_frankenstein.txt",
    "Pride and Prejudice": "txt/homehome_prideandprejudice.txt",
    "Ulysses": "txt/huffman_4300-0_ulysses_cp1252.txt",
    "The Yellow Wallpaper": "txt/homehome_yellowwallpaper.txt",
}


def normalise(text: str) -> str:
    return " ".join(re.sub(r"[“”\"’'‘]", "'", text.lower()).split())


def answered(answer: str, passages: list[str]) -> bool:
    """The answer verbatim, or all its content words, inside the cited passages."""
    joined = normalise(" ".join(passages))
    if normalise(answer) in joined:
        return True
    words = set(terms(re.sub(r"\(.*?\)", "", answer)))
    found = set(terms(joined))
    return bool(words) and words <= found


def recall(engine: ExtractiveEngine, book_path: Path, questions: list[dict], k: int) -> list[bool]:
    state = engine.read(load(book_path))
    results = []
    for q in questions:
        hits = engine.search(state, q["question"], k=k)
        results.append(answered(q["answer"], [h.passage.text for h in hits]))
    return results


def sample_figures(engine: ExtractiveEngine, k: int) -> None:
    questions = [json.loads(line) for line in (SAMPLES / "questions.jsonl").open()]
    for path in SAMPLE_BOOKS:
        results = recall(engine, path, questions, k)
        by_kind: dict[str, list[bool]] = defaultdict(list)
        for q, ok in zip(questions, results, strict=True):
            by_kind[q["kind"]].append(ok)
        kinds = ", ".join(f"{kind} {sum(v)}/{len(v)}" for kind, v in sorted(by_kind.items()))
        missed = [q["question"] for q, ok in zip(questions, results, strict=True) if not ok]
        print(
            f"samples {path.suffix[1:]:>4}: recall@{k} = {sum(results) / len(results):.3f} ({kinds})"
        )
        for question in missed:
            print(f"    missed: {question}")


def corpus_figures(engine: ExtractiveEngine, k: int) -> None:
    if not CORPUS.is_dir():
        print(f"corpus: skipped ({CORPUS} not found)")
        return
    by_book: dict[str, list[dict]] = defaultdict(list)
    for path in sorted((CORPUS / "qa").glob("*.jsonl")):
        for line in path.open(encoding="utf-8"):
            q = json.loads(line)
            if q.get("book") in CORPUS_BOOKS:
                by_book[q["book"]].append(q)
    hits = total = declined = negatives = 0
    for book, questions in sorted(by_book.items()):
        state = engine.read(load(CORPUS / CORPUS_BOOKS[book]))
        short = [q for q in questions if str(q.get("grounding", "")).startswith("short-answer")]
        ok = [
            answered(
                q["answers"][0], [h.passage.text for h in engine.search(state, q["question"], k=k)]
            )
            for q in short
        ]
        hits, total = hits + sum(ok), total + len(ok)
        negative = [q for q in questions if q.get("kind") == "negative"]
        declined += sum(not engine.search(state, q["question"], k=k) for q in negative)
        negatives += len(negative)
        print(f"corpus {book}: {sum(ok)}/{len(ok)} short answers in the top {k}")
    print(f"corpus short-answer recall@{k} = {hits / max(total, 1):.3f} ({hits}/{total})")
    print(f"corpus negative questions declined: {declined}/{negatives}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--k", type=int, default=3)
    args = parser.parse_args()
    engine = ExtractiveEngine()
    start = time.perf_counter()
    sample_figures(engine, args.k)
    corpus_figures(engine, args.k)
    print(f"({time.perf_counter() - start:.1f} s)")


if __name__ == "__main__":
    main()
