"""Loader speed and memory against the bare libraries, in one run on the same files.

    python benchmarks/loaders.py [--repeat N]

- PDF: pages per second of `bookreader.loaders.load` against plain pypdf `extract_text()` over
  all pages (target: ratio >= 0.85). Both run interleaved, least CPU time of N, on each corpus
  PDF; `load` also reads the outline and page labels and cleans the text.
- EPUB: `load` time against a bare `ebooklib.epub.read_epub` (which only unpacks the package;
  `load` also parses every XHTML document into paragraphs and chapters).
- Peak memory (VmHWM of a fresh Linux process, and its growth over the RSS after imports)
  loading the 113-page R manual, against plain pypdf extraction of the same file.

Skips cleanly (exit 0) when ../shared/corpus is absent.
"""

from __future__ import annotations

import argparse
import logging
import subprocess
import sys
import time
import warnings
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
CORPUS = ROOT.parent / "shared" / "corpus"
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
    from pypdf import PdfReader

    reader = PdfReader(path)
    for page in reader.pages:
        page.extract_text()
    return len(reader.pages)


def bench_pdf(repeat: int) -> None:
    from pypdf import PdfReader

    from bookreader.loaders import load

    print(f"PDF: pages/second, bookreader load() vs plain pypdf extract_text() (best of {repeat})")
    print(f"  {'file':<42} {'pages':>5} {'pypdf p/s':>10} {'ours p/s':>9} {'ratio':>6}")
    total_plain = total_ours = 0.0
    total_pages = 0
    for path in sorted((CORPUS / "pdf").glob("*.pdf")):
        pages = len(PdfReader(path).pages)
        plain_times, our_times = [], []
        for _ in range(repeat):  # interleaved, so machine load hits both alike
            plain_times.append(best_time(lambda p=path: plain_pypdf(p), 1))
            our_times.append(best_time(lambda p=path: load(p), 1))
        plain, ours = min(plain_times), min(our_times)
        total_plain, total_ours, total_pages = (
            total_plain + plain,
            total_ours + ours,
            total_pages + pages,
        )
        print(
            f"  {path.name:<42} {pages:>5} {pages / plain:>10.1f} {pages / ours:>9.1f} {plain / ours:>6.2f}"
        )
    print(
        f"  {'all PDFs':<42} {total_pages:>5} {total_pages / total_plain:>10.1f} "
        f"{total_pages / total_ours:>9.1f} {total_plain / total_ours:>6.2f}  (target >= 0.85)"
    )


def bench_epub(repeat: int) -> None:
    from ebooklib import epub

    from bookreader.loaders import load

    def bare(path: Path) -> None:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            epub.read_epub(str(path))

    print(f"\nEPUB: seconds, bookreader load() vs bare ebooklib.epub.read_epub (best of {repeat})")
    print(f"  {'file':<44} {'ebooklib s':>10} {'ours s':>8} {'ratio':>6}")
    for path in sorted((CORPUS / "epub").glob("*.epub")):
        try:
            base = best_time(lambda p=path: bare(p), repeat)
        except Exception as error:  # ebooklib refuses some files we open
            print(f"  {path.name:<44} {'fails':>10} ({type(error).__name__})")
            continue
        ours = best_time(lambda p=path: load(p), repeat)
        print(f"  {path.name:<44} {base:>10.3f} {ours:>8.3f} {ours / base:>6.2f}x")


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


def peak_memory(mode: str) -> tuple[float, float]:
    """(peak RSS, peak RSS minus the RSS after imports) in MiB, from a fresh process."""
    code = _CHILD.format(root=str(ROOT), path=str(R_MANUAL))
    out = subprocess.run(
        [sys.executable, "-c", code, mode], capture_output=True, text=True, check=True
    ).stdout.split()
    before, peak = (int(v) / 1024 for v in out)  # /proc reports KiB
    return peak, peak - before


def bench_memory() -> None:
    if not R_MANUAL.exists():
        return
    ours_peak, ours_growth = peak_memory("ours")
    plain_peak, plain_growth = peak_memory("plain")
    print("\nPeak memory loading the 113-page R manual (fresh process, VmHWM)")
    print(
        f"  plain pypdf extract_text : peak {plain_peak:7.1f} MiB, +{plain_growth:6.1f} MiB over imports"
    )
    print(
        f"  bookreader load()        : peak {ours_peak:7.1f} MiB, +{ours_growth:6.1f} MiB over imports"
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    if not CORPUS.is_dir():
        print(f"skipped: corpus not found at {CORPUS}")
        return 0
    logging.getLogger("pypdf").setLevel(logging.CRITICAL)  # same quiet for the baseline
    bench_pdf(args.repeat)
    bench_epub(max(args.repeat, 3))
    bench_memory()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
