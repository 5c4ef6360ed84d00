"""Chapter headings in running text (plain-text books, and PDFs without an outline).

A line is a *candidate* when it looks like a heading of some *family*: keyword headings
("CHAPTER I.", "Chapter 1. Loomings.", "LETTER I.", "STAVE I:  MARLEY'S GHOST"), containers
("PART ONE--The Old Buccaneer", "BOOK II"), Markdown ("## Title"), numbered titles
("I. A SCANDAL IN BOHEMIA"), bare numerals ("I.", "XII", "7"), bracketed numbers ("[ 1 ]"),
stand-alone words ("Epilogue", "PREFACE") and, in PDFs only, numbered sections ("2 Method").

A candidate is kept only when substantial text follows it before the next candidate of its
family, which rejects tables of contents. Then one level is chosen, most explicit first:
keyword chapters (with stand-alone words), Markdown, numbered titles, bracketed numbers, bare
numerals, numbered sections, containers. Containers around a chosen lower level are boundaries
only (their heading is not part of any chapter). Lower levels (e.g. "I." parts inside "I. A
SCANDAL IN BOHEMIA") stay in the text.
"""

from __future__ import annotations

import itertools
import re
from dataclasses import dataclass
from statistics import median

from bookreader.book import count_words
from bookreader.loaders.cleanup import clean_inline

MIN_CHAPTER_WORDS = 20  # less than this before the next heading of the family: a contents entry
TOC_RUN_MEDIAN_WORDS = 100  # a numbered run that restarts and is this thin was a contents list

_NUMBER_WORDS = [
    "one",
    "two",
    "three",
    "four",
    "five",
    "six",
    "seven",
    "eight",
    "nine",
    "ten",
    "eleven",
    "twelve",
    "thirteen",
    "fourteen",
    "fifteen",
    "sixteen",
    "seventeen",
    "eighteen",
    "nineteen",
    "twenty",
]
_ORDINALS = [
    "first",
    "second",
    "third",
    "fourth",
    "fifth",
    "sixth",
    "seventh",
    "eighth",
    "ninth",
    "tenth",
    "eleventh",
    "twelfth",
]
_ROMAN = r"[IVXLCDM]+"
_NUM = rf"(?:{_ROMAN}|\d{{1,3}}|{'|'.join(_NUMBER_WORDS + _ORDINALS)})"


def _keyword_alternatives(words: list[str]) -> str:
    return "|".join(f"{w.upper()}|{w.title()}" for w in words)


CHAPTER_WORDS = ["chapter", "letter", "stave", "episode", "canto", "adventure"]
CONTAINER_WORDS = ["part", "book", "volume"]
SPECIAL_WORDS = [
    "prologue",
    "epilogue",
    "preface",
    "introduction",
    "foreword",
    "afterword",
    "conclusion",
    "etymology",
    "extracts",
    "appendix",
    "postscript",
]
PDF_SPECIAL_WORDS = [
    "abstract",
    "references",
    "bibliography",
    "acknowledgements",
    "acknowledgments",
]

_KEYWORD = re.compile(
    rf"^\s*(?P<kw>{_keyword_alternatives(CHAPTER_WORDS + CONTAINER_WORDS)})\s+"
    rf"(?:the\s+)?(?P<num>{_NUM})\b(?!['’])\s*[.:]?\s*(?:(?:--|—|–|-|:|\.)\s*)?(?P<title>.*?)\s*$",
    re.IGNORECASE,
)
_MARKDOWN = re.compile(r"^(?P<hashes>#{1,6})\s+(?P<title>.+?)\s*#*\s*$")
_NUM_TITLED = re.compile(r"^\s*(?P<num>[IVXLC]+|\d{1,3})\.\s+(?P<title>[A-Z“\"'‘].{0,90})$")
_BARE = re.compile(r"^\s*(?P<num>[IVXLC]+|\d{1,3})\.?\s*$")
_BRACKET = re.compile(r"^\s*\[\s*(?P<num>\d{1,3})\s*\]\s*$")
_SECTION = re.compile(r"^\s*(?P<num>\d{1,2})\.?\s+(?P<title>[A-Z][A-Za-z][\w ,:&'’()/-]{1,70})$")


def roman_to_int(text: str) -> int | None:
    values = {"I": 1, "V": 5, "X": 10, "L": 50, "C": 100, "D": 500, "M": 1000}
    text = text.upper()
    if not text or any(ch not in values for ch in text):
        return None
    total = 0
    for i, ch in enumerate(text):
        value = values[ch]
        total += -value if i + 1 < len(text) and values[text[i + 1]] > value else value
    return total


def parse_number(text: str) -> int | None:
    lowered = text.lower()
    if lowered.isdigit():
        return int(lowered)
    if lowered in _NUMBER_WORDS:
        return _NUMBER_WORDS.index(lowered) + 1
    if lowered in _ORDINALS:
        return _ORDINALS.index(lowered) + 1
    return roman_to_int(text)


def heading_number(title: str) -> tuple[str, int] | None:
    """(keyword, number) of a numbered heading: "CHAPTER VII. A Mad Tea-Party" -> ("chapter",
    7), "Stave Three" -> ("stave", 3); None for any other title."""
    match = _KEYWORD.match(title)
    number = parse_number(match.group("num")) if match else None
    return (match.group("kw").lower(), number) if match and number else None


@dataclass(frozen=True)
class Candidate:
    line: int  # index of the heading's first line
    body: int  # index of the first line after the heading (and its title line, if any)
    family: str
    title: str
    number: int | None


@dataclass(frozen=True)
class Section:
    """A chapter found in running text: lines [body, end) under `title`."""

    title: str
    heading: int
    body: int
    end: int


def _is_title_line(line: str) -> bool:
    words = line.split()
    return (
        0 < len(words) <= 12 and len(line.strip()) <= 100 and not line.rstrip().endswith((",", ";"))
    )


def _is_pdf_title_line(line: str) -> bool:
    """PDF text has no blank lines: a title is a short capitalised line that ends no sentence
    (the first line of a chapter's text is longer or ends with a full stop)."""
    stripped = line.strip()
    return len(stripped.split()) <= 8 and stripped[:1].isupper() and not stripped.endswith(".")


def _strip_markup(title: str) -> str:
    return clean_inline(title.strip("*_ "))


class _Detector:
    def __init__(self, lines: list[str], strict_blank: bool, pdf: bool) -> None:
        self.lines = lines
        self.strict_blank = strict_blank  # txt: a heading stands between blank lines
        self.pdf = pdf

    def blank(self, i: int) -> bool:
        return i < 0 or i >= len(self.lines) or not self.lines[i].strip()

    def candidates(self) -> list[Candidate]:
        found: list[Candidate] = []
        i = 0
        while i < len(self.lines):
            candidate = self.match(i) if self.lines[i].strip() else None
            if candidate:
                found.append(candidate)
                i = candidate.body
            else:
                i += 1
        return found

    def match(self, i: int) -> Candidate | None:
        if self.strict_blank and not self.blank(i - 1):
            return None
        line = self.lines[i]
        for matcher in (
            self._markdown,
            self._keyword,
            self._special,
            self._bracket,
            self._num_titled,
            self._bare,
            self._section,
        ):
            candidate = matcher(i, line)
            if candidate and (not self.strict_blank or self.blank(candidate.body)):
                return candidate
        return None

    def _subtitle(self, i: int) -> tuple[str, int]:
        """A short title on the line right after a heading (no blank between)."""
        nxt = i + 1
        if (
            nxt < len(self.lines)
            and _is_title_line(self.lines[nxt])
            and (self.blank(nxt + 1) or (self.pdf and _is_pdf_title_line(self.lines[nxt])))
            and not self.match_any_family(nxt)
        ):
            return clean_inline(self.lines[nxt]), nxt + 1
        return "", i + 1

    def match_any_family(self, i: int) -> bool:
        line = self.lines[i]
        return bool(_KEYWORD.match(line) or _BARE.match(line) or _MARKDOWN.match(line))

    def _markdown(self, i: int, line: str) -> Candidate | None:
        m = _MARKDOWN.match(line)
        if not m or self.pdf:
            return None
        return Candidate(i, i + 1, f"md{len(m['hashes'])}", _strip_markup(m["title"]), None)

    def _keyword(self, i: int, line: str) -> Candidate | None:
        m = _KEYWORD.match(line)
        if not m or len(line.split()) > 16:
            return None
        kw = m["kw"].lower()
        number = parse_number(m["num"])
        if number is None:
            return None
        if self.pdf and m["title"] and not m["title"][0].isupper():
            return None  # "Chapter 2 shows that ..." wrapped onto the start of a line
        family = "container" if kw in CONTAINER_WORDS else "chapter"
        # The next line is a title ("CHAPTER I." / "Down the Rabbit-Hole") or the wrapped rest
        # of a long inline one ("CHAPTER 56. Of the Less Erroneous Pictures ... True" / "...").
        subtitle, body = self._subtitle(i)
        heading = f"{clean_inline(line)} {subtitle}".strip()
        return Candidate(i, body, family, heading, number)

    def _special(self, i: int, line: str) -> Candidate | None:
        words = line.split()
        if not words or len(words) > 8:
            return None
        first = words[0].strip(".:").lower()
        allowed = SPECIAL_WORDS + (PDF_SPECIAL_WORDS if self.pdf else [])
        if first not in allowed or not (words[0][0].isupper()):
            return None
        if len(words) > 1 and not self.pdf and not words[0].endswith((".", ":")):
            return None
        if len(words) > 1 and self.pdf and line.rstrip().endswith("."):
            return None  # "Appendix E.3." is a cross-reference that wrapped onto its own line
        return Candidate(i, i + 1, "special", clean_inline(line), None)

    def _bracket(self, i: int, line: str) -> Candidate | None:
        m = _BRACKET.match(line)
        if not m:
            return None
        return Candidate(i, i + 1, "bracket", clean_inline(line), int(m["num"]))

    def _num_titled(self, i: int, line: str) -> Candidate | None:
        m = _NUM_TITLED.match(line)
        if not m or self.pdf or not _is_title_line(m["title"]):
            return None
        number = parse_number(m["num"])
        if number is None:
            return None
        return Candidate(i, i + 1, "numtitled", clean_inline(line), number)

    def _bare(self, i: int, line: str) -> Candidate | None:
        m = _BARE.match(line)
        if not m or self.pdf:
            return None
        number = parse_number(m["num"])
        if number is None:
            return None
        subtitle, body = self._subtitle(i)
        title = f"{clean_inline(line)} {subtitle}".strip()
        return Candidate(i, body, "bare", title, number)

    def _section(self, i: int, line: str) -> Candidate | None:
        m = _SECTION.match(line) if self.pdf else None
        if not m:
            return None
        return Candidate(i, i + 1, "section", clean_inline(line), int(m["num"]))


def _words_between(lines: list[str], start: int, end: int) -> int:
    return sum(count_words(line) for line in lines[start:end])


def _substantial(lines: list[str], found: list[Candidate], min_words: int) -> list[Candidate]:
    """Keep candidates followed by at least `min_words` words before the next of the family."""
    kept = []
    for k, cand in enumerate(found):
        nxt = next((c.line for c in found[k + 1 :]), len(lines))
        if _words_between(lines, cand.body, nxt) >= min_words:
            kept.append(cand)
    return kept


def _drop_contents_runs(
    lines: list[str], found: list[Candidate], everything: list[Candidate]
) -> list[Candidate]:
    """A numbered run that restarts (…, 12, then 1 again) and holds little text per entry was a
    table of contents that the word threshold let through (e.g. with a preface after it). Here
    an entry's text ends at the next heading of any family."""
    numbered = [c for c in found if c.number is not None]
    for k in range(1, len(numbered)):
        if numbered[k].number != 1:
            continue
        run = [c for c in found if c.line < numbered[k].line]
        gaps = []
        for cand in run:
            nxt = next((c.line for c in everything if c.line > cand.line), numbered[k].line)
            gaps.append(_words_between(lines, cand.body, nxt))
        if gaps and median(gaps) < TOC_RUN_MEDIAN_WORDS:
            return [c for c in found if c.line >= numbered[k].line]
    return found


def _families(found: list[Candidate]) -> dict[str, list[Candidate]]:
    groups: dict[str, list[Candidate]] = {}
    for cand in found:
        groups.setdefault(cand.family, []).append(cand)
    return groups


def _monotone_enough(group: list[Candidate]) -> bool:
    """Bare numerals must mostly count upwards, or they are list items, not chapters."""
    numbers = [c.number or 0 for c in group]
    rises = sum(1 for a, b in itertools.pairwise(numbers) if b > a)
    return len(group) >= 2 and rises >= 0.7 * (len(group) - 1)


def _counting_chain(group: list[Candidate]) -> list[Candidate]:
    """Numbered sections 1, 2, 3... in order, skipping stray numbered lines (table rows,
    footnotes) that happen to look like "5 Slate magazine"."""
    chain: list[Candidate] = []
    for cand in group:
        if cand.number == len(chain) + 1:
            chain.append(cand)
    return chain


def _choose(
    groups: dict[str, list[Candidate]],
    lines: list[str],
    min_words: int,
    everything: list[Candidate],
) -> list[Candidate]:
    def valid(family: str) -> list[Candidate]:
        group = groups.get(family, [])
        return _drop_contents_runs(lines, _substantial(lines, group, min_words), everything)

    chapters = valid("chapter")
    if len(chapters) >= 2:
        return sorted(chapters + valid("special"), key=lambda c: c.line)
    md_levels = sorted(f for f in groups if f.startswith("md"))
    for family in md_levels:
        level = valid(family)
        if len(level) >= 2:
            return level
    for family in ("numtitled", "bracket", "bare", "section"):
        level = valid(family)
        if family == "section":
            level = _counting_chain(level)
        if len(level) >= 2 and (family != "bare" or _monotone_enough(level)):
            specials = valid("special") if family in ("bare", "section") else []
            return sorted(level + specials, key=lambda c: c.line)
    containers = valid("container")
    if len(containers) >= 2:
        return containers
    return []


def find_sections(
    lines: list[str],
    *,
    strict_blank: bool = True,
    pdf: bool = False,
    min_words: int = MIN_CHAPTER_WORDS,
) -> list[Section]:
    """Chapters in `lines`, in order. Empty when no heading level is convincing."""
    detector = _Detector(lines, strict_blank=strict_blank, pdf=pdf)
    found = detector.candidates()
    groups = _families(found)
    chosen = _choose(groups, lines, min_words, found)
    if not chosen:
        return []
    chosen_lines = {c.line for c in chosen}
    # Containers and shallower Markdown headings end the chapter before them without being
    # part of any chapter's text.
    chosen_families = {c.family for c in chosen}
    boundaries = sorted(
        {c.line for c in chosen}
        | {
            c.line
            for c in found
            if c.line not in chosen_lines and _is_boundary(c.family, chosen_families)
        }
    )
    sections = []
    for cand in chosen:
        end = next((b for b in boundaries if b > cand.line), len(lines))
        sections.append(Section(title=cand.title, heading=cand.line, body=cand.body, end=end))
    return _disambiguate(sections, [c for c in found if c.family == "container"])


def _disambiguate(sections: list[Section], containers: list[Candidate]) -> list[Section]:
    """Numbering that restarts in every BOOK or PART ("CHAPTER I." three times) gets the
    container's heading as a prefix, so that each title names one chapter."""
    titles = [s.title for s in sections]
    if len(set(titles)) == len(titles) or not containers:
        return sections
    named = []
    for section in sections:
        owner = next((c for c in reversed(containers) if c.line < section.heading), None)
        title = f"{owner.title} / {section.title}" if owner else section.title
        named.append(Section(title, section.heading, section.body, section.end))
    return named


def _is_boundary(family: str, chosen: set[str]) -> bool:
    if family == "container" and "container" not in chosen:
        return True
    if family.startswith("md"):
        levels = [int(f[2:]) for f in chosen if f.startswith("md")]
        return bool(levels) and int(family[2:]) < min(levels)
    return False
