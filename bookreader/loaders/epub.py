"""EPUB 2 and 3 books.

The package (metadata, manifest, spine) is read with ebooklib; when ebooklib rejects a file
(e.g. manifest hrefs with `#fragment` suffixes raise KeyError inside it) the same facts are
read from META-INF/container.xml and the OPF with zipfile + lxml, and the book carries a
"repaired EPUB structure" warning.

Chapters follow the spine. Titles come from the EPUB 3 nav document, else the NCX, else the
document's first heading. A document that several table-of-contents entries of the same depth
point into (Gutenberg's "Chapter 1..5 in one file") is split at those anchors; a document no
entry points to continues the chapter before it. Cover, title, contents, copyright, imprint and
colophon pages and the Project Gutenberg licence go to `Book.front_matter`.

DRM: META-INF/encryption.xml listing any algorithm other than font obfuscation -> DRMProtected.
"""

from __future__ import annotations

import io
import posixpath
import re
import warnings
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import unquote

import lxml.etree as etree

from bookreader.book import Book, Chapter, count_words
from bookreader.errors import CorruptBook, DRMProtected, EmptyBook
from bookreader.loaders.cleanup import join_paragraphs
from bookreader.loaders.xhtml import Block, HtmlDoc, html_to_doc, parse_markup

FONT_OBFUSCATION = frozenset(
    {"http://www.idpf.org/2008/embedding", "http://ns.adobe.com/pdf/enc#RC"}
)
FRONT_MATTER_TYPES = frozenset(
    [
        "cover",
        "titlepage",
        "halftitlepage",
        "title-page",
        "copyright-page",
        "toc",
        "landmarks",
        "loi",
        "lot",
        "imprint",
        "colophon",
        "frontmatter",
        "dedication",
        "epigraph",
        "acknowledgments",
        "acknowledgements",
        "license",
        "errata",
        "index",
    ]
)
BODY_TYPES = frozenset(["bodymatter", "chapter", "part", "division", "volume", "subchapter"])
_FRONT_FILE = re.compile(
    r"(?:^|[-_/@.])(?:cover|title-?page|halftitle|copyright|uncopyright|imprint|colophon|toc|nav"
    r"|contents|licen[cs]e|wrap0000)(?:[-_.@\d]|$)",
    re.IGNORECASE,
)
_FRONT_TITLE = re.compile(
    r"^\s*(?:cover|title ?page|half ?title|contents|table of contents|copyright.*|imprint"
    r"|colophon|uncopyright|licen[cs]e|.*project gutenberg.*licen[cs]e.*|landmarks)\s*$",
    re.IGNORECASE,
)
_PG_START = re.compile(r"\*\*\*\s*START OF (?:THE|THIS) PROJECT GUTENBERG", re.IGNORECASE)
_PG_END = re.compile(r"\*\*\*\s*END OF (?:THE|THIS) PROJECT GUTENBERG", re.IGNORECASE)
SHORT_LEADING_WORDS = 40  # a title or edition page before the first chapter


@dataclass
class TocEntry:
    path: str  # document path inside the zip
    fragment: str | None
    title: str
    depth: int


@dataclass
class SpineDoc:
    path: str
    linear: bool
    properties: set[str]
    content: bytes


@dataclass
class Package:
    title: str | None
    author: str | None
    language: str | None
    spine: list[SpineDoc]
    toc: list[TocEntry]
    guide: dict[str, str] = field(default_factory=dict)  # document path -> guide type
    nav_paths: set[str] = field(default_factory=set)


# ---------------------------------------------------------------------------------------------
# Container checks


MAX_UNPACKED_BYTES = 2 * 1024**3  # no real book unpacks to more; a zip bomb does


def open_zip(data: bytes, name: str) -> zipfile.ZipFile:
    try:
        zf = zipfile.ZipFile(io.BytesIO(data))
        unpacked = sum(info.file_size for info in zf.infolist())
    except (zipfile.BadZipFile, zipfile.LargeZipFile, OSError, ValueError, EOFError) as error:
        raise CorruptBook(f"{name}: damaged or truncated EPUB (zip: {error})") from None
    if unpacked > MAX_UNPACKED_BYTES:
        raise CorruptBook(f"{name}: the EPUB claims to unpack to {unpacked / 1024**3:.0f} GiB")
    return zf


def check_drm(zf: zipfile.ZipFile, name: str) -> None:
    """Encrypted content other than obfuscated fonts means DRM."""
    try:
        xml = _read_member(zf, "META-INF/encryption.xml")
    except KeyError:
        return
    algorithms = set(re.findall(rb'Algorithm\s*=\s*["\']([^"\']+)["\']', xml))
    methods = {a.decode("utf-8", "replace") for a in algorithms} - FONT_OBFUSCATION
    if methods:
        raise DRMProtected(f"{name}: the EPUB is DRM-protected (encrypted content)")


def _read_member(zf: zipfile.ZipFile, path: str) -> bytes:
    """A zip member by path, tolerating case, percent-encoding and leading slashes."""
    candidates = [path, unquote(path), path.lstrip("/")]
    for candidate in candidates:
        try:
            return zf.read(candidate)
        except KeyError:
            continue
    lowered = {n.lower(): n for n in zf.namelist()}
    for candidate in candidates:
        if candidate.lower() in lowered:
            return zf.read(lowered[candidate.lower()])
    raise KeyError(path)


# ---------------------------------------------------------------------------------------------
# Reading the package: ebooklib first, zipfile + lxml when it refuses


def _package_from_ebooklib(data: bytes) -> Package:
    from ebooklib import epub

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        book = epub.read_epub(io.BytesIO(data), {"ignore_ncx": True})
    opf_dir = posixpath.dirname(book.opf_file) if getattr(book, "opf_file", None) else ""

    def first(field_name: str) -> str | None:
        values = book.get_metadata("DC", field_name)
        return str(values[0][0]).strip() if values and values[0][0] else None

    spine: list[SpineDoc] = []
    nav_paths: set[str] = set()
    toc_sources: dict[str, bytes] = {}
    for item in book.get_items():
        path = posixpath.normpath(posixpath.join(opf_dir, item.file_name))
        properties = set(getattr(item, "properties", None) or [])
        if "nav" in properties or type(item).__name__ == "EpubNav":
            nav_paths.add(path)
            toc_sources.setdefault("nav:" + path, item.get_content())
        elif item.media_type == "application/x-dtbncx+xml":
            toc_sources.setdefault("ncx:" + path, item.get_content())
    for idref, linear in book.spine:
        item = book.get_item_with_id(idref) if idref else None
        if item is None:
            continue
        path = posixpath.normpath(posixpath.join(opf_dir, item.file_name))
        props = set(getattr(item, "properties", None) or [])
        spine.append(SpineDoc(path, linear != "no", props, item.get_content()))
    guide = {
        _resolve(opf_dir, ref.get("href", ""))[0]: (ref.get("type") or "").lower()
        for ref in book.guide
    }
    return Package(
        title=first("title"),
        author=first("creator"),
        language=first("language"),
        spine=spine,
        toc=_toc_from_sources(toc_sources),
        guide=guide,
        nav_paths=nav_paths,
    )


def _xml(content: bytes) -> etree._Element | None:
    parser = etree.XMLParser(recover=True, resolve_entities=False, no_network=True, huge_tree=True)
    try:
        return etree.fromstring(content, parser)
    except (etree.XMLSyntaxError, ValueError):
        return None


def _by_local_name(root: etree._Element, name: str) -> list[etree._Element]:
    return [
        el for el in root.iter() if isinstance(el.tag, str) and etree.QName(el).localname == name
    ]


def _package_from_zip(zf: zipfile.ZipFile, name: str) -> Package:
    opf_path = _opf_path(zf)
    if opf_path is None:
        raise CorruptBook(f"{name}: not a readable EPUB (no OPF package document)")
    root = _xml(_read_member(zf, opf_path))
    if root is None:
        raise CorruptBook(f"{name}: not a readable EPUB (OPF package document does not parse)")
    opf_dir = posixpath.dirname(opf_path)
    manifest: dict[str, tuple[str, str, set[str]]] = {}
    for item in _by_local_name(root, "item"):
        href = item.get("href")
        if item.get("id") and href:
            path = _resolve(opf_dir, href)[0]
            props = set((item.get("properties") or "").split())
            manifest[item.get("id")] = (path, item.get("media-type") or "", props)

    def member(path: str) -> bytes | None:
        try:
            return _read_member(zf, path)
        except KeyError:
            return None

    spine = []
    for ref in _by_local_name(root, "itemref"):
        entry = manifest.get(ref.get("idref") or "")
        content = member(entry[0]) if entry else None
        if entry and content is not None:
            spine.append(SpineDoc(entry[0], ref.get("linear") != "no", entry[2], content))
    toc_sources: dict[str, bytes] = {}
    nav_paths = set()
    for path, media_type, props in manifest.values():
        if "nav" in props:
            nav_paths.add(path)
            content = member(path)
            if content:
                toc_sources.setdefault("nav:" + path, content)
        elif media_type == "application/x-dtbncx+xml":
            content = member(path)
            if content:
                toc_sources.setdefault("ncx:" + path, content)

    def dc(field_name: str) -> str | None:
        for el in _by_local_name(root, field_name):
            text = "".join(el.itertext()).strip()
            if text:
                return text
        return None

    guide = {
        _resolve(opf_dir, ref.get("href") or "")[0]: (ref.get("type") or "").lower()
        for ref in _by_local_name(root, "reference")
    }
    return Package(
        title=dc("title"),
        author=dc("creator"),
        language=dc("language"),
        spine=spine,
        toc=_toc_from_sources(toc_sources),
        guide=guide,
        nav_paths=nav_paths,
    )


def _opf_path(zf: zipfile.ZipFile) -> str | None:
    try:
        container = _xml(_read_member(zf, "META-INF/container.xml"))
    except KeyError:
        container = None
    if container is not None:
        for rootfile in _by_local_name(container, "rootfile"):
            path = rootfile.get("full-path")
            if path:
                return path
    return next((n for n in zf.namelist() if n.lower().endswith(".opf")), None)


def _resolve(base_dir: str, href: str) -> tuple[str, str | None]:
    """A relative href -> (normalised zip path, fragment or None)."""
    href, _, fragment = href.strip().partition("#")
    path = posixpath.normpath(posixpath.join(base_dir, unquote(href))) if href else ""
    return path.lstrip("/"), (unquote(fragment) or None)


# ---------------------------------------------------------------------------------------------
# Tables of contents


def _toc_from_sources(sources: dict[str, bytes]) -> list[TocEntry]:
    """The nav document's toc when it has entries, else the NCX's."""
    for kind in ("nav", "ncx"):
        for key, content in sources.items():
            if key.startswith(kind + ":"):
                path = key.split(":", 1)[1]
                entries = (
                    _nav_entries(content, path) if kind == "nav" else _ncx_entries(content, path)
                )
                if entries:
                    return entries
    return []


def _nav_entries(content: bytes, nav_path: str) -> list[TocEntry]:
    root = parse_markup(content)
    if root is None:
        return []
    navs = [
        el for el in root.iter() if isinstance(el.tag, str) and etree.QName(el).localname == "nav"
    ]
    toc_nav = next(
        (
            n
            for n in navs
            if "toc" in (n.get("{http://www.idpf.org/2007/ops}type") or n.get("epub:type") or "")
        ),
        navs[0] if navs else None,
    )
    if toc_nav is None:
        return []
    base = posixpath.dirname(nav_path)
    entries = []
    for anchor in toc_nav.iter():
        if not isinstance(anchor.tag, str) or etree.QName(anchor).localname != "a":
            continue
        href = anchor.get("href")
        title = " ".join("".join(anchor.itertext()).split())
        if not href or not title:
            continue
        depth = sum(
            1
            for el in anchor.iterancestors()
            if isinstance(el.tag, str) and etree.QName(el).localname == "ol"
        )
        path, fragment = _resolve(base, href)
        entries.append(TocEntry(path, fragment, title, depth - 1))
    return entries


def _ncx_entries(content: bytes, ncx_path: str) -> list[TocEntry]:
    root = _xml(content)
    if root is None:
        return []
    base = posixpath.dirname(ncx_path)
    entries = []
    for point in _by_local_name(root, "navPoint"):
        label = next(iter(_by_local_name(point, "text")), None)
        src = next((el.get("src") for el in point if etree.QName(el).localname == "content"), None)
        if label is None or not src:
            continue
        title = " ".join("".join(label.itertext()).split())
        depth = sum(1 for el in point.iterancestors() if etree.QName(el).localname == "navPoint")
        path, fragment = _resolve(base, src)
        entries.append(TocEntry(path, fragment, title, depth))
    return entries


# ---------------------------------------------------------------------------------------------
# Segments: runs of blocks under one title


@dataclass
class Segment:
    title: str | None
    blocks: list[Block]
    doc: SpineDoc
    front: bool = False

    def has_words(self, limit: int) -> bool:
        """At least `limit` words (counting stops there: most chapters answer at once)."""
        total = 0
        for block in self.blocks:
            total += count_words(block.text)
            if total >= limit:
                return True
        return False


def _starts(doc: SpineDoc, parsed: HtmlDoc, toc: list[TocEntry]) -> list[tuple[int, str]]:
    """(block index, title) where table-of-contents entries of the shallowest depth pointing
    into this document begin."""
    entries = [e for e in toc if e.path == doc.path]
    if not entries:
        return []
    top = min(e.depth for e in entries)
    starts: dict[int, str] = {}
    for entry in entries:
        if entry.depth != top:
            continue
        if entry.fragment is None:
            index = 0
        elif entry.fragment in parsed.anchors:
            index = parsed.anchors[entry.fragment]
        else:
            index = 0 if not starts else -1
        if index >= 0 and index not in starts:
            starts[index] = entry.title
    if starts and min(starts) > 0 and not any(b.text for b in parsed.blocks[: min(starts)]):
        starts[0] = starts.pop(min(starts))
    return sorted(starts.items())


def _segments(package: Package) -> list[Segment]:
    segments: list[Segment] = []
    for doc in package.spine:
        parsed = html_to_doc(doc.content)
        front = _front_doc(doc, parsed, package)
        starts = _starts(doc, parsed, package.toc)
        first = starts[0][0] if starts else len(parsed.blocks)
        lead = parsed.blocks[:first]
        if lead:
            if package.toc and segments and not front and not segments[-1].front:
                segments[-1].blocks.extend(lead)  # a chapter split across files
            else:
                title = parsed.first_heading if not package.toc or not segments else None
                segments.append(Segment(title, lead, doc, front))
        for k, (index, title) in enumerate(starts):
            end = starts[k + 1][0] if k + 1 < len(starts) else len(parsed.blocks)
            segments.append(Segment(title, parsed.blocks[index:end], doc, front))
    return segments


def _front_doc(doc: SpineDoc, parsed: HtmlDoc, package: Package) -> bool:
    if doc.path in package.nav_paths or "nav" in doc.properties or not doc.linear:
        return True
    if parsed.epub_types & FRONT_MATTER_TYPES and not parsed.epub_types & BODY_TYPES:
        return True
    if package.guide.get(doc.path, "") in (
        "cover",
        "title-page",
        "toc",
        "copyright-page",
        "colophon",
    ):
        return True
    return bool(_FRONT_FILE.search(posixpath.basename(doc.path)))


def _strip_gutenberg_blocks(segments: list[Segment]) -> bool:
    """Drop everything up to "*** START OF THE PROJECT GUTENBERG ..." and from "*** END OF ..."."""
    flat = [(s, b) for s in segments for b in s.blocks]
    start = next((k for k, (_, b) in enumerate(flat) if _PG_START.search(b.text)), None)
    end = next((k for k, (_, b) in enumerate(flat) if _PG_END.search(b.text)), None)
    if start is None and end is None:
        return False
    keep = {
        id(b)
        for k, (_, b) in enumerate(flat)
        if (start is None or k > start) and (end is None or k < end)
    }
    for segment in segments:
        segment.blocks = [b for b in segment.blocks if id(b) in keep]
    return True


def _mark_front_matter(segments: list[Segment], book_title: str | None) -> None:
    for segment in segments:
        title = segment.title or ""
        if _FRONT_TITLE.match(title) or (
            book_title
            and title.strip().lower() == book_title.strip().lower()
            and not segment.has_words(300)
        ):
            segment.front = True
    # Short title or edition pages before the first real chapter, and short "more info" or
    # advertisement pages after the last one.
    for run in (segments, segments[::-1]):
        for segment in run:
            if segment.front:
                continue
            if segment.has_words(SHORT_LEADING_WORDS):
                break
            segment.front = True


def _chapter_text(segment: Segment) -> str:
    blocks = list(segment.blocks)
    while blocks and blocks[0].heading:  # the heading repeats the title
        blocks.pop(0)
    return join_paragraphs(b.text for b in blocks)


def _title_of(segment: Segment, number: int) -> str:
    if segment.title:
        return segment.title
    heading = next((b.text for b in segment.blocks if b.heading), None)
    if heading:
        return " ".join(heading.split())
    return f"Section {number}"


def load_epub(path: Path, data: bytes, sha256: str) -> Book:
    name = path.name
    zf = open_zip(data, name)
    check_drm(zf, name)
    warnings_out: list[str] = []
    try:
        package = _package_from_ebooklib(data)
    except Exception as error:  # whatever ebooklib trips on, read the OPF ourselves
        package = _package_from_zip(zf, name)
        warnings_out.append(
            f"repaired EPUB structure: ebooklib could not read it ({type(error).__name__}); "
            "read container.xml and the OPF directly"
        )
    if not package.spine:
        raise EmptyBook(f"{name}: the EPUB spine lists no readable documents")
    segments = _segments(package)
    if _strip_gutenberg_blocks(segments):
        warnings_out.append("stripped Project Gutenberg header/licence")
    segments = [s for s in segments if s.has_words(1)]
    _mark_front_matter(segments, package.title)
    # A part-title page ("Part Two" and nothing else) separates chapters; it is not one.
    body = [s for s in segments if not s.front and _chapter_text(s)]
    front = [s for s in segments if s.front]
    if not body:
        if not front:
            raise EmptyBook(f"{name}: no readable text in the EPUB")
        body = [s for s in front if s.doc.path not in package.nav_paths] or front
        front = [s for s in front if s not in body]
        warnings_out.append("only front matter found: its pages are used as the text")
    chapters = [
        Chapter(index=k, title=_title_of(s, k + 1), text=_chapter_text(s), source=s.doc.path)
        for k, s in enumerate(body)
    ]
    front = [s for s in front if _chapter_text(s)]
    front_chapters = [
        Chapter(
            index=k,
            title=_title_of(s, k + 1),
            text=_chapter_text(s),
            source=s.doc.path,
            front_matter=True,
        )
        for k, s in enumerate(front)
    ]
    return Book(
        path=path,
        title=package.title or path.stem,
        author=package.author,
        language=package.language,
        format="epub",
        chapters=chapters,
        sha256=sha256,
        front_matter=front_chapters,
        warnings=warnings_out,
    )
