"""Independent reference extractions for the peer-corpora test. Nothing here imports the
project's loaders: EPUBs are read with zipfile + lxml following the EPUB specification the
plain way, PDFs with poppler's `pdftotext` (neither pypdf nor PDFium)."""

from __future__ import annotations

import posixpath
import re
import shutil
import subprocess
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import unquote

import lxml.etree as etree
import lxml.html

TEXT_TYPES = {"application/xhtml+xml", "text/html", "image/svg+xml"}
DROPPED = {"nav", "script", "style", "head"}
OPS_TYPE = "{http://www.idpf.org/2007/ops}type"


@dataclass
class EpubReference:
    text: str  # each text document of the spine once, body minus nav/script/style
    spine: list[str]  # the text documents' zip paths, in order
    toc_titles: list[str] = field(default_factory=list)  # the nav's chapter level, resolved
    # to documents with text
    toc_entries: int = 0  # entries of the nav's chapter level, resolved or not


def _local(el: etree._Element) -> str:
    return el.tag.rsplit("}", 1)[-1].lower() if isinstance(el.tag, str) else ""


def _parse(data: bytes) -> etree._Element | None:
    try:
        root = etree.fromstring(data, etree.XMLParser(recover=True, resolve_entities=False))
    except (etree.XMLSyntaxError, ValueError):
        root = None
    if root is None or not len(root):
        try:
            root = lxml.html.document_fromstring(data)
        except (etree.ParserError, ValueError):
            return None
    return root


def _join(base: str, href: str) -> tuple[str, str]:
    path, _, fragment = href.partition("#")
    return posixpath.normpath(posixpath.join(base, unquote(path))).lstrip("/"), fragment


def document_text(data: bytes) -> str:
    """Body text of one document with nav, script and style elements removed."""
    root = _parse(data)
    if root is None:
        return ""
    for el in list(root.iter()):
        if _local(el) in DROPPED and el.getparent() is not None:
            tail = el.tail
            parent = el.getparent()
            parent.remove(el)
            if tail:  # keep the text after the removed element
                previous = el.getprevious()
                if previous is not None:
                    previous.tail = (previous.tail or "") + tail
                else:
                    parent.text = (parent.text or "") + tail
    body = next((el for el in root.iter() if _local(el) == "body"), root)
    return " ".join(body.itertext())


def epub_reference(path: Path) -> EpubReference:
    with zipfile.ZipFile(path) as zf:
        names = set(zf.namelist())
        container = etree.fromstring(zf.read("META-INF/container.xml"))
        opf_path = next(el.get("full-path") for el in container.iter() if _local(el) == "rootfile")
        opf = etree.fromstring(zf.read(opf_path), etree.XMLParser(recover=True))
        base = posixpath.dirname(opf_path)
        items = {
            el.get("id"): (
                _join(base, el.get("href"))[0],
                el.get("media-type"),
                el.get("fallback"),
                el.get("properties") or "",
            )
            for el in opf.iter()
            if _local(el) == "item" and el.get("href")
        }
        spine: list[str] = []
        for ref in (el for el in opf.iter() if _local(el) == "itemref"):
            item, hops = items.get(ref.get("idref")), 0
            while item and item[1] not in TEXT_TYPES and hops < 10:  # the fallback chain
                item, hops = items.get(item[2]), hops + 1
            if item and item[1] in TEXT_TYPES and item[0] not in spine and item[0] in names:
                spine.append(item[0])
        texts = {p: document_text(zf.read(p)) for p in spine}
        reference = EpubReference("\n".join(texts.values()), spine)
        # Documents with text, the first of each run of identical ones (the loader joins a
        # document identical to the one before into one chapter).
        has_text, seen = set(), set()
        for doc, text in texts.items():
            key = " ".join(text.split())
            if letters(text) and key not in seen:
                has_text.add(doc)
                seen.add(key)
        nav = next((i for i in items.values() if "nav" in i[3].split()), None)
        if nav and nav[0] in names:
            _read_nav(reference, zf.read(nav[0]), posixpath.dirname(nav[0]), has_text)
    return reference


def _read_nav(reference: EpubReference, data: bytes, base: str, has_text: set[str]) -> None:
    """Top-level entries of the toc nav (descended while there is one), those that resolve to
    a spine document with text, by path or by file name."""
    root = _parse(data)
    if root is None:
        return
    navs = [el for el in root.iter() if _local(el) == "nav"]
    toc = next((n for n in navs if "toc" in (n.get(OPS_TYPE) or "").split()), None)
    if toc is None:
        return
    level = next((el for el in toc.iter() if _local(el) == "ol"), None)
    entries: list[etree._Element] = []
    while level is not None:
        entries = [li for li in level if _local(li) == "li"]
        nested = [el for el in entries[0].iter() if _local(el) == "ol"] if entries else []
        if len(entries) != 1 or not nested:
            break
        level = nested[0]
    reference.toc_entries = len(entries)
    by_name = {posixpath.basename(p).lower(): p for p in reference.spine}
    seen = set()
    for li in entries:
        anchor = next((el for el in li if _local(el) == "a"), None)
        if anchor is None or not anchor.get("href"):
            continue
        target, fragment = _join(base, anchor.get("href"))
        if target not in reference.spine:
            target = by_name.get(posixpath.basename(target).lower(), "")
        title = " ".join("".join(anchor.itertext()).split())
        if target in has_text and title and (target, fragment) not in seen:
            seen.add((target, fragment))
            reference.toc_titles.append(title)


def pdftotext() -> str | None:
    return shutil.which("pdftotext")


def pdf_reference(path: Path) -> str | None:
    """poppler's text of the whole PDF; None when poppler cannot open it (e.g. a password)."""
    run = subprocess.run(
        [pdftotext() or "pdftotext", "-q", "-enc", "UTF-8", str(path), "-"],
        capture_output=True,
        timeout=120,
        check=False,
    )
    return run.stdout.decode("utf-8", "replace") if run.returncode == 0 else None


def letters(text: str) -> int:
    """Letters and digits: what a layout change can neither add nor remove."""
    return sum(1 for ch in text if ch.isalnum())


_TOKEN = re.compile(r"\w+")


def shingles(text: str, n: int = 8) -> set[tuple[str, ...]]:
    """Word n-grams of the lower-cased text. Words carry a letter: bare numbers are left out on
    both sides, since page numbers are layout that the loader removes on purpose (and
    line-end hyphens are joined, as layout too)."""
    tokens = _TOKEN.findall(text.lower().replace("-\n", ""))
    words = [w for w in tokens if not w.isdigit()]
    return {tuple(words[k : k + n]) for k in range(len(words) - n + 1)}
