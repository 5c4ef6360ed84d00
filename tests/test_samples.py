"""The project's sample books: the committed EPUB, PDF, TXT and MD match their Markdown source,
carry the structure the loaders are tested against (spine, nav, NCX, outline, page labels,
running headers), and every answer in questions.jsonl is where the question says it is.

Only raw libraries are used here (zipfile, lxml, ebooklib, pypdf), never bookreader.loaders, so
a loader bug cannot hide a sample bug or the other way round. The source is parsed by a small
regex reader of its own, independent of samples/build.py.
"""

from __future__ import annotations

import importlib.util
import json
import re
import sys
import zipfile
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType

import pytest
from ebooklib import epub
from lxml import etree
from pypdf import PdfReader

SAMPLES = Path(__file__).resolve().parents[1] / "samples"
STEM = "the-lighthouse-keepers-ledger"
TITLE = "The Lighthouse Keeper's Ledger"
AUTHOR = "Tamsin Greavey"
NS = {
    "opf": "http://www.idpf.org/2007/opf",
    "dc": "http://purl.org/dc/elements/1.1/",
    "xhtml": "http://www.w3.org/1999/xhtml",
    "epub": "http://www.idpf.org/2007/ops",
    "ncx": "http://www.daisy.org/z3986/2005/ncx/",
    "container": "urn:oasis:names:tc:opendocument:xmlns:container",
}


@dataclass(frozen=True)
class Chapter:
    number: int
    heading: str
    paragraphs: list[str]

    @property
    def text(self) -> str:
        return "\n\n".join(self.paragraphs)


def normalise(text: str) -> str:
    """Collapse all whitespace (line wraps, PDF line breaks) to single spaces."""
    return " ".join(text.split())


def words(text: str) -> int:
    return len(re.findall(r"\w+(?:['’]\w+)*", text))


@pytest.fixture(scope="module")
def chapters() -> list[Chapter]:
    source = (SAMPLES / "src" / "lighthouse.md").read_text(encoding="utf-8")
    sections = re.split(r"^## ", source, flags=re.MULTILINE)[1:]
    parsed = []
    for number, section in enumerate(sections, 1):
        heading, _, body = section.partition("\n")
        paragraphs = [normalise(p) for p in body.split("\n\n") if p.strip()]
        parsed.append(Chapter(number, heading.strip(), paragraphs))
    return parsed


@pytest.fixture(scope="module")
def questions() -> list[dict]:
    lines = (SAMPLES / "questions.jsonl").read_text(encoding="utf-8").splitlines()
    return [json.loads(line) for line in lines if line.strip()]


# --- the source -------------------------------------------------------------------------------


def test_source_is_a_titled_eight_chapter_novel_of_7000_to_9000_words(
    chapters: list[Chapter],
) -> None:
    source = (SAMPLES / "src" / "lighthouse.md").read_text(encoding="utf-8")
    assert source.startswith(f"# {TITLE}\n")
    assert f"*by {AUTHOR}*" in source
    assert len(chapters) >= 8
    for chapter in chapters:
        assert re.fullmatch(rf"Chapter {chapter.number}: \S.+", chapter.heading)
        assert len(chapter.paragraphs) >= 8
    names = [c.heading.split(": ", 1)[1] for c in chapters]
    assert len(set(names)) == len(names)
    total = sum(words(c.text) for c in chapters)
    assert 7000 <= total <= 9000, total


def test_markdown_copy_is_the_source() -> None:
    copy = (SAMPLES / f"{STEM}.md").read_bytes()
    assert copy == (SAMPLES / "src" / "lighthouse.md").read_bytes()


# --- EPUB -------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def epub_zip() -> zipfile.ZipFile:
    return zipfile.ZipFile(SAMPLES / f"{STEM}.epub")


def _opf(epub_zip: zipfile.ZipFile) -> tuple[str, etree._Element]:
    container = etree.fromstring(epub_zip.read("META-INF/container.xml"))
    path = container.find(".//container:rootfile", NS).get("full-path")
    return path, etree.fromstring(epub_zip.read(path))


def _spine_hrefs(epub_zip: zipfile.ZipFile) -> list[str]:
    _, opf = _opf(epub_zip)
    manifest = {item.get("id"): item.get("href") for item in opf.iterfind(".//opf:item", NS)}
    return [manifest[ref.get("idref")] for ref in opf.iterfind(".//opf:spine/opf:itemref", NS)]


def _xhtml(epub_zip: zipfile.ZipFile, href: str) -> etree._Element:
    opf_path, _ = _opf(epub_zip)
    folder = opf_path.rpartition("/")[0]
    return etree.fromstring(epub_zip.read(f"{folder}/{href}" if folder else href))


def test_epub_container_and_metadata(epub_zip: zipfile.ZipFile) -> None:
    first = epub_zip.infolist()[0]
    assert first.filename == "mimetype"
    assert first.compress_type == zipfile.ZIP_STORED
    assert epub_zip.read("mimetype") == b"application/epub+zip"
    _, opf = _opf(epub_zip)
    assert opf.get("version") == "3.0"
    assert opf.findtext(".//dc:title", namespaces=NS) == TITLE
    assert opf.findtext(".//dc:creator", namespaces=NS) == AUTHOR
    assert opf.findtext(".//dc:language", namespaces=NS) == "en"


def test_epub_spine_is_title_page_nav_then_one_file_per_chapter(
    epub_zip: zipfile.ZipFile, chapters: list[Chapter]
) -> None:
    spine = _spine_hrefs(epub_zip)
    expected = [f"chapter-{c.number:02d}.xhtml" for c in chapters]
    assert spine == ["titlepage.xhtml", "nav.xhtml", *expected]
    title_page = _xhtml(epub_zip, "titlepage.xhtml")
    marked = title_page.find(".//xhtml:section", NS).get(f"{{{NS['epub']}}}type")
    assert "frontmatter" in marked.split()
    _, opf = _opf(epub_zip)
    guide = {ref.get("type"): ref.get("href") for ref in opf.iterfind(".//opf:reference", NS)}
    assert guide["title-page"] == "titlepage.xhtml"


def test_epub_chapter_files_hold_the_source_text(
    epub_zip: zipfile.ZipFile, chapters: list[Chapter]
) -> None:
    for chapter in chapters:
        page = _xhtml(epub_zip, f"chapter-{chapter.number:02d}.xhtml")
        assert page.findtext(".//xhtml:h1", namespaces=NS) == chapter.heading
        paragraphs = [normalise("".join(p.itertext())) for p in page.iterfind(".//xhtml:p", NS)]
        assert paragraphs == chapter.paragraphs


def test_epub_nav_and_ncx_list_every_chapter_in_order(
    epub_zip: zipfile.ZipFile, chapters: list[Chapter]
) -> None:
    expected = [(c.heading, f"chapter-{c.number:02d}.xhtml") for c in chapters]
    nav = _xhtml(epub_zip, "nav.xhtml")
    toc = nav.xpath(".//xhtml:nav[@epub:type='toc']//xhtml:a", namespaces=NS)
    assert [(a.text, a.get("href")) for a in toc] == expected
    ncx = _xhtml(epub_zip, "toc.ncx")
    points = ncx.iterfind(".//ncx:navPoint", NS)
    listed = [
        (p.findtext("ncx:navLabel/ncx:text", namespaces=NS), p.find("ncx:content", NS).get("src"))
        for p in points
    ]
    assert listed == expected


def test_ebooklib_reads_the_epub(chapters: list[Chapter]) -> None:
    book = epub.read_epub(str(SAMPLES / f"{STEM}.epub"), {"ignore_ncx": False})
    assert book.get_metadata("DC", "title")[0][0] == TITLE
    assert [link.title for link in book.toc] == [c.heading for c in chapters]


# --- PDF --------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def pdf() -> PdfReader:
    return PdfReader(SAMPLES / f"{STEM}.pdf")


def _chapter_start_pages(pdf: PdfReader) -> list[int]:
    return [pdf.get_destination_page_number(entry) for entry in pdf.outline]


def test_pdf_metadata(pdf: PdfReader) -> None:
    assert pdf.metadata.title == TITLE
    assert pdf.metadata.author == AUTHOR


def test_pdf_outline_has_one_entry_per_chapter_at_its_first_page(
    pdf: PdfReader, chapters: list[Chapter]
) -> None:
    assert all(not isinstance(entry, list) for entry in pdf.outline)  # one flat level
    assert [entry.title for entry in pdf.outline] == [c.heading for c in chapters]
    starts = _chapter_start_pages(pdf)
    assert starts == sorted(set(starts))  # every chapter on its own page(s), in order
    for chapter, page in zip(chapters, starts, strict=True):
        # a new page: the heading is the first line after the running header and footer
        assert _body_lines(pdf, page)[0] == chapter.heading


def test_pdf_page_labels_are_roman_front_matter_then_arabic_from_one(pdf: PdfReader) -> None:
    front = _chapter_start_pages(pdf)[0]
    labels = pdf.page_labels
    assert labels[:front] == ["i", "ii"][:front] and front == 2
    assert labels[front:] == [str(n) for n in range(1, len(pdf.pages) - front + 1)]


def _page_lines(pdf: PdfReader, index: int) -> list[str]:
    return [line.strip() for line in pdf.pages[index].extract_text().splitlines() if line.strip()]


def _body_lines(pdf: PdfReader, index: int) -> list[str]:
    furniture = {TITLE, pdf.page_labels[index]}
    return [line for line in _page_lines(pdf, index) if line not in furniture]


def test_pdf_body_pages_carry_running_header_and_footer_label(pdf: PdfReader) -> None:
    front = _chapter_start_pages(pdf)[0]
    for index in range(front, len(pdf.pages)):
        lines = _page_lines(pdf, index)
        assert TITLE in lines, index
        assert pdf.page_labels[index] in lines, index
    for index in range(front):
        assert pdf.page_labels[index] in _page_lines(pdf, index)


def test_pdf_chapter_pages_hold_the_whole_chapter_text(
    pdf: PdfReader, chapters: list[Chapter]
) -> None:
    starts = [*_chapter_start_pages(pdf), len(pdf.pages)]
    for chapter, first, end in zip(chapters, starts, starts[1:], strict=False):
        kept = [line for index in range(first, end) for line in _body_lines(pdf, index)]
        text = normalise(" ".join(kept))
        assert text.startswith(chapter.heading)
        for paragraph in chapter.paragraphs:
            assert paragraph in text, (chapter.number, paragraph[:60])


# --- TXT --------------------------------------------------------------------------------------


def test_txt_has_each_heading_on_its_own_line_and_the_source_paragraphs(
    chapters: list[Chapter],
) -> None:
    raw = (SAMPLES / f"{STEM}.txt").read_bytes()
    assert b"\r" not in raw
    text = raw.decode("utf-8")
    assert text.splitlines()[0] == TITLE
    assert all(len(line) <= 72 for line in text.splitlines())
    blocks = [normalise(b) for b in text.split("\n\n") if b.strip()]
    positions = [blocks.index(c.heading) for c in chapters]
    assert positions == sorted(positions)
    ends = [*positions[1:], len(blocks)]
    for chapter, start, end in zip(chapters, positions, ends, strict=True):
        assert blocks[start + 1 : end] == chapter.paragraphs


# --- the questions ----------------------------------------------------------------------------


def test_questions_are_well_formed(questions: list[dict], chapters: list[Chapter]) -> None:
    assert len(questions) >= 16
    kinds = [q["kind"] for q in questions]
    assert kinds.count("single") >= 10 and kinds.count("cross") >= 6
    assert len({q["question"] for q in questions}) == len(questions)
    for q in questions:
        assert q["question"].endswith("?") and q["answer"].strip()
        assert q["evidence_chapters"] and all(
            1 <= n <= len(chapters) for n in q["evidence_chapters"]
        )
        if q["kind"] == "single":
            assert len(q["evidence_chapters"]) == 1 and "answer_chapter" not in q
        else:
            assert q["kind"] == "cross" and q["answer_chapter"] in q["evidence_chapters"]


def test_every_answer_is_in_its_evidence_chapter(
    questions: list[dict], chapters: list[Chapter]
) -> None:
    for q in questions:
        where = q.get("answer_chapter", q["evidence_chapters"][0])
        assert q["answer"].lower() in chapters[where - 1].text.lower(), q


def test_cross_questions_join_chapters_at_least_three_apart(questions: list[dict]) -> None:
    for q in (q for q in questions if q["kind"] == "cross"):
        cited = q["evidence_chapters"]
        assert len(set(cited)) >= 2, q
        assert max(cited) - min(cited) >= 3, q


def test_cross_questions_need_a_chapter_besides_the_answer_chapter(
    questions: list[dict], chapters: list[Chapter]
) -> None:
    """The question's `clue` (what its description hinges on) is told only in another evidence
    chapter, never in the chapter that holds the answer: that chapter alone cannot resolve it."""
    for q in (q for q in questions if q["kind"] == "cross"):
        clue = q["clue"].lower()
        assert clue in q["question"].lower(), q
        assert clue not in chapters[q["answer_chapter"] - 1].text.lower(), q
        others = [n for n in q["evidence_chapters"] if n != q["answer_chapter"]]
        assert any(clue in chapters[n - 1].text.lower() for n in others), q


# --- rebuilding and the second sample ---------------------------------------------------------


def _build_module() -> ModuleType:
    spec = importlib.util.spec_from_file_location("samples_build", SAMPLES / "build.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up while the file runs
    spec.loader.exec_module(module)
    return module


def test_committed_files_are_what_the_source_builds(tmp_path: Path) -> None:
    """Rebuilding from src/lighthouse.md gives the committed bytes: the samples are current
    and the build is deterministic."""
    written = _build_module().build_all(tmp_path)
    assert sorted(p.name for p in written) == sorted(
        f"{STEM}.{e}" for e in ("epub", "md", "pdf", "txt")
    )
    for path in written:
        assert path.read_bytes() == (SAMPLES / path.name).read_bytes(), path.name


def test_harbour_notes_is_a_small_three_chapter_text_with_roman_headings() -> None:
    text = (SAMPLES / "harbour-notes.txt").read_text(encoding="utf-8")
    headings = re.findall(r"^CHAPTER ([IVXLC]+)\.$", text, flags=re.MULTILINE)
    assert headings == ["I", "II", "III"]
    assert 1000 <= words(text) <= 1500
    assert "Chapter 1" not in text  # a different heading style from the novel
