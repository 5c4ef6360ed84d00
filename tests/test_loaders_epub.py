"""EPUB loading: spine order, nav/NCX/heading titles, front matter, anchors that split a file,
recovery where ebooklib fails, DRM, and the corpus's real EPUBs."""

from __future__ import annotations

import re
import zipfile
from pathlib import Path

import pytest
from ebooklib import epub
from loader_books import chapter_paragraphs, make_epub, simple_epub, xhtml

from bookreader.errors import CorruptBook, DRMProtected, EmptyBook
from bookreader.loaders import load


def test_spine_order_and_nav_titles(tmp_path: Path) -> None:
    # File names sort the other way round from the spine: the spine decides.
    docs = [
        ("z-first.xhtml", xhtml("One", chapter_paragraphs("Alpha"))),
        ("a-second.xhtml", xhtml("Two", chapter_paragraphs("Beta"))),
    ]
    path = make_epub(
        tmp_path / "order.epub",
        docs,
        nav_entries=[("z-first.xhtml", "Nav One"), ("a-second.xhtml", "Nav Two")],
        ncx_entries=[("z-first.xhtml", "Ncx One"), ("a-second.xhtml", "Ncx Two")],
    )
    book = load(path)
    assert [c.title for c in book.chapters] == ["Nav One", "Nav Two"]
    assert "Alpha paragraph 1." in book.chapters[0].text and "Beta" not in book.chapters[0].text
    assert (book.title, book.author, book.language, book.format) == (
        "The Test Book",
        "A. Writer",
        "en",
        "epub",
    )


def test_ncx_titles_when_there_is_no_nav(tmp_path: Path) -> None:
    docs = [(f"c{k}.xhtml", xhtml(f"H{k}", chapter_paragraphs(f"T{k}"))) for k in range(2)]
    book = load(
        make_epub(
            tmp_path / "ncx.epub", docs, ncx_entries=[("c0.xhtml", "Ncx A"), ("c1.xhtml", "Ncx B")]
        )
    )
    assert [c.title for c in book.chapters] == ["Ncx A", "Ncx B"]


def test_first_heading_when_there_is_no_toc(tmp_path: Path) -> None:
    docs = [(f"c{k}.xhtml", xhtml(f"Heading {k}", chapter_paragraphs(f"T{k}"))) for k in range(2)]
    book = load(make_epub(tmp_path / "bare.epub", docs))
    assert [c.title for c in book.chapters] == ["Heading 0", "Heading 1"]
    # The heading is the title; the text starts with the first paragraph.
    assert book.chapters[0].text.startswith("T0 paragraph 1.")


def test_paragraphs_are_kept_and_scripts_dropped(tmp_path: Path) -> None:
    content = xhtml("One", ["First para.", "Second <em>para</em>.<script>alert('x')</script>"])
    book = load(make_epub(tmp_path / "p.epub", [("c.xhtml", content)]))
    assert book.chapters[0].text == "First para.\n\nSecond para."


def test_front_matter_is_set_aside(tmp_path: Path) -> None:
    docs = [
        ("cover.xhtml", xhtml("Cover", ["The Test Book"], epub_type="cover")),
        ("title.xhtml", xhtml("Title", ["The Test Book by A. Writer"], epub_type="titlepage")),
        ("c1.xhtml", xhtml("One", chapter_paragraphs("Alpha"))),
        (
            "legal.xhtml",
            xhtml("Copyright", ["All rights reserved. " * 30], epub_type="copyright-page"),
        ),
    ]
    book = load(make_epub(tmp_path / "fm.epub", docs))
    assert [c.title for c in book.chapters] == ["One"]
    assert all(c.front_matter for c in book.front_matter)
    assert {c.title for c in book.front_matter} >= {"Copyright", "Title"}


def test_one_file_split_at_toc_anchors(tmp_path: Path) -> None:
    paragraphs = []
    for k in range(3):
        paragraphs.append(f'<span id="ch{k}"></span>Heading {k}')
        paragraphs += chapter_paragraphs(f"Part{k}")
    docs = [("all.xhtml", xhtml("Book", paragraphs, heading=False))]
    entries = [(f"all.xhtml#ch{k}", f"Chapter {k + 1}") for k in range(3)]
    book = load(make_epub(tmp_path / "split.epub", docs, ncx_entries=entries))
    assert [c.title for c in book.chapters] == ["Chapter 1", "Chapter 2", "Chapter 3"]
    for k, chapter in enumerate(book.chapters):
        assert f"Part{k} paragraph" in chapter.text
        assert f"Part{(k + 1) % 3} paragraph" not in chapter.text


def test_file_without_toc_entry_continues_the_chapter(tmp_path: Path) -> None:
    docs = [
        ("c1a.xhtml", xhtml("One", chapter_paragraphs("Alpha"))),
        ("c1b.xhtml", xhtml("One, continued", chapter_paragraphs("Beta"), heading=False)),
        ("c2.xhtml", xhtml("Two", chapter_paragraphs("Gamma"))),
    ]
    book = load(
        make_epub(
            tmp_path / "cont.epub", docs, nav_entries=[("c1a.xhtml", "One"), ("c2.xhtml", "Two")]
        )
    )
    assert [c.title for c in book.chapters] == ["One", "Two"]
    assert "Beta paragraph 1." in book.chapters[0].text


def test_fragment_hrefs_that_ebooklib_rejects_are_tolerated(tmp_path: Path) -> None:
    path = simple_epub(tmp_path / "frag.epub", manifest_suffix="#start")
    with pytest.raises(KeyError):  # ebooklib itself cannot open it
        epub.read_epub(str(path))
    book = load(path)
    assert [c.title for c in book.chapters] == ["The Chapter 1", "The Chapter 2", "The Chapter 3"]
    assert book.warnings == []  # nothing was skipped or guessed
    assert book.title == "The Test Book"


@pytest.mark.parametrize(
    "algorithm",
    [
        "http://www.w3.org/2001/04/xmlenc#aes128-cbc",
        "http://ns.adobe.com/adept",
    ],
)
def test_drm_is_refused(tmp_path: Path, algorithm: str) -> None:
    encryption = (
        '<encryption xmlns="urn:oasis:names:tc:opendocument:xmlns:container" '
        'xmlns:enc="http://www.w3.org/2001/04/xmlenc#"><enc:EncryptedData>'
        f'<enc:EncryptionMethod Algorithm="{algorithm}"/>'
        '<enc:CipherData><enc:CipherReference URI="OEBPS/ch1.xhtml"/></enc:CipherData>'
        "</enc:EncryptedData></encryption>"
    )
    path = simple_epub(tmp_path / "drm.epub", extra_files={"META-INF/encryption.xml": encryption})
    with pytest.raises(DRMProtected, match=r"drm\.epub"):
        load(path)


def test_font_obfuscation_alone_is_not_drm(tmp_path: Path) -> None:
    encryption = (
        '<encryption xmlns="urn:oasis:names:tc:opendocument:xmlns:container" '
        'xmlns:enc="http://www.w3.org/2001/04/xmlenc#"><enc:EncryptedData>'
        '<enc:EncryptionMethod Algorithm="http://www.idpf.org/2008/embedding"/>'
        '<enc:CipherData><enc:CipherReference URI="OEBPS/font.otf"/></enc:CipherData>'
        "</enc:EncryptedData></encryption>"
    )
    path = simple_epub(tmp_path / "fonts.epub", extra_files={"META-INF/encryption.xml": encryption})
    assert len(load(path).chapters) == 3


def test_truncated_epub_is_corrupt(tmp_path: Path) -> None:
    data = simple_epub(tmp_path / "whole.epub").read_bytes()
    path = tmp_path / "cut.epub"
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(CorruptBook, match=r"cut\.epub"):
        load(path)


def test_zip_without_package_is_corrupt(tmp_path: Path) -> None:
    path = tmp_path / "empty.epub"
    with zipfile.ZipFile(path, "w") as zf:
        zf.writestr("mimetype", "application/epub+zip")
        zf.writestr("readme.txt", "nothing here")
    with pytest.raises(CorruptBook, match=r"empty\.epub"):
        load(path)


# --- the corpus ----------------------------------------------------------------------------

EPUB_FACTS = {
    # file: (chapters, first title contains, last title contains)
    "ebooklib_test01.epub": (2, "Introduction", "About this book"),
    "epubjs_alice.epub": (10, "Down The Rabbit-Hole", "Alice's Evidence"),
    "epubjs_alice_without_cover.epub": (1, "Title Page", "Title Page"),
    "epubjs_moby-dick.epub": (136, "Chapter 1. Loomings.", "Epilogue"),
    "gitenberg_pg1342_pride.epub": (61, "Chapter 1", "Chapter 61"),
    "gluejar_pride_and_prejudice_modified.epub": (61, "Chapter 1", "Chapter 61"),
    "gutenberg_pg11-images_alice.epub": (12, "Down the Rabbit-Hole", "Alice’s Evidence"),
    "standardebooks_sherlock_from_src.epub": (
        12,
        "A Scandal in Bohemia",
        "The Adventure of the Copper Beeches",
    ),
}


def test_corpus_facts_cover_every_epub(corpus: Path) -> None:
    assert sorted(p.name for p in (corpus / "epub").glob("*.epub")) == sorted(EPUB_FACTS)


@pytest.mark.parametrize("name", sorted(EPUB_FACTS))
def test_corpus_epub_loads_with_facts(corpus: Path, name: str) -> None:
    count, first, last = EPUB_FACTS[name]
    book = load(corpus / "epub" / name)
    assert len(book.chapters) == count
    assert first in book.chapters[0].title and last in book.chapters[-1].title
    assert [c.index for c in book.chapters] == list(range(count))
    assert book.title and book.format == "epub"
    for chapter in book.chapters:
        assert "<p" not in chapter.text and "function(" not in chapter.text
        assert "START OF THE PROJECT GUTENBERG" not in chapter.text
        assert "Project Gutenberg License" not in chapter.text


def _spine_paths(path: Path) -> list[str]:
    """The OPF spine as file names, read with plain regular expressions (an independent route)."""
    with zipfile.ZipFile(path) as zf:
        opf_name = next(
            n for n in zf.namelist() if n.endswith(".opf") and not n.startswith("__MACOSX")
        )
        opf = zf.read(opf_name).decode("utf-8")
    hrefs = dict(re.findall(r'<item\b[^>]*?id="([^"]+)"[^>]*?href="([^"]+)"', opf))
    hrefs.update(
        {i: h for h, i in re.findall(r'<item\b[^>]*?href="([^"]+)"[^>]*?id="([^"]+)"', opf)}
    )
    return [
        hrefs[i].rsplit("/", 1)[-1] for i in re.findall(r'<itemref\b[^>]*?idref="([^"]+)"', opf)
    ]


def test_moby_dick_chapters_follow_the_spine(corpus: Path) -> None:
    path = corpus / "epub" / "epubjs_moby-dick.epub"
    book = load(path)
    assert len(book.chapters) > 130
    spine = _spine_paths(path)
    positions = [spine.index(c.source.rsplit("/", 1)[-1]) for c in book.chapters]
    assert positions == sorted(positions)
    numbers = [int(m[1]) for c in book.chapters if (m := re.match(r"Chapter (\d+)\.", c.title))]
    assert numbers == list(range(1, 136))
    assert book.chapters[0].text.startswith("Call me Ishmael.")


def test_gutenberg_alice_front_matter_and_boilerplate(corpus: Path) -> None:
    book = load(corpus / "epub" / "gutenberg_pg11-images_alice.epub")
    assert book.chapters[0].title.endswith("Down the Rabbit-Hole")
    assert "Contents" in [c.title for c in book.front_matter]
    assert "Gutenberg" not in book.text
    assert any("Gutenberg" in w for w in book.warnings)
    assert "the happy summer days." in book.chapters[-1].text[-200:]


def test_standard_ebooks_front_and_back_matter(corpus: Path) -> None:
    book = load(corpus / "epub" / "standardebooks_sherlock_from_src.epub")
    assert {"Titlepage", "Imprint", "Colophon", "Uncopyright"} <= {
        c.title for c in book.front_matter
    }
    assert (book.author, book.language) == ("Arthur Conan Doyle", "en-GB")


def test_pride_with_spaces_in_file_names_matches_the_clean_copy(corpus: Path) -> None:
    clean = load(corpus / "epub" / "gitenberg_pg1342_pride.epub")
    modified = load(corpus / "epub" / "gluejar_pride_and_prejudice_modified.epub")
    assert [c.title for c in clean.chapters] == [f"Chapter {k}" for k in range(1, 62)]
    assert [c.word_count for c in clean.chapters] == [c.word_count for c in modified.chapters]
    assert clean.chapters[0].text.startswith("It is a truth universally acknowledged")


def test_zip_bomb_is_refused(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from bookreader.loaders import epub_package as epub_loader

    path = simple_epub(tmp_path / "bomb.epub")
    unpacked = sum(i.file_size for i in zipfile.ZipFile(path).infolist())
    monkeypatch.setattr(epub_loader, "MAX_UNPACKED_BYTES", unpacked - 1)
    with pytest.raises(CorruptBook, match=r"bomb\.epub: the EPUB claims to unpack"):
        load(path)
    monkeypatch.setattr(epub_loader, "MAX_UNPACKED_BYTES", unpacked)
    assert load(path).chapters


def test_part_title_pages_are_not_chapters(tmp_path: Path) -> None:
    docs = [
        ("part1.xhtml", xhtml("Part One", [], epub_type="part")),
        ("c1.xhtml", xhtml("One", chapter_paragraphs("Alpha"))),
        ("part2.xhtml", xhtml("Part Two", [], epub_type="part")),
        ("c2.xhtml", xhtml("Two", chapter_paragraphs("Beta"))),
    ]
    entries = [
        ("part1.xhtml", "Part One"),
        ("c1.xhtml", "One"),
        ("part2.xhtml", "Part Two"),
        ("c2.xhtml", "Two"),
    ]
    book = load(make_epub(tmp_path / "parts.epub", docs, nav_entries=entries))
    assert [c.title for c in book.chapters] == ["One", "Two"]


def test_anchor_on_a_block_after_loose_text() -> None:
    from bookreader.loaders.xhtml import html_to_doc

    doc = html_to_doc(
        b'<html xmlns="http://www.w3.org/1999/xhtml"><body><div>loose words'
        b'<h2 id="c2">Two</h2><p>Body <a id="inline"/>text.</p></div></body></html>'
    )
    assert [b.text for b in doc.blocks] == ["loose words", "Two", "Body text."]
    assert doc.anchors == {"c2": 1, "inline": 2}
    assert doc.first_heading == "Two"


# --- faithful text: renditions, images, SVG, MathML, control characters, front matter -------


def test_first_rootfile_is_the_default_rendition(tmp_path: Path) -> None:
    path = simple_epub(tmp_path / "two.epub")
    with zipfile.ZipFile(path, "a") as zf:  # a second, empty rendition listed first
        zf.writestr("BRAILLE/content.opf", "<package><manifest/><spine/></package>")
    # Rewrite container.xml: the real package first, the braille one second.
    data = {}
    with zipfile.ZipFile(path) as zf:
        data = {name: zf.read(name) for name in zf.namelist()}
    data["META-INF/container.xml"] = (
        b'<?xml version="1.0"?><container version="1.0" '
        b'xmlns="urn:oasis:names:tc:opendocument:xmlns:container"><rootfiles>'
        b'<rootfile full-path="OEBPS/content.opf" media-type="application/oebps-package+xml"/>'
        b'<rootfile full-path="BRAILLE/content.opf" media-type="application/oebps-package+xml"/>'
        b"</rootfiles></container>"
    )
    with zipfile.ZipFile(path, "w") as zf:
        for name, content in data.items():
            zf.writestr(name, content)
    assert [c.title for c in load(path).chapters] == [f"The Chapter {k}" for k in (1, 2, 3)]


def test_image_only_epub_is_refused_saying_so(tmp_path: Path) -> None:
    png = b"\x89PNG\r\n\x1a\n" + bytes(range(256))
    path = make_epub(
        tmp_path / "pics.epub",
        [],
        extra_files={"OEBPS/a.png": png, "OEBPS/b.jpg": b"\xff\xd8\xff\xe0" + bytes(64)},
        extra_manifest='<item id="a" href="a.png" media-type="image/png"/>'
        '<item id="b" href="b.jpg" media-type="image/jpeg"/>',
        extra_spine='<itemref idref="a"/><itemref idref="b"/>',
    )
    with pytest.raises(EmptyBook, match=r"pics\.epub: the EPUB's pages hold only images \(2\)"):
        load(path)


def test_svg_text_mathml_and_no_control_characters(tmp_path: Path) -> None:
    body = (
        '<section><h1>Figures</h1><p>Before \x01the\x05 figure.</p><svg xmlns="http://www.w3.org/2000/svg">'
        "<title>hidden</title><text>Lighthouse <tspan>beam</tspan></text></svg>"
        '<p>Area <math xmlns="http://www.w3.org/1998/Math/MathML"><mi>r</mi><mo>+</mo><mn>2</mn>'
        '</math> and <math xmlns="http://www.w3.org/1998/Math/MathML" alttext="pi r squared"/>.</p>'
        "</section>"
    )
    doc = (
        '<?xml version="1.0" encoding="utf-8"?>\n<html xmlns="http://www.w3.org/1999/xhtml">'
        f"<head><title>F</title></head><body>{body}</body></html>"
    )
    book = load(make_epub(tmp_path / "fig.epub", [("f.xhtml", doc)] * 1))
    text = book.chapters[0].text
    assert "Before the figure." in text and "Lighthouse beam" in text
    assert "Area r + 2 and pi r squared ." in text
    assert "hidden" not in text and not re.search(r"[\x00-\x08\x0b-\x1f]", text)


def test_front_matter_is_never_most_of_the_book(tmp_path: Path) -> None:
    long = chapter_paragraphs("Long", 30)
    docs = [
        ("titlepage.xhtml", xhtml("Title Page", long, epub_type="titlepage")),
        ("copyright.xhtml", xhtml("Copyright", long, epub_type="copyright-page")),
        ("c1.xhtml", xhtml("One", chapter_paragraphs("Short", 2))),
    ]
    book = load(make_epub(tmp_path / "fm.epub", docs))
    front = sum(c.word_count for c in book.front_matter)
    assert front <= book.word_count
    assert front + book.word_count >= 60 * len(long)  # nothing dropped
    assert any("front matter" in w for w in book.warnings)


def test_anchor_split_gives_each_piece_once(tmp_path: Path) -> None:
    paragraphs = "".join(
        f'<h2 id="s{k}">Part {k}</h2><p>Body of part {k} only.</p>' for k in range(1, 6)
    )
    doc = (
        '<?xml version="1.0" encoding="utf-8"?>\n<html xmlns="http://www.w3.org/1999/xhtml">'
        f"<head><title>M</title></head><body>{paragraphs}</body></html>"
    )
    entries = [(f"manual.xhtml#s{k}", f"Part {k}") for k in range(1, 6)]
    book = load(make_epub(tmp_path / "m.epub", [("manual.xhtml", doc)], nav_entries=entries))
    assert [c.title for c in book.chapters] == [f"Part {k}" for k in range(1, 6)]
    assert [c.text for c in book.chapters] == [f"Body of part {k} only." for k in range(1, 6)]


def test_ncx_is_followed_when_the_nav_links_lead_nowhere(tmp_path: Path) -> None:
    docs = [(f"ch{k}.xhtml", xhtml(f"Heading {k}", chapter_paragraphs(f"T{k}"))) for k in (1, 2, 3)]
    book = load(
        make_epub(
            tmp_path / "both.epub",
            docs,
            nav_entries=[(f"gone{k}.xhtml", f"Nav {k}") for k in (1, 2, 3)],
            ncx_entries=[(f"ch{k}.xhtml", f"Ncx {k}") for k in (1, 2, 3)],
        )
    )
    assert [c.title for c in book.chapters] == ["Ncx 1", "Ncx 2", "Ncx 3"]
    assert not any("table of contents" in w for w in book.warnings)


def test_links_without_their_folder_resolve_by_file_name(tmp_path: Path) -> None:
    docs = [
        (f"text/ch{k}.xhtml", xhtml(f"Heading {k}", chapter_paragraphs(f"T{k}"))) for k in (1, 2)
    ]
    book = load(
        make_epub(
            tmp_path / "flat.epub", docs, ncx_entries=[(f"ch{k}.xhtml", f"Ncx {k}") for k in (1, 2)]
        )
    )
    assert [c.title for c in book.chapters] == ["Ncx 1", "Ncx 2"]
