"""Plain-text and Markdown loading: encodings, Gutenberg boilerplate, every heading style of the
corpus (synthetic and real), contents lists that must not become chapters, metadata."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from bookreader.errors import EmptyBook, UnsupportedFormat
from bookreader.loaders import load
from bookreader.loaders.headings import roman_to_int

WORDS = (
    "It was late in the season when the keeper wrote the last entry of the year, and the "
    "lamp burned low while the wind worked at the shutters of the tower all night long. "
)


def body(tag: str, sentences: int = 3) -> str:
    return "\n".join(f"{tag} {WORDS}" for _ in range(sentences))


def write(
    tmp_path: Path, name: str, text: str, encoding: str = "utf-8", newline: str = "\n"
) -> Path:
    path = tmp_path / name
    path.write_bytes(text.replace("\n", newline).encode(encoding))
    return path


# --- heading styles ------------------------------------------------------------------------

STYLES = {
    "CHAPTER I.": ["CHAPTER I.\nThe Start", "CHAPTER II.\nThe Middle", "CHAPTER III.\nThe End"],
    "Chapter 1. Loomings.": [
        "Chapter 1. Loomings.",
        "Chapter 2. The Carpet-Bag.",
        "Chapter 3. The Inn.",
    ],
    "LETTER I.": ["LETTER I.", "LETTER II.", "LETTER III."],
    "bare roman": [" I.\n Introduction", " II.\n The Machine", " III.\n The Return"],
    "numbered title": [
        "I. A SCANDAL IN BOHEMIA",
        "II. THE RED-HEADED LEAGUE",
        "III. A CASE OF IDENTITY",
    ],
    "STAVE": [
        "STAVE I:  MARLEY'S GHOST",
        "STAVE II:  THE FIRST SPIRIT",
        "STAVE III:  THE SECOND SPIRIT",
    ],
    "bracket": ["[ 1 ]", "[ 2 ]", "[ 3 ]"],
    "markdown": ["# The Start", "# The Middle", "# The End"],
}


@pytest.mark.parametrize("style", sorted(STYLES))
def test_each_heading_style_gives_its_chapters(tmp_path: Path, style: str) -> None:
    headings = STYLES[style]
    text = "".join(f"\n\n{h}\n\n{body(f'Part{k}')}\n" for k, h in enumerate(headings))
    book = load(write(tmp_path, "book.txt", text))
    assert len(book.chapters) == 3
    for k, chapter in enumerate(book.chapters):
        assert chapter.index == k
        assert f"Part{k}" in chapter.text
        assert f"Part{k + 1}" not in chapter.text
        # The heading is the title, not part of the text.
        assert headings[k].split()[0].strip("#") not in chapter.text.split()[:1]
    first_title_word = headings[0].replace("#", "").split()[0]
    assert first_title_word in book.chapters[0].title


def test_sub_parts_inside_stories_stay_inside(tmp_path: Path) -> None:
    # Sherlock Holmes: "I. A SCANDAL IN BOHEMIA" holds parts "I.", "II."; they are not chapters.
    text = ""
    for k, story in enumerate(["I. A SCANDAL IN BOHEMIA", "II. THE RED-HEADED LEAGUE"]):
        text += f"\n\n{story}\n\n\nI.\n\n\n{body(f'S{k}a')}\n\n\nII.\n\n\n{body(f'S{k}b')}\n"
    book = load(write(tmp_path, "stories.txt", text))
    assert [c.title for c in book.chapters] == [
        "I. A SCANDAL IN BOHEMIA",
        "II. THE RED-HEADED LEAGUE",
    ]
    assert "S0a" in book.chapters[0].text and "S0b" in book.chapters[0].text


def test_parts_with_chapters_inside(tmp_path: Path) -> None:
    # Treasure Island: "PART ONE--The Old Buccaneer" then "I" / "The Old Sea-dog ...".
    text = ""
    numerals = iter(["I", "II", "III", "IV"])
    for part in ["PART ONE--The Old Buccaneer", "PART TWO--The Sea-cook"]:
        text += f"\n\n{part}\n\n"
        for _ in range(2):
            numeral = next(numerals)
            text += f"\n\n{numeral}\nTitle {numeral}\n\n\n{body('Tale' + numeral)}\n"
    book = load(write(tmp_path, "parts.txt", text))
    assert [c.title for c in book.chapters] == [
        "I Title I",
        "II Title II",
        "III Title III",
        "IV Title IV",
    ]
    assert all("PART" not in c.text for c in book.chapters)


def test_contents_list_is_not_taken_for_chapters(tmp_path: Path) -> None:
    contents = "Contents\n\n" + "\n".join(f"CHAPTER {r}." for r in ["I", "II", "III"])
    chapters = "".join(f"\n\nCHAPTER {r}.\n\n{body('Real' + r)}\n" for r in ["I", "II", "III"])
    book = load(write(tmp_path, "toc.txt", contents + "\n\n" + chapters))
    assert len(book.chapters) == 3
    assert "RealI " in book.chapters[0].text + " "


def test_contents_with_preface_between_is_not_taken_for_chapters(tmp_path: Path) -> None:
    # Each contents entry is followed by a line of description, and a preface follows the list.
    entries = "".join(
        f"\n\nCHAPTER {r}.\n\nIn which something small happens.\n" for r in ["I", "II", "III"]
    )
    preface = "\n\nPREFACE\n\n" + body("Preface")
    chapters = "".join(f"\n\nCHAPTER {r}.\n\n{body('Real' + r, 6)}\n" for r in ["I", "II", "III"])
    book = load(write(tmp_path, "toc2.txt", entries + preface + chapters))
    titles = [c.title for c in book.chapters if c.title.startswith("CHAPTER")]
    assert titles == ["CHAPTER I.", "CHAPTER II.", "CHAPTER III."]
    assert all(c.word_count > 100 for c in book.chapters if c.title.startswith("CHAPTER"))


def test_heading_words_inside_sentences_are_not_headings(tmp_path: Path) -> None:
    text = (
        f"CHAPTER I.\n\n{body('One')}\nletter which promises well.\n\n"
        f"Chapter two of the report was read aloud to the keeper by his sister at noon.\n\n"
        f"CHAPTER II.\n\n{body('Two')}\n"
    )
    book = load(write(tmp_path, "inline.txt", text))
    assert [c.title for c in book.chapters] == ["CHAPTER I.", "CHAPTER II."]


def test_markdown_title_and_levels(tmp_path: Path) -> None:
    text = f"# The Ledger\n\n## One\n\n{body('A')}\n\n## Two\n\n{body('B')}\n"
    book = load(write(tmp_path, "ledger.md", text))
    assert book.format == "md"
    assert book.title == "The Ledger"
    assert [c.title for c in book.chapters] == ["One", "Two"]


def test_no_headings_is_one_chapter_titled_from_file_name(tmp_path: Path) -> None:
    book = load(write(tmp_path, "plain-story.txt", body("Only", 5)))
    assert book.title == "plain-story"
    assert len(book.chapters) == 1 and book.chapters[0].word_count == count_words_of(
        body("Only", 5)
    )


def count_words_of(text: str) -> int:
    return len(re.findall(r"\w+(?:['’]\w+)*", text))


# --- encodings and boilerplate -------------------------------------------------------------


@pytest.mark.parametrize(
    ("encoding", "prefix", "newline"),
    [("utf-8", b"", "\n"), ("utf-8", b"\xef\xbb\xbf", "\r\n"), ("cp1252", b"", "\r\n")],
)
def test_encodings_and_line_endings(
    tmp_path: Path, encoding: str, prefix: bytes, newline: str
) -> None:
    text = f"CHAPTER I.\n\n“Café” — it’s naïve. {body('One')}\n\nCHAPTER II.\n\n{body('Two')}\n"
    path = tmp_path / "enc.txt"
    path.write_bytes(prefix + text.replace("\n", newline).encode(encoding))
    book = load(path)
    assert "“Café” — it’s naïve." in book.chapters[0].text
    assert "\ufffd" not in book.text and "\r" not in book.text
    assert not book.chapters[0].title.startswith("\ufeff")


def test_gutenberg_header_footer_and_licence_are_stripped(tmp_path: Path) -> None:
    text = (
        "The Project Gutenberg eBook of The Ledger\n\nTitle: The Ledger\n\nAuthor: Ada Keeper\n\n"
        "Language: English\n\n*** START OF THE PROJECT GUTENBERG EBOOK THE LEDGER ***\n\n"
        f"CHAPTER I.\n\n{body('One')}\n\nCHAPTER II.\n\n{body('Two')}\n\n"
        "*** END OF THE PROJECT GUTENBERG EBOOK THE LEDGER ***\n\n"
        "Section 1. General Terms of Use and Redistributing Project Gutenberg electronic works\n\n"
        + body("Licence")
    )
    book = load(write(tmp_path, "pg.txt", text, encoding="cp1252", newline="\r\n"))
    assert (book.title, book.author, book.language) == ("The Ledger", "Ada Keeper", "en")
    assert len(book.chapters) == 2
    assert "Gutenberg" not in book.text and "Licence" not in book.text
    assert any("Gutenberg" in w for w in book.warnings)


def test_licence_without_end_marker_is_stripped(tmp_path: Path) -> None:
    text = (
        f"CHAPTER I.\n\n{body('One')}\n\nCHAPTER II.\n\n{body('Two')}\n\n"
        "START: FULL LICENSE\n\nTHE FULL PROJECT GUTENBERG LICENSE\n\n" + body("Licence")
    )
    book = load(write(tmp_path, "lic.txt", text))
    assert "Licence" not in book.text and len(book.chapters) == 2


def test_binary_bytes_with_txt_name_are_refused(tmp_path: Path) -> None:
    path = tmp_path / "noise.txt"
    path.write_bytes(bytes(range(256)) * 40)
    with pytest.raises(UnsupportedFormat, match=r"noise\.txt"):
        load(path)


def test_whitespace_only_text_is_empty(tmp_path: Path) -> None:
    with pytest.raises(EmptyBook, match=r"blank\.txt"):
        load(write(tmp_path, "blank.txt", "\n\n   \r\n\t\n"))


def test_roman_numerals() -> None:
    assert [roman_to_int(r) for r in ["I", "IV", "IX", "XIV", "XL", "LXI", "XCIX"]] == [
        1,
        4,
        9,
        14,
        40,
        61,
        99,
    ]


# --- the corpus ----------------------------------------------------------------------------

TXT_FACTS = {
    # file: (chapters, first title contains, last title contains, title, author)
    "gutenbergbooks_1661-0_sherlock.txt": (
        12,
        "A SCANDAL IN BOHEMIA",
        "COPPER BEECHES",
        "The Adventures of Sherlock Holmes",
        "Arthur Conan Doyle",
    ),
    "homehome_aliceinwonderland.txt": (
        12,
        "Down the Rabbit-Hole",
        "Alice’s Evidence",
        "Alice's Adventures in Wonderland",
        "Lewis Carroll",
    ),
    "homehome_frankenstein.txt": (
        28,
        "LETTER I.",
        "CHAPTER XXIV.",
        "Frankenstein; or, The Modern Prometheus",
        "Mary Wollstonecraft Shelley",
    ),
    "homehome_janeeyre.txt": (38, "CHAPTER I", "CONCLUSION", "Jane Eyre", "Charlotte Brontë"),
    "homehome_mobydick.txt": (
        136,
        "Loomings",
        "Epilogue",
        "Moby Dick; Or, The Whale",
        "Herman Melville",
    ),
    "homehome_prideandprejudice.txt": (
        61,
        "Chapter I.",
        "CHAPTER LXI.",
        "Pride and Prejudice",
        "Jane Austen",
    ),
    "homehome_timemachine.txt": (
        17,
        "I. Introduction",
        "Epilogue",
        "The Time Machine",
        "H. G. Wells",
    ),
    "homehome_treasureisland.txt": (
        34,
        "The Old Sea-dog at the Admiral Benbow",
        "And Last",
        "Treasure Island",
        "Robert Louis Stevenson",
    ),
    "homehome_yellowwallpaper.txt": (
        1,
        "The Yellow Wallpaper",
        "The Yellow Wallpaper",
        "The Yellow Wallpaper",
        "Charlotte Perkins Gilman",
    ),
    "huffman_4300-0_ulysses_cp1252.txt": (18, "[ 1 ]", "[ 18 ]", "Ulysses", "James Joyce"),
    "huffman_84-0_frankenstein_cp1252.txt": (
        28,
        "Letter 1",
        "Chapter 24",
        "Frankenstein or, The Modern Prometheus",
        "Mary Wollstonecraft (Godwin) Shelley",
    ),
    "huffman_pg46_christmascarol_cp1252.txt": (
        6,
        "PREFACE",
        "STAVE V: THE END OF IT",
        "A Christmas Carol A Ghost Story of Christmas",
        "Charles Dickens",
    ),
    "quality_52845_the-girl-in-his-mind.txt": (
        1,
        "THE GIRL IN HIS MIND",
        "THE GIRL IN HIS MIND",
        "THE GIRL IN HIS MIND",
        "ROBERT F. YOUNG",
    ),
}


def test_corpus_facts_cover_every_txt_file(corpus: Path) -> None:
    assert sorted(p.name for p in (corpus / "txt").glob("*.txt")) == sorted(TXT_FACTS)


@pytest.mark.parametrize("name", sorted(TXT_FACTS))
def test_corpus_txt_loads_with_facts(corpus: Path, name: str) -> None:
    count, first, last, title, author = TXT_FACTS[name]
    book = load(corpus / "txt" / name)
    assert len(book.chapters) == count
    assert first in book.chapters[0].title
    assert last in book.chapters[-1].title
    assert (book.title, book.author) == (title, author)
    assert [c.index for c in book.chapters] == list(range(count))
    everything = book.text + "".join(c.text for c in book.front_matter)
    assert "\ufffd" not in everything
    assert "START OF THE PROJECT GUTENBERG" not in everything
    assert "Project Gutenberg License" not in everything and "gutenberg.org" not in everything
    assert all(c.word_count > 40 for c in book.chapters)


def _raw_lines(path: Path) -> list[str]:
    return path.read_bytes().decode("utf-8-sig", errors="replace").replace("\r", "").split("\n")


def test_moby_dick_chapters_in_order_match_the_raw_headings(corpus: Path) -> None:
    path = corpus / "txt" / "homehome_mobydick.txt"
    raw = [int(m[1]) for line in _raw_lines(path) if (m := re.match(r"^CHAPTER (\d+)\.", line))]
    book = load(path)
    numbers = [int(m[1]) for c in book.chapters if (m := re.match(r"CHAPTER (\d+)\.", c.title))]
    assert numbers == raw == list(range(1, 136))


def test_pride_and_prejudice_matches_raw_heading_count(corpus: Path) -> None:
    path = corpus / "txt" / "homehome_prideandprejudice.txt"
    raw = [
        line for line in _raw_lines(path) if re.fullmatch(r"(?i)chapter [IVXLC]+\.?", line.strip())
    ]
    assert len(load(path).chapters) == len(raw) == 61


def test_christmas_carol_has_five_staves_and_no_cp1252_damage(corpus: Path) -> None:
    book = load(corpus / "txt" / "huffman_pg46_christmascarol_cp1252.txt")
    assert [c.title.split(":")[0] for c in book.chapters if c.title.startswith("STAVE")] == [
        "STAVE I",
        "STAVE II",
        "STAVE III",
        "STAVE IV",
        "STAVE V",
    ]
    assert "Marley was dead" in book.chapters[1].text
    assert "’" in book.text or "'" in book.text  # 0x92 decoded as a quote, not dropped


def test_treasure_island_licence_footer_is_gone(corpus: Path) -> None:
    book = load(corpus / "txt" / "homehome_treasureisland.txt")
    assert "Project Gutenberg" not in book.text
    assert book.chapters[-1].text.rstrip().endswith("Pieces of eight! Pieces of eight!”")
    assert any("Gutenberg" in w for w in book.warnings)


def test_frankenstein_letters_then_chapters(corpus: Path) -> None:
    book = load(corpus / "txt" / "homehome_frankenstein.txt")
    kinds = [c.title.split()[0] for c in book.chapters]
    assert kinds == ["LETTER"] * 4 + ["CHAPTER"] * 24


def test_numbering_that_restarts_in_each_book_is_named_by_its_book(tmp_path: Path) -> None:
    text = ""
    for book_heading in ["BOOK ONE: 1805", "BOOK TWO: 1806"]:
        text += f"\n\n{book_heading}\n\n"
        for r in ["I", "II"]:
            text += f"\n\nCHAPTER {r}\n\n{body(book_heading[:8] + r, 4)}\n"
    book = load(write(tmp_path, "war.txt", text))
    assert [c.title for c in book.chapters] == [
        "BOOK ONE: 1805 / CHAPTER I",
        "BOOK ONE: 1805 / CHAPTER II",
        "BOOK TWO: 1806 / CHAPTER I",
        "BOOK TWO: 1806 / CHAPTER II",
    ]


def test_chapter_the_first(tmp_path: Path) -> None:
    text = "".join(f"\n\nCHAPTER THE {n}.\n\n{body(n)}\n" for n in ["FIRST", "SECOND", "THIRD"])
    assert [c.title for c in load(write(tmp_path, "old.txt", text)).chapters] == [
        "CHAPTER THE FIRST.",
        "CHAPTER THE SECOND.",
        "CHAPTER THE THIRD.",
    ]


def test_markdown_inline_syntax_becomes_plain_text(tmp_path: Path) -> None:
    text = (
        "# The Ledger\n\n## One\n\n> A **bold** move, *really*, see [the site](http://x.org) "
        f"and `code`; 2*3*4 and snake_case stay.\n\n{body('A')}\n\n## Two\n\n{body('B')}\n"
    )
    book = load(write(tmp_path, "inline.md", text))
    assert book.chapters[0].paragraphs[0] == (
        "A bold move, really, see the site and code; 2*3*4 and snake_case stay."
    )
    # A .txt file keeps its characters as they are.
    plain = load(write(tmp_path, "inline.txt", text.replace("#", "CHAPTER I.", 1)))
    assert "**bold**" in plain.text


def test_utf16_with_bom(tmp_path: Path) -> None:
    text = f"CHAPTER I.\n\n“Café” {body('One')}\n\nCHAPTER II.\n\n{body('Two')}\n"
    path = tmp_path / "wide.txt"
    path.write_bytes(text.replace("\n", "\r\n").encode("utf-16"))  # BOM + UTF-16-LE
    book = load(path)
    assert [c.title for c in book.chapters] == ["CHAPTER I.", "CHAPTER II."]
    assert "“Café”" in book.text


def test_cp1252_undefined_bytes_fall_back_to_latin1(tmp_path: Path) -> None:
    path = tmp_path / "odd.txt"
    path.write_bytes(f"CHAPTER I.\n\nCaf\xe9 \x81 {body('One')}\n".encode("latin-1") + b"\x93q\x94")
    book = load(path)
    assert "\ufffd" not in book.text and "Café" in book.text
