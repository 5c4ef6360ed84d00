"""PDF loading: outline chapters and page labels, heading and page-range fallbacks, running
headers (never a page's only text, also on random pages), NFKC, dehyphenation both ways,
PDFium's line-end hyphens and control characters, encryption, missing and thin text layers,
and the corpus's real PDFs."""

from __future__ import annotations

import functools
import re
from collections.abc import Callable
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from loader_books import body_lines, encrypt, make_pdf, relabel
from pypdf import PdfReader

from bookreader.book import Book
from bookreader.errors import CorruptBook, EncryptedBook, NoTextLayer
from bookreader.loaders import load
from bookreader.loaders import pdf as pdf_loader
from bookreader.loaders.cleanup import dehyphenate, nfkc, remove_running_lines, vocabulary_of
from bookreader.loaders.pdf_document import page_text


def test_outline_gives_chapters_with_page_labels(tmp_path: Path) -> None:
    pages = [["The Ledger", "A Novel"]] + [body_lines(f"Topic{k}") for k in range(4)]
    path = relabel(make_pdf(tmp_path / "o.pdf", pages, outline=[("One", 1), ("Two", 3)]), 1)
    book = load(path)
    assert [c.title for c in book.chapters] == ["One", "Two"]
    assert [c.page_span for c in book.chapters] == [("1", "2"), ("3", "4")]
    first = book.chapters[0]
    assert [(m.number, m.label) for m in first.pages] == [(2, "1"), (3, "2")]
    # Each page mark points at that page's first words.
    assert first.text[first.pages[1].offset :].startswith("Topic1 line 1")
    assert first.page_span_of(first.pages[1].offset, first.pages[1].offset + 5) == ("2", "2")
    assert book.front_matter and "The Ledger" in book.front_matter[0].text
    assert book.format == "pdf"


def test_headings_when_there_is_no_outline(tmp_path: Path) -> None:
    pages = [
        ["1 Introduction", *body_lines("Intro")],
        body_lines("More"),
        ["2 Method", *body_lines("Method")],
        ["3 Results", *body_lines("Results"), "References", *body_lines("Refs")],
    ]
    book = load(make_pdf(tmp_path / "h.pdf", pages))
    assert [c.title for c in book.chapters] == [
        "1 Introduction",
        "2 Method",
        "3 Results",
        "References",
    ]
    assert "More line 1" in book.chapters[0].text
    assert book.chapters[1].page_span == ("3", "3")


def test_fixed_page_ranges_without_outline_or_headings(tmp_path: Path) -> None:
    pages = [body_lines(f"Page{k}", 3) for k in range(23)]
    book = load(make_pdf(tmp_path / "r.pdf", pages))
    assert [c.title for c in book.chapters] == ["Pages 1-10", "Pages 11-20", "Pages 21-23"]
    assert [c.page_span for c in book.chapters] == [("1", "10"), ("11", "20"), ("21", "23")]
    assert any("runs of 10 pages" in w for w in book.warnings)


def test_running_headers_and_page_numbers_are_removed(tmp_path: Path) -> None:
    pages = [body_lines(f"Topic{k}", 4) for k in range(6)]
    pages[2] = ["A line that appears once", *pages[2]]
    book = load(make_pdf(tmp_path / "rh.pdf", pages, header="The Lighthouse Ledger", numbers=True))
    assert "Lighthouse Ledger" not in book.text
    assert "A line that appears once" in book.text
    # A page number left behind would trail the page's last sentence or stand alone.
    assert not re.search(r"lamp\.\s+\d", book.text)
    assert not any(p.strip().isdigit() for c in book.chapters for p in c.paragraphs)
    assert all(f"Topic{k} line 1" in book.text for k in range(6))


def test_chapter_specific_headers_with_page_numbers_are_removed() -> None:
    pages = [
        ["Chapter 3: Objects 15", "body a"],
        ["Chapter 3: Objects 16", "body b"],
        ["Chapter 3: Objects 17", "body c"],
        ["Chapter 4: Factors 18", "body d"],
    ]
    cleaned, removed = remove_running_lines(pages, ["15", "16", "17", "18"])
    assert cleaned == [["body a"], ["body b"], ["body c"], ["Chapter 4: Factors 18", "body d"]]
    assert removed == 3


@pytest.mark.parametrize("word", ["mix", "Civil", "dim", "vivid", "did", "lid", "mild", "dix"])
def test_a_word_of_roman_letters_at_a_page_edge_is_text(word: str) -> None:
    """Only digits and well-formed roman numerals are bare page numbers: a one-word line made of
    the letters i, v, x, l, c, d, m is kept, while the real page numbers around it go."""
    pages = [["xiv", "body a", word], ["xv", "body b", "42"], ["Page 3 of 10", "body c", "XLII"]]
    cleaned, removed = remove_running_lines(pages)
    assert cleaned == [["body a", word], ["body b"], ["body c"]]
    assert removed == 5


def test_dehyphenation_joins_only_words_seen_elsewhere() -> None:
    text = "This is an exam-\nple of a break.\nAn example appears. A well-\nknown fact."
    joined = dehyphenate(text, vocabulary_of([text]))
    assert "example of a break" in joined  # "example" occurs elsewhere
    assert "well-known" in joined  # "wellknown" does not: the hyphen stays
    alone = "Only an exam-\nple here."
    assert dehyphenate(alone, vocabulary_of([alone])) == "Only an exam-ple here."


def test_dehyphenation_in_a_pdf_both_ways(tmp_path: Path) -> None:
    lines = [
        "The keeper kept an exam-",
        "ple ready. Every example matters.",
        "A light-",
        "house stood.",
    ]
    book = load(make_pdf(tmp_path / "hy.pdf", [lines]))
    assert "an example ready" in book.text
    assert "light-house" in book.text


def test_nfkc_unfolds_ligatures() -> None:
    assert nfkc("ﬁrst ﬂoor ﬀ") == "first floor ff"


def test_password_protected_pdf_is_refused(tmp_path: Path) -> None:
    path = encrypt(
        make_pdf(tmp_path / "locked.pdf", [body_lines("Secret")]), user_password="secret"
    )
    assert PdfReader(path).is_encrypted
    with pytest.raises(EncryptedBook, match=r"locked\.pdf"):
        load(path)


def test_empty_user_password_opens(tmp_path: Path) -> None:
    path = encrypt(make_pdf(tmp_path / "owner.pdf", [body_lines("Open")]), user_password="")
    assert PdfReader(path).is_encrypted
    assert "Open line 1" in load(path).text


def test_image_only_pdf_needs_ocr(tmp_path: Path) -> None:
    path = make_pdf(tmp_path / "scan.pdf", [None, None])
    with pytest.raises(NoTextLayer, match="no text layer: this PDF needs OCR"):
        load(path)


def test_partial_text_layer_warns_with_page_numbers(tmp_path: Path) -> None:
    path = make_pdf(tmp_path / "part.pdf", [None, body_lines("Text"), None, body_lines("More")])
    book = load(path)
    assert "pages 1, 3 have no text layer" in book.warnings
    assert "Text line 1" in book.text


def test_truncated_and_fake_pdfs_are_corrupt(tmp_path: Path) -> None:
    data = make_pdf(tmp_path / "ok.pdf", [body_lines("X")]).read_bytes()
    cut = tmp_path / "cut.pdf"
    cut.write_bytes(data[:200])
    with pytest.raises(CorruptBook, match=r"cut\.pdf"):
        load(cut)
    fake = tmp_path / "fake.pdf"
    fake.write_bytes(b"this is not a pdf at all\n" * 20)
    with pytest.raises(CorruptBook, match=r"fake\.pdf: not a PDF"):
        load(fake)


def test_pdfium_line_end_hyphen_and_controls() -> None:
    raw = "exam\ufffeple of it\r\nQED \x04\x08\r\nnext"
    assert page_text(raw) == "exam-\nple of it\nQED \nnext"


def test_running_line_on_every_page_is_kept_when_it_is_all_the_page_has(
    tmp_path: Path,
) -> None:
    line = "The same sentence stands alone on every page of this little pamphlet"
    path = make_pdf(tmp_path / "same.pdf", [[line]] * 6)
    book = load(path)
    assert book.text.count(line) == 6


# --- the corpus ----------------------------------------------------------------------------


@pytest.fixture(scope="module")
def corpus_book(corpus: Path) -> Callable[[str], Book]:
    """Each corpus PDF is loaded once for the whole module (the R manual takes seconds)."""
    return functools.cache(lambda name: load(corpus / "pdf" / name))


def test_r_manual_chapters_from_its_outline(
    corpus: Path, corpus_book: Callable[[str], Book]
) -> None:
    reader = PdfReader(corpus / "pdf" / "debian_R-intro.pdf")
    top = [item.title for item in reader.outline if not isinstance(item, list)]
    book = corpus_book("debian_R-intro.pdf")
    assert [c.title for c in book.chapters] == top
    assert book.chapters[1].title == "1 Introduction and preliminaries"
    assert book.chapters[1].page_span == ("2", "7")  # printed labels, not physical numbers
    assert book.chapters[1].pages[0].number == reader.page_labels.index("2") + 1
    assert "Table of Contents" in book.front_matter[0].text
    assert "Chapter 3: Objects, their modes and attributes 15" not in book.text


def test_infini_attention_paper_by_headings(corpus_book: Callable[[str], Book]) -> None:
    book = corpus_book("arxiv_2404.07143_infini-attention.pdf")
    titles = [c.title for c in book.chapters]
    assert titles[:3] == ["Abstract", "1 Introduction", "2 Method"]
    assert "References" in titles
    assert "Infini-attention" in book.chapters[1].text
    assert "Preprint. Under review." not in book.text


def test_two_column_paper_ligatures_and_sections(corpus_book: Callable[[str], Book]) -> None:
    book = corpus_book("quality_preprint_2112.08608.pdf")
    titles = [c.title for c in book.chapters]
    assert titles[:3] == ["Abstract", "1 Introduction", "2 Data Collection"]
    assert "\ufb01" not in book.text and "fiction" in book.text
    assert book.title.startswith("QuALITY")


def test_every_corpus_pdf_loads(corpus: Path, corpus_book: Callable[[str], Book]) -> None:
    names = sorted(p.name for p in (corpus / "pdf").glob("*.pdf"))
    assert len(names) == 3
    for name in names:
        book = corpus_book(name)
        assert len(book.chapters) >= 2 and book.word_count > 5000
        assert all(c.pages and c.pages[0].offset == 0 for c in book.chapters)
        offsets = [[m.offset for m in c.pages] for c in book.chapters]
        assert all(o == sorted(o) for o in offsets)


def test_keyword_chapters_in_a_pdf_without_outline(tmp_path: Path) -> None:
    pages = [
        ["Chapter 1 The Lamp", *body_lines("Lamp")],
        ["Chapter 2 shows that the lamp was lit every night of the winter.", *body_lines("More")],
        ["Chapter 2 The Storm", *body_lines("Storm")],
    ]
    book = load(make_pdf(tmp_path / "k.pdf", pages))
    assert [c.title for c in book.chapters] == ["Chapter 1 The Lamp", "Chapter 2 The Storm"]
    assert "Chapter 2 shows that" in book.chapters[0].text


def test_nested_outline_uses_the_chapter_level(tmp_path: Path) -> None:
    # Book > Part > Chapter: the top two levels hold 1 and 2 entries, chapters are below.
    pages = [body_lines(f"C{k}") for k in range(4)]
    outline = [
        ("The Book", 0, 0),
        ("Part One", 0, 1),
        ("Ch 1", 0, 2),
        ("Ch 2", 1, 2),
        ("Part Two", 2, 1),
        ("Ch 3", 2, 2),
        ("Ch 4", 3, 2),
    ]
    book = load(make_pdf(tmp_path / "nested.pdf", pages, outline=outline))
    assert [c.title for c in book.chapters] == ["Ch 1", "Ch 2", "Ch 3", "Ch 4"]
    assert [c.page_span for c in book.chapters] == [("1", "1"), ("2", "2"), ("3", "3"), ("4", "4")]


def test_language_from_the_catalog(tmp_path: Path) -> None:
    from pypdf import PdfWriter
    from pypdf.generic import NameObject, TextStringObject

    path = make_pdf(tmp_path / "lang.pdf", [body_lines("L")])
    assert load(path).language is None
    writer = PdfWriter(clone_from=PdfReader(path))
    writer.root_object[NameObject("/Lang")] = TextStringObject("en-GB")
    with open(path, "wb") as handle:
        writer.write(handle)
    assert load(path).language == "en-GB"


def test_paragraph_cut_by_a_page_break_is_joined(tmp_path: Path) -> None:
    pages = [
        [
            "Before that night the keeper told of the harbour, the ferry and his lamp",
            "and of the ships.",
            "The keeper climbed the stair at dusk and trimmed the wick before",
        ],
        [
            "the weather turned.",
            "After that the harbour emptied boat by boat until only the ferry was",
            "left at the quay with its lamps low in the wind.",
        ],
    ]
    book = load(make_pdf(tmp_path / "cut.pdf", pages))
    chapter = book.chapters[0]
    assert chapter.paragraphs == [
        "Before that night the keeper told of the harbour, the ferry and his lamp and of the ships.",
        "The keeper climbed the stair at dusk and trimmed the wick before the weather turned.",
        "After that the harbour emptied boat by boat until only the ferry was left at the quay "
        "with its lamps low in the wind.",
    ]
    second_page = chapter.pages[1]
    assert chapter.text[second_page.offset :].startswith("the weather turned.")
    at = chapter.text.index("the weather")
    assert chapter.page_span_of(0, at) == ("1", "1")
    assert chapter.page_span_of(at, at + 6) == ("2", "2")


def test_outline_title_wrapped_over_two_lines_and_title_not_printed(tmp_path: Path) -> None:
    pages = [
        ["12 Graphical", "procedures", *body_lines("Graph")],
        ["Text that opens the page without any heading.", *body_lines("Plain")],
    ]
    outline = [("12 Graphical procedures", 0), ("13 Packages", 1)]
    book = load(make_pdf(tmp_path / "wrap.pdf", pages, outline=outline))
    first, second = book.chapters
    assert first.text.startswith("Graph line 1") and "procedures" not in first.text
    assert second.text.startswith("Text that opens the page")  # nothing dropped


def test_numbered_subheadings_stand_alone() -> None:
    lines = [
        "the end of a long paragraph of the previous section that runs on here",
        "2.1 Overview",
        "Sources In order to build the dataset we use only openly licensed texts and",
        "articles of at least two thousand tokens.",
    ]
    assert pdf_loader._paragraphs(lines) == [
        "the end of a long paragraph of the previous section that runs on here",
        "2.1 Overview",
        "Sources In order to build the dataset we use only openly licensed texts and "
        "articles of at least two thousand tokens.",
    ]


@pytest.mark.parametrize("user_password", ["", "secret"])
def test_aes_encrypted_pdf(tmp_path: Path, user_password: str) -> None:
    pytest.importorskip("cryptography", reason="AES PDFs need the cryptography package")
    path = make_pdf(tmp_path / "aes.pdf", [body_lines("Aes")])
    encrypt(path, user_password=user_password, algorithm="AES-256")
    if user_password:
        with pytest.raises(EncryptedBook, match=r"aes\.pdf: the PDF is password-protected"):
            load(path)
    else:  # owner password only: opens with the empty user password
        assert "Aes line 1" in load(path).text


def test_keyword_heading_with_title_on_the_next_line(tmp_path: Path) -> None:
    pages = [
        ["CHAPTER I", "The Lamp", *body_lines("Lamp")],
        ["CHAPTER II", "The Storm", *body_lines("Storm")],
    ]
    book = load(make_pdf(tmp_path / "t.pdf", pages))
    assert [c.title for c in book.chapters] == ["CHAPTER I The Lamp", "CHAPTER II The Storm"]
    assert book.chapters[0].text.startswith("Lamp line 1")


def test_thin_text_layer_is_refused_and_a_short_memo_is_not(tmp_path: Path) -> None:
    stray = [["www.example.org"]] + [None] * 9  # a scan with one URL in its text layer
    with pytest.raises(NoTextLayer, match=r"thin\.pdf: text layer too thin to be a book"):
        load(make_pdf(tmp_path / "thin.pdf", stray))
    memo = load(make_pdf(tmp_path / "memo.pdf", [body_lines("Memo", 3)]))
    assert "Memo line 1" in memo.text


@settings(max_examples=200, deadline=None)
@given(
    pages=st.lists(
        st.lists(
            st.sampled_from(["Same line", "Other line", "12", "Chapter 3 Objects", "Fine words"]),
            min_size=0,
            max_size=6,
        ),
        min_size=1,
        max_size=12,
    )
)
def test_running_line_removal_never_empties_a_page(pages: list[list[str]]) -> None:
    cleaned, removed = remove_running_lines(pages)
    assert removed == sum(map(len, pages)) - sum(map(len, cleaned))
    for before, after in zip(pages, cleaned, strict=True):
        words = [line for line in before if not line.strip().isdigit()]
        if words:  # a page with any text keeps some of it
            assert any(not line.strip().isdigit() for line in after)
        assert all(line in before for line in after)  # lines are removed, never made up


def test_front_matter_never_outweighs_the_chapters(tmp_path: Path) -> None:
    pages = [body_lines(f"Early{k}") for k in range(4)] + [body_lines("A"), body_lines("B")]
    outline = [("Appendix A", 4), ("Appendix B", 5)]
    book = load(make_pdf(tmp_path / "late.pdf", pages, outline=outline))
    assert book.front_matter == []
    assert [c.title for c in book.chapters] == ["Pages 1-4", "Appendix A", "Appendix B"]
    assert [c.index for c in book.chapters] == [0, 1, 2]
    assert "Early0 line 1" in book.chapters[0].text and "B line 1" in book.chapters[2].text
