"""Build the project's sample book from samples/src/lighthouse.md into EPUB, PDF, TXT and MD.

    python samples/build.py

The output is deterministic: fixed identifiers, fixed modification dates, zip entries with a
fixed timestamp in a fixed order, and reportlab's invariant mode, so rebuilding from the same
source gives the same bytes.

The files are built to exercise the loaders the way real books do:
- EPUB3 with both a nav document and an NCX, one XHTML file per chapter in spine order, and a
  title page marked as front matter (epub:type, guide and landmarks).
- PDF (A5) with a running header (the book title) and page numbers in the footer that a loader
  must strip, an outline with one entry per chapter, roman page labels for the two front-matter
  pages (title, contents) and arabic labels from 1 for the body; every chapter starts a page.
- TXT wrapped at 72 columns (like Project Gutenberg texts), "Chapter N: Title" headings.
"""

from __future__ import annotations

import argparse
import datetime as dt
import io
import re
import shutil
import textwrap
import zipfile
from collections.abc import Callable
from dataclasses import dataclass
from html import escape
from pathlib import Path

from ebooklib import epub
from reportlab.lib.enums import TA_CENTER
from reportlab.lib.pagesizes import A5
from reportlab.lib.styles import ParagraphStyle
from reportlab.lib.units import mm
from reportlab.pdfgen.canvas import Canvas
from reportlab.platypus import (
    BaseDocTemplate,
    Flowable,
    Frame,
    NextPageTemplate,
    PageBreak,
    PageTemplate,
    Paragraph,
    Spacer,
)

HERE = Path(__file__).resolve().parent
SOURCE = HERE / "src" / "lighthouse.md"
STEM = "the-lighthouse-keepers-ledger"
LANGUAGE = "en"
IDENTIFIER = "urn:uuid:6f0c1d2e-5a4b-4c3d-9e8f-7a6b5c4d3e2f"  # fixed so rebuilds are identical
FIXED_TIME = dt.datetime(2026, 1, 1, 0, 0, 0)
FRONT_MATTER_PAGES = 2  # PDF: title page (i) and contents (ii)
TXT_WIDTH = 72


@dataclass(frozen=True)
class SourceChapter:
    number: int  # 1-based
    heading: str  # "Chapter 1: One Hundred and Twelve Steps"
    paragraphs: tuple[str, ...]


@dataclass(frozen=True)
class SourceBook:
    title: str
    author: str
    chapters: tuple[SourceChapter, ...]


_HEADING = re.compile(r"^## (Chapter (\d+): .+)$")
_BYLINE = re.compile(r"^\*by (.+)\*$")


def parse_source(text: str) -> SourceBook:
    """Parse the Markdown source: '# Title', '*by Author*', then '## Chapter N: Name' sections."""
    lines = text.splitlines()
    title = lines[0].removeprefix("# ").strip()
    author = ""
    chapters: list[SourceChapter] = []
    heading: str | None = None
    body: list[str] = []

    def close() -> None:
        if heading is not None:
            paragraphs = tuple(p.strip() for p in "\n".join(body).split("\n\n") if p.strip())
            chapters.append(SourceChapter(len(chapters) + 1, heading, paragraphs))

    for line in lines[1:]:
        if byline := _BYLINE.match(line.strip()):
            author = byline.group(1)
        elif match := _HEADING.match(line):
            close()
            heading, body = match.group(1), []
            if int(match.group(2)) != len(chapters) + 1:
                raise ValueError(f"chapters out of order at {heading!r}")
        elif heading is not None:
            body.append(line)
    close()
    if not author or not chapters:
        raise ValueError("source needs a '*by Author*' line and '## Chapter N: Name' headings")
    return SourceBook(title, author, tuple(chapters))


# --- EPUB -------------------------------------------------------------------------------------


def _xhtml_chapter(chapter: SourceChapter) -> str:
    paragraphs = "\n".join(f"<p>{escape(p, quote=False)}</p>" for p in chapter.paragraphs)
    return (
        f'<section epub:type="chapter bodymatter">\n'
        f"<h1>{escape(chapter.heading, quote=False)}</h1>\n{paragraphs}\n</section>"
    )


def _xhtml_title_page(book: SourceBook) -> str:
    return (
        '<section epub:type="frontmatter titlepage">\n'
        f"<h1>{escape(book.title, quote=False)}</h1>\n"
        f"<p>{escape(book.author, quote=False)}</p>\n</section>"
    )


def build_epub(book: SourceBook, target: Path) -> None:
    doc = epub.EpubBook()
    doc.set_identifier(IDENTIFIER)
    doc.set_title(book.title)
    doc.set_language(LANGUAGE)
    doc.add_author(book.author)

    title_page = epub.EpubHtml(
        uid="titlepage", title="Title Page", file_name="titlepage.xhtml", lang=LANGUAGE
    )
    title_page.content = _xhtml_title_page(book)
    doc.add_item(title_page)

    items: list[epub.EpubHtml] = []
    for chapter in book.chapters:
        name = f"chapter-{chapter.number:02d}"
        item = epub.EpubHtml(
            uid=name, title=chapter.heading, file_name=f"{name}.xhtml", lang=LANGUAGE
        )
        item.content = _xhtml_chapter(chapter)
        doc.add_item(item)
        items.append(item)

    doc.toc = [epub.Link(item.file_name, item.title, f"ch{i}") for i, item in enumerate(items, 1)]
    doc.guide = [
        {"href": title_page.file_name, "title": "Title Page", "type": "title-page"},
        {"href": items[0].file_name, "title": "Start of Content", "type": "text"},
    ]
    doc.add_item(epub.EpubNcx())
    doc.add_item(epub.EpubNav())
    doc.spine = [title_page, "nav", *items]

    buffer = io.BytesIO()
    epub.write_epub(buffer, doc, {"mtime": FIXED_TIME})
    target.write_bytes(_normalise_zip(buffer.getvalue()))


def _normalise_zip(data: bytes) -> bytes:
    """Rewrite the zip with a fixed timestamp on every entry (zipfile stamps the current time),
    keeping the entry order and the stored, uncompressed `mimetype` first as EPUB requires."""
    out = io.BytesIO()
    stamp = FIXED_TIME.timetuple()[:6]
    with zipfile.ZipFile(io.BytesIO(data)) as source, zipfile.ZipFile(out, "w") as rebuilt:
        for info in source.infolist():
            fixed = zipfile.ZipInfo(info.filename, date_time=stamp)
            fixed.compress_type = (
                zipfile.ZIP_STORED if info.filename == "mimetype" else zipfile.ZIP_DEFLATED
            )
            fixed.external_attr = 0o644 << 16
            rebuilt.writestr(fixed, source.read(info.filename))
    return out.getvalue()


# --- PDF --------------------------------------------------------------------------------------

_BODY = ParagraphStyle(
    "body", fontName="Times-Roman", fontSize=10.5, leading=14, firstLineIndent=12, spaceAfter=2
)
_CHAPTER = ParagraphStyle(
    "chapter", fontName="Times-Bold", fontSize=15, leading=19, spaceBefore=30, spaceAfter=18
)
_TITLE = ParagraphStyle(
    "title", fontName="Times-Bold", fontSize=22, leading=28, alignment=TA_CENTER, spaceAfter=20
)
_CENTRED = ParagraphStyle("centred", parent=_BODY, alignment=TA_CENTER, firstLineIndent=0)
_CONTENTS = ParagraphStyle("contents", parent=_BODY, firstLineIndent=0, spaceAfter=6)


def _roman(number: int) -> str:
    numerals = [(10, "x"), (9, "ix"), (5, "v"), (4, "iv"), (1, "i")]
    out = ""
    for value, letters in numerals:
        while number >= value:
            out, number = out + letters, number - value
    return out


def page_label(physical: int) -> str:
    """The label printed in the footer of 1-based physical page `physical` (and set as the
    PDF page label): roman for the front matter, arabic from 1 for the body."""
    if physical <= FRONT_MATTER_PAGES:
        return _roman(physical)
    return str(physical - FRONT_MATTER_PAGES)


class _ChapterMark(Flowable):
    """Zero-size marker that bookmarks the page it lands on and adds an outline entry."""

    def __init__(self, key: str, title: str) -> None:
        super().__init__()
        self.key, self.title = key, title

    def wrap(self, available_width: float, available_height: float) -> tuple[float, float]:
        return 0, 0

    def draw(self) -> None:
        self.canv.bookmarkPage(self.key)
        self.canv.addOutlineEntry(self.title, self.key, level=0, closed=False)


def build_pdf(book: SourceBook, target: Path) -> None:
    width, height = A5
    margin = 16 * mm
    frame = Frame(margin, margin + 6 * mm, width - 2 * margin, height - 2 * margin - 12 * mm)

    def footer(canvas: Canvas, doc: BaseDocTemplate) -> None:
        canvas.saveState()
        canvas.setFont("Times-Roman", 9)
        canvas.drawCentredString(width / 2, margin - 2 * mm, page_label(doc.page))
        canvas.restoreState()

    def header_and_footer(canvas: Canvas, doc: BaseDocTemplate) -> None:
        footer(canvas, doc)
        canvas.saveState()
        canvas.setFont("Times-Italic", 9)
        canvas.drawCentredString(width / 2, height - margin + 2 * mm, book.title)
        canvas.restoreState()

    doc = BaseDocTemplate(
        str(target),
        pagesize=A5,
        title=book.title,
        author=book.author,
        subject="A sample novel written for the bookreader project",
        creator="samples/build.py",
        invariant=1,
        pageTemplates=[
            PageTemplate(id="front", frames=[frame], onPage=footer),
            PageTemplate(id="body", frames=[frame], onPage=header_and_footer),
        ],
    )

    story: list[Flowable] = [
        Spacer(1, 50 * mm),
        Paragraph(escape(book.title), _TITLE),
        Paragraph(f"by {escape(book.author)}", _CENTRED),
        PageBreak(),
        Paragraph("Contents", _CHAPTER),
        *(Paragraph(escape(c.heading), _CONTENTS) for c in book.chapters),
        NextPageTemplate("body"),
    ]
    for chapter in book.chapters:
        story += [
            PageBreak(),
            _ChapterMark(f"ch{chapter.number}", chapter.heading),
            Paragraph(escape(chapter.heading), _CHAPTER),
        ]
        story += [Paragraph(escape(p), _BODY) for p in chapter.paragraphs]

    def set_page_labels(canvas: Canvas) -> None:
        # reportlab wants the style's name here: its one-letter codes collide with the names.
        canvas.addPageLabel(0, "ROMAN_LOWER", 1)
        canvas.addPageLabel(FRONT_MATTER_PAGES, "ARABIC", 1)

    doc.build(story, canvasmaker=_labelled_canvas(set_page_labels))


def _labelled_canvas(configure: Callable[[Canvas], None]) -> type[Canvas]:
    """A reportlab Canvas class that applies `configure` (page labels) once, at creation."""

    class LabelledCanvas(Canvas):
        def __init__(self, *args, **kwargs) -> None:
            super().__init__(*args, **kwargs)
            configure(self)
            self.showOutline()

    return LabelledCanvas


# --- TXT and MD -------------------------------------------------------------------------------


def build_txt(book: SourceBook, target: Path) -> None:
    blocks = [book.title, f"by {book.author}"]
    for chapter in book.chapters:
        blocks.append("\n" + chapter.heading)
        # Compounds such as "twenty-four" stay whole: a line break never splits a hyphenated word.
        blocks += [textwrap.fill(p, TXT_WIDTH, break_on_hyphens=False) for p in chapter.paragraphs]
    target.write_text("\n\n".join(blocks) + "\n", encoding="utf-8", newline="\n")


def build_all(out_dir: Path = HERE) -> list[Path]:
    """Build every format of the sample book into `out_dir`; returns the files written."""
    book = parse_source(SOURCE.read_text(encoding="utf-8"))
    out_dir.mkdir(parents=True, exist_ok=True)
    paths = {ext: out_dir / f"{STEM}.{ext}" for ext in ("epub", "pdf", "txt", "md")}
    build_epub(book, paths["epub"])
    build_pdf(book, paths["pdf"])
    build_txt(book, paths["txt"])
    shutil.copyfile(SOURCE, paths["md"])
    return list(paths.values())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=HERE, help="output folder (default: samples/)")
    args = parser.parse_args()
    for path in build_all(args.out):
        print(f"wrote {path}")


if __name__ == "__main__":
    main()
