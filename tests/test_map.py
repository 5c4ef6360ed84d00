"""`bookreader map`: names found from capitalisation, counted per chapter, checked against counts
made here independently (a plain regular expression over the loaded chapters), on the sample
novel and on real novels of the shared corpus; the table, the JSON and the pictures."""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from bookreader.bookmap import book_map, count_terms, find_names, sparkline
from bookreader.cli.app import app
from bookreader.loaders import load

SAMPLE = Path(__file__).resolve().parents[1] / "samples" / "the-lighthouse-keepers-ledger.epub"


def regex_counts(texts: list[str], name: str) -> list[int]:
    pattern = re.compile(rf"\b{re.escape(name)}\b")
    return [len(pattern.findall(text)) for text in texts]


@pytest.fixture(scope="module")
def sample_map():
    book = load(SAMPLE)
    return book, book_map(book, top=30)


def entry(data, name: str):
    return next(e for e in data.entries if e.name == name)


def test_sample_top_names_and_their_chapter_counts(sample_map) -> None:
    book, data = sample_map
    texts = [c.text for c in book.chapters]
    # The novel's people, most mentioned first (samples/src/lighthouse.md).
    assert [e.name for e in data.entries[:5]] == [
        "Elias", "Jory", "Wenna", "Carrick Wells", "Silas Marrow",
    ]  # fmt: skip
    # "Jory" and "Jory Tregarth" are one entry (one full name holds Jory); so are "Wenna" and
    # "Wenna Penhallow": each mention holds the first name once.
    for name in ("Jory", "Wenna", "Marigold", "Carrick Wells"):
        expected = regex_counts(texts, name)
        found = entry(data, name)
        assert found.counts == expected, name
        assert found.chapters == sum(1 for n in expected if n)
        assert found.first == next(i for i, n in enumerate(expected) if n)
        assert found.last == max(i for i, n in enumerate(expected) if n)
    # Elias is counted alone, and once more in the one "Elias Penhallow".
    elias = [
        a + b
        for a, b in zip(
            entry(data, "Elias").counts, entry(data, "Elias Penhallow").counts, strict=True
        )
    ]
    assert elias == regex_counts(texts, "Elias")


def test_sample_merges_only_what_is_unambiguous(sample_map) -> None:
    _, data = sample_map
    names = [e.name for e in data.entries]
    # Tregarth is Jory's and Mattock's surname, Marrow Silas's and Hester's: never merged.
    assert "Mattock Tregarth" in names and "Hester Marrow" in names
    assert "Tregarth" not in entry(data, "Jory").forms
    # Mr. and Mrs. Marrow are two people; "Mr. Penhallow" is not Wenna.
    assert "Mrs. Marrow" in names and "Mr. Penhallow" not in entry(data, "Wenna").forms
    # A title and a full name join: "Captain Vell" is "Captain Ezra Vell".
    assert "Captain Vell" in entry(data, "Captain Ezra Vell").forms
    # Sentence-initial words and common words are not names.
    assert not {"He", "The", "Then", "It", "She", "Chapter", "January"} & set(names)


def test_titles_genders_and_sentence_starts() -> None:
    texts = [
        "Mr. Bennet read. Mrs. Bennet talked to Mr. Bennet about Bennet matters and Lizzy. "
        "Later Lizzy walked. Lizzy ran with Jane Bennet and Jane.",
        "Well, Jane wrote to Lizzy. Well. Well. Well. Jane Bennet laughed at Mrs. Bennet. "
        "They met Captain Harville, and Harville and Harville spoke of Harville's ship.",
    ]
    names = {e.name: e for e in find_names(texts, top=20)}
    assert "Well" not in names  # only ever sentence-initial
    assert names["Mr. Bennet"].total == 2 and names["Mrs. Bennet"].total == 2
    assert names["Jane Bennet"].total == 4  # "Jane" has one full name: merged
    assert names["Harville"].total == 4 and "Captain Harville" in names["Harville"].forms


def test_terms_and_sparkline() -> None:
    entries = count_terms(["The whale, the Whale's wake.", "No whales here; a white whale."],
                          ["whale", "white whale"])  # fmt: skip
    assert [e.counts for e in entries] == [[2, 1], [0, 1]]
    assert sparkline([0, 1, 4, 8]) == " ▁▄█"
    assert len(sparkline(list(range(100)), width=50)) == 50


@pytest.mark.parametrize(
    ("file", "top", "expected"),
    [
        ("txt/homehome_prideandprejudice.txt", 5, {"Elizabeth", "Mr. Darcy", "Jane"}),
        ("epub/epubjs_moby-dick.epub", 6, {"Ahab", "Queequeg", "Stubb", "Starbuck"}),
        ("txt/gutenbergbooks_1661-0_sherlock.txt", 2, {"Holmes", "Watson"}),
    ],
)
def test_corpus_novels(corpus: Path, file: str, top: int, expected: set[str]) -> None:
    book = load(corpus / file)
    data = book_map(book, top=20)
    names = [e.name for e in data.entries]
    assert expected <= set(names[:top]), names
    assert not any(n.startswith(("I’", "I'")) for n in names)  # I'll, I'm: not names
    texts = [c.text for c in book.chapters]
    # The most mentioned name, counted here by a regex of its word: every mention holds the
    # word, and all but a few of the word's uses are its mentions (a run such as "the Parsee
    # Ahab" is a name of its own).
    top_entry = data.entries[0]
    expected_counts = regex_counts(texts, top_entry.name.split()[-1])
    assert all(a <= b for a, b in zip(top_entry.counts, expected_counts, strict=True))
    assert top_entry.total >= 0.97 * sum(expected_counts)
    assert top_entry.chapters == sum(1 for n in top_entry.counts if n)
    assert top_entry.first == next(i for i, n in enumerate(expected_counts) if n)


# The command -------------------------------------------------------------------------------


def test_map_command_table_and_json() -> None:
    table = CliRunner().invoke(app, ["map", str(SAMPLE), "--top", "3"])
    assert table.exit_code == 0, table.output
    assert "Elias" in table.stdout and "Carrick Wells" not in table.stdout
    result = CliRunner().invoke(app, ["map", str(SAMPLE), "--terms", "Elias, ledger", "--json"])
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert data["schema"] == "bookreader.map/1" and data["source"] == "terms"
    assert data["book"]["chapters"] == len(data["chapters"]) == 8
    assert [e["name"] for e in data["entries"]] == ["Elias", "ledger"]
    assert data["entries"][0]["first_chapter"] == 1 and len(data["entries"][0]["counts"]) == 8


def test_map_command_png_and_svg(tmp_path: Path) -> None:
    from PIL import Image

    png = tmp_path / "map.png"
    result = CliRunner().invoke(app, ["map", str(SAMPLE), "--out", str(png)])
    assert result.exit_code == 0, result.output
    with Image.open(png) as image:
        assert image.width >= 600 and image.height >= 300
        colours = image.convert("RGB").getcolors(maxcolors=1_000_000)
        assert colours is not None and len(colours) > 50  # drawn, not blank
    svg = tmp_path / "map.svg"
    assert CliRunner().invoke(app, ["map", str(SAMPLE), "--out", str(svg)]).exit_code == 0
    text = svg.read_text(encoding="utf-8")
    for name in ("Elias", "Jory", "Wenna", "Carrick Wells", "mentions", "chapter"):
        assert name in text, name


def test_map_command_errors(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def run(*args: str):
        result = CliRunner().invoke(app, ["map", *args])
        assert "Traceback" not in result.output
        return result

    assert run(str(tmp_path / "none.epub")).exit_code == 2  # no such file: a usage error
    broken = tmp_path / "broken.epub"
    broken.write_bytes(b"not a zip")
    assert run(str(broken)).exit_code == 4
    assert run(str(SAMPLE), "--top", "0").exit_code == 2
    assert run(str(SAMPLE), "--terms", " , ").exit_code == 2
    assert run(str(SAMPLE), "--out", str(tmp_path / "map.gif")).exit_code == 2
    assert run(str(SAMPLE), "--out", str(tmp_path / "no" / "map.png")).exit_code == 2
    monkeypatch.setitem(sys.modules, "matplotlib", None)  # as if not installed
    missing = run(str(SAMPLE), "--out", str(tmp_path / "map.png"))
    assert missing.exit_code == 2
    assert "pip install 'bookreader[plot]'" in missing.output
    assert len(missing.output.strip().splitlines()) == 1
    assert not (tmp_path / "map.png").exists()
