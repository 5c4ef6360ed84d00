"""Ranking the passages BM25 recalls, and deciding whether any of them answers the question.

BM25 recalls well (the answer is in its top 10 for most questions) but ranks poorly: a passage
full of the names a question mentions outranks the one where the asked thing is said. So BM25
only proposes `CANDIDATES` passages and this module reorders them:

- The question is parsed (`parse_question`). Its *focus* is what is asked about: the first
  content word after the question word, skipping auxiliaries, names, possessives, prepositions,
  "kind of", "name of" and words that name the answer's kind ("what date"): "What kind of snake
  killed Julia Stoner?" -> snake; "Who does Lydia run away with?" -> run. The focus weighs
  `FOCUS_WEIGHT` times its IDF; every other word, names included (they only set the topic),
  its IDF. "Who" and "what name" questions expect a name, "how many" and "what year" a number.
- Each candidate is scored on its best sentence (`WINDOW`): the share of the question's weight
  it holds, so the words must be near each other; plus `BM25_SHARE` of the passage's BM25 score,
  `PHRASE_BONUS` for the question's word pairs standing side by side ("chief mate"), and
  `ANSWER_BONUS` when that sentence holds a word of the expected kind. A candidate without a
  noun focus (the `thing` asked about) is damped.
- A word the book never uses weighs as much as the question's typical word: it may be a category
  the answer instantiates, or a false premise; either way it is not in any passage.
- A second place is cited right after the best passage only when the question spans two
  places: the best misses `SECOND_HOP_MISSING` of the question's weight and another candidate
  holds some of what it misses (`choose_passages`).

`never_mentioned` declines before any passage is ranked when the thing asked about (a noun focus)
or a name the question gives is a word the book never uses: "Which airline did Ahab fly?". A
class name ("what instrument") is excused, since the answer may name only the instance.
`judge` declines (with a one-line reason) when no sentence holds `MIN_LOCAL` of the question's
weight (nor the best sentence and a second place together `MIN_JOINT`), or when the best passage
lacks the noun focus: words that are common in the book but never together give no confident answer.
Every constant was measured on the tune half of `benchmarks/qa/` (see benchmarks/qa.py).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from functools import cache
from itertools import pairwise

import numpy as np

from bookreader.engines.passages import STOPWORDS, sentence_spans, terms

CANDIDATES = 40  # BM25's top passages that are reranked
WINDOW = 1  # sentences whose share of the question ranks a passage (measured: 1 > 2 > 3)
NEAR_WINDOW = 2  # adjacent sentences that must hold the question's words to answer it
FOCUS_WEIGHT = 2.0
FOCUS_WORDS = 1  # content words of the focus (measured: 1 >= 2)
UNFOCUSED_DAMPING = 0.5  # a passage without the focus word
BM25_SHARE = 0.3  # how much of the final score BM25 keeps
PHRASE_BONUS = 0.2  # times the share of the question's word pairs found side by side
ANSWER_BONUS = 0.15  # the best sentence holds a word of the answer's kind (a name, a number)
MIN_LOCAL = 0.45  # share of the question's weight the best sentence must hold...
MIN_JOINT = 0.6  # ...or the best sentence and a second place, together
TOGETHER = 2  # question words that must meet in two adjacent sentences
SECOND_HOP_MISSING = 0.25  # missing share of the weight that makes a question span two places

_QUESTION_WORDS = "what which who whom whose where when why how"
_AUXILIARIES = "is are was were be been do does did has have had can could will would"
# "What kind of X", "the name of X": the noun after "of" is the focus, not these.
_OF_NOUNS = "kind kinds type types sort sorts name names colour color manner part number"
QUESTION_WORDS = frozenset(_QUESTION_WORDS.split())
# Prepositions that the stopword list keeps ("What was inside the locker?" asks about the locker).
PREPOSITIONS = frozenset(
    [
        "inside",
        "outside",
        "behind",
        "beneath",
        "beside",
        "near",
        "around",
        "across",
        "along",
        "among",
    ]
)
AUXILIARIES = frozenset(_AUXILIARIES.split())
OF_NOUNS = frozenset(_OF_NOUNS.split())
COUNTS = frozenset({"many", "much"})  # "how many steps": the steps are asked about
# "How large", "how long": the answer is a quantity; the adjective is not what is asked about.
_MEASURES = "large long far old big tall high deep wide heavy"
MEASURES = frozenset(_MEASURES.split())
# Nouns that name the kind of the answer rather than a word it is written with: "on what date"
# is answered by "14 March 1887", "which city" by "Bristol". They are not a focus to match.
ANSWER_KINDS = {
    **dict.fromkeys(["date", "year", "years", "day", "month", "time", "hour", "age"], "number"),
    **dict.fromkeys(["city", "town", "country", "place", "person", "man", "woman"], "name"),
}
# Nouns that name a class the answer belongs to ("what instrument" -> a violin): a book can
# answer the question without ever writing the class's name, so its absence declines nothing.
_CATEGORIES = (
    "animal bird fish tree flower plant colour color instrument weapon tool vehicle profession "
    "occupation job trade work business food dish drink meal game sport language disease illness "
    "injury material metal religion nationality currency gift present song book poem title rank "
    "role relation relationship thing object item method way reason illness nickname"
)
CATEGORIES = frozenset(_CATEGORIES.split())
_WORD = re.compile(r"[^\W_]+(?:['’][^\W_]+)*")


@dataclass(frozen=True)
class Question:
    """What a question asks, as index terms."""

    terms: tuple[str, ...]  # unique content terms, in question order
    focus: frozenset[str] = field(default_factory=frozenset)
    names: frozenset[str] = field(default_factory=frozenset)
    expects: str | None = None  # "name" or "number": what the answer's words look like
    # The focus is a noun ("which airline", "the narrator's husband"), not a verb ("who owned"):
    # a book can answer a verb in other words, but not a thing it never names.
    noun_focus: bool = False

    @property
    def thing(self) -> frozenset[str]:
        """The focus when it is a noun: what a passage must hold to answer. A verb focus still
        weighs more than other words, but a passage without it is neither damped nor declined:
        a book tells an act in words of its own ("eloped" for "run away"), and generic verbs
        (put, take, say) would pull passages that merely repeat them. Measured on the tune
        half, with `wordforms`: 43 of 60; damping a passage without the verb, 42; before
        both, 41."""
        return self.focus if self.noun_focus else frozenset()


def parse_question(text: str) -> Question:
    words = _WORD.findall(text)
    names = frozenset(
        t for n, word in enumerate(words) if n > 0 and word[:1].isupper() for t in terms(word)
    )
    unique = tuple(dict.fromkeys(t for t in terms(text) if t not in COUNTS))
    focus = _focus(words, names)
    return Question(unique, focus, names, _expects(words), _is_noun(words, focus))


_DETERMINER_LIST = "the a an his her its their my your our this that these those of"
DETERMINERS = frozenset(_DETERMINER_LIST.split())


def _is_noun(words: Sequence[str], focus: frozenset[str]) -> bool:
    """Whether the focus stands where a noun does: after a determiner, a possessive or "of"
    ("the name of Elizabeth's twin"), or right after what/which when an auxiliary or another
    content word follows ("which airline did", "which helicopter carries"; not "what happened
    to")."""
    lowered = [w.lower() for w in words]
    for n, word in enumerate(lowered):
        if n == 0 or not focus & set(terms(word)):
            continue
        before, after = lowered[n - 1], lowered[n + 1] if n + 1 < len(lowered) else ""
        if before in DETERMINERS or before.endswith(("'s", "’s")):
            return True
        follows = after in AUXILIARIES or bool(after and terms(after))
        return before in {"what", "which"} and follows
    return False


def _expects(words: Sequence[str]) -> str | None:
    lowered = [w.lower() for w in words]
    after = next((b for a, b in pairwise(lowered) if a in {"what", "which"}), "")
    if after in ANSWER_KINDS:
        return ANSWER_KINDS[after]
    if {"who", "whom", "whose"} & set(lowered) or "name" in lowered:
        return "name"
    if any(a == "how" and b in COUNTS | MEASURES for a, b in pairwise(lowered)):
        return "number"
    return None


def _focus(words: Sequence[str], names: frozenset[str]) -> frozenset[str]:
    """The first run of content words after the question word (at most `FOCUS_WORDS`): "the
    chief mate of" -> chief, mate; "Scrooge's old partner" -> old, partner. With do-support
    ("What did the creature promise?") the subject is skipped: the verb is what is asked about."""
    lowered = [w.lower() for w in words]
    start = next((n for n, w in enumerate(lowered) if w in QUESTION_WORDS), None)
    if start is None or lowered[start] in {"where", "when", "why"}:
        return frozenset()  # no asked-about noun: the place, time or reason is the answer
    first = start + 1
    if lowered[first : first + 1] and lowered[first] in {"do", "does", "did"}:
        first = _after_subject(words, first + 1)
    run: list[str] = []
    for n in range(first, len(words)):
        word = lowered[n]
        skip = word in AUXILIARIES or word in STOPWORDS or word in QUESTION_WORDS
        skip = skip or word in PREPOSITIONS
        how_much = n == start + 1 and lowered[start] == "how" and word in MEASURES
        skip = (
            skip
            or how_much
            or word in COUNTS
            or (word in OF_NOUNS and lowered[n + 1 : n + 2] == ["of"])
        )
        skip = skip or word.endswith(("'s", "’s"))  # "Ishmael's wife": the possessor is topic
        skip = skip or (not run and word in ANSWER_KINDS)
        found = terms(word)
        if skip or not found or found[0] in names:
            if run:
                break
            continue
        run.append(found[0])
        if len(run) == FOCUS_WORDS:
            break
    return frozenset(run)


def _after_subject(words: Sequence[str], at: int) -> int:
    """Where the verb starts after a do-support subject: past its determiners, then past a run
    of capitalised words ("Tiny Tim") or one noun ("the creature")."""
    while at < len(words) and words[at].lower() in STOPWORDS:
        at += 1
    if at < len(words) and words[at][:1].isupper():
        while at < len(words) and words[at][:1].isupper():
            at += 1
        return at
    return at + 1


def never_mentioned(question: Question, knows: Callable[[str], bool]) -> str:
    """Why the book cannot answer `question` before any passage is read, or "": the thing it asks
    about (its focus) or a name it gives is a word the book never uses ("Which airline did Ahab
    fly?", "Who shot Watson's dog in Brazil?"). A class name ("what instrument") is excused: the
    answer may name the instance only."""
    missing = [t for t in sorted(question.thing) if not knows(t) and t not in _category_terms()]
    missing += [t for t in sorted(question.names) if not knows(t)]
    if not missing:
        return ""
    return f'the book never mentions "{missing[0]}"'


@cache
def _category_terms() -> frozenset[str]:
    return frozenset(t for word in CATEGORIES for t in terms(word))


@dataclass(frozen=True)
class Scored:
    passage_id: int
    score: float
    local: float  # share of the question's weight in the best NEAR_WINDOW sentences
    held: frozenset[str]  # question terms anywhere in the passage
    window: frozenset[str]  # question terms in the best NEAR_WINDOW sentences
    kind: bool  # the best window holds a word of the answer's kind (a name, a number)
    sentence: tuple[int, int]  # span of the best window's first sentence, in the passage


class Weights:
    """Each question term's weight: IDF times its role (focus, name, other)."""

    def __init__(
        self, question: Question, idf: dict[str, float], elsewhere: dict[str, float] | None = None
    ) -> None:
        """`idf`: the question's words that the searched passages use; `elsewhere`: words the
        book uses outside them (a chapter-scoped question), weighed by their IDF but never as
        focus or name."""
        self.question = question
        self.of: dict[str, float] = {}
        elsewhere = elsewhere or {}
        # A word the book never uses weighs as much as its typical question word: it may be a
        # category the answer instantiates ("which city" -> Bristol), or a false premise.
        every = {**idf, **elsewhere}
        typical = float(np.mean(list(every.values()))) if every else 1.0
        for term in question.terms:
            role = FOCUS_WEIGHT if term in question.focus and term in idf else 1.0
            self.of[term] = role * idf.get(term, every.get(term, typical))
        self.total = sum(self.of.values()) or 1.0
        self.known = frozenset(idf)

    def knows_thing(self, idf: dict[str, float] | frozenset[str]) -> bool:
        return any(t in idf for t in self.question.thing)

    def share(self, held: set[str] | frozenset[str]) -> float:
        return sum(self.of[t] for t in held if t in self.of) / self.total


def pairs(sequence: Sequence[str]) -> set[tuple[str, str]]:
    return set(pairwise(sequence))


def best_window(
    sentence_terms: Sequence[set[str]], weights: Weights, size: int
) -> tuple[float, int, frozenset[str]]:
    """(share of the question's weight, first sentence, terms) of the best run of `size`
    adjacent sentences."""
    best, best_at, best_terms = -1.0, 0, frozenset[str]()
    for i in range(len(sentence_terms)):
        window = frozenset(set().union(*sentence_terms[i : i + size]))
        share = weights.share(window)
        if share > best:
            best, best_at, best_terms = share, i, window
    return best, best_at, best_terms


def score_passage(passage_id: int, text: str, weights: Weights, bm25: float) -> Scored:
    """The passage's best sentence and its final score: that sentence's share of the question's
    weight, BM25, the question's word pairs that stand side by side in the passage ("chief
    mate"), and a word of the answer's kind."""
    spans = sentence_spans(text) or [(0, len(text))]
    wanted = set(weights.of)
    sentence_terms = [wanted.intersection(terms(text[s:e])) for s, e in spans]
    best, best_at, _ = best_window(sentence_terms, weights, WINDOW)
    near, _, near_terms = best_window(sentence_terms, weights, NEAR_WINDOW)
    held = frozenset(set().union(*sentence_terms))
    question_pairs = pairs(weights.question.terms)
    side_by_side = len(question_pairs & pairs(terms(text))) / len(question_pairs or {None})
    score = (1 - BM25_SHARE) * best + BM25_SHARE * bm25 + PHRASE_BONUS * side_by_side
    window_spans = spans[best_at : best_at + WINDOW]
    kind = holds_answer_kind(text[window_spans[0][0] : window_spans[-1][1]], weights.question)
    if kind:
        score += ANSWER_BONUS
    if weights.knows_thing(weights.known) and not weights.question.thing & held:
        score *= UNFOCUSED_DAMPING
    # The marked sentence: of the window, the one holding more of the weight.
    window_terms = sentence_terms[best_at : best_at + WINDOW]
    pick = max(range(len(window_spans)), key=lambda j: weights.share(window_terms[j]))
    return Scored(passage_id, score, near, held, near_terms, kind, window_spans[pick])


_NAME = re.compile(r"(?<=[a-z,;:] )[A-Z][a-z]+")
_NUMBER = re.compile(
    r"\b(\d+|one|two|three|four|five|six|seven|eight|nine|ten|eleven|twelve|twenty|thirty|"
    r"forty|fifty|hundred|thousand|dozen|score)\b",
    re.IGNORECASE,
)


def holds_answer_kind(text: str, question: Question) -> bool:
    """Whether `text` holds a word of the kind the answer is: a name the question does not
    already give (for "who" questions), or a number (for "how many")."""
    if question.expects == "name":
        return any(not set(terms(m.group())) <= set(question.terms) for m in _NAME.finditer(text))
    if question.expects == "number":
        return _NUMBER.search(text) is not None
    return False


def rerank(
    candidates: Sequence[int], texts: Sequence[str], bm25: np.ndarray, weights: Weights
) -> list[Scored]:
    """Candidates (passage ids, their texts, their BM25 scores) best first."""
    top = float(bm25.max()) if len(bm25) else 1.0
    scored = [
        score_passage(pid, text, weights, float(b) / (top or 1.0))
        for pid, text, b in zip(candidates, texts, bm25, strict=True)
    ]
    return sorted(scored, key=lambda s: -s.score)


def choose_passages(ranked: Sequence[Scored], weights: Weights, k: int) -> list[Scored]:
    """The k best; when the best misses a real share of the question and another candidate
    holds some of that part, that one is cited second (a question that spans two places)."""
    chosen = list(ranked[:k])
    if not chosen or k < 2:
        return chosen
    first = chosen[0]
    missing = set(weights.of) - first.held
    rest = [s for s in ranked[1:] if s.held & missing]
    if not rest or weights.share(missing) < SECOND_HOP_MISSING:
        return chosen
    hop = max(rest, key=lambda s: (weights.share(s.held & missing), s.score))
    return [first, hop, *(s for s in chosen[1:] if s.passage_id != hop.passage_id)][:k]


def joint_window(chosen: Sequence[Scored], weights: Weights) -> frozenset[str]:
    """The question terms that the best window and the second place hold together."""
    if len(chosen) < 2:
        return chosen[0].window if chosen else frozenset()
    return max((chosen[0].window | other.held for other in chosen[1:]), key=weights.share)


def judge(
    question: Question, weights: Weights, chosen: Sequence[Scored], ranked: Sequence[Scored]
) -> str:
    """Why no passage answers the question, or "" when the chosen ones do: one of them must
    hold `MIN_LOCAL` of the question's weight in two adjacent sentences (or the best and a
    second place together `MIN_JOINT`), the best must hold the focus, and some candidate
    (`ranked`) must hold `TOGETHER` of the question's words in two adjacent sentences."""
    if not chosen:
        return "no passage holds any of its key words"
    best = chosen[0]
    local = max(c.local for c in chosen)
    if local < MIN_LOCAL and weights.share(joint_window(chosen, weights)) < MIN_JOINT:
        return "no passage holds the question's key words together"
    # Words that are each common in the book but never meet answer nothing: a question of two
    # or more words needs two of them in one place.
    if len(weights.known) >= 2 and max(len(c.window & weights.known) for c in ranked) < TOGETHER:
        return "its words occur in the book, but never together"
    if weights.knows_thing(weights.known) and not question.thing & best.held:
        focus = " ".join(sorted(question.thing))
        return f'no passage about "{focus}" holds the rest of the question'
    return ""
