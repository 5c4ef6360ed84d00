"""XHTML (EPUB content documents) to paragraphs.

Block elements end a paragraph, `<br>` is a line break inside one, scripts, styles and the head
are dropped, and so is navigation boilerplate (`<nav>`, epub:type toc/landmarks/page-list,
role=navigation, Sphinx's related bars and sidebars). SVG contributes its `<text>` (each one a
paragraph), MathML its tokens (its `alttext` when it has none); `<object>` its fallback content. Element ids are remembered with the paragraph they start at, so that a table of
contents entry `chapter.xhtml#ch3` can split a document in the middle.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import lxml.etree as etree
import lxml.html

from bookreader.book import count_words
from bookreader.loaders.cleanup import clean_inline

BLOCK_TAGS = frozenset(
    [
        "p",
        "div",
        "h1",
        "h2",
        "h3",
        "h4",
        "h5",
        "h6",
        "li",
        "ul",
        "ol",
        "dl",
        "dt",
        "dd",
        "blockquote",
        "pre",
        "section",
        "article",
        "header",
        "footer",
        "aside",
        "nav",
        "table",
        "thead",
        "tbody",
        "tfoot",
        "tr",
        "td",
        "th",
        "figure",
        "figcaption",
        "hr",
        "body",
        "address",
        "center",
        "main",
        "hgroup",
        "details",
        "summary",
        "caption",
        "svg",
        "text",  # SVG: each <text> is placed on its own
        "foreignobject",
    ]
)
HEADING_TAGS = frozenset(["h1", "h2", "h3", "h4", "h5", "h6"])
SKIP_TAGS = frozenset(
    ["script", "style", "head", "title", "meta", "link", "template", "desc", "metadata"]
)
# Navigation boilerplate: tables of contents, landmarks and page lists, and the page chrome of
# generated documentation (Sphinx's "related" bars and sidebars, role=navigation/contentinfo).
NAVIGATION_TYPES = frozenset(["toc", "landmarks", "page-list", "loi", "lot", "lov", "loa"])
NAVIGATION_ROLES = frozenset(["navigation", "contentinfo", "doc-toc", "doc-pagelist"])
NAVIGATION_CLASSES = frozenset(["related", "sphinxsidebar", "sphinxsidebarwrapper"])
SVG_TEXT_TAGS = frozenset(["text", "foreignobject"])  # the parts of an SVG that hold text
_EPUB_TYPE = "{http://www.idpf.org/2007/ops}type"


@dataclass
class Block:
    text: str
    heading: bool  # an <h1>..<h6> (or inside one)
    words: int = -1  # count_words(text), counted once (-1: count it now)

    def __post_init__(self) -> None:
        if self.words < 0:
            self.words = count_words(self.text)


@dataclass
class HtmlDoc:
    blocks: list[Block] = field(default_factory=list)
    anchors: dict[str, int] = field(default_factory=dict)  # element id -> first block index
    first_heading: str | None = None
    epub_types: set[str] = field(default_factory=set)  # epub:type values on body/sections
    inner_types: set[str] = field(default_factory=set)  # epub:type values anywhere
    title: str | None = None  # the document's <title>
    images: int = 0  # <img> and SVG <image> elements: pictures, which add no text

    def words(self) -> int:
        return sum(b.words for b in self.blocks)

    def first_text_block(self) -> int:
        """Index of the first block with text (len(blocks) when none has)."""
        return next((k for k, b in enumerate(self.blocks) if b.text.strip()), len(self.blocks))


_LOCAL_NAMES: dict[str, str] = {}  # a book uses a few dozen tags, thousands of times each


def _local(tag: object) -> str:
    if not isinstance(tag, str):
        return ""
    name = _LOCAL_NAMES.get(tag)
    if name is None:
        name = _LOCAL_NAMES[tag] = tag.rsplit("}", 1)[-1].lower()
    return name


def parse_markup(content: bytes) -> etree._Element | None:
    """XHTML as XML (recovering from errors), else as HTML; None when nothing parses."""
    parser = etree.XMLParser(recover=True, resolve_entities=False, no_network=True, huge_tree=True)
    try:
        root = etree.fromstring(content, parser)
    except (etree.XMLSyntaxError, ValueError):
        root = None
    if root is not None and _local(root.tag) == "html" and len(root):
        return root
    try:
        return lxml.html.document_fromstring(content)
    except (etree.ParserError, ValueError, etree.XMLSyntaxError):
        return None


class _Collector:
    def __init__(self) -> None:
        self.doc = HtmlDoc()
        self.pieces: list[str] = []
        self.heading_depth = 0

    def flush(self) -> None:
        if not self.pieces:
            return
        joined = "".join(self.pieces)
        self.pieces = []
        if "\n" in joined:  # <br> breaks survive as single newlines inside the paragraph
            lines = (clean_inline(line) for line in joined.split("\n"))
            text = "\n".join(line for line in lines if line)
        else:
            text = clean_inline(joined)
        if text:
            heading = self.heading_depth > 0
            self.doc.blocks.append(Block(text, heading))
            if heading and self.doc.first_heading is None:
                self.doc.first_heading = " ".join(text.split())

    def start(self, el: etree._Element, tag: str, collect: bool = True) -> None:
        if tag in BLOCK_TAGS:
            self.flush()  # first, so that an id on a block names the block it opens
        if el.attrib:  # most elements carry none: skip the lookups
            self.attributes(el, tag)
        if tag in HEADING_TAGS:
            self.heading_depth += 1
        elif tag in ("img", "image"):
            self.doc.images += 1
        if tag == "br":
            self.pieces.append("\n")
        if el.text and collect:
            self.pieces.append(el.text)

    def attributes(self, el: etree._Element, tag: str) -> None:
        """Anchors (element ids) and the document's epub:type roles."""
        element_id = el.get("id")
        if element_id and element_id not in self.doc.anchors:
            self.doc.anchors[element_id] = len(self.doc.blocks)
        epub_type = el.get(_EPUB_TYPE) or el.get("epub:type")
        if not epub_type:
            return
        types = epub_type.lower().split()
        self.doc.inner_types.update(types)
        # The document's role is on <body> or on the wrapper around its text; an epigraph or
        # dedication nested inside a chapter, after its first paragraph, is no role.
        wrapper = tag in ("section", "article", "div", "nav") and not self.doc.blocks
        if tag == "body" or wrapper:
            self.doc.epub_types.update(types)

    def end(self, el: etree._Element, tag: str) -> None:
        if tag in BLOCK_TAGS:
            self.flush()
        if tag in HEADING_TAGS:
            self.heading_depth -= 1


def is_navigation(el: etree._Element, tag: str) -> bool:
    """Navigation boilerplate that is never book text (see NAVIGATION_*)."""
    if tag == "nav":
        return True
    if not el.attrib:
        return False
    epub_type = el.get(_EPUB_TYPE) or el.get("epub:type") or ""
    if NAVIGATION_TYPES.intersection(epub_type.lower().split()):
        return True
    if (el.get("role") or "").lower() in NAVIGATION_ROLES:
        return True
    return bool(NAVIGATION_CLASSES.intersection((el.get("class") or "").lower().split()))


def math_text(el: etree._Element) -> str:
    """MathML as words: its tokens as displayed, or its `alttext` when it displays none."""
    tokens = " ".join(t.strip() for t in el.itertext() if t.strip())
    return f" {tokens or el.get('alttext') or ''} "


def _document_title(root: etree._Element) -> str | None:
    head = next((el for el in root if _local(el.tag) == "head"), None)
    title = (
        next((el for el in head if _local(el.tag) == "title"), None) if head is not None else None
    )
    return clean_inline("".join(title.itertext())) or None if title is not None else None


def html_to_doc(content: bytes) -> HtmlDoc:
    """Paragraphs of an XHTML (or SVG) document; see the module docstring for what is left out."""
    root = parse_markup(content)
    if root is None:
        return HtmlDoc()
    body = next((el for el in root.iter() if _local(el.tag) == "body"), root)
    collector = _Collector()
    collector.doc.title = _document_title(root)
    # An explicit stack, not recursion: a hostile document may nest thousands of levels.
    # Each entry: element, closing?, whether text in it is collected (inside an SVG, only
    # <text> and <foreignObject> hold text).
    stack: list[tuple[etree._Element, bool, bool]] = [(body, False, _local(body.tag) != "svg")]
    while stack:
        el, closing, collect = stack.pop()
        tag = _local(el.tag)
        if closing:
            collector.end(el, tag)
        elif tag == "math" and collect:
            collector.pieces.append(math_text(el))
        elif tag and tag not in SKIP_TAGS and not is_navigation(el, tag):
            inner = (collect and tag != "svg") or tag in SVG_TEXT_TAGS
            collector.start(el, tag, inner)
            stack.append((el, True, collect))  # its tail belongs to the parent
            stack.extend((child, False, inner) for child in reversed(el))
            continue
        # Comments, processing instructions and skipped elements still own their tail text.
        if el.tail and el is not body and collect:
            collector.pieces.append(el.tail)
    collector.flush()
    return collector.doc
