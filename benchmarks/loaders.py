"""Loader speed and memory against the bare libraries, in one run on the same files.

    python benchmarks/loaders.py [--repeat N] [--long-pages N]

- PDF: pages per second of `bookreader.loaders.load` against plain pypdf `extract_text()` over
  all pages (target: load at least 5x faster). Both run interleaved, least CPU time of N, on
  each corpus PDF and on a synthetic PDF of --long-pages pages (default 1,200);
  `load` also reads the outline and page labels, finds chapters and cleans the text.
- EPUB: `load` time against a bare `ebooklib.epub.read_epub` (which only unpacks the package;
  `load` also parses every XHTML document into paragraphs and chapters), and against
  read_epub plus lxml `text_content()` of every spine document (the plainest text extraction).
  (target: load within 4x of the latter).
- Peak memory (VmHWM of a fresh Linux process, and its growth over the RSS after imports)
  loading the 113-page R manual and the synthetic long PDF, against plain pypdf extraction of
  the same file (target: under 1.5 GB for 1,000+ pages).
- The peer corpora (../shared/peer, 257 files): wall time to load them all, one by one, and
  how many loaded or were refused (exit-4 errors).

Skips cleanly (exit 0) when ../shared/corpus is absent (the peer part when ../shared/peer is).
"""

from __future__ import annotations

import argparse
import logging
import resource
import subprocess
import sys
import tempfile
import time
import warnings
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
CORPUS = ROOT.parent / "shared" / "corpus"
PEER = ROOT.parent / "shared" / "peer"
R_MANUAL = CORPUS / "pdf" / "debian_R-intro.pdf"

sys.path.insert(0, str(ROOT))


def best_time(func: Callable[[], object], repeat: int) -> float:
    """Least CPU time of this process over `repeat` runs: the machine is shared, and other
    processes inflate wall-clock times far more than CPU times."""
    times = []
    for _ in range(repeat):
        start = time.process_time()
        func()
        times.append(time.process_time() - start)
    return min(times)


def plain_pypdf(path: Path) -> int:
    import io

    from pypdf import PdfReader

    # Same input handling as load(): the file's bytes in memory (pypdf reading a file object
    # directly is slower, which would flatter our ratio).
    reader = PdfReader(io.BytesIO(path.read_bytes()))
    for page in reader.pages:
        page.extract_text()
    return len(reader.pages)


def compare_pdf(path: Path, repeat: int) -> tuple[int, float, float]:
    """(pages, plain pypdf CPU s, load() CPU s), interleaved so machine load hits both alike."""
    from pypdf import PdfReader

    from bookreader.loaders import load

    pages = len(PdfReader(path).pages)
    plain_times, our_times = [], []
    for _ in range(repeat):
        plain_times.append(best_time(lambda p=path: plain_pypdf(p), 1))
        our_times.append(best_time(lambda p=path: load(p), 1))
    return pages, min(plain_times), min(our_times)


def bench_pdf(repeat: int, long_pdf: Path | None) -> None:
    print(f"PDF: pages/second, bookreader load() vs plain pypdf extract_text() (best of {repeat})")
    print(f"  {'file':<42} {'pages':>5} {'pypdf p/s':>10} {'ours p/s':>9} {'speedup':>8}")
    total_plain = total_ours = 0.0
    total_pages = 0
    files = sorted((CORPUS / "pdf").glob("*.pdf"))
    for path in files + ([long_pdf] if long_pdf else []):
        pages, plain, ours = compare_pdf(path, repeat)
        name = path.name if path != long_pdf else f"synthetic {pages}-page PDF"
        print(
            f"  {name:<42} {pages:>5} {pages / plain:>10.1f} {pages / ours:>9.1f} "
            f"{plain / ours:>7.1f}x"
        )
        if path != long_pdf:
            total_plain, total_ours = total_plain + plain, total_ours + ours
            total_pages += pages
    print(
        f"  {'all corpus PDFs':<42} {total_pages:>5} {total_pages / total_plain:>10.1f} "
        f"{total_pages / total_ours:>9.1f} {total_plain / total_ours:>7.1f}x  (target >= 5x)"
    )


def bench_epub(repeat: int) -> None:
    import lxml.html
    from ebooklib import epub

    from bookreader.loaders import load

    def bare(path: Path) -> object:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return epub.read_epub(str(path))

    def bare_with_text(path: Path) -> int:
        """ebooklib plus the plainest text extraction of every spine document."""
        book = bare(path)
        chars = 0
        for idref, _ in book.spine:  # type: ignore[attr-defined]
            item = book.get_item_with_id(idref) if idref else None  # type: ignore[attr-defined]
            if item is not None:
                chars += len(lxml.html.fromstring(item.get_content()).text_content())
        return chars

    print(f"\nEPUB: CPU seconds, bookreader load() vs bare ebooklib (least of {repeat})")
    print("  read_epub only unpacks the package; '+text' also pulls each spine document's text")
    print(f"  {'file':<42} {'read_epub':>9} {'+text':>7} {'ours':>7} {'/read':>7} {'/+text':>7}")
    total_text = total_ours = 0.0
    for path in sorted((CORPUS / "epub").glob("*.epub")):
        try:
            base = best_time(lambda p=path: bare(p), repeat)
            with_text = best_time(lambda p=path: bare_with_text(p), repeat)
        except Exception as error:  # ebooklib refuses some files that load() opens
            print(f"  {path.name:<42} {'fails':>9} ({type(error).__name__})")
            continue
        ours = best_time(lambda p=path: load(p), repeat)
        total_text, total_ours = total_text + with_text, total_ours + ours
        print(
            f"  {path.name:<42} {base:>9.3f} {with_text:>7.3f} {ours:>7.3f} "
            f"{ours / base:>6.1f}x {ours / with_text:>6.1f}x"
        )
    print(
        f"  {'all corpus EPUBs':<42} {'':>9} {total_text:>7.3f} {total_ours:>7.3f} {'':>7} "
        f"{total_ours / total_text:>6.1f}x  (target <= 4x)"
    )


_CHILD = """
import sys
sys.path.insert(0, {root!r})
from pathlib import Path
import pypdf, bookreader.loaders

def status(field):
    with open("/proc/self/status") as handle:
        return next(int(line.split()[1]) for line in handle if line.startswith(field + ":"))

before = status("VmRSS")
if sys.argv[1] == "ours":
    bookreader.loaders.load(Path({path!r}))
else:
    import logging; logging.getLogger("pypdf").setLevel(logging.CRITICAL)
    reader = pypdf.PdfReader({path!r})
    for page in reader.pages:
        page.extract_text()
print(before, status("VmHWM"))
"""


def peak_memory(mode: str, path: Path) -> tuple[float, float, float]:
    """(peak RSS, peak RSS minus the RSS after imports) in MiB and the CPU seconds taken
    (imports included), from a fresh process."""
    code = _CHILD.format(root=str(ROOT), path=str(path))
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    out = subprocess.run(
        [sys.executable, "-c", code, mode], capture_output=True, text=True, check=True
    ).stdout.split()
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    seconds = (after.ru_utime + after.ru_stime) - (usage.ru_utime + usage.ru_stime)
    before, peak = (int(v) / 1024 for v in out)  # /proc reports KiB
    return peak, peak - before, seconds


def print_memory(label: str, path: Path) -> None:
    plain = peak_memory("plain", path)
    ours = peak_memory("ours", path)
    print(f"\nPeak memory, {label} (fresh process each, VmHWM)")
    for name, (peak, growth, seconds) in (
        ("plain pypdf extract_text", plain),
        ("bookreader load()", ours),
    ):
        print(
            f"  {name:<25}: peak {peak:7.1f} MiB, +{growth:6.1f} MiB over imports ({seconds:.1f} CPU s)"
        )


def write_long_pdf(path: Path, pages: int) -> None:
    """A synthetic book of `pages` pages, 40 distinct lines each, with an outline."""
    from reportlab.pdfgen import canvas

    c = canvas.Canvas(str(path))
    for page in range(pages):
        if page % 20 == 0:
            c.bookmarkPage(f"p{page}")
            c.addOutlineEntry(f"Chapter {page // 20 + 1}", f"p{page}", level=0)
        for line in range(40):
            c.drawString(
                60,
                800 - 19 * line,
                f"Page {page} line {line}: the keeper logged ships {page * line}.",
            )
        c.showPage()
    c.save()


def bench_memory(long_pdf: Path | None) -> None:
    if R_MANUAL.exists():
        print_memory("the 113-page R manual", R_MANUAL)
    if long_pdf:
        print_memory("the synthetic long PDF (target: peak < 1536 MiB)", long_pdf)


def bench_peer() -> None:
    """Wall time to load every peer-corpus file, one after another in this process."""
    from bookreader.errors import BookreaderError
    from bookreader.loaders import load

    files = sorted(p for p in PEER.rglob("*") if p.suffix in (".epub", ".pdf"))
    loaded = refused = 0
    slowest = (0.0, "")
    start = time.perf_counter()
    for path in files:
        began = time.perf_counter()
        try:
            load(path)
            loaded += 1
        except BookreaderError:
            refused += 1
        slowest = max(slowest, (time.perf_counter() - began, path.name))
    total = time.perf_counter() - start
    print(f"\nPeer corpora: {len(files)} files loaded one by one in {total:.1f} s wall")
    print(
        f"  {loaded} loaded, {refused} refused (exit-4 errors); slowest {slowest[1]} {slowest[0]:.1f} s"
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument(
        "--long-pages", type=int, default=1200, help="synthetic PDF for speed and memory (0: skip)"
    )
    args = parser.parse_args()
    if not CORPUS.is_dir():
        print(f"skipped: corpus not found at {CORPUS}")
        return 0
    logging.getLogger("pypdf").setLevel(logging.CRITICAL)  # same quiet for the baseline
    with tempfile.TemporaryDirectory() as folder:
        long_pdf = Path(folder) / "long.pdf" if args.long_pages else None
        if long_pdf:
            write_long_pdf(long_pdf, args.long_pages)
        bench_pdf(args.repeat, long_pdf)
        bench_epub(max(args.repeat, 3))
        bench_memory(long_pdf)
    if PEER.is_dir():
        bench_peer()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
