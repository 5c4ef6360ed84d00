"""The book at a glance: who and what recurs, chapter by chapter, found without a model.

Names are found from capitalisation alone, so the rule works on any book in a language that
capitalises names (see README, "Map", for its limits):

1. A word is a *name word* when it is capitalised at least `MIN_MENTIONS` times where a sentence
   does not start (after a full stop, at a paragraph's start or an opening quote it proves
   nothing), is rarely written in lower case elsewhere (`whale`, `will`, `rose` are then common
   words), is not a title (Mr, Captain, Lady...) and is not a weekday, month or pronoun.
2. A *mention* is a run of name words standing next to each other ("Elizabeth Bennet"), with
   the title before it kept ("Mr. Darcy"). A run of more than `MAX_NAME_WORDS` is cut.
3. Mentions are merged into one entry only where the text makes that unambiguous: a title plus
   one word joins that word's entry unless the word takes both male and female titles (Mr. and
   Mrs. Bennet are two people); a single word joins the one multi-word name it is part of
   (Jory -> Jory Tregarth), and stays on its own when it is part of two (Marrow in Silas Marrow
   and Hester Marrow).
4. An entry is shown under its most frequent form and ranked by its mentions in all chapters.

With `terms`, the words or phrases given are counted instead (whole words, any case).
"""

from __future__ import annotations

import re
from collections import Counter, defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from bookreader.book import Book

MAP_SCHEMA = "bookreader.map/1"
MIN_MENTIONS = 3  # capitalised mid-sentence at least this often to be a name word
MAX_LOWER_SHARE = 0.1  # at most this share of a word's uses in lower case ("rose", "will")
MAX_NAME_WORDS = 4

MALE_TITLES = {"mr", "mister", "sir", "lord", "king", "prince", "monsieur", "master", "uncle"}
MALE_TITLES |= {"father", "brother", "duke", "count", "baron", "herr", "señor", "signor"}
FEMALE_TITLES = {"mrs", "ms", "miss", "lady", "madam", "madame", "mme", "mlle", "queen"}
FEMALE_TITLES |= {"princess", "aunt", "sister", "mother", "duchess", "countess", "dame", "frau"}
NEUTRAL_TITLES = {"dr", "doctor", "captain", "capt", "professor", "prof", "colonel", "col"}
NEUTRAL_TITLES |= {"general", "major", "lieutenant", "sergeant", "saint", "st", "rev"}
NEUTRAL_TITLES |= {"reverend", "judge", "mate", "admiral", "governor", "president", "inspector"}
TITLES = MALE_TITLES | FEMALE_TITLES | NEUTRAL_TITLES
ABBREVIATED = {"mr", "mrs", "ms", "dr", "st", "mme", "mlle", "capt", "col", "prof", "rev"}
DOMINANT_SHARE = 0.75  # a bare surname goes to the titled form holding this share of them
# Capitalised in mid-sentence but never a character: the pronoun I and its kin, calendar words.
NEVER_NAMES = {
    "i", "i'm", "i'll", "i've", "i'd", "o", "oh", "ah", "chapter", "book", "part", "volume",
    "monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday",
    "january", "february", "march", "april", "may", "june", "july", "august", "september",
    "october", "november", "december", "mr", "mrs",
}  # fmt: skip

# A word: letters, with inner apostrophes ("O'Brien", "Darcy's").
_WORD = re.compile(r"[^\W\d_]+(?:['’][^\W\d_]+)*")
_POSSESSIVE = re.compile(r"['’]s$", re.IGNORECASE)
_OPENERS = "\"'“‘([—–-_*"
_CLOSERS = "\"'”’)]"


@dataclass
class _Token:
    text: str  # possessive stripped
    start: int
    end: int
    initial: bool  # starts a sentence, a paragraph or a quotation
    possessive: bool = False


@dataclass
class MapEntry:
    """One character or term: its mentions per chapter (0-based chapter order)."""

    name: str
    counts: list[int]
    forms: list[str] = field(default_factory=list)  # the surface forms merged, most frequent first

    @property
    def total(self) -> int:
        return sum(self.counts)

    @property
    def chapters(self) -> int:
        return sum(1 for n in self.counts if n)

    @property
    def first(self) -> int | None:
        return next((i for i, n in enumerate(self.counts) if n), None)

    @property
    def last(self) -> int | None:
        return next((i for i in reversed(range(len(self.counts))) if self.counts[i]), None)

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "forms": self.forms,
            "total": self.total,
            "chapters": self.chapters,
            "first_chapter": None if self.first is None else self.first + 1,
            "last_chapter": None if self.last is None else self.last + 1,
            "counts": self.counts,
        }


@dataclass
class BookMap:
    title: str
    chapter_titles: list[str]
    entries: list[MapEntry]
    source: str  # "names" (found) or "terms" (given)

    def to_dict(self, book: dict[str, Any] | None = None) -> dict[str, Any]:
        """The map as JSON (`bookreader.map/1`); `book`: the book's description, when given."""
        data: dict[str, Any] = {"schema": MAP_SCHEMA}
        if book is not None:
            data["book"] = book
        data["source"] = self.source
        data["chapters"] = [
            {"number": i + 1, "title": t} for i, t in enumerate(self.chapter_titles)
        ]
        data["entries"] = [entry.to_dict() for entry in self.entries]
        return data


# Tokens -------------------------------------------------------------------------------------


def _is_initial(text: str, start: int) -> bool:
    """Whether the word at `start` opens a sentence, a paragraph or a quotation: a capital
    there proves nothing about the word."""
    i = start - 1
    while i >= 0 and text[i] in " \t":
        i -= 1
    if i < 0 or text[i] == "\n":
        return True
    if text[i] in _OPENERS:
        return True  # "“Well,” ..." and "—Then": speech or an aside starts
    if text[i] in _CLOSERS:  # `”` after a full stop ends a sentence; after a comma it does not
        i -= 1
    return i < 0 or text[i] in ".!?:;\n"


def tokens(text: str) -> list[_Token]:
    found = []
    for m in _WORD.finditer(text):
        word = _POSSESSIVE.sub("", m.group())
        found.append(
            _Token(word, m.start(), m.end(), _is_initial(text, m.start()), word != m.group())
        )
    return found


def _capitalised(word: str) -> bool:
    # "Ahab" and "McCarthy", not "AHAB" (headings, shouting) nor "a".
    return word[0].isupper() and any(c.islower() for c in word[1:])


def _title_before(text: str, previous: _Token, token: _Token) -> str | None:
    """The title just before a name ("Captain Ahab", "Mr. Darcy"), as a lower-case key: a
    capitalised title, followed by a space, or by a full stop if it is an abbreviation ("the
    mate. Jim went" has none)."""
    key = previous.text.lower()
    gap = text[previous.end : token.start]
    if key not in TITLES or not _capitalised(previous.text):
        return None
    return key if gap == " " or (gap == ". " and key in ABBREVIATED) else None


# Finding names ------------------------------------------------------------------------------


@dataclass
class _Vocabulary:
    """What the whole book says about each capitalised word."""

    names: set[str]  # name words: they start a mention
    namelike: set[str]  # capitalised and not a common word: they may join a mention


def vocabulary(texts: Sequence[str]) -> _Vocabulary:
    """Name words: capitalised in mid-sentence often enough and seldom seen in lower case."""
    mid = Counter[str]()
    cap = Counter[str]()
    lower = Counter[str]()
    for text in texts:
        for token in tokens(text):
            word = token.text
            if _capitalised(word):
                cap[word] += 1
                if not token.initial:
                    mid[word] += 1
            elif word.islower():
                lower[word] += 1

    def namelike(word: str) -> bool:
        key = word.lower().replace("’", "'")
        if key in NEVER_NAMES or key.startswith("i'") or key in TITLES or len(word) < 2:
            return False
        return lower[key] <= MAX_LOWER_SHARE * (cap[word] + lower[key])

    return _Vocabulary(
        names={w for w, n in mid.items() if n >= MIN_MENTIONS and namelike(w)},
        namelike={w for w in cap if namelike(w)},
    )


@dataclass(frozen=True)
class _Mention:
    title: str | None  # lower-case title key ("mr") or None
    words: tuple[str, ...]
    chapter: int


def mentions(texts: Sequence[str], vocab: _Vocabulary) -> list[_Mention]:
    """Runs of adjacent name-like words (separated by one space) holding a name word, with a
    title just before them ("Mr. Darcy", "Mattock Tregarth" where only Tregarth recurs)."""
    found: list[_Mention] = []
    for chapter, text in enumerate(texts):
        toks = tokens(text)
        i = 0
        while i < len(toks):
            if toks[i].text not in vocab.namelike:
                i += 1
                continue
            j = i + 1
            while (
                j < len(toks)
                and j - i < MAX_NAME_WORDS
                and toks[j].text in vocab.namelike
                and not toks[j - 1].possessive  # "Darcy's Pemberley" is two names
                and text[toks[j - 1].end : toks[j].start] == " "
            ):
                j += 1
            words = tuple(t.text for t in toks[i:j])
            if not any(w in vocab.names for w in words):
                i = j
                continue
            title = None
            if i > 0:
                title = _title_before(text, toks[i - 1], toks[i])
            found.append(_Mention(title, words, chapter))
            i = j
    return found


def _gender(titles: set[str]) -> set[str]:
    return {"male" if t in MALE_TITLES else "female" for t in titles if t not in NEUTRAL_TITLES}


def _dominant(word: str, titles: Counter[str]) -> str | None:
    """The titled form ("mr Darcy") that a bare surname stands for, if one clearly dominates."""
    title, count = titles.most_common(1)[0]
    return f"{title} {word}" if count >= DOMINANT_SHARE * titles.total() else None


def _group_key(
    mention: _Mention,
    multi: dict[str, list[tuple[str, ...]]],
    runs: Counter[tuple[str, ...]],
    mixed: dict[str, str | None],
) -> str:
    """The entry a mention belongs to, merging only what the text makes unambiguous."""
    words = mention.words
    if len(words) > 1:
        return " ".join(words)
    word = words[0]
    if word in mixed:
        if mention.title is not None:
            return f"{mention.title} {word}"  # Mr. Bennet and Mrs. Bennet: two people
        # Bare "Darcy" where Mr. Darcy outnumbers Miss Darcy three to one is Mr. Darcy.
        return mixed[word] or word
    owners = multi.get(word, [])
    # One multi-word name, recurring, holds this word: the text makes the merge clear.
    if len(owners) == 1 and runs[owners[0]] >= 2 and word not in mixed:
        return " ".join(owners[0])
    return word


def _surface(mention: _Mention) -> str:
    words = " ".join(mention.words)
    if mention.title is None:
        return words
    dot = "." if mention.title in ABBREVIATED else ""
    return f"{mention.title.capitalize()}{dot} {words}"


def find_names(texts: Sequence[str], top: int) -> list[MapEntry]:
    """The `top` most mentioned characters and recurring names of the chapters `texts`."""
    found = mentions(texts, vocabulary(texts))
    # Every multi-word name a word is part of: even one "Elias Penhallow" makes "Mr. Penhallow"
    # ambiguous next to "Wenna Penhallow".
    runs = Counter(m.words for m in found if len(m.words) > 1)
    multi: dict[str, list[tuple[str, ...]]] = defaultdict(list)
    for words in runs:
        for word in words:
            multi[word].append(words)
    titles: dict[str, Counter[str]] = defaultdict(Counter)
    for m in found:
        if m.title is not None and len(m.words) == 1:
            titles[m.words[0]][m.title] += 1
    mixed = {
        word: _dominant(word, seen) for word, seen in titles.items() if len(_gender(set(seen))) > 1
    }

    counts: dict[str, list[int]] = defaultdict(lambda: [0] * len(texts))
    forms: dict[str, Counter[str]] = defaultdict(Counter)
    for m in found:
        key = _group_key(m, multi, runs, mixed)
        counts[key][m.chapter] += 1
        forms[key][_surface(m)] += 1
    entries = [
        MapEntry(
            forms[key].most_common(1)[0][0], counts[key], [f for f, _ in forms[key].most_common()]
        )
        for key in counts
    ]
    entries.sort(key=lambda e: (-e.total, e.first or 0, e.name))
    return entries[:top]


def count_terms(texts: Sequence[str], terms: Sequence[str]) -> list[MapEntry]:
    """Whole-word, case-insensitive mentions of each term (a word or a phrase) per chapter."""
    entries = []
    for term in terms:
        words = term.split()
        pattern = re.compile(
            r"(?<![\w])" + r"\s+".join(re.escape(w) for w in words) + r"(?:['’]s)?(?![\w])",
            re.IGNORECASE,
        )
        entries.append(MapEntry(term, [len(pattern.findall(text)) for text in texts], [term]))
    return entries


def book_map(book: Book, terms: Sequence[str] | None = None, top: int = 20) -> BookMap:
    texts = [chapter.text for chapter in book.chapters]
    titles = [chapter.title for chapter in book.chapters]
    if terms:
        return BookMap(book.title, titles, count_terms(texts, terms), "terms")
    return BookMap(book.title, titles, find_names(texts, top), "names")


SPARKS = "▁▂▃▄▅▆▇█"


def sparkline(counts: Sequence[int], width: int = 60) -> str:
    """One block per chapter (or per run of chapters when there are more than `width`), its
    height relative to the busiest; a space where the name is absent."""
    if len(counts) > width:  # bin: the sum over each run of chapters
        size = -(-len(counts) // width)
        counts = [sum(counts[i : i + size]) for i in range(0, len(counts), size)]
    peak = max(counts, default=0)
    if peak == 0:
        return " " * len(counts)
    return "".join(
        " " if n == 0 else SPARKS[min(len(SPARKS) - 1, (n * len(SPARKS) - 1) // peak)]
        for n in counts
    )
