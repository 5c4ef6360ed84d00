"""Question answering figures of the extractive engine.

Sets:
- `benchmarks/qa/dev.jsonl`: answerable factoid and cross-chapter questions written for this
  project over corpus books, each with evidence strings (short quotes). A question counts as
  answered when the cited passages (top 3 by default) hold one of its evidence strings; a
  declined question counts as a false refusal. Reported per split (tune / test) and against plain
  BM25 top-k over the same passages (the baseline, same process).
- `benchmarks/qa/decline.jsonl`: off-topic and false-premise questions; the share declined
  (`found: false`).
- samples/questions.jsonl on each format of The Lighthouse Keeper's Ledger (answer recall@k).
- held out: the short-answer questions of ../shared/corpus/qa (written elsewhere, unvetted; a
  smoke test, never tuned on), and its `negative` questions' decline rate.
The corpus sets are skipped when ../shared/corpus is absent.

Usage: python benchmarks/qa.py [--k 3] [--split tune|test|all] [--misses]
"""

from __future__ import annotations

import argparse
import json
import re
import time
from collections import defaultdict
from collections.abc import Callable
from functools import cache
from pathlib import Path

import numpy as np

from bookreader.engines.base import BookState
from bookreader.engines.extractive import ExtractiveEngine
from bookreader.engines.passages import terms
from bookreader.loaders import load

ROOT = Path(__file__).resolve().parents[1]
SAMPLES = ROOT / "samples"
DEV = ROOT / "benchmarks" / "qa"
CORPUS = ROOT.parent / "shared" / "corpus"
SAMPLE_BOOKS = [
    SAMPLES / f"the-lighthouse-keepers-ledger.{ext}" for ext in ("txt", "md", "epub", "pdf")
]
HELD_OUT_BOOKS = {
    "Moby Dick": "txt/homehome_mobydick.txt",
    "Alice's Adventures in Wonderland": "txt/homehome_aliceinwonderland.txt",
    "A Christmas Carol": "txt/huffman_pg46_christmascarol_cp1252.txt",
    "Frankenstein": "txt/homehome_frankenstein.txt",
    "Pride and Prejudice": "txt/homehome_prideandprejudice.txt",
    "Ulysses": "txt/huffman_4300-0_ulysses_cp1252.txt",
    "The Yellow Wallpaper": "txt/homehome_yellowwallpaper.txt",
}
Retriever = Callable[[BookState, str, int], list[str]]


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


def holds_evidence(evidence: list[str], passages: list[str]) -> bool:
    joined = normalise(" ".join(passages))
    return any(normalise(e) in joined for e in evidence)


@cache
def state_of(path: Path) -> BookState:
    return ExtractiveEngine().read(load(path))


def engine_retriever(engine: ExtractiveEngine) -> Retriever:
    def retrieve(state: BookState, question: str, k: int) -> list[str]:
        return [h.passage.text for h in engine.search(state, question, k=k)]

    return retrieve


def plain_bm25(state: BookState, question: str, k: int) -> list[str]:
    """The baseline: BM25's top k over the same passages, never declining."""
    index = ExtractiveEngine.index(state)
    scores = index.scores(sorted(set(terms(question))))
    top = np.argsort(-scores, kind="stable")[:k]
    return [index.passages[i].text for i in top if scores[i] > 0]


def read_set(name: str, split: str) -> list[dict]:
    rows = [json.loads(line) for line in (DEV / name).open(encoding="utf-8")]
    return [q for q in rows if split == "all" or q["split"] == split]


def dev_figures(retrieve: Retriever, label: str, k: int, split: str, misses: bool) -> None:
    answerable = read_set("dev.jsonl", split)
    declines = read_set("decline.jsonl", split)
    ok = refused = 0
    for q in answerable:
        cited = retrieve(state_of(CORPUS / q["book"]), q["question"], k)
        ok += holds_evidence(q["evidence"], cited)
        refused += not cited
        if misses and not holds_evidence(q["evidence"], cited):
            print(f"    missed{' (declined)' if not cited else ''}: {q['question']}")
    declined = 0
    for q in declines:
        cited = retrieve(state_of(CORPUS / q["book"]), q["question"], k)
        declined += not cited
        if misses and cited:
            print(f"    answered: {q['question']}")
    n, m = max(len(answerable), 1), max(len(declines), 1)
    print(
        f"dev {split:>5} {label:<10} evidence@{k} {ok / n:.3f} ({ok}/{len(answerable)})"
        f"  false refusals {refused / n:.3f} ({refused})"
        f"  declined {declined / m:.3f} ({declined}/{len(declines)})"
    )


def sample_figures(retrieve: Retriever, label: str, k: int) -> None:
    questions = [json.loads(line) for line in (SAMPLES / "questions.jsonl").open()]
    for path in SAMPLE_BOOKS:
        state = state_of(path)
        results = [answered(q["answer"], retrieve(state, q["question"], k)) for q in questions]
        print(
            f"samples {path.suffix[1:]:>4} {label:<10} recall@{k} "
            f"{sum(results) / len(results):.3f} ({sum(results)}/{len(results)})"
        )


def held_out_figures(retrieve: Retriever, label: str, k: int) -> None:
    by_book: dict[str, list[dict]] = defaultdict(list)
    for path in sorted((CORPUS / "qa").glob("*.jsonl")):
        for line in path.open(encoding="utf-8"):
            q = json.loads(line)
            if q.get("book") in HELD_OUT_BOOKS:
                by_book[q["book"]].append(q)
    hits = total = declined = negatives = 0
    for book, questions in sorted(by_book.items()):
        state = state_of(CORPUS / HELD_OUT_BOOKS[book])
        short = [q for q in questions if str(q.get("grounding", "")).startswith("short-answer")]
        ok = [answered(q["answers"][0], retrieve(state, q["question"], k)) for q in short]
        hits, total = hits + sum(ok), total + len(ok)
        negative = [q for q in questions if q.get("kind") == "negative"]
        declined += sum(not retrieve(state, q["question"], k) for q in negative)
        negatives += len(negative)
    print(
        f"held-out corpus/qa {label:<10} recall@{k} {hits / max(total, 1):.3f} ({hits}/{total})"
        f"  negatives declined {declined}/{negatives}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--k", type=int, default=3)
    parser.add_argument("--split", default="both", choices=("tune", "test", "all", "both"))
    parser.add_argument("--misses", action="store_true", help="print the questions missed")
    args = parser.parse_args()
    start = time.perf_counter()
    retrievers = {"engine": engine_retriever(ExtractiveEngine()), "plain BM25": plain_bm25}
    for label, retrieve in retrievers.items():
        sample_figures(retrieve, label, args.k)
    if not CORPUS.is_dir():
        print(f"corpus sets: skipped ({CORPUS} not found)")
        return
    splits = ("tune", "test") if args.split == "both" else (args.split,)
    for split in splits:
        for label, retrieve in retrievers.items():
            dev_figures(retrieve, label, args.k, split, args.misses and label == "engine")
    for label, retrieve in retrievers.items():
        held_out_figures(retrieve, label, args.k)
    print(f"({time.perf_counter() - start:.1f} s)")


if __name__ == "__main__":
    main()
