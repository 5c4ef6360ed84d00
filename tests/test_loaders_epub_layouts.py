"""The EPUB contract on randomized layouts (hypothesis): whatever the spine and the table of
contents look like, every paragraph of every text document is in the book exactly once, in
spine order; spine images add nothing; no two chapters share a body; chapters follow the TOC's
chapter level (descended through a single wrapping entry); navigation never becomes text.

Every paragraph carries a unique marker word, so the check is exact: the book's markers, read
in order over front matter and chapters by position, must be the spine's markers in order.
"""

from __future__ import annotations

import re
import tempfile
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from loader_books import FILLER, make_epub

from bookreader.loaders import load

MARKER = re.compile(r"\bzq(\d+)x(\d+)\b")  # zq<doc>x<paragraph>
PNG = b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 2


def _document(doc: int, paragraphs: int, with_nav: bool) -> str:
    body = "".join(f'<p id="d{doc}p{k}">zq{doc}x{k} {FILLER}</p>' for k in range(paragraphs))
    nav = '<div role="navigation"><h3>Navigation</h3><a href="#">Next</a></div>' if with_nav else ""
    return (
        '<?xml version="1.0" encoding="utf-8"?>\n'
        '<html xmlns="http://www.w3.org/1999/xhtml"><head><title>D</title></head>'
        f"<body>{nav}<section>{body}</section>{nav}</body></html>"
    )


@st.composite
def layouts(draw: st.DrawFn) -> dict:
    docs = draw(st.integers(1, 5))
    paragraphs = [draw(st.integers(1, 6)) for _ in range(docs)]
    # TOC entries: (doc, paragraph anchor or None), in reading order, no position twice.
    positions = sorted(
        draw(
            st.sets(
                st.tuples(st.integers(0, docs - 1), st.one_of(st.none(), st.integers(0, 5))).map(
                    lambda t, p=paragraphs: (t[0], None if t[1] is None else t[1] % p[t[0]])
                ),
                min_size=1,
                max_size=8,
            )
        ),
        key=lambda t: (t[0], -1 if t[1] is None else t[1]),
    )
    return {
        "paragraphs": paragraphs,
        "entries": positions,
        "wrapped": draw(st.booleans()),  # a single top-level entry around the real ones
        "drop_folder": draw(st.booleans()),  # links that lost their folder prefix
        "repeat": draw(st.booleans()),  # the first document listed again at the end
        "image": draw(st.booleans()),  # a PNG in the spine
        "sidebar": draw(st.booleans()),  # Sphinx-like navigation blocks in every page
    }


def _build(layout: dict, folder: Path) -> Path:
    paragraphs = layout["paragraphs"]
    docs = [
        (f"text/d{k}.xhtml", _document(k, n, layout["sidebar"])) for k, n in enumerate(paragraphs)
    ]
    prefix = "" if layout["drop_folder"] else "text/"
    entries = []
    for doc, anchor in layout["entries"]:
        href = f"{prefix}d{doc}.xhtml" + ("" if anchor is None else f"#d{doc}p{anchor}")
        entries.append((href, f"Entry {doc}.{anchor}"))
    items = "".join(f'<li><a href="{h}">{t}</a></li>' for h, t in entries)
    toc = (
        f'<ol><li><a href="{prefix}d0.xhtml">The Whole Book</a><ol>{items}</ol></li></ol>'
        if layout["wrapped"]
        else f"<ol>{items}</ol>"
    )
    nav = (
        '<?xml version="1.0" encoding="utf-8"?>\n<html xmlns="http://www.w3.org/1999/xhtml" '
        'xmlns:epub="http://www.idpf.org/2007/ops"><head><title>Nav</title></head><body>'
        f'<nav epub:type="toc"><h1>Contents</h1>{toc}</nav></body></html>'
    )
    spine_extra = '<itemref idref="d0"/>' if layout["repeat"] else ""
    if layout["image"]:
        spine_extra += '<itemref idref="img"/>'
    return make_epub(
        folder / "random.epub",
        docs,
        extra_files={"OEBPS/nav.xhtml": nav, "OEBPS/p.png": PNG},
        extra_manifest=(
            '<item id="nav" href="nav.xhtml" media-type="application/xhtml+xml" '
            'properties="nav"/><item id="img" href="p.png" media-type="image/png"/>'
        ),
        extra_spine=spine_extra,
    )


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(layout=layouts())
def test_every_paragraph_once_in_order_and_chapters_follow_the_toc(layout: dict) -> None:
    with tempfile.TemporaryDirectory() as folder:
        book = load(_build(layout, Path(folder)))
    expected = [(d, k) for d, n in enumerate(layout["paragraphs"]) for k in range(n)]
    sections = sorted(
        [*book.front_matter, *book.chapters],
        key=lambda c: min((tuple(map(int, m)) for m in MARKER.findall(c.text)), default=(99, 0)),
    )
    found = [tuple(map(int, m)) for c in sections for m in MARKER.findall(c.text)]
    assert found == expected  # each paragraph once, in spine order
    text = "\n".join(c.text for c in sections)
    assert "Navigation" not in text and "Next" not in text and "Contents" not in text
    assert "PNG" not in text and "\ufffd" not in text
    bodies = [c.text for c in book.chapters]
    assert len(set(bodies)) == len(bodies)
    titles = {f"Entry {d}.{a}" for d, a in layout["entries"]}
    first = next((k for k, c in enumerate(book.chapters) if c.title in titles), None)
    if first is not None:  # from the first TOC chapter on, every chapter is a TOC entry
        assert all(c.title in titles for c in book.chapters[first:])
    assert "The Whole Book" not in {c.title for c in book.chapters} or not layout["wrapped"]
