"""The EPUB container and package, read with zipfile + lxml: rendition, metadata, spine, TOC.

- The default rendition: the first `<rootfile>` of META-INF/container.xml (a book may carry
  others, e.g. a braille one, after it).
- The spine keeps each text document (XHTML, HTML, SVG) once: an item that is not text is
  replaced by the first text item of its manifest `fallback` chain; images and other media add
  no text and are counted in `Package.skipped`, as are documents listed twice and documents
  missing from the zip. Manifest hrefs carrying a `#fragment` are tolerated.
- The tables of contents: the nav document's `epub:type="toc"` list, and the NCX. Their links
  are resolved against the spine, through manifest fallbacks, then by file name within the
  package (generators that forget a folder prefix) by `resolve_toc`.
- Landmarks (nav `epub:type="landmarks"` and the EPUB 2 guide) name cover, title and contents
  pages.

DRM: META-INF/encryption.xml listing any algorithm other than font obfuscation -> DRMProtected.
"""

from __future__ import annotations

import io
import posixpath
import re
import zipfile
from collections import Counter
from dataclasses import dataclass, field
from urllib.parse import unquote

import lxml.etree as etree

from bookreader.errors import CorruptBook, DRMProtected
from bookreader.loaders.cleanup import clean_inline
from bookreader.loaders.xhtml import parse_markup

FONT_OBFUSCATION = frozenset(
    {"http://www.idpf.org/2008/embedding", "http://ns.adobe.com/pdf/enc#RC"}
)
MAX_UNPACKED_BYTES = 2 * 1024**3  # no real book unpacks to more; a zip bomb does
TEXT_MEDIA_TYPES = frozenset(
    ["application/xhtml+xml", "text/html", "image/svg+xml", "application/x-dtbook+xml"]
)
TEXT_SUFFIXES = (".xhtml", ".html", ".htm", ".svg", ".xml")
# Leading bytes of formats that are never markup, whatever the manifest claims.
BINARY_MAGIC = (b"\xff\xd8\xff", b"\x89PNG", b"GIF8", b"RIFF", b"%PDF", b"ID3", b"OggS", b"PK")
_EPUB_TYPE = "{http://www.idpf.org/2007/ops}type"


@dataclass
class TocEntry:
    path: str  # document path inside the zip
    fragment: str | None
    title: str
    depth: int  # 0: top level


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
    tocs: list[list[TocEntry]]  # the nav document's toc, then the NCX's: those that have entries
    landmarks: dict[str, str] = field(default_factory=dict)  # document path -> type
    nav_paths: set[str] = field(default_factory=set)
    skipped: Counter[str] = field(default_factory=Counter)
    # A non-text item -> the text document that stands in for it (its manifest fallback), so
    # that a TOC link to a spine image finds the text read in its place.
    aliases: dict[str, str] = field(default_factory=dict)


# ---------------------------------------------------------------------------------------------
# The container


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
        xml = read_member(zf, "META-INF/encryption.xml")
    except KeyError:
        return
    algorithms = set(re.findall(rb'Algorithm\s*=\s*["\']([^"\']+)["\']', xml))
    methods = {a.decode("utf-8", "replace") for a in algorithms} - FONT_OBFUSCATION
    if methods:
        raise DRMProtected(f"{name}: the EPUB is DRM-protected (encrypted content)")


def read_member(zf: zipfile.ZipFile, path: str) -> bytes:
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


def _member(zf: zipfile.ZipFile, path: str) -> bytes | None:
    try:
        return read_member(zf, path)
    except (KeyError, zipfile.BadZipFile, OSError, ValueError, EOFError):
        return None


def _xml(content: bytes) -> etree._Element | None:
    parser = etree.XMLParser(recover=True, resolve_entities=False, no_network=True, huge_tree=True)
    try:
        return etree.fromstring(content, parser)
    except (etree.XMLSyntaxError, ValueError):
        return None


def _local(el: etree._Element) -> str:
    return etree.QName(el).localname if isinstance(el.tag, str) else ""


def _by_local_name(root: etree._Element, name: str) -> list[etree._Element]:
    return [el for el in root.iter() if _local(el) == name]


def resolve_href(base_dir: str, href: str) -> tuple[str, str | None]:
    """A relative href -> (normalised zip path, fragment or None)."""
    href, _, fragment = href.strip().partition("#")
    path = posixpath.normpath(posixpath.join(base_dir, unquote(href))) if href else ""
    return path.lstrip("/"), (unquote(fragment) or None)


def rootfile_path(zf: zipfile.ZipFile) -> str | None:
    """The default rendition's package document: the first rootfile of container.xml."""
    container = _xml(_member(zf, "META-INF/container.xml") or b"")
    if container is not None:
        for rootfile in _by_local_name(container, "rootfile"):
            path = rootfile.get("full-path")
            if path and _member(zf, path) is not None:
                return path
    return next((n for n in zf.namelist() if n.lower().endswith(".opf")), None)


# ---------------------------------------------------------------------------------------------
# The package document


@dataclass
class _Item:
    path: str
    media_type: str
    properties: set[str]
    fallback: str | None


def _manifest(root: etree._Element, opf_dir: str) -> dict[str, _Item]:
    items = {}
    for el in _by_local_name(root, "item"):
        href, item_id = el.get("href"), el.get("id")
        if item_id and href:
            items[item_id] = _Item(
                resolve_href(opf_dir, href)[0],
                (el.get("media-type") or "").strip().lower(),
                set((el.get("properties") or "").split()),
                el.get("fallback"),
            )
    return items


def _is_text_item(item: _Item) -> bool:
    if item.media_type in TEXT_MEDIA_TYPES:
        return True
    return not item.media_type and item.path.lower().endswith(TEXT_SUFFIXES)


def _text_fallback(manifest: dict[str, _Item], item: _Item) -> _Item | None:
    """The item itself when it is text, else the first text item down its fallback chain."""
    seen: set[int] = set()
    current: _Item | None = item
    while current is not None and id(current) not in seen:
        if _is_text_item(current):
            return current
        seen.add(id(current))
        current = manifest.get(current.fallback or "")
    return None


def looks_binary(content: bytes) -> bool:
    """Image, audio or archive bytes (or NULs outside UTF-16) where markup was promised."""
    head = content[:1024].lstrip()
    if head.startswith(BINARY_MAGIC):
        return True
    utf16 = content[:2] in (b"\xff\xfe", b"\xfe\xff")
    return not utf16 and b"\x00" in head


def _spine(
    zf: zipfile.ZipFile, root: etree._Element, manifest: dict[str, _Item]
) -> tuple[list[SpineDoc], Counter[str]]:
    spine: list[SpineDoc] = []
    skipped: Counter[str] = Counter()
    seen: set[str] = set()
    for ref in _by_local_name(root, "itemref"):
        listed = manifest.get(ref.get("idref") or "")
        if listed is None:
            skipped["missing documents"] += 1
            continue
        item = _text_fallback(manifest, listed)
        if item is None:
            kind = "images" if listed.media_type.startswith("image/") else "other media"
            skipped[kind] += 1
            continue
        if item.path in seen:  # an image whose stand-in text was read already is an image
            skipped["images" if listed.media_type.startswith("image/") else "duplicates"] += 1
            continue
        seen.add(item.path)
        content = _member(zf, item.path)
        if content is None:
            skipped["missing documents"] += 1
            continue
        if looks_binary(content):
            skipped["images"] += 1
            continue
        spine.append(SpineDoc(item.path, ref.get("linear") != "no", item.properties, content))
    return spine, skipped


def read_package(zf: zipfile.ZipFile, name: str) -> Package:
    opf_path = rootfile_path(zf)
    if opf_path is None:
        raise CorruptBook(f"{name}: not a readable EPUB (no OPF package document)")
    root = _xml(read_member(zf, opf_path))
    if root is None:
        raise CorruptBook(f"{name}: not a readable EPUB (OPF package document does not parse)")
    opf_dir = posixpath.dirname(opf_path)
    manifest = _manifest(root, opf_dir)
    spine, skipped = _spine(zf, root, manifest)
    nav_items = [item for item in manifest.values() if "nav" in item.properties]
    ncx_items = [i for i in manifest.values() if i.media_type == "application/x-dtbncx+xml"]
    tocs: list[list[TocEntry]] = []
    landmarks: dict[str, str] = {}
    for item in nav_items:
        content = _member(zf, item.path)
        nav_root = parse_markup(content) if content else None
        if nav_root is not None:
            tocs.append(_nav_entries(nav_root, item.path, "toc"))
            for entry in _nav_entries(nav_root, item.path, "landmarks"):
                if entry.fragment is None:  # a landmark at an anchor names a part of a file
                    landmarks.setdefault(entry.path, entry.title)
    for item in ncx_items:
        tocs.append(_ncx_entries(_member(zf, item.path) or b"", item.path))
    for ref in _by_local_name(root, "reference"):
        path, fragment = resolve_href(opf_dir, ref.get("href") or "")
        if fragment is None:
            landmarks.setdefault(path, (ref.get("type") or "").lower())
    return Package(
        title=_dc(root, "title"),
        author=_dc(root, "creator"),
        language=_dc(root, "language"),
        spine=spine,
        tocs=[toc for toc in tocs if toc],
        landmarks=landmarks,
        nav_paths={item.path for item in nav_items},
        skipped=skipped,
        aliases={
            item.path: text.path
            for item in manifest.values()
            if (text := _text_fallback(manifest, item)) is not None and text is not item
        },
    )


def _dc(root: etree._Element, field_name: str) -> str | None:
    for el in _by_local_name(root, field_name):
        text = clean_inline("".join(el.itertext()))
        if text:
            return text
    return None


# ---------------------------------------------------------------------------------------------
# Tables of contents


def _nav_entries(root: etree._Element, nav_path: str, kind: str) -> list[TocEntry]:
    """Links of the nav element of `kind` ("toc" or "landmarks"). For landmarks the entry's
    `title` is the landmark's epub:type."""
    navs = _by_local_name(root, "nav")
    chosen = next(
        (n for n in navs if kind in (n.get(_EPUB_TYPE) or n.get("epub:type") or "").split()),
        navs[0] if navs and kind == "toc" else None,
    )
    if chosen is None:
        return []
    base = posixpath.dirname(nav_path)
    entries = []
    for anchor in _by_local_name(chosen, "a"):
        href = anchor.get("href")
        title = clean_inline("".join(anchor.itertext())) or clean_inline(anchor.get("title") or "")
        if not title:  # an image link: its alt text names it
            title = " ".join(clean_inline(img.get("alt") or "") for img in anchor.iter("{*}img"))
        if not href or not title.strip():
            continue
        path, fragment = resolve_href(base, href)
        if kind == "landmarks":
            title = (anchor.get(_EPUB_TYPE) or anchor.get("epub:type") or "").lower() or "-"
        depth = sum(1 for el in anchor.iterancestors() if _local(el) == "ol") - 1
        entries.append(TocEntry(path, fragment, title.strip(), max(depth, 0)))
    return entries


def _ncx_entries(content: bytes, ncx_path: str) -> list[TocEntry]:
    root = _xml(content) if content else None
    if root is None:
        return []
    base = posixpath.dirname(ncx_path)
    entries = []
    for point in _by_local_name(root, "navPoint"):
        label = next(iter(_by_local_name(point, "text")), None)
        src = next((el.get("src") for el in point if _local(el) == "content"), None)
        if label is None or not src:
            continue
        title = clean_inline("".join(label.itertext()))
        depth = sum(1 for el in point.iterancestors() if _local(el) == "navPoint")
        path, fragment = resolve_href(base, src)
        if title:
            entries.append(TocEntry(path, fragment, title, depth))
    return entries


def chapter_level(toc: list[TocEntry]) -> list[TocEntry]:
    """The entries that make chapters: the top level, descended into while it holds a single
    entry with entries below it (a book title wrapping the real chapters)."""
    level = 0
    while True:
        at_level = [e for e in toc if e.depth == level]
        deeper = any(e.depth > level for e in toc)
        if len(at_level) != 1 or not deeper:
            return at_level if at_level else [e for e in toc if e.depth == min_depth(toc)]
        level += 1


def min_depth(toc: list[TocEntry]) -> int:
    return min((e.depth for e in toc), default=0)


def resolve_toc(
    entries: list[TocEntry], spine_paths: list[str], aliases: dict[str, str] | None = None
) -> list[TocEntry]:
    """Entries pointing at spine documents: by exact path, through the text fallback of the
    item they name, else by a file name that only one spine document has (a link that lost its
    folder); the others are dropped."""
    exact = set(spine_paths)
    by_name: dict[str, list[str]] = {}
    for path in spine_paths:
        by_name.setdefault(posixpath.basename(path).lower(), []).append(path)
    resolved = []
    for entry in entries:
        if entry.path in exact:
            resolved.append(entry)
            continue
        if (aliases or {}).get(entry.path) in exact:
            path = (aliases or {})[entry.path]
            resolved.append(TocEntry(path, None, entry.title, entry.depth))
            continue
        matches = by_name.get(posixpath.basename(entry.path).lower(), [])
        if len(matches) == 1:
            resolved.append(TocEntry(matches[0], entry.fragment, entry.title, entry.depth))
    return resolved
