"""Small books built on the fly for the loader tests: EPUBs written with zipfile (so that broken
structures can be made on purpose) and PDFs drawn with reportlab."""

from __future__ import annotations

import io
import zipfile
from collections.abc import Sequence
from pathlib import Path

from pypdf import PdfReader, PdfWriter
from reportlab.lib.pagesizes import A4
from reportlab.pdfgen import canvas

CONTAINER = """<?xml version="1.0"?>
<container version="1.0" xmlns="urn:oasis:names:tc:opendocument:xmlns:container">
  <rootfiles><rootfile full-path="OEBPS/content.opf" media-type="application/oebps-package+xml"/></rootfiles>
</container>"""

FILLER = (
    "The keeper climbed the stair at dusk and trimmed the wick before the weather turned. "
    "Below him the harbour emptied, boat by boat, until only the ferry remained at the quay. "
)


def xhtml(
    title: str, paragraphs: Sequence[str], epub_type: str = "chapter", heading: bool = True
) -> str:
    head = f"<h1>{title}</h1>" if heading else ""
    body = "".join(f"<p>{p}</p>" for p in paragraphs)
    return (
        '<?xml version="1.0" encoding="utf-8"?>\n'
        '<html xmlns="http://www.w3.org/1999/xhtml" xmlns:epub="http://www.idpf.org/2007/ops">'
        f"<head><title>{title}</title></head>"
        f'<body><section epub:type="{epub_type}">{head}{body}</section></body></html>'
    )


def nav(entries: Sequence[tuple[str, str]]) -> str:
    items = "".join(f'<li><a href="{href}">{title}</a></li>' for href, title in entries)
    return (
        '<?xml version="1.0" encoding="utf-8"?>\n'
        '<html xmlns="http://www.w3.org/1999/xhtml" xmlns:epub="http://www.idpf.org/2007/ops">'
        "<head><title>Contents</title></head><body>"
        f'<nav epub:type="toc"><h1>Contents</h1><ol>{items}</ol></nav></body></html>'
    )


def ncx(entries: Sequence[tuple[str, str]]) -> str:
    points = "".join(
        f'<navPoint id="p{k}" playOrder="{k + 1}"><navLabel><text>{title}</text></navLabel>'
        f'<content src="{href}"/></navPoint>'
        for k, (href, title) in enumerate(entries)
    )
    return (
        '<?xml version="1.0" encoding="utf-8"?>\n'
        '<ncx xmlns="http://www.daisy.org/z3986/2005/ncx/" version="2005-1">'
        f"<head/><docTitle><text>T</text></docTitle><navMap>{points}</navMap></ncx>"
    )


def make_epub(
    path: Path,
    docs: Sequence[tuple[str, str]],
    *,
    nav_entries: Sequence[tuple[str, str]] | None = None,
    ncx_entries: Sequence[tuple[str, str]] | None = None,
    title: str = "The Test Book",
    author: str = "A. Writer",
    manifest_suffix: str = "",
    extra_files: dict[str, str | bytes] | None = None,
    extra_manifest: str = "",
    extra_spine: str = "",
) -> Path:
    """An EPUB whose spine is `docs` (file name, xhtml) in order. `manifest_suffix` is appended
    to every content href in the manifest (e.g. "#start", which ebooklib cannot resolve);
    `extra_manifest` and `extra_spine` are appended verbatim to the manifest and the spine."""
    manifest = [
        f'<item id="d{k}" href="{name}{manifest_suffix}" media-type="application/xhtml+xml"/>'
        for k, (name, _) in enumerate(docs)
    ]
    spine = [f'<itemref idref="d{k}"/>' for k in range(len(docs))] + [extra_spine]
    manifest.append(extra_manifest)
    files: dict[str, str | bytes] = {f"OEBPS/{name}": content for name, content in docs}
    if nav_entries is not None:
        manifest.append(
            '<item id="nav" href="nav.xhtml" media-type="application/xhtml+xml" properties="nav"/>'
        )
        files["OEBPS/nav.xhtml"] = nav(nav_entries)
    toc_attr = ""
    if ncx_entries is not None:
        manifest.append('<item id="ncx" href="toc.ncx" media-type="application/x-dtbncx+xml"/>')
        files["OEBPS/toc.ncx"] = ncx(ncx_entries)
        toc_attr = ' toc="ncx"'
    opf = (
        '<?xml version="1.0" encoding="utf-8"?>\n'
        '<package xmlns="http://www.idpf.org/2007/opf" version="3.0" unique-identifier="id">'
        '<metadata xmlns:dc="http://purl.org/dc/elements/1.1/">'
        f'<dc:identifier id="id">urn:test:{path.stem}</dc:identifier><dc:title>{title}</dc:title>'
        f"<dc:creator>{author}</dc:creator><dc:language>en</dc:language></metadata>"
        f"<manifest>{''.join(manifest)}</manifest><spine{toc_attr}>{''.join(spine)}</spine></package>"
    )
    files["OEBPS/content.opf"] = opf
    files.update(extra_files or {})
    with zipfile.ZipFile(path, "w") as zf:
        zf.writestr(zipfile.ZipInfo("mimetype"), "application/epub+zip")
        zf.writestr("META-INF/container.xml", CONTAINER)
        for name, content in files.items():
            zf.writestr(name, content, compress_type=zipfile.ZIP_DEFLATED)
    return path


def chapter_paragraphs(topic: str, n: int = 3) -> list[str]:
    return [f"{topic} paragraph {k + 1}. {FILLER}" for k in range(n)]


def simple_epub(path: Path, chapters: int = 3, **kwargs: object) -> Path:
    docs = [
        (f"ch{k + 1}.xhtml", xhtml(f"Chapter {k + 1}", chapter_paragraphs(f"Topic{k + 1}")))
        for k in range(chapters)
    ]
    entries = [(f"ch{k + 1}.xhtml", f"The Chapter {k + 1}") for k in range(chapters)]
    return make_epub(path, docs, nav_entries=entries, **kwargs)  # type: ignore[arg-type]


def make_pdf(
    path: Path,
    pages: Sequence[Sequence[str] | None],
    *,
    outline: Sequence[tuple[str, int] | tuple[str, int, int]] = (),
    header: str | None = None,
    numbers: bool = False,
    title: str | None = None,
) -> Path:
    """One list of text lines per page (None: a page with a drawing and no text), optional
    bookmarks (title, 0-based page[, nesting level]), a running header and page numbers."""
    c = canvas.Canvas(str(path), pagesize=A4)
    if title:
        c.setTitle(title)
    _, height = A4
    for index, lines in enumerate(pages):
        for entry_title, page, *level in outline:
            if page == index:
                key = f"o{entry_title}"
                c.bookmarkPage(key)
                c.addOutlineEntry(entry_title, key, level=level[0] if level else 0)
        if lines is None:
            c.rect(100, 300, 300, 300, fill=1)  # an "image": marks without text
        else:
            if header:
                c.drawString(72, height - 40, header)
            y = height - 80
            for line in lines:
                c.drawString(72, y, line)
                y -= 16
            if numbers:
                c.drawString(290, 30, str(index + 1))
        c.showPage()
    c.save()
    return path


def body_lines(topic: str, n: int = 8) -> list[str]:
    return [
        f"{topic} line {k + 1} tells of the harbour and the keeper and his lamp." for k in range(n)
    ]


def relabel(path: Path, prefix_pages: int) -> Path:
    """Roman page labels (i, ii, ...) for the first `prefix_pages` pages, then 1, 2, ..."""
    writer = PdfWriter(clone_from=PdfReader(path))
    writer.set_page_label(0, prefix_pages - 1, style="/r")
    writer.set_page_label(prefix_pages, len(writer.pages) - 1, style="/D", start=1)
    with open(path, "wb") as handle:
        writer.write(handle)
    return path


def encrypt(
    path: Path, user_password: str, owner_password: str = "owner", algorithm: str = "RC4-128"
) -> Path:
    writer = PdfWriter(clone_from=PdfReader(path))
    writer.encrypt(user_password=user_password, owner_password=owner_password, algorithm=algorithm)
    buffer = io.BytesIO()
    writer.write(buffer)
    path.write_bytes(buffer.getvalue())
    return path
